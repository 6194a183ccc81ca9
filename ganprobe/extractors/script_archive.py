"""Tensors of a TorchScript archive (``torch.jit.save``), read without running or trusting anything in it.

OpenAI publishes its CLIP checkpoints (``ViT-L-14-336px.pt``, pinned by the SHA-256 in its URL) as TorchScript
archives. ``torch.load(..., weights_only=True)`` refuses those, and ``torch.jit.load`` compiles the archive's code.
:func:`load_script_archive` needs neither: it reads the archive's ``data.pkl`` with an unpickler that resolves
only the handful of names a module's state uses (tensor rebuild, storage types, ``OrderedDict``, TorchScript's
list builders) and turns every ``__torch__`` class into an inert attribute holder. Any other global, such as a
function to call, is refused before anything runs, as the weights-only unpickler would refuse it. The tensors are
returned as a flat state dict named as ``module.state_dict()`` names them.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor

from ganprobe.errors import WeightsFormatError

__all__ = ["is_script_archive", "load_script_archive"]

_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}
_LIST_BUILDERS = {"build_intlist", "build_doublelist", "build_boollist", "build_tensorlist", "build_genericlist"}


class _ScriptObject:
    """Stands in for any ``__torch__`` class (a scripted module): holds the attributes the archive sets."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _rebuild_tensor(storage: Tensor, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any) -> Tensor:
    if offset < 0 or min((*size, *stride), default=0) < 0:
        raise pickle.UnpicklingError(f"a tensor with a negative offset, size or stride {tuple(size)}")
    reach = sum((extent - 1) * step for extent, step in zip(size, stride, strict=True))
    needed = offset + reach + 1 if all(size) else 0
    if needed > storage.numel():
        raise pickle.UnpicklingError(f"a tensor of size {tuple(size)} reaches past its storage of {storage.numel()}")
    return storage.as_strided(tuple(size), tuple(stride), offset)


def _restore_type_tag(value: Any, _tag: str) -> Any:
    return value


class _ArchiveUnpickler(pickle.Unpickler):
    def __init__(self, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(archive.open(f"{prefix}data.pkl"))
        self.archive, self.prefix = archive, prefix
        self.storages: dict[str, Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "__torch__" or module.startswith("__torch__."):
            return _ScriptObject
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch.jit._pickle" and name in _LIST_BUILDERS:
            return list
        if (module, name) == ("torch.jit._pickle", "restore_type_tag"):
            return _restore_type_tag
        raise pickle.UnpicklingError(f"it names the Python object {module}.{name}")

    def persistent_load(self, pid: Any) -> Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {str(pid)[:80]}")
        _, kind, key, _location, numel = pid
        if not isinstance(kind, _StorageType) or not isinstance(key, str) or not isinstance(numel, int):
            raise pickle.UnpicklingError(f"malformed storage record {str(pid)[:80]}")
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}data/{key}")
            except KeyError:
                raise pickle.UnpicklingError(f"storage {key!r} is missing from the archive") from None
            itemsize = torch.empty((), dtype=kind.dtype).element_size()
            if len(raw) < numel * itemsize:
                raise pickle.UnpicklingError(f"storage {key!r} holds {len(raw)} bytes, {numel * itemsize} expected")
            flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
            self.storages[key] = flat[: numel * itemsize].view(kind.dtype)
        storage = self.storages[key]
        if storage.dtype != kind.dtype:
            raise pickle.UnpicklingError(f"storage {key!r} is read as two different types")
        return storage


def _archive_prefix(archive: zipfile.ZipFile) -> str | None:
    """The folder holding ``data.pkl``, ``constants.pkl`` and ``code/`` (a TorchScript archive's marks), or None."""
    names = set(archive.namelist())
    for name in names:
        if name.endswith("data.pkl") and name.count("/") == 1:
            prefix = name[: -len("data.pkl")]
            if f"{prefix}constants.pkl" in names and any(other.startswith(f"{prefix}code/") for other in names):
                return prefix
    return None


def is_script_archive(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``) rather than a ``torch.save`` file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _archive_prefix(archive) is not None
    except (OSError, zipfile.BadZipFile):
        return False


def _flatten(node: Any, prefix: str, out: dict[str, Tensor], seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    state = node.state if isinstance(node, _ScriptObject) else None
    if not isinstance(state, dict):
        return
    for name, value in state.items():
        if not isinstance(name, str):
            continue
        if isinstance(value, Tensor):
            out[prefix + name] = value
        elif isinstance(value, _ScriptObject):
            _flatten(value, f"{prefix}{name}.", out, seen)


def load_script_archive(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """The tensors of the TorchScript archive at ``path``, as a flat state dict, without executing its contents.

    Args:
        path: a file written by ``torch.jit.save`` (e.g. OpenAI's CLIP checkpoints).

    Returns:
        Every tensor attribute of the scripted module tree (parameters and buffers, and tensor attributes that are
        neither), keyed by their dotted paths, in the dtype stored (fp16 for OpenAI's CLIP), on the CPU.

    Raises:
        WeightsFormatError: not a TorchScript archive, a damaged one, or one whose state names any Python object
            beyond tensors, storages, ordered dicts and lists (one line naming the file and the object).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            prefix = _archive_prefix(archive)
            if prefix is None:
                raise WeightsFormatError(f"{path}: not a TorchScript archive (no data.pkl, constants.pkl and code/)")
            byteorder = f"{prefix}byteorder"
            if byteorder in archive.namelist() and archive.read(byteorder).strip() not in (b"", b"little"):
                raise WeightsFormatError(f"{path}: a big-endian TorchScript archive; only little-endian is read")
            root = _ArchiveUnpickler(archive, prefix).load()
    except WeightsFormatError:
        raise
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError, ValueError, TypeError, RuntimeError) as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise WeightsFormatError(
            f"{path}: not a plain TorchScript weights archive ({detail}); ganprobe reads only tensors from it"
        ) from None
    state: dict[str, Tensor] = {}
    _flatten(root, "", state, set())
    if not state:
        raise WeightsFormatError(f"{path}: the TorchScript archive holds no tensors")
    return state
