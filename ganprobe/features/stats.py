"""Reference-set files (``ganprobe stats REAL -o real_stats.npz``): a real set's features, computed once.

The file is a plain ``.npz`` (read with ``allow_pickle=False``: nothing is ever unpickled) holding one float32
array per layer (``features/<layer>``) and a JSON string ``meta`` with the extractor name, its weights SHA-256, the
preprocessing, the source's fingerprint and the ganprobe version. Full features (not just mean and covariance) are
kept because k-NN, precision/recall and separability metrics need them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganprobe.atomic import atomic_write
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor

STATS_FORMAT_VERSION = 1
_PREFIX = "features/"


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


def load_reference_stats(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a reference stats file: ``({layer: (N, D) float32}, meta)``.

    Raises:
        InputError: the file is missing, not a ganprobe stats file, truncated, of another format version, or holds
            non-finite or malformed features.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: reference stats file does not exist")
    try:
        with np.load(source, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            if not isinstance(meta, dict):
                raise ValueError("meta is not a JSON object")
            features = {
                name[len(_PREFIX) :]: torch.from_numpy(np.array(archive[name]))
                for name in archive.files
                if name.startswith(_PREFIX)
            }
    except Exception as exc:  # zip/format/JSON errors all mean "not a usable stats file"
        raise InputError(f"{source}: not a readable ganprobe stats file ({type(exc).__name__})") from None
    if meta.get("format") != STATS_FORMAT_VERSION or not features:
        raise InputError(f"{source}: unsupported stats format {meta.get('format')!r} (expected {STATS_FORMAT_VERSION})")
    rows = {value.shape[0] if value.ndim == 2 else -1 for value in features.values()}
    if len(rows) != 1 or -1 in rows or not all(value.is_floating_point() for value in features.values()):
        raise InputError(f"{source}: features must be float (N, D) arrays with one N for every layer")
    for layer, value in features.items():
        if not bool(torch.isfinite(value).all()):
            raise InputError(f"{source}: features of layer {layer!r} contain NaN or infinite values; recompute it")
    return features, meta


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
                f"`ganprobe stats REAL -o {Path(path).name} --extractor {extractor.name}"
                + (f" --autocast {extractor.autocast}`" if extractor.autocast else "`")
            )


def _pipeline(description: object) -> str | None:
    """The ``pipeline=`` token of a preprocessing description (``None`` when it names none)."""
    for token in str(description or "").split():
        if token.startswith("pipeline="):
            return token.split("=", 1)[1]
    return None
