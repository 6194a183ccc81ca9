"""Regression gates that mean something: a rerun of the same generator on fresh samples never fails its own
baseline, a clearly degraded generator does; the documented baseline example (docs/gates.md) works as
written."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import ganprobe
from ganprobe.extractors import ModuleExtractor
from ganprobe.front_ends.pytest_plugin import GanprobeSession

SETTINGS = {"kid": {"subset_size": 100}, "is": {"splits": 5}}
NUM = 200


def tiny_extractor() -> ModuleExtractor:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2), nn.Tanh(), nn.Conv2d(8, 16, 3, stride=2), nn.Tanh(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )  # fmt: skip
    extractor = ModuleExtractor(net, layers=["1", "3", "6"], input_size=(32, 32), name="tiny")
    extractor.logits_layer = "6"
    return extractor


def generator(shift: float = 0.0, blur: bool = False) -> Callable[[int], Tensor]:
    """Smooth random colour fields; ``shift`` brightens them, ``blur`` smooths them further (two degradations)."""

    def sample(count: int) -> Tensor:
        fields = nn.functional.interpolate(torch.randn(count, 3, 8, 8), size=32, mode="bilinear", align_corners=False)
        if blur:
            fields = nn.functional.avg_pool2d(fields, 5, 1, 2)
        return torch.sigmoid(fields + shift)

    return sample


@pytest.fixture(scope="module")
def setup() -> tuple[ModuleExtractor, Tensor, dict]:
    warnings.simplefilter("ignore")
    torch.manual_seed(123)
    real = generator()(NUM)
    extractor = tiny_extractor()
    baseline = ganprobe.evaluate(generator(), real, extractor=extractor, num_samples=NUM, seed=0, settings=SETTINGS)
    return extractor, real, baseline.to_json()


def test_same_generator_on_fresh_samples_passes_its_baseline(setup) -> None:
    extractor, real, baseline = setup
    for seed in (1, 2, 3):
        rerun = ganprobe.evaluate(generator(), real, extractor=extractor, num_samples=NUM, seed=seed, settings=SETTINGS)
        gates = rerun.check(baseline=baseline, max_regression=5)
        compared = {gate.metric for gate in gates}
        assert {"fid", "kid", "precision", "recall", "knn_loo", "memorization"} <= compared
        assert {"kid_std", "knn_loo_p_value"}.isdisjoint(compared)  # no direction: never gated
        assert [gate.message for gate in gates if not gate.passed] == [], f"seed {seed}"
        # the same numbers with the noise allowance off fail: the percentage alone cannot absorb sampling noise
        strict = rerun.check(baseline=baseline, max_regression=5, sigmas=0)
        assert any(not gate.passed for gate in strict)


@pytest.mark.parametrize(("shift", "blur", "expected"), [(0.3, False, {"fid", "kid", "knn_loo"}), (0.0, True, set())])
def test_degraded_generator_fails(setup, shift: float, blur: bool, expected: set[str]) -> None:
    extractor, real, baseline = setup
    worse = ganprobe.evaluate(
        generator(shift, blur), real, extractor=extractor, num_samples=NUM, seed=7, settings=SETTINGS
    )
    failed = {gate.metric for gate in worse.check(baseline=baseline, max_regression=5) if not gate.passed}
    assert failed, "a degraded generator must fail its baseline"
    assert expected <= failed
    assert any(key.startswith("separability.") for key in failed)


def test_readme_baseline_example_with_the_plugin(setup, tmp_path: Path) -> None:
    """docs/gates.md's ``ganprobe.evaluate(generator, real, ..., baseline="reports/v1.2.json", max_regression=5)``."""
    extractor, real, baseline = setup
    report = tmp_path / "v1.2.json"
    report.write_text(json.dumps(baseline))
    session = GanprobeSession(use_cache=False)
    common = {"extractor": extractor, "num_samples": NUM, "seed": 4, "settings": SETTINGS}
    result = session.evaluate(generator(), real, baseline=str(report), max_regression=5, **common)
    assert session.last_failures == [] and result["kid"] == result["kid"]
    with pytest.raises(pytest.fail.Exception, match="regression gate FAILED"):
        session.evaluate(generator(0.3), real, baseline=str(report), max_regression=5, **common)


def test_standard_errors_are_computed_only_for_a_baseline_check(setup) -> None:
    """A plain run does not pay for the half-sample errors; a baseline check computes them once, into the report."""
    extractor, real, baseline = setup
    assert all(entry["stderr"] is None for entry in baseline["metrics"] if entry["key"] in ("fid", "kid", "cmmd"))
    binomial = [entry for entry in baseline["metrics"] if entry["key"] in ("precision", "knn_loo", "memorization")]
    assert all(entry["stderr"] > 0 for entry in binomial)  # proportions' errors are free: always there
    rerun = ganprobe.evaluate(generator(), real, extractor=extractor, num_samples=NUM, seed=5, settings=SETTINGS)
    assert rerun.noise_source is not None and rerun.records[0].stderr is None
    gates = rerun.check(baseline=baseline, max_regression=5)
    assert all(gate.passed for gate in gates) and rerun.noise_source is None
    report = {entry["key"]: entry for entry in rerun.to_json(gates)["metrics"]}
    assert report["fid"]["stderr"] > 0 and report["kid"]["stderr"] > 0 and report["cmmd"]["stderr"] > 0
    eager = ganprobe.evaluate(
        generator(), real, extractor=extractor, num_samples=NUM, seed=5, settings=SETTINGS, noise_resamples=10
    )
    assert {r.key: r.stderr for r in eager.records} == {r.key: r.stderr for r in rerun.records}  # one number
