"""Tensors of a TorchScript archive (``torch.jit.save``), read without running or trusting anything in it.

OpenAI publishes its CLIP checkpoints (``ViT-L-14-336px.pt``, pinned by the SHA-256 in its URL) as TorchScript
archives. ``torch.load(..., weights_only=True)`` refuses those, and ``torch.jit.load`` compiles the archive's code.
:func:`load_script_archive` needs neither: it reads the archive's ``data.pkl`` with a bounded pickle reader
(:mod:`ganprobe.extractors.script_pickle`) that resolves only the handful of names a module's state uses and builds
inert values; any other global, such as a function to call, is refused before anything runs. The tensors are
returned as a flat state dict named as ``module.state_dict()`` names them.

Bounds (each refusal is one :class:`~ganprobe.errors.WeightsFormatError` line): one TorchScript folder per zip, found
in one pass over the names; ``data.pkl`` at most :data:`MAX_PICKLE_BYTES`; module trees at most
:data:`MAX_MODULE_DEPTH` deep; each storage inflated only as far as the tensors that view it reach (never its whole
zip entry), and all of them together at most :data:`MAX_INFLATION` times the archive's size on disk (TorchScript
stores storages uncompressed, so a genuine archive needs at most 1x).
"""

from __future__ import annotations

import os
import pickle
import zipfile
import zlib
from typing import Any

import torch
from torch import Tensor

from ganprobe.errors import WeightsFormatError
from ganprobe.extractors.script_pickle import ScriptObject, StorageRef, TensorRef, read_pickle

__all__ = ["MAX_INFLATION", "MAX_MODULE_DEPTH", "MAX_PICKLE_BYTES", "is_script_archive", "load_script_archive"]

MAX_PICKLE_BYTES = 4 << 20  # a CLIP-like tree of 446 tensors writes 33 KB; 4 MiB costs at most ~300 MB to read
MAX_MODULE_DEPTH = 64
MAX_INFLATION = 4
_CHUNK_BYTES = 16 << 20


def _script_folders(archive: zipfile.ZipFile) -> list[str]:
    """The top-level folders holding ``data.pkl``, ``constants.pkl`` and ``code/`` (a TorchScript archive's marks)."""
    marks: dict[str, set[str]] = {"data.pkl": set(), "constants.pkl": set(), "code/": set()}
    for name in archive.namelist():
        folder, slash, rest = name.partition("/")
        if slash:
            mark = "code/" if rest.startswith("code/") else rest
            if mark in marks:
                marks[mark].add(folder)
    return sorted(marks["data.pkl"] & marks["constants.pkl"] & marks["code/"])


def is_script_archive(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``) rather than a ``torch.save`` file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(_script_folders(archive))
    except (OSError, zipfile.BadZipFile):
        return False


def _read_entry(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """At most ``limit`` bytes of the entry ``name``, refusing a longer one before inflating it."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise pickle.UnpicklingError(f"{name} holds {info.file_size} bytes (at most {limit})")
    with archive.open(info) as entry:
        return entry.read(limit)


def _module_tensors(root: Any) -> dict[str, TensorRef]:
    """The tensors of the module tree under ``root`` by dotted name (depth-first, each shared submodule once)."""
    out: dict[str, TensorRef] = {}
    seen = {id(root)}
    frames = [("", iter(_attributes(root)))]
    while frames:
        prefix, attributes = frames[-1]
        for name, value in attributes:
            if isinstance(value, TensorRef):
                out[prefix + name] = value
            elif isinstance(value, ScriptObject) and id(value) not in seen:
                if len(frames) >= MAX_MODULE_DEPTH:
                    raise pickle.UnpicklingError(f"modules nested deeper than {MAX_MODULE_DEPTH}")
                seen.add(id(value))
                frames.append((f"{prefix}{name}.", iter(_attributes(value))))
                break
        else:
            frames.pop()
    return out


def _attributes(node: Any) -> list[tuple[str, Any]]:
    state = node.state if isinstance(node, ScriptObject) else None
    return [(name, value) for name, value in state.items() if isinstance(name, str)] if isinstance(state, dict) else []


def _read_storage(archive: zipfile.ZipFile, name: str, storage: StorageRef, nbytes: int) -> Tensor:
    """The first ``nbytes`` of the storage's entry (all that its tensors reach), as a flat tensor of its dtype."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise pickle.UnpicklingError(f"storage {storage.key!r} is missing from the archive") from None
    declared = storage.numel * torch.empty((), dtype=storage.dtype).element_size()
    if info.file_size < declared:
        raise pickle.UnpicklingError(f"storage {storage.key!r} holds {info.file_size} bytes, {declared} expected")
    flat = torch.empty(nbytes, dtype=torch.uint8)
    view = memoryview(flat.numpy())
    with archive.open(info) as entry:
        done = 0
        while done < nbytes:
            chunk = entry.read(min(_CHUNK_BYTES, nbytes - done))
            if not chunk:
                raise pickle.UnpicklingError(f"storage {storage.key!r} ends before its zip entry's declared size")
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
    return flat.view(storage.dtype)


def _materialise(archive: zipfile.ZipFile, folder: str, tensors: dict[str, TensorRef], disk: int) -> dict[str, Tensor]:
    """Read each storage as far as its tensors reach, after checking the sum against the archive's size on disk."""
    reach: dict[str, int] = {}
    storages: dict[str, StorageRef] = {}
    for tensor in tensors.values():
        key = tensor.storage.key
        storages[key] = tensor.storage
        reach[key] = max(reach.get(key, 0), tensor.elements_needed)
    itemsize = {key: torch.empty((), dtype=storage.dtype).element_size() for key, storage in storages.items()}
    total = sum(reach[key] * itemsize[key] for key in reach)
    if total > MAX_INFLATION * disk:
        raise pickle.UnpicklingError(
            f"its tensors need {total} bytes, more than {MAX_INFLATION}x the archive's {disk} bytes on disk"
            " (TorchScript stores tensors uncompressed)"
        )
    flat = {
        key: _read_storage(archive, f"{folder}/data/{key}", storages[key], reach[key] * itemsize[key])
        for key in sorted(storages, key=lambda key: (len(key), key))
    }
    return {
        name: flat[tensor.storage.key].as_strided(tensor.size, tensor.stride, tensor.offset)
        for name, tensor in tensors.items()
    }


def _load(archive: zipfile.ZipFile, path: str | os.PathLike[str]) -> dict[str, Tensor]:
    folders = _script_folders(archive)
    if not folders:
        raise WeightsFormatError(f"{path}: not a TorchScript archive (no data.pkl, constants.pkl and code/)")
    if len(folders) > 1:
        raise WeightsFormatError(
            f"{path}: holds {len(folders)} TorchScript folders ({', '.join(folders[:3])}...); a TorchScript archive"
            " has one"
        )
    folder = folders[0]
    if f"{folder}/byteorder" in archive.NameToInfo:
        if _read_entry(archive, f"{folder}/byteorder", 16).strip() not in (b"", b"little"):
            raise WeightsFormatError(f"{path}: a big-endian TorchScript archive; only little-endian is read")
    root = read_pickle(_read_entry(archive, f"{folder}/data.pkl", MAX_PICKLE_BYTES))
    tensors = _module_tensors(root)
    if not tensors:
        raise WeightsFormatError(f"{path}: the TorchScript archive holds no tensors")
    return _materialise(archive, folder, tensors, os.stat(path).st_size)


def load_script_archive(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """The tensors of the TorchScript archive at ``path``, as a flat state dict, without executing its contents.

    Args:
        path: a file written by ``torch.jit.save`` (e.g. OpenAI's CLIP checkpoints).

    Returns:
        Every tensor attribute of the scripted module tree (parameters and buffers, and tensor attributes that are
        neither), keyed by their dotted paths, in the dtype stored (fp16 for OpenAI's CLIP), on the CPU. Tensors
        that share a storage in the archive share it here.

    Raises:
        WeightsFormatError: not a TorchScript archive, a damaged one, one outside the reader's bounds (see the
            module docstring), or one whose state names any Python object beyond tensors, storages, ordered dicts
            and lists (one line naming the file and what is wrong).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return _load(archive, path)
    except WeightsFormatError:
        raise
    except (
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        TypeError,
        RuntimeError,
    ) as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise WeightsFormatError(
            f"{path}: not a plain TorchScript weights archive ({detail}); ganprobe reads only tensors from it"
        ) from None
