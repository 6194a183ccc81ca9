"""Where configuration values come from: text (environment variables, pytest ini keys), TOML, ``pyproject.toml``.

Every value read here is parsed as its field's type (:data:`ganprobe.run.config.FIELDS`) and checked; a bad one is a
:class:`~ganprobe.errors.UsageError` of one line that names its source (``GANPROBE_BATCH_SIZE: expected a positive
integer, got 'x'``, ``pyproject.toml (/path) [tool.ganprobe] seed: ...``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganprobe.errors import UsageError
from ganprobe.metrics import settings as metric_settings
from ganprobe.run.config import BY_NAME, FIELDS, Field

PYPROJECT = "pyproject.toml"
_PYPROJECT_LIMIT = 1 << 20  # bytes: a project file, not a data set


def parse_text(entry: Field, text: str, where: str) -> Any:
    """``text`` (an environment variable or ini value) as ``entry``'s type.

    Raises:
        UsageError: ``"<where>: expected a positive integer, got 'x'"`` and the like.
    """
    stripped = text.strip()
    if entry.optional and stripped.lower() in ("", "none"):
        return None
    if entry.kind == "settings":
        return metric_settings.parse_settings(stripped.split(), where)
    if entry.kind == "list":
        if entry.name == "fail_if":  # expressions may hold spaces: separated by ';'
            return tuple(part.strip() for part in stripped.split(";") if part.strip())
        return tuple(part for part in stripped.replace(",", " ").split() if part)
    if entry.kind == "bool":
        lowered = stripped.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"{where}: expected true or false, got {text!r}")
    if entry.kind in ("int", "float"):
        try:
            number = int(stripped) if entry.kind == "int" else float(stripped)
        except ValueError:
            number = None
        return _check_number(entry, number, text, where)
    return _check_choice(entry, stripped, where)


def _expected(entry: Field) -> str:
    if entry.kind == "int":
        return {1: "a positive integer", 0: "a non-negative integer"}.get(entry.least, "an integer")
    return "a non-negative number" if entry.least == 0 else "a number"


def _check_number(entry: Field, number: Any, given: Any, where: str) -> Any:
    if isinstance(number, bool) or number is None or (entry.least is not None and number < entry.least):
        raise UsageError(f"{where}: expected {_expected(entry)}, got {given!r}")
    if entry.name == "seed" and number >= 2**32:
        raise UsageError(f"{where}: expected an integer between 0 and 2**32 - 1, got {given!r}")
    if entry.kind == "float" and number != number:  # NaN
        raise UsageError(f"{where}: expected {_expected(entry)}, got {given!r}")
    return number


def _check_choice(entry: Field, text: str, where: str) -> str:
    if entry.choices and text not in entry.choices:
        raise UsageError(f"{where}: expected one of {', '.join(entry.choices)}, got {text!r}")
    if not text:
        raise UsageError(f"{where}: expected a value, got ''")
    return text


def parse_toml_value(entry: Field, value: Any, where: str) -> Any:
    """A ``[tool.ganprobe]`` value (already TOML-typed) checked as ``entry``'s type."""
    if isinstance(value, str):
        if entry.kind in ("str", "path", "choice") or (entry.kind == "list" and entry.name == "fail_if"):
            return (value,) if entry.kind == "list" else _check_choice(entry, value, where)
        return parse_text(entry, value, where)
    if entry.kind == "settings":
        if isinstance(value, list):
            return metric_settings.parse_settings([str(item) for item in value], where)
        if isinstance(value, Mapping):
            return metric_settings.check_settings(value, where)
        return _wrong(value, "a table", where)
    if entry.kind == "list":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            _wrong(value, "a list of strings", where)
        return tuple(value)
    if entry.kind == "bool":
        return value if isinstance(value, bool) else _wrong(value, "true or false", where)
    if entry.kind in ("int", "float"):
        if not isinstance(value, (int, float)) or (entry.kind == "int" and not isinstance(value, int)):
            _wrong(value, _expected(entry), where)
        return _check_number(entry, value, value, where)
    return _wrong(value, "a string", where)


def _wrong(value: Any, expected: str, where: str) -> Any:
    raise UsageError(f"{where}: expected {expected}, got {value!r}")


def environment_values(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``({field: value}, {field: "environment GANPROBE_X"})`` of every ``GANPROBE_<NAME>`` set in ``environ``."""
    values, labels = {}, {}
    for entry in FIELDS:
        if entry.env_name is not None and entry.env_name in environ:
            values[entry.name] = parse_text(entry, environ[entry.env_name], entry.env_name)
            labels[entry.name] = f"environment {entry.env_name}"
    return values, labels


def find_pyproject(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The ``pyproject.toml`` of ``start`` (default: the current folder) or of its nearest parent that has one.

    The first name found is the project's file, even without a ``[tool.ganprobe]`` table (a parent project's file
    is not read through it); a name that exists but is no regular file is refused by :func:`read_pyproject`.
    """
    folder = Path(start if start is not None else os.getcwd()).absolute()
    for candidate in (folder, *folder.parents):
        path = candidate / PYPROJECT
        if os.path.lexists(path):
            return path
    return None


def read_pyproject(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """``({field: value}, source label)`` from ``path``'s ``[tool.ganprobe]`` table (empty when it has none).

    Only a regular file is read (a symbolic link to one is followed; a folder, FIFO or device named
    ``pyproject.toml`` is refused, never waited on), at most 1 MiB.

    Raises:
        UsageError: the file is not a regular file, not TOML, or ``[tool.ganprobe]`` has an unknown key or a
            value of the wrong type (each one line naming the file and the key).
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, installed as tomli (a dependency there)
        import tomli as tomllib

    path = Path(path)
    label = f"{PYPROJECT} ({path})"
    text = _read_regular(path, label)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{label}: not valid TOML ({exc})") from None
    table = document.get("tool", {}).get("ganprobe", {}) if isinstance(document.get("tool"), dict) else {}
    if not isinstance(table, dict):
        raise UsageError(f"{label} [tool.ganprobe]: expected a table, got {type(table).__name__}")
    known = [entry.name for entry in FIELDS if entry.pyproject]
    values = {}
    for key, value in table.items():
        if key not in known:
            raise UsageError(f"{label} [tool.ganprobe]: unknown key {key!r}; known: {', '.join(known)}")
        parsed = parse_toml_value(BY_NAME[key], value, f"{label} [tool.ganprobe] {key}")
        values[key] = relative_to(path.parent, BY_NAME[key], parsed)
    return values, label


def relative_to(folder: Path, entry: Field, value: Any) -> Any:
    """A relative path of a file-valued field, taken relative to ``folder`` (the folder of the file that set it,
    as a path in ``pyproject.toml`` or a pytest ini file means from there, wherever the run starts)."""
    if entry.kind == "path" and isinstance(value, str) and value and not Path(value).is_absolute():
        return str(folder / value)
    return value


def _read_regular(path: Path, label: str) -> str:
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens without a writer
    except OSError as exc:
        raise UsageError(f"{label}: cannot be read ({exc.strerror})") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise UsageError(f"{label}: not a regular file; remove or rename it")
        if status.st_size > _PYPROJECT_LIMIT:
            raise UsageError(f"{label}: larger than {_PYPROJECT_LIMIT} bytes; not a project file")
        data = os.read(descriptor, _PYPROJECT_LIMIT + 1)
    finally:
        os.close(descriptor)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{label}: not UTF-8 text") from None
