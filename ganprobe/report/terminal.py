"""Terminal tables of an evaluation (rich)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ganprobe.metrics.per_class_outputs import CLASS_VALUES
from ganprobe.metrics.records import NO_SPREAD_TEXT, MetricRecord, no_spread
from ganprobe.report.gates import GateResult
from ganprobe.utils.safe_text import one_line, shorten_common_prefix


def _safe(text: object) -> str:
    """User-derived text (file and class names, layer names, reasons) for the terminal: every control character
    escaped (an ESC in a folder name must not recolour or clear the user's terminal), then Rich markup escaped."""
    return escape(one_line(str(text)))


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}"


def _console() -> Console:
    """Standard output; at least 120 columns when it is not a terminal (CI logs), so rows do not wrap."""
    console = Console()
    return console if console.is_terminal else Console(width=max(120, console.width))


def direction(record: MetricRecord) -> str:
    """How to read the number, from its declaration: ``higher``/``lower`` (is better), ``0.5 best``, or empty."""
    return record.better.short()


def print_results(
    extractor: str,
    records: Sequence[MetricRecord],
    first_separable: str | None,
    suspicious: Sequence[Any] = (),
    gates: Sequence[GateResult] = (),
    console: Console | None = None,
    verdict: Sequence[str] = (),
    per_class: Mapping[str, Any] | None = None,
    worst: Mapping[str, Any] | None = None,
) -> None:
    """Print the metric table, the per-layer separability table, the most suspicious memorisation pairs and gates.

    Args:
        extractor: the extractor's name (table title).
        records: the metric records (one row each; per-layer records form the separability table).
        first_separable: the first layer whose linear probe separates fakes, or ``None``.
        suspicious: memorisation pairs (objects with ``fake_path``/``real_path``/``distance``/``ratio``).
        gates: checked gates; the metric table's "gate" column shows each metric's status, and every gate is
            listed with its value and threshold.
        console: where to print (default: standard output).
        verdict: plain-words sentences printed first, under "In short" (:attr:`EvaluationResult.verdict`).
        per_class, worst: the JSON report's ``per_class`` and ``worst_samples`` sections, printed before the gates
            (:func:`print_per_class`).
    """
    from ganprobe.defaults import SEPARABLE_THRESHOLD

    out = console or _console()
    if verdict:
        out.print("[bold]In short[/]")
        for line in verdict:
            out.print(f"  - {_safe(line)}", highlight=False)
        out.print()
    status: dict[str, str] = {}
    for gate in gates:
        previous = status.get(gate.metric, "pass")
        status[gate.metric] = "FAIL" if previous == "FAIL" or not gate.passed else "pass"
    table = Table(title=f"ganprobe: fake vs real on {_safe(extractor)}")
    for column, justify in (
        ("metric", "left"),
        ("value", "right"),
        ("uncertainty", "right"),
        ("better", "left"),
        ("feature space", "left"),
        ("gate", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for record in (record for record in records if record.layer is None):
        if record.low is not None and record.high is not None:
            uncertainty = f"[{_number(record.low)}, {_number(record.high)}]"
        elif no_spread(record.std, record.value):
            uncertainty = NO_SPREAD_TEXT
        elif record.std is not None:
            uncertainty = f"± {_number(record.std)}"
        else:
            uncertainty = ""
        gate = {"FAIL": "[bold red]FAIL[/]", "pass": "[green]pass[/]"}.get(status.get(record.key, ""), "")
        table.add_row(
            _safe(record.label),
            _number(record.value),
            uncertainty,
            direction(record),
            _safe(record.feature_space),
            gate,
        )
    out.print(table)
    per_layer = [record for record in records if record.layer is not None]
    if per_layer:
        protocols = list(dict.fromkeys(str(record.protocol) for record in per_layer))
        cells = {(record.layer, record.protocol): record for record in per_layer}
        layers = Table(title=f"Per-layer separability ({direction(per_layer[0])}; 1.0 = separable)")
        layers.add_column("layer")
        for protocol in protocols:
            layers.add_column(protocol, justify="right")
        for layer in dict.fromkeys(record.layer for record in per_layer):
            row = [cells.get((layer, p)) for p in protocols]
            layers.add_row(_safe(str(layer)), *(f"{cell.value:.3f}" if cell else "-" for cell in row))
        out.print(layers)
        out.print(
            f"first layer whose linear probe separates fakes (>= {SEPARABLE_THRESHOLD:g}): "
            f"{first_separable or 'none'}; "
            "linear_probe and knn_loo are held out, pca2_svm is the study's training accuracy (optimistic)."
        )
    if suspicious:
        pairs = Table(title="Closest fakes to real images (possible copies; ratio << 1 is suspicious)")
        for column in ("fake", "nearest real", "distance", "ratio", "as"):
            pairs.add_column(column, overflow="fold")  # a name too long even so wraps; it is never cut
        budget = max(20, (out.width - 40) // 2)  # two path columns beside three short columns and borders
        fakes = shorten_common_prefix([str(pair.fake_path or pair.fake_index) for pair in suspicious], budget)
        reals = shorten_common_prefix([str(pair.real_path or pair.real_index) for pair in suspicious], budget)
        for pair, fake, real in zip(suspicious, fakes, reals, strict=True):
            space = getattr(pair, "space", "features")
            pairs.add_row(_safe(fake), _safe(real), _number(pair.distance), _number(pair.ratio), space)
        out.print(pairs)
    print_per_class(per_class, worst, out)
    if gates:
        failed = sum(not gate.passed for gate in gates)
        summary = Table(title=f"Quality gates: {len(gates) - failed} passed, {failed} failed")
        for column in ("gate", "value", "threshold", "status"):
            summary.add_column(column)
        for gate in gates:
            summary.add_row(
                _safe(gate.expression),
                _number(gate.value),
                _number(gate.threshold),
                "[green]pass[/]" if gate.passed else "[bold red]FAIL[/]",
            )
        out.print(summary)


def print_per_class(
    per_class: Mapping[str, Any] | None, worst: Mapping[str, Any] | None = None, console: Console | None = None
) -> None:
    """Print the per-class table and the least realistic fakes / least covered reals.

    Args:
        per_class: the JSON report's ``per_class`` section (``None``: no class labels).
        worst: the JSON report's ``worst_samples`` section (``None``: not computed).
        console: where to print (default: standard output).
    """
    out = console or _console()
    if per_class:
        test = per_class["distribution"]
        classes = per_class["classes"]
        columns = [
            name
            for name in CLASS_VALUES
            if any(name in entry["values"] or _group_of(name) in entry["reasons"] for entry in classes)
        ]
        p_value = test["p_value"]
        title = (
            f"Per class ({_safe(str(per_class['source']))}; {_safe(per_class['layer'])}): chi-square "
            f"{_number(test['chi2'])} on {test['dof']} dof, p = {'-' if p_value is None else f'{p_value:.3g}'}, "
            f"total variation {_number(test['total_variation'])}"
        )
        table = Table(title=title)
        for column, justify in (("class", "left"), ("real", "right"), ("fake", "right"), ("status", "left")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for column in columns:
            table.add_column(column, justify="right")
        for entry in classes:
            status = entry["status"]
            shown_status = status if status == "ok" else f"[bold red]{status}[/]"
            cells = [_number(entry["values"][name]) if name in entry["values"] else "n/a" for name in columns]
            table.add_row(
                _safe(entry["name"]), f"{entry['real_count']:,}", f"{entry['fake_count']:,}", shown_status, *cells
            )
        out.print(table)
        if per_class.get("required"):
            needs = ", ".join(f"{group} {count:,}" for group, count in per_class["required"].items())
            out.print(f"n/a: no fakes (or reals) of the class, or fewer per set than the headline rule needs: {needs}")
        intra = per_class.get("intra_class_fid")
        if intra is not None and math.isfinite(intra):
            count = len(per_class["intra_class_fid_classes"])
            out.print(f"intra-class FID {_number(per_class['intra_class_fid'])} over {count} classes")
        cas = per_class.get("cas") or {}
        if cas.get("cas") is not None:
            out.print(
                f"Classification Accuracy Score {cas['cas']:.1%} (probe trained on {cas['num_fake_train']:,} fakes; "
                f"the same probe trained on {cas['num_real_train']:,} reals: {cas['real_accuracy']:.1%}; chance "
                f"{cas['chance']:.1%}; {cas['num_test']:,} held-out reals)",
                highlight=False,
            )
        elif cas.get("reason"):
            out.print(f"Classification Accuracy Score: none ({_safe(str(cas['reason']))})", highlight=False)
    if worst:
        _print_worst(out, worst)
        _print_probe(out, worst.get("probe"))


def _group_of(name: str) -> str:
    """The metric group (a class entry's ``reasons`` key) of the per-class value ``name``."""
    from ganprobe.functional.per_class import GROUPS

    return next((group for group, names in GROUPS.items() if name in names), name)


def _print_worst(out: Console, worst: Mapping[str, Any]) -> None:
    if worst.get("reason"):
        out.print(f"least realistic fakes / least covered reals: none ({_safe(str(worst['reason']))})")
        return
    for key, title, value, note in (
        (
            "least_realistic_fakes",
            "Least realistic fakes",
            "realism",
            f"realism: largest real k-NN radius (k = {worst['k']}) over the distance to the fake; < 1: in no real ball",
        ),
        (
            "least_covered_reals",
            "Least covered reals",
            "coverage_ratio",
            f"coverage_ratio: distance to the nearest fake over the real's k-NN radius (k = {worst['coverage_k']}); "
            "> 1: no fake covers it",
        ),
    ):
        _sample_table(out, worst[key], title, (value,), note)


def _sample_table(
    out: Console, rows: Sequence[Mapping[str, Any]], title: str, values: Sequence[str], note: str
) -> None:
    """A table of listed samples: file (common prefix shortened), class, then ``values``; nothing when empty."""
    if not rows:
        return
    table = Table(title=title)
    for column in ("file", "class", *values):
        table.add_column(column, overflow="fold")
    budget = max(20, out.width - 30 - 10 * len(values))
    names = shorten_common_prefix([str(row["path"] or f"#{row['index']}") for row in rows], budget)
    for row, name in zip(rows, names, strict=True):
        numbers = (f"{row[value]:.3f}" if "probability" in value else _number(row[value]) for value in values)
        table.add_row(_safe(name), _safe(str(row["class"] or "-")), *numbers)
    out.print(table)
    out.print(note, highlight=False)


def _print_probe(out: Console, probe: Mapping[str, Any] | None) -> None:
    """The fakes the first separable layer's probe calls most fake, and those only that layer catches."""
    if not probe:
        return
    if probe.get("reason"):
        out.print(f"most obvious fakes by the probe: none ({_safe(str(probe['reason']))})", highlight=False)
        return
    first, last = _safe(probe["first_layer"]), _safe(probe["last_layer"])
    note = (
        f"fake_probability: held-out probability 'fake' from the linear probe at {first}, the first separable layer "
        f"(its accuracy {_number(probe['accuracy'])}; 0.5: chance)"
    )
    _sample_table(out, probe["most_fake"], f"Most obvious fakes ({first} probe)", ("fake_probability",), note)
    if probe.get("caught_early_reason"):
        out.print(f"caught at {first} but not at the last layer: none ({_safe(probe['caught_early_reason'])})")
        return
    count = probe["caught_early_count"]
    title = f"Caught at {first} but not at {last} ({count:,} fakes in all)"
    note = (
        f"what the early layers object to and the last lets pass: probability 'fake' > 0.5 at {first}, <= 0.5 at "
        f"{last} (its probe's accuracy {_number(probe['last_accuracy'])})"
    )
    if count == 0:
        out.print(f"caught at {first} but not at {last}: none", highlight=False)
        return
    _sample_table(out, probe["caught_early"], title, ("fake_probability", "fake_probability_last"), note)
