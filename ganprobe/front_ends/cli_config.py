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

from ganprobe import defaults
from ganprobe.run.config import BY_NAME, FIELDS, RunConfig, computing_values


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
        UsageError: a bad ``--set``, or a bad value in the environment or ``pyproject.toml`` (named).
    """
    given = {}
    for name, value in getattr(args, "given", {}).items():
        if BY_NAME[name].invert:
            value = False  # the flag was given
        elif name == "settings":
            value = defaults.parse_settings(value)
        given[name] = value
    return RunConfig.resolve(given, frontend="cli")


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
    for option in ("--fid-bootstrap", "--fid-infinity"):  # not in the configuration yet (FID's settings, later)
        if hasattr(args, option[2:].replace("-", "_")):
            run[option] = getattr(args, option[2:].replace("-", "_"))
    return run
