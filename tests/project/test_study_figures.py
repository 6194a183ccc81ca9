"""The examples' figures read at a glance: titles that do not overlap, directions from the metrics' declarations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
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


# --- The studies' figures (issue 23, item 13): thumbnails large enough to read, captions, no empty panels, no lone
# points on a step axis, labelled variance levels.


def _texts(figure) -> list[str]:
    return [text.get_text() for axes in figure.axes for text in axes.texts]


def _lone_points(figure) -> list:
    return [line for axes in figure.axes for line in axes.get_lines() if len(line.get_xdata()) == 1]


def test_sample_grids_show_each_image_at_least_96_pixels(tmp_path: Path) -> None:
    from PIL import Image

    for size, count, nrow in ((32, 64, 8), (28, 64, 8), (64, 16, 4)):  # §5's 64 digits, MNIST, DCGAN-64
        path = outputs.save_grid(torch.rand(count, 1, size, size) * 2 - 1, tmp_path / f"{size}.png", nrow=nrow)
        width, height = Image.open(path).size
        assert width / nrow >= outputs.MIN_THUMBNAIL and height / (count // nrow) >= outputs.MIN_THUMBNAIL, size


def test_conditional_epoch_grids_are_captioned_by_class_and_large(tmp_path: Path, monkeypatch) -> None:
    from gan import loop
    from PIL import Image

    classes = tuple(f"class {i}" for i in range(10))
    config = loop.LoopConfig(out=tmp_path, steps=1, batch_size=1, grid_size=60, grid_nrow=10, grid_classes=classes)
    figures = []
    real_figure = outputs.labelled_grid_figure
    monkeypatch.setattr(outputs, "labelled_grid_figure", lambda *a, **k: figures.append(real_figure(*a, **k))
                        or figures[-1])  # fmt: skip
    path = loop.save_samples(torch.rand(60, 3, 32, 32) * 2 - 1, tmp_path / "epoch_0001.png", 10, config, "after 1")
    width, height = Image.open(path).size
    assert width / 10 >= 96 and height / 6 >= 96, (width, height)  # was 342x206 for 60 images
    titles = [axes.get_title() for axes in figures[0].axes]
    assert titles[:10] == list(classes) and not any(titles[10:])  # each column named once, by its class
    assert "after 1" in figures[0].get_suptitle()


@pytest.mark.parametrize("layers", [2, 4, 6])
def test_layer_embeddings_have_no_empty_panels(tmp_path: Path, monkeypatch, layers: int) -> None:
    from ganprobe.probe import embedding

    figures = []
    monkeypatch.setattr(embedding, "save_figure", lambda figure, path: figures.append(figure) or Path(path))
    real = {f"layer{i}": torch.randn(40, 12) for i in range(layers)}
    fake = {f"layer{i}": torch.randn(40, 12) + 1 for i in range(layers)}
    embedding.plot_layer_embeddings(real, fake, tmp_path / "e.png", iterations=250, max_points=None)
    panels = figures[0].axes
    assert len(panels) == layers and all(axes.get_visible() for axes in panels)  # the ACGAN's 4: was 2 empty


def test_one_evaluation_is_written_as_text_not_a_lone_point() -> None:
    row = {"step": 270.0, "knn_loo": 0.93, "fd": 123.4, "sep.D.conv1.linear_probe": 0.8, "sep.x.l1.linear_probe": 0.7}
    figure = outputs.metrics_figure([row], space="lenet-mnist")
    assert not _lone_points(figure)
    texts = " ".join(_texts(figure))
    assert texts.count("one evaluation, at step 270") == 2 and "0.930" in texts and "123.4" in texts
    separability = outputs.separability_figure([row])
    assert not _lone_points(separability)
    assert all("one evaluation, at step 270" in axes.get_xlabel() for axes in separability.axes)
    many = outputs.metrics_figure(ROWS)  # several evaluations: a curve against the step, no text
    assert not _texts(many) and all(axes.get_xlabel() == "training step" for axes in many.axes)


def test_pca_variance_levels_are_labelled() -> None:
    import numpy as np
    from gan.studies import faces

    points = np.random.default_rng(0).normal(size=(60, 20)) * np.linspace(3, 0.1, 20)
    curve, needed = faces.variance_components(points)
    figure = faces.variance_figure({"logits": curve}, {"logits": needed})
    axes = figure.axes[0]
    labels = [text for text in axes.texts if text.get_text() in ("90%", "95%", "99%")]
    assert sorted(text.get_text() for text in labels) == ["90%", "95%", "99%"]
    boxes = _boxes(figure, labels)
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert all(f"{share}: {count}" in axes.get_legend().get_texts()[0].get_text() for share, count in needed.items())
