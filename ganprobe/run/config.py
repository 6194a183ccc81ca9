"""One run configuration: what ``evaluate()``, ``ganprobe evaluate``/``stats`` and the pytest plugin all build.

A :class:`RunConfig` is frozen and typed, in four sections (:class:`Extraction`, :class:`Execution`,
:class:`Report`, :class:`Gates`) plus the metrics and their settings. :data:`FIELDS` is the one table of its
fields: each field's type, default (from :mod:`ganprobe.defaults`), Python keyword, command-line option,
environment variable (``GANPROBE_<NAME>``), key of ``[tool.ganprobe]`` in ``pyproject.toml`` and pytest ini key
(``ganprobe_<name>``). Layers are resolved with one precedence rule, each value remembering where it came from::

    command line  >  environment  >  pyproject.toml  >  defaults

(the pytest plugin: ``--ganprobe-*`` option > environment > ini key > ``[tool.ganprobe]`` > defaults). The Python
API reads neither the environment nor ``pyproject.toml`` unless asked (:meth:`RunConfig.resolve`).

Reading text values, the environment and ``pyproject.toml`` is :mod:`ganprobe.run.config_layers`'s. This module
imports no torch: the CLI resolves (and ``--print-config`` prints) a configuration before torch loads.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganprobe import defaults
from ganprobe.errors import UsageError
from ganprobe.metrics import settings as metric_settings


@dataclass(frozen=True)
class Field:
    """One configuration field and every name it goes by.

    Attributes:
        name: attribute of its section and Python keyword (``evaluate(batch_size=...)``); also the key under
            ``[tool.ganprobe]``, the environment variable ``GANPROBE_<NAME>`` and the ini key ``ganprobe_<name>``
            (where offered).
        section: ``extraction``, ``execution``, ``report``, ``gates`` or ``run`` (metrics and settings).
        kind: how text is parsed: ``str``, ``path``, ``int``, ``float``, ``bool``, ``choice``, ``list``,
            ``settings``.
        default: the value when no layer sets it (from :mod:`ganprobe.defaults`).
        help: what it does, in a few words.
        cli: the command-line option (``None``: none); ``cli_dest`` its argparse destination; ``invert``: the
            option is a flag that sets the field to ``False`` (``--no-cache``).
        least: smallest allowed number (``None``: any); ``optional``: ``None`` is a valid value.
        choices: allowed texts of a ``choice`` field.
        env, pyproject, ini: whether the field can be set there.
        computing: changes what a run computes (every process of a ``torchrun`` must agree on it).
        frontend_defaults: the default where the command line or the plugin differ from the library
            (``{"cli": True}``: the CLI caches features, a library call does not unless asked).
    """

    name: str
    section: str
    kind: str
    default: Any
    help: str
    cli: str | None = None
    cli_dest: str | None = None
    invert: bool = False
    least: float | None = None
    optional: bool = False
    choices: tuple[str, ...] = ()
    env: bool = True
    pyproject: bool = True
    ini: bool = True
    computing: bool = True
    frontend_defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def env_name(self) -> str | None:
        """``GANPROBE_<NAME>``, or ``None`` where the environment cannot set it."""
        return f"GANPROBE_{self.name.upper()}" if self.env else None

    @property
    def ini_name(self) -> str | None:
        """``ganprobe_<name>``, or ``None`` where a pytest ini file cannot set it."""
        return f"ganprobe_{self.name}" if self.ini else None

    def default_for(self, frontend: str) -> Any:
        """The default under ``frontend`` (``python``, ``cli`` or ``plugin``)."""
        return self.frontend_defaults.get(frontend, self.default)


_F = Field
FIELDS: tuple[Field, ...] = (
    _F("metrics", "run", "list", None, "metric names (none: all the extractor supports)", "--metrics", optional=True),
    _F("settings", "run", "settings", {}, "metric settings METRIC.SETTING=VALUE", "--set", "settings"),
    _F("extractor", "extraction", "str", defaults.EXTRACTOR, "feature extractor", "--extractor"),
    _F("weights", "extraction", "path", None, "explicit weights file", "--weights", optional=True, computing=False),
    _F(
        "layers", "extraction", "list", None, "layers of the separability (none: all blocks)", "--layers", optional=True
    ),
    _F(
        "num_samples",
        "extraction",
        "int",
        None,
        "at most this many images per set",
        "--num-samples",
        least=1,
        optional=True,
    ),
    _F("batch_size", "extraction", "int", defaults.BATCH_SIZE, "images per forward pass", "--batch-size", least=1),
    _F(
        "pipeline",
        "extraction",
        "choice",
        None,
        "inception-fid input pipeline",
        "--pipeline",
        optional=True,
        choices=("tf", "clean", "pytorch-fid"),
    ),
    _F(
        "backend",
        "extraction",
        "choice",
        None,
        "how a built-in backbone runs (none: auto)",
        "--backend",
        optional=True,
        choices=("auto", "torch", "onnxruntime"),
    ),
    _F(
        "channels_last",
        "extraction",
        "bool",
        True,
        "channels-last memory layout",
        "--no-channels-last",
        "no_channels_last",
        invert=True,
    ),
    _F(
        "autocast",
        "extraction",
        "choice",
        None,
        "run the backbone under torch.autocast",
        "--autocast",
        optional=True,
        choices=("bfloat16", "float16"),
    ),
    _F("compile", "extraction", "bool", False, "torch.compile the backbone", "--compile"),
    _F(
        "strict",
        "extraction",
        "bool",
        True,
        "fail on an unreadable image (false: skip it)",
        "--skip-unreadable",
        "skip_unreadable",
        invert=True,
    ),
    _F(
        "device",
        "execution",
        "str",
        None,
        "torch device (none: cpu, or where a given extractor is)",
        "--device",
        optional=True,
    ),
    _F(
        "num_workers",
        "execution",
        "int",
        None,
        "image decoding processes",
        "--workers",
        "workers",
        least=0,
        optional=True,
        computing=False,
    ),
    _F(
        "cache_dir",
        "execution",
        "path",
        None,
        "feature cache folder (none: ~/.cache/ganprobe)",
        "--cache-dir",
        optional=True,
        computing=False,
    ),
    _F(
        "use_cache",
        "execution",
        "bool",
        False,
        "read and write the feature cache",
        "--no-cache",
        "no_cache",
        invert=True,
        frontend_defaults={"cli": True, "plugin": True},
    ),
    _F("hash_contents", "execution", "bool", False, "key the cache on file contents", "--hash-contents"),
    _F(
        "progress",
        "execution",
        "bool",
        False,
        "progress bars",
        "--quiet",
        "quiet",
        invert=True,
        computing=False,
        frontend_defaults={"cli": True},
    ),
    _F(
        "distributed",
        "execution",
        "bool",
        None,
        "shard over a torch.distributed group (none: detect)",
        optional=True,
        env=False,
        pyproject=False,
        ini=False,
    ),
    _F("seed", "report", "int", defaults.SEED, "seed of every seeded step", "--seed", least=0),
    _F("permutations", "report", "int", defaults.PERMUTATIONS, "1-NN p-value shuffles", "--permutations", least=0),
    _F(
        "bootstrap",
        "report",
        "int",
        defaults.BOOTSTRAP,
        "precision/recall/density/coverage resamples",
        "--bootstrap",
        least=0,
    ),
    _F(
        "noise_resamples",
        "report",
        "int",
        None,
        "halves behind the standard errors (none: with a baseline)",
        "--noise-resamples",
        least=0,
        optional=True,
    ),
    _F(
        "classes",
        "report",
        "str",
        None,
        "class labels: subfolders, predicted, or a .csv/.json label file (none: no per-class report)",
        "--classes",
        optional=True,
    ),
    _F(
        "worst",
        "report",
        "int",
        defaults.WORST,
        "samples per list: least realistic and most obvious fakes, least covered reals (with classes or set; 0: none)",
        "--worst",
        least=0,
    ),
    _F(
        "tsne_points",
        "report",
        "int",
        defaults.TSNE_POINTS,
        "samples per set in each t-SNE plot",
        "--tsne-points",
        least=1,
        computing=False,
        ini=False,
    ),
    _F(
        "json_path",
        "report",
        "path",
        None,
        "JSON report file",
        "--json",
        "json_path",
        optional=True,
        computing=False,
        ini=False,
    ),
    _F(
        "html_path",
        "report",
        "path",
        None,
        "HTML report file",
        "--html",
        "html_path",
        optional=True,
        computing=False,
        ini=False,
    ),
    _F(
        "junit_path",
        "report",
        "path",
        None,
        "JUnit gate results file",
        "--junit",
        "junit_path",
        optional=True,
        computing=False,
        ini=False,
    ),
    _F("fail_if", "gates", "list", (), "gate expressions such as fid>40", "--fail-if", ini=False),
    _F(
        "baseline",
        "gates",
        "path",
        None,
        "previous JSON report for regression gates",
        "--baseline",
        optional=True,
        ini=False,
    ),
    _F(
        "max_regression",
        "gates",
        "float",
        defaults.MAX_REGRESSION_PERCENT,
        "allowed worsening in percent",
        "--max-regression",
        least=0,
    ),
    _F(
        "regression_sigmas",
        "gates",
        "float",
        defaults.REGRESSION_SIGMAS,
        "allowed worsening in standard errors",
        "--regression-sigmas",
        least=0,
    ),
)
BY_NAME: dict[str, Field] = {entry.name: entry for entry in FIELDS}
for _entry in FIELDS:
    if _entry.cli is not None and _entry.cli_dest is None:
        object.__setattr__(_entry, "cli_dest", _entry.cli.removeprefix("--").replace("-", "_"))


@dataclass(frozen=True)
class Extraction:
    """How features are extracted (see :data:`FIELDS` for each field's meaning and names)."""

    extractor: Any = defaults.EXTRACTOR
    weights: str | None = None
    layers: tuple[str, ...] | None = None
    num_samples: int | None = None
    batch_size: int = defaults.BATCH_SIZE
    pipeline: str | None = None
    backend: str | None = None
    channels_last: bool = True
    autocast: str | None = None
    compile: bool = False
    strict: bool = True


@dataclass(frozen=True)
class Execution:
    """Where and how the work runs; changes no number (except ``device`` within float round-off)."""

    device: Any = None
    num_workers: int | None = None
    cache_dir: str | None = None
    use_cache: bool = False
    hash_contents: bool = False
    progress: bool = False
    distributed: bool | None = None


@dataclass(frozen=True)
class Report:
    """Seeds, resamples and the report files."""

    seed: int = defaults.SEED
    permutations: int = defaults.PERMUTATIONS
    bootstrap: int = defaults.BOOTSTRAP
    noise_resamples: int | None = None
    classes: str | None = None
    worst: int = defaults.WORST
    tsne_points: int = defaults.TSNE_POINTS
    json_path: str | None = None
    html_path: str | None = None
    junit_path: str | None = None


@dataclass(frozen=True)
class Gates:
    """Quality gates: threshold expressions and regressions against a baseline report."""

    fail_if: tuple[str, ...] = ()
    baseline: Any = None
    max_regression: float = defaults.MAX_REGRESSION_PERCENT
    regression_sigmas: float = defaults.REGRESSION_SIGMAS


_SECTIONS = {"extraction": Extraction, "execution": Execution, "report": Report, "gates": Gates}


def _frozen_settings(settings: Mapping[str, Mapping[str, Any]] | None) -> Mapping[str, Mapping[str, Any]]:
    return types.MappingProxyType({m: types.MappingProxyType(dict(v)) for m, v in (settings or {}).items()})


@dataclass(frozen=True)
class RunConfig:
    """Everything one evaluation is configured by, frozen; ``sources`` says where each value came from.

    Build one with :meth:`build` (Python values), :meth:`resolve` (defaults, ``pyproject.toml``, environment and
    command-line layers), or :meth:`replace`. Read a field by section (``config.extraction.batch_size``) or by
    name (``config["batch_size"]``).
    """

    metrics: tuple[str, ...] | None = None
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: _frozen_settings({}))
    extraction: Extraction = field(default_factory=Extraction)
    execution: Execution = field(default_factory=Execution)
    report: Report = field(default_factory=Report)
    gates: Gates = field(default_factory=Gates)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __getitem__(self, name: str) -> Any:
        entry = _field(name, "RunConfig")
        return getattr(self if entry.section == "run" else getattr(self, entry.section), name)

    def source(self, name: str) -> str:
        """Where the value of ``name`` came from: ``default``, ``python``, ``environment GANPROBE_X``..."""
        return self.sources.get(name, "default")

    def replace(self, source: str = "python", **values: Any) -> RunConfig:
        """A copy with ``values`` (Python keywords of :data:`FIELDS`) set, recorded as coming from ``source``.

        Raises:
            UsageError: an unknown keyword, named, with the known ones.
        """
        return _assemble(self.as_dict(), dict(self.sources), values, source)

    def as_dict(self) -> dict[str, Any]:
        """``{field name: value}`` of every field."""
        return {entry.name: self[entry.name] for entry in FIELDS}

    @classmethod
    def build(cls, frontend: str = "python", **values: Any) -> RunConfig:
        """The defaults of ``frontend`` (``python``, ``cli``, ``plugin``) with ``values`` set from Python."""
        return defaults_for(frontend).replace(**values)

    @classmethod
    def resolve(
        cls,
        command_line: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        pyproject: str | os.PathLike[str] | bool = True,
        frontend: str = "python",
        option_names: Mapping[str, str] | None = None,
    ) -> RunConfig:
        """Resolve every layer: ``command_line`` > environment > ``pyproject.toml`` > defaults.

        Args:
            command_line: values given on a command line (or in Python), already typed.
            environ: the environment to read (``None``: ``os.environ``).
            pyproject: ``True``: the ``pyproject.toml`` of the current folder or its nearest parent that has one;
                a path: that file; ``False``: none.
            frontend: whose defaults apply (``python``, ``cli``, ``plugin``).
            option_names: ``{field: source label}`` for the command-line values (default ``command line --x``).
        """
        from ganprobe.run.config_layers import environment_values, find_pyproject, read_pyproject

        config = defaults_for(frontend)
        if pyproject is not False:
            path = find_pyproject() if pyproject is True else Path(pyproject)
            if path is not None:
                values, label = read_pyproject(path)
                config = config.replace(label, **values)
        values, labels = environment_values(os.environ if environ is None else environ)
        config = _assemble(config.as_dict(), dict(config.sources), values, labels)
        given = dict(command_line or {})
        labels = {name: (option_names or {}).get(name) or f"command line {BY_NAME[name].cli}" for name in given}
        return _assemble(config.as_dict(), dict(config.sources), given, labels)


def _field(name: str, where: str) -> Field:
    if name not in BY_NAME:
        raise UsageError(f"{where}: unknown keyword {name!r}; known: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def defaults_for(frontend: str = "python") -> RunConfig:
    """Every field at its default for ``frontend`` (``python``, ``cli`` or ``plugin``)."""
    values = {entry.name: entry.default_for(frontend) for entry in FIELDS}
    return _assemble({}, {}, values, "default")


def _assemble(
    base: Mapping[str, Any], sources: dict[str, str], values: Mapping[str, Any], source: str | Mapping[str, str]
) -> RunConfig:
    merged = dict(base)
    for name, value in values.items():
        _field(name, "RunConfig")
        label = source if isinstance(source, str) else source[name]
        if name == "settings":  # per setting: a higher layer overrides the settings it names, keeps the others
            combined = {metric: dict(given) for metric, given in (merged.get("settings") or {}).items()}
            where = label if label != "python" else "settings"
            for metric, given in metric_settings.check_settings(value or {}, where).items():
                combined.setdefault(metric, {}).update(given)
                for key in given:
                    sources[f"settings.{metric}.{key}"] = label
            merged["settings"] = combined
            continue
        merged[name] = tuple(value) if isinstance(value, list) else value
        sources[name] = label
    sections = {
        section: kind(**{e.name: merged[e.name] for e in FIELDS if e.section == section and e.name in merged})
        for section, kind in _SECTIONS.items()
    }
    metrics = merged.get("metrics")
    return RunConfig(
        metrics=tuple(metrics) if metrics is not None and not isinstance(metrics, tuple) else metrics,
        settings=_frozen_settings(merged.get("settings")),
        sources=types.MappingProxyType(sources),
        **sections,
    )


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return " ".join(str(item) for item in value) if value else "(empty)"
    return str(value)


def describe(config: RunConfig) -> list[str]:
    """One line per value, ``section.name = value  (source)``: what ``--print-config`` prints."""
    lines = []
    for entry in FIELDS:
        if entry.name == "settings":
            for metric, table in config.settings.items():
                for key, value in table.items():
                    name = f"settings.{metric}.{key}"
                    lines.append(f"{name} = {_shown(value)}  ({config.source(name)})")
            if not any(config.settings.values()):
                lines.append("settings = (none)  (default)")
            continue
        prefix = "" if entry.section == "run" else f"{entry.section}."
        lines.append(f"{prefix}{entry.name} = {_shown(config[entry.name])}  ({config.source(entry.name)})")
    return lines


def computing_values(config: RunConfig) -> dict[str, Any]:
    """``{option: value}`` of every field that changes what a run computes (``device`` by its type only)."""
    run = {}
    for entry in FIELDS:
        if entry.computing and entry.name != "distributed":
            value = config[entry.name]
            if entry.name == "device" and value is not None:
                value = str(value).split(":")[0]
            if entry.name == "settings":
                value = {metric: dict(table) for metric, table in value.items()}
            run[entry.cli if entry.cli and not entry.invert else entry.name] = value
    return run


def configuration_table() -> str:
    """The Markdown table of every field and its names (the Configuration page includes it verbatim)."""
    rows = [
        "| field | default | command line | environment | `[tool.ganprobe]` | pytest ini | meaning |",
        "|---|---|---|---|---|---|---|",
    ]

    def cell(text: str | None) -> str:
        return f"`{text}`" if text else "-"

    for entry in FIELDS:
        default = entry.default
        shown = _shown(tuple(default) if isinstance(default, (list, tuple)) else default) if default != {} else "(none)"
        if entry.frontend_defaults:
            shown += " (" + ", ".join(f"{k}: {_shown(v)}" for k, v in entry.frontend_defaults.items()) + ")"
        option = cell(entry.cli) + (" (sets false)" if entry.invert else "")
        rows.append(
            f"| {entry.section}.{entry.name} | {shown} | {option} | {cell(entry.env_name)} | "
            f"{cell(entry.name if entry.pyproject else None)} | {cell(entry.ini_name)} | {entry.help} |"
        )
    return "\n".join(rows)
