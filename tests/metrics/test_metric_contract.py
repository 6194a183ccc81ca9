"""Every metric through one contract (tests/metric_tester.py): each path a user can take gives the same number."""

from __future__ import annotations

import copy
import pickle
import warnings

import matplotlib
import pytest
import torch
from metric_tester import (
    CASES,
    NUM_FAKE,
    NUM_REAL,
    Case,
    assert_same,
    batch_of,
    feed,
    make_features,
    make_images,
    tiny_extractor,
)
from torchmetrics import MetricCollection

from ganprobe.metrics.registry import metric_classes
from ganprobe.run.evaluator import Evaluator

matplotlib.use("Agg")
IDS = [case.name for case in CASES]


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.filterwarnings("ignore", message=".*(biased|rank|subset_size).*")


def standalone(case: Case, batch: int = 7, **kwargs):  # noqa: ANN201
    real, fake = make_features()
    metric = case.build(None, **kwargs)
    feed(metric, case, real, fake, batch)
    return metric


def test_every_registered_metric_has_a_case() -> None:
    assert [case.name for case in CASES] == list(metric_classes())


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_equals_functional_twin_and_is_one_shape(case: Case) -> None:
    real, fake = make_features()
    value = standalone(case).compute()
    assert_same(value, case.twin(real, fake), case.tolerance, "compute vs twin")
    declared = [output for output in standalone(case).declared_outputs() if output.in_compute]
    if len(declared) == 1:
        assert isinstance(value, torch.Tensor) and value.ndim == 0
    else:
        assert isinstance(value, dict) and list(value) == [output.key for output in declared]
        assert all(isinstance(item, torch.Tensor) and item.ndim == 0 for item in value.values())


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_batch_split_and_order(case: Case) -> None:
    expected = standalone(case, batch=NUM_REAL).compute()
    for batch in (1, 5, 13):
        assert_same(standalone(case, batch=batch).compute(), expected, 1e-12, f"batch {batch}")
    real, fake = make_features()
    metric = case.build(None)  # every fake first, then every real: the order of update calls does not matter
    metric.update(batch_of(case, fake, slice(None)), real=False)
    metric.update(batch_of(case, real, slice(None)), real=True)
    assert_same(metric.compute(), expected, 1e-12, "fake first")
    if case.row_order_free:
        permuted = case.build(None)
        permuted.update(batch_of(case, real, torch.randperm(NUM_REAL)), real=True)
        permuted.update(batch_of(case, fake, torch.randperm(NUM_FAKE)), real=False)
        assert_same(permuted.compute(), expected, 1e-9, "rows permuted")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_update_forward_and_update_features_agree(case: Case) -> None:
    real, fake = make_features()
    expected = standalone(case).compute()
    forwarded = case.build(None)
    feed(forwarded, case, real, fake, 7, call="forward")
    assert_same(forwarded.compute(), expected, what="forward")
    assert forwarded(batch_of(case, real, slice(0, 2)), real=True) is None  # forward returns None, adds the batch
    featured = case.build(None)
    feed(featured, case, real, fake, 7, call="update_features")
    assert_same(featured.compute(), expected, what="update_features")
    assert featured._update_count == forwarded._update_count - 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_images_via_update_update_from_and_evaluator(case: Case) -> None:
    extractor = tiny_extractor()
    real, fake = make_images()
    direct = case.build(extractor)
    for start in range(0, NUM_REAL, 9):
        direct.update(real[start : start + 9], real=True)
    direct.update(fake, real=False)
    expected = direct.compute()
    loaded = case.build(extractor)
    loaded.update_from(real, real=True, batch_size=16)
    loaded.update_from(fake, real=False, batch_size=5)
    # Images go through a float32 backbone in other batch sizes: features agree to float32 round-off only.
    assert_same(loaded.compute(), expected, 1e-6, "update_from")
    settings = {
        "kid": {"num_subsets": 5, "subset_size": 20},
        "is": {"splits": 4},
        "layer_separability": {"protocols": ["linear_probe", "knn_loo"], "folds": 3},
    }.get(case.name)
    evaluator = Evaluator(extractor, metrics=[case.name], settings={case.name: settings} if settings else None)
    evaluator.add(real, real=True, batch_size=11)
    evaluator.add(fake, real=False, batch_size=11)
    computed = evaluator.compute()[case.name]
    assert_same(computed, expected, 1e-6, "Evaluator")
    records = {record.key: record.value for record in evaluator.records()}
    values = computed if isinstance(computed, dict) else {case.name: computed}
    for key, value in values.items():  # the report's numbers are compute()'s, exactly
        assert records[key] == float(value), key


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("path", ["update_then_forward", "forward_only", "after_reset"])
def test_metric_collection_with_compute_groups(case: Case, path: str) -> None:
    real, fake = make_features()
    expected = standalone(case).compute()
    collection = MetricCollection({"first": case.build(None), "second": case.build(None)}, compute_groups=True)
    if path == "after_reset":
        feed(collection, case, real, fake, 7)
        collection.reset()
    if path == "update_then_forward":
        half = 20
        collection.update(batch_of(case, real, slice(0, half)), real=True)
        collection.update(batch_of(case, fake, slice(0, half)), real=False)
        collection(batch_of(case, real, slice(half, None)), real=True)
        collection(batch_of(case, fake, slice(half, None)), real=False)
    else:
        feed(collection, case, real, fake, 7, call="forward")
    assert collection.compute_groups, "the two members share states: they must form a compute group"
    for name in ("first", "second"):
        member = collection[name]
        stored = sum(part.shape[0] for part in getattr(member, "real_0", [])) if hasattr(member, "real_0") else None
        assert stored in (None, NUM_REAL), f"{name} stored {stored} real rows for {NUM_REAL}"
        assert_same(member.compute(), expected, 1e-12, f"{path}: {name}")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reset_clone_pickle_state_dict_and_merge(case: Case) -> None:
    real, fake = make_features()
    metric = standalone(case)
    expected = metric.compute()
    for copy_of in (metric.clone(), copy.deepcopy(metric), pickle.loads(pickle.dumps(metric))):
        assert_same(copy_of.compute(), expected, what="copy")
    persistent = case.build(None)
    persistent.persistent(True)
    feed(persistent, case, real, fake, 7)
    restored = case.build(None)
    restored.persistent(True)
    restored.load_state_dict(persistent.state_dict())
    assert_same(restored.compute(), expected, 1e-12, "state_dict")
    first, second = case.build(None), case.build(None)
    first.update(batch_of(case, real, slice(0, 25)), real=True)
    first.update(batch_of(case, fake, slice(0, 10)), real=False)
    second.update(batch_of(case, real, slice(25, None)), real=True)
    second.update(batch_of(case, fake, slice(10, None)), real=False)
    fresh = case.build(None)
    # torchmetrics' merge puts the incoming rows first: merging the later half first keeps the row order, which
    # the subset/split/fold metrics depend on.
    fresh.merge_state(second)
    fresh.merge_state(first)
    assert_same(fresh.compute(), expected, 1e-12, "merge_state into a fresh metric")
    metric.reset()
    assert metric._update_count == 0
    feed(metric, case, real, fake, 11)
    assert_same(metric.compute(), expected, 1e-12, "after reset")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dtype_moves(case: Case) -> None:
    expected = standalone(case).compute()
    for dtype in (torch.float64, torch.float32):
        moved = standalone(case).set_dtype(dtype)
        assert_same(moved.compute(), expected, 1e-5, f"set_dtype({dtype})")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compute_on_cpu_on_every_update_path(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    real, fake = make_features()
    extractor = tiny_extractor()
    images = make_images()[0][:8]
    for call, needs_extractor in (
        ("update", False),
        ("forward", False),
        ("update_features", False),
        ("update_from", True),
    ):
        metric = case.build(extractor if needs_extractor else None, compute_on_cpu=True)
        moves = []
        original = metric._move_list_states_to_cpu
        monkeypatch.setattr(metric, "_move_list_states_to_cpu", lambda o=original, m=moves: m.append(o()))
        if needs_extractor:
            metric.update_from(images, real=True, batch_size=4)
            assert len(moves) == 2, f"{call}: compute_on_cpu not applied per batch"
        else:
            method = metric if call == "forward" else getattr(metric, call)
            method(batch_of(case, real, slice(0, 5)), real=True)
            assert len(moves) == 1, f"{call}: compute_on_cpu not applied"
        assert fake  # the fake features are only needed by the other checks


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_custom_dist_sync_fn_on_every_compute_method(case: Case) -> None:
    """A ``dist_sync_fn`` that plays a second process holding the same rows: every public compute method must
    use it (and so see twice the rows), not torch.distributed's default."""
    calls = []

    def gather_twice(tensor, group=None):  # noqa: ANN001, ANN202
        calls.append(tensor.shape)
        return [tensor, tensor]

    real, fake = make_features()
    doubled_real = {layer: torch.cat([value, value]) for layer, value in real.items()}
    doubled_fake = {layer: torch.cat([value, value]) for layer, value in fake.items()}
    reference = case.build(None)
    feed(reference, case, doubled_real, doubled_fake, 100)

    def synced_metric():  # noqa: ANN202 - a fresh metric each time, so no cached compute() hides a sync
        metric = case.build(None, dist_sync_fn=gather_twice, distributed_available_fn=lambda: True)
        feed(metric, case, real, fake, 7)
        return metric

    assert_same(synced_metric().compute(), reference.compute(), 1e-9, "compute with dist_sync_fn")
    methods = {"report": lambda m: m.report(), **case.extra_computes}
    for name, method in methods.items():
        metric = synced_metric()
        calls.clear()
        method(metric)
        assert calls, f"{name}() ignored the metric's dist_sync_fn"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_plot(case: Case) -> None:
    import matplotlib.pyplot as plt

    metric = standalone(case)
    figure, axis = metric.plot()
    assert axis.has_data()
    plt.close(figure)
    values = [metric.compute(), metric.compute()]
    if not case.multi_layer:
        figure, axis = metric.plot(values)
        assert axis.has_data()
        plt.close(figure)


def test_issue_repro_mixed_collection_knn_loo_and_cmmd() -> None:
    """The reported repro: update 50+50, then forward 150+150 more; KNN-LOO held 150 real rows for 100."""
    from ganprobe import CMMD, KNNLOOAccuracy

    gen = torch.Generator().manual_seed(1)
    real = torch.randn(200, 8, generator=gen)
    fake = torch.randn(200, 8, generator=gen) + 0.3
    collection = MetricCollection([KNNLOOAccuracy(extractor=None), CMMD(extractor=None)])
    collection.update(real[:50], real=True)
    collection.update(fake[:50], real=False)
    collection(real[50:], real=True)
    collection(fake[50:], real=False)
    alone = KNNLOOAccuracy(extractor=None)
    alone.update(real, real=True)
    alone.update(fake, real=False)
    assert sum(part.shape[0] for part in collection["KNNLOOAccuracy"].real_0) == 200
    assert float(collection.compute()["KNNLOOAccuracy"]) == float(alone.compute())
    collection.reset()
    collection(real, real=True)
    collection(fake, real=False)
    assert sum(part.shape[0] for part in collection["CMMD"].real_0) == 200
    assert float(collection.compute()["KNNLOOAccuracy"]) == float(alone.compute())


def test_memorization_is_never_stale() -> None:
    """Memorization caches its search; an update inside a compute group or a merge_state must invalidate it."""
    from ganprobe import CMMD, Memorization

    gen = torch.Generator().manual_seed(2)
    real, fake = torch.randn(60, 8, generator=gen), torch.randn(60, 8, generator=gen)
    copies = real[:30].clone()
    collection = MetricCollection({"cmmd": CMMD(extractor=None), "mem": Memorization(extractor=None)})
    collection.update(real, real=True)
    collection.update(fake, real=False)
    before = float(collection["mem"].compute())
    collection.update(copies, real=False)  # only the group's first member runs update
    after = float(collection["mem"].compute())
    expected = Memorization(extractor=None)
    expected.update(real, real=True)
    expected.update(torch.cat([fake, copies]), real=False)
    assert after == float(expected.compute()) != before
    merged = Memorization(extractor=None)
    merged.update(real, real=True)
    merged.update(fake, real=False)
    assert float(merged.compute()) == before
    extra = Memorization(extractor=None)
    extra.update(copies, real=False)
    extra.update(real[:1], real=True)
    merged.merge_state(extra)
    assert float(merged.compute()) != before
