"""Decoding untrusted image files: a format allow-list (no external programs), a pixel limit checked on the header
before any pixel is decoded (with a memory bound), and EXIF orientation applied at every decode site.

Memory bounds are limits a subprocess must stay under (``RLIMIT_AS`` set just above what the interpreter already
maps), never timings; the Ghostscript case runs in a subprocess with a timeout and a fake ``gs`` on ``PATH`` that
leaves a marker file if anything ever starts it.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprobe.data import folder
from ganprobe.data.folder import ALLOWED_FORMATS, DEFAULT_MAX_IMAGE_PIXELS, load_image
from ganprobe.errors import ImageFolderError, UsageError

ROOT = Path(__file__).resolve().parents[2]
LINUX_ONLY = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")

EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 10 10
%%EndComments
newpath 0 0 moveto 10 10 lineto stroke
showpage
%%EOF
"""

# Decodes argv[1] after capping the address space at what is mapped now plus argv[2] bytes; prints one line.
DECODE_UNDER_LIMIT = textwrap.dedent(
    """
    import resource, sys
    from ganprobe.data.folder import load_image
    from ganprobe.errors import ImageFolderError

    def mapped():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))

    budget = int(sys.argv[2])
    if budget:
        resource.setrlimit(resource.RLIMIT_AS, (mapped() + budget, resource.RLIM_INFINITY))
    try:
        image = load_image(sys.argv[1])
    except ImageFolderError as error:
        print("ERROR", error)
    else:
        print("SHAPE", *image.shape)
    """
)


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    # A timeout, so that a decoder that hangs (Ghostscript waiting for input) fails the test, not the suite.
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=environment, timeout=300)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def black_png(path: Path, width: int, height: int) -> Path:
    """A valid all-black RGB PNG of ``width x height``, written row by row (never held whole in memory): 9000x9000
    deflates to about 240 KB."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + 3 * width)  # filter byte 0, then black pixels
    data = b"".join([compressor.compress(row) for _ in range(height)] + [compressor.flush()])
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))
    return path


def pattern(height: int, width: int, seed: int = 0) -> np.ndarray:
    """An asymmetric RGB test image (no rotation or mirror maps it onto itself)."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)


# ------------------------------------------------------------------------------------------- 10: format allow-list


def test_eps_named_png_is_refused_without_starting_ghostscript(tmp_path: Path) -> None:
    """Issue 22 item 10: EPS content under a ``.png`` name made Pillow run ``gs``; it is refused naming the file and
    the format, and no ``gs`` ever starts (a fake one on PATH would leave a marker)."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "gs-ran"
    bin_dir.mkdir()
    fake_gs = bin_dir / "gs"
    fake_gs.write_text(f'#!/bin/sh\necho "$@" > "{marker}"\nexit 1\n')
    fake_gs.chmod(0o755)
    evil = tmp_path / "evil.png"
    evil.write_bytes(EPS)
    result = _run(["-c", DECODE_UNDER_LIMIT, str(evil), "0"], {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert not marker.exists(), f"Ghostscript was started: {marker.read_text()}"
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR"), result.stdout + result.stderr
    assert "evil.png" in lines[0] and "EPS" in lines[0], lines[0]


def test_format_outside_the_allow_list_is_refused_naming_it(tmp_path: Path) -> None:
    """A format Pillow reads but ganprobe does not (PCX here) is refused by name, in one line."""
    path = tmp_path / "odd.png"
    Image.fromarray(pattern(4, 5)).save(path, format="PCX")
    with pytest.raises(ImageFolderError) as caught:
        load_image(path)
    message = str(caught.value)
    assert "odd.png" in message and "PCX" in message and "\n" not in message
    assert all(name in message for name in ("PNG", "JPEG", "WEBP", "TIFF")), message  # says what is accepted


@pytest.mark.parametrize(
    ("fmt", "suffix", "options"),
    [
        ("PNG", ".png", {}),
        ("JPEG", ".jpg", {"quality": 95}),
        ("WEBP", ".webp", {"lossless": True}),
        ("BMP", ".bmp", {}),
        ("TIFF", ".tif", {}),
        ("GIF", ".gif", {}),
        ("PPM", ".ppm", {}),
        ("MPO", ".jpg", {"save_all": True, "quality": 95}),
    ],
)
def test_allowed_formats_decode_as_pillow_reads_them(tmp_path: Path, fmt: str, suffix: str, options: dict) -> None:
    """Every allowed format still decodes, to the pixels Pillow itself reads (the independent reference)."""
    path = tmp_path / f"image{suffix}"
    source = Image.fromarray(pattern(6, 7))
    if fmt == "MPO":  # a phone's multi-picture JPEG: the main image plus a second one
        source.save(path, format="MPO", append_images=[Image.fromarray(pattern(6, 7, 1))], **options)
    else:
        source.save(path, format=fmt, **options)
    with Image.open(path) as opened:
        assert opened.format == fmt
        expected = np.asarray(opened.convert("RGB"))
    assert fmt in (*ALLOWED_FORMATS, "MPO")  # Pillow opens MPO as a JPEG
    assert torch.equal(load_image(path), torch.from_numpy(expected.copy()).permute(2, 0, 1))


# ------------------------------------------------------------------------------------------------ 11: pixel limit


@LINUX_ONLY
def test_9000x9000_png_is_refused_from_its_header(tmp_path: Path) -> None:
    """Issue 22 item 11: a 240 KB PNG of 9000x9000 pixels peaked at 2 GB; it is refused before decoding, so the
    refusal fits in 64 MiB of address space beyond what the interpreter maps (a decode needs ~600 MB)."""
    path = black_png(tmp_path / "huge.png", 9000, 9000)
    assert path.stat().st_size < 300_000
    result = _run(["-c", DECODE_UNDER_LIMIT, str(path), str(64 << 20)])
    line = result.stdout.strip()
    assert line.startswith("ERROR") and "huge.png" in line, result.stdout + result.stderr
    assert "9000x9000" in line and f"{DEFAULT_MAX_IMAGE_PIXELS:,}" in line and "GANPROBE_MAX_IMAGE_PIXELS" in line


@LINUX_ONLY
def test_image_at_the_pixel_limit_decodes_within_8_bytes_per_pixel(tmp_path: Path) -> None:
    """An RGB image of exactly the limit decodes in at most 8 bytes per pixel of new address space (Pillow's 4-byte
    pixels plus the 3-byte result, plus slack); one more column is refused."""
    width, height = 8192, DEFAULT_MAX_IMAGE_PIXELS // 8192
    assert width * height == DEFAULT_MAX_IMAGE_PIXELS
    path = black_png(tmp_path / "limit.png", width, height)
    result = _run(["-c", DECODE_UNDER_LIMIT, str(path), str(8 * DEFAULT_MAX_IMAGE_PIXELS)])
    assert result.stdout.strip() == f"SHAPE 3 {height} {width}", result.stdout + result.stderr
    with pytest.raises(ImageFolderError, match="above the limit"):
        load_image(black_png(tmp_path / "over.png", width + 1, height))


def test_pixel_limit_is_read_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = black_png(tmp_path / "small.png", 40, 30)
    monkeypatch.setenv("GANPROBE_MAX_IMAGE_PIXELS", "1199")
    with pytest.raises(ImageFolderError, match=r"small\.png: .*40x30.*1,199"):
        load_image(path)
    monkeypatch.setenv("GANPROBE_MAX_IMAGE_PIXELS", "1200")
    assert load_image(path).shape == (3, 30, 40)
    for bad in ("0", "-5", "many", "1e6", "\u00b2"):
        monkeypatch.setenv("GANPROBE_MAX_IMAGE_PIXELS", bad)
        with pytest.raises(UsageError, match="GANPROBE_MAX_IMAGE_PIXELS"):
            load_image(path)


def test_large_jpeg_is_decoded_at_a_reduced_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A JPEG above the limit is decoded by libjpeg at 1/2, 1/4 or 1/8 scale (the smallest reduction that fits),
    close to the full decode shrunk by box averaging; beyond 1/8 it is refused."""
    path = tmp_path / "photo.jpg"
    smooth = np.linspace(0, 255, 800, dtype=np.float64)
    pixels = np.stack(
        [np.add.outer(smooth[:600] / 2, smooth / 2), np.tile(smooth, (600, 1)), np.tile(smooth[:600, None], (1, 800))],
        axis=-1,
    ).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=95)
    with Image.open(path) as opened:
        full = np.asarray(opened.convert("RGB"), dtype=np.float64)
    monkeypatch.setenv("GANPROBE_MAX_IMAGE_PIXELS", str(200 * 150))  # 1/4 of each side fits, 1/2 does not
    image = load_image(path)
    assert image.shape == (3, 150, 200)
    boxed = full.reshape(150, 4, 200, 4, 3).mean(axis=(1, 3))
    assert np.abs(image.permute(1, 2, 0).numpy() - boxed).mean() < 2.0
    monkeypatch.setenv("GANPROBE_MAX_IMAGE_PIXELS", str(100 * 75 - 1))  # 1/8 is not enough
    with pytest.raises(ImageFolderError, match=r"photo\.jpg: .*800x600.*above the limit"):
        load_image(path)


# --------------------------------------------------------------------------------------------- 12: EXIF orientation

# What EXIF orientation tag value v means, written independently of Pillow: the array to display.
ORIENT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # rotated 180
    4: lambda a: a[::-1, :],  # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # mirrored along the main diagonal
    6: lambda a: np.rot90(a, -1),  # rotated 90 degrees clockwise to display
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the anti-diagonal
    8: lambda a: np.rot90(a, 1),  # rotated 90 degrees counter-clockwise to display
}


def tagged(path: Path, orientation: int, fmt: str) -> np.ndarray:
    """Save an asymmetric image with EXIF ``orientation``; return the pixels as stored: the array itself for the
    lossless formats, Pillow's decode (which ignores the tag for JPEG) for JPEG."""
    stored = pattern(5, 8)
    image = Image.fromarray(stored)
    if fmt == "TIFF":  # the orientation is a TIFF tag (Pillow applies it itself on load)
        image.save(path, format="TIFF", tiffinfo={0x0112: orientation})
        return stored
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, format=fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {"lossless": True}))
    if fmt != "JPEG":
        return stored
    with Image.open(path) as opened:
        assert opened.getexif().get(0x0112) == orientation
        return np.asarray(opened.convert("RGB"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path: Path, fmt: str, orientation: int) -> None:
    """Issue 22 item 12: a phone photo tagged "rotate 90" decodes upright, as every viewer shows it."""
    path = tmp_path / f"photo.{fmt.lower()}"
    stored = tagged(path, orientation, fmt)
    expected = torch.from_numpy(np.ascontiguousarray(ORIENT[orientation](stored))).permute(2, 0, 1)
    assert torch.equal(load_image(path), expected)


def test_orientation_is_the_same_for_features_and_report_thumbnails(tmp_path: Path) -> None:
    """The decode that feeds the extractor and the one the HTML report's thumbnails use agree on upright pixels."""
    from ganprobe.data.sources import iter_batches
    from ganprobe.report.html import _image

    images = tmp_path / "photos"
    images.mkdir()
    stored = tagged(images / "a.jpg", 6, "JPEG")
    expected = torch.from_numpy(np.ascontiguousarray(ORIENT[6](stored))).permute(2, 0, 1)
    (batch,) = list(iter_batches(images, batch_size=4, num_workers=0))
    assert torch.equal(batch[0], expected)
    thumbnail, why = _image(None, 0, str(images / "a.jpg"))
    assert why == "" and torch.equal(thumbnail, expected)


def test_feature_cache_key_covers_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Features cached before orientation/limits were applied must not be served: the folder's key names the
    decoding version and the pixel limit."""
    from ganprobe.features.cache import source_fingerprint

    images = tmp_path / "photos"
    images.mkdir()
    tagged(images / "a.jpg", 6, "JPEG")
    before = source_fingerprint(images)
    assert before["decoding"] == {"version": folder.DECODING_VERSION, "max_pixels": DEFAULT_MAX_IMAGE_PIXELS}
    monkeypatch.setattr(folder, "DECODING_VERSION", folder.DECODING_VERSION + 1)
    assert source_fingerprint(images) != before
    monkeypatch.undo()
    monkeypatch.setenv("GANPROBE_MAX_IMAGE_PIXELS", "1000")
    assert source_fingerprint(images) != before


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "PA", "L", "1", "CMYK", "LAB", "I;16", "I", "F"])
def test_strip_by_strip_conversion_equals_whole_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Large images are converted in strips (to bound memory); every mode's result equals the one-strip result."""
    rgb = Image.fromarray(pattern(23, 17, 3))
    if mode in ("I;16", "I", "F"):
        values = pattern(23, 17, 4)[..., 0].astype(np.float32 if mode == "F" else np.int32) * 200
        image = Image.fromarray(values.astype(np.uint16) if mode == "I;16" else values, mode=None)
        if mode == "F":
            image = image.convert("F")
    elif mode == "P":
        image = rgb.quantize(37)
    elif mode == "PA":
        image = rgb.quantize(37).convert("PA")
    else:
        image = rgb.convert(mode)
    path = tmp_path / "image.tif"
    image.save(path)
    whole = load_image(path)
    monkeypatch.setattr(folder, "_STRIP_PIXELS", 40)  # strips of 2 rows
    assert torch.equal(load_image(path), whole)
