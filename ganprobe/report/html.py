"""The HTML report of ``ganprobe evaluate --html``: one self-contained file (inline CSS, plots as PNG data URIs).

Sections (each a ``<section>`` with a stable ``id``): ``summary`` (inputs, extractor, verdict), ``metrics`` (metric
and gate tables), ``tsne`` (real vs fake t-SNE per layer), ``separability`` (accuracy per layer per protocol),
``pca-variance`` (cumulative explained variance, real vs fake), ``per-class`` and ``worst-samples`` (the class
distribution, per-class metrics and CAS; captioned grids of the least realistic fakes, least covered reals and the
probe's most obvious fakes: :mod:`ganprobe.report.html_per_class`), ``memorization`` (closest fake/real pairs) and
``samples`` (image grids). A section whose data is missing holds a note instead of a plot. No script, no external
resource, no timestamp: the same inputs and seed give the same sections, byte for byte; only the closing
``<footer id="timings">`` (how long the run took) differs between runs.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from ganprobe import defaults
from ganprobe.data.folder import load_image
from ganprobe.errors import GanprobeError, InputError
from ganprobe.metrics.records import NO_SPREAD_TEXT, Direction, no_spread
from ganprobe.report import plots
from ganprobe.utils.atomic_files import atomic_write

Images = Sequence[str | None] | Tensor
MAX_PAIRS_SHOWN = 16

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.wide{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td code,td.path{white-space:nowrap}
.pass{color:#1a7f37;font-weight:bold}.fail{color:#c62828;font-weight:bold}
.note{color:#555;background:#f7f7f7;border-left:4px solid #bbb;padding:.4em .8em}
.verdict{background:#eef4fb;border-left:4px solid #3b78c2;padding:.5em 1em .5em 2em;margin:1em 0}
.verdict li{margin:.25em 0}
p,li,h1,h2,h3{overflow-wrap:anywhere}
img{max-width:100%;height:auto}img.thumb{image-rendering:pixelated;width:96px;height:96px;max-width:none;
object-fit:contain}
.panels{display:flex;flex-wrap:wrap;gap:.5em}.panels img{width:300px}.panels.wide-panels img{width:340px}
code,.path{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere}
nav a{margin-right:1em;display:inline-block}
.cards{display:flex;flex-wrap:wrap;gap:.6em}.card{margin:0;width:140px;font-size:.8em}
.card figcaption{overflow-wrap:anywhere}.card .missing{width:96px;height:96px;background:#f4f4f4;font-size:.8em}
footer{margin-top:3em;color:#666;font-size:.85em;border-top:1px solid #ddd;padding-top:.5em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{float(value):.4g}" if isinstance(value, (int, float)) else _e(value)


def _img(png: bytes, alt: str, css_class: str = "") -> str:
    extra = f' class="{css_class}"' if css_class else ""
    return f'<img src="{plots.png_data_uri(png)}" alt="{_e(alt)}"{extra}>'


def _panels(images: Sequence[str], css_class: str = "") -> str:
    """Per-layer plot images that wrap: a row on a desktop, one under another on a narrow screen."""
    classes = f"panels {css_class}".strip()
    return f'<div class="{classes}">' + "".join(images) + "</div>"


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``rows`` hold HTML cells already escaped (``<td>...</td>``)."""
    head = "".join(f"<th>{_e(header)}</th>" for header in headers)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    # A narrow window scrolls the table inside its box, never the page.
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _td(text: Any, css_class: str = "") -> str:
    extra = f' class="{css_class}"' if css_class else ""
    return f"<td{extra}>{_e(text)}</td>"


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}">\n<h2>{_e(title)}</h2>\n{body}\n</section>'


def _status(passed: bool) -> str:
    return '<td class="pass">PASS</td>' if passed else '<td class="fail">FAIL</td>'


def _summary_section(report: Mapping[str, Any]) -> str:
    inputs = report.get("inputs") or {}
    rows = []
    for side in ("fake", "real"):
        info = inputs.get(side) or {}
        where = info.get("path") or info.get("kind") or "unknown"
        extra = " (precomputed statistics file)" if info.get("stats_file") else ""
        rows.append(
            [_td(side), f'<td class="path">{_e(where)}{_e(extra)}</td>', _td(_number(info.get("count")), "num")]
        )
    parts = [_verdict(report), _table(["set", "source", "images"], rows)]
    extractor = report.get("extractor") or {}
    facts = [
        ("extractor", extractor.get("name", "unknown")),
        ("weights SHA-256", extractor.get("weights_sha256") or "n/a"),
        ("seed", report.get("seed", "n/a")),
        ("ganprobe version", report.get("ganprobe_version", "n/a")),
    ]
    parts.append("<ul>" + "".join(f"<li>{_e(name)}: <code>{_e(value)}</code></li>" for name, value in facts) + "</ul>")
    gates = report.get("gates") or []
    if gates:
        failed = sum(not gate.get("passed", False) for gate in gates)
        verdict = f"{failed} of {len(gates)} gates FAILED" if failed else f"all {len(gates)} gates passed"
        parts.append(f'<p class="{"fail" if failed else "pass"}">{_e(verdict)}</p>')
    return _section("summary", "Summary", "\n".join(parts))


def _verdict(report: Mapping[str, Any]) -> str:
    """The answer first: each metric's plain-words reading of its numbers, and the gates' outcome."""
    lines = [str(line) for line in report.get("verdict") or []]
    gates = report.get("gates") or []
    if gates:
        failed = [gate for gate in gates if not gate.get("passed", False)]
        lines.insert(
            0, f"{len(failed)} of {len(gates)} quality gates FAILED." if failed else "Every quality gate passed."
        )
    if not lines:
        return _note("No metric with a plain-words reading was computed; see the tables below.")
    items = "".join(f"<li>{_e(line)}</li>" for line in lines)
    return f'<div class="verdict"><strong>In short</strong><ul>{items}</ul></div>'


def _timings(report: Mapping[str, Any]) -> str:
    timings = report.get("timings") or {}
    if not timings:
        return ""
    text = ", ".join(f"{stage} {_number(seconds)} s" for stage, seconds in timings.items())
    return (
        f'<footer id="timings">Run time (differs between runs; everything above is reproducible): {_e(text)}</footer>'
    )


def _direction(record: Mapping[str, Any]) -> str:
    """How to read a record, from its declared direction (the JSON report carries it)."""
    kind, ideal = str(record.get("direction")), record.get("ideal")
    if kind not in ("lower", "higher", "target") or (kind == "target" and not isinstance(ideal, (int, float))):
        return "n/a"
    return Direction(kind, ideal).describe()  # type: ignore[arg-type]


def _uncertainty(record: Mapping[str, Any]) -> str:
    low, high, std = record.get("low"), record.get("high"), record.get("std")
    if low is not None and high is not None:
        return f"CI [{_number(low)}, {_number(high)}]"
    value = record.get("value")
    if isinstance(std, (int, float)) and isinstance(value, (int, float)) and no_spread(float(std), float(value)):
        return NO_SPREAD_TEXT
    if std is not None:
        return f"± {_number(std)}"
    return ""


def _metrics_section(report: Mapping[str, Any]) -> str:
    metrics = report.get("metrics") or []
    gates = report.get("gates") or []
    gates_by_metric: dict[str, list[Mapping[str, Any]]] = {}
    for gate in gates:
        gates_by_metric.setdefault(str(gate.get("metric")), []).append(gate)
    parts = []
    if metrics:
        rows = []
        for record in (record for record in metrics if record.get("layer") is None):
            own = gates_by_metric.get(str(record.get("key")), [])
            status = "<td></td>" if not own else _status(all(gate.get("passed", False) for gate in own))
            comparable = "yes" if record.get("comparable_with_published") else "no"
            rows.append(
                [
                    f"<td>{_e(record.get('label') or record.get('key'))} <br><code>{_e(record.get('key'))}</code></td>",
                    _td(_number(record.get("value")), "num"),
                    _td(_uncertainty(record)),
                    _td(_direction(record)),
                    f'<td class="path">{_e(record.get("feature_space", ""))}</td>',
                    _td(comparable),
                    status,
                ]
            )
        headers = ["metric", "value", "uncertainty", "direction", "feature space", "comparable with published", "gate"]
        parts.append(_table(headers, rows))
    else:
        parts.append(_note("No metrics were computed."))
    parts.append("<h3>Gates</h3>")
    if gates:
        rows = [
            [
                f"<td><code>{_e(gate.get('expression', ''))}</code></td>",
                _td(_number(gate.get("value")), "num"),
                _td(_number(gate.get("threshold")), "num"),
                _status(bool(gate.get("passed", False))),
                _td(gate.get("message", "")),
            ]
            for gate in gates
        ]
        parts.append(_table(["gate", "value", "threshold", "status", "message"], rows))
    else:
        parts.append(_note("No gates were set (use --fail-if or --baseline)."))
    return _section("metrics", "Metrics and gates", "\n".join(parts))


def _tsne_section(features: Mapping[str, tuple[Tensor, Tensor]], seed: int, max_points: int) -> str:
    intro = (
        "<p>t-SNE of real (blue circles) and fake (orange triangles) features, one panel per layer "
        f"(at most {max_points} samples per set, PCA to {plots.PCA_DIMS} dimensions, seed {seed}). Mixed clouds: "
        "the layer sees fakes like reals; separate clouds: the layer tells them apart. t-SNE distances between "
        "clusters are not meaningful; trust the separability section for numbers.</p>"
    )
    panels, notes = [], []
    for layer, (real, fake) in features.items():
        try:
            embedding, is_fake = plots.tsne_embedding(real, fake, seed=seed, max_points=max_points)
        except InputError as error:
            notes.append(_note(f"{layer}: no t-SNE ({error})."))
            continue
        panels.append((layer, embedding, is_fake))
    if not features:
        return _section("tsne", "t-SNE per layer", _note("No features were kept, so no t-SNE is available."))
    body = [intro]
    if panels:  # one image per layer: side by side on a wide screen, stacked on a phone
        images = [_img(plots.tsne_figure([panel], columns=1), f"t-SNE of real vs fake features: {panel[0]}")
                  for panel in panels]  # fmt: skip
        body.append(_panels(images))
    return _section("tsne", "t-SNE per layer", "\n".join(body + notes))


def _separability_section(report: Mapping[str, Any]) -> str:
    separability = report.get("layer_separability") or {}
    if not separability:
        body = _note("Layer separability was not computed (add layer_separability to the metrics to see it).")
        return _section("separability", "Separability per layer", body)
    threshold = report.get("separable_threshold")
    first = report.get("first_separable_layer")
    protocols = list(dict.fromkeys(p for scores in separability.values() for p in scores))
    png = plots.separability_figure(separability, threshold, first)
    rows = [
        [_td(layer)] + [_td(_number(scores.get(protocol)), "num") for protocol in protocols]
        for layer, scores in separability.items()
    ]
    headers = ["layer"] + [plots.PROTOCOL_LABELS.get(protocol, protocol) for protocol in protocols]
    verdict = f"First layer whose linear probe separates fakes: {first or 'none'}."
    body = [
        "<p>Accuracy of telling fakes from reals in each layer (0.5 = chance, 1.0 = perfectly separated). The "
        "linear probe and 1-NN leave-one-out are held-out estimates in the full feature space; the PCA-2 "
        "protocols (the seed study's) keep two components only and can miss separable layers.</p>",
        _img(png, "separability accuracy per layer and protocol, the 0.5 chance line and the first separable layer"),
        f"<p>{_e(verdict)}</p>",
        _table(headers, rows),
    ]
    return _section("separability", "Separability per layer", "\n".join(body))


def _pca_section(features: Mapping[str, tuple[Tensor, Tensor]]) -> str:
    panels, notes = [], []
    for layer, (real, fake) in features.items():
        curves = []
        for name, rows in (("real", real), ("fake", fake)):
            try:
                curves.append(plots.cumulative_explained_variance(rows))
            except InputError as error:
                curves.append(None)
                notes.append(_note(f"{layer}, {name}: no PCA curve ({error})."))
        if curves[0] is not None or curves[1] is not None:
            panels.append((layer, curves[0], curves[1]))
    if not features:
        return _section("pca-variance", "PCA explained variance", _note("No features were kept."))
    body = [
        "<p>Cumulative share of variance held by the first principal components, real (solid) vs fake (dashed). "
        "A fake curve that climbs faster varies along fewer directions than the reals (mode collapse).</p>"
    ]
    if panels:  # one image per layer, as the t-SNE panels
        images = [
            _img(plots.pca_variance_figure([panel], columns=1), f"cumulative PCA explained variance: {panel[0]}")
            for panel in panels
        ]
        body.append(_panels(images, "wide-panels"))
    return _section("pca-variance", "PCA explained variance", "\n".join(body + notes))


def _image(images: Images, index: int, path: str | None = None) -> tuple[Tensor | None, str]:
    """The image at ``index`` (decoded from ``path`` when given), or ``None`` and why not."""
    try:
        if path is not None:
            return load_image(path), ""
        if isinstance(images, Tensor):
            if 0 <= index < len(images):
                return images[index], ""
            return None, f"image {index} was not kept"
        if 0 <= index < len(images) and images[index] is not None:
            return load_image(images[index]), ""
    except GanprobeError as error:
        return None, str(error)
    return None, f"image {index}: file unknown"


def _memorization_section(report: Mapping[str, Any], real_images: Images, fake_images: Images) -> str:
    pairs = report.get("memorization_pairs")
    if not pairs:
        text = "Memorization was not checked." if pairs is None else "No memorization pairs were reported."
        return _section("memorization", "Closest fake / real pairs", _note(text))
    shown = pairs[:MAX_PAIRS_SHOWN]
    rows, missing = [], 0
    for pair in shown:
        fake_index, real_index = int(pair.get("fake_index", -1)), int(pair.get("real_index", -1))
        cells = []
        for images, index, path, side in (
            (fake_images, fake_index, pair.get("fake_path"), "fake"),
            (real_images, real_index, pair.get("real_path"), "nearest real"),
        ):
            image, why = _image(images, index, path)
            if image is None:
                missing += 1
                cells.append(_td(f"not available ({why})"))
            else:
                alt = f"{side} #{index}" + (f" ({path})" if path else "")
                cells.append(f"<td>{_img(plots.thumbnail_png(image), alt, 'thumb')}</td>")
        paths = f"{pair.get('fake_path') or f'fake #{fake_index}'}\n{pair.get('real_path') or f'real #{real_index}'}"
        rows.append(
            cells
            + [_td(_number(pair.get("distance")), "num"), _td(_number(pair.get("ratio")), "num")]
            + [_td(str(pair.get("space") or "features"))]
            + [f'<td class="path">{_e(paths).replace(chr(10), "<br>")}</td>']
        )
    body = [
        "<p>The fakes closest to a real image, most suspicious first. Ratio = distance to the nearest real over "
        "that real's distance to its own nearest other real, compared as features or (\u201cpixels\u201d) as grey "
        "thumbnails allowing a one-pixel shift; near 0 suggests a copy of a training image.</p>",
        _table(["fake", "nearest real", "distance", "ratio", "compared as", "files"], rows),
    ]
    if len(pairs) > len(shown):
        body.append(_note(f"Showing {len(shown)} of {len(pairs)} pairs; the JSON report lists all of them."))
    if missing:
        body.append(_note(f"{missing} thumbnails are not available (image files unknown, e.g. statistics input)."))
    return _section("memorization", "Closest fake / real pairs", "\n".join(body))


def _grid(images: Images, grid_size: int, name: str) -> str:
    count = min(grid_size, len(images))
    if grid_size == 0:
        return _note(f"The {name} grid was turned off (grid_size=0).")
    if count == 0:
        return _note(f"No {name} images are available.")
    decoded, failed = [], []
    for index in range(count):
        image, why = _image(images, index)
        if image is None:
            failed.append(why)
        else:
            decoded.append(image)
    parts = []
    if decoded:
        alt = f"grid of the first {len(decoded)} {name} images"
        parts.append(f"<h3>{_e(name)}</h3>" + _img(plots.image_grid_png(decoded), alt))
    for why in failed:
        parts.append(_note(f"{name}: {why}"))
    return "\n".join(parts)


def _samples_section(report: Mapping[str, Any], real_images: Images, fake_images: Images, grid_size: int) -> str:
    body = [_grid(fake_images, grid_size, "fake")]
    real_info = (report.get("inputs") or {}).get("real") or {}
    if len(real_images) == 0 and real_info.get("stats_file"):
        body.append(_note("The real set came from a statistics file, so no real images are available."))
    else:
        body.append(_grid(real_images, grid_size, "real"))
    return _section("samples", "Samples", "\n".join(body))


def render_html_report(
    report: Mapping[str, Any],
    features: Mapping[str, tuple[Tensor, Tensor]],
    real_images: Images,
    fake_images: Images,
    seed: int = 0,
    max_points: int = defaults.TSNE_POINTS,
    grid_size: int = 16,
) -> str:
    """The HTML page of :func:`write_html_report` as a string (same arguments, no file written)."""
    if max_points < 1:
        raise InputError(f"max_points: must be >= 1 (got {max_points})")
    if grid_size < 0:
        raise InputError(f"grid_size: must be >= 0 (got {grid_size})")
    from ganprobe.report.html_per_class import per_class_section, worst_samples_section

    sections = [
        _summary_section(report),
        _metrics_section(report),
        _tsne_section(features, seed, max_points),
        _separability_section(report),
        _pca_section(features),
        per_class_section(report),
        worst_samples_section(report, real_images, fake_images),
        _memorization_section(report, real_images, fake_images),
        _samples_section(report, real_images, fake_images, grid_size),
    ]
    titles = [
        ("summary", "Summary"),
        ("metrics", "Metrics"),
        ("tsne", "t-SNE"),
        ("separability", "Separability"),
        ("pca-variance", "PCA variance"),
        ("per-class", "Per class"),
        ("worst-samples", "Worst samples"),
        ("memorization", "Memorization"),
        ("samples", "Samples"),
    ]
    nav = "<nav>" + "".join(f'<a href="#{anchor}">{_e(title)}</a>' for anchor, title in titles) + "</nav>"
    fake = ((report.get("inputs") or {}).get("fake") or {}).get("path") or "generated images"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>ganprobe report: {_e(fake)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f'<h1>ganprobe report</h1>\n<p class="path">{_e(fake)}</p>\n{nav}\n'
        + "\n".join(sections)
        + "\n"
        + _timings(report)
        + "\n</body>\n</html>\n"
    )


def write_html_report(
    path: str | os.PathLike[str],
    report: Mapping[str, Any],
    features: Mapping[str, tuple[Tensor, Tensor]],
    real_images: Sequence[str | None] | Tensor,
    fake_images: Sequence[str | None] | Tensor,
    seed: int = 0,
    max_points: int = defaults.TSNE_POINTS,
    grid_size: int = 16,
) -> Path:
    """Write the self-contained HTML report of one evaluation (atomically).

    Args:
        path: the ``.html`` file to create or replace.
        report: the JSON report payload (:meth:`ganprobe.run.pipeline.EvaluationResult.to_json`); missing keys
            turn their section into a note.
        features: ``{layer: (real (N, D), fake (M, D))}`` pooled features, in layer order (t-SNE, PCA variance).
        real_images, fake_images: image file paths (``None`` where unknown) or a uint8 ``(N, 3, H, W)`` tensor,
            for the sample grids and memorization thumbnails (empty when unavailable).
        seed: seed of the t-SNE subsampling and embedding.
        max_points: most samples per set in each t-SNE.
        grid_size: images in each sample grid (the first ones).

    Returns:
        ``path`` as a :class:`~pathlib.Path`. The page holds no script and loads nothing: every plot is an embedded
        PNG, every user string is HTML-escaped, and the same inputs give the same bytes except the timings footer.

    Raises:
        InputError: ``max_points < 1`` or ``grid_size < 0``.
    """
    page = render_html_report(report, features, real_images, fake_images, seed, max_points, grid_size)
    data = page.encode("utf-8")
    return atomic_write(path, lambda handle: handle.write(data))
