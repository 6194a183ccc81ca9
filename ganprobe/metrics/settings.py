"""Metric settings across every metric, registered ones included: the table, parsing and checking.

A setting (a keyword argument of a metric class) is declared once, with its one default, in its metric's
declaration (:class:`ganprobe.metrics.declarations.Setting` rows in ``DECLARATION.settings``). This module reads
them for what spans metrics: :data:`METRIC_SETTINGS` (metric -> setting -> :class:`Setting`), the parsing of the
CLI's repeatable ``--set METRIC.SETTING=VALUE`` and the plugin's ``--ganprobe-set``, the checking of a
``{metric: {setting: value}}`` mapping given to ``evaluate(settings=...)`` / ``Evaluator(settings=...)`` or read
from a configuration file, and the help lines. Torch-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ganprobe.errors import UsageError
from ganprobe.metrics.declarations import Setting
from ganprobe.metrics.registry import builtin_declarations, metric_declarations

__all__ = ["check_settings", "parse_settings", "setting", "settings_help", "settings_table"]


def settings_table() -> dict[str, dict[str, Setting]]:
    """Metric name -> setting name -> :class:`Setting`, from every declaration (registered metrics included, each
    time it is called: a metric registered later is in it)."""
    return {name: {entry.name: entry for entry in item.settings} for name, item in metric_declarations().items()}


def __getattr__(name: str) -> Any:
    """``METRIC_SETTINGS``: :func:`settings_table` as it is when read (a module attribute computed on access)."""
    if name == "METRIC_SETTINGS":
        return settings_table()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def setting(metric: str, name: str) -> Any:
    """The default of ``metric``'s setting ``name`` (what the metric class's signature uses), from its declaration.

    A built-in metric's default is read without scanning the ``ganprobe.metrics`` entry points.

    Raises:
        KeyError: no such metric, or no such setting of it.
    """
    declaration = builtin_declarations().get(metric) or metric_declarations()[metric]
    return declaration.setting(name).default


def _parse(text: str, entry: Setting, where: str) -> Any:
    if entry.kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise UsageError(f"{where}: expected true or false, got {text!r}")
    if entry.choices:
        values = tuple(part.strip() for part in text.split(",") if part.strip())
        unknown = [value for value in values if value not in entry.choices]
        if not values or unknown:
            raise UsageError(f"{where}: unknown {unknown or 'none given'}; choose from {', '.join(entry.choices)}")
        return values
    if text.strip().lower() == "none" and entry.default is None:
        return None
    try:
        return entry.kind(text)
    except ValueError:
        raise UsageError(
            f"{where}: expected {'an integer' if entry.kind is int else 'a number'}, got {text!r}"
        ) from None


def parse_settings(assignments: Iterable[str], option: str = "--set") -> dict[str, dict[str, Any]]:
    """Parse ``["kid.subset_size=500", ...]`` into ``{"kid": {"subset_size": 500}}`` with each setting's type.

    Raises:
        UsageError: not ``METRIC.SETTING=VALUE``, an unknown metric or setting, or a value of the wrong type.
    """
    parsed: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        name, equals, text = str(assignment).partition("=")
        metric, dot, key = name.strip().partition(".")
        if not equals or not dot:
            raise UsageError(f"{option} {assignment!r}: expected METRIC.SETTING=VALUE, e.g. kid.subset_size=500")
        entry = _lookup(metric, key, f"{option} {assignment!r}")
        parsed.setdefault(metric, {})[key] = _parse(text, entry, f"{option} {name.strip()}")
    return parsed


def _lookup(metric: str, key: str, where: str) -> Setting:
    settings = settings_table()
    if metric not in settings:
        raise UsageError(f"{where}: unknown metric {metric!r}; choose from {', '.join(settings)}")
    table = settings[metric]
    if key not in table:
        known = ", ".join(f"{metric}.{name}" for name in table) or "none"
        raise UsageError(f"{where}: {metric} has no setting {key!r}; its settings: {known}")
    return table[key]


def check_settings(settings: Mapping[str, Mapping[str, Any]], where: str = "settings") -> dict[str, dict[str, Any]]:
    """Validate a ``{metric: {setting: value}}`` mapping given in Python (names only; the classes check values)."""
    if not isinstance(settings, Mapping):
        raise UsageError(f"{where}: expected {{metric: {{setting: value}}}}, got {type(settings).__name__}")
    checked: dict[str, dict[str, Any]] = {}
    for metric, values in settings.items():
        if not isinstance(values, Mapping):
            raise UsageError(f"{where}[{metric!r}]: expected a dict of settings, got {type(values).__name__}")
        if str(metric) not in settings_table():
            _lookup(str(metric), "", f"{where}: {metric}")
        checked.setdefault(str(metric), {})
        for key, value in values.items():
            _lookup(str(metric), str(key), f"{where}: {metric}.{key}")
            checked.setdefault(str(metric), {})[str(key)] = value
    return checked


def settings_help() -> str:
    """One line per setting (``kid.subset_size=1000: rows per subset ...``), for ``--help``."""
    lines = []
    for metric, table in settings_table().items():
        for key, entry in table.items():
            default = ",".join(entry.default) if isinstance(entry.default, tuple) else entry.default
            lines.append(f"  {metric}.{key}={default}: {entry.help}")
    return "\n".join(lines)
