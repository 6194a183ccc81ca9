"""Name -> extractor registry. Built-in names are registered on import; users can add their own.

Built-in names, one per declaration in :mod:`ganprobe.extractors.builtin`: ``efficientnet-lite0`` (default,
offline), ``efficientnet-lite1``, ``efficientnet-lite2``, ``resnet18``, ``resnet34``, ``resnet50``,
``inception-fid``, ``lenet-mnist`` (bundled MNIST classifier), ``dinov2-vitl14`` and ``clip-vitl14-336`` (need
timm), and ``random-<any of these>`` (seeded random weights).

Registering and listing import no torch: a built-in entry names its declaration, which ``ganprobe extractors`` reads
without building the extractor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ganprobe.defaults import DEFAULT_EXTRACTOR  # noqa: F401 (defined with the other defaults; kept here)
from ganprobe.errors import UnknownExtractorError

if TYPE_CHECKING:
    from ganprobe.extractors.base import FeatureExtractor


@dataclass(frozen=True)
class ExtractorEntry:
    """A registered extractor: how to build it and a one-line description.

    Attributes:
        name: the registry name.
        factory: builds the extractor (keyword arguments of :func:`get_extractor` are passed to it).
        description: one line for ``ganprobe extractors``.
        backbone: for a built-in extractor, the name of its declaration in
            :data:`ganprobe.extractors.builtin.BACKBONES` (``None`` for extractors registered by users).
        pretrained: for a built-in extractor, whether it loads the published weights (``random-*``: ``False``).
    """

    name: str
    factory: Callable[..., FeatureExtractor]
    description: str
    backbone: str | None = None
    pretrained: bool = True


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
    from ganprobe.extractors.base import FeatureExtractor

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


def _from_declaration(name: str, **bound: Any) -> Callable[..., FeatureExtractor]:
    """A factory building the built-in backbone ``name`` (its modules are imported only when called)."""

    def factory(**kwargs: Any) -> FeatureExtractor:
        from ganprobe.extractors.backbone_extractor import BackboneExtractor
        from ganprobe.extractors.builtin import backbone

        return BackboneExtractor(backbone(name), **bound, **kwargs)

    return factory


def _register_builtins() -> None:
    from ganprobe.extractors.builtin import BACKBONES

    for name, declaration in BACKBONES.items():
        _REGISTRY[name] = ExtractorEntry(name, _from_declaration(name), declaration.description, name)
        random_name = f"random-{name}"
        random_description = f"{declaration.description.split(';')[0]}, with seeded random weights"
        factory = _from_declaration(name, pretrained=False)
        _REGISTRY[random_name] = ExtractorEntry(random_name, factory, random_description, name, pretrained=False)


_register_builtins()
