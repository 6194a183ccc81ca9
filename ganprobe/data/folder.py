"""Image folders: find images (recursively, in a deterministic order) and decode them to RGB ``uint8`` tensors."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ganprobe.errors import ImageFolderError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Every image file below ``folder``, sorted by relative path, skipping hidden files and folders.

    Symbolic links to files are followed; links to folders are not (so a link loop cannot hang the walk).

    Raises:
        ImageFolderError: the folder does not exist, is not a folder, holds no image files, or it (or a folder
            inside it) cannot be listed (permissions).
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise ImageFolderError(f"{root}: folder does not exist")
    if not root.is_dir():
        raise ImageFolderError(f"{root}: not a folder")
    found = []

    def unlistable(error: OSError) -> None:  # os.walk would skip an unreadable folder silently: refuse instead
        raise ImageFolderError(f"{error.filename}: cannot list folder ({error.strerror or error})")

    for directory, subdirs, files in os.walk(root, onerror=unlistable, followlinks=False):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                found.append(Path(directory) / name)
    if not found:
        raise ImageFolderError(
            f"{root}: no image files found (looked recursively for {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def load_image(path: str | os.PathLike[str]) -> Tensor:
    """Decode one image file to an RGB ``uint8`` ``(3, H, W)`` tensor.

    Grayscale, palette, 16-bit and RGBA images are converted to RGB (alpha is dropped).

    Raises:
        ImageFolderError: naming the file, when it cannot be read (permissions, a link loop) or decoded (truncated,
            not an image, a decompression-bomb-sized header beyond ``PIL.Image.MAX_IMAGE_PIXELS``).
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or stream forever
            raise ImageFolderError(f"{path}: not a regular file")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.mode.startswith("I;16") or image.mode == "I":
                    array = np.asarray(image, dtype=np.float64)
                    # 16-bit files use the full 0..65535 range; a 32-bit "I" image from other formats may not.
                    sixteen_bit = image.mode.startswith("I;16") or image.format == "PNG" or array.max() > 255
                    scale = 65535.0 if sixteen_bit else 255.0
                    image = Image.fromarray(np.clip(array / scale * 255.0 + 0.5, 0, 255).astype(np.uint8))
                rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except ImageFolderError:
        raise
    except OSError as exc:
        if exc.errno is not None:  # the file system refused (permissions, a link loop, vanished): not a decode error
            raise ImageFolderError(f"{path}: cannot read image file ({exc.strerror or exc})") from None
        raise ImageFolderError(f"{path}: cannot decode image ({_first_line(exc, path)})") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure on a user's file is bad input, never a crash
        raise ImageFolderError(f"{path}: cannot decode image ({_first_line(exc, path)})") from None
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageFolderError(f"{path}: cannot decode image (empty image of shape {rgb.shape})")
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).contiguous()


def _first_line(exc: BaseException, path: str | os.PathLike[str]) -> str:
    text = str(exc).strip().replace(f" {str(path)!r}", "")  # PIL repeats the file name the message starts with
    return text.splitlines()[0] if text else type(exc).__name__
