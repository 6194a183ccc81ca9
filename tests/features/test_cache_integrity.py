"""Feature-cache integrity (issue 14, items 3, 4 and 9): a damaged entry is never used, a full disk leaves nothing.

``torch.load`` does not check the zip CRC of a tensor's bytes, so entries carry the SHA-256 of every tensor plus the
shapes and row count they promise; every check failure is a :class:`FeatureCacheWarning` naming the entry and how to
clear the cache, and the features are recomputed.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprobe.errors import FeatureCacheWarning
from ganprobe.extractors import get_extractor
from ganprobe.features import FeatureCache, extract_features
from ganprobe.features import cache as cache_module
from ganprobe.features.cache import cache_key, source_fingerprint
from ganprobe.front_ends.cli import main


def images(folder: Path, count: int, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3)).astype(np.uint8)).save(folder / f"{index:02d}.png")
    return folder


def tensor_data_span(entry: Path) -> tuple[int, int]:
    """Byte offsets ``[start, end)`` of the first stored tensor's raw data inside a ``torch.save`` zip file."""
    with zipfile.ZipFile(entry) as archive:
        info = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size > 64)
    with open(entry, "rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_length + extra_length
    assert info.compress_type == zipfile.ZIP_STORED
    return start, start + info.file_size


@pytest.fixture
def extractor():  # noqa: ANN201
    return get_extractor("random-resnet18")


def extract(extractor, folder: Path, cache: FeatureCache | None, **kwargs) -> dict[str, torch.Tensor]:  # noqa: ANN001
    return extract_features(extractor, folder, ["pool"], 4, num_workers=0, cache=cache, **kwargs)


def test_any_flipped_byte_in_a_stored_tensor_is_detected(tmp_path: Path, extractor) -> None:  # noqa: ANN001
    folder = images(tmp_path / "fake", 5, 1)
    clean = extract(extractor, folder, None)
    cache = FeatureCache(tmp_path / "cache")
    extract(extractor, folder, cache)
    (entry,) = (tmp_path / "cache").glob("*.pt")
    good = entry.read_bytes()
    start, end = tensor_data_span(entry)
    assert end - start == 5 * 512 * 4
    for position in [start, start + 1, start + 777, (start + end) // 2, end - 2, end - 1]:
        damaged = bytearray(good)
        damaged[position] ^= 0x01 if position % 2 else 0x80
        entry.write_bytes(bytes(damaged))
        with pytest.warns(FeatureCacheWarning, match="checksum") as record:
            again = extract(extractor, folder, cache)
        message = str(next(w.message for w in record if isinstance(w.message, FeatureCacheWarning)))
        assert str(entry) in message and "--no-cache" in message and "delete" in message
        assert torch.equal(again["pool"], clean["pool"]), position
        assert entry.read_bytes() != bytes(damaged)  # rewritten with the recomputed features


def test_cli_with_a_flipped_byte_gives_the_clean_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake, real = images(tmp_path / "fake", 5, 1), images(tmp_path / "real", 5, 2)
    args = ["evaluate", str(fake), str(real), "--extractor", "random-resnet18", "--metrics", "fid", "--quiet"]
    args += ["--workers", "0", "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "--json", str(tmp_path / "clean.json")]) == 0  # its sample-size caveat is in the report
    for entry in (tmp_path / "cache").glob("*.pt"):
        data = bytearray(entry.read_bytes())
        start, end = tensor_data_span(entry)
        data[(start + end) // 2 + 3] ^= 0x10
        entry.write_bytes(bytes(data))
    with pytest.warns(FeatureCacheWarning, match="checksum"):
        assert main([*args, "--json", str(tmp_path / "again.json")]) == 0
    clean = json.loads((tmp_path / "clean.json").read_text())["metrics"][0]["value"]
    assert json.loads((tmp_path / "again.json").read_text())["metrics"][0]["value"] == clean


def test_entry_with_too_few_rows_for_its_key_is_not_used(tmp_path: Path, extractor) -> None:  # noqa: ANN001
    folder = images(tmp_path / "fake", 5, 1)
    clean = extract(extractor, folder, None)
    cache = FeatureCache(tmp_path / "cache")
    key = cache_key(source_fingerprint(folder), extractor, ["pool"], None)
    cache.store(key, {"pool": clean["pool"][:3]})  # right key, 3 of 5 rows (a checksum of its own is no help)
    with pytest.warns(FeatureCacheWarning, match="3 rows.*5"):
        again = extract(extractor, folder, cache)
    assert torch.equal(again["pool"], clean["pool"])


def test_entry_with_nan_is_recomputed_naming_the_cache(tmp_path: Path, extractor) -> None:  # noqa: ANN001
    folder = images(tmp_path / "fake", 5, 1)
    clean = extract(extractor, folder, None)
    cache = FeatureCache(tmp_path / "cache")
    key = cache_key(source_fingerprint(folder), extractor, ["pool"], None)
    poisoned = clean["pool"].clone()
    poisoned[1, 2] = float("nan")
    path = cache.store(key, {"pool": poisoned})
    with pytest.warns(FeatureCacheWarning, match="NaN") as record:
        again = extract(extractor, folder, cache)
    assert any(str(path) in str(w.message) and "--no-cache" in str(w.message) for w in record)
    assert torch.equal(again["pool"], clean["pool"])


def test_hash_contents_catches_a_change_that_keeps_size_and_mtime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, real = images(tmp_path / "fake", 4, 1), images(tmp_path / "real", 4, 2)
    args = ["evaluate", str(fake), str(real), "--extractor", "random-resnet18", "--metrics", "fid", "--quiet"]
    args += ["--workers", "0", "--cache-dir", str(tmp_path / "cache"), "--hash-contents"]
    assert main([*args, "--json", str(tmp_path / "a.json")]) == 0
    victim = fake / "00.png"
    info = victim.stat()
    replacement = tmp_path / "other.png"
    Image.fromarray(np.full((12, 12, 3), 7, np.uint8)).save(replacement)
    data = replacement.read_bytes()
    assert len(data) < info.st_size  # a flat image compresses well: pad it (after IEND) to the same size ...
    victim.write_bytes(data.ljust(info.st_size, b"\0"))
    os.utime(victim, ns=(info.st_atime_ns, info.st_mtime_ns))  # ... and the same modification time
    assert main([*args, "--json", str(tmp_path / "b.json")]) == 0
    first = json.loads((tmp_path / "a.json").read_text())["metrics"][0]["value"]
    assert json.loads((tmp_path / "b.json").read_text())["metrics"][0]["value"] != first


def test_full_disk_leaves_no_part_files(tmp_path: Path, extractor, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    folder = images(tmp_path / "fake", 10, 1)
    clean = extract(extractor, folder, None)
    cache = FeatureCache(tmp_path / "cache")
    original = cache_module.write_entry
    writes = []

    def filling(path, write):  # noqa: ANN001, ANN202 - the disk fills after two part files
        writes.append(path)
        if len(writes) > 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return original(path, write)

    monkeypatch.setattr(cache_module, "write_entry", filling)
    with pytest.warns(FeatureCacheWarning, match="No space left"):
        features = extract_features(extractor, folder, ["pool"], 2, num_workers=0, cache=cache)
    assert torch.equal(features["pool"], clean["pool"])
    assert list((tmp_path / "cache").iterdir()) == []
    assert len(writes) == 3  # no further writes once the disk is full
