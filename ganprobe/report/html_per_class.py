"""The HTML report's per-class and per-sample sections: ``per-class`` (class distribution, per-class metrics,
intra-class FID, Classification Accuracy Score) and ``worst-samples`` (captioned image grids of the least realistic
fakes, the least covered reals, the fakes the first separable layer's probe finds most obvious, and those it catches
while the last layer's probe does not).

Both sections read the JSON report's ``per_class`` and ``worst_samples`` sections only (see
:mod:`ganprobe.run.per_class`), so the page shows exactly what the JSON holds; a section whose data was not computed
holds a note saying how to get it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ganprobe.metrics.per_class_outputs import CLASS_VALUES
from ganprobe.report import html as page
from ganprobe.report import plots


def _share(value: Any) -> str:
    return "n/a" if not isinstance(value, (int, float)) or not math.isfinite(value) else f"{float(value):.1%}"


def per_class_section(report: Mapping[str, Any]) -> str:
    """The ``per-class`` section: the class distribution test, one row per class, intra-class FID and CAS."""
    section = report.get("per_class")
    title = "Per class"
    if not section:
        text = "No class labels were given (use --classes subfolders|predicted|FILE, or classes= in Python)."
        return page._section("per-class", title, page._note(text))
    test = section["distribution"]
    classes = section["classes"]
    columns = [name for name in CLASS_VALUES if any(name in entry["values"] for entry in classes)]
    p_value = test.get("p_value")
    summary = (
        f"Labels: {section['source']}; metrics on {section['layer']}. Class distributions of fakes and reals: "
        f"chi-square {page._number(test.get('chi2'))} on {test.get('dof')} degrees of freedom, p = "
        f"{'n/a' if p_value is None else f'{p_value:.3g}'}, total variation {page._number(test.get('total_variation'))}"
        f" (0: the same shares). Missing {test.get('missing', 0)}, over-produced {test.get('over_produced', 0)}, "
        f"under-produced {test.get('under_produced', 0)} classes."
    )
    rows = []
    for entry in classes:
        status = str(entry["status"])
        css = "" if status == "ok" else "fail"
        cells = [page._td(entry["name"]), page._td(f"{entry['real_count']:,}", "num")]
        cells += [page._td(f"{entry['fake_count']:,}", "num"), page._td(_share(entry.get("real_share")), "num")]
        cells += [page._td(_share(entry.get("fake_share")), "num"), page._td(status, css)]
        cells += [page._td(page._number(entry["values"].get(name)), "num") for name in columns]
        rows.append(cells)
    headers = ["class", "reals", "fakes", "real share", "fake share", "status", *columns]
    body = [f"<p>{page._e(summary)}</p>", _share_plot(classes), page._table(headers, rows)]
    if section.get("required"):
        needs = ", ".join(f"{group} {count:,}" for group, count in section["required"].items())
        body.append(page._note(f"n/a: no fakes or reals of the class, or fewer per set than a value needs ({needs})."))
    intra = section.get("intra_class_fid")
    if isinstance(intra, (int, float)) and math.isfinite(intra):
        count = len(section.get("intra_class_fid_classes") or [])
        text = f"Intra-class FID (the mean per-class FID): {page._number(intra)} over {count} classes."
        body.append(f"<p>{page._e(text)}</p>")
    body.append(_cas_paragraph(section.get("cas") or {}))
    return page._section("per-class", title, "\n".join(body))


def _share_plot(classes: Sequence[Mapping[str, Any]]) -> str:
    names = [str(entry["name"]) for entry in classes]
    real = [float(entry.get("real_share") or 0.0) for entry in classes]
    fake = [float(entry.get("fake_share") or 0.0) for entry in classes]
    png = plots.class_share_figure(names, real, fake)
    return page._img(png, "share of each class among the reals and the fakes")


def _cas_paragraph(cas: Mapping[str, Any]) -> str:
    if cas.get("cas") is None:
        why = cas.get("reason") or "not computed"
        return f'<p id="cas" class="note">{page._e(f"Classification Accuracy Score: none ({why}).")}</p>'
    text = (
        f"Classification Accuracy Score {_share(cas['cas'])}: a linear probe trained on the {cas['num_fake_train']:,} "
        f"fakes and their labels classifies {_share(cas['cas'])} of {cas['num_test']:,} held-out reals right; the same "
        f"probe trained on {cas['num_real_train']:,} reals scores {_share(cas['real_accuracy'])} (chance "
        f"{_share(cas['chance'])}). Near the real-trained probe: the fakes carry their classes; near chance: their "
        "labels say nothing about what they show."
    )
    return f'<p id="cas">{page._e(text)}</p>'


def _value(key: str, value: Any) -> str:
    """A listed number: probabilities to three decimals (0.99998 reads 1.000, not 1), the rest to 4 digits."""
    if "probability" in key and isinstance(value, (int, float)) and math.isfinite(value):
        return f"{float(value):.3f}"
    return page._number(value)


def _card(images: page.Images, item: Mapping[str, Any], values: Sequence[tuple[str, str]], side: str) -> str:
    """One captioned thumbnail: the image, its class, its numbers and its file."""
    index = int(item.get("index", -1))
    path = item.get("path")
    image, why = page._image(images, index, path)
    where = str(path or f"{side} #{index}")
    if image is None:
        picture = f'<div class="missing">{page._e(f"not available ({why})")}</div>'
    else:
        picture = page._img(plots.thumbnail_png(image), f"{side} {where}", "thumb")
    numbers = ", ".join(f"{label} {_value(key, item.get(key))}" for key, label in values)
    label = f"class {item['class']}, " if item.get("class") is not None else ""
    caption = f'{page._e(label + numbers)}<br><span class="path">{page._e(where)}</span>'
    return f'<figure class="card">{picture}<figcaption>{caption}</figcaption></figure>'


def _cards(
    title: str,
    intro: str,
    images: page.Images,
    items: Sequence[Mapping[str, Any]],
    values: Sequence[tuple[str, str]],
    side: str,
) -> str:
    if not items:
        return f"<h3>{page._e(title)}</h3>" + page._note("None.")
    cards = "".join(_card(images, item, values, side) for item in items)
    return f'<h3>{page._e(title)}</h3><p>{page._e(intro)}</p><div class="cards">{cards}</div>'


def worst_samples_section(report: Mapping[str, Any], real_images: page.Images, fake_images: page.Images) -> str:
    """The ``worst-samples`` section: captioned grids of the samples the JSON report's ``worst_samples`` lists."""
    worst = report.get("worst_samples")
    title = "Least realistic and most obvious samples"
    if not worst:
        text = "Not computed (use --worst N, or give class labels: --classes)."
        return page._section("worst-samples", title, page._note(text))
    body = []
    if worst.get("reason"):
        body.append(page._note(f"Least realistic fakes / least covered reals: none ({worst['reason']})."))
    else:
        body.append(
            _cards(
                "Least realistic fakes",
                f"Realism score on {worst['layer']}: the largest k-NN radius (k = {worst['k']}) of a real over the "
                "distance to the fake (Kynkäänniemi et al. 2019); under 1 the fake lies in no real's neighbourhood. "
                "Lowest first.",
                fake_images,
                worst["least_realistic_fakes"],
                (("realism", "realism"),),
                "fake",
            )
        )
        body.append(
            _cards(
                "Least covered reals",
                f"Distance from the real to its nearest fake over the real's k-NN radius (k = {worst['coverage_k']}); "
                "over 1 no fake lies within it: a part of the real distribution the generator misses. Largest first.",
                real_images,
                worst["least_covered_reals"],
                (("coverage_ratio", "coverage ratio"),),
                "real",
            )
        )
    body.append(_probe_cards(worst.get("probe"), fake_images))
    return page._section("worst-samples", title, "\n".join(body))


def _probe_cards(probe: Mapping[str, Any] | None, fake_images: page.Images) -> str:
    if not probe:
        return page._note("The probe's lists were not computed.")
    if probe.get("reason"):
        return page._note(f"Most obvious fakes by the real-vs-fake probe: none ({probe['reason']}).")
    first, last = probe["first_layer"], probe["last_layer"]
    parts = [
        _cards(
            f"Most obvious fakes ({first} probe)",
            f"Held-out probability 'fake' from the linear probe at {first}, the first separable layer (its held-out "
            f"accuracy {page._number(probe['accuracy'])}; 0.5 is chance). Each fake is scored by a probe that never "
            "saw it.",
            fake_images,
            probe["most_fake"],
            (("fake_probability", "P(fake)"),),
            "fake",
        )
    ]
    if probe.get("caught_early_reason"):
        parts.append(page._note(f"Caught at {first} but not at the last layer: none ({probe['caught_early_reason']})."))
    else:
        parts.append(
            _cards(
                f"Caught at {first} but not at {last} ({probe['caught_early_count']:,} fakes in all)",
                f"Fakes the probe at {first} calls fake (P > 0.5) while the probe at {last} does not: what the early "
                "layers object to (texture, colour, artefacts) and the late layers let pass.",
                fake_images,
                probe["caught_early"],
                (("fake_probability", f"P(fake) at {first}"), ("fake_probability_last", f"at {last}")),
                "fake",
            )
        )
    return "\n".join(parts)
