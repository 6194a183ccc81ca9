"""Every PIL mode an image file can open in decodes to the right RGB values (issue 14, item 5).

Each case writes random pixels in one mode and format with PIL, reopens the file, and compares
:func:`ganprobe.data.folder.load_image` with an *independent* conversion of the reopened raw pixels (numpy formulas,
``colorsys``, scikit-image's CIELAB), not with PIL's own ``convert("RGB")``. Float and 32-bit integer images are
scaled by the documented rule (by their maximum: [0, 1], [0, 255] or [0, 65535]) or refused with one clear line.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganprobe.data.folder import load_image
from ganprobe.errors import ImageFolderError

H, W = 6, 5
RNG = np.random.default_rng(0)


def _bytes_image(mode: str, bands: int, dtype: str = "u1", high: int = 256) -> Image.Image:
    data = RNG.integers(0, high, (H, W, bands) if bands > 1 else (H, W)).astype(dtype)
    raw = {"I;16": "I;16", "I;16B": "I;16B"}.get(mode, mode)
    return Image.frombytes(mode, (W, H), data.tobytes(), "raw", raw)


def _palette(image: Image.Image) -> Image.Image:
    image.putpalette(RNG.integers(0, 256, 768).astype(np.uint8).tobytes())
    return image


def _make(mode: str) -> Image.Image:
    if mode == "1":
        return Image.fromarray(RNG.integers(0, 2, (H, W)).astype(bool))
    if mode == "P":
        return _palette(_bytes_image("P", 1))
    if mode == "PA":
        return _palette(_bytes_image("PA", 2))
    if mode in ("I;16", "I;16B"):
        dtype = "<u2" if mode == "I;16" else ">u2"
        return _bytes_image(mode, 1, dtype, 65536)
    if mode == "I":
        return Image.fromarray(RNG.integers(0, 65536, (H, W)).astype(np.int32))
    if mode == "F":
        return Image.fromarray(RNG.random((H, W)).astype(np.float32))
    if mode == "LAB":  # colours inside the sRGB gamut (clipping out-of-gamut colours is a matter of taste)
        ab = RNG.integers(-20, 21, (2, H, W)).astype(np.int8).view(np.uint8)  # raw LAB: a*, b* as signed bytes
        lab = np.stack([RNG.integers(60, 200, (H, W)).astype(np.uint8), *ab], -1)
        return Image.frombytes("LAB", (W, H), lab.tobytes())
    bands = len(Image.new(mode, (1, 1)).getbands())
    return _bytes_image(mode, bands)


def _gray(values: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(values, np.float64)[..., None], 3, axis=-1)


def expected_rgb(image: Image.Image) -> tuple[np.ndarray, float]:
    """An independent RGB conversion of an opened image, and the tolerance (in 0..255 levels) it allows."""
    mode = image.mode
    raw = np.asarray(image)
    if mode == "1":
        return _gray(raw.astype(np.float64) * 255), 0
    if mode in ("L", "LA"):
        return _gray(raw[..., 0] if mode == "LA" else raw), 0
    if mode in ("P", "PA"):
        palette = np.array(image.getpalette(), np.float64).reshape(-1, 3)
        return palette[raw[..., 0] if mode == "PA" else raw], 0
    if mode in ("RGB", "RGBA"):
        return raw[..., :3].astype(np.float64), 0
    if mode == "CMYK":
        c, m, y, k = (raw[..., i].astype(np.float64) for i in range(4))
        return np.stack([(255 - c) * (255 - k), (255 - m) * (255 - k), (255 - y) * (255 - k)], -1) / 255, 1
    if mode == "YCbCr":
        y, cb, cr = (raw[..., i].astype(np.float64) for i in range(3))
        rgb = [y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128), y + 1.772 * (cb - 128)]
        return np.clip(np.stack(rgb, -1), 0, 255), 2
    if mode == "HSV":
        flat = [colorsys.hsv_to_rgb(*(pixel / 255)) for pixel in raw.reshape(-1, 3).astype(np.float64)]
        return np.array(flat).reshape(raw.shape) * 255, 2
    if mode == "LAB":  # CIELAB relative to D50 (TIFF/ICC), Bradford-adapted to sRGB's D65; a*, b* signed bytes
        from skimage.color import lab2xyz, xyz2rgb

        ab = raw[..., 1:].view(np.int8).astype(np.float64)
        lab = np.stack([raw[..., 0].astype(np.float64) * 100 / 255, ab[..., 0], ab[..., 1]], -1)
        bradford = np.array(
            [[0.9555766, -0.0230393, 0.0631636], [-0.0282895, 1.0099416, 0.0210077], [0.0122982, -0.0204830, 1.3299098]]
        )
        xyz = lab2xyz(lab, illuminant="D50") @ bradford.T
        return xyz2rgb(xyz) * 255, 2
    if mode.startswith("I;16"):
        return _gray(raw.astype(np.float64) / 65535 * 255), 0.5
    if mode in ("I", "F"):
        values = raw.astype(np.float64)
        top = values.max()
        scale = 1.0 if mode == "F" and top <= 1 else 255.0 if top <= 255 else 65535.0
        return _gray(values / scale * 255), 0.5
    raise AssertionError(f"no reference conversion for mode {mode}")


# (mode written, format): every combination where PIL writes a file that it opens in a mode of its own.
CASES = [
    ("1", "PNG"), ("1", "TIFF"), ("1", "BMP"), ("L", "PNG"), ("L", "TIFF"), ("L", "PPM"), ("P", "PNG"),
    ("P", "GIF"), ("P", "TIFF"), ("RGB", "PNG"), ("RGB", "TIFF"), ("RGB", "PPM"), ("RGB", "BMP"), ("RGBA", "PNG"),
    ("RGBA", "TIFF"), ("RGBA", "WEBP"), ("CMYK", "TIFF"), ("CMYK", "JPEG"), ("YCbCr", "TIFF"), ("LAB", "TIFF"),
    ("HSV", "WEBP"), ("RGBa", "WEBP"), ("RGBX", "TIFF"), ("I", "TIFF"), ("I;16", "PNG"), ("I;16", "TIFF"),
    ("I;16", "PPM"), ("I;16B", "TIFF"), ("I;16B", "PNG"), ("F", "TIFF"), ("LA", "PNG"), ("LA", "TIFF"),
    ("PA", "TIFF"),
]  # fmt: skip
SUFFIX = {"PNG": ".png", "TIFF": ".tif", "BMP": ".bmp", "PPM": ".ppm", "GIF": ".gif", "WEBP": ".webp", "JPEG": ".jpg"}


@pytest.mark.parametrize(("mode", "fmt"), CASES, ids=[f"{m}-{f}" for m, f in CASES])
def test_every_mode_decodes_to_the_right_values(mode: str, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"image{SUFFIX[fmt]}"
    options = {"lossless": True} if fmt == "WEBP" else {"quality": 100} if fmt == "JPEG" else {}
    _make(mode).save(path, fmt, **options)
    with Image.open(path) as opened:
        opened.load()
        want, tolerance = expected_rgb(opened)
    got = load_image(path)
    assert got.dtype.__str__() == "torch.uint8" and tuple(got.shape) == (3, H, W)
    error = np.abs(got.permute(1, 2, 0).numpy().astype(np.float64) - want)
    assert error.max() <= tolerance + 0.5, (opened.mode, error.max())


def _float_tiff(path: Path, values: np.ndarray) -> Path:
    Image.fromarray(values.astype(np.float32)).save(path)
    return path


@pytest.mark.parametrize(("top", "level"), [(1.0, 255), (255.0, 255), (65535.0, 255), (0.5, 128)])
def test_float_images_scale_by_their_range(top: float, level: int, tmp_path: Path) -> None:
    values = np.zeros((H, W))
    values[0, 0] = top
    values[1, 1] = top / 2 if top > 1 else 0.25
    got = load_image(_float_tiff(tmp_path / "f.tif", values))
    assert int(got[0, 0, 0]) == level and int(got[0, 0, 1]) == 0
    assert abs(int(got[0, 1, 1]) - (128 if top > 1 else 64)) <= 1


@pytest.mark.parametrize(
    ("value", "message"),
    [(float("nan"), "NaN or infinite"), (float("inf"), "NaN or infinite"), (-0.5, "negative"), (70000.0, "65535")],
)
def test_float_images_out_of_range_are_refused(value: float, message: str, tmp_path: Path) -> None:
    values = np.full((H, W), 0.5)
    values[2, 2] = value
    with pytest.raises(ImageFolderError, match=message) as info:
        load_image(_float_tiff(tmp_path / "bad.tif", values))
    assert "f.tif" not in str(info.value) and "bad.tif" in str(info.value) and "\n" not in str(info.value)


def test_32_bit_integer_beyond_16_bits_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.tif"
    Image.fromarray(np.full((H, W), 1 << 20, np.int32)).save(path)
    with pytest.raises(ImageFolderError, match="big.tif.*65535"):
        load_image(path)


@pytest.mark.parametrize("shape", [(2, 3, 0, 8), (2, 3, 8, 0), (2, 1, 0, 0)])
def test_tensor_images_of_height_or_width_0_are_an_input_error(shape: tuple[int, ...]) -> None:
    import torch

    from ganprobe import extract_features, get_extractor
    from ganprobe.errors import InputError

    with pytest.raises(InputError, match="height or width 0"):
        extract_features(get_extractor("random-resnet18"), torch.zeros(shape), "pool", 2)
