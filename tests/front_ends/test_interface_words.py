"""Messages in the words of the interface being used (issue 16): the CLI speaks in options, the plugin in one
line, a grayscale network warns about colour photos, redirected output starts with the first table."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganprobe
from ganprobe.data.colour import colourfulness
from ganprobe.front_ends.cli import cli_warning_line, main

FAST = ["--extractor", "random-resnet18", "--no-cache", "--quiet", "--metrics", "fid", "knn_loo"]


def _folder(root: Path, count: int = 6, colour: bool = True) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(len(str(root)))
    for index in range(count):
        pixels = rng.integers(0, 256, (16, 16, 3 if colour else 1)).astype(np.uint8)
        Image.fromarray(pixels if colour else pixels[..., 0]).save(root / f"{index}.png")
    return root


def _console(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m ganprobe ARGUMENTS`` in a fresh process running this checkout, output captured as text."""
    environment = {**os.environ, "PYTHONPATH": str(Path(ganprobe.__file__).parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "ganprobe", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    return _folder(tmp_path / "fake"), _folder(tmp_path / "real")


def test_cli_errors_name_options_not_python_arguments(folders, tmp_path: Path, capsys) -> None:
    fake, real = folders
    weights = ["--extractor", "resnet18", "--weights", str(tmp_path / "none.pth")]
    assert main(["evaluate", str(fake), str(real), *FAST, *weights]) == 2
    error = capsys.readouterr().err
    assert "--weights '" in error and "weights_path" not in error
    (fake / "broken.png").write_text("not a png")
    assert main(["evaluate", str(fake), str(real), *FAST]) == 2
    error = capsys.readouterr().err
    assert "--skip-unreadable skips such files instead" in error and "strict" not in error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["evaluate", str(fake), str(real), *FAST, "--skip-unreadable"]) == 0
    # main() prints warnings through cli_warning_line (pytest intercepts the printing itself)
    skipped = [w for w in caught if "unreadable" in str(w.message)]
    warning = cli_warning_line(skipped[0].message, skipped[0].category, skipped[0].filename, skipped[0].lineno)
    assert warning.startswith("ganprobe: warning: ") and "strict" not in warning
    assert "without --skip-unreadable such files fail the run" in warning
    assert warnings.formatwarning is not cli_warning_line  # the host process keeps its own formatter


def test_the_console_script_prints_each_warning_as_one_cli_line(folders) -> None:
    fake, real = folders
    (fake / "broken.png").write_text("not a png")
    done = _console("evaluate", str(fake), str(real), *FAST, "--skip-unreadable")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganprobe: warning: "), done.stderr
    assert "broken.png" in lines[0] and "--skip-unreadable" in lines[0] and "strict" not in lines[0]


def test_a_missing_stats_file_is_not_called_a_folder(folders, tmp_path: Path, capsys) -> None:
    fake, _ = folders
    missing = tmp_path / "real_stats.npz"
    assert main(["evaluate", str(fake), str(missing), *FAST]) == 2
    error = capsys.readouterr().err
    assert (
        f"REAL: stats file {missing} does not exist; write it with `ganprobe stats REAL_FOLDER -o {missing}`" in error
    )
    assert "folder" not in error.split("write it")[0]
    with pytest.raises(ganprobe.InputError, match="real: stats file .* does not exist"):
        ganprobe.evaluate(fake, missing, extractor="random-resnet18")


def test_extractors_listing_never_claims_the_offline_variable(monkeypatch, capsys) -> None:
    monkeypatch.delenv("GANPROBE_OFFLINE", raising=False)
    monkeypatch.setenv("GANPROBE_WEIGHTS_DIR", "/nonexistent-ganprobe-weights")
    monkeypatch.setenv("TORCH_HOME", "/nonexistent-torch-home")
    assert main(["extractors"]) == 0
    out = capsys.readouterr().out
    assert "GANPROBE_OFFLINE is set" not in out and "weights_path" not in out
    assert "resnet18: weights file 'resnet18-f37072fd.pth' is not on this machine" in out
    assert "(or pass --weights FILE)" in out and "resnet18: resnet18:" not in out


def test_an_unwritable_output_fails_before_any_extraction(folders, tmp_path: Path, capsys, monkeypatch) -> None:
    from ganprobe.features import extract

    calls = []
    monkeypatch.setattr(extract, "iter_features", lambda *a, **k: calls.append(1) or iter(()))
    fake, real = folders
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["evaluate", str(fake), str(real), *FAST, "--json", str(blocker / "report.json")]) == 2
    assert calls == [] and "--json" in capsys.readouterr().err


def test_redirected_output_starts_with_the_first_line_of_text(folders, tmp_path: Path) -> None:
    fake, real = folders
    arguments = [str(fake), str(real), "--extractor", "random-resnet18", "--no-cache", "--metrics", "fid", "knn_loo"]
    done = _console("evaluate", *arguments)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].strip() == "In short"  # no blank lines from progress bars
    assert "\x1b" not in done.stdout and "\x1b" not in done.stderr


def test_grayscale_network_warns_about_colour_photos(tmp_path: Path) -> None:
    from skimage import data

    photo = torch.from_numpy(data.astronaut()).permute(2, 0, 1)
    photos = torch.stack([photo[:, 20 * i : 20 * i + 128, 20 * i : 20 * i + 128] for i in range(12)])
    digits = photos.float().mean(dim=1, keepdim=True).expand(-1, 3, -1, -1).round().to(torch.uint8)
    assert colourfulness(digits) == 0.0 and colourfulness(photos) > 0.05
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ganprobe.evaluate(photos, photos.flip(0), extractor="lenet-mnist", metrics=["fid"], noise_resamples=0)
    messages = [str(w.message) for w in caught if "grayscale network" in str(w.message)]
    assert len(messages) == 2 and "lenet-mnist is a grayscale network (digits) but the real images" in messages[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ganprobe.evaluate(digits, digits.flip(0), extractor="lenet-mnist", metrics=["fid"], noise_resamples=0)
    assert not [w for w in caught if "grayscale network" in str(w.message)]
    gray = _folder(tmp_path / "gray", colour=False)
    from ganprobe.data.colour import warn_if_colour

    assert warn_if_colour(gray, "lenet-mnist", "real") is False


PLUGIN_TESTS = """
import pytest

def test_missing_real_folder(ganprobe, good_generator):
    ganprobe.evaluate(good_generator, "no/such/folder", num_samples=8, extractor="random-resnet18", metrics=["fid"])

def test_stats_of_another_extractor(ganprobe, good_generator, other_stats):
    ganprobe.evaluate(good_generator, other_stats, num_samples=8, extractor="random-resnet18", metrics=["fid"])
"""
PLUGIN_FIXTURE = """
import pytest
import torch

from ganprobe.extractors import get_extractor
from ganprobe.features.stats import save_reference_stats


@pytest.fixture
def other_stats(tmp_path_factory):
    path = tmp_path_factory.mktemp("deep") / "nested" / "reference" / "real_stats.npz"
    path.parent.mkdir(parents=True)
    extractor = get_extractor("random-resnet34")
    features = {layer: torch.rand(8, 4) for layer in extractor.layers}
    save_reference_stats(path, features, extractor, {"kind": "test"})
    return path
"""


def test_plugin_input_errors_are_one_line_with_the_whole_path(pytester: pytest.Pytester) -> None:
    project = Path(__file__).parents[1] / "plugin_project"
    for source in project.glob("*.py"):
        text = source.read_text()
        if source.name == "conftest.py":
            text += PLUGIN_FIXTURE
        (pytester.path / source.name).write_text(text)
    pytester.makepyfile(test_inputs=PLUGIN_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "missing_real or another_extractor")
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    assert "Traceback" not in output and "ganprobe/run/pipeline.py" not in output
    result.stdout.fnmatch_lines(["*ganprobe: no/such/folder: folder does not exist*"])
    lines = [line for line in output.splitlines() if "made with" in line]
    assert lines and "/deep" in lines[0] and "/nested/reference/real_stats.npz --extractor random-resnet18" in lines[0]
