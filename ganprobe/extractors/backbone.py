"""One way to declare a backbone, and the one extractor class every declaration builds.

A :class:`Backbone` is plain data: the registry name, how to build the network (random init), where its named layer
taps sit, which layers a metric uses, its input pipelines (:class:`~ganprobe.extractors.preprocessing.Preprocessing`)
and how its published weights are found and loaded. Builders and weight loaders are named by dotted path
(:class:`Lazy`), so declaring every built-in backbone costs no import of torchvision or timm; they are imported
when an extractor is built. :class:`BackboneExtractor` turns a declaration plus the run options (weights file,
seed, pipeline, layout, precision, compilation) into a :class:`~ganprobe.extractors.base.FeatureExtractor`.

The built-in declarations live in :mod:`ganprobe.extractors.backbones`; a new backbone is one more entry there.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.preprocessing import Preprocessing

# Loads the published weights into a freshly built model and returns the file's full SHA-256 (or another stable
# identity of the weights); arguments: (model, weights_path or None, verify_checksum).
WeightsLoader = Callable[[nn.Module, "str | os.PathLike[str] | None", bool], str]


@dataclass(frozen=True)
class Lazy:
    """A callable named by ``"package.module:attribute"`` and bound keyword arguments, imported on first call."""

    target: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self) -> Callable[..., Any]:
        """Import and return the named callable (without calling it)."""
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the named callable with the bound keyword arguments plus ``args``/``kwargs``."""
        return self.resolve()(*args, **self.kwargs, **kwargs)


@dataclass(frozen=True)
class Backbone:
    """The declaration of one backbone (see the module docstring).

    Attributes:
        name: the registry name of the pretrained extractor (``random-<name>`` is registered alongside).
        description: one line for ``ganprobe extractors``.
        build: returns the network with its (random) initialisation; called under a fixed seed.
        taps: layer name -> dotted path of the submodule whose output is that layer, in network order.
        default_layer: the embedding a metric uses by default.
        block_layers: the layers a per-block analysis (LayerSeparability) walks through.
        pipelines: input pipelines by name; the first is the default (most backbones have one).
        weights: loads the published weights (see :data:`WeightsLoader`); ``None``: random weights only.
        logits_layer: the class-logits layer, if any (Inception Score).
        published_reference: which implementation's numbers the pretrained features reproduce, per pipeline name
            (e.g. ``{"tf": "TensorFlow FID (TTUR) / torch-fidelity"}``).
        weights_pinned: whether the published weights file is pinned by a checksum (``None``: always; a callable
            is asked when an extractor is built). Unpinned weights are never labelled comparable with published.
    """

    name: str
    description: str
    build: Callable[[], nn.Module]
    taps: Mapping[str, str]
    default_layer: str
    block_layers: tuple[str, ...]
    pipelines: Mapping[str, Preprocessing]
    weights: WeightsLoader | None = None
    logits_layer: str | None = None
    published_reference: Mapping[str, str] = field(default_factory=dict)
    weights_pinned: Callable[[], bool] | None = None

    @property
    def default_pipeline(self) -> str:
        """The name of the pipeline used when none is asked for."""
        return next(iter(self.pipelines))

    def pipeline(self, name: str | None) -> tuple[str, Preprocessing]:
        """``(name, preprocessing)`` of the pipeline ``name`` (``None``: the default).

        Raises:
            InputError: unknown pipeline; the message lists this backbone's pipelines.
        """
        chosen = self.default_pipeline if name is None else name
        if chosen not in self.pipelines:
            raise InputError(f"pipeline: {self.name!r} has pipelines {list(self.pipelines)}, got {name!r}")
        return chosen, self.pipelines[chosen]


class BackboneExtractor(FeatureExtractor):
    """A :class:`FeatureExtractor` built from a :class:`Backbone` declaration.

    Args:
        backbone: the declaration.
        weights_path: an explicit weights file; otherwise :mod:`ganprobe.extractors.weights` searches for it.
        verify_checksum: check the file's SHA-256 against the pinned digest.
        pretrained: ``False`` gives seeded random weights (the ``random-<name>`` extractors; nothing is loaded).
        seed: the seed of the random initialisation (the caller's RNG state is left untouched).
        pipeline: the input pipeline by name (``None``: the backbone's default); see ``Backbone.pipelines``.
        channels_last: run in the channels-last memory layout (on by default; features equal to round-off).
        autocast: ``None`` (float32) or ``"bfloat16"`` / ``"float16"``; see the base class.
        compile: compile the backbone piecewise; see the base class.
        backend: ``"auto"`` (default: ONNX Runtime on the CPU where ``ganprobe[onnxruntime]`` is installed, else
            eager PyTorch), ``"torch"`` or ``"onnxruntime"``; see the base class.

    Attributes:
        backbone: the declaration it was built from.
        pipeline: the name of the input pipeline in use (also in ``preprocessing.describe()``).
        pretrained: whether the published weights were loaded.
        weights_verified: pretrained, checked, and the declaration pins the file's checksum.
    """

    def __init__(
        self,
        backbone: Backbone,
        weights_path: str | os.PathLike[str] | None = None,
        verify_checksum: bool = True,
        pretrained: bool = True,
        seed: int = 0,
        pipeline: str | None = None,
        channels_last: bool = True,
        autocast: str | None = None,
        compile: bool = False,
        backend: str = "auto",
    ) -> None:
        pipeline_name, preprocessing = backbone.pipeline(pipeline)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = backbone.build()
        if pretrained:
            if backbone.weights is None:
                raise InputError(f"{backbone.name}: no published weights are declared; use random-{backbone.name}")
            weights = backbone.weights(model, weights_path, verify_checksum)
            name = backbone.name
        else:
            name, weights = f"random-{backbone.name}", f"random-init-seed-{seed}"
        super().__init__(
            name=name,
            model=model,
            taps=backbone.taps,
            preprocessing=preprocessing,
            default_layer=backbone.default_layer,
            block_layers=backbone.block_layers,
            logits_layer=backbone.logits_layer,
            weights_sha256=weights,
            channels_last=channels_last,
            autocast=autocast,
            compile=compile,
            backend=backend,
        )
        self.backbone = backbone
        self.pipeline = pipeline_name
        self.pretrained = bool(pretrained)
        pinned = backbone.weights_pinned is None or bool(backbone.weights_pinned())
        self.weights_verified = self.pretrained and bool(verify_checksum) and pinned

    @property
    def published_reference(self) -> str | None:
        """Which implementation's numbers this extractor's features reproduce, or ``None``.

        Set only for pretrained weights whose file was checked against its pinned checksum (``weights_verified``)
        and a pipeline the declaration names as a reference (e.g. ``"TensorFlow FID (TTUR) / torch-fidelity"``
        for ``inception-fid`` with ``pipeline="tf"``, ``"clean-fid mode='clean'"`` with ``pipeline="clean"``).
        """
        if not self.weights_verified:
            return None
        return self.backbone.published_reference.get(self.pipeline)
