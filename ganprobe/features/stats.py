"""Reference-set files (``ganprobe stats REAL -o real_stats.npz``): a real set's features, computed once.

The file is a plain ``.npz`` (read with ``allow_pickle=False``: nothing is ever unpickled) holding one float32
array per layer (``features/<layer>``) and a JSON string ``meta`` with the extractor name, its weights SHA-256, the
preprocessing, the source's fingerprint and the ganprobe version. Full features (not just mean and covariance) are
kept because k-NN, precision/recall and separability metrics need them.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import Tensor

from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.utils.atomic_files import atomic_write
from ganprobe.utils.json_depth import check_json_depth
from ganprobe.utils.safe_text import quote_path

STATS_FORMAT_VERSION = 1
_PREFIX = "features/"
# Bounds checked before anything is decompressed: the metadata is a short JSON string; a layer has at most this
# many features per row (the widest built-in layer has 2048); float features hardly compress (deflate gives ~1.1x),
# so an entry that would inflate more than this is a decompression bomb, not features.
MAX_META_BYTES = 1 << 20
MAX_HEADER_BYTES = 10_000
MAX_FEATURE_WIDTH = 1 << 16
MAX_COMPRESSION_RATIO = 50


def save_reference_stats(
    path: str | os.PathLike[str],
    features: Mapping[str, Tensor],
    extractor: FeatureExtractor,
    source: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``features`` (``{layer: (N, D)}``) and their provenance to ``path`` atomically; returns the path."""
    target = Path(path)
    if target.suffix != ".npz":
        raise InputError(f"{target}: reference stats files must end in .npz")
    meta = {
        "format": STATS_FORMAT_VERSION,
        "extractor": extractor.name,
        "weights_sha256": extractor.weights_sha256,
        "preprocessing": extractor.preprocessing.describe(),
        # Layout and compilation change features at float32 round-off only (provenance); the precision is checked.
        "execution": extractor.execution,
        "precision": extractor.precision,
        "source": dict(source or {}),
        "count": int(next(iter(features.values())).shape[0]),
    }
    arrays = {f"{_PREFIX}{layer}": value.detach().float().cpu().numpy() for layer, value in features.items()}
    return atomic_write(
        target, lambda handle: np.savez(handle, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    )


def load_reference_stats(
    path: str | os.PathLike[str], extractor: FeatureExtractor | None = None
) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a reference stats file: ``({layer: (N, D) float32}, meta)``, checking everything it can before data.

    The metadata is read first (bounded in size and JSON nesting) and, with ``extractor``, checked against it
    (:func:`check_compatible`): a file of another extractor is refused before any feature array is read. Then each
    array's declared dtype and shape (its ``.npy`` header) are checked against the metadata -- a float ``(N, D)``
    with ``N`` the promised ``count`` and ``D`` at most :data:`MAX_FEATURE_WIDTH` -- and against the zip entry's
    size and compression ratio, so a small file can never make ganprobe decompress gigabytes.

    Raises:
        InputError: the file is missing, not a ganprobe stats file, truncated, of another format version or
            extractor, declares arrays beyond those bounds, or holds non-finite or malformed features.
    """
    source = Path(path)
    name = quote_path(source)
    if not source.is_file():
        raise InputError(f"{name}: reference stats file does not exist")
    try:
        with zipfile.ZipFile(source) as archive:
            meta = _read_meta(archive, name)
            if meta.get("format") != STATS_FORMAT_VERSION:
                raise InputError(
                    f"{name}: unsupported stats format {meta.get('format')!r} (expected {STATS_FORMAT_VERSION})"
                )
            if extractor is not None:
                check_compatible(meta, extractor, source)
            members = [info for info in archive.infolist() if info.filename.startswith(_PREFIX)]
            headers = {info.filename: _check_header(archive, info, meta, name) for info in members}
            features = {
                member[len(_PREFIX) :].removesuffix(".npy"): torch.from_numpy(_read_array(archive, member, header))
                for member, header in headers.items()
            }
    except InputError:
        raise
    except Exception as exc:  # zip/format/JSON errors all mean "not a usable stats file"
        raise InputError(f"{name}: not a readable ganprobe stats file ({type(exc).__name__})") from None
    if not features:
        raise InputError(f"{name}: unsupported stats format {meta.get('format')!r} (no feature arrays)")
    rows = {value.shape[0] if value.ndim == 2 else -1 for value in features.values()}
    if len(rows) != 1 or -1 in rows or not all(value.is_floating_point() for value in features.values()):
        raise InputError(f"{name}: features must be float (N, D) arrays with one N for every layer")
    if rows == {0}:
        raise InputError(f"{name}: holds no rows (features of 0 images); recompute it with `ganprobe stats`")
    for layer, value in features.items():
        if not bool(torch.isfinite(value).all()):
            raise InputError(f"{name}: features of layer {layer!r} contain NaN or infinite values; recompute it")
    if extractor is not None:
        check_widths(features, extractor, name)
    return features, meta


def check_widths(features: Mapping[str, Tensor], extractor: FeatureExtractor, name: str) -> None:
    """Refuse stored features whose width differs from what ``extractor`` gives at the same layer.

    The width each layer gives is read from one forward pass of a single blank image (skipped for a compiled
    backbone, which would compile for that extra input shape; the metrics then refuse a mismatch, unnamed).

    Raises:
        InputError: naming the file (``name``), the layer and both widths.
    """
    layers = [layer for layer in features if layer in extractor.layers]
    if not layers or extractor.compiled:
        return
    try:
        probe = extractor(torch.zeros(1, 3, 64, 64, dtype=torch.uint8), layers)
    except Exception:  # noqa: BLE001 - an extractor that cannot run is reported by the run itself, with its cause
        return
    for layer in layers:
        expected, width = probe[layer].shape[-1] if probe[layer].ndim == 2 else None, features[layer].shape[1]
        if expected is not None and width != expected:
            raise InputError(
                f"{name}: layer {layer!r} holds {width} features per row, but {extractor.name} gives {expected} there; "
                "recompute it with `ganprobe stats`"
            )


def _read_meta(archive: zipfile.ZipFile, name: str) -> dict[str, Any]:
    """The ``meta`` JSON object, read only after its entry's size and header are checked."""
    info = archive.getinfo("meta.npy")
    if info.file_size > MAX_META_BYTES:
        raise ValueError("meta too large")
    with archive.open(info) as handle:
        shape, _, dtype = _read_header(handle)
        if shape != () or dtype.kind != "U":
            raise ValueError("meta is not a string")
        text = str(np.frombuffer(handle.read(dtype.itemsize), dtype=dtype)[0])
    check_json_depth(text, f"{name}: meta")
    meta = json.loads(text)
    if not isinstance(meta, dict):
        raise ValueError("meta is not a JSON object")
    return meta


def _read_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from a ``.npy`` header (format 1.0 or 2.0), nothing of the data."""
    version = np.lib.format.read_magic(handle)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f"unsupported .npy version {version}")
    shape, fortran, dtype = readers[version](handle, max_header_size=MAX_HEADER_BYTES)
    if dtype.hasobject:
        raise ValueError("object arrays are never unpickled")
    return tuple(shape), bool(fortran), dtype


def _check_header(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, meta: dict[str, Any], name: str
) -> tuple[tuple[int, ...], np.dtype, int]:
    """Check a feature array's ``.npy`` header against the metadata and the zip entry before reading its data.

    Returns:
        ``(shape, dtype, header bytes)``.
    """
    layer = info.filename[len(_PREFIX) :].removesuffix(".npy")
    with archive.open(info) as handle:
        shape, fortran, dtype = _read_header(handle)
        header_bytes = handle.tell()
    if len(shape) != 2 or dtype.kind != "f" or dtype.itemsize > 8 or fortran:
        raise InputError(f"{name}: features of layer {layer!r} must be a float (N, D) array, got {dtype} {shape}")
    rows, width = shape
    count = meta.get("count")
    if isinstance(count, int) and not isinstance(count, bool) and rows != count:
        raise InputError(f"{name}: layer {layer!r} declares {rows} rows, but the metadata promises {count}")
    if width > MAX_FEATURE_WIDTH:
        raise InputError(f"{name}: layer {layer!r} declares {width} features per row (at most {MAX_FEATURE_WIDTH})")
    data_bytes = rows * width * dtype.itemsize
    if info.file_size != header_bytes + data_bytes:
        raise InputError(
            f"{name}: layer {layer!r} declares {data_bytes} bytes of data, but its zip entry holds "
            f"{info.file_size - header_bytes}"
        )
    if info.compress_type != zipfile.ZIP_STORED and data_bytes > (1 << 20):
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > MAX_COMPRESSION_RATIO:
            raise InputError(
                f"{name}: layer {layer!r} would decompress {info.compress_size} bytes to {info.file_size} "
                f"({ratio:.0f}x; features compress at most {MAX_COMPRESSION_RATIO}x): refusing a decompression bomb"
            )
    return shape, dtype, header_bytes


def _read_array(archive: zipfile.ZipFile, member: str, header: tuple[tuple[int, ...], np.dtype, int]) -> np.ndarray:
    """The data of a checked feature array (exactly the bytes its header declares)."""
    shape, dtype, header_bytes = header
    count = int(np.prod(shape))
    with archive.open(member) as handle:
        handle.read(header_bytes)
        data = handle.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ValueError("truncated array")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def check_compatible(meta: Mapping[str, Any], extractor: FeatureExtractor, path: str | os.PathLike[str]) -> None:
    """Raise :class:`InputError` unless the stats were made by this extractor, weights and preprocessing."""
    for field, mine in (
        ("extractor", extractor.name),
        ("weights_sha256", extractor.weights_sha256),
        ("preprocessing", extractor.preprocessing.describe()),
        ("precision", extractor.precision),
    ):
        theirs = meta.get(field, "float32" if field == "precision" else None)  # older files: float32
        if field == "preprocessing" and theirs != mine and _pipeline(theirs) != _pipeline(mine):
            raise InputError(
                f"{path}: made with the {_pipeline(theirs) or 'default'!r} input pipeline of "
                f"{meta.get('extractor')!r}, but this run uses {_pipeline(mine) or 'default'!r}; run with the "
                f"extractor option pipeline={_pipeline(theirs)!r} to use it, or recompute it with this run's pipeline"
            )
        if theirs != mine:
            raise InputError(
                f"{path}: made with {field} {theirs!r}, but this run uses {mine!r}; recompute it with "
                f"`ganprobe stats REAL_FOLDER -o {path} --extractor {extractor.name}"
                + (f" --autocast {extractor.autocast}`" if extractor.autocast else "`")
            )


def _pipeline(description: object) -> str | None:
    """The ``pipeline=`` token of a preprocessing description (``None`` when it names none)."""
    for token in str(description or "").split():
        if token.startswith("pipeline="):
            return token.split("=", 1)[1]
    return None
