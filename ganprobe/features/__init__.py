"""Features: one extractor pass over a source, per layer, with an on-disk cache."""

from ganprobe.features.cache import CACHE_FORMAT_VERSION, FeatureCache, cache_key, source_fingerprint
from ganprobe.features.extract import extract_features, iter_features

__all__ = [
    "CACHE_FORMAT_VERSION",
    "FeatureCache",
    "cache_key",
    "extract_features",
    "iter_features",
    "source_fingerprint",
]
