"""Memorization and its functional twin: planted copies, independent samples, brute force, file paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprobe.errors import InputError
from ganprobe.functional.memorization import (
    SuspectedCopy,
    memorization_details,
    memorization_fraction,
    most_suspicious,
)
from ganprobe.metrics.memorization import Memorization


def planted(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, dict[int, int]]:
    """300 reals; 200 fakes of which 5 are exact and 5 near copies of reals, at random rows.

    Returns ``(real, fake, {fake row: copied real row})``.
    """
    gen = torch.Generator().manual_seed(seed)
    real = torch.randn(300, 32, generator=gen)
    fake = torch.randn(200, 32, generator=gen)
    fake_rows = torch.randperm(200, generator=gen)[:10].tolist()
    real_rows = torch.randperm(300, generator=gen)[:10].tolist()
    for number, (fake_row, real_row) in enumerate(zip(fake_rows, real_rows, strict=True)):
        noise = 0.0 if number < 5 else 1e-3 * torch.randn(32, generator=gen)
        fake[fake_row] = real[real_row] + noise
    return real, fake, dict(zip(fake_rows, real_rows, strict=True))


def test_planted_copies_top_the_list() -> None:
    real, fake, copies = planted()
    metric = Memorization(extractor=None)
    metric.update(real[:150], real=True)
    metric.update(real[150:], real=True)
    metric.update(fake, real=False)
    assert float(metric.compute()) == pytest.approx(10 / 200)
    records = metric.most_suspicious(10)
    assert all(isinstance(record, SuspectedCopy) for record in records)
    assert {record.fake_index: record.real_index for record in records} == copies
    exact = sorted(fake_row for number, fake_row in enumerate(copies) if number < 5)
    assert [record.fake_index for record in records[:5]] == exact  # ratio 0, ties by fake index
    assert all(record.ratio == 0.0 and record.distance == 0.0 for record in records[:5])
    assert all(0.0 < record.ratio < 1e-2 for record in records[5:])
    assert [record.ratio for record in records] == sorted(record.ratio for record in records)
    assert all(record.fake_path is None and record.real_path is None for record in records)
    eleventh = metric.most_suspicious(11)[10]
    assert eleventh.fake_index not in copies and eleventh.ratio > 0.5


def test_independent_samples_are_rarely_suspicious() -> None:
    gen = torch.Generator().manual_seed(1)
    real, fake = torch.randn(500, 32, generator=gen), torch.randn(400, 32, generator=gen)
    assert float(memorization_fraction(real, fake)) < 0.01
    details = memorization_details(real, fake)
    assert 0.8 < float(details.ratio.median()) < 1.5  # a fake lands about as far away as real neighbours do
    # the same cut at 1 (Alaa et al.'s authenticity) flags a sizeable share of honest samples
    assert float(memorization_fraction(real, fake, threshold=1.0)) > 0.1


@pytest.mark.parametrize("normalize", [True, False])
def test_details_match_brute_force(normalize: bool) -> None:
    gen = torch.Generator().manual_seed(2)
    real, fake = torch.randn(120, 6, generator=gen), torch.randn(80, 6, generator=gen) * 1.3
    details = memorization_details(real, fake, block_bytes=4 * 120 * 5, normalize=normalize)  # several blocks
    if normalize:  # the copy space: signed square root of each entry, then unit rows
        real, fake = (rows.sign() * rows.abs().sqrt() for rows in (real, fake))
        real, fake = real / real.norm(dim=1, keepdim=True), fake / fake.norm(dim=1, keepdim=True)
    cross = torch.cdist(fake.double(), real.double())
    within = torch.cdist(real.double(), real.double()).fill_diagonal_(float("inf"))
    nearest = cross.argmin(dim=1)
    assert torch.equal(details.real_index, nearest) and details.num_real == 120
    torch.testing.assert_close(details.distance, cross.min(dim=1).values)
    torch.testing.assert_close(details.real_spacing, within.min(dim=1).values[nearest])
    torch.testing.assert_close(details.ratio, details.distance / details.real_spacing)


def test_duplicated_reals() -> None:
    real = torch.tensor([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [9.0, 0.0]])
    fake = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.1]])
    ratio = memorization_details(real, fake, normalize=False).ratio.tolist()
    assert ratio[0] == 0.0  # an exact copy of a duplicated real: still a copy
    assert ratio[1] == float("inf")  # near a real whose spacing is 0: no meaningful ratio
    assert ratio[2] == pytest.approx(0.1 / 41**0.5)  # spacing of (5, 5): its distance to (9, 0)


def test_functional_validation_and_paths() -> None:
    real, fake, _ = planted(3)
    details = memorization_details(real, fake)
    names = [f"fake_{index}.png" for index in range(200)]
    records = most_suspicious(details, 2, fake_paths=names)
    assert [record.fake_path for record in records] == [names[record.fake_index] for record in records]
    with pytest.raises(InputError, match="real_paths"):
        most_suspicious(details, 2, real_paths=["a.png"])
    with pytest.raises(InputError, match="n"):
        most_suspicious(details, 0)
    with pytest.raises(InputError, match="threshold"):
        memorization_fraction(real, fake, threshold=0)
    with pytest.raises(InputError, match="real"):
        memorization_details(real[:1], fake)
    with pytest.raises(InputError, match="width"):
        memorization_details(real, fake[:, :5])
    with pytest.raises(InputError, match="threshold"):
        Memorization(threshold=-1.0, extractor=None)


def test_set_paths_for_tensor_inputs() -> None:
    real, fake, copies = planted(4)
    metric = Memorization(extractor=None, threshold=0.1)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    metric.set_paths(real=[f"real/{index}.png" for index in range(300)])
    record = metric.most_suspicious(1)[0]
    assert record.real_path == f"real/{copies[record.fake_index]}.png" and record.fake_path is None
    metric.set_paths(fake=[f"fake/{index}.png" for index in range(199)])  # one short
    with pytest.raises(InputError, match="199 paths for 200 fake samples"):
        metric.most_suspicious(1)
    with pytest.raises(InputError, match="single path"):
        metric.set_paths(real="real_folder")


def write_images(folder: Path, images: list[np.ndarray], names: list[str]) -> None:
    folder.mkdir()
    for image, name in zip(images, names, strict=True):
        Image.fromarray(image).save(folder / name)


def test_folder_inputs_report_file_paths(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reals = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(6)]
    fresh = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    write_images(tmp_path / "real", reals, [f"r{index}.png" for index in range(6)])
    # fake folder order (sorted names): a_copy_of_r4, b_new, c_copy_of_r1, d_new, e_new
    fakes = [reals[4], fresh[0], reals[1], fresh[1], fresh[2]]
    write_images(tmp_path / "fake", fakes, ["a_copy_of_r4.png", "b_new.png", "c_copy_of_r1.png", "d.png", "e.png"])
    metric = Memorization(extractor="random-resnet18")
    metric.update_from(tmp_path / "real", real=True, batch_size=4, num_workers=0)
    metric.update_from(str(tmp_path / "fake"), real=False, batch_size=2, num_workers=0)
    records = metric.most_suspicious(2)
    assert [Path(record.fake_path).name for record in records] == ["a_copy_of_r4.png", "c_copy_of_r1.png"]
    assert [Path(record.real_path).name for record in records] == ["r4.png", "r1.png"]
    assert [record.real_index for record in records] == [4, 1]
    assert all(record.ratio < 1e-3 for record in records)
    assert float(metric.compute()) == pytest.approx(2 / 5)
    # rows added without a folder have no path; the records say so instead of guessing
    metric.update(torch.from_numpy(fresh[0]).permute(2, 0, 1).unsqueeze(0), real=False)
    by_fake = {record.fake_index: record for record in metric.most_suspicious(6)}
    assert by_fake[5].fake_path is None and Path(by_fake[1].fake_path).name == "b_new.png"
    assert by_fake[5].distance == pytest.approx(by_fake[1].distance, rel=1e-4)  # same image, other row
    metric.reset()
    metric.update_from(tmp_path / "fake", real=True, num_workers=0)
    metric.update(torch.from_numpy(reals[0]).permute(2, 0, 1).unsqueeze(0), real=False)
    record = metric.most_suspicious(1)[0]
    assert record.fake_path is None and Path(record.real_path).parent.name == "fake"
