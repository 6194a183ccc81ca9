"""Memorisation's declaration (torch-free): the fraction of fakes that are likely copies of real images."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration, Setting
from ganprobe.metrics.records import LOWER, Output
from ganprobe.metrics.sample_size import SampleRule

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_MEMORIZATION = "memorization"

# extractor name -> layer -> copy-ratio threshold that fresh real images (not in the real set) fall below at most
# 0.1 % of the time, measured offline by ``python benchmarks/memorization_calibration.py`` (the README's
# "Memorisation" section gives the data and the measured rates). Feature spaces not listed here (other extractors,
# layers or ``random-*`` weights, precomputed features) are calibrated on the real set by leave-one-out.
CALIBRATED_THRESHOLDS: dict[str, dict[str, float]] = {
    "lenet-mnist": {"fc1": 0.39},
    # efficientnet-lite0 has none on purpose: the offline fit on 2,706 photos (0.25) found only ~7 % of lightly
    # edited copies, leave-one-out on the user's reals ~40 % at 0.04 % false flags (README "Memorisation"); the
    # pixel check finds the rest.
}


def calibrated_threshold(extractor: str | None, layer: str | None) -> float | None:
    """The offline-calibrated copy threshold of ``extractor``'s ``layer``, or ``None`` if it has none."""
    if extractor is None or layer is None:
        return None
    return CALIBRATED_THRESHOLDS.get(extractor, {}).get(layer)


DECLARATION = MetricDeclaration(
    name="memorization",
    metric_class="ganprobe.metrics.memorization:Memorization",
    report_order=70,
    scorer_class="ganprobe.scorers.memorization:MemorizationScorer",
    title="memorisation",
    sample_rule=SampleRule(min_per_set=2, why="a real's spacing needs a second real"),
    verdict_rank=40,
    settings=(
        Setting(
            "threshold",
            None,
            float,
            "copy ratios below this count as suspicious (default: calibrated for the feature space)",
        ),
        Setting(
            "pixels",
            True,
            bool,
            "also compare the images as grey thumbnails, tolerating a one-pixel shift (needs an extractor)",
        ),
    ),
    closest_pairs=True,
    takes_image_paths=True,
    outputs=(
        Output(
            KEY_MEMORIZATION,
            "memorization",
            LOWER,
            "fraction of fakes much closer to a real image than reals are to each other (likely copies)",
            "binomial_fake",
            0.0,
            1.0,
        ),
    ),
)
