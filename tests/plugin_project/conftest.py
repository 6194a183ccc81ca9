"""A GAN project's own conftest: it knows nothing of ganprobe except the installed plugin's fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


def bright_noise(count: int) -> torch.Tensor:
    """The "real" distribution: bright noise images in [0, 1] (ganprobe seeds torch before calling a generator)."""
    return 0.6 + 0.4 * torch.rand(count, 3, 32, 32)


def dark_noise(count: int) -> torch.Tensor:
    """A broken generator: dark images, trivially told apart from the real ones."""
    return 0.3 * torch.rand(count, 3, 32, 32)


def write_folder(folder: Path, images: torch.Tensor) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        array = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(array).save(folder / f"{index:03d}.png")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Write the project's sample folders (a real project has them on disk already)."""
    root = session.config.rootpath / "samples"
    for seed, (name, generate) in enumerate((("real", bright_noise), ("good", bright_noise), ("bad", dark_noise))):
        torch.manual_seed(seed)
        write_folder(root / name, generate(32))


@pytest.fixture
def real_folder(pytestconfig: pytest.Config) -> Path:
    return pytestconfig.rootpath / "samples" / "real"


@pytest.fixture
def good_generator():
    """A generator callable ``f(n) -> images`` that samples the real distribution."""
    return bright_noise


@pytest.fixture
def bad_generator():
    return dark_noise
