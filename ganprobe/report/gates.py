"""Quality gates: ``--fail-if "fid>40"`` thresholds and ``--baseline`` regressions, checked against a report.

A gate names an output key declared by a metric (``fid``, ``kid``, ``knn_loo``, or ``separability.<layer>.<protocol>``
for one cell of the per-layer separability table; see :mod:`ganprobe.metrics.registry`), an operator and a
threshold. The gate *fails when the expression holds*: ``fid>40`` fails a run whose FID is above 40. A metric that
was not computed, or whose value is not a finite number, fails its gate too (a CI gate must never pass by default).

A run with class labels also gates its per-class numbers (:mod:`ganprobe.metrics.per_class_outputs`):
``missing_classes>0``, ``intra_class_fid>30``, or one class's value by the class's name, ``recall[7]<0.5``. A class
whose value the sample-size rule withholds fails its gate, with the reason. A baseline's per-class values are
compared by :mod:`ganprobe.report.baseline_per_class`, with :func:`regression_gate`'s rule.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ganprobe import defaults
from ganprobe.errors import InputError
from ganprobe.front_end_names import PerFrontEnd, Template
from ganprobe.metrics.per_class_outputs import (
    PER_CLASS_SOURCE,
    find_per_class_output,
    per_class_keys_help,
    split_class_key,
)
from ganprobe.metrics.records import Direction, MetricRecord
from ganprobe.metrics.registry import find_output, metric_declarations, output_keys_help

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_EXPRESSION = re.compile(rf"^\s*([A-Za-z_][\w.\-]*(?:\[[^\[\]]+\])?)\s*(>=|<=|==|!=|>|<)\s*({_NUMBER})\s*$")


@dataclass(frozen=True)
class Gate:
    """A parsed ``--fail-if`` expression: fails when ``value <operator> threshold`` holds.

    Attributes:
        expression: the text as given, e.g. ``"fid>40"``.
        metric: the output key, e.g. ``"fid"`` or ``"separability.stage2.linear_probe"``.
        operator: one of ``> >= < <= == !=``.
        threshold: the number it is compared with.
        source: the metric (evaluator name) that reports the key, from its declaration; for a per-class value
            (``recall[7]``) the headline metric it needs.
        per_class: the key is a per-class output (needs class labels).
    """

    expression: str
    metric: str
    operator: str
    threshold: float
    source: str = ""
    per_class: bool = False


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
        InputError: the expression is not ``METRIC OP NUMBER``, or names a key no metric declares.
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
    found = find_output(metric)
    if found is not None:
        return Gate(expression.strip(), metric, op, threshold, found[0])
    per_class = find_per_class_output(metric)
    if per_class is None:
        raise InputError(
            f"--fail-if {expression!r}: unknown metric {metric!r}; choose from {output_keys_help()}; with class "
            f"labels also {per_class_keys_help()}"
        )
    return Gate(expression.strip(), metric, op, threshold, per_class[0], per_class=True)


def parse_gates(expressions: Iterable[str]) -> list[Gate]:
    """Parse every expression (see :func:`parse_gate`)."""
    return [parse_gate(expression) for expression in expressions]


def _needs(gate: Gate, metric: str, requires: str) -> Template:
    """The message of a gate on an output that this run does not report because ``requires`` (a setting of
    ``metric``, else a report option) is off."""
    declaration = metric_declarations().get(metric)
    entry = next((item for item in declaration.settings if item.name == requires), None) if declaration else None
    text = "--fail-if {expression!r}: needs {fix} for {key}"
    if entry is None:  # a report option (--permutations)
        fix = PerFrontEnd(python="{requires}=...", cli="{option} ({requires}=...)")
        option = "--" + requires.replace("_", "-")
        return Template(text, expression=gate.expression, fix=fix, key=gate.metric, requires=requires, option=option)
    flag = entry.kind is bool
    assignment = f"--set {metric}.{requires}={'true' if flag else 'N'}"
    fix = PerFrontEnd(python="settings={{{metric!r}: {{{requires!r}: {value}}}}}", cli="{cli_fix}")
    return Template(
        text,
        expression=gate.expression,
        fix=fix,
        key=gate.metric,
        metric=metric,
        requires=requires,
        value="True" if flag else "...",
        cli_fix=f"{entry.cli_flag} ({assignment})" if entry.cli_flag else assignment,
    )


def _check_per_class_gate(
    gate: Gate, metrics: Sequence[str], labelled: bool, class_names: Sequence[str] | None
) -> None:
    """Refuse a per-class gate in a run without class labels, on a metric it leaves out, or naming no class."""
    if not labelled:
        raise InputError(
            Template(
                "--fail-if {expression!r}: {key} is a per-class value; give the run class labels ({fix})",
                expression=gate.expression,
                key=gate.metric,
                fix=PerFrontEnd(
                    python="{classes}='subfolders', a label file, or real_labels=/fake_labels=",
                    cli="{classes} subfolders, predicted or a label file",
                ),
            )
        )
    if gate.source != PER_CLASS_SOURCE and gate.source not in metrics:
        raise InputError(
            f"--fail-if {gate.expression!r}: needs metric {gate.source!r}, which this run does not compute "
            f"(computed: {', '.join(metrics)})"
        )
    parts = split_class_key(gate.metric)
    if parts is not None and class_names is not None and parts[1] not in class_names:
        raise InputError(
            f"--fail-if {gate.expression!r}: no class named {parts[1]!r}; the classes are {', '.join(class_names)}"
        )


def check_gate_sources(
    gates: Sequence[Gate],
    reported: Mapping[str, str],
    labelled: bool = False,
    class_names: Sequence[str] | None = None,
) -> None:
    """Raise before any work when a gate names something this run will not compute (a gate must never fail
    only because of a typo or a left-out metric).

    Args:
        gates: parsed gates.
        reported: ``{output key: metric name}`` of every output this run reports
            (:meth:`ganprobe.run.evaluator.Evaluator.output_keys`).
        labelled: whether the run has class labels (per-class gates need them).
        class_names: the run's class names, when known (``None``: not checked here).

    Raises:
        InputError: naming the gate and what is missing.
    """
    metrics = list(dict.fromkeys(reported.values()))
    for gate in gates:
        if gate.per_class:
            _check_per_class_gate(gate, metrics, labelled, class_names)
            continue
        if gate.metric in reported:
            continue
        if gate.source not in metrics:
            raise InputError(
                f"--fail-if {gate.expression!r}: needs metric {gate.source!r}, which this run does not compute "
                f"(computed: {', '.join(metrics)})"
            )
        found = find_output(gate.metric)
        requires = found[1].requires if found else None
        if found and requires:
            raise InputError(_needs(gate, found[0], requires))
        same = sorted(key for key, name in reported.items() if name == gate.source)
        raise InputError(
            f"--fail-if {gate.expression!r}: this run reports {gate.metric.rsplit('.', 1)[0]}... only as "
            f"{', '.join(same)} (choose layers with --layers, protocols with --set)"
        )


def check_max_regression(allowance: float, option: str = "--max-regression") -> None:
    """Raise :class:`InputError` unless an allowed regression (percent or sigmas) is finite and non-negative."""
    if not math.isfinite(allowance) or allowance < 0:
        raise InputError(f"{option}: must be a finite, non-negative number, got {allowance}")


def metric_values(records: Sequence[MetricRecord]) -> dict[str, float]:
    """``{key: value}`` of every record (separability cells included): what gates can name."""
    return {record.key: float(record.value) for record in records}


def _number(value: float) -> str:
    return f"{value:.6g}"


def check_gates(
    gates: Sequence[Gate], values: Mapping[str, float], reasons: Mapping[str, str] | None = None
) -> list[GateResult]:
    """Check each gate against the measured ``values`` (see :func:`metric_values`).

    Args:
        gates: parsed gates.
        values: ``{key: value}``.
        reasons: ``{key: why it has no number}`` (a per-class value below the sample-size rule).

    Returns:
        One :class:`GateResult` per gate, in order. A gate whose metric is missing or not finite fails.
    """
    results = []
    for gate in gates:
        value = values.get(gate.metric)
        if value is None or not math.isfinite(value):
            state = "was not computed" if value is None else f"is {value} (not a finite number)"
            if reasons and gate.metric in reasons:
                state = f"has no value ({reasons[gate.metric]})"
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


def _finite(value: Any) -> bool:
    """A finite JSON number: not a bool, and integers too large for a float are not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def regression_allowance(
    before: float,
    direction: Direction,
    stderr_before: float | None,
    stderr_now: float | None,
    percent: float,
    sigmas: float = defaults.REGRESSION_SIGMAS,
) -> float:
    """How much worse (in the output's badness) a value may be than its baseline before the gate fails.

    The larger of ``percent`` of the baseline's badness and ``sigmas`` combined standard errors (the sampling noise
    of two independent runs, ``sqrt(se_before^2 + se_now^2)``; a missing side counts as the other side's). So a
    near-zero or negative baseline (KID, memorisation 0, 1-NN accuracy at 0.5) still allows its noise.
    """
    badness = direction.badness(before) or 0.0
    allowed = abs(badness) * percent / 100.0
    errors = [value for value in (stderr_before, stderr_now) if value is not None and _finite(value)]
    if errors:
        if len(errors) == 1:
            errors = errors * 2
        allowed = max(allowed, sigmas * math.sqrt(sum(error * error for error in errors)))
    return max(allowed, 1e-12)


def check_regressions(
    records: Sequence[MetricRecord],
    baseline: Mapping[str, Any],
    max_regression_percent: float,
    sigmas: float = defaults.REGRESSION_SIGMAS,
) -> list[GateResult]:
    """Compare this run with a previous JSON report: an output fails when it got worse beyond sampling noise.

    "Worse" follows each output's declared direction (``lower``, ``higher``, or distance from a ``target`` such as
    0.5 for 1-NN accuracies); outputs without a direction (p-values, spreads) are not compared. The allowance is
    the larger of ``max_regression_percent`` of the baseline's value and ``sigmas`` combined standard errors of the
    two runs (each record's ``stderr``, from its metric's declared method; see :func:`regression_allowance`). An
    output that the baseline holds but this run does not, or that either side holds as not finite, fails: a
    regression gate never passes by default.

    Args:
        records: this run's records.
        baseline: a previous ``ganprobe evaluate --json`` report (parsed).
        max_regression_percent: the allowed worsening, in percent of the baseline value (e.g. ``10``).
        sigmas: the allowed worsening in combined standard errors.

    Raises:
        InputError: the baseline is not a ganprobe report, or measured an output in another feature space
            (another extractor or layer: the numbers are not comparable).
    """
    check_max_regression(max_regression_percent)
    check_max_regression(sigmas, "--regression-sigmas")
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
        found = find_output(key)
        if found is None:
            continue  # an output this version no longer declares
        direction = found[1].direction
        if direction.badness(0.0) is None:
            continue
        if record is not None and entry.get("feature_space") not in (None, record.feature_space):
            raise InputError(
                f"--baseline: {key} was measured in {entry.get('feature_space')!r}, this run in "
                f"{record.feature_space!r}; compare runs of the same extractor and layer"
            )
        results.append(_regression(key, entry, record, direction, max_regression_percent, sigmas))
    return results


def _regression(
    key: str,
    entry: Mapping[str, Any],
    record: MetricRecord | None,
    direction: Direction,
    percent: float,
    sigmas: float,
) -> GateResult:
    before_error = entry.get("stderr") if _finite(entry.get("stderr")) else None
    now = float(record.value) if record is not None else None
    now_error = record.stderr if record is not None else None
    return regression_gate(key, entry.get("value"), now, direction, percent, sigmas, before_error, now_error)


def regression_gate(
    key: str,
    before: Any,
    now: float | None,
    direction: Direction,
    percent: float,
    sigmas: float,
    before_stderr: float | None = None,
    now_stderr: float | None = None,
    absent: str = "was not computed in this run",
) -> GateResult:
    """One regression gate: ``key`` fails when ``now`` is worse than the baseline's ``before`` beyond the allowance
    (:func:`regression_allowance`), or when either side has no finite value (never passes by default).

    Args:
        key: the output key (``fid``, ``recall[7]``).
        before: the baseline's value (a JSON number, or anything else: not finite).
        now: this run's value; ``None`` when it has none (``absent`` says why).
        direction: the output's declared direction.
        percent, sigmas: the allowance (percent of the baseline's badness; combined standard errors).
        before_stderr, now_stderr: the two values' standard errors, where known.
        absent: the end of the sentence ``"<key> <absent>"`` when ``now`` is ``None``.
    """
    expression = f"{key} regression <= max({percent:g}%, {sigmas:g} sigma)"
    now_value = float(now) if now is not None else math.nan
    threshold = float(before) if _finite(before) else 0.0
    if not _finite(before):
        passed, detail = False, f"{key} has no finite value in the baseline"
    elif not math.isfinite(now_value):
        state = absent if now is None else f"is {now_value} (not a finite number) in this run"
        passed, detail = False, f"{key} {state}"
    else:
        allowed = regression_allowance(float(before), direction, before_stderr, now_stderr, percent, sigmas)
        worsening = (direction.badness(now_value) or 0.0) - (direction.badness(float(before)) or 0.0)
        passed = worsening <= allowed
        verb = "worse" if worsening > 0 else "better"
        scale = abs(direction.badness(float(before)) or 0.0)
        share = f" = {abs(worsening) / scale * 100:.3g}% of the baseline" if scale else ""
        detail = (
            f"{key} = {_number(now_value)} vs baseline {_number(float(before))} "
            f"({_number(abs(worsening))} {verb}{share}; allowed {_number(allowed)} worse, the larger of "
            f"{percent:g}% and {sigmas:g} standard errors; {direction.describe() or 'n/a'})"
        )
    return GateResult(
        expression,
        key,
        "regression",
        threshold,
        now_value if math.isfinite(now_value) else None,
        passed,
        f"{'regression gate passed' if passed else 'regression gate FAILED'}: {detail}",
    )
