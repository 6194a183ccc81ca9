"""Image folders: find images (recursively, in a deterministic order) and decode them to RGB ``uint8`` tensors."""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from ganprobe.errors import ImageFolderError, UsageError
from ganprobe.utils.safe_text import quote_path

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
# The formats decoded, whatever a file is named: what generative models write and photos come in (a JPEG carrying a
# multi-picture extension, as many phone and camera photos do, opens as Pillow's "MPO", its main picture decoded);
# PPM covers the .ppm/.pgm files listed above. No format that runs an external program (EPS starts Ghostscript),
# and none of the other formats Pillow reads, which nobody feeds an image metric and which only widen the surface.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF", "PPM")
# 2**25 pixels (8192x4096; 8K UHD fits): decoding an RGB image that large takes 228 MiB. Larger PNGs are
# refused; larger JPEGs are decoded at a reduced scale. A user with larger images raises it by the variable.
DEFAULT_MAX_IMAGE_PIXELS = 2**25
MAX_PIXELS_VARIABLE = "GANPROBE_MAX_IMAGE_PIXELS"
# 2: only ALLOWED_FORMATS, EXIF orientation applied, JPEGs above the pixel limit decoded reduced (cache keys change).
DECODING_VERSION = 2
_ORIENTATION_TAG = 0x0112
_STRIP_PIXELS = 1 << 18


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Every image file below ``folder``, sorted by relative path, skipping hidden files and folders.

    Symbolic links to files are followed; links to folders are not (so a link loop cannot hang the walk). A
    :class:`~ganprobe.data.listing.FolderListing` is not walked again: its files are returned.

    Raises:
        ImageFolderError: the folder does not exist, is not a folder, holds no image files, or it (or a folder
            inside it) cannot be listed (permissions).
    """
    from ganprobe.data.listing import FolderListing  # it lists folders with this module

    if isinstance(folder, FolderListing):
        return list(folder.files)
    return scan_images(folder)[2]


def scan_images(folder: str | os.PathLike[str]) -> tuple[Path, list[str], list[Path]]:
    """Walk ``folder`` once by :func:`list_images`' rules: ``(root, relative POSIX names, files)``, sorted by name.

    ``root`` is ``folder`` with ``~`` expanded, and every file is ``root / name``.

    Raises:
        ImageFolderError: as :func:`list_images`.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise ImageFolderError(f"{quote_path(root)}: folder does not exist")
    if not root.is_dir():
        raise ImageFolderError(f"{quote_path(root)}: not a folder")
    top = os.fspath(root)
    found = []
    for directory, files in walk_files(root):
        # Names relative to the root from the walk's own strings: no Path arithmetic per file (50,000 files).
        inner = directory[len(top) :].lstrip(os.sep).replace(os.sep, "/")
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found.append((f"{inner}/{name}" if inner else name, os.path.join(directory, name)))
    if not found:
        raise ImageFolderError(
            f"{quote_path(root)}: no image files found (looked recursively for {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    found.sort()
    return root, [name for name, _ in found], [Path(path) for _, path in found]


def walk_files(root: Path) -> Iterator[tuple[str, list[str]]]:
    """``(folder, file names)`` for ``root`` and every non-hidden folder below it, without recursion.

    Like ``os.walk(root, followlinks=False)`` (links to folders are listed as folders and never entered, so a link
    loop cannot hang the walk), but with an explicit stack: a folder nested thousands of levels deep is walked, not
    a ``RecursionError``. A folder that cannot be listed raises (``os.walk`` would skip it silently).

    Raises:
        ImageFolderError: a folder cannot be listed (permissions, vanished), naming it.
    """
    stack = [os.fspath(root)]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError as error:
            raise ImageFolderError(
                f"{quote_path(error.filename or directory)}: cannot list folder ({error.strerror or error})"
            ) from None
        files, subdirs = [], []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:  # a link loop or a vanished entry: a file, which decoding then reports
                is_dir = False
            if not is_dir:
                files.append(entry.name)
            elif not entry.name.startswith(".") and not entry.is_symlink():
                subdirs.append(entry.path)
        yield directory, files
        stack.extend(sorted(subdirs, reverse=True))


def load_image(path: str | os.PathLike[str]) -> Tensor:
    """Decode one image file to an RGB ``uint8`` ``(3, H, W)`` tensor, upright.

    Only the formats in :data:`ALLOWED_FORMATS` are read, whatever the file's name (never one that runs an external
    program, such as EPS through Ghostscript). An image above :func:`max_image_pixels` pixels is refused from its
    header, before any pixel is decoded -- except a JPEG, which libjpeg then decodes at 1/2, 1/4 or 1/8 scale (the
    least reduction that fits). An EXIF orientation tag (phone photos) is applied, so the pixels are those a viewer
    shows. Decoding an RGB image takes about 7 bytes of memory per pixel (Pillow's 4, the result's 3).

    Every mode PIL opens is converted to RGB: grayscale, bilevel and palette images (with or without alpha),
    CMYK, YCbCr, CIELAB (D50, as TIFF and ICC define it) and HSV by PIL's conversions; alpha is dropped. High bit
    depths are scaled to 0..255 by this rule (see ``docs/hardening.md``):

    * 16-bit modes (``I;16``, ``I;16B``...), and 32-bit integer ``I`` images from PNG or PPM files: 0..65535;
    * other ``I`` images and float (``F``) images, by their maximum value: at most 1 (floats only) means 0..1,
      at most 255 means 0..255, at most 65535 means 0..65535; larger, negative, NaN or infinite values are refused.

    Raises:
        ImageFolderError: naming the file, when it cannot be read (permissions, a link loop) or decoded (truncated,
            not an image, a format outside the allow-list, more pixels than the limit, an empty image, pixel values
            outside the rule above).
        UsageError: ``GANPROBE_MAX_IMAGE_PIXELS`` is set to something other than a positive whole number.
    """
    name = quote_path(path)
    limit = max_image_pixels()
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or stream forever
            raise ImageFolderError(f"{name}: not a regular file")
        chw = _decode(path, name, limit)
    except ImageFolderError:
        raise
    except OSError as exc:
        if exc.errno is not None:  # the file system refused (permissions, a link loop, vanished): not a decode error
            raise ImageFolderError(f"{name}: cannot read image file ({exc.strerror or exc})") from None
        raise ImageFolderError(f"{name}: cannot decode image ({_first_line(exc, path)})") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure on a user's file is bad input, never a crash
        raise ImageFolderError(f"{name}: cannot decode image ({_first_line(exc, path)})") from None
    return torch.from_numpy(chw)


def max_image_pixels() -> int:
    """The most pixels (width x height) an image may have: ``GANPROBE_MAX_IMAGE_PIXELS``, or
    :data:`DEFAULT_MAX_IMAGE_PIXELS`. Pillow's own ceiling (twice ``PIL.Image.MAX_IMAGE_PIXELS``) still applies.

    Raises:
        UsageError: the variable is not a positive whole number.
    """
    text = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_PIXELS
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise UsageError(f"{MAX_PIXELS_VARIABLE}={text!r}: expected a positive whole number of pixels")
    return int(text)


def decoding_settings() -> dict[str, int]:
    """What shapes decoded pixels beyond the files themselves, for cache keys: :data:`DECODING_VERSION` and the
    pixel limit (a JPEG above it is decoded reduced)."""
    return {"version": DECODING_VERSION, "max_pixels": max_image_pixels()}


def _decode(path: str | os.PathLike[str], name: str, limit: int) -> np.ndarray:
    """Open by the allow-list, check the size on the header, decode, turn upright: a ``(3, H, W)`` uint8 array."""
    with warnings.catch_warnings():
        # ganprobe's limit, lower than Pillow's warning threshold, is checked right after the header is read.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path, formats=ALLOWED_FORMATS)
        except UnidentifiedImageError:
            detected = _detect_format(path)
            if detected is None or detected in ALLOWED_FORMATS:
                raise
            raise ImageFolderError(
                f"{name}: cannot decode image (its content is {detected}, not one of the formats ganprobe reads: "
                f"{', '.join(sorted(ALLOWED_FORMATS))})"
            ) from None
        with image:
            if image.width < 1 or image.height < 1:
                raise ImageFolderError(f"{name}: cannot decode image (empty image of {image.width}x{image.height})")
            _fit_pixel_limit(image, name, limit)
            image.load()
            _apply_orientation(image)
            return _to_rgb(image, name)


def _detect_format(path: str | os.PathLike[str]) -> str | None:
    """The format whose signature the file starts with, by Pillow's signature checks alone (no plugin opens it)."""
    with open(path, "rb") as file:
        prefix = file.read(16)
    Image.init()
    for format_name in Image.ID:
        accept = Image.OPEN[format_name][1]
        try:
            match = accept is not None and accept(prefix)
        except Exception:  # noqa: BLE001 - a check that trips on a short prefix is no match
            continue
        if match and not isinstance(match, str):  # a string is Pillow's "nearly this format": not a match
            return format_name
    return None


def _fit_pixel_limit(image: Image.Image, name: str, limit: int) -> None:
    """Refuse an image above ``limit`` pixels from its header; a JPEG is first set to decode at a reduced scale."""
    width, height = image.size
    if width * height <= limit:
        return
    if image.format in ("JPEG", "MPO"):
        for scale in (2, 4, 8):  # the DCT scalings libjpeg decodes at for free
            if -(-width // scale) * -(-height // scale) <= limit:
                image.draft(None, (max(1, width // scale), max(1, height // scale)))
                break
        if image.width * image.height <= limit:
            return
    raise ImageFolderError(
        f"{name}: {width}x{height} = {width * height:,} pixels, above the limit of {limit:,} (a decompression bomb, "
        f"or a photo too large to embed whole); set {MAX_PIXELS_VARIABLE} to a larger number of pixels to read it"
    )


def _apply_orientation(image: Image.Image) -> None:
    """Turn a loaded image upright in place by its EXIF (or TIFF) orientation tag, as viewers show it."""
    try:
        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - unreadable metadata does not spoil the pixels: shown as stored
        return
    if orientation in range(2, 9):
        ImageOps.exif_transpose(image, in_place=True)


def _rows(image: Image.Image) -> Iterator[tuple[int, Image.Image]]:
    """``(first row, strip)`` over the image in strips of about 0.25 Mpx, so conversions never copy it whole."""
    rows = max(1, _STRIP_PIXELS // image.width)
    if rows >= image.height:
        yield 0, image
        return
    for top in range(0, image.height, rows):
        yield top, image.crop((0, top, image.width, min(top + rows, image.height)))


def _to_rgb(image: Image.Image, name: str) -> np.ndarray:
    """An opened image as a ``(3, H, W)`` uint8 array, by the rule of :func:`load_image`, converted strip by strip
    (every conversion is per pixel, so the result is that of converting the whole image at once)."""
    mode = image.mode
    out = np.empty((3, image.height, image.width), dtype=np.uint8)
    if mode.startswith("I;16") or mode in ("I", "F"):
        scale = _high_bit_scale(image, name)
        for top, strip in _rows(image):
            array = np.asarray(strip, dtype=np.float64)
            gray = np.clip(np.floor(array / scale * 255.0 + 0.5), 0, 255).astype(np.uint8)
            out[:, top : top + gray.shape[0]] = gray
        return out
    for top, strip in _rows(image):
        if strip.mode in ("PA", "La", "RGBa"):  # no direct conversion to RGB for some: through RGBA (alpha dropped)
            strip = strip.convert("RGBA")
        rgb = np.asarray(strip if strip.mode == "RGB" else strip.convert("RGB"), dtype=np.uint8)
        out[:, top : top + rgb.shape[0]] = rgb.transpose(2, 0, 1)
    return out


def _high_bit_scale(image: Image.Image, name: str) -> float:
    """The full-scale value of a 16-bit, 32-bit integer or float image, by the rule of :func:`load_image`."""
    mode = image.mode
    low, high = 0.0, 0.0
    for _, strip in _rows(image):
        array = np.asarray(strip, dtype=np.float64)
        if not np.isfinite(array).all():
            raise ImageFolderError(f"{name}: cannot decode image (NaN or infinite pixel values in a {mode} image)")
        if array.size:
            low, high = min(low, float(array.min())), max(high, float(array.max()))
    if low < 0:
        raise ImageFolderError(f"{name}: cannot decode image (negative pixel values, down to {low:g}, in mode {mode})")
    if mode.startswith("I;16") or (mode == "I" and image.format in ("PNG", "PPM")):
        return 65535.0  # 16-bit files use the full range, however dark the image
    if mode == "F" and high <= 1.0:
        return 1.0
    if high <= 255.0:
        return 255.0
    if high <= 65535.0:
        return 65535.0
    raise ImageFolderError(
        f"{name}: cannot decode image (pixel values up to {high:g} in mode {mode}; ganprobe reads such images "
        "as 0..1 (floats), 0..255 or 0..65535 by their maximum)"
    )


def _first_line(exc: BaseException, path: str | os.PathLike[str]) -> str:
    text = str(exc).strip().replace(f" {str(path)!r}", "")  # PIL repeats the file name the message starts with
    return text.splitlines()[0] if text else type(exc).__name__
