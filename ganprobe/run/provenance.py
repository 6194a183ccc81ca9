"""Where a report's numbers came from: each input's path or kind, count and a SHA-256, and the images to show."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganprobe.data.sources import ImageSource
from ganprobe.features.cache import source_fingerprint

THUMBNAILS = 64  # images kept per set for the HTML report's grids


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def describe_source(source: ImageSource, count: int, stats_meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Provenance of one input: its path or kind, how many images were used, and a SHA-256 of what was read.

    Args:
        source: the folder (a path, or its :class:`~ganprobe.data.listing.FolderListing`, whose fingerprint is
            reused; the report shows the path as given either way), stats file, tensor, iterable or generator.
        count: rows used from it.
        stats_meta: the metadata of a ``ganprobe stats`` file (``None`` for other sources).
    """
    if stats_meta is not None:
        from ganprobe.extractors.weights import sha256_file

        return {
            "path": str(source),
            "kind": "stats_file",
            "stats_file": True,
            "count": count,
            "sha256": sha256_file(Path(source)),  # type: ignore[arg-type]
            "source": dict(stats_meta.get("source", {})),
        }
    if isinstance(source, (str, os.PathLike)):
        return {
            "path": str(source),
            "kind": "folder",
            "count": count,
            "sha256": _digest(source_fingerprint(source)),
            "stats_file": False,
        }
    if isinstance(source, Tensor):
        fingerprint = source_fingerprint(source)
        digest = fingerprint["sha256"] if fingerprint else None
        return {"path": None, "kind": "tensor", "count": count, "sha256": digest, "stats_file": False}
    kind = "generator" if callable(source) else "iterable"
    return {"path": None, "kind": kind, "count": count, "sha256": None, "stats_file": False}


def thumbnails(source: ImageSource, paths: Sequence[str | None]) -> Sequence[str | None] | Tensor:
    """The first :data:`THUMBNAILS` images of a set for the HTML grids: file paths, or a uint8 RGB tensor."""
    if isinstance(source, Tensor) and source.ndim == 4:
        images = source[:THUMBNAILS].detach().cpu()
        if images.dtype != torch.uint8:
            images = (images.float().clamp(0, 1) * 255).round().to(torch.uint8)
        return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
    return list(paths[:THUMBNAILS])
