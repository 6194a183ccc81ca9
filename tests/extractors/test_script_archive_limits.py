"""The TorchScript reader's bounds (issue 22, items 13-14): crafted archives that once cost gigabytes, minutes or a
bare Python error are refused in one line, within a memory and CPU limit the loading subprocess runs under; and the
reader never applies pickled state to an object it did not create (a resolved global, a class)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

import ganprobe.extractors.script_archive as script_archive
from ganprobe.errors import WeightsFormatError
from ganprobe.extractors.script_archive import load_script_archive

MEMORY_BUDGET = 768 << 20  # bytes the load may add to the child's address space (after importing torch)
CPU_BUDGET = 20  # CPU seconds the load may take in the child
PICKLE_CAP = 4 << 20  # the reader's MAX_PICKLE_BYTES (written out, so that these tests also run on older readers)

_CHILD = r"""
import resource, sys
from ganprobe.errors import WeightsFormatError
from ganprobe.extractors.script_archive import is_script_archive, load_script_archive

memory, cpu, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
with open("/proc/self/status") as status:
    size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + memory, resource.RLIM_INFINITY))
used = resource.getrusage(resource.RUSAGE_SELF)
limit = int(used.ru_utime + used.ru_stime) + cpu
resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 5))
for path in paths:
    print("detected", is_script_archive(path), end=" ", flush=True)
    try:
        state = load_script_archive(path)
    except WeightsFormatError as exc:
        print("refused", exc, flush=True)
    else:
        print("loaded", {key: value.tolist() for key, value in state.items()} if len(state) < 4 else len(state))
"""


def _load_under_limits(*paths: Path) -> list[str]:
    """Detect and load each of ``paths`` in one subprocess that may add MEMORY_BUDGET bytes to its address space
    and spend CPU_BUDGET CPU seconds (for all of them); one line per path."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [str(MEMORY_BUDGET), str(CPU_BUDGET), *map(str, paths)]
    done = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, f"the load died (rc {done.returncode}): {done.stderr.strip()[-600:]}"
    assert "MemoryError" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-600:]
    lines = done.stdout.splitlines()
    assert len(lines) == len(paths), lines
    return lines


def _refused(line: str, fragment: str) -> None:
    assert line.startswith("detected True refused "), line
    assert fragment in line, line


# --- a tiny pickle assembler: the opcodes torch.jit.save writes, so each test can bend exactly one of them ---


def _int(value: int) -> bytes:
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw  # LONG1


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _storage(key: bytes, numel: bytes, kind: str = "FloatStorage") -> bytes:
    return _tuple([_str("storage"), _global("torch", kind), key, _str("cpu"), numel]) + b"Q"  # BINPERSID


def _tensor(storage: bytes, size: list[bytes], stride: list[bytes], offset: bytes = b"J\0\0\0\0") -> bytes:
    hooks = _global("collections", "OrderedDict") + b")R"
    args = [storage, offset, _tuple(size), _tuple(stride), b"\x89", hooks]
    return _global("torch._utils", "_rebuild_tensor_v2") + _tuple(args) + b"R"


def _module(entries: list[tuple[str, bytes]], name: str = "M") -> bytes:
    state = b"}(" + b"".join(_str(key) + value for key, value in entries) + b"u"  # EMPTY_DICT MARK ... SETITEMS
    return _global("__torch__", name) + b")\x81" + state + b"b"  # EMPTY_TUPLE NEWOBJ <state> BUILD


def _pickle(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def _weight(numel: int = 4, size: int = 4) -> bytes:
    return _tensor(_storage(_str("0"), _int(numel)), [_int(size)], [_int(1)])


def _archive(path: Path, payload: bytes, storages: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("archive/data.pkl", payload)
        out.writestr("archive/constants.pkl", b"\x80\x02).")
        out.writestr("archive/code/__torch__.py", "")
        for key, raw in (storages or {}).items():
            out.writestr(f"archive/data/{key}", raw)
    return path


FOUR_FLOATS = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)


def test_the_assembler_writes_what_the_reader_loads(tmp_path: Path) -> None:
    """The positive control: the hand-assembled archive loads, in-process and under the subprocess's limits."""
    path = _archive(tmp_path / "plain.pt", _pickle(_module([("w", _weight())])), {"0": FOUR_FLOATS})
    assert load_script_archive(path)["w"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert _load_under_limits(path) == ["detected True loaded {'w': [1.0, 2.0, 3.0, 4.0]}"]


def test_a_huge_memo_index_is_refused(tmp_path: Path) -> None:
    """LONG_BINPUT 0x0FFFFFFF in a 910-byte archive once grew the memo to gigabytes."""
    body = _global("__torch__", "M") + b")\x81" + b"r\xff\xff\xff\x0f" + b"}(" + _str("w") + _weight() + b"ub"
    path = _archive(tmp_path / "memo.pt", _pickle(body), {"0": FOUR_FLOATS})
    assert path.stat().st_size < 1024
    # beside it, the largest data.pkl admitted, made of the opcode that costs the most memory per byte (EMPTY_DICT)
    costly = _archive(tmp_path / "costly.pt", _pickle(b"}" * (PICKLE_CAP - 4)))
    memo_line, costly_line = _load_under_limits(path, costly)
    _refused(memo_line, "memo index 268435455")
    _refused(costly_line, "holds no tensors")
    # a reference to a memo entry never stored
    path = _archive(tmp_path / "get.pt", _pickle(_module([("w", b"h\x07")])), {"0": FOUR_FLOATS})
    with pytest.raises(WeightsFormatError, match="memo entry 7"):
        load_script_archive(path)


@pytest.fixture(scope="module")
def inflating(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A zip whose one storage entry inflates to 512 MiB of zeros from a few MB (compressed as zip allows)."""
    path, size = tmp_path_factory.mktemp("bomb") / "storage.zip", 512 << 20
    info = zipfile.ZipInfo("archive/data/0")
    info.compress_type, info._compresslevel = zipfile.ZIP_DEFLATED, 1  # type: ignore[attr-defined]
    with zipfile.ZipFile(path, "w") as out, out.open(info, "w") as entry:
        chunk = bytes(16 << 20)
        for _ in range(size // len(chunk)):
            entry.write(chunk)
    return path, size


def _with_storage_of(inflating: tuple[Path, int], path: Path, payload: bytes) -> Path:
    """A copy of the inflating zip (its entry still compressed) with ``payload`` as the archive's data.pkl."""
    shutil.copyfile(inflating[0], path)
    with zipfile.ZipFile(path, "a") as out:
        out.writestr("archive/data.pkl", payload)
        out.writestr("archive/constants.pkl", b"\x80\x02).")
        out.writestr("archive/code/__torch__.py", "")
    return path


def test_a_storage_is_inflated_only_as_far_as_its_tensors_need(inflating, tmp_path: Path) -> None:
    """A storage entry inflating to 512 MiB behind a 4-element tensor once peaked at 2-4x its size: now the reader
    inflates the 16 bytes the tensor needs; a tensor needing all of it is refused as needing far more bytes than the
    archive holds (TorchScript stores storages uncompressed)."""
    _, size = inflating
    small = _tensor(_storage(_str("0"), _int(size // 4)), [_int(4)], [_int(1)])
    small_path = _with_storage_of(inflating, tmp_path / "small.pt", _pickle(_module([("w", small)])))
    assert small_path.stat().st_size < size // 64
    whole = _tensor(_storage(_str("0"), _int(size // 4)), [_int(size // 4)], [_int(1)])
    whole_path = _with_storage_of(inflating, tmp_path / "whole.pt", _pickle(_module([("w", whole)])))
    small_line, whole_line = _load_under_limits(small_path, whole_path)
    assert small_line == "detected True loaded {'w': [0.0, 0.0, 0.0, 0.0]}"
    _refused(whole_line, f"need {size} bytes")


def test_repeated_references_are_refused_without_expanding_them(tmp_path: Path) -> None:
    """A storage key made of tuples of tuples of one string (a few KB, a DAG) once expanded into a MemoryError."""
    key = b"".join(
        [_str("k"), b"q\x00"]
        + [b"(" + (b"h" + bytes([level - 1])) * 2000 + b"tq" + bytes([level]) for level in range(1, 4)]
    )
    storage = _tuple([_str("storage"), _global("torch", "FloatStorage"), key, _str("cpu"), _int(4)]) + b"Q"
    tensor = _tensor(storage, [_int(4)], [_int(1)])
    path = _archive(tmp_path / "dag.pt", _pickle(_module([("w", tensor)])), {"0": FOUR_FLOATS})
    assert path.stat().st_size < 1 << 20
    [line] = _load_under_limits(path)
    _refused(line, "storage record")


def test_a_wide_integer_is_refused(tmp_path: Path) -> None:
    """A 32-Mbit integer in a tensor's size once took over a minute of arithmetic (here 16 Mbit, as wide as the
    size cap allows); integers wider than 64 bits (torch writes 8 bytes at most, LONG1) are refused as read."""
    width = PICKLE_CAP // 2  # 16 Mbit: as wide as the largest data.pkl admitted allows
    wide = b"\x8b" + struct.pack("<I", width) + b"\x01" * width + b"r\x00\x00\x01\x00"  # LONG4, LONG_BINPUT
    tensor = _tensor(_storage(_str("0"), _int(4)), [wide], [b"j\x00\x00\x01\x00"])  # stride: LONG_BINGET of it
    path = _archive(tmp_path / "wide.pt", _pickle(_module([("w", tensor)])), {"0": FOUR_FLOATS})
    [line] = _load_under_limits(path)
    _refused(line, f"an integer {width} bytes wide")
    nine = b"\x8a\x09" + b"\x01" * 9  # LONG1 of 9 bytes
    path = _archive(
        tmp_path / "nine.pt",
        _pickle(_module([("w", _tensor(_storage(_str("0"), nine), [_int(4)], [_int(1)]))])),
        {"0": FOUR_FLOATS},
    )
    with pytest.raises(WeightsFormatError, match="9 bytes wide"):
        load_script_archive(path)


def test_many_folders_are_refused_in_one_pass(tmp_path: Path) -> None:
    """20,000 ``pN/data.pkl`` folders once took minutes in ``is_script_archive`` (each checked against every
    name); several complete TorchScript folders in one zip are refused rather than one picked."""
    many, two = tmp_path / "folders.zip", tmp_path / "two.zip"
    with zipfile.ZipFile(many, "w") as out:
        for index in range(20_000):
            out.writestr(f"p{index}/data.pkl", b"")
            out.writestr(f"p{index}/constants.pkl", b"")
    with zipfile.ZipFile(two, "w") as out:
        for folder in ("p7", "p9"):
            for name in ("data.pkl", "constants.pkl", "code/__torch__.py"):
                out.writestr(f"{folder}/{name}", b"")
    many_line, two_line = _load_under_limits(many, two)
    assert many_line.startswith("detected False refused ") and "not a TorchScript archive" in many_line
    _refused(two_line, "2 TorchScript folders (p7, p9")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    """Modules nested 5,000 deep once raised a bare RecursionError."""
    depth = 5_000
    opening = b"".join(_global("__torch__", "M") + b")\x81}(" + _str("m") for _ in range(depth))
    payload = _pickle(opening + _module([("w", _weight())]) + b"ub" * depth)
    path = _archive(tmp_path / "deep.pt", payload, {"0": FOUR_FLOATS})
    with pytest.raises(WeightsFormatError, match="nested deeper than") as info:
        load_script_archive(path)
    assert "\n" not in str(info.value)
    # the nesting that a real module tree has still loads
    shallow = _archive(
        tmp_path / "shallow.pt",
        _pickle(opening[: len(opening) // depth * 20] + _module([("w", _weight())]) + b"ub" * 20),
        {"0": FOUR_FLOATS},
    )
    assert list(load_script_archive(shallow)) == ["m." * 20 + "w"]


def test_a_large_pickle_is_refused_before_it_is_read(tmp_path: Path) -> None:
    assert getattr(script_archive, "MAX_PICKLE_BYTES", None) == PICKLE_CAP
    path = _archive(tmp_path / "large.pt", _pickle(b"N0" * (PICKLE_CAP // 2)))
    with pytest.raises(WeightsFormatError, match=f"data.pkl holds {PICKLE_CAP + 3} bytes"):
        load_script_archive(path)


def test_a_storage_that_is_not_a_storage_is_refused(tmp_path: Path) -> None:
    """A str where the tensor's storage goes once raised a bare AttributeError."""
    path = _archive(tmp_path / "str.pt", _pickle(_module([("w", _tensor(_str("abc"), [_int(4)], [_int(1)]))])))
    with pytest.raises(WeightsFormatError, match="storage") as info:
        load_script_archive(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


# --- item 14: state is applied only to objects the reader created ---


def _snapshot() -> dict[str, object]:
    """Every attribute a BUILD could reach on the names the reader resolves, and on this module's own objects."""
    seen: dict[str, object] = {}
    targets = {
        "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
        "OrderedDict": OrderedDict,
        "list": list,
        "torch.FloatStorage": torch.FloatStorage,
    }
    readers = [module for name, module in sys.modules.items() if name.startswith("ganprobe.extractors.script_")]
    for module in readers:
        own = {
            name: value for name, value in vars(module).items() if getattr(value, "__module__", "") == module.__name__
        }
        targets.update({f"{module.__name__}.{name}": value for name, value in own.items()})
    for label, target in targets.items():
        for attribute in ("__name__", "__defaults__", "__kwdefaults__", "__dict__", "marker"):
            try:
                value = getattr(target, attribute)
            except AttributeError:
                continue
            seen[f"{label}.{attribute}"] = dict(value) if isinstance(value, dict) or attribute == "__dict__" else value
    return seen


_HIJACK = (
    b"(N}("
    + _str("__name__")
    + _str("hijacked")
    + _str("__defaults__")
    + b"(J\x01\0\0\0t"
    + _str("marker")
    + b"K\x01ut"
)


@pytest.mark.parametrize(
    ("target", "operation"),
    [
        (_global("torch._utils", "_rebuild_tensor_v2"), _HIJACK + b"b"),  # BUILD on the tensor-rebuild global
        (_global("__torch__", "M"), _HIJACK + b"b"),  # BUILD on the class itself, not on an instance of it
        (_global("torch", "FloatStorage"), _HIJACK + b"b"),
        (_global("collections", "OrderedDict"), _str("marker") + b"K\x01s"),  # SETITEM on the class
        (_global("torch.jit._pickle", "build_intlist"), b"K\x01a"),  # APPEND to the list builder
        (_global("torch.jit._pickle", "build_intlist"), b"(K\x01K\x02e"),  # APPENDS
        (_global("torch._utils", "_rebuild_tensor_v2"), b"(" + _str("marker") + b"K\x01u"),  # SETITEMS
    ],
)
def test_state_is_never_applied_to_an_object_the_reader_did_not_create(tmp_path, target, operation) -> None:
    before = _snapshot()
    payload = _pickle(_module([("w", _weight()), ("x", target + operation)]))
    path = _archive(tmp_path / "build.pt", payload, {"0": FOUR_FLOATS})
    with pytest.raises(WeightsFormatError, match="did not create") as info:
        load_script_archive(path)
    assert "\n" not in str(info.value)
    assert _snapshot() == before
    assert torch._utils._rebuild_tensor_v2.__name__ == "_rebuild_tensor_v2"
    # and the reader still reads a plain archive afterwards
    plain = _archive(tmp_path / "plain.pt", _pickle(_module([("w", _weight())])), {"0": FOUR_FLOATS})
    assert load_script_archive(plain)["w"].tolist() == [1.0, 2.0, 3.0, 4.0]
