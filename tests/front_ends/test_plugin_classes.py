"""Per-class gates in a GAN project's own test suite: the plugin's ``ganprobe.evaluate(...)`` takes ``classes=`` and
fails the test on ``missing_classes>0`` with the reason, and passes when every class is drawn (issue 24, item 8)."""

from __future__ import annotations

import pytest

PROJECT_TESTS = """
from pathlib import Path

import torch
from PIL import Image


def _folder(root: Path, classes: list[int], per_class: int, seed: int) -> str:
    gen = torch.Generator().manual_seed(seed)
    for label in classes:
        (root / str(label)).mkdir(parents=True)
        for index in range(per_class):
            pixels = (torch.rand(16, 16, 3, generator=gen) * 60 + 60 * label).clamp(0, 255).byte().numpy()
            Image.fromarray(pixels).save(root / str(label) / f"{index}.png")
    return str(root)


def _evaluate(ganprobe, tmp_path: Path, fake_classes: list[int]):
    real = _folder(tmp_path / "real", [0, 1, 2], 20, seed=0)
    fake = _folder(tmp_path / "fake", fake_classes, 20, seed=1)
    return ganprobe.evaluate(
        fake, real, extractor="random-resnet18", metrics=["knn_loo"], classes="subfolders",
        fail_if=["missing_classes>0"],
    )


def test_a_generator_that_never_draws_class_2(ganprobe, tmp_path):
    _evaluate(ganprobe, tmp_path, [0, 1])


def test_a_generator_that_draws_every_class(ganprobe, tmp_path):
    result = _evaluate(ganprobe, tmp_path, [0, 1, 2])
    assert result["missing_classes"] == 0
"""


def test_the_plugin_gates_missing_classes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_generator_classes=PROJECT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ganprobe-no-cache")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_a_generator_that_never_draws_class_2*", "*missing_classes = 1*"])
    assert "Traceback" not in result.stdout.str()
