"""FID's declaration (torch-free): the Fréchet distance and its extrapolation to infinitely many samples."""

from __future__ import annotations

from ganprobe.metrics.declarations import MetricDeclaration, Setting
from ganprobe.metrics.records import LOWER, Output
from ganprobe.metrics.sample_size import SampleRule

# The output keys (compute()'s dict, the JSON report, gates), for the class to import.
KEY_FID = "fid"
KEY_FID_INFINITY = "fid_infinity"
# The setting a report needs to hold FID-infinity.
INFINITY = "infinity"

DECLARATION = MetricDeclaration(
    name="fid",
    metric_class="ganprobe.metrics.fid:FID",
    report_order=10,
    scorer_class="ganprobe.scorers.fid:FIDScorer",
    title="FID",
    verdict_rank=45,
    sample_rule=SampleRule(
        above_dimension=True,
        why="fewer samples than feature dimensions make the covariance fits rank-deficient: the value is biased "
        "upward and only comparable at the same N",
    ),
    outputs=(
        Output(
            KEY_FID,
            "FD on {space} features",
            LOWER,
            "Frechet distance between Gaussian fits of real and fake features (FID only on inception-fid pool)",
            lower=0.0,
            published_label="FID",
        ),
        Output(
            KEY_FID_INFINITY,
            "FD-infinity on {space} features",
            LOWER,
            "FID extrapolated to infinitely many fakes (Chong & Forsyth 2020); with the setting infinity=True",
            uncertainty="none",
            published_label="FID-infinity",
            in_compute=False,
            requires=INFINITY,
        ),
    ),
    settings=(
        Setting(
            "bootstrap",
            0,
            int,
            "random halves behind FID's interval for the population distance in reports (0: off; each costs one "
            "FID on half the samples)",
            cli_flag="--fid-bootstrap",
        ),
        Setting(
            INFINITY,
            False,
            bool,
            "also report FID extrapolated to infinitely many fakes (15 extra FIDs)",
            cli_flag="--fid-infinity",
        ),
    ),
)
