"""The example metric of ``examples/custom_metric`` (the energy distance): checked against independent references,
run through the metric contract (tests/metric_tester.py, every check of tests/metrics/test_metric_contract.py), and
evaluated end to end once registered: ``evaluate``, gates, the JSON report and its schema, the terminal and HTML
reports, and the CLI with the metric made known by a ``ganprobe.metrics`` entry point."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import test_metric_contract as contract
import torch
from metric_tester import Case
from scipy.spatial.distance import cdist
from scipy.stats import energy_distance as scipy_energy_distance

from ganprobe import register_metric
from ganprobe.metrics import registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "custom_metric"
sys.path.insert(0, str(EXAMPLE))

from energy_metric.declaration import DECLARATION  # noqa: E402
from energy_metric.functional import energy_distance  # noqa: E402
from energy_metric.metric import EnergyDistance  # noqa: E402


@pytest.fixture
def energy_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example metric registered for one test (forgotten after it; no entry point is scanned)."""
    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(registry, "_entry_points_loaded", True)
    register_metric(DECLARATION)


def _reference(real: np.ndarray, fake: np.ndarray, exponent: float = 1.0) -> float:
    """2 E|X - Y|^a - E|X - X'|^a - E|Y - Y'|^a over every pair (diagonals included), with scipy's distances."""
    between = cdist(real, fake) ** exponent
    return float(2 * between.mean() - (cdist(real, real) ** exponent).mean() - (cdist(fake, fake) ** exponent).mean())


def test_energy_distance_equals_scipy_in_one_dimension() -> None:
    """scipy.stats.energy_distance is the square root of the same V-statistic for 1-D samples."""
    rng = np.random.default_rng(0)
    for real, fake in ((rng.normal(size=40), rng.normal(0.5, 2.0, size=25)), (rng.random(7), rng.random(7) + 3)):
        ours = float(energy_distance(torch.from_numpy(real)[:, None], torch.from_numpy(fake)[:, None]))
        assert ours == pytest.approx(scipy_energy_distance(real, fake) ** 2, rel=1e-10)


def test_energy_distance_equals_the_pairwise_reference_and_known_cases() -> None:
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(30, 5)), rng.normal(0.3, 1.0, size=(20, 5))
    for exponent in (1.0, 0.5, 1.5):
        ours = float(energy_distance(torch.from_numpy(real), torch.from_numpy(fake), exponent))
        assert ours == pytest.approx(_reference(real, fake, exponent), rel=1e-10)
    same = torch.from_numpy(real)
    assert float(energy_distance(same, same)) == pytest.approx(0.0, abs=1e-12)  # one distribution: 0
    # one point per set: 2 |a - b| (each set's own distances are 0)
    assert float(energy_distance(torch.zeros(1, 3), torch.tensor([[3.0, 4.0, 0.0]]))) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="exponent"):
        energy_distance(same, same, exponent=2.0)


def test_the_example_is_four_files_declared_once() -> None:
    """A metric is its function, its class, its declaration and its test: nothing else in the example package."""
    files = sorted(path.name for path in (EXAMPLE / "energy_metric").glob("*.py"))
    assert files == ["__init__.py", "declaration.py", "functional.py", "metric.py"]
    assert EnergyDistance.declaration is DECLARATION and EnergyDistance.name == "energy"
    signature = inspect.signature(EnergyDistance.__init__).parameters
    assert signature["exponent"].default == DECLARATION.setting("exponent").default
    source = (EXAMPLE / "energy_metric" / "declaration.py").read_text(encoding="utf-8")
    assert "import torch" not in source  # the CLI's help and gates read it without torch


ENERGY_CASE = Case(
    "energy",
    lambda extractor, **kw: EnergyDistance(extractor=extractor, **kw),
    lambda real, fake: energy_distance(real["a"], fake["a"]),
)


def _contract_checks() -> list[tuple[str, dict]]:
    """Every check of the contract that takes a ``case``, with each of its other parametrisations."""
    checks = []
    for name, function in inspect.getmembers(contract, inspect.isfunction):
        if not name.startswith("test_") or "case" not in inspect.signature(function).parameters:
            continue
        extra = [mark for mark in getattr(function, "pytestmark", []) if mark.args and mark.args[0] == "path"]
        for value in extra[0].args[1] if extra else [None]:
            checks.append((name, {} if value is None else {"path": value}))
    return checks


@pytest.mark.parametrize("check, kwargs", _contract_checks(), ids=lambda item: item if isinstance(item, str) else "")
def test_the_example_passes_the_metric_contract(
    check: str, kwargs: dict, energy_registered: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = getattr(contract, check)
    if "monkeypatch" in inspect.signature(function).parameters:
        kwargs = {**kwargs, "monkeypatch": monkeypatch}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        function(case=ENERGY_CASE, **kwargs)


def test_every_contract_check_ran() -> None:
    assert len(_contract_checks()) >= 10


def _images(seed: int, darker: float = 1.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(16, 3, 16, 16, generator=generator) * darker


def test_registered_it_runs_through_evaluate_gates_and_every_report(energy_registered: None, tmp_path: Path) -> None:
    import jsonschema
    from rich.console import Console

    from ganprobe import evaluate
    from ganprobe.report.html import write_html_report
    from ganprobe.report.json_report import report_schema
    from ganprobe.report.terminal import print_results

    fake, real = _images(0, 0.6), _images(1)
    result = evaluate(
        fake, real, extractor="random-resnet18", metrics=["energy", "knn_loo"], settings={"energy": {"exponent": 0.5}},
        fail_if=["energy>100"], noise_resamples=3,
    )  # fmt: skip
    expected = EnergyDistance(exponent=0.5, extractor="random-resnet18")
    expected.update(real, real=True)
    expected.update(fake, real=False)
    assert result["energy"] == pytest.approx(float(expected.compute()), rel=1e-6)
    (record,) = [record for record in result.records if record.key == "energy"]
    assert record.metric == "energy" and record.direction == "lower" and record.stderr is not None
    gates = result.check(["energy>100", f"energy>{result['energy'] / 2}"])
    assert [gate.passed for gate in gates] == [True, False]
    payload = json.loads(json.dumps(result.to_json(gates)))
    jsonschema.validate(payload, report_schema())
    console = Console(record=True, width=160)
    print_results("random-resnet18", result.records, None, [], gates, console=console)
    assert "energy distance on random-resnet18 features" in console.export_text()
    written = write_html_report(tmp_path / "report.html", payload, {}, [], [], max_points=20, grid_size=0)
    html = written.read_text(encoding="utf-8")
    assert "energy distance on random-resnet18 features" in html


def test_the_cli_runs_it_from_an_entry_point(tmp_path: Path) -> None:
    """``ganprobe evaluate --metrics energy --set energy.exponent=... --fail-if energy>...``, the metric known only
    by an installed distribution's ``ganprobe.metrics`` entry point."""
    from PIL import Image

    site = tmp_path / "site"
    info = site / "energy_example-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: energy_example\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[ganprobe.metrics]\nenergy = energy_metric.declaration:DECLARATION\n", encoding="utf-8"
    )
    for label, images in (("fake", _images(0, 0.6)), ("real", _images(1))):
        (tmp_path / label).mkdir()
        for index, image in enumerate(images):
            array = (image.permute(1, 2, 0) * 255).byte().numpy()
            Image.fromarray(array).save(tmp_path / label / f"{index}.png")
    report = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(EXAMPLE), str(ROOT)])}
    command = [
        sys.executable, "-m", "ganprobe", "evaluate", str(tmp_path / "fake"), str(tmp_path / "real"),
        "--extractor", "random-resnet18", "--metrics", "energy", "--set", "energy.exponent=0.5", "--no-cache",
        "--quiet", "--json", str(report), "--fail-if", "energy>0",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 1, done.stderr  # the energy distance of two different sets is above 0: the gate fails
    payload = json.loads(report.read_text(encoding="utf-8"))
    assert [entry["key"] for entry in payload["metrics"]] == ["energy"] and payload["metrics"][0]["value"] > 0
    assert [(gate["metric"], gate["passed"]) for gate in payload["gates"]] == [("energy", False)]
    helped = subprocess.run(
        [sys.executable, "-m", "ganprobe", "evaluate", "--help"], capture_output=True, text=True, env=env, timeout=300
    )
    assert "energy.exponent=1.0" in helped.stdout and "energy" in helped.stdout


def test_the_example_docstrings_run() -> None:
    import doctest

    import energy_metric.metric

    failures, tried = doctest.testmod(energy_metric.metric, raise_on_error=False)
    assert tried > 0 and failures == 0
