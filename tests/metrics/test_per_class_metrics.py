"""Per-class values of the torchmetrics classes (issue 24, item 7): ``update(x, real=..., labels=y)`` and
``compute_per_class()`` through the same contract as the headline values (tests/metric_tester.py): update vs
forward, alone vs in a ``MetricCollection``, batch sizes, reset, 2 processes vs 1, the plain scorer the Evaluator
runs; equal to ``per_class_metrics`` called directly and to the class-blind metric on that class's rows alone.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from gloo_ranks import run_on_two_ranks
from metric_tester import (
    PER_CLASS_BUILDS,
    PER_CLASS_SIZES,
    feed_labelled,
    make_labelled_features,
    per_class_table,
)
from torchmetrics import MetricCollection

from ganprobe.errors import InputError
from ganprobe.functional.per_class import per_class_metrics
from ganprobe.metrics import CMMD, FID, KID, KNNLOOAccuracy, PrecisionRecall
from ganprobe.scorers.fid import FIDScorer
from ganprobe.scorers.kid import KIDScorer
from ganprobe.scorers.knn_loo import KNNLOOScorer
from ganprobe.scorers.plain import standalone
from ganprobe.scorers.prdc import DensityCoverageScorer, PrecisionRecallScorer

NAMES = list(PER_CLASS_BUILDS)
SCORERS = {
    "fid": lambda: standalone(FIDScorer)(extractor=None, keep_features=True),
    "kid": lambda: standalone(KIDScorer)(extractor=None, num_subsets=5, subset_size=60),
    "precision_recall": lambda: standalone(PrecisionRecallScorer)(extractor=None),
    "density_coverage": lambda: standalone(DensityCoverageScorer)(extractor=None),
    "knn_loo": lambda: standalone(KNNLOOScorer)(extractor=None),
}
# The functional call's settings that equal each built metric's (KID's subsets, the default k's).
DIRECT_SETTINGS = {"kid": {"kid_subsets": 5, "kid_subset_size": 60}}


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.filterwarnings("ignore", message=".*(biased|rank|subset_size|samples).*")


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, ...]:
    return make_labelled_features()


def labelled(name: str, data: tuple[torch.Tensor, ...], batch: int = 97, call: str = "update"):  # noqa: ANN201
    metric = PER_CLASS_BUILDS[name]()
    feed_labelled(metric, data, batch, call)
    return metric


@pytest.mark.parametrize("name", NAMES)
def test_equals_per_class_metrics_called_directly(name: str, data: tuple[torch.Tensor, ...]) -> None:
    records = labelled(name, data).compute_per_class(names=["zero", "one", "two", "three"])
    direct = per_class_metrics(
        *data, names=["zero", "one", "two", "three"], metrics=(name,), **DIRECT_SETTINGS.get(name, {})
    )
    assert per_class_table(records) == per_class_table(direct.classes)
    assert [(r.num_real, r.num_fake) for r in records] == list(PER_CLASS_SIZES)
    assert all(r.values for r in records[:2]), "the two large classes have numbers"
    assert records[3].reasons == {name: "no fakes of this class"} and not records[3].values


@pytest.mark.parametrize("name", NAMES)
def test_each_class_equals_the_class_blind_metric_on_its_rows_alone(name: str, data: tuple[torch.Tensor, ...]) -> None:
    real, fake, real_labels, fake_labels = data
    records = labelled(name, data).compute_per_class()
    for record in records:
        if not record.values:
            continue
        alone = PER_CLASS_BUILDS[name]()
        alone.update(real[real_labels == record.index], real=True)
        alone.update(fake[fake_labels == record.index], real=False)
        value = alone.compute()
        if name == "knn_loo":
            details = alone.compute_details(num_permutations=0)
            value = {"knn_loo": value, "knn_loo_balanced": details.balanced_accuracy}
        elif not isinstance(value, dict):
            value = {name: value}
        for key, number in record.values.items():
            assert number == pytest.approx(float(value[key]), rel=1e-9, abs=1e-12), (record.name, key)


@pytest.mark.parametrize("name", NAMES)
def test_batch_sizes_forward_collection_reset_and_plain_scorer_agree(name: str, data: tuple[torch.Tensor, ...]) -> None:
    expected = per_class_table(labelled(name, data).compute_per_class())
    for batch in (13, 500, 2000):
        assert per_class_table(labelled(name, data, batch).compute_per_class()) == expected, batch
    assert per_class_table(labelled(name, data, call="forward").compute_per_class()) == expected, "forward"
    featured = PER_CLASS_BUILDS[name]()
    feed_labelled(featured, data, 97, call="update_features")
    assert per_class_table(featured.compute_per_class()) == expected, "update_features"
    plain = SCORERS[name]()
    feed_labelled(plain, data, 97)
    assert per_class_table(plain.compute_per_class()) == expected, "plain scorer (the Evaluator's)"
    # Two members sharing states (a compute group) and one metric without labels, which the collection skips.
    collection = MetricCollection(
        {"first": PER_CLASS_BUILDS[name](), "second": PER_CLASS_BUILDS[name](), "cmmd": CMMD(extractor=None)},
        compute_groups=True,
    )
    feed_labelled(collection, data, 97, call="forward")
    assert collection.compute_groups
    for member in ("first", "second"):
        assert per_class_table(collection[member].compute_per_class()) == expected, member
    metric = labelled(name, data)
    metric.reset()
    with pytest.raises(InputError, match="needs both real and fake samples"):
        metric.compute_per_class()
    feed_labelled(metric, data, 211)
    assert per_class_table(metric.compute_per_class()) == expected, "after reset"


def test_known_answers_identical_and_separated_classes() -> None:
    gen = torch.Generator().manual_seed(3)
    real = torch.randn(120, 3, generator=gen)
    labels = torch.arange(120) % 2
    fake = real.clone()
    fake[labels == 1] += 50.0  # class 1 fully separated, class 0 identical rows
    fid = FID(extractor=None, keep_features=True)
    fid.update(real, real=True, labels=labels)
    fid.update(fake, real=False, labels=labels)
    values = {r.name: r.values["fid"] for r in fid.compute_per_class()}
    assert abs(values["0"]) < 1e-9 and values["1"] > 2000
    independent = torch.randn(120, 3, generator=gen)
    independent[labels == 1] += 50.0  # a fresh draw of the same class-0 distribution, class 1 far away
    knn = KNNLOOAccuracy(extractor=None)
    knn.update(real, real=True, labels=labels)
    knn.update(independent, real=False, labels=labels)
    accuracy = {r.name: r.values["knn_loo"] for r in knn.compute_per_class()}
    assert accuracy["1"] == 1.0
    assert abs(accuracy["0"] - 0.5) < 0.15, accuracy
    assert knn.compute_per_class_dict("val/") == {
        "val/knn_loo/0": pytest.approx(accuracy["0"]),
        "val/knn_loo_balanced/0": pytest.approx(accuracy["0"], abs=0.05),
        "val/knn_loo/1": 1.0,
        "val/knn_loo_balanced/1": 1.0,
    }
    assert list(knn.compute_per_class_dict(names=["cat", "dog"]))[-1] == "knn_loo_balanced/dog"


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (torch.zeros(10, 1, dtype=torch.long), r"^labels: expected a \(N,\) tensor of class indices, got \(10, 1\)$"),
        (torch.zeros(10), r"^labels: expected integer class indices, got dtype torch.float32$"),
        (torch.full((10,), -1), r"^labels: class indices must be >= 0, got -1$"),
        (torch.zeros(9, dtype=torch.long), r"^labels: 9 labels for the 10 rows of this batch$"),
        ([0] * 10, r"^labels: expected a \(N,\) tensor of class indices, got list$"),
    ],
)
def test_bad_labels_are_one_line_errors_and_store_nothing(labels: object, message: str) -> None:
    metric = KNNLOOAccuracy(extractor=None)
    with pytest.raises(InputError, match=message):
        metric.update(torch.randn(10, 3), real=True, labels=labels)
    assert metric.real_0 == [] and metric.real_labels == []


def test_mixing_labelled_and_unlabelled_updates_is_refused() -> None:
    rows, labels = torch.randn(10, 3), torch.zeros(10, dtype=torch.long)
    metric = PrecisionRecall(extractor=None)
    metric.update(rows, real=True, labels=labels)
    with pytest.raises(InputError, match=r"^labels: earlier updates gave labels but this one does not; .*"):
        metric.update(rows, real=False)
    unlabelled = PrecisionRecall(extractor=None)
    unlabelled.update(rows, real=True)
    with pytest.raises(InputError, match=r"^labels: given in this update but not in the earlier ones; .*"):
        unlabelled.update(rows, real=False, labels=labels)
    with pytest.raises(InputError, match=r"^compute_per_class: PrecisionRecall was updated without labels; .*"):
        unlabelled.update(rows, real=False) or unlabelled.compute_per_class()
    unlabelled.reset()  # a reset starts over: labels are welcome again
    unlabelled.update(rows, real=True, labels=labels)


def test_fid_without_rows_and_kid_with_another_kernel_say_what_to_do() -> None:
    with pytest.raises(InputError, match=r"^labels: FID keeps only running sums.*keep_features=True"):
        FID(extractor=None).update(torch.randn(4, 3), real=True, labels=torch.zeros(4, dtype=torch.long))
    FID(extractor=None).update(torch.randn(4, 3), real=True)  # without labels nothing changes
    kid = KID(extractor=None, degree=2)
    kid.update(torch.randn(4, 3), real=True, labels=torch.zeros(4, dtype=torch.long))
    kid.update(torch.randn(4, 3), real=False, labels=torch.zeros(4, dtype=torch.long))
    with pytest.raises(InputError, match=r"^compute_per_class: per-class KID uses the default kernel"):
        kid.compute_per_class()


# ----------------------------------------------------------------------------------------- 2 processes vs 1 (gloo)
def _all_tables(rank_rows: list[slice]) -> dict[str, list]:
    """Every metric fed the given row ranges of the labelled data (real and fake alike); per-class tables."""
    real, fake, real_labels, fake_labels = make_labelled_features()
    tables = {}
    for name, build in PER_CLASS_BUILDS.items():
        metric = build()
        for rows in rank_rows:
            metric.update(real[rows], real=True, labels=real_labels[rows])
            metric.update(fake[rows], real=False, labels=fake_labels[rows])
        tables[name] = per_class_table(metric.compute_per_class())
    return tables


# Uneven contiguous shards (rank 0 in two batches), so the gathered order equals the single-process order.
RANK_ROWS = {0: [slice(0, 300), slice(300, 700)], 1: [slice(700, None)]}


def _rank_tables(rank: int) -> dict[str, list]:
    """One gloo rank's per-class tables of its rows (see ``gloo_ranks.run_on_two_ranks``)."""
    warnings.filterwarnings("ignore")
    return _all_tables(RANK_ROWS[rank])


def test_two_processes_equal_one(one_torch_thread: None) -> None:
    outputs, expected = run_on_two_ranks(_rank_tables, while_waiting=lambda: _all_tables([slice(0, None)]))
    assert all(expected[name][0][4] for name in expected), "class 0 has numbers for every metric"
    for rank, tables in outputs.items():
        assert tables == expected, rank
