"""The examples' figures read at a glance: titles that do not overlap, directions from the metrics' declarations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

from gan import outputs  # noqa: E402

from ganprobe.metrics.registry import find_output  # noqa: E402

ROWS = [
    {"step": float(s), "knn_loo": 0.9 - 0.05 * i, "fd": 300.0 / (i + 1)} for i, s in enumerate(range(100, 600, 100))
]


def _boxes(figure, texts):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    return [text.get_window_extent(renderer) for text in texts]


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_metric_panel_titles_do_not_overlap_and_state_the_declared_directions() -> None:
    figure = outputs.metrics_figure(ROWS, space="lenet-mnist")
    left, right = figure.axes
    assert not _overlap(*_boxes(figure, [left.title, right.title]))
    knn_direction = find_output("knn_loo")[1].direction.describe()
    fd_direction = find_output("fid")[1].direction.describe()
    assert knn_direction == "0.5 is best" and knn_direction in left.get_title()
    assert "lower is better" not in left.get_title()  # the bug: 1-NN accuracy is best at 0.5, not low
    assert fd_direction in right.get_title() and "lenet-mnist" in right.get_ylabel()
    for axes in figure.axes:
        assert axes.get_xlabel() and axes.get_ylabel()


def test_separability_plot_takes_its_direction_from_the_declaration(tmp_path: Path) -> None:
    rows = [{**row, "sep.D.conv1.linear_probe": 0.8, "sep.lenet.fc1.linear_probe": 0.6} for row in ROWS]
    assert outputs.plot_separability(rows, tmp_path / "sep.png").stat().st_size > 1000
    assert outputs.declared("separability.conv1.linear_probe")[1] == "0.5 is best"
    with pytest.raises(KeyError, match="no ganprobe metric"):
        outputs.declared("not_a_metric")


def test_labelled_grid_captions_every_image_without_overlap() -> None:
    images = torch.rand(11, 3, 32, 32) * 2 - 1
    captions = ["average image\n(start)", *[f"class {i}\nlogit +1.0" for i in range(10)]]
    figure = outputs.labelled_grid_figure(images, captions, "D: inputs maximising each class logit", ncol=11)
    titled = [axes for axes in figure.axes if axes.get_title()]
    assert [axes.get_title() for axes in titled] == captions
    boxes = _boxes(figure, [axes.title for axes in titled])
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    width, height = figure.get_size_inches() * figure.dpi
    assert width / 11 >= 100 and height >= 150  # each 32x32 image is shown at least 3x enlarged
    with pytest.raises(ValueError, match="one per image"):
        outputs.labelled_grid_figure(images, captions[:3], "x")
