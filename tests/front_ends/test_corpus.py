"""The bad-input corpus: every input a CI gate may be fed, generated here (no binary blobs committed), with the
outcome the CLI and the Python API must give -- a right number, one clear error line (exit 2, a typed exception),
or the documented handling (skip with one warning) -- and never a write outside the requested outputs.

``CASES`` is the single source of the table in ``docs/hardening.md``; ``python tests/front_ends/test_corpus.py``
prints it
and ``test_docs_table_is_in_sync`` fails when the two differ. CLI cases run ``ganprobe.front_ends.cli.main`` in-process
(the
same code as the console script, minus ~10 s of interpreter start-up per case); ``test_cli_subprocess_one_line``
runs a few as real processes.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor

from ganprobe.errors import (
    FeatureCacheWarning,
    GanprobeError,
    ImageFolderError,
    InputError,
    SkippedImagesWarning,
    UsageError,
    WeightsChecksumError,
)
from ganprobe.extractors import get_extractor
from ganprobe.features import FeatureCache, extract_features
from ganprobe.features.stats import load_reference_stats, save_reference_stats
from ganprobe.front_ends.cli import main
from ganprobe.utils.safe_text import quote_path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hardening.md"
BASE = ["--extractor", "random-resnet18", "--metrics", "fid", "--quiet", "--workers", "0"]


def save_rgb(path: Path, seed: int, size: tuple[int, int] = (12, 12)) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)).save(path)
    return path


def image_folder(path: Path, count: int, seed: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        save_rgb(path / f"img_{index:02d}.png", seed * 100 + index)
    return path


def bomb_png(path: Path) -> Path:
    """A valid PNG signature and header claiming 100000 x 100000 pixels (a decompression bomb), no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def truncated(path: Path, kind: str) -> Path:
    save_rgb(path, 7, (40, 40)) if kind == "png" else Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@dataclass
class Setup:
    """What a case built: the folders, extra CLI arguments, the bad file (if any) and the API call to check."""

    fake: Path
    real: Path
    args: list[str] = field(default_factory=list)
    bad: str | None = None
    api: Callable[[], object] | None = None


@dataclass(frozen=True)
class Case:
    """One corpus entry: how to build it and what the CLI and the Python API must do with it."""

    id: str
    what: str
    build: Callable[[Path], Setup]
    exit_code: int  # of `ganprobe evaluate` with default options
    cli: str  # documented CLI outcome
    api: str  # documented Python API outcome
    stderr: str = ""  # substring of the one error line (exit 2)
    api_error: type[Exception] | None = None
    api_warning: type[Warning] | None = None
    skip_flag: bool = False  # also run with --skip-unreadable: exit 0, the warning, the file in skipped_files


def _bad_file_case(maker: Callable[[Path], Path]) -> Callable[[Path], Setup]:
    def build(root: Path) -> Setup:
        fake = image_folder(root / "fake", 5, 1)
        bad = maker(fake / "img_02b.png")
        real = image_folder(root / "real", 5, 2)
        extractor = get_extractor("random-resnet18")
        return Setup(
            fake,
            real,
            bad=str(bad),
            api=lambda: extract_features(extractor, fake, "pool", 4, num_workers=0, strict=False),
        )

    return build


def _folder_only(make: Callable[[Path], Path], metric_rows: bool = False) -> Callable[[Path], Setup]:
    def build(root: Path) -> Setup:
        fake = make(root / "fake")
        real = image_folder(root / "real", 5, 2)
        extractor = get_extractor("random-resnet18")
        return Setup(fake, real, api=lambda: extract_features(extractor, fake, "pool", 4, num_workers=0, strict=False))

    return build


def _empty(path: Path) -> Path:
    path.mkdir()
    (path / "notes.txt").write_text("no images")
    return path


def _all_bad(path: Path) -> Path:
    path.mkdir()
    (path / "a.png").write_bytes(b"")
    (path / "b.png").write_text("text")
    return path


def _mixed(path: Path) -> Path:
    path.mkdir()
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (9, 7, 4)).astype(np.uint8), "RGBA").save(path / "rgba.png")
    Image.fromarray((rng.integers(0, 65536, (10, 10))).astype(np.uint16)).save(path / "gray16.png")
    Image.fromarray(rng.integers(0, 256, (8, 8)).astype(np.uint8), "L").convert("P").save(path / "palette.png")
    Image.fromarray(rng.integers(0, 256, (8, 8)).astype(np.uint8), "L").save(path / "gray.jpg")
    Image.fromarray(rng.integers(0, 256, (1, 300, 3)).astype(np.uint8)).save(path / "strip.png")  # 300 x 1
    Image.fromarray(rng.integers(0, 256, (120, 2, 3)).astype(np.uint8)).save(path / "tall.bmp")
    save_rgb(path / "rgb.png", 4)
    return path


def _hidden(path: Path) -> Path:
    image_folder(path, 4, 1)
    (path / ".broken.png").write_bytes(b"")
    (path / ".cache").mkdir()
    (path / ".cache" / "thumb.png").write_text("not an image")
    return path


def _non_utf8(path: Path) -> Path:
    image_folder(path, 4, 1)
    save_rgb(Path(os.fsdecode(os.fsencode(path) + b"/caf\xe9.png")), 9)
    return path


def _symlink_loop(path: Path) -> Path:
    image_folder(path, 4, 1)
    (path / "loop.png").symlink_to(path / "loop.png")
    (path / "sub").mkdir()
    (path / "sub" / "up").symlink_to(path, target_is_directory=True)  # a folder loop: not followed
    return path


def _unreadable(path: Path) -> Path:
    image_folder(path, 4, 1)
    locked = save_rgb(path / "locked.png", 8)
    locked.chmod(0)
    return path


def _one_image(root: Path) -> Setup:
    fake, real = image_folder(root / "fake", 1, 1), image_folder(root / "real", 5, 2)
    return Setup(fake, real, api=lambda: _fid(fake, real))


def _sizes(fake_count: int, real_count: int) -> Callable[[Path], Setup]:
    def build(root: Path) -> Setup:
        fake, real = image_folder(root / "fake", fake_count, 1), image_folder(root / "real", real_count, 2)
        return Setup(fake, real, api=lambda: _fid(fake, real))

    return build


def _fid(fake: Path, real: Path) -> float:
    from ganprobe.run.pipeline import evaluate

    result = evaluate(fake, real, "random-resnet18", metrics=["fid"], num_workers=0, batch_size=4)
    value = result["fid"]
    assert np.isfinite(value) and value >= 0
    return value


def _stats_file(root: Path, corrupt: str) -> Setup:
    fake = image_folder(root / "fake", 5, 1)
    stats = root / "real.npz"
    meta: object = 5 if corrupt == "meta" else {"format": 1, "extractor": "random-resnet18"}
    features = np.random.default_rng(0).standard_normal((6, 512)).astype(np.float32)
    if corrupt == "nan":
        features[2, 5] = np.nan
    if corrupt == "text":
        stats.write_text("not a stats file")
    elif corrupt == "nan":  # otherwise valid: made by this run's extractor (checked before the arrays are read)
        save_reference_stats(stats, {"pool": torch.from_numpy(features)}, get_extractor("random-resnet18"))
    else:
        np.savez(stats, meta=np.array(json.dumps(meta)), **{"features/pool": features})
    return Setup(fake, stats, api=lambda: load_reference_stats(stats))


def _width_mismatch(root: Path) -> Setup:
    from ganprobe.metrics.fid import FID

    def api() -> None:
        metric = FID(extractor=get_extractor("random-resnet18"))
        metric.update_features({"pool": torch.randn(4, 512)}, True)
        metric.update_features({"pool": torch.randn(4, 511)}, True)

    fake, real = image_folder(root / "fake", 3, 1), image_folder(root / "real", 3, 2)
    return Setup(fake, real, args=["--num-samples", "2"], api=api)


def _small_fake_set(root: Path) -> Setup:
    """Fewer fakes than the Inception Score's 10 splits: refused in one line before any extraction (issue 14.10)."""
    from ganprobe.run.pipeline import evaluate

    fake, real = image_folder(root / "fake", 4, 1), image_folder(root / "real", 12, 2)
    return Setup(
        fake, real, args=["--metrics", "fid", "is"], api=lambda: evaluate(fake, real, "random-resnet18", ["is"])
    )


def _bad_features(kind: str) -> Callable[[Path], Setup]:
    """Not reachable from the CLI (one extractor): numpy images or (N, 0) features given to a metric's update()."""

    def build(root: Path) -> Setup:
        from ganprobe.metrics.knn_loo import KNNLOOAccuracy

        def api() -> None:
            if kind == "numpy":
                KNNLOOAccuracy(extractor="random-resnet18").update(np.zeros((2, 3, 8, 8), np.uint8), real=True)
            else:
                KNNLOOAccuracy(extractor=None).update(torch.zeros(4, 0), real=True)

        fake, real = image_folder(root / "fake", 3, 1), image_folder(root / "real", 3, 2)
        return Setup(fake, real, args=["--num-samples", "2"], api=api)

    return build


def _weights(root: Path, kind: str) -> Setup:
    fake, real = image_folder(root / "fake", 3, 1), image_folder(root / "real", 3, 2)
    weights = root / "resnet18-f37072fd.pth"
    if kind == "checksum":  # a real resnet18 state dict, but not the published file
        import torchvision

        torch.save(torchvision.models.resnet18().state_dict(), weights)
    else:  # a pickle that would run code when unpickled without weights_only
        torch.save({"payload": _Trap(str(root / "PWNED"))}, weights)
    return Setup(
        fake,
        real,
        args=["--extractor", "resnet18", "--weights", str(weights)],
        api=lambda: get_extractor("resnet18", weights_path=weights),
    )


class _Trap:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (Path(self.marker),))


def _cache_case(root: Path, kind: str) -> Setup:
    fake, real = image_folder(root / "fake", 5, 1), image_folder(root / "real", 5, 2)
    cache_dir = root / "cache"
    extractor = get_extractor("random-resnet18")
    cache = FeatureCache(cache_dir)
    reference = extract_features(extractor, fake, "pool", 4, num_workers=0)
    fresh = extract_features(extractor, fake, "pool", 4, num_workers=0, cache=cache)
    (entry,) = list(cache_dir.glob("*.pt"))
    if kind == "truncated":
        entry.write_bytes(entry.read_bytes()[:200])
    elif kind in ("bitflip", "short", "nan"):
        _cache_damage(entry, kind, fake, cache, reference)
    else:  # a valid entry written for other weights, under this key's file name
        other = get_extractor("random-resnet34")
        payload = extract_features(other, fake, "pool", 4, num_workers=0)
        from ganprobe.features.cache import cache_key, source_fingerprint

        FeatureCache(root / "other").store(cache_key(source_fingerprint(fake), other, ["pool"], None), payload)
        (foreign,) = list((root / "other").glob("*.pt"))
        entry.write_bytes(foreign.read_bytes())

    def api() -> None:
        again = extract_features(extractor, fake, "pool", 4, num_workers=0, cache=cache)
        assert torch.equal(again["pool"], reference["pool"]) and torch.equal(fresh["pool"], reference["pool"])

    return Setup(fake, real, args=["--cache-dir", str(cache_dir)], api=api)


def _same_size_and_mtime(root: Path) -> Setup:
    """Files replaced by other images of the same size and modification time after they were cached (issue 14.4):
    the default size+mtime key cannot see it; ``--hash-contents`` must."""
    fake, real = image_folder(root / "fake", 5, 1), image_folder(root / "real", 5, 2)
    for path in fake.glob("*.png"):  # uncompressed PNGs: equal dimensions give equal file sizes
        Image.open(path).convert("RGB").save(path, compress_level=0)
    cache_dir = root / "cache"
    extractor = get_extractor("random-resnet18")
    extract_features(extractor, fake, "pool", 4, num_workers=0, cache=FeatureCache(cache_dir, content_hash=True))
    old = extract_features(extractor, fake, "pool", 4, num_workers=0, cache=FeatureCache(cache_dir))
    for path in fake.glob("*.png"):
        stat = path.stat()
        inverted = 255 - np.asarray(Image.open(path).convert("RGB"))
        Image.fromarray(inverted.astype(np.uint8)).save(path, compress_level=0)
        assert path.stat().st_size == stat.st_size
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    def api() -> None:
        truth = extract_features(extractor, fake, "pool", 4, num_workers=0)
        hashed = FeatureCache(cache_dir, content_hash=True)
        again = extract_features(extractor, fake, "pool", 4, num_workers=0, cache=hashed)
        assert torch.equal(again["pool"], truth["pool"])  # the changed files were seen, not the stale entry
        stale = extract_features(extractor, fake, "pool", 4, num_workers=0, cache=FeatureCache(cache_dir))
        assert torch.equal(stale["pool"], old["pool"]) and not torch.equal(stale["pool"], truth["pool"])

    return Setup(fake, real, args=["--cache-dir", str(cache_dir), "--hash-contents"], api=api)


def _cache_damage(entry: Path, kind: str, fake: Path, cache: FeatureCache, reference: dict[str, Tensor]) -> None:
    """Damage a stored entry: one flipped byte in its tensor data, too few rows for its key, or a NaN."""
    from ganprobe.features.cache import cache_key, source_fingerprint

    if kind == "bitflip":
        data = bytearray(entry.read_bytes())
        with zipfile.ZipFile(entry) as archive:
            info = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size > 64)
        name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
        data[info.header_offset + 30 + name_length + extra_length + info.file_size // 2] ^= 0x04
        entry.write_bytes(bytes(data))
        return
    key = cache_key(source_fingerprint(fake), get_extractor("random-resnet18"), ["pool"], None)
    poisoned = reference["pool"].clone()
    if kind == "short":
        poisoned = poisoned[:3]
    else:
        poisoned[1, 2] = float("nan")
    cache.store(key, {"pool": poisoned})


def _output_case(root: Path, kind: str) -> Setup:
    """An output path that would destroy an input or another output, or a device that fails every write."""
    from ganprobe.run.output_paths import check_output_paths
    from ganprobe.utils.atomic_files import atomic_write

    fake, real = image_folder(root / "fake", 5, 1), image_folder(root / "real", 5, 2)
    if kind == "stats_file":
        real = root / "real.npz"
        save_reference_stats(real, {"pool": torch.randn(5, 512)}, get_extractor("random-resnet18"))
    target = {
        "input_image": fake / "img_00.png",
        "stats_file": real,
        "twice": root / "out" / "report.json",
        "dev_full": root / "dev" / "full",
    }[kind]
    if kind == "dev_full":
        target.parent.mkdir()
        try:
            os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # a private /dev/full
        except OSError as exc:
            pytest.skip(f"cannot create a device node here ({exc})")
        return Setup(
            fake,
            real,
            args=["--json", str(target)],
            api=lambda: atomic_write(target, lambda handle: handle.write(b"x" * 100_000)),
        )
    option = "--html" if kind != "input_image" else "--junit"
    outputs = {"--json": root / "out" / "report.json", option: target}
    return Setup(fake, real, args=[option, str(target)], api=lambda: check_output_paths(outputs, [fake, real]))


def _baseline_case(root: Path, kind: str) -> Setup:
    from ganprobe.run.pipeline import load_baseline

    fake, real = image_folder(root / "fake", 3, 1), image_folder(root / "real", 3, 2)
    baseline = root / "baseline.json"
    report: dict[str, object] = {"schema_version": 2, "metrics": [{"key": "fid", "value": 10.0}]}
    if kind == "deep":
        baseline.write_text('{"schema_version": 2, "metrics": ' + "[" * 100_000 + "]" * 100_000 + "}")
    else:
        if kind == "schema":
            report["schema_version"] = 999
        elif kind == "empty":
            report["metrics"] = []
        else:
            report["metrics"] = [{"key": "fid", "value": True}]
        baseline.write_text(json.dumps(report))
    return Setup(fake, real, args=["--baseline", str(baseline)], api=lambda: load_baseline(baseline))


def _stats_limits(root: Path, kind: str) -> Setup:
    fake = image_folder(root / "fake", 3, 1)
    stats = root / "real.npz"
    if kind == "bomb":  # 32 MiB of float32 zeros deflated to ~32 KiB, with metadata promising those rows
        small = save_reference_stats(root / "s.npz", {"pool": torch.zeros(2, 512)}, get_extractor("random-resnet18"))
        promised = {**load_reference_stats(small)[1], "count": 16_384}  # this run's extractor: only the size is off
        small.unlink()
        meta = io.BytesIO()
        np.save(meta, np.array(json.dumps(promised)))
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (16_384, 512)})
        info = zipfile.ZipInfo("features/pool.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(stats, "w") as archive:
            archive.writestr("meta.npy", meta.getvalue())
            with archive.open(info, "w", force_zip64=True) as member:
                member.write(header.getvalue())
                for _ in range(8):
                    member.write(bytes(1 << 22))
        return Setup(fake, stats, api=lambda: load_reference_stats(stats))
    save_reference_stats(stats, {"pool": torch.randn(4, 512)}, get_extractor("random-resnet34"))
    return Setup(fake, stats, api=lambda: load_reference_stats(stats, get_extractor("random-resnet18")))


def _device_meta(root: Path) -> Setup:
    from ganprobe.utils.devices import check_device

    fake, real = image_folder(root / "fake", 3, 1), image_folder(root / "real", 3, 2)
    return Setup(fake, real, args=["--device", "meta"], api=lambda: check_device(torch.device("meta"), "--device"))


def _float_images(path: Path) -> Path:
    """Float32 TIFFs (PIL mode F) in [0, 1] and in [0, 65535], and a 32-bit integer TIFF in [0, 255]."""
    path.mkdir()
    ramp = np.linspace(0, 1, 12 * 12, dtype=np.float32).reshape(12, 12)
    Image.fromarray(ramp).save(path / "unit.tif")
    Image.fromarray(ramp * 65535).save(path / "sixteen.tif")
    Image.fromarray((ramp * 255).astype(np.int32)).save(path / "int32.tif")
    image_folder(path / "rgb", 2, 5)
    return path


def _float_nan(path: Path) -> Path:
    values = np.full((12, 12), 0.5, np.float32)
    values[3, 3] = np.nan
    Image.fromarray(values).save(path, format="TIFF")
    return path


def _control_name(path: Path) -> Path:
    bad = path.with_name("bad\n\x1b[31mred.png")
    bad.write_text("not an image")
    return bad


def _deep_folder(path: Path) -> Path:
    image_folder(path, 4, 1)
    deep = path
    for _ in range(1100):  # one level at a time: Path.mkdir(parents=True) itself recurses
        deep = deep / "d"
        deep.mkdir()
    save_rgb(deep / "deep.png", 11)
    return path


SKIP = "exit 2 naming the file (default, strict); `--skip-unreadable`: exit 0, one warning, file in `skipped_files`"
SKIP_API = "`strict=False`: one `SkippedImagesWarning`, path in `skipped`; `strict=True`: `ImageFolderError`"
CASES = [
    Case("corrupt_png", "truncated PNG among good images", _bad_file_case(lambda p: truncated(p, "png")), 2,
         SKIP, SKIP_API, "img_02b.png: cannot decode image", api_warning=SkippedImagesWarning, skip_flag=True),
    Case("truncated_jpeg", "truncated JPEG (named .png)", _bad_file_case(lambda p: truncated(p, "jpeg")), 2,
         SKIP, SKIP_API, "img_02b.png: cannot decode image", api_warning=SkippedImagesWarning, skip_flag=True),
    Case("zero_byte", "zero-byte image file", _bad_file_case(lambda p: (p.write_bytes(b""), p)[1]), 2,
         SKIP, SKIP_API, "img_02b.png: cannot decode image", api_warning=SkippedImagesWarning, skip_flag=True),
    Case("text_as_png", "a text file named `.png`", _bad_file_case(lambda p: (p.write_text("hello"), p)[1]), 2,
         SKIP, SKIP_API, "img_02b.png: cannot decode image", api_warning=SkippedImagesWarning, skip_flag=True),
    Case("decompression_bomb", "PNG header claiming 100000x100000 pixels", _bad_file_case(bomb_png), 2,
         SKIP, SKIP_API, "decompression bomb", api_warning=SkippedImagesWarning, skip_flag=True),
    Case("unreadable", "file without read permission (simulated when run as root)", _folder_only(_unreadable), 2,
         SKIP, SKIP_API, "locked.png: cannot read image file", api_warning=SkippedImagesWarning, skip_flag=True),
    Case("symlink_loop", "`loop.png -> loop.png` and a folder link back to the root", _folder_only(_symlink_loop), 2,
         SKIP + "; folder links are never followed", SKIP_API, "loop.png: cannot read image file",
         api_warning=SkippedImagesWarning, skip_flag=True),
    Case("all_bad", "a folder whose every image file is bad", _folder_only(_all_bad), 2,
         "exit 2 `none of its 2 image files could be decoded`, even with `--skip-unreadable`",
         "`ImageFolderError` even with `strict=False`", "a.png: cannot decode image", api_error=ImageFolderError),
    Case("empty_folder", "a folder without image files", _folder_only(_empty), 2, "exit 2 `no image files found`",
         "`ImageFolderError`", "no image files found", api_error=ImageFolderError),
    Case("hidden_files", "hidden files and folders (`.broken.png`, `.cache/`)", _folder_only(_hidden), 0,
         "exit 0; hidden entries ignored", "ignored (4 rows)"),
    Case("non_utf8_name", "a file name that is not UTF-8 (`caf\\xe9.png`)", _folder_only(_non_utf8), 0,
         "exit 0; the image is used", "used (5 rows)"),
    Case("mixed_modes_sizes", "RGBA, 16-bit, palette, grayscale, RGB; 300x1 to 2x120 pixels", _folder_only(_mixed),
         0, "exit 0; all converted to RGB and resized", "7 rows, finite"),
    Case("one_image", "a fake folder with one image", _one_image, 2, "exit 2 `FID: needs at least 2 ... fake`",
         "`InputError`", "needs at least 2", api_error=InputError),
    Case("fake_larger", "fake set larger than the real set (9 vs 4)", _sizes(9, 4), 0, "exit 0; sizes may differ",
         "finite FID >= 0"),
    Case("fake_smaller", "fake set smaller than the real set (3 vs 8)", _sizes(3, 8), 0, "exit 0; sizes may differ",
         "finite FID >= 0"),
    Case("n_below_dim", "N = 5 images, 512-d features (rank-deficient covariance)", _sizes(5, 5), 0,
         "exit 0, a warning that FID is biased", "finite FID >= 0 and a warning"),
    Case("nan_features", "NaN in a precomputed stats file", lambda root: _stats_file(root, "nan"), 2,
         "exit 2 `contain NaN or infinite values`", "`InputError`", "NaN or infinite", api_error=InputError),
    Case("bad_stats_file", "a text file given as the real `.npz`", lambda root: _stats_file(root, "text"), 2,
         "exit 2 `not a readable ganprobe stats file`", "`InputError`", "not a readable ganprobe stats file",
         api_error=InputError),
    Case("stats_meta_not_object", "a stats file whose metadata is JSON but not an object",
         lambda root: _stats_file(root, "meta"), 2, "exit 2 `not a readable ganprobe stats file`", "`InputError`",
         "not a readable ganprobe stats file", api_error=InputError),
    Case("width_mismatch", "features of width 512 then 511 in one metric", _width_mismatch, 0,
         "not reachable from the CLI (one extractor); exit 0", "`InputError` naming the layer and widths",
         api_error=InputError),
    Case("weights_checksum", "`--weights` file with the wrong SHA-256", lambda root: _weights(root, "checksum"), 2,
         "exit 2 `SHA-256 ... does not match the published`", "`WeightsChecksumError`", "does not match",
         api_error=WeightsChecksumError),
    Case("weights_pickle", "`--weights` file that is a code-running pickle", lambda root: _weights(root, "pickle"), 2,
         "exit 2, nothing unpickled (marker file never created)", "`WeightsError`", "resnet18-f37072fd.pth",
         api_error=GanprobeError),
    Case("cache_truncated", "a truncated feature-cache entry", lambda root: _cache_case(root, "truncated"), 0,
         "exit 0, a warning, recomputed and rewritten", "`FeatureCacheWarning`, identical features",
         api_warning=FeatureCacheWarning),
    Case("cache_other_weights", "a cache entry made with other weights", lambda root: _cache_case(root, "foreign"), 0,
         "exit 0, a warning, recomputed", "`FeatureCacheWarning`, identical features",
         api_warning=FeatureCacheWarning),
    Case("cache_bit_flip", "one flipped bit inside a cached feature tensor", lambda root: _cache_case(root, "bitflip"),
         0, "exit 0, a warning naming the entry (`SHA-256 checksum mismatch`), recomputed: the clean run's numbers",
         "`FeatureCacheWarning`, identical features", api_warning=FeatureCacheWarning),
    Case("cache_short_entry", "a cache entry with the right key but 3 of 5 rows",
         lambda root: _cache_case(root, "short"), 0, "exit 0, a warning (`3 rows, but its input has 5`), recomputed",
         "`FeatureCacheWarning`, identical features", api_warning=FeatureCacheWarning),
    Case("cache_nan", "a cache entry holding NaN", lambda root: _cache_case(root, "nan"), 0,
         "exit 0, a warning naming the entry and how to clear the cache, recomputed",
         "`FeatureCacheWarning`, identical features", api_warning=FeatureCacheWarning),
    Case("cache_same_mtime", "cached images replaced by others of the same size and mtime", _same_size_and_mtime, 0,
         "`--hash-contents`: exit 0, the new images' features (the size+mtime default would reuse the entry)",
         "`FeatureCache(content_hash=True)`: the new images' features"),
    Case("output_is_input_image", "`--junit` naming an image of the fake folder",
         lambda root: _output_case(root, "input_image"), 2,
         "exit 2 `--junit: ... is inside the input folder` before any work; the image untouched",
         "`check_output_paths`: `UsageError`", "is inside the input folder", api_error=UsageError),
    Case("output_is_stats_file", "`--html` naming the real `.npz` stats file",
         lambda root: _output_case(root, "stats_file"), 2, "exit 2 `--html: ... is the input ...` before any work",
         "`check_output_paths`: `UsageError`", "is the input", api_error=UsageError),
    Case("output_twice", "`--json X --html X`", lambda root: _output_case(root, "twice"), 2,
         "exit 2 `--html: ... is also the --json output` before any work", "`check_output_paths`: `UsageError`",
         "is also the --json output", api_error=UsageError),
    Case("output_dev_full", "`--json` naming a full device (a private `/dev/full`)",
         lambda root: _output_case(root, "dev_full"), 2,
         "exit 2 `--json: ...: No space left on device`; the device is written through, never replaced",
         "`atomic_write`: `OSError` naming the path", "--json: ", api_error=OSError),
    Case("float_images", "float32 TIFFs (mode `F`) in [0, 1] and [0, 65535], a 32-bit integer TIFF",
         _folder_only(_float_images), 0, "exit 0; scaled by their maximum (0..1, 0..255, 0..65535), not black or white",
         "5 rows, finite"),
    Case("float_nan", "a float TIFF (named `.png`) holding NaN", _bad_file_case(_float_nan), 2, SKIP, SKIP_API,
         "img_02b.png: cannot decode image (NaN", api_warning=SkippedImagesWarning, skip_flag=True),
    Case("control_chars_name", "an undecodable file named `bad\\n\\x1b[31mred.png` (newline, ESC)",
         _bad_file_case(_control_name), 2, SKIP + "; the name printed escaped (one line, no raw ESC)", SKIP_API,
         "bad\\n\\x1b[31mred.png': cannot decode image", api_warning=SkippedImagesWarning, skip_flag=True),
    Case("deep_folder", "a folder nested 1,100 levels deep", _folder_only(_deep_folder), 0,
         "exit 0; walked without recursion, the deep image used", "5 rows"),
    Case("deep_baseline", "a `--baseline` JSON nested 100,000 levels deep", lambda root: _baseline_case(root, "deep"),
         2, "exit 2 `--baseline: ... is not a readable JSON report (RecursionError)`", "`InputError`",
         "not a readable JSON report", api_error=InputError),
    Case("baseline_schema", "a `--baseline` with `schema_version` 999", lambda root: _baseline_case(root, "schema"),
         2, "exit 2 `schema_version 999 is not one this ganprobe reads (2, 3)`", "`InputError`",
         "schema_version 999", api_error=InputError),
    Case("baseline_no_metrics", "a `--baseline` with `\"metrics\": []`", lambda root: _baseline_case(root, "empty"),
         2, "exit 2 `'metrics' is empty`", "`InputError`", "'metrics' is empty", api_error=InputError),
    Case("baseline_bool_value", "a `--baseline` metric whose value is `true`",
         lambda root: _baseline_case(root, "bool"), 2, "exit 2 `'value' must be a number or null`", "`InputError`",
         "'value' must be a number or null", api_error=InputError),
    Case("stats_bomb", "a 32 KiB `.npz` that inflates to 32 MiB (a decompression bomb)",
         lambda root: _stats_limits(root, "bomb"), 2, "exit 2 `refusing a decompression bomb`; nothing inflated",
         "`InputError`", "decompression bomb", api_error=InputError),
    Case("stats_other_extractor", "a stats file made by another extractor",
         lambda root: _stats_limits(root, "other"), 2, "exit 2 `made with extractor ...` before any array is read",
         "`InputError` (`load_reference_stats(path, extractor)`)", "made with extractor", api_error=InputError),
    Case("device_meta", "`--device meta`", _device_meta, 2, "exit 2 `--device: meta cannot run a model`",
         "`check_device`: `UsageError`", "--device: meta", api_error=UsageError),
    Case("small_fake_set", "4 fakes for the Inception Score's 10 splits", _small_fake_set, 2,
         "exit 2 before any extraction: `is: needs at least 10 fake images (splits=10) ... --set is.splits=N`",
         "`InputError` before any extraction", "is: needs at least 10 fake images (splits=10)",
         api_error=InputError),
    Case("numpy_images", "a numpy array passed to `update()`", _bad_features("numpy"), 0,
         "not reachable from the CLI; exit 0", "`InputError`: expected images as a torch.Tensor ... (convert with "
         "torch.from_numpy)", api_error=InputError),
    Case("empty_features", "`(N, 0)` features passed to `update()`", _bad_features("empty"), 0,
         "not reachable from the CLI; exit 0", "`InputError`: expected a non-empty (N, D) tensor",
         api_error=InputError),
]  # fmt: skip


def snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    """Every file below ``root`` (outside ``skip``) with its size and mtime: what a run must leave untouched."""
    found = {}
    stack = [root]  # not os.walk: it recurses, and a corpus folder is nested 1,100 deep
    while stack:
        for entry in os.scandir(stack.pop()):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if path not in skip:
                    stack.append(path)
            elif entry.is_symlink() or entry.is_file():
                info = path.lstat()
                found[os.fsdecode(path)] = (info.st_size, info.st_mtime_ns)
    return found


@pytest.fixture
def simulate_root_permissions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root reads files without permission: make a mode-000 file fail to open as it does for everyone else."""
    if os.geteuid() != 0:
        return
    from ganprobe.data import folder

    original = folder.Image.open

    def refusing(path, *args, **kwargs):  # noqa: ANN001, ANN202
        if Path(path).exists() and (Path(path).stat().st_mode & 0o777) == 0:
            raise PermissionError(13, "Permission denied", str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(folder.Image, "open", refusing)


def remove_tree(root: Path) -> None:
    """Delete a folder tree without recursion (``shutil.rmtree``, which pytest's clean-up uses, recurses)."""
    folders, stack = [], [root]
    while stack:
        folder = stack.pop()
        folders.append(folder)
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            else:
                os.unlink(entry.path)
    for folder in reversed(folders):
        os.rmdir(folder)


@pytest.fixture(autouse=True)
def _no_deep_trees_left(tmp_path: Path) -> Iterator[None]:
    """The ``deep_folder`` case nests 1,100 folders: remove them, or pytest's own clean-up hits the recursion limit."""
    yield
    for deep in tmp_path.glob("*/d"):
        remove_tree(deep)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:FID.*rank-deficient")
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_cli_case(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], simulate_root_permissions: None
) -> None:
    setup = case.build(tmp_path)
    report = tmp_path / "out" / "report.json"
    before = snapshot(tmp_path, (tmp_path / "cache", tmp_path / "out"))
    args = ["evaluate", str(setup.fake), str(setup.real), *BASE, "--json", str(report), *setup.args]
    if "--cache-dir" not in args:
        args.append("--no-cache")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, stderr = run_cli(args, capsys)
    assert code == case.exit_code, stderr
    assert "Traceback" not in stderr and "\x1b" not in stderr
    assert "weights_only=False" not in stderr  # never advise unpickling (issue 14.13)
    if case.exit_code == 2:
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert case.stderr in stderr, stderr
        assert not report.exists()
    else:
        assert np.isfinite(json.loads(report.read_text())["metrics"][0]["value"])
    if case.api_warning is FeatureCacheWarning:
        assert any(issubclass(w.category, FeatureCacheWarning) for w in caught)
    assert not (tmp_path / "PWNED").exists()
    assert snapshot(tmp_path, (tmp_path / "cache", tmp_path / "out")) == before, "inputs changed or files written"
    if case.skip_flag:
        with pytest.warns(SkippedImagesWarning):
            code, stderr = run_cli([*args, "--skip-unreadable"], capsys)
        assert code == 0, stderr
        skipped = json.loads(report.read_text())["skipped_files"]
        assert len(skipped) == 1 and Path(skipped[0]).name.endswith(".png")


@pytest.mark.filterwarnings("ignore:FID.*rank-deficient")
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_api_case(case: Case, tmp_path: Path, simulate_root_permissions: None) -> None:
    setup = case.build(tmp_path)
    assert setup.api is not None
    before = snapshot(tmp_path, (tmp_path / "cache",))
    if case.api_error is not None:
        with pytest.raises(case.api_error) as info:
            setup.api()
        assert "\n" not in str(info.value)
    elif case.api_warning is SkippedImagesWarning:
        with pytest.warns(SkippedImagesWarning) as record:
            features = setup.api()
        warning = next(w.message for w in record if isinstance(w.message, SkippedImagesWarning))
        assert len(warning.files) == 1
        assert features["pool"].shape[0] == 4 + (setup.bad is not None)  # every readable file, in order
        with pytest.raises(ImageFolderError, match=re.escape(quote_path(Path(warning.files[0]).name).strip("'"))):
            extract_features(get_extractor("random-resnet18"), setup.fake, "pool", 4, num_workers=0, strict=True)
    elif case.api_warning is FeatureCacheWarning:
        with pytest.warns(FeatureCacheWarning):
            setup.api()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SkippedImagesWarning)
            result = setup.api()
        if isinstance(result, dict):
            assert bool(torch.isfinite(result["pool"]).all())
    assert not (tmp_path / "PWNED").exists()
    assert snapshot(tmp_path, (tmp_path / "cache",)) == before, "inputs changed or files written"


def test_fifo_named_png_is_skipped_not_waited_on(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "fake", 3, 1)
    os.mkfifo(folder / "pipe.png")
    with pytest.warns(SkippedImagesWarning, match="pipe.png"):
        features = extract_features(get_extractor("random-resnet18"), folder, "pool", 4, num_workers=0, strict=False)
    assert features["pool"].shape[0] == 3


def test_cli_subprocess_one_line(tmp_path: Path) -> None:
    """The console entry point itself: a bad file gives exit 2 and exactly one stderr line, no traceback."""
    fake = image_folder(tmp_path / "fake", 3, 1)
    (fake / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    real = image_folder(tmp_path / "real", 3, 2)
    env = {**os.environ, "GANPROBE_OFFLINE": "1"}
    command = [sys.executable, "-m", "ganprobe", "evaluate", str(fake), str(real), *BASE, "--no-cache"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "broken.png: cannot decode image" in result.stderr


def markdown_table() -> str:
    """The corpus as the markdown table of ``docs/hardening.md``."""
    lines = ["| case | input | CLI (`ganprobe evaluate`) | Python API |", "|---|---|---|---|"]
    for case in CASES:
        lines.append(f"| `{case.id}` | {case.what} | {case.cli} | {case.api} |")
    return "\n".join(lines)


def test_docs_table_is_in_sync() -> None:
    regenerate = "regenerate with: python tests/front_ends/test_corpus.py"
    assert markdown_table() in DOCS.read_text(encoding="utf-8"), regenerate


if __name__ == "__main__":
    print(markdown_table())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("name", ["FID", "KID", "KNNLOOAccuracy", "PrecisionRecall", "Memorization", "CMMD"])
def test_non_finite_features_in_update_are_a_typed_error(name: str, bad: float) -> None:
    import ganprobe
    from ganprobe.errors import InputError

    metric = getattr(ganprobe, name)(extractor=None)
    features = torch.randn(6, 8)
    features[2, 3] = bad
    with pytest.raises(InputError, match="contain NaN or Inf") as info:
        metric.update(features, real=True)
    assert "\n" not in str(info.value)
