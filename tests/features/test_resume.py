"""Ctrl-C during a folder's extraction: the re-run reuses every finished batch from the cache's parts, computes
only the rest, and gives features identical to an uninterrupted run (whatever the batch size)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprobe.extractors import get_extractor
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.features import FeatureCache, extract_features


def write_folder(folder: Path, count: int) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (10, 10, 3)).astype(np.uint8)).save(folder / f"{index:02d}.png")
    return folder


class Forwards:
    """Counts backbone passes; raises KeyboardInterrupt on pass number ``interrupt_at`` (1-based) when set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.interrupt_at: int | None = None
        original = FeatureExtractor.forward_preprocessed

        def counted(extractor, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            self.calls += 1
            if self.interrupt_at is not None and self.calls == self.interrupt_at:
                raise KeyboardInterrupt
            return original(extractor, *args, **kwargs)

        monkeypatch.setattr(FeatureExtractor, "forward_preprocessed", counted)


@pytest.mark.parametrize("broken", [False, True])
def test_interrupted_extraction_resumes_from_finished_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: bool
) -> None:
    folder = write_folder(tmp_path / "real", 11)  # batches of 3: 4 batches, the last of 2
    if broken:  # a skipped file inside a finished batch must be remembered by its part
        (folder / "01b.png").write_bytes(b"")
    extractor = get_extractor("random-resnet18")
    layers = ["layer1", "pool"]
    reference = extract_features(extractor, folder, layers, batch_size=3, num_workers=0, strict=False)
    cache = FeatureCache(tmp_path / "cache")
    forwards = Forwards(monkeypatch)
    forwards.interrupt_at = 3  # batches 1 and 2 finish, the third is interrupted
    with pytest.raises(KeyboardInterrupt):
        extract_features(extractor, folder, layers, batch_size=3, num_workers=0, cache=cache, strict=False)
    assert len(list((tmp_path / "cache").glob("*.part-3-*.pt"))) == 2
    forwards.calls, forwards.interrupt_at = 0, None
    skipped: list[str] = []
    resumed = extract_features(
        extractor, folder, layers, batch_size=3, num_workers=0, cache=cache, skipped=skipped, strict=False
    )
    assert forwards.calls == 2  # only the two batches that never finished
    for layer in layers:
        assert torch.equal(resumed[layer], reference[layer])
    assert skipped == ([str(folder / "01b.png")] if broken else [])
    files = sorted(path.name for path in (tmp_path / "cache").iterdir())
    assert len(files) == 1 and ".part-" not in files[0] and not files[0].startswith(".")  # parts and temps gone
    forwards.calls = 0
    again = extract_features(extractor, folder, layers, batch_size=8, num_workers=0, cache=cache, strict=False)
    assert forwards.calls == 0 and all(torch.equal(again[layer], reference[layer]) for layer in layers)


def test_parts_of_another_batch_size_are_not_misread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_folder(tmp_path / "real", 7)
    extractor = get_extractor("random-resnet18")
    reference = extract_features(extractor, folder, "pool", batch_size=7, num_workers=0)
    cache = FeatureCache(tmp_path / "cache")
    forwards = Forwards(monkeypatch)
    forwards.interrupt_at = 2
    with pytest.raises(KeyboardInterrupt):
        extract_features(extractor, folder, "pool", batch_size=2, num_workers=0, cache=cache)
    forwards.calls, forwards.interrupt_at = 0, None
    resumed = extract_features(extractor, folder, "pool", batch_size=4, num_workers=0, cache=cache)
    assert forwards.calls == 2  # a fresh run at batch size 4; the batch-size-2 part is not mixed in
    assert torch.equal(resumed["pool"], reference["pool"])
    assert not list((tmp_path / "cache").glob("*.part-*"))


def test_strict_rerun_refuses_parts_that_skipped_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ganprobe.errors import ImageFolderError, SkippedImagesWarning

    folder = write_folder(tmp_path / "real", 6)
    (folder / "00b.png").write_text("not an image")
    extractor = get_extractor("random-resnet18")
    cache = FeatureCache(tmp_path / "cache")
    forwards = Forwards(monkeypatch)
    forwards.interrupt_at = 2
    with pytest.raises(KeyboardInterrupt):
        extract_features(extractor, folder, "pool", batch_size=3, num_workers=0, cache=cache, strict=False)
    with pytest.raises(ImageFolderError, match="00b.png"):
        extract_features(extractor, folder, "pool", batch_size=3, num_workers=0, cache=cache, strict=True)
    forwards.interrupt_at = None
    with pytest.warns(SkippedImagesWarning, match="00b.png"):
        extract_features(extractor, folder, "pool", batch_size=3, num_workers=0, cache=cache, strict=False)
