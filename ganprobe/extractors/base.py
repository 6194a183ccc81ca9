"""The extractor base class: a frozen backbone, its preprocessing, and named layer taps read by forward hooks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from ganprobe.errors import InputError
from ganprobe.extractors.onnx_backend import OnnxRuntimeRunner, check_backend, unusable_reason
from ganprobe.extractors.preprocessing import ImageBatch, Preprocessing
from ganprobe.extractors.speed import autocast_context, check_autocast, compile_outside_taps, describe_execution
from ganprobe.front_end_names import Template
from ganprobe.functional.pixel_copies import copy_thumbnails

# A layer every extractor offers besides its taps: small grey thumbnails of its preprocessed input, for the pixel copy
# check of memorisation (:func:`ganprobe.functional.pixel_copies.copy_thumbnails`); never part of :attr:`layers`.
THUMBNAIL_LAYER = "thumbnail"


class _TapsComplete(Exception):
    """Raised inside a hook once every requested tap is captured, so later layers are not computed."""


class FeatureExtractor(nn.Module):
    """A backbone with named layer taps that turns images into per-layer features.

    One forward pass returns ``{layer: features}`` for every requested layer. Feature maps are averaged over their
    spatial positions to ``(N, C)`` by default (``pool=False`` keeps the raw maps). The extractor owns its
    preprocessing (:class:`~ganprobe.extractors.preprocessing.Preprocessing`): it accepts ``uint8`` images in
    ``[0, 255]`` or float images in ``[0, 1]``, NCHW, 1 or 3 channels, any size.

    Args:
        name: registry name (e.g. ``"resnet18"``), used in reports and cache keys.
        model: the backbone; it is put in eval mode and its parameters frozen.
        taps: layer name -> dotted path of the submodule whose output is that layer (e.g. ``{"layer1": "layer1"}``).
        preprocessing: the input contract of the weights.
        default_layer: the layer used when a metric asks for "the" embedding (pooled features).
        block_layers: the layers a per-block analysis walks through, in network order.
        logits_layer: the layer holding class logits, if any (Inception Score needs it).
        weights_sha256: SHA-256 of the loaded weights file (or a description of random weights), for cache keys.
        channels_last: run the backbone in the channels-last memory layout (NHWC strides). Convolutions run
            faster on CPU (``benchmarks/README.md``, "Speed options", measures it per backbone) and the features
            change only at float32 round-off (about 1e-7 relative); results stay
            independent of the batch size. The built-in extractors turn it on; the base class and
            :class:`~ganprobe.extractors.module.ModuleExtractor` leave it off (a user's module is not converted).
        autocast: ``None`` (float32, the default) or ``"bfloat16"`` / ``"float16"``: run the backbone under
            ``torch.autocast`` (features are returned as float32). bf16 is faster on CPU but moves FID beyond the
            1e-3 relative tolerance the default keeps (``benchmarks/README.md``): opt-in only; feature-cache
            entries and stats files record it.
        compile: compile the backbone piecewise with ``torch.compile`` (see
            :func:`~ganprobe.extractors.speed.compile_outside_taps`): faster than eager on CPU once compiled,
            features equal to about 1e-6, but the first batch of each input shape compiles, which costs more than
            it saves on small sets (``benchmarks/README.md``, "Speed options"). Opt-in. Compiled kernels may
            differ from eager ones at round-off between batch sizes.
        backend: ``"torch"`` (eager PyTorch, the base class's default), ``"onnxruntime"`` (the backbone runs in ONNX
            Runtime on the CPU: faster than eager, most for EfficientNet-Lite0 (``benchmarks/README.md``,
            "Execution backends"), features equal to float32 round-off; see
            :mod:`ganprobe.extractors.onnx_backend`) or ``"auto"`` (ONNX Runtime where it is installed and usable:
            CPU, float32, not compiled; the built-in extractors' default). Preprocessing is ganprobe's either way.

    Attributes:
        layers: every layer name this extractor can tap, in network order.
    """

    # Class-level defaults, for subclasses that set up the instance themselves (as ModuleExtractor does).
    channels_last: bool = False
    autocast: str | None = None
    compiled: bool = False
    backend: str = "torch"
    _onnx: OnnxRuntimeRunner | None = None

    def __init__(
        self,
        name: str,
        model: nn.Module,
        taps: Mapping[str, str],
        preprocessing: Preprocessing,
        default_layer: str,
        block_layers: Sequence[str],
        logits_layer: str | None = None,
        weights_sha256: str | None = None,
        channels_last: bool = False,
        autocast: str | None = None,
        compile: bool = False,
        backend: str = "torch",
    ) -> None:
        super().__init__()
        modules = dict(model.named_modules())
        for layer, path in taps.items():
            if path not in modules:
                raise InputError(f"layer {layer!r}: the model has no submodule named {path!r}")
        for layer in (default_layer, *block_layers, *([logits_layer] if logits_layer else [])):
            if layer not in taps:
                raise InputError(f"layer {layer!r} is not one of the taps {list(taps)}")
        self.name = name
        self.model = model
        self.taps = dict(taps)
        self.preprocessing = preprocessing
        self.default_layer = default_layer
        self.block_layers = tuple(block_layers)
        self.logits_layer = logits_layer
        self.weights_sha256 = weights_sha256
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.autocast = check_autocast(autocast)
        self.compiled = bool(compile)
        if self.compiled:
            compile_outside_taps(self.model, self.taps.values())
        self.backend = check_backend(backend)
        if self.backend == "onnxruntime":
            reason = unusable_reason(torch.device("cpu"), self.autocast, self.compiled)
            if reason is not None:
                cannot = "{backend}: onnxruntime cannot run extractor {name!r}: {reason}"
                raise InputError(Template(cannot, name=name, reason=reason))
        self._freeze()

    def _freeze(self) -> None:
        self.model.eval()
        self.model.requires_grad_(False)

    @property
    def layers(self) -> tuple[str, ...]:
        """Every tappable layer name, in network order."""
        return tuple(self.taps)

    @property
    def memory_layout(self) -> str:
        """``"channels_last"`` or ``"contiguous"``: the layout the backbone runs in (part of feature-cache keys)."""
        return "channels_last" if self.channels_last else "contiguous"

    @property
    def active_backend(self) -> str:
        """The backend that runs the backbone now: ``"torch"`` or ``"onnxruntime"`` (``"auto"`` resolved for the
        extractor's current device and options).

        Raises:
            InputError: ``backend="onnxruntime"`` where it cannot run (not installed, not on the CPU).
        """
        if self.backend == "torch":
            return "torch"
        reason = unusable_reason(self.device, self.autocast, self.compiled)
        if reason is None:
            return "onnxruntime"
        if self.backend == "onnxruntime":
            cannot = "{backend}: onnxruntime cannot run extractor {name!r}: {reason}"
            raise InputError(Template(cannot, name=self.name, reason=reason))
        return "torch"

    @property
    def execution(self) -> str:
        """How the backbone runs: backend, layout, precision, compiled or not (see ``describe_execution``; in cache
        keys, stats files and reports), e.g. ``"channels_last float32"`` or ``"onnxruntime float32"``."""
        if self.active_backend == "onnxruntime":
            return "onnxruntime float32"
        return describe_execution(self.channels_last, self.autocast, self.compiled)

    @property
    def precision(self) -> str:
        """``"float32"`` or ``"<dtype>-autocast"``: the arithmetic the features were computed in."""
        return f"{self.autocast}-autocast" if self.autocast else "float32"

    @property
    def device(self) -> torch.device:
        """The device the backbone's parameters (or buffers) live on."""
        for tensor in (*self.model.parameters(), *self.model.buffers()):
            return tensor.device
        return torch.device("cpu")

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Keep the backbone in eval mode whatever the enclosing module does (BatchNorm must not adapt)."""
        super().train(False)
        return self

    def resolve_layers(self, layers: str | Sequence[str] | None) -> tuple[str, ...]:
        """Normalise a layer request to a tuple of known names (``None`` means the default layer)."""
        if layers is None:
            return (self.default_layer,)
        requested = (layers,) if isinstance(layers, str) else tuple(layers)
        if not requested:
            raise InputError("layers: at least one layer is needed")
        unknown = [layer for layer in requested if layer not in self.taps and layer != THUMBNAIL_LAYER]
        if unknown:
            raise InputError(
                f"layers: {unknown} not available in extractor {self.name!r}; choose from {list(self.taps)}"
            )
        return tuple(dict.fromkeys(requested))

    def preprocess(self, images: ImageBatch) -> Tensor:
        """Move images to the backbone's device and apply the weights' preprocessing (see ``Preprocessing``)."""
        device = self.device
        if isinstance(images, Tensor):
            images = images.to(device, non_blocking=True)
        else:
            images = [image.to(device, non_blocking=True) for image in images]
        return self.preprocessing(images)

    def forward(
        self, images: ImageBatch, layers: str | Sequence[str] | None = None, pool: bool = True
    ) -> dict[str, Tensor]:
        """Extract features of ``images`` at ``layers``.

        Args:
            images: NCHW ``uint8`` ``[0, 255]`` or float ``[0, 1]``, or a list of CHW images of any sizes.
            layers: a layer name or names from :attr:`layers`; ``None`` means :attr:`default_layer`.
            pool: average feature maps over their spatial positions to ``(N, C)``.

        Returns:
            ``{layer: tensor}``, float32, on the extractor's device: ``(N, C)`` pooled or ``(N, C, H, W)`` raw.
        """
        return self.forward_preprocessed(self.preprocess(images), layers, pool)

    def forward_preprocessed(
        self, batch: Tensor, layers: str | Sequence[str] | None = None, pool: bool = True
    ) -> dict[str, Tensor]:
        """Like :meth:`forward` for a batch that already went through :meth:`preprocess`."""
        wanted = self.resolve_layers(layers)
        if THUMBNAIL_LAYER not in wanted:
            return self._forward_taps(batch, wanted, pool)
        # from the input itself; the network runs only for the other layers
        others = tuple(layer for layer in wanted if layer != THUMBNAIL_LAYER)
        found = self._forward_taps(batch, others, pool) if others else {}
        found[THUMBNAIL_LAYER] = copy_thumbnails(batch)
        return {layer: found[layer] for layer in wanted}

    def _forward_taps(self, batch: Tensor, wanted: tuple[str, ...], pool: bool) -> dict[str, Tensor]:
        """The tapped layers ``wanted`` (known names) of a preprocessed batch, from one forward pass."""
        if self.active_backend == "onnxruntime":
            if self._onnx is None:
                self._onnx = OnnxRuntimeRunner(self.name, self.weights_sha256)
            return self._onnx.run(self.model, {layer: self.taps[layer] for layer in wanted}, batch, pool)
        captured: dict[str, Tensor] = {}
        modules = dict(self.model.named_modules())
        handles = []
        if self.channels_last and batch.ndim == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)

        def make_hook(layer: str):  # noqa: ANN202 - a forward-hook closure
            def hook(_module: nn.Module, _inputs: object, output: object) -> None:
                captured[layer] = output[0] if isinstance(output, (tuple, list)) else output  # type: ignore[assignment]
                if len(captured) == len(wanted):
                    raise _TapsComplete

            return hook

        for layer in wanted:
            handles.append(modules[self.taps[layer]].register_forward_hook(make_hook(layer)))
        try:
            with torch.no_grad(), autocast_context(self.autocast, batch.device):
                self._run_model(batch)
        except _TapsComplete:
            pass
        finally:
            for handle in handles:
                handle.remove()
        missing = [layer for layer in wanted if layer not in captured]
        if missing:
            raise InputError(f"layers {missing} of extractor {self.name!r} were never reached in the forward pass")
        return {layer: _finish(captured[layer], pool) for layer in wanted}

    def _run_model(self, batch: Tensor) -> None:
        self.model(batch)

    def describe(self) -> str:
        """One line naming the extractor, its weights and its preprocessing (for reports and cache keys)."""
        return f"{self.name} weights={self.weights_sha256} execution={self.execution!r} {self.preprocessing.describe()}"


def _finish(output: Tensor, pool: bool) -> Tensor:
    if not isinstance(output, Tensor):
        raise InputError(f"a tapped layer returned {type(output).__name__}, not a tensor")
    output = output.float()  # pool in float32 even when the backbone ran under autocast
    if pool and output.ndim > 2:
        output = output.flatten(2).mean(dim=2)
    # Raw maps come back in the standard layout whatever layout the backbone ran in.
    return output.contiguous()
