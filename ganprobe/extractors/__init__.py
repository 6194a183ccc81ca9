"""Feature extractors: backbones with named layer taps and their own preprocessing, plus a name registry.

Names are loaded lazily (PEP 562): the registry and the backbone declarations import no torch, so listing and
declaring extractors (``ganprobe extractors``, ``--help``) starts at once; building one imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganprobe.utils.lazy_exports import lazy_attributes

_EXPORTS = {
    "DEFAULT_EXTRACTOR": "ganprobe.defaults",
    "FeatureExtractor": "ganprobe.extractors.base",
    "ModuleExtractor": "ganprobe.extractors.module",
    "Preprocessing": "ganprobe.extractors.preprocessing",
    "available_extractors": "ganprobe.extractors.registry",
    "extractor_entry": "ganprobe.extractors.registry",
    "get_extractor": "ganprobe.extractors.registry",
    "register_extractor": "ganprobe.extractors.registry",
    "to_unit_float": "ganprobe.extractors.preprocessing",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ganprobe.defaults import DEFAULT_EXTRACTOR  # noqa: F401
    from ganprobe.extractors.base import FeatureExtractor  # noqa: F401
    from ganprobe.extractors.module import ModuleExtractor  # noqa: F401
    from ganprobe.extractors.preprocessing import Preprocessing, to_unit_float  # noqa: F401
    from ganprobe.extractors.registry import available_extractors, extractor_entry, get_extractor, register_extractor  # noqa: F401


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, globals(), __all__)
