"""``Memorization``: generated samples that sit suspiciously close to a training sample; the scorer
(math and reports, no torchmetrics)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

import torch
from torch import Tensor

from ganprobe.data.listing import FolderListing, as_listed
from ganprobe.data.sources import ImageSource
from ganprobe.defaults import DEFAULT_EXTRACTOR
from ganprobe.errors import InputError
from ganprobe.extractors.base import THUMBNAIL_LAYER, FeatureExtractor
from ganprobe.functional.memorization import (
    MemorizationResult,
    SuspectedCopy,
    leave_one_out_threshold,
    memorization_details,
    most_suspicious,
)
from ganprobe.functional.neighbours import DEFAULT_BLOCK_BYTES
from ganprobe.functional.pixel_copies import PixelCopyResult, pixel_copy_details, pixel_leave_one_out_threshold
from ganprobe.metrics.declarations.memorization import DECLARATION, KEY_MEMORIZATION, calibrated_threshold
from ganprobe.metrics.findings import Finding
from ganprobe.metrics.records import MetricRecord
from ganprobe.scorers.base import SingleLayerScorer
from ganprobe.utils.distributed import metric_process_group


class MemorizationScorer(SingleLayerScorer):
    """The logic of :class:`ganprobe.metrics.Memorization` without torchmetrics (see that class for its meaning,
    arguments and outputs); :mod:`ganprobe.scorers` says how scorers and metrics relate."""

    declaration = DECLARATION

    def __init__(
        self,
        threshold: float | None = DECLARATION.default("threshold"),
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        pixels: bool = DECLARATION.default("pixels"),
        **kwargs: Any,
    ) -> None:
        if not isinstance(pixels, bool):
            raise InputError(f"pixels: expected True or False, got {pixels!r}")
        self._pixels_wanted = pixels  # read by _add_feature_states, during the base class's __init__
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0
        ):
            raise InputError(f"threshold: must be a positive number or None (calibrated), got {threshold!r}")
        super().__init__(extractor, layer, extractor_kwargs, **kwargs)
        self.threshold = None if threshold is None else float(threshold)
        self.block_bytes = block_bytes
        # File of every stored row (None where unknown), filled as rows arrive; set_paths() overrides per class.
        self._recorded_paths: dict[str, list[str | None]] = {"real": [], "fake": []}
        self._given_paths: dict[str, list[str] | None] = {"real": None, "fake": None}
        self._pending_paths: Iterator[str] | None = None
        # compute() and most_suspicious() share one search: the details (and the threshold) are cached with the
        # exact state tensors they came from (compared by identity: any update, merge, sync or reset invalidates them).
        self._details: tuple[tuple[Tensor, ...], MemorizationResult, float] | None = None
        self._pixel_details: tuple[tuple[Tensor, ...], PixelCopyResult, float] | None = None

    def _add_feature_states(self) -> None:
        """The feature layer, and the thumbnails when the pixel check runs (they arrive with the features)."""
        if self._pixels_wanted and self.extractor is not None:
            self.layers = (*self.layers, THUMBNAIL_LAYER)
        super()._add_feature_states()

    @property
    def pixels(self) -> bool:
        """Whether the pixel copy check runs (asked for, and the metric has an extractor)."""
        return THUMBNAIL_LAYER in self.layers

    def set_paths(
        self,
        real: Sequence[str | os.PathLike[str] | None] | None = None,
        fake: Sequence[str | os.PathLike[str] | None] | None = None,
    ) -> None:
        """Name the image file of every real and/or fake row (update order), replacing recorded paths.

        Args:
            real: one path per real sample, or ``None`` to leave the real paths as they are.
            fake: one path per fake sample, or ``None`` to leave the fake paths as they are.

        The lengths are checked against the stored samples when :meth:`most_suspicious` runs.
        """
        for label, paths in (("real", real), ("fake", fake)):
            if paths is not None:
                if isinstance(paths, (str, os.PathLike)):
                    raise InputError(f"{label}: expected one path per sample, got a single path {paths!r}")
                self._given_paths[label] = [None if path is None else str(path) for path in paths]

    def update_from(
        self,
        source: ImageSource,
        real: bool,
        batch_size: int = 64,
        num_samples: int | None = None,
        seed: int = 0,
        num_workers: int | None = None,
        progress: bool = False,
    ) -> None:
        """Add every image of a source (see :meth:`FeatureScorer.update_from`); folders also record file paths."""
        if self.extractor is not None:
            source = as_listed(source)  # one listing (and order) for the loader and the recorded paths
            if isinstance(source, FolderListing):
                self._pending_paths = iter([str(path) for path in source[:num_samples]])
        try:
            super().update_from(source, real, batch_size, num_samples, seed, num_workers, progress)
        finally:
            self._pending_paths = None

    def _accumulate(self, features: Mapping[str, Tensor], real: bool) -> None:
        count = features[self.layer].shape[0]
        paths: list[str | None] = list(islice(self._pending_paths, count)) if self._pending_paths is not None else []
        self._recorded_paths["real" if real else "fake"].extend(paths + [None] * (count - len(paths)))
        super()._accumulate(features, real)

    def _select_layers(self, features: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """This metric's layers of a batch; features without thumbnails (precomputed, or a stats file written before
        the pixel check existed) turn the pixel check off until :meth:`reset`, which the findings then say."""
        if self.pixels and THUMBNAIL_LAYER not in features:
            self.layers = self.layers[:1]
            self.real_1, self.fake_1 = [], []  # thumbnails of earlier batches: no longer compared
        return super()._select_layers(features)

    def _as_feature_dict(self, x: Any) -> dict[str, Tensor]:
        """One tensor is the features of :attr:`layer` (the thumbnails are never given alone)."""
        if isinstance(x, Tensor):
            return {self.layer: x}
        return super()._as_feature_dict(x)

    def _pixels_skipped(self) -> bool:
        """Whether the pixel check was asked for but the features came without thumbnails."""
        return self._pixels_wanted and self.extractor is not None and not self.pixels

    def reset(self) -> None:
        """Clear the stored features and recorded paths (paths given to :meth:`set_paths` are kept)."""
        if self._pixels_skipped():
            self.layers = (*self.layers, THUMBNAIL_LAYER)
        super().reset()
        self._recorded_paths = {"real": [], "fake": []}
        self._details = None
        self._pixel_details = None

    def minimum_samples(self) -> tuple[int, int, str]:
        """Two reals (a real's spacing is its distance to the nearest other real; three to calibrate the threshold on
        them) and one fake."""
        return (2 if self._fixed_threshold()[0] is not None else 3), 1, ""

    def findings(self, records: Sequence[MetricRecord]) -> list[Finding]:
        """How many fakes look like copies, and the closest pair (``copies``)."""
        value = next((record.value for record in records if record.key == KEY_MEMORIZATION), None)
        if value is None:
            return []
        details = self.compute_details()
        threshold, _ = self.copy_threshold()
        pixel_threshold = self.pixel_threshold()
        rule = f"ratio < {threshold:.3g}"
        if pixel_threshold is not None:
            rule += f", or pixel ratio < {pixel_threshold:.3g} allowing a one-pixel shift"
        elif self._pixels_skipped():
            rule += "; features only: they came without the images' thumbnails, so no pixel check"
        count = int(round(value * details.ratio.shape[0]))
        closest = self.most_suspicious(1)
        pair = ""
        if closest:
            top = closest[0]
            fake = top.fake_path or f"fake #{top.fake_index}"
            real = top.real_path or f"real #{top.real_index}"
            what = "pixel copy ratio" if top.space == "pixels" else "copy ratio"
            pair = f" Closest pair: {fake} and {real} ({what} {top.ratio:.3g})."
        if count == 0:
            sentence = f"No fake sits closer to a real image than reals sit to each other ({rule}).{pair}"
        else:
            share = f"{count} of {details.ratio.shape[0]} fakes ({value:.1%})"
            sentence = f"{share} look like copies of real images ({rule}).{pair}"
        return [Finding("copies", self.name, sentence)]

    def _fixed_threshold(self) -> tuple[float | None, str]:
        """The threshold that does not depend on the real samples (given or calibrated offline), and its origin."""
        if self.threshold is not None:
            return self.threshold, "given"
        extractor = self.extractor
        if extractor is not None and getattr(extractor, "weights_verified", False):
            backbone = getattr(extractor, "backbone", None)
            if backbone is not None and getattr(extractor, "pipeline", None) == backbone.default_pipeline:
                value = calibrated_threshold(extractor.name, self.layer)
                if value is not None:
                    return value, f"calibrated offline for {extractor.name} {self.layer}"
        return None, "leave-one-out on the real samples"

    def _threshold_for(self, real: Tensor, group: Any = None) -> float:
        value, _ = self._fixed_threshold()
        if value is not None:
            return value
        if real.shape[0] < 3:
            raise InputError("Memorization: calibrating the threshold on the real samples needs at least 3 of them")
        return leave_one_out_threshold(real, block_bytes=self.block_bytes, process_group=group)

    def _current(self) -> tuple[MemorizationResult, float]:
        key = self._state_key()
        if self._details is not None and self._same_state(self._details[0], key):
            return self._details[1], self._details[2]
        real, fake = self.stored_features()
        group = metric_process_group(self)
        details = memorization_details(real[self.layer], fake[self.layer], self.block_bytes, process_group=group)
        threshold = self._threshold_for(real[self.layer], group)
        self._details = (key, details, threshold)
        return details, threshold

    def _current_details(self) -> MemorizationResult:
        return self._current()[0]

    def _pixel_result(self, real: Tensor, fake: Tensor, group: Any = None) -> tuple[PixelCopyResult, float]:
        if real.shape[0] < 3:
            raise InputError("Memorization: calibrating the pixel check on the real samples needs at least 3 of them")
        details = pixel_copy_details(real, fake, self.block_bytes, process_group=group)
        return details, pixel_leave_one_out_threshold(real, block_bytes=self.block_bytes, process_group=group)

    def _current_pixels(self) -> tuple[PixelCopyResult, float] | None:
        """The pixel check's details and threshold for the current state (``None`` when it does not run)."""
        if not self.pixels:
            return None
        key = self._state_key()
        if self._pixel_details is not None and self._same_state(self._pixel_details[0], key):
            return self._pixel_details[1], self._pixel_details[2]
        real, fake = self.stored_features()
        group = metric_process_group(self)
        details, threshold = self._pixel_result(real[THUMBNAIL_LAYER], fake[THUMBNAIL_LAYER], group)
        self._pixel_details = (key, details, threshold)
        return details, threshold

    def _flags(
        self, details: MemorizationResult, threshold: float, pixels: tuple[PixelCopyResult, float] | None
    ) -> Tensor:
        """Per fake: a likely copy in feature space, or (when the pixel check runs) in pixel space."""
        flags = details.ratio < threshold
        if pixels is not None:
            flags = flags | (pixels[0].ratio < pixels[1])
        return flags

    def _values(self, real: dict[str, Tensor], fake: dict[str, Tensor], group: Any = None) -> dict[str, Tensor]:
        details = memorization_details(real[self.layer], fake[self.layer], self.block_bytes, process_group=group)
        threshold = self._threshold_for(real[self.layer], group)
        pixels = self._pixel_result(real[THUMBNAIL_LAYER], fake[THUMBNAIL_LAYER], group) if self.pixels else None
        return {KEY_MEMORIZATION: self._flags(details, threshold, pixels).double().mean()}

    def _current_values(self) -> dict[str, Tensor]:
        details, threshold = self._current()
        return {KEY_MEMORIZATION: self._flags(details, threshold, self._current_pixels()).double().mean()}

    def pixel_threshold(self) -> float | None:
        """The pixel copy-ratio threshold ``compute()`` uses (half the leave-one-out quantile of the real
        thumbnails), or ``None`` when the pixel check does not run (``pixels=False`` or no extractor)."""
        if not self.pixels:
            return None
        with self.synced():
            found = self._current_pixels()
        return None if found is None else found[1]

    def pixel_details(self) -> PixelCopyResult | None:
        """Per-fake nearest real thumbnail, shift-tolerant distance and pixel copy ratio (synced under DDP), or
        ``None`` when the pixel check does not run."""
        if not self.pixels:
            return None
        with self.synced():
            found = self._current_pixels()
        return None if found is None else found[0]

    def copy_threshold(self) -> tuple[float, str]:
        """The copy-ratio threshold ``compute()`` uses and where it comes from.

        Returns:
            ``(threshold, origin)``: origin is ``"given"`` (the ``threshold`` argument), ``"calibrated offline for
            <extractor> <layer>"``, or ``"leave-one-out on the real samples"`` (needs the real samples stored).
        """
        value, origin = self._fixed_threshold()
        if value is not None:
            return value, origin
        with self.synced():
            return self._current()[1], origin

    def compute(self) -> Tensor:
        """Fraction of fakes whose copy ratio is below ``threshold`` (scalar float64 tensor)."""
        return self._current_values()[KEY_MEMORIZATION]

    def compute_details(self) -> MemorizationResult:
        """Per-fake nearest real index, distance, spacing and copy ratio (synced under DDP)."""
        with self.synced():
            return self._current_details()

    def _paths_for(self, label: str, count: int) -> list[str | None] | None:
        given = self._given_paths[label]
        if given is not None:
            if len(given) != count:
                raise InputError(f"set_paths({label}=...): has {len(given)} paths for {count} {label} samples")
            return list(given)
        recorded = self._recorded_paths[label]
        # Under DDP the gathered rows outnumber this process's recorded paths: their order is unknown.
        if len(recorded) != count or all(path is None for path in recorded):
            return None
        return recorded

    def most_suspicious(self, n: int = 10) -> list[SuspectedCopy]:
        """The ``n`` fakes with the lowest copy ratios (lowest first), with file paths where known.

        With the pixel check, each fake is ranked by the lower of its two ratios, each over its own threshold, and
        its record names the real and ratio of that comparison (``space``: ``"features"`` or ``"pixels"``).

        Returns:
            A list of :class:`~ganprobe.functional.memorization.SuspectedCopy` records (fake index, real index,
            distance, ratio, fake path, real path).
        """
        with self.synced():
            details, threshold = self._current()
            pixels = self._current_pixels()
        real_paths = self._paths_for("real", details.num_real)
        fake_paths = self._paths_for("fake", details.ratio.shape[0])
        if pixels is None:
            return most_suspicious(details, n, real_paths, fake_paths)
        return _merged_suspects(details, threshold, pixels, n, real_paths, fake_paths)


def _merged_suspects(
    details: MemorizationResult,
    threshold: float,
    pixels: tuple[PixelCopyResult, float],
    n: int,
    real_paths: Sequence[str | None] | None,
    fake_paths: Sequence[str | None] | None,
) -> list[SuspectedCopy]:
    """The ``n`` fakes lowest in ``min(feature ratio / threshold, pixel ratio / pixel threshold)``, each with the real
    and ratio of the comparison that ranked it (ties: the lower fake index, then features before pixels)."""
    pixel, pixel_threshold = pixels
    feature_score = details.ratio / threshold
    pixel_score = pixel.ratio / pixel_threshold
    by_pixels = pixel_score < feature_score
    score = torch.where(by_pixels, pixel_score, feature_score)
    records = most_suspicious(details, n, real_paths, fake_paths)  # validates n and the paths
    order = score.cpu().sort(stable=True).indices[: len(records)].tolist()
    chosen = by_pixels.cpu().tolist()
    out = []
    for fake_index in order:
        source = pixel if chosen[fake_index] else details
        real_row = int(source.real_index[fake_index])
        out.append(
            SuspectedCopy(
                fake_index=fake_index,
                real_index=real_row,
                distance=float(source.distance[fake_index]),
                ratio=float(source.ratio[fake_index]),
                fake_path=None if fake_paths is None else fake_paths[fake_index],
                real_path=None if real_paths is None else real_paths[real_row],
                space="pixels" if chosen[fake_index] else "features",
            )
        )
    return out
