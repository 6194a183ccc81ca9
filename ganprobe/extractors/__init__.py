"""Feature extractors: backbones with named layer taps and their own preprocessing, plus a name registry.

Names are loaded lazily (PEP 562): the registry and the backbone declarations import no torch, so listing and
declaring extractors (``ganprobe extractors``, ``--help``) starts at once; building one imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganprobe.lazy import lazy_attributes

_EXPORTS = {
    "DEFAULT_EXTRACTOR": "ganprobe.extractors.registry",
    "EfficientNetLiteExtractor": "ganprobe.extractors.efficientnet",
    "FeatureExtractor": "ganprobe.extractors.base",
    "InceptionFIDExtractor": "ganprobe.extractors.inception",
    "LeNetMNISTExtractor": "ganprobe.extractors.lenet",
    "ModuleExtractor": "ganprobe.extractors.module",
    "Preprocessing": "ganprobe.extractors.preprocessing",
    "ResNetExtractor": "ganprobe.extractors.resnet",
    "available_extractors": "ganprobe.extractors.registry",
    "extractor_entry": "ganprobe.extractors.registry",
    "get_extractor": "ganprobe.extractors.registry",
    "register_extractor": "ganprobe.extractors.registry",
    "to_unit_float": "ganprobe.extractors.preprocessing",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ganprobe.extractors.base import FeatureExtractor  # noqa: F401
    from ganprobe.extractors.efficientnet import EfficientNetLiteExtractor  # noqa: F401
    from ganprobe.extractors.inception import InceptionFIDExtractor  # noqa: F401
    from ganprobe.extractors.lenet import LeNetMNISTExtractor  # noqa: F401
    from ganprobe.extractors.module import ModuleExtractor  # noqa: F401
    from ganprobe.extractors.preprocessing import Preprocessing, to_unit_float  # noqa: F401
    from ganprobe.extractors.registry import (  # noqa: F401
        DEFAULT_EXTRACTOR,
        available_extractors,
        extractor_entry,
        get_extractor,
        register_extractor,
    )
    from ganprobe.extractors.resnet import ResNetExtractor  # noqa: F401


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS, globals(), __all__)
