"""Each neighbour search once per state: a report's details reuse the search that ``compute()`` made.

Before, ``KNNLOOAccuracy.report()`` searched for ``compute()`` and again for the per-class accuracies and the
permutation p-value. The searches are counted by wrapping the functional search every path goes through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import ganprobe.functional.knn_loo as knn_functional
import ganprobe.scorers.memorization as memorization_module
from ganprobe.functional.knn_loo import knn_loo_details
from ganprobe.metrics.knn_loo import KNNLOOAccuracy
from ganprobe.metrics.records import ReportOptions
from ganprobe.run.evaluator import Evaluator


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    calls: list[int] = []
    original: Callable[..., Any] = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _fed(metric: Any, real: torch.Tensor, fake: torch.Tensor) -> Any:
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return metric


def test_knn_loo_report_searches_once_and_matches_the_separate_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(80, 6, generator=gen), torch.randn(70, 6, generator=gen) + 0.7
    expected = knn_loo_details(real, fake, num_permutations=200, seed=3)  # the independent, uncached path
    grown = knn_loo_details(real, torch.cat([fake, fake[:5]]), num_permutations=0)
    searches = _counting(monkeypatch, knn_functional, "knn_loo_neighbours")
    metric = _fed(KNNLOOAccuracy(extractor=None), real, fake)
    estimates = metric.report(ReportOptions(seed=3, bootstrap=0, permutations=200))
    assert len(searches) == 1
    assert float(metric.compute()) == pytest.approx(expected.accuracy, abs=0) and len(searches) == 1
    assert estimates["knn_loo_real"].value == expected.real_accuracy
    assert estimates["knn_loo_fake"].value == expected.fake_accuracy
    assert estimates["knn_loo_p_value"].value == expected.p_value
    metric.update(fake[:5], real=False)  # a new state: a new search, and the new answer
    assert float(metric.compute()) == grown.accuracy
    assert len(searches) == 2
    metric.reset()
    assert metric._search is None


def test_an_evaluation_report_searches_once_per_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    knn_searches = _counting(monkeypatch, knn_functional, "knn_loo_neighbours")
    copy_searches = _counting(monkeypatch, memorization_module, "memorization_details")
    gen = torch.Generator().manual_seed(1)
    evaluator = Evaluator("random-resnet18", metrics=["knn_loo", "memorization"])
    evaluator.add_features({"pool": torch.randn(60, 8, generator=gen)}, real=True)
    evaluator.add_features({"pool": torch.randn(60, 8, generator=gen)}, real=False)
    records = evaluator.records()
    evaluator.verdict(records)
    assert (len(knn_searches), len(copy_searches)) == (1, 1)
