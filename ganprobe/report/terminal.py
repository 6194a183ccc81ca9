"""Terminal tables of an evaluation (rich)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from ganprobe.report.records import MetricRecord


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}"


def _direction(record: MetricRecord) -> str:
    if record.key == "knn_loo":
        return "0.5 best"
    return {True: "higher", False: "lower", None: ""}[record.higher_is_better]


def print_results(
    extractor: str,
    records: Sequence[MetricRecord],
    separability: Mapping[str, Mapping[str, float]],
    first_separable: str | None,
    suspicious: Sequence[Any] = (),
    console: Console | None = None,
) -> None:
    """Print the metric table, the per-layer separability table and the most suspicious memorisation pairs."""
    out = console or Console()
    table = Table(title=f"ganprobe: fake vs real on {extractor}")
    for column, justify in (
        ("metric", "left"),
        ("value", "right"),
        ("uncertainty", "right"),
        ("better", "left"),
        ("feature space", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for record in records:
        if record.low is not None and record.high is not None:
            uncertainty = f"[{_number(record.low)}, {_number(record.high)}]"
        elif record.std is not None:
            uncertainty = f"± {_number(record.std)}"
        else:
            uncertainty = ""
        table.add_row(record.label, _number(record.value), uncertainty, _direction(record), record.feature_space)
    out.print(table)
    if separability:
        protocols = list(next(iter(separability.values())))
        layers = Table(title="Per-layer separability (0.5 = indistinguishable, 1.0 = separable)")
        layers.add_column("layer")
        for protocol in protocols:
            layers.add_column(protocol, justify="right")
        for layer, scores in separability.items():
            layers.add_row(layer, *(f"{scores[p]:.3f}" for p in protocols))
        out.print(layers)
        out.print(
            f"first layer whose linear probe separates fakes (>= 0.75): {first_separable or 'none'}; "
            "linear_probe and knn_loo are held out, pca2_svm is the study's training accuracy (optimistic)."
        )
    if suspicious:
        pairs = Table(title="Closest fakes to real images (possible copies; ratio << 1 is suspicious)")
        for column in ("fake", "nearest real", "distance", "ratio"):
            pairs.add_column(column)
        for pair in suspicious:
            pairs.add_row(
                str(pair.fake_path or pair.fake_index),
                str(pair.real_path or pair.real_index),
                _number(pair.distance),
                _number(pair.ratio),
            )
        out.print(pairs)
