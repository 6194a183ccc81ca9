"""What the terminal and the page show: file names never cut, one thumbnail size, per-layer plots that stack."""

from __future__ import annotations

import io
import re

import torch
from rich.console import Console

from ganprobe.functional.memorization import SuspectedCopy
from ganprobe.report.html import render_html_report
from ganprobe.report.terminal import print_results
from ganprobe.utils.safe_text import shorten_common_prefix

DEEP = "/home/someone/experiments/2026-12-01/photos/eleven_campuses_64"


def test_closest_pairs_keep_every_file_name_whole_at_120_columns() -> None:
    pairs = [
        SuspectedCopy(index, index + 3, 1.5, 0.4 + index / 10, f"gen_images/sample_{index:04d}.png",
                      f"{DEEP}/IMG_20240{index}_campus_{index}.jpg")
        for index in range(3)
    ]  # fmt: skip
    buffer = io.StringIO()
    print_results("efficientnet-lite0", [], None, pairs, console=Console(file=buffer, width=120))
    text = buffer.getvalue()
    for pair in pairs:
        name = pair.real_path.rsplit("/", 1)[1]
        assert name in text, f"{name} was cut:\n{text}"  # the old table printed '.../eleven_campuses_64/…'
        assert pair.fake_path in text
    assert "…/" in text  # the shared folders gave way instead


def test_shorten_common_prefix_drops_only_shared_folders() -> None:
    paths = [f"{DEEP}/a.png", f"{DEEP}/sub/b.png"]
    assert shorten_common_prefix(paths, 200) == paths  # fits: unchanged
    short = shorten_common_prefix(paths, 30)
    assert short == ["…/eleven_campuses_64/a.png", "…/eleven_campuses_64/sub/b.png"]
    assert shorten_common_prefix(paths, 5) == ["…/a.png", "…/sub/b.png"]  # as far as possible, names whole
    assert shorten_common_prefix(["x/a.png", "y/b.png"], 3) == ["x/a.png", "y/b.png"]  # nothing shared


def _report() -> dict:
    return {"metrics": [], "verdict": ["Sample size: 40 real and 40 fake images."], "memorization_pairs": []}


def test_per_layer_plots_are_one_image_each_in_a_wrapping_row() -> None:
    gen = torch.Generator().manual_seed(0)
    features = {f"layer{i}": (torch.randn(40, 6, generator=gen), torch.randn(40, 6, generator=gen)) for i in range(4)}
    page = render_html_report(_report(), features, [], [], 0, 40, 0)
    for section in ("tsne", "pca-variance"):
        body = page.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
        panels = re.findall(r'<div class="panels[^"]*">(.*?)</div>', body, re.S)
        assert len(panels) == 1 and panels[0].count("<img") == 4, section  # one image per layer, not one strip
    css = page.split("<style>", 1)[1].split("</style>", 1)[0]
    assert ".panels{display:flex;flex-wrap:wrap" in css
    assert re.search(r"img\.thumb\{[^}]*width:96px;height:96px;max-width:none", css)
