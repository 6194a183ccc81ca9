"""Feature extractors: backbones with named layer taps and their own preprocessing, plus a name registry."""

from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.module import ModuleExtractor
from ganprobe.extractors.preprocessing import Preprocessing, to_unit_float
from ganprobe.extractors.registry import (
    DEFAULT_EXTRACTOR,
    available_extractors,
    extractor_entry,
    get_extractor,
    register_extractor,
)

_LAZY = {
    "EfficientNetLiteExtractor": "ganprobe.extractors.efficientnet",
    "InceptionFIDExtractor": "ganprobe.extractors.inception",
    "LeNetMNISTExtractor": "ganprobe.extractors.lenet",
    "ResNetExtractor": "ganprobe.extractors.resnet",
}


def __getattr__(name: str) -> object:
    """Load backbone families on first use (torchvision is slow to import)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ganprobe.extractors' has no attribute {name!r}")


__all__ = [
    "LeNetMNISTExtractor",
    "DEFAULT_EXTRACTOR",
    "EfficientNetLiteExtractor",
    "FeatureExtractor",
    "InceptionFIDExtractor",
    "ModuleExtractor",
    "Preprocessing",
    "ResNetExtractor",
    "available_extractors",
    "extractor_entry",
    "get_extractor",
    "register_extractor",
    "to_unit_float",
]
