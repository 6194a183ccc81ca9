"""The HTML report in a real browser (headless Chromium): no horizontal overflow at a desktop and a phone width,
every image decoded, every section and the verdict present. ``.ci/run`` installs Chromium, so CI always runs this."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
from browser_check import SECTIONS, WIDTHS, check_page, demo_report, ensure_chromium, problems


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def browser() -> str:
    try:
        return ensure_chromium()
    except (RuntimeError, OSError) as error:
        if os.environ.get("CI"):
            raise  # CI installs Chromium in .ci/run: a missing browser there is a failure, not a skip
        pytest.skip(f"headless Chromium unavailable here: {error}")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_report(tmp_path_factory.mktemp("browser"))


@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_report_renders_without_overflow_broken_images_or_missing_sections(browser, report, width_name) -> None:
    width, height = WIDTHS[width_name]
    measured = check_page(report, width, height, browser)
    assert measured["width"] == width
    assert problems(measured) == []
    assert set(SECTIONS) <= set(measured["sections"]) and measured["images"] >= 10
    assert measured["verdict"] >= 3
    assert measured["panels"] and measured["thumbs"]  # the per-layer plots and thumbnails were measured
    # the worst-samples grids: 6 least realistic fakes, 6 least covered reals, 6 most obvious fakes at least, each
    # thumbnail decoded (no broken image above) and captioned
    assert measured["cards"] >= 18 and measured["captions"] == measured["cards"]
    assert measured["class_rows"] == 10 and measured["cas"].startswith("Classification Accuracy Score ")


def test_the_check_can_fail(browser, tmp_path: Path) -> None:
    """A page with a too-wide element, a broken image and no sections is caught on every count."""
    page = tmp_path / "bad.html"
    pixel = "data:image/png;base64," + base64.b64encode(_png()).decode()
    page.write_text(
        '<!DOCTYPE html><html><body><div style="width:2000px">wide</div>'
        '<img src="data:image/png;base64,AAAA" alt="broken">'
        f'<div class="panels"><img src="{pixel}" style="width:90px" alt="p"></div>'
        f'<img class="thumb" src="{pixel}" style="width:96px" alt="a"><img class="thumb" src="{pixel}" '
        'style="width:48px" alt="b"></body></html>'
    )
    found = problems(check_page(page, 800, 600, browser))
    assert any("per-layer plots [90] px wide" in line for line in found)
    assert any("thumbnails of different sizes" in line for line in found)
    assert any("horizontal overflow" in line for line in found)
    assert any("did not decode: ['broken']" in line for line in found)
    assert any("missing sections" in line for line in found) and any("verdict" in line for line in found)
