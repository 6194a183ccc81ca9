"""The logic every ganprobe metric shares, without torchmetrics: an optional extractor, per-layer real/fake feature
states, the declared outputs and the reports built from them.

A scorer class holds a metric's math and reports but no state machinery of its own: it calls ``add_state``,
``reset``, ``synced`` and ``device`` of the class it is mixed with. Mixed with torchmetrics' ``Metric``
(:class:`ganprobe.metrics.base.FeatureMetric`) it is the public metric, with DDP sync and the compute cache; mixed
with :class:`ganprobe.scorers.plain.PlainStates` (:func:`ganprobe.scorers.plain.standalone`) it runs in one
process without importing torchmetrics, which is how the :class:`~ganprobe.run.evaluator.Evaluator` runs it.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from ganprobe.data.sources import ImageSource
from ganprobe.defaults import DEFAULT_EXTRACTOR
from ganprobe.errors import GanprobeError, InputError, SampleSizeWarning
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.registry import get_extractor
from ganprobe.features.extract import iter_features
from ganprobe.metrics.declarations import MetricDeclaration
from ganprobe.metrics.findings import Finding
from ganprobe.metrics.records import Estimate, MetricRecord, Output, ReportOptions, binomial_stderr, make_record
from ganprobe.metrics.sample_size import SampleCheck, SampleRule, check_sample
from ganprobe.utils.distributed import metric_process_group

MetricValue = Tensor | dict[str, Tensor]

_CONTEXTLIB = os.path.dirname(os.path.abspath(contextmanager.__code__.co_filename)) + os.sep + "contextlib.py"


def _library_dirs() -> tuple[str, ...]:
    """Folders whose frames are the library's own (ganprobe, torch, and torchmetrics once it is loaded)."""
    modules = (sys.modules.get(name) for name in ("ganprobe", "torchmetrics", "torch"))
    folders = tuple(
        os.path.dirname(os.path.abspath(module.__file__)) + os.sep
        for module in modules
        if module is not None and getattr(module, "__file__", None)
    )
    return (*folders, _CONTEXTLIB)


def _user_stacklevel() -> int:
    """The ``stacklevel`` for :func:`warnings.warn` called here that names the first frame outside ganprobe,
    torchmetrics and torch: the user's line that asked for the number."""
    frame, level, library = sys._getframe(1), 1, _library_dirs()
    while frame.f_back is not None and frame.f_code.co_filename.startswith(library):
        frame, level = frame.f_back, level + 1
    return level


def cat_rows(parts: Tensor | Sequence[Tensor]) -> Tensor:
    """One ``(N, ...)`` tensor from a ``cat`` state: a list of row blocks (concatenated) or an already gathered
    tensor (returned as it is)."""
    if isinstance(parts, Tensor):
        return parts
    blocks = [part.unsqueeze(0) if part.ndim == 0 else part for part in parts]
    if not blocks:
        raise InputError("features: no rows were stored")
    return torch.cat(blocks, dim=0)


# The class attributes a scorer takes from its declaration.
_DECLARED_ATTRIBUTES = (
    "name",
    "outputs",
    "needs_logits",
    "uses_real",
    "seeded",
    "verdict_rank",
    "closest_pairs",
    "takes_image_paths",
)


def _check_declared_interface(cls: type, declaration: MetricDeclaration) -> None:
    """Refuse a class that lacks what its declaration promises: a method for each declared product, a keyword
    argument with the declared default for each setting (what ``--set`` and ``evaluate(settings=...)`` pass).

    Raises:
        TypeError: naming the class and what is missing, when the class is defined.
    """
    for promised, method in (("closest_pairs", "most_suspicious"), ("takes_image_paths", "set_paths")):
        if getattr(declaration, promised) and not callable(getattr(cls, method, None)):
            raise TypeError(f"{cls.__name__}: its declaration has {promised}=True but the class has no {method}()")
    parameters = inspect.signature(cls.__init__).parameters
    for entry in declaration.settings:
        parameter = parameters.get(entry.name)
        if parameter is None:
            raise TypeError(
                f"{cls.__name__}: declared setting {entry.name!r} is not a keyword of its __init__ signature"
            )
        if parameter.default != entry.default:
            raise TypeError(
                f"{cls.__name__}: setting {entry.name!r} defaults to {parameter.default!r} in __init__, but its "
                f"declaration declares {entry.default!r}"
            )


@dataclass(frozen=True)
class Features:
    """Features already extracted by a metric's own extractor: ``metric.update(Features({layer: (N, D)}), real)``.

    Wrapping them tells :meth:`FeatureScorer.update` to store them as they are instead of running the extractor
    (one extraction pass feeding many metrics); extra layers are ignored.
    """

    layers: Mapping[str, Tensor]


class FeatureScorer:
    """Base class: keeps real and fake features per layer as ``cat``-reduced list states, and reports its outputs.

    ``update(x, real)`` takes images (when the metric has an extractor), :class:`Features` already extracted by that
    extractor, or precomputed features (when constructed with ``extractor=None``): a ``(N, D)`` tensor for a
    one-layer metric, a ``{layer: (N, D)}`` dict otherwise. Under DDP, torchmetrics gathers every rank's features
    before ``compute()``; every other public compute method syncs the same way (custom ``dist_sync_fn`` included).

    ``compute()`` returns a scalar tensor for a metric with one output and a flat ``{key: 0-d tensor}`` dict for one
    with several, keyed like the JSON report and the gates. Calling the metric (``forward``) adds the batch and
    returns ``None``: these scores are defined over whole real and fake sets, never over one batch of one class.

    The state machinery (``add_state``, ``reset``, ``synced``, ``device``) comes from the class a scorer is mixed
    with: torchmetrics' ``Metric`` (:class:`ganprobe.metrics.base.FeatureMetric`) or
    :class:`ganprobe.scorers.plain.PlainStates`.

    Subclasses set ``declaration`` (a torch-free :class:`~ganprobe.metrics.declarations.MetricDeclaration` from
    :mod:`ganprobe.metrics.declarations`), which gives them ``name`` (the evaluator's and CLI's metric name),
    ``outputs`` (one :class:`Output` each) and the evaluator's flags, and implement :meth:`_values` (the functional
    twin applied to given features). A subclass may also set ``name`` and ``outputs`` itself.

    Args:
        extractor: a registry name, a :class:`FeatureExtractor`, or ``None`` for precomputed features.
        layers: layer names; ``None`` means the extractor's default layer.
        extractor_kwargs: passed to the registry factory when ``extractor`` is a name (e.g. ``weights_path``).
        kwargs: options of the state machinery: torchmetrics ``Metric`` options (``sync_on_compute``,
            ``process_group``, ``compute_on_cpu``...) for a metric; only ``sync_on_compute`` for a standalone scorer.
    """

    declaration: ClassVar[MetricDeclaration | None] = None
    name: ClassVar[str] = ""
    outputs: ClassVar[tuple[Output, ...]] = ()
    needs_logits: ClassVar[bool] = False  # fed from the extractor's class logits (Inception Score)
    uses_real: ClassVar[bool] = True  # the evaluator feeds it the real set too
    seeded: ClassVar[bool] = False  # takes a ``seed`` (the evaluator passes its own)
    verdict_rank: ClassVar[int] = 50  # where the metric's verdict goes at the top of a report (lower: earlier)
    closest_pairs: ClassVar[bool] = False  # offers most_suspicious(count), listed as pairs by reports
    takes_image_paths: ClassVar[bool] = False  # takes set_paths(real=..., fake=...), the file of every row
    # Every process of a torch.distributed group was fed every row (the Evaluator under a process group sets it, with
    # sync_on_compute=False): states are not synced, and the k-NN searches are still split over the processes.
    replicated: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Take the class attributes from ``declaration``, and torchmetrics' class metadata (direction, plot bounds)
        from the first declared output."""
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("declaration")
        if declared is not None:
            for attribute in _DECLARED_ATTRIBUTES:
                setattr(cls, attribute, getattr(declared, attribute))
            _check_declared_interface(cls, declared)
        if ("outputs" in cls.__dict__ or declared is not None) and cls.outputs:
            primary = cls.outputs[0]
            cls.higher_is_better = {"lower": False, "higher": True}.get(primary.direction.kind)
            cls.plot_lower_bound = primary.lower
            cls.plot_upper_bound = primary.upper

    def __init__(
        self,
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layers: Sequence[str] | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.extractor = None if extractor is None else get_extractor(extractor, **dict(extractor_kwargs or {}))
        if self.extractor is not None:
            self.layers: tuple[str, ...] = self.extractor.resolve_layers(layers)
        elif layers is None:
            self.layers = ("features",)
        else:
            names = (layers,) if isinstance(layers, str) else tuple(layers)
            if not names or not all(isinstance(name, str) and name for name in names):
                raise InputError(f"layers: expected a non-empty list of layer names, got {layers!r}")
            self.layers = tuple(dict.fromkeys(names))
        self._widths: dict[str, int] = {}
        self._warned: set[str] = set()  # sample-size warnings issued for the current state (each cause once)
        self._add_feature_states()

    def _add_feature_states(self) -> None:
        """Declare the states; the default keeps every feature row (``cat``-synced lists) per layer and class.

        Metrics that only need running sums (FID) override this and :meth:`_accumulate`.
        """
        for index in range(len(self.layers)):
            self.add_state(f"real_{index}", default=[], dist_reduce_fx="cat")
            self.add_state(f"fake_{index}", default=[], dist_reduce_fx="cat")

    def _accumulate(self, features: Mapping[str, Tensor], real: bool) -> None:
        """Fold one validated batch ``{layer: (N, D)}`` (on the metric's device) into the states.

        Appends to a copy of each list, never in place: inside a ``MetricCollection`` compute group the lists are
        shared between members, and each member's ``forward`` must add the batch once, to its own state.
        """
        prefix = "real" if real else "fake"
        for index, layer in enumerate(self.layers):
            name = f"{prefix}_{index}"
            setattr(self, name, [*getattr(self, name), features[layer]])

    # ----------------------------------------------------------------------------------------------- declarations
    @property
    def feature_space(self) -> str:
        """Which features the metric measures, e.g. ``"efficientnet-lite0"`` or ``"precomputed"``."""
        return self.extractor.name if self.extractor is not None else "precomputed"

    @property
    def comparable_with_published(self) -> bool:
        """Whether the numbers compare with published values (only the published scores on their setting)."""
        return False

    def declared_outputs(self) -> list[Output]:
        """This instance's outputs, per-layer templates filled in (every key a report of it can hold)."""
        return list(self.outputs)

    def minimum_samples(self) -> tuple[int, int, str]:
        """The fewest ``(real, fake)`` samples this metric can be computed on, and the setting that sets them
        (empty when none does), so a run can refuse a too-small set before any extraction."""
        return 1, 1, ""

    def sample_check(self) -> SampleCheck:
        """Whether the stored sets are large enough for this metric's headline number (synced under DDP), by the
        :class:`~ganprobe.metrics.sample_size.SampleRule` of its declaration."""
        rule = self.declaration.sample_rule if self.declaration is not None else SampleRule()
        title = (self.declaration.title if self.declaration is not None else "") or self.name or type(self).__name__
        with self.synced():
            real, fake = self._sample_counts()
        settings = {rule.above_setting[0]: getattr(self, rule.above_setting[0], None)} if rule.above_setting else {}
        return check_sample(
            rule, self.name, title, real if self.uses_real else None, fake, self._feature_dimension(), settings
        )

    def _state_key(self) -> tuple[Tensor, ...]:
        """The state tensors themselves: a result computed from them can be reused while this tuple holds the same
        objects (any update, reset or sync replaces one), e.g. one neighbour search per state."""
        parts: list[Tensor] = []
        for name in self._defaults:
            value = getattr(self, name)
            parts.extend(value if isinstance(value, list) else [value])
        return tuple(parts)

    @staticmethod
    def _same_state(cached: tuple[Tensor, ...] | None, key: tuple[Tensor, ...]) -> bool:
        return cached is not None and len(cached) == len(key) and all(a is b for a, b in zip(cached, key, strict=True))

    def _feature_dimension(self) -> int | None:
        """The width of the (first) layer's features, ``None`` before any update."""
        return self._widths.get(self.layers[0])

    @contextmanager
    def _sample_warnings_once(self) -> Iterator[None]:
        """Issue each :class:`SampleSizeWarning` raised inside once per state (``compute()`` and ``records()`` of the
        same sets warn once, not twice), pointing at the user's line; every other warning passes through."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SampleSizeWarning)
            yield
        for item in caught:
            if issubclass(item.category, SampleSizeWarning):
                text = str(item.message)
                if text not in self._warned:
                    self._warned.add(text)
                    warnings.warn(item.message, stacklevel=_user_stacklevel())
            else:
                warnings.warn_explicit(item.message, item.category, item.filename, item.lineno, source=item.source)

    def space_label(self, output: Output) -> str:
        """The feature space in words for labels: ``"resnet18"`` at the extractor's default layer,
        ``"resnet18 layer3"`` at another, ``"precomputed"`` without an extractor."""
        layer = output.layer or (self.layers[0] if len(self.layers) == 1 else None)
        if self.extractor is None or layer is None or layer == self.extractor.default_layer:
            return self.feature_space
        return f"{self.feature_space} {layer}"

    def output_space(self, output: Output) -> str:
        """The feature space an output was measured in, e.g. ``"resnet18:pool"``."""
        layer = self.layers[0] if len(self.layers) == 1 else None
        return f"{self.feature_space}:{layer}" if layer else self.feature_space

    # ------------------------------------------------------------------------------------------------------ update
    def update(self, x: Tensor | Sequence[Tensor] | Mapping[str, Tensor] | Features, real: bool) -> None:
        """Add a batch of real or fake samples.

        Args:
            x: images (NCHW ``uint8`` ``[0, 255]`` or float ``[0, 1]``, or a list of CHW images) when the metric has
                an extractor; :class:`Features` from that extractor; otherwise precomputed features ``(N, D)``
                (one layer) or ``{layer: (N, D)}``.
            real: ``True`` for real samples, ``False`` for generated ones.
        """
        self._add_batch(x, real, None)

    def _add_batch(
        self, x: Tensor | Sequence[Tensor] | Mapping[str, Tensor] | Features, real: bool, labels: Any
    ) -> None:
        """:meth:`update`'s work; ``labels`` (per-class scorers: :mod:`ganprobe.scorers.per_class`) go to
        :meth:`_store`."""
        if not isinstance(real, bool):
            raise InputError(f"real: expected True or False, got {real!r}")
        if isinstance(x, Features):
            self._store(self._select_layers(x.layers), real, labels)
            return
        if self.extractor is not None:
            if isinstance(x, Mapping):
                raise InputError("x: this metric has an extractor and takes images; pass extractor=None for features")
            if not isinstance(x, Tensor) and not (
                isinstance(x, Sequence) and x and all(isinstance(image, Tensor) for image in x)
            ):
                raise InputError(
                    f"x: expected images as a torch.Tensor (NCHW) or a list of CHW tensors, got {type(x).__name__}"
                    + (" (convert with torch.from_numpy)" if type(x).__module__ == "numpy" else "")
                )
            features = self.extractor(x, layers=self.layers)
        else:
            features = self._as_feature_dict(x)
        self._store(features, real, labels)

    def forward(self, *args: Any, **kwargs: Any) -> None:
        """Calling the metric adds the batch exactly like :meth:`update` and returns ``None``.

        torchmetrics' default ``forward`` would compute the metric on the batch alone, which for a two-sample score
        needs both real and fake samples in one batch; these metrics are only defined over whole sets. Log the
        metric object (``self.log(name, metric)``) or ``compute()`` at the end of an epoch instead.
        """
        self.update(*args, **kwargs)
        self._forward_cache = None

    def update_features(self, features: Tensor | Mapping[str, Tensor], real: bool) -> None:
        """Add precomputed features even when the metric has an extractor (one extraction pass feeding many metrics).

        The same as ``update(Features(features), real)``: on a metric it runs torchmetrics' update wrapper
        (``compute_on_cpu``, the compute cache and the update count behave as for images).

        Args:
            features: ``(N, D)`` for a one-layer metric, or ``{layer: (N, D)}`` holding at least this metric's layers
                (extra layers are ignored), computed by this metric's extractor.
            real: ``True`` for real samples, ``False`` for generated ones.
        """
        if isinstance(features, Tensor):
            features = self._as_feature_dict(features)
        if not isinstance(features, Mapping):
            raise InputError(f"features: expected a tensor or a dict of tensors, got {type(features).__name__}")
        self.update(Features(features), real)

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
        """Add every image of a folder, tensor, DataLoader or generator callable (see :mod:`ganprobe.data`).

        Folders are decoded and preprocessed in worker processes while the backbone runs.
        """
        if self.extractor is None:
            raise InputError("update_from: this metric was built with extractor=None; pass features to update()")
        if not isinstance(real, bool):
            raise InputError(f"real: expected True or False, got {real!r}")
        label = "real" if real else "fake"
        for features in iter_features(
            self.extractor,
            source,
            self.layers,
            batch_size,
            num_samples,
            seed,
            num_workers,
            progress=progress,
            description=f"{label} images",
        ):
            self.update(Features(features), real)

    def _select_layers(self, features: Mapping[str, Tensor]) -> dict[str, Tensor]:
        missing = [layer for layer in self.layers if layer not in features]
        if missing:
            raise InputError(f"features: missing layers {missing} needed by {type(self).__name__}")
        return {layer: features[layer] for layer in self.layers}

    def _as_feature_dict(self, x: Any) -> dict[str, Tensor]:
        if isinstance(x, Tensor):
            if len(self.layers) != 1:
                raise InputError(f"x: expected a dict of features for layers {list(self.layers)}, got one tensor")
            return {self.layers[0]: x}
        if isinstance(x, Mapping):
            if set(x) != set(self.layers):
                raise InputError(f"x: expected features for layers {list(self.layers)}, got {list(x)}")
            return dict(x)
        raise InputError(f"x: expected precomputed features (a tensor or a dict of tensors), got {type(x).__name__}")

    def _store(self, features: Mapping[str, Tensor], real: bool, labels: Any = None) -> None:
        checked = {}
        for layer in self.layers:
            value = features[layer]
            if not isinstance(value, Tensor) or value.ndim != 2 or value.shape[0] == 0 or value.shape[1] == 0:
                shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise InputError(f"features of layer {layer!r}: expected a non-empty (N, D) tensor, got {shape}")
            if not value.is_floating_point():
                raise InputError(f"features of layer {layer!r}: expected floating point, got {value.dtype}")
            width = self._widths.setdefault(layer, value.shape[1])
            if value.shape[1] != width:
                raise InputError(
                    f"features of layer {layer!r}: width {value.shape[1]} differs from {width} in earlier updates"
                )
            # One host sync per update (not per sample): NaN/Inf would otherwise surface as a silently wrong score.
            if not bool(torch.isfinite(value).all()):
                raise InputError(
                    f"features of layer {layer!r}: contain NaN or Inf values; check the extractor's inputs "
                    "(images in [0, 1] or uint8) and the module's weights"
                )
            checked[layer] = value.detach().to(self.device)
        label_rows = self._label_rows(labels, real, next(iter(checked.values())).shape[0])
        self._accumulate(checked, real)
        if label_rows is not None:
            self._accumulate_labels(label_rows, real)
        self._warned = set()

    def _label_rows(self, labels: Any, real: bool, rows: int) -> Tensor | None:
        """Hook: a batch's validated class labels, ``None`` without any (per-class scorers override it)."""
        return None

    def _accumulate_labels(self, labels: Tensor, real: bool) -> None:
        """Hook: fold a batch's labels (from :meth:`_label_rows`) into the states."""

    # ----------------------------------------------------------------------------------------------------- compute
    def stored_features(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The accumulated ``(real, fake)`` features per layer (after DDP sync when called inside compute)."""
        real, fake = {}, {}
        for index, layer in enumerate(self.layers):
            real_parts, fake_parts = getattr(self, f"real_{index}"), getattr(self, f"fake_{index}")
            if (isinstance(real_parts, list) and not real_parts) or (isinstance(fake_parts, list) and not fake_parts):
                raise InputError(
                    f"{type(self).__name__}: needs both real and fake samples before compute(); call "
                    "update(x, real=True) and update(x, real=False)"
                )
            real[layer], fake[layer] = cat_rows(real_parts), cat_rows(fake_parts)
        return real, fake

    def _values(self, real: dict[str, Tensor], fake: dict[str, Tensor], group: Any = None) -> dict[str, Tensor]:
        """The ``compute()`` outputs on the given features (the functional twin); ``group`` shards k-NN work."""
        raise NotImplementedError

    def _current_values(self) -> dict[str, Tensor]:
        real, fake = self.stored_features()
        return self._values(real, fake, metric_process_group(self))

    def compute(self) -> MetricValue:
        """A scalar tensor for a one-output metric, else ``{key: 0-d tensor}`` keyed like the report and gates."""
        values = self._current_values()
        return next(iter(values.values())) if len(values) == 1 else values

    # ------------------------------------------------------------------------------------------------------ report
    def report(self, options: ReportOptions | None = None) -> dict[str, Estimate]:
        """Every declared output that this run computes, with its uncertainty (synced under DDP).

        The values equal :meth:`compute`'s; richer views add intervals, p-values and the per-class outputs; each
        output's standard error comes from its declared method (see :class:`~ganprobe.metrics.records.Output`).
        """
        options = options or ReportOptions()
        with self.synced(), self._sample_warnings_once():
            estimates = {key: Estimate(float(value)) for key, value in self._current_values().items()}
            self._add_details(estimates, options)
            self._add_noise(estimates, options)
        for output in self.declared_outputs():
            if output.spread_of and output.key in estimates and output.spread_of in estimates:
                estimates[output.spread_of].std = estimates[output.key].value
        return estimates

    def records(self, options: ReportOptions | None = None) -> list[MetricRecord]:
        """:meth:`report` labelled by the declarations, in declaration order: what reports and gates read."""
        estimates = self.report(options)
        return [
            self.output_record(output, estimates[output.key])
            for output in self.declared_outputs()
            if output.key in estimates
        ]

    def output_record(self, output: Output, estimate: Estimate) -> MetricRecord:
        """``estimate`` of ``output`` labelled as this metric's reports label it (feature space, comparability)."""
        return make_record(
            output,
            estimate,
            self.output_space(output),
            self.comparable_with_published,
            self.name,
            self.space_label(output),
        )

    def findings(self, records: Sequence[MetricRecord]) -> list[Finding]:
        """This metric's reading of its numbers (``records`` from :meth:`records`), one :class:`Finding` per question
        it speaks to; the evaluator reconciles every metric's findings into one verdict
        (:func:`ganprobe.report.verdict.reconcile`). Empty when the numbers speak for themselves."""
        return []

    def verdict(self, records: Sequence[MetricRecord]) -> list[str]:
        """Plain words about this metric's numbers alone: its findings' sentences as one line (empty without any)."""
        found = self.findings(records)
        return [" ".join(finding.sentence for finding in found)] if found else []

    def _add_details(self, estimates: dict[str, Estimate], options: ReportOptions) -> None:
        """Hook: add richer-view outputs (p-values, intervals) to ``estimates``; called while synced."""

    def _noise_rows(self) -> tuple[dict[str, Tensor], dict[str, Tensor]] | None:
        """The rows the half-sample noise is computed from (``None``: not kept, no half-sample noise)."""
        return self.stored_features()

    def _add_noise(self, estimates: dict[str, Estimate], options: ReportOptions) -> None:
        outputs = {output.key: output for output in self.declared_outputs()}
        counts = self._sample_counts()
        halves = [key for key in estimates if key in outputs and outputs[key].uncertainty == "half_sample"]
        spread = self._half_sample_spread(halves, options) if halves else {}
        for key, estimate in estimates.items():
            output = outputs.get(key)
            if output is None or output.uncertainty == "none":
                continue
            if output.uncertainty == "half_sample":
                estimate.stderr = spread.get(key)
            else:
                which = output.uncertainty.removeprefix("binomial_")
                count = counts[0] + counts[1] if which == "both" else counts[0 if which == "real" else 1]
                estimate.stderr = binomial_stderr(estimate.value, count)

    def half_sample_errors(self, keys: Sequence[str], options: ReportOptions) -> dict[str, float]:
        """The half-sample standard errors of ``keys`` (synced under DDP): what :meth:`report` fills in when
        ``options.noise_resamples >= 2``, computed on request (a regression gate needs them; a plain report does
        not pay for them)."""
        with self.synced():
            return self._half_sample_spread(keys, options)

    def _sample_counts(self) -> tuple[int, int]:
        rows = self._noise_rows()
        if rows is None:
            return 0, 0
        real, fake = rows
        return next(iter(real.values())).shape[0], next(iter(fake.values())).shape[0]

    def _half_sample_spread(self, keys: Sequence[str], options: ReportOptions) -> dict[str, float]:
        """Standard deviation of each output over ``noise_resamples`` random halves of both sets (drawn without
        replacement): a delete-d jackknife with d = N/2, which estimates the full-sample standard error directly."""
        rows = self._noise_rows() if options.noise_resamples >= 2 else None
        if rows is None:
            return {}
        real, fake = rows
        generator = torch.Generator().manual_seed(options.seed)
        samples: dict[str, list[float]] = {key: [] for key in keys}
        with warnings.catch_warnings():  # small halves warn (rank-deficient FID, shrunk KID subsets): expected here
            warnings.simplefilter("ignore")
            for _ in range(options.noise_resamples):
                picks = []
                for rows_of_class in (real, fake):
                    count = next(iter(rows_of_class.values())).shape[0]
                    picks.append(torch.randperm(count, generator=generator)[: max(count // 2, 1)])
                half_real = {layer: value[picks[0].to(value.device)] for layer, value in real.items()}
                half_fake = {layer: value[picks[1].to(value.device)] for layer, value in fake.items()}
                try:
                    values = self._values(half_real, half_fake, None)
                except GanprobeError:  # a half too small for the metric: no noise estimate
                    return {}
                for key in keys:
                    samples[key].append(float(values[key]))
        spread = {}
        for key, values in samples.items():
            finite = [value for value in values if math.isfinite(value)]
            if len(finite) >= 2:
                spread[key] = float(torch.tensor(finite, dtype=torch.float64).std(unbiased=True))
        return spread

    def reset(self) -> None:
        """Clear the stored features (and the remembered feature widths)."""
        super().reset()
        self._widths = {}
        self._warned = set()


class SingleLayerScorer(FeatureScorer):
    """A scorer over one layer's features (every score except layer separability).

    Args:
        extractor: a registry name, a :class:`FeatureExtractor`, or ``None`` for precomputed ``(N, D)`` features.
        layer: the extractor layer to use (default: the extractor's default layer, its pooled embedding).
        extractor_kwargs, kwargs: as in :class:`FeatureScorer`.
    """

    def __init__(
        self,
        extractor: str | FeatureExtractor | None = DEFAULT_EXTRACTOR,
        layer: str | None = None,
        extractor_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if layer is not None and not isinstance(layer, str):
            raise InputError(f"layer: expected one layer name, got {layer!r}")
        super().__init__(extractor, None if layer is None else [layer], extractor_kwargs, **kwargs)

    @property
    def layer(self) -> str:
        """The layer whose features are compared."""
        return self.layers[0]
