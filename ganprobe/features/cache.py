"""On-disk feature cache: extract a real dataset once, reuse its features until anything that shaped them changes.

An entry's key covers everything that determines the features:

* the input: for a folder, every image's relative path, size and modification time (or, with
  ``content_hash=True``, the SHA-256 of every file); for a tensor, the SHA-256 of its bytes, shape and dtype;
* the extractor's name and the SHA-256 of its weights file;
* the preprocessing (size, resize method, normalisation, dtype) and the requested layers;
* ``num_samples`` and the ganprobe cache-format version.

Generator callables and DataLoaders are not cached (their content is unknown until they run).

An entry file is named ``<digest of the key without its layers>-<digest of the layers>.pt``. A lookup that finds no
entry with exactly the requested layers finds the input's other entries by that prefix, and one holding a superset
of the layers (the smallest) serves it: just the requested layers are returned, and the whole entry is verified as
any other. So evaluating fewer metrics after a full run does not extract again; a run that needs a layer no entry
holds extracts all its layers and stores an entry of its own.

An entry also records the files skipped as undecodable (a non-strict run), so a cache hit reports them again and a
strict run refuses it. While a folder is extracted, each finished batch is stored as a *part* entry (the entry's key
plus the batch size and batch index); a run interrupted with Ctrl-C resumes from its parts, and the full entry
replaces them when the extraction completes.
Entries are ``torch.save`` files read back with ``weights_only=True`` (no code is ever unpickled). Writes are
atomic (temporary file in the same folder, then rename), so concurrent runs never see half a file; a truncated,
corrupt or mismatched entry is detected, reported with a warning, and recomputed -- never silently used.

The folder is trusted like code (:mod:`ganprobe.utils.cache_files`): a folder that another user could write (it, or a
folder above it, is owned by another user, or group- or world-writable without the sticky bit) is not used at all,
with one warning; an entry owned by another user or writable by others is ignored with one warning and recomputed.
A name that holds a symbolic link, FIFO, folder or device is never opened, followed or replaced: one warning, the
features are recomputed, and that entry is not stored in this run.

``torch.load`` does not check the zip CRC of tensor data, so every entry also records, per layer, the SHA-256 of
the tensor's bytes with its shape and dtype, and the row count. On load these are verified, the row count is
checked against what the key promises (the folder's file count less the skipped files, or ``num_samples``), and the
features must be finite; any failure is a :class:`FeatureCacheWarning` naming the entry file and how to clear the
cache, and the features are recomputed (and the entry rewritten).

A write that fails (a full disk) is warned about once; the entry's part files are deleted (so a full disk does not
stay full) and no further writes are tried for that entry in this run.
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

from ganprobe.data.listing import list_folder
from ganprobe.data.sources import ImageSource
from ganprobe.errors import FeatureCacheWarning
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.weights import cache_dir
from ganprobe.utils.cache_files import RefusedEntry, open_entry, trusted_folder, write_entry
from ganprobe.utils.safe_text import quote_path

# 2: entries carry per-layer SHA-256 checksums and a row count; 3: entry files are named by the key without its
# layers plus the layers, so the entries of one input with other layer sets are found by name.
CACHE_FORMAT_VERSION = 3


def _tensor_digest(tensor: Tensor) -> str:
    data = tensor.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{tuple(data.shape)}|{data.dtype}".encode())
    digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


def source_fingerprint(source: ImageSource, content_hash: bool = False) -> dict[str, Any] | None:
    """Describe ``source`` for a cache key, or return ``None`` when it cannot be cached (generators, loaders).

    Args:
        source: a folder path or :class:`~ganprobe.data.listing.FolderListing` (whose fingerprint is computed once
            and kept), or a tensor; other sources return ``None``.
        content_hash: hash every file's bytes instead of trusting sizes and modification times.
    """
    if isinstance(source, (str, os.PathLike)):
        return list_folder(source).fingerprint(content_hash)
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
        "execution": extractor.execution,
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
        self._failed: set[str] = set()  # entries (file stems) whose writes failed in this run: not retried
        self._trusted: bool | None = None  # whether only this user can write the folder (judged on first use)
        self.hits = 0  # full entries served by load_entry() (how a caller tells a hit from an extraction)

    def path_for(self, key: Mapping[str, Any]) -> Path:
        """The entry file of ``key``: ``<digest of the key without layers>-<digest of the layers>.pt``."""
        layers = hashlib.sha256(json.dumps(sorted(key["layers"])).encode()).hexdigest()[:12]
        return self.directory / f"{_input_stem(key)}-{layers}.pt"

    def part_path(self, key: Mapping[str, Any], batch_size: int, index: int) -> Path:
        """The file of part ``index`` (batch ``index`` at ``batch_size``) of an unfinished extraction of ``key``."""
        return self.path_for(key).with_name(f"{self.path_for(key).stem}.part-{batch_size}-{index}.pt")

    def load(self, key: Mapping[str, Any]) -> dict[str, Tensor] | None:
        """Return the cached ``{layer: features}`` for ``key``, or ``None`` on a miss (missing, corrupt, mismatched)."""
        entry = self.load_entry(key)
        return None if entry is None else entry[0]

    def load_entry(self, key: Mapping[str, Any]) -> tuple[dict[str, Tensor], list[tuple[str, str]]] | None:
        """Return ``({layer: features}, skipped (file, reason) pairs)`` for ``key``, or ``None`` on a miss.

        When no entry has exactly ``key``'s layers, an entry with the same key but more layers serves it (just
        the requested layers are returned; the whole entry is verified as usual).
        """
        if not self.enabled or not self._usable():
            return None
        entry = self._read(self.path_for(key), key)
        if entry is None:
            entry = self._read_superset(key)
        if entry is None:
            return None
        self.hits += 1
        return entry["features"], entry["skipped"]

    def _read_superset(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """The entry of ``key``'s input holding the fewest layers that include ``key``'s, cut to those layers."""
        wanted, exact = set(key["layers"]), self.path_for(key)
        candidates = []
        for path in self.directory.glob(f"{_input_stem(key)}-*.pt"):
            if ".part-" in path.name or path == exact:
                continue
            layers = self._stored_layers(path)
            if layers is not None and wanted < set(layers):
                candidates.append((len(layers), path.name, path, layers))
        for _, _, path, layers in sorted(candidates):
            entry = self._read(path, {**key, "layers": sorted(layers)})
            if entry is not None:
                entry["features"] = {layer: entry["features"][layer] for layer in key["layers"]}
                return entry
        return None

    def _stored_layers(self, path: Path) -> list[str] | None:
        """The layers an entry file says it holds, read without reading its tensors (memory-mapped, never copied)."""
        try:
            handle = open_entry(path)
            if handle is None:  # removed by another process since the glob
                return None
            with handle:
                entry = _load_mapped(handle)
            layers = json.loads(entry["key"])["layers"]
            if not isinstance(layers, list) or not all(isinstance(layer, str) for layer in layers):
                raise TypeError("layers")
        except RefusedEntry as refusal:
            self._warn(path, f"feature-cache entry {refusal}; ignored")
            return None
        except FileNotFoundError:  # removed by another process since the glob
            return None
        except Exception as exc:  # noqa: BLE001 - truncated zip, wrong layout, bad JSON: a miss, never a crash
            self._warn(path, f"unreadable feature-cache entry ({type(exc).__name__})")
            return None
        return layers

    def load_part(self, key: Mapping[str, Any], batch_size: int, index: int) -> dict[str, Any] | None:
        """Part ``index`` of an unfinished extraction: ``{"features", "skipped", "next_index"}``, or ``None``."""
        if not self.enabled or not self._usable():
            return None
        return self._read(self.part_path(key, batch_size, index), self._part_key(key, batch_size, index))

    def store(
        self, key: Mapping[str, Any], features: Mapping[str, Tensor], skipped: Sequence[tuple[str, str]] = ()
    ) -> Path | None:
        """Write an entry atomically; returns its path (``None`` when disabled or when the write failed: a cache
        that cannot be written is reported with a warning, and the extracted features are still returned).

        Args:
            key: from :func:`cache_key`.
            features: ``{layer: (N, D)}``.
            skipped: ``(file, reason)`` of every file skipped while extracting them.
        """
        if not self.enabled or not self._usable():
            return None
        return self._write(self.path_for(key), key, features, skipped, None, key)

    def store_part(
        self,
        key: Mapping[str, Any],
        batch_size: int,
        index: int,
        features: Mapping[str, Tensor],
        skipped: Sequence[tuple[str, str]],
        next_index: int,
    ) -> Path | None:
        """Write part ``index`` of an unfinished extraction atomically (see :meth:`store`)."""
        if not self.enabled or not self._usable():
            return None
        path = self.part_path(key, batch_size, index)
        return self._write(path, self._part_key(key, batch_size, index), features, skipped, next_index, key)

    def remove_parts(self, key: Mapping[str, Any]) -> None:
        """Delete every part of ``key`` (at any batch size), once its full entry is stored (or cannot be)."""
        if not self._usable():
            return
        for path in self.directory.glob(f"{self.path_for(key).stem}.part-*.pt"):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass  # another process's clean-up, or a read-only cache: nothing to free here

    @staticmethod
    def _part_key(key: Mapping[str, Any], batch_size: int, index: int) -> dict[str, Any]:
        return {**key, "part": {"batch_size": batch_size, "index": index}}

    def _warn(self, path: Path, problem: str) -> None:
        warnings.warn(
            FeatureCacheWarning(
                f"{quote_path(path)}: {problem}; recomputing (delete that file, or the cache folder "
                f"{quote_path(self.directory)}, to clear the cache; --no-cache runs without it)"
            ),
            stacklevel=4,
        )

    def _usable(self) -> bool:
        """Whether only this user (or root) can write the folder; warns once when another user could."""
        if self._trusted is None:
            self._trusted = trusted_folder(
                self.directory,
                "feature-cache entries",
                "the feature cache is not used (choose a folder only you can write with --cache-dir or "
                "GANPROBE_CACHE_DIR, or run with --no-cache)",
            )
        return self._trusted

    def _read(self, path: Path, key: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            handle = open_entry(path)
        except RefusedEntry as refusal:
            self._failed.add(path.name.split(".part-")[0].removesuffix(".pt"))  # its entry: not written either
            self._warn(path, f"feature-cache entry {refusal}; ignored and not replaced")
            return None
        except OSError as exc:
            self._warn(path, f"unreadable feature-cache entry ({exc.strerror or type(exc).__name__})")
            return None
        if handle is None:
            return None
        try:
            with handle:
                entry = torch.load(handle, map_location="cpu", weights_only=True)
            stored_key = json.loads(entry["key"])
            features = entry["features"]
            skipped = [(str(file), str(reason)) for file, reason in json.loads(entry.get("skipped", "[]"))]
            next_index = entry.get("next_index")
            valid = (
                stored_key == json.loads(json.dumps(key))
                and isinstance(features, dict)
                and all(isinstance(value, Tensor) for value in features.values())
                and set(features) == set(key["layers"])
                and len({value.shape[0] for value in features.values()}) == 1
                and (next_index is None or isinstance(next_index, int))
            )
        except Exception as exc:  # noqa: BLE001 - truncated zip, wrong layout, bad JSON: a miss, never a crash
            self._warn(path, f"unreadable feature-cache entry ({type(exc).__name__})")
            return None
        if not valid:
            self._warn(path, "feature-cache entry does not match its key")
            return None
        problem = _integrity_problem(entry, features, skipped, key)
        if problem is not None:
            self._warn(path, f"corrupt feature-cache entry ({problem})")
            return None
        return {"features": features, "skipped": skipped, "next_index": next_index}

    def _write(
        self,
        path: Path,
        key: Mapping[str, Any],
        features: Mapping[str, Tensor],
        skipped: Sequence[tuple[str, str]],
        next_index: int | None,
        entry_key: Mapping[str, Any],
    ) -> Path | None:
        stem = self.path_for(entry_key).stem
        if stem in self._failed:
            return None
        tensors = {layer: value.detach().cpu().contiguous() for layer, value in features.items()}
        payload: dict[str, Any] = {
            "key": json.dumps(key, sort_keys=True),
            "features": tensors,
            "skipped": json.dumps([list(pair) for pair in skipped]),
            "checksums": json.dumps(_checksums(tensors), sort_keys=True),
        }
        if next_index is not None:
            payload["next_index"] = next_index
        try:
            return write_entry(path, lambda handle: torch.save(payload, handle))
        except RefusedEntry as refusal:
            self._failed.add(stem)
            self._warn(path, f"feature-cache entry {refusal}; not replaced")
            return None
        except Exception as exc:  # noqa: BLE001 - a full disk (OSError, or torch's RuntimeError), no permission
            self._failed.add(stem)
            self.remove_parts(entry_key)  # what a full disk left behind would keep it full
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _first_line(exc)
            warnings.warn(
                FeatureCacheWarning(
                    f"{quote_path(self.directory)}: cannot write the feature cache ({reason}); continuing without "
                    "it for this input (its partial files are deleted)"
                ),
                stacklevel=3,
            )
            return None


def _load_mapped(handle: Any) -> Any:
    """``torch.load`` an open entry with its tensors memory-mapped, not read: through its descriptor's ``/proc`` path
    on Linux (the file that was checked, not whatever the name holds by now); elsewhere read from the file object."""
    path = f"/proc/self/fd/{handle.fileno()}"
    if os.path.exists(path):
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return torch.load(handle, map_location="cpu", weights_only=True)


def _input_stem(key: Mapping[str, Any]) -> str:
    """The digest of everything in ``key`` but its layers: the shared name prefix of one input's entries."""
    rest = {name: value for name, value in key.items() if name != "layers"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:24]


def _checksums(features: Mapping[str, Tensor]) -> dict[str, Any]:
    """What an entry promises: its row count and, per layer, shape, dtype and the SHA-256 of the tensor's bytes."""
    rows = {int(value.shape[0]) for value in features.values() if value.ndim}
    return {
        "rows": rows.pop() if len(rows) == 1 else None,
        "layers": {
            layer: {"shape": list(value.shape), "dtype": str(value.dtype), "sha256": _tensor_digest(value)}
            for layer, value in features.items()
        },
    }


def _expected_rows(key: Mapping[str, Any], skipped: Sequence[tuple[str, str]]) -> int | None:
    """How many rows a full entry of ``key`` must hold (``None`` for a part entry or an unknown source count)."""
    if "part" in key:
        return None
    count = key.get("source", {}).get("count")
    if not isinstance(count, int):
        return None
    rows = count - len(skipped)
    num_samples = key.get("num_samples")
    return min(rows, num_samples) if isinstance(num_samples, int) else rows


def _integrity_problem(
    entry: Mapping[str, Any], features: Mapping[str, Tensor], skipped: Sequence[tuple[str, str]], key: Mapping[str, Any]
) -> str | None:
    """Why an entry's features cannot be trusted (checksum, shapes, rows, non-finite values), or ``None``."""
    promised = json.loads(entry.get("checksums", "null") or "null")
    if not isinstance(promised, dict) or not isinstance(promised.get("layers"), dict):
        return "no checksums"
    actual = _checksums(features)
    for layer, value in features.items():
        want = promised["layers"].get(layer)
        have = actual["layers"][layer]
        if not isinstance(want, dict) or want.get("shape") != have["shape"] or want.get("dtype") != have["dtype"]:
            return f"layer {layer!r} has shape {have['shape']} {have['dtype']}, not the recorded one"
        if want.get("sha256") != have["sha256"]:
            return f"SHA-256 checksum mismatch in layer {layer!r}: the stored tensor was altered"
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return f"layer {layer!r} contains NaN or infinite values"
    if promised.get("rows") != actual["rows"]:
        return f"{actual['rows']} rows, but {promised.get('rows')} recorded"
    expected = _expected_rows(key, skipped)
    if expected is not None and actual["rows"] != expected:
        return f"{actual['rows']} rows, but its input has {expected}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
