"""On-disk feature cache: extract a real dataset once, reuse its features until anything that shaped them changes.

An entry's key covers everything that determines the features:

* the input: for a folder, every image's relative path, size and modification time (or, with
  ``content_hash=True``, the SHA-256 of every file); for a tensor, the SHA-256 of its bytes, shape and dtype;
* the extractor's name and the SHA-256 of its weights file;
* the preprocessing (size, resize method, normalisation, dtype) and the requested layers;
* ``num_samples`` and the ganprobe cache-format version.

Generator callables and DataLoaders are not cached (their content is unknown until they run).
Entries are ``torch.save`` files read back with ``weights_only=True`` (no code is ever unpickled). Writes are
atomic (temporary file in the same folder, then rename), so concurrent runs never see half a file; a truncated,
corrupt or mismatched entry is detected, reported with a warning, and recomputed -- never silently used.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganprobe.atomic import atomic_write
from ganprobe.data.folder import list_images
from ganprobe.data.sources import ImageSource
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.weights import cache_dir, sha256_file

CACHE_FORMAT_VERSION = 1


def _tensor_digest(tensor: Tensor) -> str:
    data = tensor.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{tuple(data.shape)}|{data.dtype}".encode())
    digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


def source_fingerprint(source: ImageSource, content_hash: bool = False) -> dict[str, Any] | None:
    """Describe ``source`` for a cache key, or return ``None`` when it cannot be cached (generators, loaders).

    Args:
        source: a folder path or a tensor (other sources return ``None``).
        content_hash: hash every file's bytes instead of trusting sizes and modification times.
    """
    if isinstance(source, (str, os.PathLike)):
        root = Path(source).expanduser()
        files = []
        for path in list_images(root):
            stat = path.stat()
            entry: list[Any] = [path.relative_to(root).as_posix(), stat.st_size]
            entry.append(sha256_file(path) if content_hash else stat.st_mtime_ns)
            files.append(entry)
        listing = hashlib.sha256(json.dumps(files).encode()).hexdigest()
        return {
            "kind": "folder",
            "path": str(root.resolve()),
            "count": len(files),
            "listing_sha256": listing,
            "content_hash": content_hash,
        }
    if isinstance(source, Tensor):
        return {"kind": "tensor", "count": int(source.shape[0]), "sha256": _tensor_digest(source)}
    return None


def cache_key(
    fingerprint: Mapping[str, Any], extractor: FeatureExtractor, layers: Sequence[str], num_samples: int | None
) -> dict[str, Any]:
    """The full key of an entry (stored inside the entry and compared on load)."""
    return {
        "format": CACHE_FORMAT_VERSION,
        "source": dict(fingerprint),
        "extractor": extractor.name,
        "weights_sha256": extractor.weights_sha256,
        "preprocessing": extractor.preprocessing.describe(),
        "layers": sorted(layers),
        "num_samples": num_samples,
    }


class FeatureCache:
    """A folder of feature-cache entries.

    Args:
        directory: where entries live (default ``<cache_dir()>/features``, i.e. ``~/.cache/ganprobe/features``).
        enabled: ``False`` turns every lookup into a miss and every store into a no-op.
        content_hash: key folders on every file's SHA-256 instead of sizes and modification times (slower, but
            immune to tools that rewrite files while keeping their timestamps).
    """

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, enabled: bool = True, content_hash: bool = False
    ) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else cache_dir() / "features"
        self.enabled = enabled
        self.content_hash = content_hash

    def path_for(self, key: Mapping[str, Any]) -> Path:
        """The entry file of ``key``."""
        name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
        return self.directory / f"{name}.pt"

    def load(self, key: Mapping[str, Any]) -> dict[str, Tensor] | None:
        """Return the cached ``{layer: features}`` for ``key``, or ``None`` on a miss (missing, corrupt, mismatched)."""
        if not self.enabled:
            return None
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            stored_key = json.loads(entry["key"])
            features = entry["features"]
            valid = (
                stored_key == json.loads(json.dumps(key))
                and isinstance(features, dict)
                and all(isinstance(value, Tensor) for value in features.values())
                and set(features) == set(key["layers"])
            )
        except Exception as exc:  # truncated zip, wrong layout, bad JSON: all are a miss, never a crash
            warnings.warn(f"{path}: unreadable feature-cache entry ({type(exc).__name__}); recomputing", stacklevel=2)
            return None
        if not valid:
            warnings.warn(f"{path}: feature-cache entry does not match its key; recomputing", stacklevel=2)
            return None
        return features

    def store(self, key: Mapping[str, Any], features: Mapping[str, Tensor]) -> Path | None:
        """Write an entry atomically; returns its path (``None`` when disabled or when the write failed: a cache
        that cannot be written is reported with a warning, and the extracted features are still returned)."""
        if not self.enabled:
            return None
        try:
            return self._write(key, features)
        except OSError as exc:
            warnings.warn(
                f"{self.directory}: cannot write the feature cache ({exc.strerror or exc}); continuing without it",
                stacklevel=2,
            )
            return None

    def _write(self, key: Mapping[str, Any], features: Mapping[str, Tensor]) -> Path:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "key": json.dumps(key, sort_keys=True),
            "features": {layer: value.detach().cpu().contiguous() for layer, value in features.items()},
        }
        return atomic_write(path, lambda handle: torch.save(payload, handle))
