"""What the command line says (issue 22 items 15-16, issue 23 items 6 and 10).

* a baseline that no regression gate can read (unknown keys only, only ``knn_loo_p_value``) or whose standard
  errors are not standard errors (1e300, negative, not a number) is refused, naming the file and the record;
* the CLI's checksum advice names what the command line can do, not a Python argument;
* a decoding worker killed mid-run is reported as that, with the folder, not as "Connection reset by peer";
* a stats file with no rows or features of the wrong width is refused naming the file;
* ``evaluate`` ends with one ``wrote ...`` line per file written;
* ``ganprobe --version`` prints the installed version without importing torch.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprobe.errors import GanprobeError, InputError
from ganprobe.front_ends.cli import main
from ganprobe.report.baseline import validate_baseline

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--extractor", "random-resnet18", "--metrics", "fid", "--quiet", "--workers", "0", "--no-cache"]


def _folder(path: Path, count: int, seed: int, size: int = 12) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3)).astype(np.uint8)).save(path / f"img_{index:02d}.png")
    return path


def _report(*metrics: dict) -> dict:
    return {"schema_version": 3, "metrics": list(metrics)}


# -- issue 22, item 15: baselines no gate can use ------------------------------------------------------------------


@pytest.mark.parametrize(
    "metrics",
    [
        [{"key": "not_a_metric", "value": 1.0}, {"key": "fid_typo", "value": 2.0}],
        [{"key": "knn_loo_p_value", "value": 0.01}],
        [{"key": "kid_std", "value": 0.01}, {"key": "is_std", "value": 0.1}],
    ],
)
def test_a_baseline_with_nothing_to_compare_is_refused(metrics: list[dict]) -> None:
    with pytest.raises(InputError, match="no regression could ever be found") as info:
        validate_baseline(_report(*metrics), "old.json")
    assert str(info.value).startswith("--baseline: old.json") and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"key": "fid", "value": 1.0, "stderr": 1e300}, "larger than the scale"),
        ({"key": "fid", "value": 1.0, "stderr": 2.0}, "larger than the scale"),
        ({"key": "fid", "value": 1.0, "stderr": -0.1}, "finite non-negative"),
        ({"key": "fid", "value": 1.0, "stderr": float("nan")}, "finite non-negative"),
        ({"key": "fid", "value": 1.0, "stderr": float("inf")}, "finite non-negative"),
        ({"key": "fid", "value": 1.0, "stderr": "0.1"}, "finite non-negative"),
        ({"key": "fid", "value": 1.0, "stderr": True}, "finite non-negative"),
        ({"key": "precision", "value": 0.5, "stderr": 1.5}, "larger than the scale"),
    ],
)
def test_a_baseline_standard_error_must_be_one(record: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        validate_baseline(_report(record), "old.json")
    assert f"({record['key']})" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "record",
    [
        {"key": "fid", "value": 72.3, "stderr": 1.4},
        {"key": "kid", "value": -0.0002, "std": 0.003, "stderr": 0.001},  # a KID of matched sets: noise around 0
        {"key": "memorization", "value": 0.0, "stderr": 0.01},  # a proportion: its range is its scale
        {"key": "knn_loo", "value": 0.5, "stderr": 0.03},
        {"key": "density", "value": 0.007, "low": 0.004, "high": 0.011, "stderr": 0.002},
        {"key": "fid", "value": 3.0, "stderr": None},
    ],
)
def test_genuine_standard_errors_are_accepted(record: dict) -> None:
    assert validate_baseline(_report(record), "old.json") == _report(record)


def test_a_huge_baseline_standard_error_no_longer_lets_fid_1_become_170(tmp_path: Path) -> None:
    from ganprobe.run.pipeline import load_baseline

    path = tmp_path / "old.json"
    path.write_text(json.dumps(_report({"key": "fid", "value": 1.0, "stderr": 1e300, "direction": "lower"})))
    with pytest.raises(InputError, match=r"old.json: metrics\[0\] \(fid\): 'stderr' 1e\+300"):
        load_baseline(path)


# -- issue 22, item 16: messages that name the cause --------------------------------------------------------------


def test_the_cli_checksum_advice_names_no_python_argument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake, real = _folder(tmp_path / "fake", 2, 1), _folder(tmp_path / "real", 2, 2)
    weights = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(1)}, weights)
    code = main(["evaluate", str(fake), str(real), "--extractor", "efficientnet-lite0", "--weights", str(weights)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "SHA-256" in err, err
    assert "pass verify_checksum" not in err and "command line" in err, err


def test_cli_words_name_no_python_only_argument() -> None:
    from ganprobe.data.sources import LOWER_MEMORY
    from ganprobe.errors import ImageFolderError, SampleSizeWarning
    from ganprobe.front_end_names import Template, render
    from ganprobe.scorers.kid import ERROR_INSTEAD

    kid = "KID: subset_size 1000 lowered to 300, the smaller set's size"
    warning = SampleSizeWarning(Template(kid + "{instead}", instead=ERROR_INSTEAD))  # as the KID scorer words it
    assert str(warning) == kid + " (pass shrink_subsets=False to get an error instead)"
    assert render(warning, "cli") == kid
    error = ImageFolderError(Template("x: a worker died; {lower}", lower=LOWER_MEMORY))  # as the folder reader does
    assert str(error) == "x: a worker died; lower batch_size or num_workers (CLI --batch-size, --workers)"
    assert render(error, "cli") == "x: a worker died; lower --batch-size or --workers"


def test_a_killed_decoding_worker_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ganprobe.data import sources

    folder = _folder(tmp_path / "images", 64, 3, size=8)
    decode = sources._FolderDataset.__getitem__

    def killed_at_20(self: object, index: int) -> object:  # the out-of-memory killer, in a forked worker
        if index == 20:
            os.kill(os.getpid(), signal.SIGKILL)
        return decode(self, index)

    monkeypatch.setattr(sources._FolderDataset, "__getitem__", killed_at_20)
    with pytest.raises(GanprobeError) as info:
        for _ in sources.iter_folder_batches(folder, 8, num_workers=2):
            pass
    message = str(info.value)
    assert str(folder) in message and "SIGKILL" in message and "worker" in message, message
    assert "Connection reset" not in message and "\n" not in message


@pytest.fixture(scope="module")
def stats_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from ganprobe.features.stats import save_reference_stats
    from ganprobe.run.evaluator import Evaluator
    from ganprobe.run.runtime import build_extractor

    root = tmp_path_factory.mktemp("stats")
    extractor = build_extractor("random-resnet18", "cpu")
    files = {}
    for name, rows, width in (("no_rows", 0, 8), ("narrow", 12, 7)):
        features = {layer: torch.randn(rows, width) for layer in Evaluator(extractor).layers}
        files[name] = save_reference_stats(root / f"{name}.npz", features, extractor, None)
    files["fake"] = _folder(root / "fake", 12, 4)
    return files


@pytest.mark.parametrize("name", ["no_rows", "narrow"])
def test_a_stats_file_of_no_rows_or_the_wrong_width_is_refused_by_name(
    name: str, stats_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    stats = stats_files[name]
    assert main(["evaluate", str(stats_files["fake"]), str(stats), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(stats) in err, err
    assert ("no rows" in err) if name == "no_rows" else ("7 features" in err), err


# -- issue 23, items 6 and 10: where the reports went, and the version ---------------------------------------------


def test_evaluate_ends_with_one_line_per_file_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake, real = _folder(tmp_path / "fake", 4, 5), _folder(tmp_path / "real", 4, 6)
    report, gates = tmp_path / "out" / "report.json", tmp_path / "gates.xml"
    arguments = [str(fake), str(real), *FAST, "--json", str(report), "--junit", str(gates), "--fail-if", "fid>1e9"]
    assert main(["evaluate", *arguments]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-2:]
    assert last == [f"wrote JSON report: {report}", f"wrote JUnit gate results: {gates}"], last
    assert report.is_file() and gates.is_file()


def test_version_prints_the_installed_version_without_torch() -> None:
    probe = (
        "import sys\nfrom ganprobe.front_ends.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print('torch' in sys.modules, code)"
    )
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines == [f"ganprobe {importlib.metadata.version('ganprobe')}", "False 0"], lines
