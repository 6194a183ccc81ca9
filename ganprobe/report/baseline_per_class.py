"""Regression gates on a baseline's per-class values: ``fid[7]``, ``recall[7]``, ``missing_classes``... (issue 24).

A report written by a run with class labels holds a ``per_class`` section (:meth:`PerClassReport.as_dict
<ganprobe.run.per_class.PerClassReport.as_dict>`). With such a report as ``--baseline``, every per-class number it
holds is compared with this run's by the headline rule (:func:`~ganprobe.report.gates.regression_gate`: worse than
the baseline beyond the larger of ``--max-regression`` percent and ``--regression-sigmas`` combined standard errors).
Standard errors: a proportion declared ``binomial_*`` (per-class precision, recall, coverage, 1-NN accuracy) gets its
binomial error from the class's image counts on each side, as the headline value does, and the CAS from its
held-out reals; the other values (per-class FID, KID, density, intra-class FID, class total variation) get this
run's half-sample standard error (:meth:`PerClassReport.standard_errors
<ganprobe.run.per_class.PerClassReport.standard_errors>`, computed only when a baseline is checked; a report holds
no features, so the baseline's side counts as this run's). The class counts (missing, over- and under-produced
classes) have none: one more missing class fails. What is compared, and what is not:

* the run-wide outputs with a direction (:data:`~ganprobe.metrics.per_class_outputs.RUN_OUTPUTS`: missing, over- and
  under-produced classes, class total variation, intra-class FID) and every ``VALUE[CLASS]`` with a number in the
  baseline; ``class_p_value`` has no direction and is not compared;
* a baseline value that is ``null`` (the class had too few samples, or no fakes: its ``reasons`` entry says so) is
  not compared: there is nothing to regress from;
* a baseline number that this run lacks (the class has no fakes now, too few samples, the metric left out, or no
  class labels at all) *fails*, naming the key and why: a regression gate never passes by default.

Per-class values measured on another layer, or with classes from another labelling (``subfolders`` against
``predicted: ...``), are not comparable: :class:`~ganprobe.errors.InputError`. Label files at different paths count as
the same labelling (the path of a checkout differs between machines).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from ganprobe.errors import InputError
from ganprobe.metrics.per_class_outputs import (
    KEY_CAS,
    KEY_CAS_REAL,
    KEY_INTRA_CLASS_FID,
    KEY_MISSING,
    KEY_OVER_PRODUCED,
    KEY_P_VALUE,
    KEY_TOTAL_VARIATION,
    KEY_UNDER_PRODUCED,
    PER_CLASS_SOURCE,
    class_key,
    find_per_class_output,
    split_class_key,
)
from ganprobe.metrics.records import Output, binomial_stderr
from ganprobe.report.gates import GateResult, check_max_regression, regression_gate
from ganprobe.utils.safe_text import one_line

# The per_class section's distribution fields behind the run-wide keys (as PerClassReport.as_dict writes them).
_COUNTS = {key: key.removesuffix("_classes") for key in (KEY_MISSING, KEY_OVER_PRODUCED, KEY_UNDER_PRODUCED)}
_SHARES = {KEY_TOTAL_VARIATION: "total_variation", KEY_P_VALUE: "p_value"}


class PerClassValues(Protocol):
    """What the gates read of a run's per-class report (:class:`~ganprobe.run.per_class.PerClassReport`)."""

    source: str
    layer: str
    names: tuple[str, ...]
    cas: Any  # CASResult | None: its num_test gives the CAS its binomial error

    def values(self) -> dict[str, float]:
        """``{key: value}``: run-wide per-class outputs and ``VALUE[CLASS]`` (``nan`` where a class has none)."""
        ...

    def reasons(self) -> dict[str, str]:
        """``{key: why it has no value}``."""
        ...

    def as_dict(self) -> dict[str, Any]:
        """The JSON report's ``per_class`` section (the classes' image counts are read from it)."""
        ...

    def standard_errors(self) -> dict[str, float]:
        """``{key: half-sample standard error}`` of this run's values that have one (computed on request)."""
        ...


def _is_number(value: object, finite: bool = True) -> bool:
    """A JSON number (not a boolean), finite unless ``finite`` is off."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return not finite or math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _number_or_null(value: object, where: str, field: str) -> None:
    if value is not None and not _is_number(value):
        raise InputError(f"{where}: {field} must be a finite number or null, got {one_line(repr(value))[:80]}")


def check_per_class_section(section: object, where: str) -> Mapping[str, Any]:
    """Check the shape of a baseline's ``per_class`` section: the fields the regression gates read.

    Args:
        section: the parsed ``per_class`` value.
        where: the message prefix naming the baseline (``--baseline: report.json``).

    Returns:
        ``section``, unchanged.

    Raises:
        InputError: ``<where>: per_class.<field> ...``, one line, for the first field that is not what ganprobe
            writes: the section or its ``distribution`` not an object, ``source``/``layer`` not a non-empty string,
            a class count not a non-negative integer, a share, ``intra_class_fid`` or a class's value not a finite
            number or null, ``classes`` not a list of objects with a unique string ``name``, an object ``values``
            and an object ``reasons`` of strings.
    """
    if not isinstance(section, Mapping):
        raise InputError(f"{where}: per_class is a {type(section).__name__}, not an object")
    for name in ("source", "layer"):
        if not isinstance(section.get(name), str) or not section[name]:
            raise InputError(f"{where}: per_class.{name} must be a non-empty string, got {section.get(name)!r}")
    distribution = section.get("distribution")
    if not isinstance(distribution, Mapping):
        raise InputError(f"{where}: per_class.distribution is a {type(distribution).__name__}, not an object")
    for name in _COUNTS.values():
        count = distribution.get(name)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InputError(f"{where}: per_class.distribution.{name} must be a non-negative integer, got {count!r}")
    for name in _SHARES.values():
        _number_or_null(distribution.get(name), where, f"per_class.distribution.{name}")
    _number_or_null(section.get(KEY_INTRA_CLASS_FID), where, f"per_class.{KEY_INTRA_CLASS_FID}")
    cas = section.get(KEY_CAS)
    if cas is not None:
        if not isinstance(cas, Mapping):
            raise InputError(f"{where}: per_class.cas is a {type(cas).__name__}, not an object")
        _number_or_null(cas.get(KEY_CAS), where, "per_class.cas.cas")
        _number_or_null(cas.get("real_accuracy"), where, "per_class.cas.real_accuracy")
        count = cas.get("num_test")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise InputError(f"{where}: per_class.cas.num_test must be a non-negative integer, got {count!r}")
    classes = section.get("classes")
    if not isinstance(classes, list):
        raise InputError(f"{where}: per_class.classes is a {type(classes).__name__}, not a list")
    seen: set[str] = set()
    for index, entry in enumerate(classes):
        field = f"per_class.classes[{index}]"
        if not isinstance(entry, Mapping):
            raise InputError(f"{where}: {field} is a {type(entry).__name__}, not an object")
        name = entry.get("name")
        if not isinstance(name, str) or not name or name in seen:
            state = "repeats" if name in seen else "must be a non-empty string, got"
            raise InputError(f"{where}: {field}.name {state} {one_line(repr(name))[:80]}")
        seen.add(name)
        for part in ("real_count", "fake_count"):
            count = entry.get(part)
            if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
                raise InputError(f"{where}: {field}.{part} must be a non-negative integer, got {count!r}")
        for part in ("values", "reasons"):
            if not isinstance(entry.get(part), Mapping):
                got = "missing" if part not in entry else f"a {type(entry[part]).__name__}"
                raise InputError(f"{where}: {field}.{part} must be an object ({got})")
        for key, value in entry["values"].items():
            _number_or_null(value, where, f"{field}.values.{one_line(str(key))[:40]}")
        if not all(isinstance(reason, str) for reason in entry["reasons"].values()):
            raise InputError(f"{where}: {field}.reasons must map each metric to a string")
    return section


def baseline_per_class_values(section: Mapping[str, Any]) -> dict[str, float | None]:
    """The gate-able numbers of a (checked) ``per_class`` section, keyed like :meth:`PerClassValues.values`.

    Returns:
        ``{key: value}`` for the run-wide outputs and every ``VALUE[CLASS]`` the section holds with a per-class
        declaration (``knn_loo_balanced`` has none); ``None`` where the section holds ``null``. A value withheld
        for too few samples is absent from the class's ``values`` (its ``reasons`` say why), so absent here too.
    """
    distribution = section["distribution"]
    values: dict[str, float | None] = {key: distribution[name] for key, name in _COUNTS.items()}
    values.update({key: distribution.get(name) for key, name in _SHARES.items()})
    values[KEY_INTRA_CLASS_FID] = section.get(KEY_INTRA_CLASS_FID)
    if isinstance(section.get(KEY_CAS), Mapping):  # reports before the CAS have none
        values[KEY_CAS] = section[KEY_CAS].get(KEY_CAS)
        values[KEY_CAS_REAL] = section[KEY_CAS].get("real_accuracy")
    for entry in section["classes"]:
        for value_name, value in entry["values"].items():
            key = class_key(value_name, entry["name"])
            if find_per_class_output(key) is not None:
                values[key] = value
    return {key: float(value) if value is not None else None for key, value in values.items()}


def _class_counts(section: Mapping[str, Any]) -> dict[str, tuple[int | None, int | None]]:
    """``{class name: (real images, fake images)}`` of a (checked) ``per_class`` section."""
    return {entry["name"]: (entry.get("real_count"), entry.get("fake_count")) for entry in section["classes"]}


def _cas_test_count(section: Mapping[str, Any]) -> int | None:
    """The held-out reals behind a (checked) section's CAS, or ``None``."""
    cas = section.get(KEY_CAS)
    count = cas.get("num_test") if isinstance(cas, Mapping) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else None


def per_class_stderr(
    key: str,
    output: Output,
    value: float,
    counts: Mapping[str, tuple[int | None, int | None]],
    cas_tests: int | None = None,
) -> float | None:
    """The standard error of a per-class value where its declared method needs only the class's image counts.

    Args:
        key: ``VALUE[CLASS]`` (a run-wide output has none here).
        output: its declaration (:func:`~ganprobe.metrics.per_class_outputs.find_per_class_output`).
        value: the value.
        counts: ``{class name: (real images, fake images)}`` of the same run.

    Returns:
        :func:`~ganprobe.metrics.records.binomial_stderr` over the class's reals, fakes or both for an output
        declared ``binomial_real``, ``binomial_fake`` or ``binomial_both``; ``None`` otherwise (half-sample errors
        need the features, which a report does not hold), or when the counts are unknown.
    """
    if key == KEY_CAS and cas_tests:  # an accuracy over the held-out reals
        error = binomial_stderr(value, cas_tests)
        return error if math.isfinite(error) else None
    parts = split_class_key(key)
    if parts is None or not output.uncertainty.startswith("binomial_"):
        return None
    real, fake = counts.get(parts[1], (None, None))
    which = output.uncertainty.removeprefix("binomial_")
    count = {"real": real, "fake": fake, "both": None if real is None or fake is None else real + fake}.get(which)
    if count is None or count < 1:
        return None
    error = binomial_stderr(value, count)
    return error if math.isfinite(error) else None


def _labelling(source: str) -> str:
    """A labelling's kind for comparing runs: a label file's path is left out (``file PATH`` -> ``file``)."""
    return "file" if source.startswith("file ") else source


def _why_absent(key: str, current: PerClassValues | None, values: Mapping[str, float], source: str) -> str:
    """The end of ``"<key> ..."`` when this run has no number for a baseline's per-class key."""
    if current is None:
        return f"has no value in this run (this run has no class labels; the baseline's came from {one_line(source)})"
    reason = current.reasons().get(key)
    if key in values:
        return f"has no value in this run ({reason})" if reason else "has no value in this run"
    parts = split_class_key(key)
    if parts is not None and parts[1] not in current.names:
        names = one_line(", ".join(current.names))
        return f"has no value in this run (no class {one_line(parts[1])} among its classes: {names})"
    return "was not computed in this run"


def check_per_class_regressions(
    baseline: Mapping[str, Any],
    current: PerClassValues | None,
    max_regression_percent: float,
    sigmas: float,
) -> list[GateResult]:
    """Compare this run's per-class values with a baseline report's ``per_class`` section (see the module text).

    Args:
        baseline: a previous ``--json`` report (parsed); without a ``per_class`` section nothing is compared.
        current: this run's per-class report (``None``: the run has no class labels).
        max_regression_percent: the allowed worsening, in percent of the baseline's value.
        sigmas: the allowed worsening in combined standard errors (used where a value has one).

    Returns:
        One :class:`~ganprobe.report.gates.GateResult` per compared key: the run-wide outputs, then the classes in
        the baseline's order.

    Raises:
        InputError: the section is malformed (:func:`check_per_class_section`), or was measured on another layer or
            with another labelling than this run's.
    """
    section = baseline.get(PER_CLASS_SOURCE)
    if section is None and PER_CLASS_SOURCE not in baseline:
        return []
    check_max_regression(max_regression_percent)
    check_max_regression(sigmas, "--regression-sigmas")
    section = check_per_class_section(section, "--baseline")
    if current is not None:
        if section["layer"] != current.layer:
            raise InputError(
                f"--baseline: its per-class values were measured on layer {section['layer']!r}, this run's on "
                f"{current.layer!r}; compare runs of the same extractor and layer"
            )
        if _labelling(section["source"]) != _labelling(current.source):
            raise InputError(
                f"--baseline: its classes came from {section['source']!r}, this run's from {current.source!r}; "
                "per-class values compare only between runs whose labels come from the same kind of source"
            )
    values = current.values() if current is not None else {}
    measured = current.standard_errors() if current is not None else {}  # half-sample errors of this run's values
    cas_before = _cas_test_count(section)
    cas_now = current.cas.num_test if current is not None and current.cas is not None else None
    counts_before = _class_counts(section)
    counts_now = _class_counts(current.as_dict()) if current is not None else {}
    results = []
    for key, before in baseline_per_class_values(section).items():
        found = find_per_class_output(key)
        if before is None or not math.isfinite(before) or found is None:
            continue  # no number to regress from (too few samples, or no fakes, in the baseline)
        direction = found[1].direction
        if direction.badness(0.0) is None:
            continue  # class_p_value: no better or worse
        now = values.get(key)
        if now is None or not math.isfinite(now):
            why = _why_absent(key, current, values, section["source"])
            results.append(regression_gate(key, before, None, direction, max_regression_percent, sigmas, absent=why))
        else:
            errors = (
                per_class_stderr(key, found[1], before, counts_before, cas_before),
                per_class_stderr(key, found[1], now, counts_now, cas_now) or measured.get(key),
            )
            results.append(regression_gate(key, before, now, direction, max_regression_percent, sigmas, *errors))
    return results
