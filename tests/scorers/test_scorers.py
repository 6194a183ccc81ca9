"""The evaluator runs each metric's scorer without torchmetrics (:mod:`ganprobe.scorers`); the numbers, intervals,
standard errors, findings and verdict are the ones the torchmetrics classes give on the same images, and the
torchmetrics classes still run where states must be synced (several processes, ``distributed=False``)."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch
from metric_tester import make_images, tiny_extractor
from torchmetrics import Metric

import ganprobe.run.evaluator
import ganprobe.utils.distributed
from ganprobe.errors import InputError, SampleSizeWarning
from ganprobe.metrics.fid import FID
from ganprobe.metrics.records import ReportOptions
from ganprobe.metrics.registry import metric_classes, scorer_classes
from ganprobe.run.evaluator import Evaluator
from ganprobe.scorers.base import FeatureScorer
from ganprobe.scorers.fid import FIDScorer
from ganprobe.scorers.plain import PlainStates, standalone

SETTINGS = {
    "fid": {"bootstrap": 4, "infinity": True},
    "kid": {"num_subsets": 5, "subset_size": 20},
    "is": {"splits": 4},
    "layer_separability": {"protocols": ["linear_probe", "knn_loo"], "folds": 3},
}
OPTIONS = ReportOptions(seed=3, bootstrap=6, permutations=50, noise_resamples=3)


def _evaluated(monkeypatch: pytest.MonkeyPatch, with_torchmetrics: bool) -> tuple[Evaluator, list, list[str]]:
    if with_torchmetrics:  # the classes users hold, in the evaluator's place
        monkeypatch.setattr(ganprobe.run.evaluator, "scorer_classes", metric_classes)
    real, fake = make_images()
    evaluator = Evaluator(tiny_extractor(), settings=SETTINGS)
    evaluator.add(real, real=True, batch_size=11)
    evaluator.add(fake, real=False, batch_size=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = evaluator.records(OPTIONS)
        verdict = evaluator.verdict(records)
    monkeypatch.undo()
    return evaluator, records, verdict


def test_the_evaluator_reports_with_scorers_what_the_torchmetrics_classes_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain, plain_records, plain_verdict = _evaluated(monkeypatch, with_torchmetrics=False)
    classes, class_records, class_verdict = _evaluated(monkeypatch, with_torchmetrics=True)
    assert not any(isinstance(metric, Metric) for metric in plain.metrics.values())
    assert all(isinstance(metric, Metric) for metric in classes.metrics.values())
    assert list(plain.metrics) == list(classes.metrics) == list(metric_classes())
    assert [dataclasses.asdict(record) for record in plain_records] == [
        dataclasses.asdict(record) for record in class_records
    ]
    assert any(record.stderr is not None for record in plain_records)  # the noise path ran
    assert any(record.low is not None for record in plain_records)  # and the intervals
    assert plain_verdict == class_verdict and plain_verdict


def test_states_that_must_sync_run_the_torchmetrics_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ganprobe.utils.distributed, "rank_and_world_size", lambda *args: (0, 2))
    extractor = tiny_extractor()
    synced = Evaluator(extractor, metrics=["fid", "knn_loo"], distributed=False)  # each rank its own rows: sync
    assert all(isinstance(metric, Metric) for metric in synced.metrics.values())
    replicated = Evaluator(extractor, metrics=["fid", "knn_loo"])  # every rank holds every row: nothing to sync
    assert not any(isinstance(metric, Metric) for metric in replicated.metrics.values())
    assert all(metric.replicated and not metric.sync_on_compute for metric in replicated.metrics.values())


def test_a_standalone_scorer_keeps_resets_and_moves_its_states() -> None:
    scorer_class = scorer_classes()["fid"]
    assert scorer_class is standalone(FIDScorer) and issubclass(scorer_class, PlainStates)
    assert issubclass(FID, FIDScorer) and not issubclass(FIDScorer, Metric)
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(30, 4, generator=gen), torch.randn(25, 4, generator=gen) + 1
    scorer, metric = scorer_class(extractor=None, keep_features=True), FID(extractor=None, keep_features=True)
    for one in (scorer, metric):
        one.update(real[:10], real=True)
        one.update(real[10:], real=True)
        one(fake, real=False)  # forward adds like update
    assert float(scorer.compute()) == float(metric.compute())
    assert scorer.real_count == 30 and len(scorer.real_0) == 2
    scorer = scorer.to(torch.float64)
    assert scorer.real_0[0].dtype == torch.float64 and scorer.device == torch.device("cpu")
    scorer.reset()
    assert scorer.real_count == 0 and scorer.real_0 == [] and scorer.feature_dim is None
    with pytest.raises(InputError, match="needs at least 2 real and 2 fake"):
        scorer.compute()
    with pytest.raises(InputError, match=r"unknown options \['process_group'\]"):
        scorer_class(extractor=None, process_group=None)


def test_a_standalone_scorer_warns_once_per_state_like_the_metric() -> None:
    gen = torch.Generator().manual_seed(1)
    real, fake = torch.randn(6, 8, generator=gen), torch.randn(6, 8, generator=gen)
    for one in (scorer_classes()["fid"](extractor=None), FID(extractor=None)):
        one.update(real, real=True)
        one.update(fake, real=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            one.compute()
            one.records()
        sample = [item for item in caught if issubclass(item.category, SampleSizeWarning)]
        assert len(sample) == 1 and "rank-deficient" in str(sample[0].message), type(one)
        assert sample[0].filename == __file__  # points at the user's line


def test_every_scorer_is_a_feature_scorer_without_torchmetrics() -> None:
    for name, scorer_class in scorer_classes().items():
        assert issubclass(scorer_class, FeatureScorer) and not issubclass(scorer_class, Metric), name
        assert issubclass(metric_classes()[name], scorer_class.__mro__[1]), name
