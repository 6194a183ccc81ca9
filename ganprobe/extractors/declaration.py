"""One way to declare a backbone, as plain data that imports no torch.

A :class:`Backbone` is the registry name, how to build the network (random init), where its named layer taps sit,
which layers a metric uses, its input pipelines (:class:`~ganprobe.extractors.preprocessing.Preprocessing`, whose
tensor work imports torch only when it runs) and how its published weights are found and loaded. Builders, weights
finders and loaders are named by dotted path (:class:`Lazy`), so declaring every built-in backbone costs no import of
torch, torchvision or timm: ``ganprobe extractors`` lists every layer and checks every weights file from the
declarations alone. :class:`~ganprobe.extractors.backbone_extractor.BackboneExtractor` builds an extractor from one.

The built-in declarations live in :mod:`ganprobe.extractors.builtin`; a new backbone is one more entry there.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganprobe.errors import InputError
from ganprobe.extractors.preprocessing import Preprocessing
from ganprobe.front_end_names import Template

if TYPE_CHECKING:
    from torch import nn

# Loads the published weights into a freshly built model and returns the file's full SHA-256 (or another stable
# identity of the weights); arguments: (model, weights_path or None, verify_checksum).
WeightsLoader = Callable[["nn.Module", "str | os.PathLike[str] | None", bool], str]
# Finds (never downloads, inside ``weights.look_only()``) and checks the published weights file without loading it,
# importing no torch; arguments: (weights_path or None, verify_checksum); returns (path, full SHA-256).
WeightsFinder = Callable[["str | os.PathLike[str] | None", bool], "tuple[Path, str]"]


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
        find_weights: finds and checks the published weights file without loading it or importing torch (see
            :data:`WeightsFinder`); ``ganprobe extractors`` reports with it whether the weights are here.
        unavailable: says, without importing torch, why the network cannot be built on this machine (an optional
            package missing), or returns ``""``; ``None``: always buildable.
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
    find_weights: WeightsFinder | None = None
    unavailable: Callable[[], str] | None = None

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
            raise InputError(
                Template(
                    "{pipeline}: {backbone!r} has pipelines {pipelines}, got {name!r}",
                    backbone=self.name,
                    pipelines=list(self.pipelines),
                    name=name,
                )
            )
        return chosen, self.pipelines[chosen]
