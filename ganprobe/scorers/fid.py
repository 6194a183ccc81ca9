"""``FID``: Fréchet distance between Gaussian fits of real and fake features, from running float64 sums; the scorer
(math and reports, no torchmetrics)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ganprobe.defaults import DEFAULT_EXTRACTOR
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.published import FID_INCEPTION_SHA256
from ganprobe.functional.bootstrap import Interval
from ganprobe.functional.frechet import (
    fid_from_features,
    fid_infinity,
    fid_interval,
    fid_route,
    frechet_distance,
    statistics_from_sums,
    warn_if_rank_deficient,
)
from ganprobe.metrics.declarations.fid import DECLARATION, INFINITY, KEY_FID, KEY_FID_INFINITY
from ganprobe.metrics.findings import Finding
from ganprobe.metrics.records import Estimate, MetricRecord, Output, ReportOptions
from ganprobe.scorers.base import FeatureScorer
from ganprobe.scorers.per_class import PerClassScorer

# Published FID/KID numbers come from this extractor's pool3 features (pytorch-fid's Inception weights).
PUBLISHED_EXTRACTOR = "inception-fid"
PUBLISHED_LAYER = "pool"
# Published numbers need exactly pt_inception-2015-12-05-6726825d.pth: its full SHA-256 (never a prefix).
PUBLISHED_WEIGHTS_SHA256 = FID_INCEPTION_SHA256


# Published numbers come from the TensorFlow graph's input pipeline (extractor option pipeline="tf").
PUBLISHED_PIPELINE = "tf"


def official_inception(metric: FeatureScorer) -> bool:
    """Whether ``metric`` runs on ``inception-fid`` with the official weights file and the TF input pipeline."""
    extractor = metric.extractor
    return (
        extractor is not None
        and extractor.name == PUBLISHED_EXTRACTOR
        and str(extractor.weights_sha256 or "") == PUBLISHED_WEIGHTS_SHA256
        and getattr(extractor.preprocessing, "pipeline", None) == PUBLISHED_PIPELINE
    )


def with_reference(outputs: list[Output], metric: FeatureScorer, applies: bool = True) -> list[Output]:
    """``outputs`` whose labels name the implementation the numbers reproduce, when the extractor declares one
    and ``applies`` (the metric is measured the way that implementation measures it, e.g. on the pool layer).

    E.g. ``"FID (comparable with TensorFlow FID (TTUR) / torch-fidelity)"`` on official weights with the TF
    pipeline, ``"FD on inception-fid features (comparable with clean-fid mode='clean')"`` with the clean one.
    """
    reference = getattr(metric.extractor, "published_reference", None)
    if not reference or not applies:
        return outputs
    suffix = f" (comparable with {reference})"
    return [
        dataclasses.replace(
            output,
            label=output.label + suffix,
            published_label=output.published_label + suffix if output.published_label else None,
        )
        for output in outputs
    ]


class FIDScorer(PerClassScorer):
    """The logic of :class:`ganprobe.metrics.FID` without torchmetrics (see that class for its meaning,
    arguments and outputs); :mod:`ganprobe.scorers` says how scorers and metrics relate."""

    declaration = DECLARATION

    def __init__(
        self,
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        feature_dim: int | None = None,
        keep_features: bool = False,
        bootstrap: int = DECLARATION.default("bootstrap"),
        infinity: bool = DECLARATION.default(INFINITY),
        **kwargs: Any,
    ) -> None:
        if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0:
            raise InputError(f"bootstrap: expected an integer >= 0 (0: no interval), got {bootstrap!r}")
        if not isinstance(infinity, bool):
            raise InputError(f"infinity: expected True or False, got {infinity!r}")
        if feature_dim is not None and (
            isinstance(feature_dim, bool) or not isinstance(feature_dim, int) or feature_dim < 1
        ):
            raise InputError(f"feature_dim: expected None or a positive integer, got {feature_dim!r}")
        if not isinstance(keep_features, bool):
            raise InputError(f"keep_features: expected True or False, got {keep_features!r}")
        super().__init__(extractor, layer, extractor_kwargs, **kwargs)
        keep_features = keep_features or bootstrap > 0 or infinity  # both are computed from the rows
        self.keep_features = keep_features
        self.bootstrap = bootstrap
        self.infinity = infinity
        width = feature_dim or 0
        for prefix in ("real", "fake"):
            self.add_state(f"{prefix}_sum", torch.zeros(width, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{prefix}_outer_sum", torch.zeros(width, width, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{prefix}_count", torch.zeros((), dtype=torch.int64), dist_reduce_fx="sum")
        if keep_features:
            super()._add_feature_states()

    def _add_feature_states(self) -> None:
        """No-op: the sum states are declared in ``__init__``, once the width and ``keep_features`` are known."""

    def _no_label_states_message(self) -> str:
        return (
            "labels: FID keeps only running sums, not the rows per-class values need; construct "
            "FID(..., keep_features=True) to update with labels"
        )

    @property
    def feature_dim(self) -> int | None:
        """The feature width ``D`` of the states (``None`` while lazily sized states are still empty)."""
        width = self.real_sum.shape[0]
        return width if width else None

    @property
    def comparable_with_published(self) -> bool:
        """``True`` only on ``inception-fid`` ``pool`` features: the setting of published FID numbers."""
        return official_inception(self) and self.layer == PUBLISHED_LAYER

    def declared_outputs(self) -> list[Output]:
        """The outputs, labelled with the implementation the numbers reproduce (see :func:`with_reference`)."""
        return with_reference(super().declared_outputs(), self, self.layer == PUBLISHED_LAYER)

    def _accumulate(self, features: Mapping[str, Tensor], real: bool) -> None:
        x = features[self.layer].double()
        width = self.real_sum.shape[0]
        if width == 0:  # lazily sized: the first batch fixes D for both classes
            self._resize_sums(x.shape[1], x.device)
        elif x.shape[1] != width:
            self._widths[self.layer] = width  # the base class recorded the rejected width; restore the real one
            raise InputError(f"features: width {x.shape[1]} differs from this FID's feature_dim={width}")
        prefix = "real" if real else "fake"
        setattr(self, f"{prefix}_sum", getattr(self, f"{prefix}_sum") + x.sum(dim=0))
        setattr(self, f"{prefix}_outer_sum", getattr(self, f"{prefix}_outer_sum") + x.T @ x)
        setattr(self, f"{prefix}_count", getattr(self, f"{prefix}_count") + x.shape[0])
        if self.keep_features:
            super()._accumulate(features, real)

    def minimum_samples(self) -> tuple[int, int, str]:
        """Two samples per set: a covariance needs them."""
        return 2, 2, ""

    def _resize_sums(self, width: int, device: torch.device) -> None:
        for prefix in ("real", "fake"):
            setattr(self, f"{prefix}_sum", torch.zeros(width, dtype=torch.float64, device=device))
            setattr(self, f"{prefix}_outer_sum", torch.zeros(width, width, dtype=torch.float64, device=device))

    def _values(self, real: dict[str, Tensor], fake: dict[str, Tensor], group: Any = None) -> dict[str, Tensor]:
        """FID of the given rows (the half-sample noise path; ``compute()`` uses the running sums)."""
        return {KEY_FID: fid_from_features(real[self.layer], fake[self.layer])}

    def _noise_rows(self) -> tuple[dict[str, Tensor], dict[str, Tensor]] | None:
        return self.stored_features() if self.keep_features else None

    def _sample_counts(self) -> tuple[int, int]:
        return int(self.real_count), int(self.fake_count)

    def _feature_dimension(self) -> int | None:
        return int(self.real_sum.shape[0]) or None

    def findings(self, records: Sequence[MetricRecord]) -> list[Finding]:
        """FID as context on ``distance``: it has no threshold of its own, so it claims nothing."""
        record = next((record for record in records if record.key == KEY_FID), None)
        if record is None:
            return []
        sentence = f"{record.label} {record.value:.4g} (no threshold of its own: compare runs at equal sample sizes)."
        return [Finding("distance", self.name, sentence, None, f"{record.label} {record.value:.4g}")]

    def _add_details(self, estimates: dict[str, Estimate], options: ReportOptions) -> None:
        if self.bootstrap > 0 and self.keep_features:
            try:
                interval = self.compute_interval(num_resamples=max(self.bootstrap, 2), seed=options.seed)
            except InputError as error:  # halves of a tiny set cannot be fitted: no interval, said so
                estimates[KEY_FID].note = f"no interval: its random halves are too small ({error})"
            else:
                estimates[KEY_FID].low, estimates[KEY_FID].high = interval.low, interval.high
                estimates[KEY_FID].note = interval.note or None
        if self.infinity:
            estimates[KEY_FID_INFINITY] = Estimate(float(self.compute_infinity(seed=options.seed)))

    def _current_values(self) -> dict[str, Tensor]:
        """The Fréchet distance between the real and fake Gaussian fits of the running sums."""
        n_real, n_fake = int(self.real_count), int(self.fake_count)
        if n_real < 2 or n_fake < 2:
            raise InputError(
                f"FID: needs at least 2 real and 2 fake samples before compute(), got {n_real} real and {n_fake} fake"
            )
        if self.keep_features and fid_route(n_real, n_fake, self.real_sum.shape[0]) == "gram":
            # The rows are at hand: the N x N Gram route skips the D x D decomposition (it warns when N <= D).
            real, fake = self.stored_features()
            return {KEY_FID: fid_from_features(real[self.layer], fake[self.layer])}
        warn_if_rank_deficient(n_real, n_fake, self.real_sum.shape[0])
        mu_real, sigma_real = statistics_from_sums(self.real_sum, self.real_outer_sum, n_real)
        mu_fake, sigma_fake = statistics_from_sums(self.fake_sum, self.fake_outer_sum, n_fake)
        return {KEY_FID: frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake, counts=(n_real, n_fake))}

    def compute(self) -> Tensor:
        """The Fréchet distance between the real and fake Gaussian fits (scalar float64 tensor, ``>= 0``)."""
        return self._current_values()[KEY_FID]

    def _kept_features(self, method: str) -> tuple[Tensor, Tensor]:
        if not self.keep_features:
            raise InputError(f"{method}: needs the feature rows; construct FID(..., keep_features=True)")
        real, fake = self.stored_features()
        return real[self.layer], fake[self.layer]

    def compute_interval(self, num_resamples: int = 20, confidence: float = 0.95, seed: int = 0) -> Interval:
        """Confidence interval for the population Fréchet distance (synced under DDP).

        Centred on a bias-corrected estimate (Richardson extrapolation from FID at ``N`` and on random halves, which
        doubles the ``1 / N`` bias), with a t-interval from the spread over the halves; see
        :func:`ganprobe.functional.frechet.fid_interval`. The plug-in value :meth:`compute` returns is biased
        upwards, so it may lie above the interval; the returned ``Interval.note`` then says so and by how much.
        Each random half costs one FID on half the samples.

        Args:
            num_resamples: random halves (>= 2), drawn without replacement in complementary pairs.
            confidence: coverage in ``(0, 1)``.
            seed: seed of the halves (CPU generator: the same interval on every device).

        Raises:
            InputError: the metric was built without ``keep_features=True``.
        """
        with self.synced():
            real, fake = self._kept_features("compute_interval")
            return fid_interval(real, fake, num_resamples, confidence, seed)

    def compute_infinity(self, num_points: int = 15, min_n: int | None = None, seed: int = 0) -> Tensor:
        """FID∞ (Chong & Forsyth 2020): FID extrapolated to infinitely many fakes (synced under DDP).

        See :func:`ganprobe.functional.frechet.fid_infinity`: FID on ``num_points`` random fake subsets of sizes
        from ``min_n`` (default ``N_f // 10``) to ``N_f``, a least-squares fit of ``a + b / N``, the intercept ``a``.

        Raises:
            InputError: the metric was built without ``keep_features=True``.
        """
        with self.synced():
            real, fake = self._kept_features("compute_infinity")
            return fid_infinity(real, fake, num_points, min_n, seed)
