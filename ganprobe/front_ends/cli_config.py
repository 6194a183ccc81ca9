"""The run configuration of a parsed ``ganprobe evaluate``/``stats`` command line (torch-free).

The parser's configuration options default to ``None`` (:class:`ganprobe.front_ends.cli._Parser` records which were
given);
:func:`cli_config` resolves them over the environment, ``pyproject.toml`` and the defaults
(:meth:`ganprobe.run.config.RunConfig.resolve`), :func:`apply_config` writes the result back into the parsed arguments
(the output checks read paths from them), and :func:`run_configuration` is what every process of a ``torchrun``
must agree on.
"""

from __future__ import annotations

import argparse
from typing import Any

from ganprobe.errors import UsageError
from ganprobe.metrics import settings as metric_settings
from ganprobe.metrics.declarations import Setting
from ganprobe.metrics.registry import builtin_declarations
from ganprobe.run.config import BY_NAME, FIELDS, RunConfig, computing_values


def setting_shorthands() -> list[tuple[str, Setting]]:
    """``(metric, setting)`` of every built-in metric setting with a command-line shorthand (``--fid-infinity`` for
    ``--set fid.infinity=true``), in report order."""
    return [
        (metric, entry)
        for metric, declaration in builtin_declarations().items()
        for entry in declaration.settings
        if entry.cli_flag
    ]


def shorthand_dest(flag: str) -> str:
    """The parsed arguments' attribute of a shorthand flag (``--fid-infinity``: ``fid_infinity``)."""
    return flag.lstrip("-").replace("-", "_")


def _with_shorthands(args: argparse.Namespace, given: dict[str, Any]) -> list[tuple[str, str]]:
    """Put the shorthands given on the command line into ``given["settings"]``; return ``(flag, metric)`` of each.

    Raises:
        UsageError: a shorthand beside a ``--set`` of the same setting with another value.
    """
    used = []
    for metric, entry in setting_shorthands():
        value = getattr(args, shorthand_dest(entry.cli_flag), None)
        if value is None:
            continue
        table = given.setdefault("settings", {}).setdefault(metric, {})
        if entry.name in table and table[entry.name] != value:
            typed = str(table[entry.name]).lower() if isinstance(table[entry.name], bool) else table[entry.name]
            raise UsageError(f"{entry.cli_flag} and --set {metric}.{entry.name}={typed} disagree: give one of them")
        table[entry.name] = value
        used.append((entry.cli_flag, metric))
    return used


def cli_shape(name: str, value: Any) -> Any:
    """A configuration value as the parsed command line holds it (``use_cache=True`` is ``no_cache=False``)."""
    entry = BY_NAME[name]
    if entry.invert:
        return not value
    if name == "settings":
        return [f"{metric}.{key}={item}" for metric, table in (value or {}).items() for key, item in table.items()]
    return list(value) if isinstance(value, tuple) else value


def cli_config(args: argparse.Namespace) -> RunConfig:
    """The run configuration of a parsed ``evaluate``/``stats`` command line: its options over the environment
    (``GANPROBE_*``) over ``pyproject.toml``'s ``[tool.ganprobe]`` over the defaults (see ``ganprobe.run.config``).

    Raises:
        UsageError: a bad ``--set`` (or a shorthand such as ``--fid-infinity`` that disagrees with one, or that
            sets a metric ``--metrics`` leaves out), or a bad value in the environment or ``pyproject.toml`` (named).
    """
    given = {}
    for name, value in getattr(args, "given", {}).items():
        if BY_NAME[name].invert:
            value = False  # the flag was given
        elif name == "settings":
            value = metric_settings.parse_settings(value)
        given[name] = value
    used = _with_shorthands(args, given)
    config = RunConfig.resolve(given, frontend="cli")
    for flag, metric in used:
        if config.metrics is not None and metric not in config.metrics:
            raise UsageError(f"{flag}: a setting of {metric}, which --metrics leaves out")
    return config


def apply_config(args: argparse.Namespace, config: RunConfig) -> None:
    """Write the resolved values into ``args`` (the output checks read the paths from it)."""
    for entry in FIELDS:
        if entry.cli_dest is not None and hasattr(args, entry.cli_dest):
            setattr(args, entry.cli_dest, cli_shape(entry.name, config[entry.name]))


def run_configuration(args: argparse.Namespace, config: RunConfig | None = None) -> dict[str, Any]:
    """``{option: value}`` of every resolved configuration value that changes what a run computes (what every
    process of a ``torchrun`` must agree on), for the options ``args``'s command has; ``--device`` by its type
    (each rank takes its own GPU). Outputs, progress bars, decoding processes and the cache folder may differ between
    the processes; the image folders are compared by content (ganprobe.features.sharded), and a ``--weights`` file
    by its SHA-256, not by path: each machine may keep them elsewhere."""
    config = config if config is not None else cli_config(args)
    present = {entry.cli or entry.name for entry in FIELDS if entry.cli_dest and hasattr(args, entry.cli_dest)}
    present |= {entry.name for entry in FIELDS if entry.invert and hasattr(args, str(entry.cli_dest))}
    run: dict[str, Any] = {"the command": args.command}
    run.update({option: value for option, value in computing_values(config).items() if option in present})
    return run
