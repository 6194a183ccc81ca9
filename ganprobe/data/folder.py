"""Image folders: find images (recursively, in a deterministic order) and decode them to RGB ``uint8`` tensors."""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ganprobe.errors import ImageFolderError
from ganprobe.text import quote_path

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})


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
    """Decode one image file to an RGB ``uint8`` ``(3, H, W)`` tensor.

    Every mode PIL opens is converted to RGB: grayscale, bilevel and palette images (with or without alpha),
    CMYK, YCbCr, CIELAB (D50, as TIFF and ICC define it) and HSV by PIL's conversions; alpha is dropped. High bit
    depths are scaled to 0..255 by this rule (see ``docs/hardening.md``):

    * 16-bit modes (``I;16``, ``I;16B``...), and 32-bit integer ``I`` images from PNG or PPM files: 0..65535;
    * other ``I`` images and float (``F``) images, by their maximum value: at most 1 (floats only) means 0..1,
      at most 255 means 0..255, at most 65535 means 0..65535; larger, negative, NaN or infinite values are refused.

    Raises:
        ImageFolderError: naming the file, when it cannot be read (permissions, a link loop) or decoded (truncated,
            not an image, a decompression-bomb-sized header beyond ``PIL.Image.MAX_IMAGE_PIXELS``, an empty image,
            pixel values outside the rule above).
    """
    name = quote_path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or stream forever
            raise ImageFolderError(f"{name}: not a regular file")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width < 1 or image.height < 1:
                    raise ImageFolderError(f"{name}: cannot decode image (empty image of {image.width}x{image.height})")
                rgb = _to_rgb(image, name)
    except ImageFolderError:
        raise
    except OSError as exc:
        if exc.errno is not None:  # the file system refused (permissions, a link loop, vanished): not a decode error
            raise ImageFolderError(f"{name}: cannot read image file ({exc.strerror or exc})") from None
        raise ImageFolderError(f"{name}: cannot decode image ({_first_line(exc, path)})") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure on a user's file is bad input, never a crash
        raise ImageFolderError(f"{name}: cannot decode image ({_first_line(exc, path)})") from None
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageFolderError(f"{name}: cannot decode image (empty image of shape {rgb.shape})")
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).contiguous()


def _to_rgb(image: Image.Image, name: str) -> np.ndarray:
    """An opened image as an ``(H, W, 3)`` uint8 array, by the rule of :func:`load_image`."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        array = np.asarray(image, dtype=np.float64)
        if not np.isfinite(array).all():
            raise ImageFolderError(f"{name}: cannot decode image (NaN or infinite pixel values in a {mode} image)")
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if low < 0:
            raise ImageFolderError(
                f"{name}: cannot decode image (negative pixel values, down to {low:g}, in mode {mode})"
            )
        if mode.startswith("I;16") or (mode == "I" and image.format in ("PNG", "PPM")):
            scale = 65535.0  # 16-bit files use the full range, however dark the image
        elif mode == "F" and high <= 1.0:
            scale = 1.0
        elif high <= 255.0:
            scale = 255.0
        elif high <= 65535.0:
            scale = 65535.0
        else:
            raise ImageFolderError(
                f"{name}: cannot decode image (pixel values up to {high:g} in mode {mode}; ganprobe reads such images "
                "as 0..1 (floats), 0..255 or 0..65535 by their maximum)"
            )
        gray = np.clip(np.floor(array / scale * 255.0 + 0.5), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode in ("PA", "La", "RGBa"):  # no direct conversion to RGB for some: through RGBA (alpha then dropped)
        image = image.convert("RGBA")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _first_line(exc: BaseException, path: str | os.PathLike[str]) -> str:
    text = str(exc).strip().replace(f" {str(path)!r}", "")  # PIL repeats the file name the message starts with
    return text.splitlines()[0] if text else type(exc).__name__
