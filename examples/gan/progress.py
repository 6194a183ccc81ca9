"""A rich progress bar for the training loop: step, elapsed/remaining time, the latest losses and metric values.

On a terminal the bar redraws in place (ten times a second, from rich's own thread, so the loop never waits for
it); evaluation lines are printed above it. Piped to a file or a CI log, rich draws the bar once, when training
ends, and the evaluation lines stay one per evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

# Metric columns shown on the bar, with short names (the full set is in metrics.csv).
SHOWN_METRICS = {"knn_loo": "1-NN", "fd": "FD", "d_class_accuracy": "D class acc"}


def format_values(values: Mapping[str, float], names: Mapping[str, str] | None = None) -> str:
    """``name value`` pairs with 4 significant digits, e.g. ``d_loss 1.02  g_loss 1.31``; non-numbers skipped."""
    parts = []
    for key, value in values.items():
        if names is not None and key not in names:
            continue
        if isinstance(value, (int, float)):
            parts.append(f"{names[key] if names else key} {value:.4g}")
    return "  ".join(parts)


class TrainingProgress:
    """Context manager around :class:`rich.progress.Progress` for ``steps`` generator updates.

    Args:
        steps: total steps (the bar's length).
        description: text before the bar.
        console: where to draw (default: standard error, as ganprobe's CLI does; 200 columns when it is not a
            terminal).
    """

    def __init__(self, steps: int, description: str = "training", console: Console | None = None) -> None:
        if console is None:
            console = Console(stderr=True)
            if not console.is_terminal:  # a log file: one long line beats a line cut at 80 columns
                console = Console(stderr=True, width=max(console.width, 200))
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
        )
        self.task = self.progress.add_task(description, total=steps, status="")
        self.losses: Mapping[str, float] = {}
        self.metrics: Mapping[str, float] = {}

    def __enter__(self) -> TrainingProgress:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.progress.stop()

    def _status(self) -> str:
        losses = {k: v for k, v in self.losses.items() if k not in ("step", "epoch")}
        text = format_values(losses)
        metrics = format_values(self.metrics, SHOWN_METRICS)
        return f"{text} | {metrics}" if metrics else text

    def update(
        self, step: int, losses: Mapping[str, float] | None = None, metrics: Mapping[str, float] | None = None
    ) -> None:
        """Move the bar to ``step``; newer ``losses`` (a loss-log row) or ``metrics`` (an evaluation row) replace
        the ones shown."""
        if losses is not None:
            self.losses = losses
        if metrics is not None:
            self.metrics = metrics
        self.progress.update(self.task, completed=step, status=self._status())

    def print(self, line: str) -> None:
        """Print a line above the bar (kept in logs)."""
        self.progress.console.print(line, markup=False, highlight=False)
