"""The pickle reader behind :mod:`ganprobe.extractors.script_archive`: a bounded interpreter for TorchScript's data.pkl.

It reads the opcodes ``torch.jit.save`` writes (pickle protocol 2) and nothing else, and builds only inert values:
numbers, strings, tuples, and the lists, dicts and module holders it creates itself. A global resolves to a marker
among a handful (tensor rebuild, storage types, ``OrderedDict``, TorchScript's list builders and type tags, and any
``__torch__`` class, which becomes a :class:`ScriptObject`); any other global is refused before anything runs. No
Python object of the running process is ever returned, called with pickled arguments, or given pickled state: BUILD
acts only on a holder the reader made, SETITEM(S) and APPEND(S) only on its own dicts and lists. Tensors stay
:class:`TensorRef` records (storage key, offset, size, stride) until the archive reader has checked what they need.

Bounds, each refused with a one-line :class:`pickle.UnpicklingError`: integers at most 8 bytes wide (torch writes
LONG1 of 8 bytes at most), memo indices below the pickle's length (torch numbers them from 0, one per PUT), dict keys
of plain types (no deep tuple is ever hashed), tensors of at most 64 dimensions that stay inside their storage's
declared elements, and one dtype and size per storage key. Nothing is formatted from the pickle's values beyond
short strings and integers, so shared references (a DAG) are never expanded. Nesting costs nothing here: the reader
is a loop; the archive reader bounds the module depth it walks.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Callable
from pickle import UnpicklingError
from typing import Any

import torch

__all__ = ["MAX_INT_BYTES", "MAX_TENSOR_DIMS", "ScriptObject", "StorageRef", "TensorRef", "read_pickle"]

MAX_INT_BYTES = 8
MAX_TENSOR_DIMS = 64
_MAX_NAME_CHARS = 256
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
_KEY_TYPES = (str, int, float, bool, type(None))


class ScriptObject:
    """Stands in for an instance of any ``__torch__`` class (a scripted module): holds the state BUILD gives it."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: Any = None


class StorageRef:
    """A storage the pickle names: its key under ``data/``, its dtype and its declared element count."""

    __slots__ = ("dtype", "key", "numel")

    def __init__(self, key: str, dtype: torch.dtype, numel: int) -> None:
        self.key, self.dtype, self.numel = key, dtype, numel


class TensorRef:
    """A tensor the pickle rebuilds: a strided view of a storage, checked to stay within its declared elements."""

    __slots__ = ("offset", "size", "storage", "stride")

    def __init__(self, storage: StorageRef, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    @property
    def elements_needed(self) -> int:
        """How many elements of its storage the view reaches (0 for an empty tensor)."""
        if not all(self.size):
            return 0
        return self.offset + sum((extent - 1) * step for extent, step in zip(self.size, self.stride, strict=True)) + 1


class _Global:
    """What a GLOBAL resolves to: a marker the reader interprets, never a Python object of the process."""

    __slots__ = ("dtype", "kind", "name")

    def __init__(self, kind: str, name: str, dtype: torch.dtype | None = None) -> None:
        self.kind, self.name, self.dtype = kind, name, dtype


def _resolve(module: str, name: str) -> _Global:
    qualified = f"{module}.{name}"
    if module == "__torch__" or module.startswith("__torch__."):
        return _Global("object", qualified)
    if module == "torch" and name in _STORAGE_DTYPES:
        return _Global("storage", qualified, _STORAGE_DTYPES[name])
    if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
        return _Global("rebuild", qualified)
    if (module, name) == ("collections", "OrderedDict"):
        return _Global("ordered_dict", qualified)
    if module == "torch.jit._pickle" and name in _LIST_BUILDERS:
        return _Global("list", qualified)
    if (module, name) == ("torch.jit._pickle", "restore_type_tag"):
        return _Global("type_tag", qualified)
    raise UnpicklingError(f"it names the Python object {qualified[:_MAX_NAME_CHARS]}")


def _what(value: Any) -> str:
    """A short description of ``value`` for a message: never its repr (which could be exponentially long)."""
    return f"the global {value.name}" if isinstance(value, _Global) else f"a {type(value).__name__}"


def _refuse_foreign(opcode: str, target: Any) -> UnpicklingError:
    return UnpicklingError(f"{opcode} applied to {_what(target)}, an object the reader did not create")


def _rebuild_tensor(args: tuple[Any, ...]) -> TensorRef:
    if not 4 <= len(args) <= 7:  # storage, offset, size, stride[, requires_grad, hooks[, metadata]]: all but 4 unused
        raise UnpicklingError(f"a tensor rebuilt from {len(args)} arguments (4 to 7 expected)")
    storage, offset, size, stride = args[:4]
    if not isinstance(storage, StorageRef):
        raise UnpicklingError(f"a tensor whose storage is {_what(storage)}")
    if not (isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list)) and len(size) == len(stride)):
        raise UnpicklingError("a tensor whose size and stride are not two sequences of one length")
    if len(size) > MAX_TENSOR_DIMS:
        raise UnpicklingError(f"a tensor of {len(size)} dimensions (at most {MAX_TENSOR_DIMS})")
    numbers = (offset, *size, *stride)
    if not all(type(number) is int for number in numbers):
        raise UnpicklingError("a tensor whose offset, size or stride is not an integer")
    if min(numbers) < 0:
        raise UnpicklingError(f"a tensor with a negative offset, size or stride {tuple(size)}")
    tensor = TensorRef(storage, offset, tuple(size), tuple(stride))
    if tensor.elements_needed > storage.numel:
        raise UnpicklingError(f"a tensor of size {tuple(size)} reaches past its storage of {storage.numel}")
    return tensor


def _call(function: Any, args: Any) -> Any:
    """REDUCE/NEWOBJ: the result of one of the markers applied to ``args``; nothing of the process is called."""
    if not isinstance(function, _Global) or not isinstance(args, tuple):
        raise UnpicklingError(f"a call of {_what(function)}; only the reader's own globals are applied")
    if function.kind == "rebuild":
        return _rebuild_tensor(args)
    if function.kind in ("object", "ordered_dict") and args == ():
        return ScriptObject() if function.kind == "object" else OrderedDict()
    if function.kind == "list" and len(args) == 1 and type(args[0]) is list:
        return args[0]
    if function.kind == "type_tag" and len(args) == 2 and isinstance(args[1], str):
        return args[0]
    raise UnpicklingError(f"a call of {_what(function)} with {len(args)} arguments that it does not take")


class _Reader:
    """One pass over a pickle: a stack machine with a memo, its opcodes in :data:`_OPCODES`."""

    def __init__(self, payload: bytes) -> None:
        self.payload, self.position = payload, 0
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.storages: dict[str, StorageRef] = {}

    def take(self, count: int) -> bytes:
        if count < 0 or self.position + count > len(self.payload):
            raise UnpicklingError("the pickle ends in the middle of an opcode")
        start, self.position = self.position, self.position + count
        return self.payload[start : self.position]

    def unpack(self, layout: str) -> Any:
        return struct.unpack(layout, self.take(struct.calcsize(layout)))[0]

    def line(self) -> str:
        end = self.payload.find(b"\n", self.position, self.position + _MAX_NAME_CHARS + 1)
        if end < 0:
            raise UnpicklingError(f"a GLOBAL name longer than {_MAX_NAME_CHARS} bytes or unterminated")
        text = self.take(end - self.position + 1)[:-1]
        try:
            return text.decode("ascii")
        except UnicodeDecodeError:
            raise UnpicklingError("a GLOBAL name that is not ASCII") from None

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise UnpicklingError("an opcode that needs a MARK without one")
        items, self.stack = self.stack, self.marks.pop()
        return items

    def pop(self) -> Any:
        if not self.stack:
            raise UnpicklingError("an opcode that needs a value on an empty stack")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise UnpicklingError("an opcode that needs a value on an empty stack")
        return self.stack[-1]

    def integer(self, width: int) -> int:
        if width > MAX_INT_BYTES:
            raise UnpicklingError(f"an integer {width} bytes wide (at most {MAX_INT_BYTES})")
        return int.from_bytes(self.take(width), "little", signed=True)

    def put(self, index: int) -> None:
        if index >= len(self.payload):
            raise UnpicklingError(f"memo index {index} beyond the {len(self.payload)}-byte pickle")
        self.memo[index] = self.top()

    def get(self, index: int) -> None:
        if index not in self.memo:
            raise UnpicklingError(f"a reference to memo entry {index}, which the pickle never stored")
        self.stack.append(self.memo[index])

    def string(self, width: str) -> str:
        return self.take(self.unpack(width)).decode("utf-8", "surrogatepass")

    def set_items(self, items: list[Any], target: Any = None) -> None:
        target = self.top() if target is None else target
        if type(target) not in (dict, OrderedDict):
            raise _refuse_foreign("SETITEM", target)
        if len(items) % 2:
            raise UnpicklingError("SETITEMS with a key and no value")
        for key, value in zip(items[::2], items[1::2], strict=True):
            if not isinstance(key, _KEY_TYPES):
                raise UnpicklingError(f"a dict key that is {_what(key)}")
            target[key] = value

    def dict_from_mark(self) -> None:
        items, target = self.pop_mark(), {}
        self.set_items(items, target)
        self.stack.append(target)

    def append(self, items: list[Any]) -> None:
        target = self.top()
        if type(target) is not list:
            raise _refuse_foreign("APPEND", target)
        target.extend(items)

    def build(self) -> None:
        state, target = self.pop(), self.top()
        if type(target) is not ScriptObject:
            raise _refuse_foreign("BUILD", target)
        target.state = state

    def call(self) -> None:
        args = self.pop()
        self.stack.append(_call(self.pop(), args))

    def tuple_of(self, count: int) -> None:
        items = [self.pop() for _ in range(count)]
        self.stack.append(tuple(reversed(items)))

    def mark(self) -> None:
        self.marks.append(self.stack)
        self.stack = []

    def persistent(self) -> None:
        record = self.pop()
        if not (type(record) is tuple and len(record) == 5 and record[0] == "storage"):
            raise UnpicklingError(f"a persistent id that is not a storage record ({_what(record)})")
        _, kind, key, _location, numel = record
        if not (isinstance(kind, _Global) and kind.dtype is not None and isinstance(key, str) and len(key) <= 64):
            raise UnpicklingError(f"a malformed storage record (type {_what(kind)}, key {_what(key)})")
        if type(numel) is not int or numel < 0:
            raise UnpicklingError(f"storage {key!r} declares {_what(numel)} elements")
        storage = self.storages.setdefault(key, StorageRef(key, kind.dtype, numel))
        if storage.dtype != kind.dtype or storage.numel != numel:
            raise UnpicklingError(f"storage {key!r} is read as two different types or sizes")
        self.stack.append(storage)

    def run(self) -> Any:
        while True:
            code = self.take(1)
            if code == b".":  # STOP
                return self.pop()
            handler = _OPCODES.get(code)
            if handler is None:
                raise UnpicklingError(f"opcode {code!r} at byte {self.position - 1}, which TorchScript does not write")
            handler(self)


def _push(value: Any) -> Callable[[_Reader], None]:
    return lambda reader: reader.stack.append(value)


def _push_read(read: Callable[[_Reader], Any]) -> Callable[[_Reader], None]:
    def push(reader: _Reader) -> None:
        value = read(reader)  # first: reading may close a MARK, which swaps ``reader.stack``
        reader.stack.append(value)

    return push


# The opcodes torch.jit.save writes (and the few more that Python's protocol 2 writes for the same values).
_OPCODES: dict[bytes, Callable[[_Reader], Any]] = {
    b"\x80": lambda r: r.take(1),  # PROTO
    b"(": _Reader.mark,  # MARK
    b"0": _Reader.pop,  # POP
    b"N": _push(None),  # NONE
    b"\x88": _push(True),  # NEWTRUE
    b"\x89": _push(False),  # NEWFALSE
    b"J": _push_read(lambda r: r.unpack("<i")),  # BININT
    b"K": _push_read(lambda r: r.unpack("<B")),  # BININT1
    b"M": _push_read(lambda r: r.unpack("<H")),  # BININT2
    b"\x8a": _push_read(lambda r: r.integer(r.unpack("<B"))),  # LONG1
    b"\x8b": _push_read(lambda r: r.integer(r.unpack("<i"))),  # LONG4
    b"G": _push_read(lambda r: r.unpack(">d")),  # BINFLOAT
    b"X": _push_read(lambda r: r.string("<I")),  # BINUNICODE
    b"\x8c": _push_read(lambda r: r.string("<B")),  # SHORT_BINUNICODE
    b"B": _push_read(lambda r: r.take(r.unpack("<I"))),  # BINBYTES
    b"C": _push_read(lambda r: r.take(r.unpack("<B"))),  # SHORT_BINBYTES
    b")": _push(()),  # EMPTY_TUPLE
    b"t": _push_read(lambda r: tuple(r.pop_mark())),  # TUPLE
    b"\x85": lambda r: r.tuple_of(1),  # TUPLE1
    b"\x86": lambda r: r.tuple_of(2),  # TUPLE2
    b"\x87": lambda r: r.tuple_of(3),  # TUPLE3
    b"]": _push_read(lambda r: []),  # EMPTY_LIST
    b"l": _push_read(_Reader.pop_mark),  # LIST
    b"a": lambda r: r.append([r.pop()]),  # APPEND
    b"e": lambda r: r.append(r.pop_mark()),  # APPENDS
    b"}": _push_read(lambda r: {}),  # EMPTY_DICT
    b"d": _Reader.dict_from_mark,  # DICT
    b"s": lambda r: r.set_items(list(reversed([r.pop(), r.pop()]))),  # SETITEM
    b"u": lambda r: r.set_items(r.pop_mark()),  # SETITEMS
    b"q": lambda r: r.put(r.unpack("<B")),  # BINPUT
    b"r": lambda r: r.put(r.unpack("<I")),  # LONG_BINPUT
    b"h": lambda r: r.get(r.unpack("<B")),  # BINGET
    b"j": lambda r: r.get(r.unpack("<I")),  # LONG_BINGET
    b"c": _push_read(lambda r: _resolve(r.line(), r.line())),  # GLOBAL
    b"R": _Reader.call,  # REDUCE
    b"\x81": _Reader.call,  # NEWOBJ
    b"b": _Reader.build,  # BUILD
    b"Q": _Reader.persistent,  # BINPERSID
}


def read_pickle(payload: bytes) -> Any:
    """The value the pickle ``payload`` (a TorchScript ``data.pkl``) describes, built from inert parts only.

    Args:
        payload: the pickle's bytes.

    Returns:
        The root value: for a module, a :class:`ScriptObject` whose ``state`` dict holds attributes, submodules
        (more ScriptObjects) and tensors (:class:`TensorRef`, not yet read from the archive).

    Raises:
        pickle.UnpicklingError: one line naming the first thing outside the bounds (see the module docstring).
    """
    return _Reader(payload).run()
