"""Quality gates: ``--fail-if "fid>40"`` thresholds and ``--baseline`` regressions, checked against a report.

A gate names a metric key (a :data:`ganprobe.report.records.KEYS` entry, or ``separability.<layer>.<protocol>``
for one cell of the per-layer separability table), an operator and a threshold. The gate *fails when the
expression holds*: ``fid>40`` fails a run whose FID is above 40. A metric that was not computed, or whose value
is not a finite number, fails its gate too (a CI gate must never pass by default).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ganprobe.errors import InputError
from ganprobe.report.records import KEYS, MetricRecord

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
SEPARABILITY_PREFIX = "separability."
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_EXPRESSION = re.compile(rf"^\s*([A-Za-z_][\w.\-]*)\s*(>=|<=|==|!=|>|<)\s*({_NUMBER})\s*$")
# The metric (evaluator name) that produces each record key, so a gate can be checked before any work.
KEY_SOURCES: dict[str, str] = {
    "fid": "fid",
    "fid_infinity": "fid",
    "kid": "kid",
    "is": "is",
    "precision": "precision_recall",
    "recall": "precision_recall",
    "density": "density_coverage",
    "coverage": "density_coverage",
    "cmmd": "cmmd",
    "memorization": "memorization",
    "knn_loo": "knn_loo",
    "knn_loo_real": "knn_loo",
    "knn_loo_fake": "knn_loo",
    "knn_loo_p_value": "knn_loo",
}


@dataclass(frozen=True)
class Gate:
    """A parsed ``--fail-if`` expression: fails when ``value <operator> threshold`` holds.

    Attributes:
        expression: the text as given, e.g. ``"fid>40"``.
        metric: the metric key, e.g. ``"fid"`` or ``"separability.stage2.linear_probe"``.
        operator: one of ``> >= < <= == !=``.
        threshold: the number it is compared with.
    """

    expression: str
    metric: str
    operator: str
    threshold: float

    @property
    def source(self) -> str:
        """The evaluator metric that must run for this gate (``layer_separability`` for separability cells)."""
        if self.metric.startswith(SEPARABILITY_PREFIX):
            return "layer_separability"
        return KEY_SOURCES[self.metric]


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate on one run.

    Attributes:
        expression: the gate as the user wrote it (``fid>40``) or, for regressions, ``fid regression <= 10%``.
        metric: the metric key.
        operator: the comparison of a threshold gate (``regression`` for baseline gates).
        threshold: the threshold the value was compared with.
        value: the measured value (``None`` when the metric was not computed or not finite).
        passed: ``True`` when the gate holds (the run is acceptable).
        message: one line saying what was measured against what.
    """

    expression: str
    metric: str
    operator: str
    threshold: float
    value: float | None
    passed: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the report's ``gates`` entries)."""
        return asdict(self)


def parse_gate(expression: str) -> Gate:
    """Parse one ``--fail-if`` expression such as ``"fid>40"``, ``"knn_loo >= 0.8"``.

    Raises:
        InputError: the expression is not ``METRIC OP NUMBER``, or names an unknown metric.
    """
    match = _EXPRESSION.match(expression)
    if not match:
        raise InputError(
            f"--fail-if {expression!r}: expected METRIC OP NUMBER with OP one of {' '.join(OPERATORS)}, e.g. 'fid>40'"
        )
    metric, op, number = match.groups()
    threshold = float(number)
    if not math.isfinite(threshold):
        raise InputError(f"--fail-if {expression!r}: the threshold must be a finite number")
    if metric.startswith(SEPARABILITY_PREFIX):
        parts = metric.split(".")
        if len(parts) != 3 or not all(parts):
            raise InputError(
                f"--fail-if {expression!r}: separability gates are 'separability.LAYER.PROTOCOL', "
                "e.g. 'separability.stage2.linear_probe>0.9'"
            )
    elif metric not in KEYS:
        raise InputError(
            f"--fail-if {expression!r}: unknown metric {metric!r}; choose from {', '.join(KEYS)} "
            "or separability.LAYER.PROTOCOL"
        )
    return Gate(expression.strip(), metric, op, threshold)


def parse_gates(expressions: Iterable[str]) -> list[Gate]:
    """Parse every expression (see :func:`parse_gate`)."""
    return [parse_gate(expression) for expression in expressions]


def check_gate_sources(
    gates: Sequence[Gate],
    metrics: Sequence[str],
    separability_layers: Sequence[str] = (),
    protocols: Sequence[str] = (),
    fid_infinity: bool = False,
) -> None:
    """Raise before any work when a gate names something this run will not compute (a gate must never fail
    only because of a typo or a left-out metric).

    Args:
        gates: parsed gates.
        metrics: the evaluator metric names that will run (e.g. ``Evaluator.metrics``).
        separability_layers, protocols: the layers and protocols ``layer_separability`` will report.
        fid_infinity: whether FID-infinity will be computed.

    Raises:
        InputError: naming the gate and what is missing.
    """
    for gate in gates:
        if gate.source not in metrics:
            raise InputError(
                f"--fail-if {gate.expression!r}: needs metric {gate.source!r}, which this run does not compute "
                f"(computed: {', '.join(metrics)})"
            )
        if gate.metric == "fid_infinity" and not fid_infinity:
            raise InputError(f"--fail-if {gate.expression!r}: needs --fid-infinity (fid_infinity=True)")
        if gate.source == "layer_separability":
            _, layer, protocol = gate.metric.split(".")
            if layer not in separability_layers:
                raise InputError(
                    f"--fail-if {gate.expression!r}: separability is measured at {', '.join(separability_layers)}, "
                    f"not {layer!r} (choose layers with --layers)"
                )
            if protocol not in protocols:
                raise InputError(
                    f"--fail-if {gate.expression!r}: unknown protocol {protocol!r}; choose from {', '.join(protocols)}"
                )


def check_max_regression(max_regression_percent: float) -> None:
    """Raise :class:`InputError` unless the allowed regression is a finite, non-negative percentage."""
    if not math.isfinite(max_regression_percent) or max_regression_percent < 0:
        raise InputError(f"--max-regression: must be a non-negative percentage, got {max_regression_percent}")


def metric_values(
    records: Sequence[MetricRecord], separability: Mapping[str, Mapping[str, float]] | None = None
) -> dict[str, float]:
    """``{key: value}`` of every record plus ``separability.<layer>.<protocol>`` cells: what gates can name."""
    values = {record.key: float(record.value) for record in records}
    for layer, scores in (separability or {}).items():
        for protocol, value in scores.items():
            values[f"{SEPARABILITY_PREFIX}{layer}.{protocol}"] = float(value)
    return values


def _number(value: float) -> str:
    return f"{value:.6g}"


def check_gates(gates: Sequence[Gate], values: Mapping[str, float]) -> list[GateResult]:
    """Check each gate against the measured ``values`` (see :func:`metric_values`).

    Returns:
        One :class:`GateResult` per gate, in order. A gate whose metric is missing or not finite fails.
    """
    results = []
    for gate in gates:
        value = values.get(gate.metric)
        if value is None or not math.isfinite(value):
            state = "was not computed" if value is None else f"is {value} (not a finite number)"
            results.append(
                GateResult(
                    gate.expression,
                    gate.metric,
                    gate.operator,
                    gate.threshold,
                    None,
                    False,
                    f"{gate.metric} {state}, so gate '{gate.expression}' cannot pass",
                )
            )
            continue
        failed = OPERATORS[gate.operator](value, gate.threshold)
        verdict = "FAILED" if failed else "passed"
        results.append(
            GateResult(
                gate.expression,
                gate.metric,
                gate.operator,
                gate.threshold,
                value,
                not failed,
                f"gate '{gate.expression}' {verdict}: {gate.metric} = {_number(value)} "
                f"(fails when {gate.operator} {_number(gate.threshold)})",
            )
        )
    return results


# Metrics bounded in [0, 1] (or near it): a percentage of a baseline at its ideal value (0, or 0.5 for knn_loo)
# would allow no change at all, so for these the percentage applies to at least this magnitude.
_BOUNDED_FLOOR = 0.1
_BOUNDED = frozenset(
    {"precision", "recall", "coverage", "memorization", "knn_loo", "knn_loo_real", "knn_loo_fake", "knn_loo_p_value"}
)


def _badness(key: str, value: float, higher_is_better: bool | None) -> float | None:
    """A number that grows as the metric gets worse, or ``None`` when the metric has no direction."""
    if key == "knn_loo":  # 0.5 is ideal: both directions away from it are worse
        return abs(value - 0.5)
    if higher_is_better is None:
        return None
    return -value if higher_is_better else value


def _finite(value: float) -> bool:
    """``math.isfinite`` that also accepts integers too large for a float (JSON allows them): those are not finite."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_regressions(
    records: Sequence[MetricRecord], baseline: Mapping[str, Any], max_regression_percent: float
) -> list[GateResult]:
    """Compare this run with a previous JSON report: a metric fails when it got worse by more than the percentage.

    "Worse" follows each metric's direction (``higher_is_better``, p-values included: a falling p-value is a
    regression); ``knn_loo`` is worse as it moves away from 0.5. The allowed change is ``max_regression_percent``
    of the baseline's magnitude (for ``knn_loo``: of its distance from 0.5); for metrics bounded in [0, 1] of at
    least 0.1, so a baseline at its ideal value still allows a small change. A metric with a direction that the
    baseline holds fails when this run has no finite value for it, and one that the baseline holds as ``null``
    (not finite) fails too: a regression gate never passes by default. Metrics without a direction
    (``knn_loo_real``) are not compared.

    Args:
        records: this run's records.
        baseline: a previous ``ganprobe evaluate --json`` report (parsed).
        max_regression_percent: the allowed worsening, in percent (e.g. ``10``).

    Raises:
        InputError: the baseline is not a ganprobe report, or measured a metric in another feature space
            (another extractor or layer: the numbers are not comparable).
    """
    check_max_regression(max_regression_percent)
    entries = baseline.get("metrics") if isinstance(baseline, Mapping) else None
    if not isinstance(entries, list):
        raise InputError("--baseline: not a ganprobe JSON report (no 'metrics' list)")
    previous = {
        entry["key"]: entry for entry in entries if isinstance(entry, Mapping) and isinstance(entry.get("key"), str)
    }
    current = {record.key: record for record in records}
    results = []
    for key, entry in previous.items():
        record = current.get(key)
        direction = record.higher_is_better if record is not None else entry.get("higher_is_better")
        if _badness(key, 0.0, direction) is None:
            continue
        expression = f"{key} regression <= {max_regression_percent:g}%"
        before_value = entry.get("value")
        if record is not None and entry.get("feature_space") not in (None, record.feature_space):
            raise InputError(
                f"--baseline: {key} was measured in {entry.get('feature_space')!r}, this run in "
                f"{record.feature_space!r}; compare runs of the same extractor and layer"
            )
        now_value = float(record.value) if record is not None else math.nan
        if not isinstance(before_value, (int, float)) or not _finite(before_value):
            passed, detail, threshold = False, f"{key} has no finite value in the baseline", math.nan
        elif not math.isfinite(now_value):
            state = "was not computed" if record is None else f"is {now_value} (not a finite number)"
            passed, detail, threshold = False, f"{key} {state} in this run", float(before_value)
        else:
            now = _badness(key, now_value, direction) or 0.0
            before = _badness(key, float(before_value), direction) or 0.0
            scale = max(abs(before), _BOUNDED_FLOOR) if key in _BOUNDED else abs(before)
            allowed = max(scale * max_regression_percent / 100.0, 1e-12)
            passed = now - before <= allowed
            change = (now - before) / scale * 100.0 if scale else (math.inf if now > before else 0.0)
            worse = "worse" if now > before else "better"
            detail = (
                f"{key} = {_number(now_value)} vs baseline {_number(float(before_value))} "
                f"({abs(change):.3g}% {worse}; allowed {max_regression_percent:g}% worse)"
            )
            threshold = float(before_value)
        results.append(
            GateResult(
                expression,
                key,
                "regression",
                threshold if math.isfinite(threshold) else 0.0,
                now_value if math.isfinite(now_value) else None,
                passed,
                f"{'regression gate passed' if passed else 'regression gate FAILED'}: {detail}",
            )
        )
    return results
