"""The self-contained HTML report: sections, embedded PNGs, escaping, graceful gaps, determinism, plot math."""

from __future__ import annotations

import base64
import io
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.model_selection import LeaveOneOut, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from ganprobe.errors import InputError
from ganprobe.report import plots
from ganprobe.report.html import render_html_report, write_html_report

SECTIONS = ("summary", "metrics", "tsne", "separability", "pca-variance", "memorization", "samples")
PLOT_SECTIONS = ("tsne", "separability", "pca-variance", "memorization", "samples")
EVIL = "<script>alert(1)</script>"


class _Page(HTMLParser):
    """Collects, per section id, the ``<img>`` attributes, the text, the notes and the table rows."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.section: str | None = None
        self.images: dict[str, list[dict[str, str]]] = {}
        self.text: dict[str, str] = {}
        self.notes: dict[str, int] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.tags: set[str] = set()
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        self.tags.add(tag)
        if tag == "section":
            self.section = named["id"]
            for table in (self.images, self.rows):
                table[self.section] = []
            self.text[self.section], self.notes[self.section] = "", 0
        elif self.section is None:
            return
        elif tag == "img":
            self.images[self.section].append(named)
        elif tag == "tr":
            self.rows[self.section].append([])
        elif tag in ("td", "th"):
            self._cell = []
        if named.get("class") == "note":
            self.notes[self.section] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.section = None
        elif tag in ("td", "th") and self._cell is not None and self.section is not None:
            self.rows[self.section][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self.section is not None:
            self.text[self.section] += data
            if self._cell is not None:
                self._cell.append(data)


def _decode_png(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :], validate=True)))
    assert image.format == "PNG"
    image.load()
    return image


def _write_png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (12, 10)) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return str(path)


def _features(real: int = 30, fake: int = 30) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Three layers: indistinguishable, shifted, and a wide well-separated one (exercises the PCA to 50 dims)."""
    generator = torch.Generator().manual_seed(3)
    features = {}
    for layer, (width, shift) in {"layer1": (8, 0.0), "layer2": (16, 1.0), "pool": (64, 6.0)}.items():
        features[layer] = (
            torch.randn(real, width, generator=generator),
            torch.randn(fake, width, generator=generator) + shift,
        )
    return features


SEPARABILITY = {
    "layer1": {"linear_probe": 0.5, "knn_loo": 0.52, "pca2_svm": 0.55, "pca2_kmeans": 0.51},
    "layer2": {"linear_probe": 0.8, "knn_loo": 0.7, "pca2_svm": 0.6, "pca2_kmeans": 0.58},
    "pool": {"linear_probe": 1.0, "knn_loo": 0.99, "pca2_svm": 0.97, "pca2_kmeans": 0.95},
}


def _record(key: str, label: str, value: float, **fields: Any) -> dict[str, Any]:
    """A ``metrics`` entry of a schema-3 JSON report (every field of ``MetricRecord``)."""
    record = {
        "key": key,
        "label": label,
        "value": value,
        "low": None,
        "high": None,
        "std": None,
        "stderr": None,
        "direction": "none",
        "ideal": None,
        "lower": None,
        "upper": None,
        "description": "",
        "feature_space": "random-resnet18:pool",
        "comparable_with_published": False,
        "metric": "",
        "layer": None,
        "protocol": None,
    }
    assert set(fields) <= set(record), fields
    return {**record, **fields}


def _report(real_paths: list[str], fake_paths: list[str]) -> dict[str, Any]:
    return {
        "schema_version": 3,
        "inputs": {
            "fake": {"path": str(Path(fake_paths[0]).parent), "kind": "folder", "count": len(fake_paths)},
            "real": {"path": str(Path(real_paths[0]).parent), "kind": "folder", "count": len(real_paths)},
        },
        "extractor": {"name": "random-resnet18", "weights_sha256": "ab" * 32},
        "seed": 0,
        "metrics": [
            _record("fid", "FID <b>x</b>", 55.5, low=50.0, high=61.0, direction="lower", lower=0.0, metric="fid"),
            _record("kid", "KID", 0.01, std=0.002, direction="lower", metric="kid"),
            _record("kid_std", "KD std over subsets", 0.002, lower=0.0, metric="kid"),
            _record(
                "knn_loo",
                "1-NN LOO accuracy",
                0.7,
                direction="target",
                ideal=0.5,
                lower=0.0,
                upper=1.0,
                metric="knn_loo",
            ),
            *(
                _record(
                    f"separability.{layer}.{protocol}",
                    f"{protocol} accuracy at {layer}",
                    value,
                    direction="target",
                    ideal=0.5,
                    lower=0.0,
                    upper=1.0,
                    metric="layer_separability",
                    layer=layer,
                    protocol=protocol,
                )
                for layer, row in SEPARABILITY.items()
                for protocol, value in row.items()
            ),
        ],  # fmt: skip
        "layer_separability": SEPARABILITY,
        "first_separable_layer": "layer2",
        "separable_threshold": 0.75,
        "memorization_pairs": [
            {
                "fake_index": 1,
                "real_index": 2,
                "distance": 0.5,
                "ratio": 0.1,
                "fake_path": fake_paths[1],
                "real_path": real_paths[2],
            },
            {
                "fake_index": 0,
                "real_index": 0,
                "distance": 0.9,
                "ratio": 0.3,
                "fake_path": fake_paths[0],
                "real_path": real_paths[0],
            },
        ],  # fmt: skip
        "gates": [
            {
                "expression": "fid>40",
                "metric": "fid",
                "operator": ">",
                "threshold": 40.0,
                "value": 55.5,
                "passed": False,
                "message": "fid = 55.5 > 40",
            },
            {
                "expression": "kid>0.5",
                "metric": "kid",
                "operator": ">",
                "threshold": 0.5,
                "value": 0.01,
                "passed": True,
                "message": "kid = 0.01 <= 0.5",
            },
        ],  # fmt: skip
        "timings": {"total": 1.5},
    }


@pytest.fixture
def folders(tmp_path: Path) -> tuple[list[str], list[str]]:
    """Six real and six fake PNGs; the real folder's path holds a script tag."""
    real_dir, fake_dir = tmp_path / "<script>alert(1)<" / "script>real", tmp_path / "fake"
    real = [_write_png(real_dir / f"{index}.png", (200, 10 * index, 0)) for index in range(6)]
    fake = [_write_png(fake_dir / f"{index}.png", (0, 10 * index, 200), (9, 14)) for index in range(6)]
    return real, fake


def test_full_report_is_self_contained_with_a_png_in_every_section(folders: tuple[list[str], list[str]], tmp_path):
    real, fake = folders
    target = tmp_path / "out" / "report.html"
    returned = write_html_report(target, _report(real, fake), _features(), real, fake, seed=0, grid_size=4)
    assert returned == target and target.is_file()
    text = target.read_text(encoding="utf-8")
    for external in ('src="http', "src='http", "<script", "<link", "url(", "@import"):
        assert external not in text.lower()
    page = _Page(text)
    assert "script" not in page.tags and "link" not in page.tags
    assert set(SECTIONS) <= set(page.images)
    for section in PLOT_SECTIONS:
        assert page.images[section], section
        for image in page.images[section]:
            assert image["alt"].strip()
            _decode_png(image["src"])
    assert "t-SNE" in page.images["tsne"][0]["alt"]  # one image per layer, each naming its layer
    assert [image["alt"].rsplit(": ", 1)[1] for image in page.images["tsne"]] == list(_features())
    # One fake and one real thumbnail per memorization pair; the grids hold grid_size images each.
    assert len(page.images["memorization"]) == 4
    assert [image["alt"].split()[4] for image in page.images["samples"]] == ["4", "4"]
    assert "0.5 is best" in page.text["metrics"] and "CI [50, 61]" in page.text["metrics"]
    assert "± 0.002" in page.text["metrics"]
    rows = {row[0]: row[1:] for row in page.rows["metrics"]}
    assert rows["FID <b>x</b> fid"][2] == "lower is better" and rows["1-NN LOO accuracy knn_loo"][2] == "0.5 is best"
    assert rows["KD std over subsets kid_std"][2] == "n/a"  # a spread has no direction
    # per-layer records form the separability table, not rows of the metrics table
    assert not any("separability." in name for name in rows)
    table = {row[0]: row[1:] for row in page.rows["separability"]}
    assert table["pool"] == ["1", "0.99", "0.97", "0.95"] and "layer2" in page.text["separability"]


def test_user_strings_are_escaped(folders: tuple[list[str], list[str]], tmp_path: Path):
    real, fake = folders
    report = _report(real, fake)
    report["inputs"]["real"]["path"] = f"/data/{EVIL}"
    report["extractor"]["name"] = EVIL
    text = render_html_report(report, _features(), real, fake)
    assert EVIL not in text and "<b>x</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    page = _Page(text)
    assert EVIL in page.text["summary"] and EVIL in page.text["memorization"]  # shown, as text
    assert "FID <b>x</b>" in page.text["metrics"]


def test_gate_failures_are_shown(folders: tuple[list[str], list[str]]):
    real, fake = folders
    page = _Page(render_html_report(_report(real, fake), {}, real, fake))
    gate_rows = {row[0]: row for row in page.rows["metrics"] if row and row[0] in ("fid>40", "kid>0.5")}
    assert gate_rows["fid>40"][3] == "FAIL" and gate_rows["kid>0.5"][3] == "PASS"
    metric_rows = {row[0].split()[-1]: row for row in page.rows["metrics"] if len(row) == 7}
    assert metric_rows["fid"][-1] == "FAIL" and metric_rows["kid"][-1] == "PASS" and metric_rows["knn_loo"][-1] == ""
    assert "1 of 2 quality gates FAILED" in page.text["summary"]


def test_missing_data_degrades_to_notes(tmp_path: Path):
    report = {"inputs": {"real": {"path": "stats.npz", "stats_file": True, "count": 10}}}
    target = write_html_report(tmp_path / "bare.html", report, {}, [], [])
    page = _Page(target.read_text(encoding="utf-8"))
    for section in SECTIONS[1:]:
        assert page.notes[section] >= 1, section
        assert not page.images[section], section
    assert "statistics file" in page.text["samples"]
    assert "not computed" in page.text["separability"] and "not checked" in page.text["memorization"]


def test_tiny_degenerate_layers_get_notes_not_crashes():
    features = {
        "tiny": (torch.randn(3, 4), torch.randn(2, 4) + 3),
        "single": (torch.randn(1, 4), torch.randn(1, 4)),
        "constant": (torch.ones(6, 70), torch.ones(5, 70)),
    }
    page = _Page(render_html_report({}, features, [], []))
    assert len(page.images["tsne"]) == 1 and "tiny" in page.images["tsne"][0]["alt"]
    assert "single: no t-SNE" in page.text["tsne"] and "constant: no t-SNE" in page.text["tsne"]
    assert "constant, real: no PCA curve" in page.text["pca-variance"]
    assert "single, fake: no PCA curve" in page.text["pca-variance"]


def test_output_is_deterministic_for_a_seed(tmp_path: Path):
    images = torch.randint(0, 256, (5, 3, 64, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    report = {"memorization_pairs": [{"fake_index": 4, "real_index": 3, "distance": 1.0, "ratio": 0.2}]}
    features = _features()

    def write(name: str, seed: int) -> bytes:
        return write_html_report(tmp_path / name, report, features, images, images, seed, max_points=20).read_bytes()

    first, second, other = write("a.html", 1), write("b.html", 1), write("c.html", 2)
    assert first == second
    tsne = [_Page(page.decode()).images["tsne"][0]["src"] for page in (first, other)]
    assert tsne[0] != tsne[1]  # the seed picks the t-SNE subsample
    # Tensor inputs without paths: thumbnails come from the tensor rows named by the pair.
    thumbs = _Page(first.decode()).images["memorization"]
    for thumb, row in zip(thumbs, (4, 3), strict=True):
        expected = images[row].permute(1, 2, 0).numpy()
        assert np.array_equal(np.asarray(_decode_png(thumb["src"]).convert("RGB")), expected)


def test_memorization_without_known_images_is_a_note():
    report = {"memorization_pairs": [{"fake_index": 7, "real_index": 9, "distance": 1.0, "ratio": 0.2}]}
    page = _Page(render_html_report(report, {}, [None], torch.zeros(2, 3, 4, 4, dtype=torch.uint8)))
    assert not page.images["memorization"]
    assert "not available" in page.text["memorization"] and page.notes["memorization"] == 1


def test_invalid_arguments_raise_typed_errors(tmp_path: Path):
    with pytest.raises(InputError, match="max_points"):
        write_html_report(tmp_path / "x.html", {}, {}, [], [], max_points=0)
    with pytest.raises(InputError, match="grid_size"):
        write_html_report(tmp_path / "x.html", {}, {}, [], [], grid_size=-1)
    assert not (tmp_path / "x.html").exists()


def test_tsne_embedding_keeps_separation_and_subsamples():
    features = _features(real=40, fake=35)
    embedding, is_fake = plots.tsne_embedding(*features["pool"], seed=0, max_points=30)
    assert embedding.shape == (60, 2) and is_fake.sum() == 30
    loo = LeaveOneOut()
    separated = cross_val_score(KNeighborsClassifier(1), embedding, is_fake, cv=loo).mean()
    embedding, is_fake = plots.tsne_embedding(*features["layer1"], seed=0, max_points=30)
    mixed = cross_val_score(KNeighborsClassifier(1), embedding, is_fake, cv=loo).mean()
    assert separated > 0.95 and mixed < 0.75


def test_cumulative_variance_matches_sklearn_pca():
    generator = torch.Generator().manual_seed(1)
    for rows, width in ((12, 40), (40, 6)):
        features = torch.randn(rows, width, generator=generator) * torch.linspace(0.1, 3, width)
        curve = plots.cumulative_explained_variance(features)
        reference = np.cumsum(PCA(svd_solver="full").fit(features.double().numpy()).explained_variance_ratio_)
        assert len(curve) == min(rows - 1, width)
        np.testing.assert_allclose(curve, reference[: len(curve)], atol=1e-9)


def test_principal_components_match_sklearn_up_to_sign():
    generator = torch.Generator().manual_seed(2)
    for rows, width in ((30, 80), (90, 60)):
        data = (torch.randn(rows, width, generator=generator) * torch.linspace(0.2, 4, width)).double().numpy()
        centered = data - data.mean(axis=0)
        ours = plots._principal_components(centered, 5)
        reference = PCA(5, svd_solver="full").fit_transform(data)
        np.testing.assert_allclose(np.abs(ours), np.abs(reference), atol=1e-6)


def test_image_grid_places_each_thumbnail():
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    images = [torch.tensor(color, dtype=torch.uint8).view(3, 1, 1).expand(3, 10, 20) for color in colors]
    grid = Image.open(io.BytesIO(plots.image_grid_png(images, size=16, columns=2, pad=2))).convert("RGB")
    assert grid.size == (2 * 18 + 2, 2 * 18 + 2)
    for index, color in enumerate(colors):
        centre = (2 + (index % 2) * 18 + 8, 2 + (index // 2) * 18 + 8)
        assert grid.getpixel(centre) == color
    assert grid.getpixel((2 + 18 + 8, 2 + 18 + 8)) == (255, 255, 255)  # the empty fourth cell


def test_verdict_leads_and_only_the_footer_holds_run_times(folders: tuple[list[str], list[str]]):
    real, fake = folders
    report = _report(real, fake)
    report["verdict"] = ["1-NN real-vs-fake accuracy 0.91: almost fully separated.", "precision 0.9, recall 0.1."]
    first = render_html_report(report, {}, real, fake)
    report["timings"] = {"total": 99.0}
    second = render_html_report(report, {}, real, fake)
    page = _Page(first)
    summary = page.text["summary"]
    assert summary.index("In short") < summary.index("1 of 2 quality gates FAILED") < summary.index("almost fully")
    assert "timings" not in summary and "1.5" not in summary
    body_first, footer_first = first.split('<footer id="timings">')
    body_second, footer_second = second.split('<footer id="timings">')
    assert body_first == body_second and footer_first != footer_second and "99 s" in footer_second


def test_a_zero_spread_says_why(folders: tuple[list[str], list[str]]):
    real, fake = folders
    report = _report(real, fake)
    for record in report["metrics"]:
        if record["key"] == "kid":
            record["std"] = 3.5e-15 * abs(record["value"] or 1.0)  # round-off of identical subsets, not a spread
    page = _Page(render_html_report(report, {}, real, fake))
    assert "no spread: every subset was the whole set" in page.text["metrics"] and "± 0" not in page.text["metrics"]
