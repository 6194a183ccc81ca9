"""``InceptionScore``: the Inception Score of generated samples: the scorer (math and reports, no torchmetrics)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from ganprobe.data.sources import ImageSource
from ganprobe.defaults import DEFAULT_EXTRACTOR
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.registry import get_extractor
from ganprobe.functional.inception_score import inception_score
from ganprobe.metrics.declarations.inception_score import DECLARATION, KEY_IS, KEY_IS_STD
from ganprobe.metrics.records import Output
from ganprobe.scorers.base import SingleLayerScorer, cat_rows
from ganprobe.scorers.fid import official_inception, with_reference

# Extractors whose logits are scored without the classifier's bias by default, as the original IS code does.
_FID_INCEPTIONS = ("inception-fid", "random-inception-fid")


class InceptionScorer(SingleLayerScorer):
    """The logic of :class:`ganprobe.metrics.InceptionScore` without torchmetrics (see that class for its meaning,
    arguments and outputs); :mod:`ganprobe.scorers` says how scorers and metrics relate."""

    declaration = DECLARATION

    def __init__(
        self,
        splits: int = DECLARATION.default("splits"),
        seed: int | None = 0,
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        unbiased_logits: bool | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
            raise InputError(f"splits: must be a positive integer, got {splits!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise InputError(f"seed: expected None (no shuffle) or an integer, got {seed!r}")
        if unbiased_logits is not None and not isinstance(unbiased_logits, bool):
            raise InputError(f"unbiased_logits: expected None, True or False, got {unbiased_logits!r}")
        resolved = None if extractor is None else get_extractor(extractor, **dict(extractor_kwargs or {}))
        self._bias_module: str | None = None
        if resolved is None:
            layer = "logits"
            if unbiased_logits:
                raise InputError("unbiased_logits: needs an extractor; with extractor=None pass the logits to score")
            unbiased_logits = False
        else:
            if resolved.logits_layer is None:
                raise InputError(
                    f"extractor: {resolved.name!r} has no logits layer; use one with class logits, e.g. 'inception-fid'"
                )
            layer = resolved.logits_layer
            if unbiased_logits is None:
                unbiased_logits = resolved.name in _FID_INCEPTIONS
            if unbiased_logits:
                path = resolved.taps[resolved.logits_layer]
                head = resolved.model.get_submodule(path)
                if not isinstance(head, nn.Linear) or head.bias is None:
                    raise InputError(
                        f"unbiased_logits: the logits layer {path!r} of {resolved.name!r} is not a linear layer with "
                        "a bias; pass unbiased_logits=False"
                    )
                self._bias_module = path
        super().__init__(resolved, layer, None, **kwargs)
        self.splits = splits
        self.seed = seed
        self.unbiased_logits = unbiased_logits

    @property
    def comparable_with_published(self) -> bool:
        """Whether the protocol matches published IS (official FID Inception, unbiased logits, 10 splits).

        The sample count is not checked: published numbers use 50,000 generated samples.
        """
        return official_inception(self) and bool(self.unbiased_logits) and self.splits == 10

    def declared_outputs(self) -> list[Output]:
        """The outputs, labelled with the implementation the numbers reproduce (see ``with_reference``)."""
        return with_reference(super().declared_outputs(), self, self.comparable_with_published)

    def _accumulate(self, features: Mapping[str, Tensor], real: bool) -> None:
        logits = features[self.layer]
        if self._bias_module is not None and self.extractor is not None:
            bias = self.extractor.model.get_submodule(self._bias_module).bias
            logits = logits - bias.to(logits.device, logits.dtype)
        super()._accumulate({self.layer: logits}, real)

    def update(self, x: Tensor | Sequence[Tensor] | Mapping[str, Tensor], real: bool = False) -> None:
        """Add generated samples (``real=True`` stores real ones for :meth:`compute_real`); see the class doc."""
        super().update(x, real)

    def update_features(self, features: Tensor | Mapping[str, Tensor], real: bool = False) -> None:
        """Add logits computed by this metric's extractor (generated samples unless ``real=True``)."""
        super().update_features(features, real)

    def update_from(
        self,
        source: ImageSource,
        real: bool = False,
        batch_size: int = 64,
        num_samples: int | None = None,
        seed: int = 0,
        num_workers: int | None = None,
        progress: bool = False,
    ) -> None:
        """Add every image of a folder, tensor, DataLoader or generator callable (generated unless ``real=True``)."""
        super().update_from(source, real, batch_size, num_samples, seed, num_workers, progress)

    def _logits(self, parts: Tensor | list[Tensor], which: str) -> Tensor:
        if isinstance(parts, list) and not parts:
            flag = "True" if which == "real" else "False"
            raise InputError(f"InceptionScore: no {which} samples yet; call update(x, real={flag}) first")
        return cat_rows(parts)

    def _score(self, logits: Tensor, which: str) -> dict[str, Tensor]:
        if logits.shape[0] < self.splits:
            count = logits.shape[0]
            raise InputError(
                f"InceptionScore: splits={self.splits} needs at least {self.splits} {which} samples, got {count}; "
                "use more samples or fewer splits (--set is.splits=N)"
            )
        mean, std = inception_score(logits, self.splits, self.seed)
        return {KEY_IS: mean, KEY_IS_STD: std}

    def space_label(self, output: Output) -> str:
        """The extractor alone: the label already says the score is on its logits."""
        return self.feature_space

    def minimum_samples(self) -> tuple[int, int, str]:
        """No real samples; one generated sample per split."""
        return 0, self.splits, f"splits={self.splits}"

    def _values(self, real: dict[str, Tensor], fake: dict[str, Tensor], group: Any = None) -> dict[str, Tensor]:
        return self._score(fake[self.layer], "fake")

    def _noise_rows(self) -> tuple[dict[str, Tensor], dict[str, Tensor]] | None:
        logits = {self.layer: self._logits(self.fake_0, "fake")}
        return logits, logits  # the real set plays no part in the score

    def _current_values(self) -> dict[str, Tensor]:
        return self._score(self._logits(self.fake_0, "fake"), "fake")

    def compute(self) -> dict[str, Tensor]:
        """``{"is": mean, "is_std": std}`` of the generated samples' IS over the splits (float64 0-d tensors)."""
        return self._current_values()

    def compute_real(self) -> dict[str, Tensor]:
        """``{"is": mean, "is_std": std}`` of the real samples: the score a perfect generator would get (synced)."""
        with self.synced():
            return self._score(self._logits(self.real_0, "real"), "real")
