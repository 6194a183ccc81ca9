"""The metrics the evaluator, the CLI and the plugin can run, and the outputs each declares.

Names, keys, labels and directions are read from the torch-free declarations (:mod:`ganprobe.metrics.declarations`,
one module per metric), so help texts, gates and the report schema never import a metric class; this module only
lists the declarations (every module of that package, by ``report_order``). :func:`metric_classes` imports the
torchmetrics classes when it is first called, :func:`scorer_classes` the scorers (the same math without
torchmetrics: what the evaluator runs).

A metric of one's own joins the same list with :func:`register_metric`, or from an installed package through an
entry point of the ``ganprobe.metrics`` group (read once, when the metric list is first needed).
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from functools import cache, partial
from typing import TYPE_CHECKING

from ganprobe.errors import GanprobeWarning, UsageError
from ganprobe.metrics.declarations import MetricDeclaration
from ganprobe.metrics.records import Output

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from ganprobe.metrics.base import FeatureMetric
    from ganprobe.scorers.base import FeatureScorer

# Metrics registered by register_metric() or loaded from entry points, in registration order (after the built-ins).
_registered: dict[str, MetricDeclaration] = {}
_entry_points_loaded = False
ENTRY_POINT_GROUP = "ganprobe.metrics"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@cache
def builtin_declarations() -> dict[str, MetricDeclaration]:
    """``{name: declaration}`` of ganprobe's own metrics, in report order (imports no torch, reads no entry point)."""
    import pkgutil

    from ganprobe.metrics import declarations as package

    found = [
        importlib.import_module(f"{package.__name__}.{module.name}").DECLARATION
        for module in pkgutil.iter_modules(package.__path__)
    ]  # every module of ganprobe.metrics.declarations: a new metric's module is all it takes
    return {declaration.name: declaration for declaration in sorted(found, key=lambda item: item.report_order)}


def metric_declarations() -> dict[str, MetricDeclaration]:
    """``{name: declaration}`` of every metric the evaluator can run, in report order: the built-ins, then the
    registered ones (:func:`register_metric`, and the ``ganprobe.metrics`` entry points, read on the first call).
    Imports no torch."""
    _load_entry_points()
    return {**builtin_declarations(), **_registered}


def metric_names() -> list[str]:
    """The metric names in report order (``fid``, ``kid``, ..., ``layer_separability``, then registered ones),
    without importing torch."""
    return list(metric_declarations())


def _refusal(declaration: object) -> str | None:
    """Why ``declaration`` cannot join the registry (``None``: it can, or it is there already)."""
    if not isinstance(declaration, MetricDeclaration):
        return f"expected a MetricDeclaration, got {type(declaration).__name__}"
    name = declaration.name
    if not isinstance(name, str) or not _NAME.match(name):
        return f"name {name!r}: use lower-case letters, digits and underscores (it is the --set NAME.SETTING prefix)"
    if name in builtin_declarations():
        return f"{name!r} is a built-in metric; choose another name"
    if name in _registered:
        return None if _registered[name] == declaration else f"{name!r} is already registered by another declaration"
    if ":" not in declaration.metric_class or (declaration.scorer_class and ":" not in declaration.scorer_class):
        return f"{name}: metric_class and scorer_class are 'package.module:Class' paths"
    if not declaration.outputs:
        return f"{name}: declares no outputs"
    for output in declaration.outputs:
        found = find_output(output.key)
        if found is not None:
            return f"{name}: output key {output.key!r} is already reported by {found[0]}"
    return None


def register_metric(declaration: MetricDeclaration) -> MetricDeclaration:
    """Let a metric of your own take part in ``evaluate(metrics=[...])``, the CLI (``--metrics``, ``--set``,
    ``--fail-if``), the pytest plugin and every report, like a built-in one.

    Registering the same declaration again does nothing. A package can register without any call: an entry point
    of the ``ganprobe.metrics`` group naming the declaration (``energy = my_package.declaration:DECLARATION`` in
    its ``[project.entry-points."ganprobe.metrics"]``), read once when the metric list is first needed.

    Args:
        declaration: the metric's :class:`~ganprobe.metrics.declarations.MetricDeclaration` (torch-free); its
            ``metric_class`` (and ``scorer_class``, if any) are imported only when the metric runs.

    Returns:
        ``declaration``.

    Raises:
        UsageError: not a declaration, a name that is not ``lower_case``, a built-in's or another registered
            metric's name, or an output key another metric reports.
    """
    _load_entry_points()
    refusal = _refusal(declaration)
    if refusal is not None:
        raise UsageError(f"register_metric: {refusal}")
    _registered[declaration.name] = declaration
    return declaration


def _metric_entry_points() -> list[EntryPoint]:
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _load_entry_points() -> None:
    """Register the declarations named by ``ganprobe.metrics`` entry points, once. One that cannot be loaded or is
    refused is skipped with one warning line naming its distribution and entry point."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True  # before loading: a plugin that lists the metrics while loading sees the built-ins
    for point in _metric_entry_points():
        try:
            declaration = point.load()
            refusal = _refusal(declaration)
        except Exception as error:  # noqa: BLE001 - any failure of a third-party import is reported, not raised
            text = str(error).strip().splitlines()
            refusal = f"{type(error).__name__}: {text[0] if text else 'no message'}"
        if refusal is None:
            _registered[declaration.name] = declaration
            continue
        dist = getattr(point, "dist", None)
        who = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
        # warn_explicit without a source line: one line per skipped entry point, whatever the warning format
        warnings.warn_explicit(
            f"{ENTRY_POINT_GROUP} entry point {point.name!r} ({point.value}) of {who} skipped: {refusal}",
            GanprobeWarning,
            "ganprobe",
            0,
        )


@cache
def _import(name: str, path: str) -> type:
    """The class at ``"package.module:Class"`` of metric ``name``.

    Raises:
        UsageError: it cannot be imported (one line naming the metric, the path and why).
    """
    module, _, attribute = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise UsageError(f"metric {name!r}: cannot import its class {path} ({type(error).__name__}: {error})") from None


class _Classes(Mapping[str, type]):
    """``{name: class}`` in report order, each class imported when it is first looked up: a run imports the classes
    of the metrics it asks for, so a registered metric that cannot be imported fails only the runs that ask for it."""

    def __init__(self, loaders: dict[str, Callable[[], type]]) -> None:
        self._loaders = loaders

    def __getitem__(self, name: str) -> type:
        return self._loaders[name]()

    def __contains__(self, name: object) -> bool:
        return name in self._loaders

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)


def metric_classes() -> Mapping[str, type[FeatureMetric]]:
    """``{name: class}`` of every metric's torchmetrics class, in report order; a class is imported (with torch and
    torchmetrics) when it is looked up."""
    return _Classes({name: partial(_import, name, item.metric_class) for name, item in metric_declarations().items()})


def _scorer(name: str, declaration: MetricDeclaration) -> type:
    from ganprobe.scorers.plain import standalone

    if declaration.scorer_class:
        return standalone(_import(name, declaration.scorer_class))
    return _import(name, declaration.metric_class)


def scorer_classes() -> Mapping[str, type[FeatureScorer]]:
    """``{name: class}`` the evaluator instantiates where no state needs syncing, in report order: each metric's
    scorer on plain states (:func:`ganprobe.scorers.plain.standalone`; no torchmetrics import), or its torchmetrics
    class when its declaration names no scorer. Same arguments, values and reports as :func:`metric_classes`; a
    class is imported when it is looked up."""
    return _Classes({name: partial(_scorer, name, item) for name, item in metric_declarations().items()})


def declared_outputs() -> list[tuple[str, Output]]:
    """``(metric name, output)`` for every output of every metric (per-layer outputs as templates)."""
    return [(name, output) for name, declaration in metric_declarations().items() for output in declaration.outputs]


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{layer\}|\{protocol\})", template)
    regex = "".join(
        {"{layer}": "(?P<layer>.+)", "{protocol}": r"(?P<protocol>[^.]+)"}.get(part, re.escape(part)) for part in parts
    )
    return re.compile(f"^{regex}$")


def find_output(key: str) -> tuple[str, Output] | None:
    """The metric and declaration that report ``key`` (per-layer keys match their template), or ``None``."""
    for name, output in declared_outputs():
        if output.is_template:
            match = _pattern(output.key).match(key)
            if match:
                return name, output.concrete(match["layer"], match["protocol"])
        elif output.key == key:
            return name, output
    return None


def output_keys_help() -> str:
    """The gate-able keys in words, for help texts: ``fid, fid_infinity, kid, ... or separability.LAYER.PROTOCOL``."""
    plain = [output.key for _, output in declared_outputs() if not output.is_template]
    templates = [
        output.key.replace("{layer}", "LAYER").replace("{protocol}", "PROTOCOL")
        for _, output in declared_outputs()
        if output.is_template
    ]
    return ", ".join(plain) + (" or " + ", ".join(templates) if templates else "")
