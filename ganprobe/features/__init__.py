"""Features: one extractor pass over a source, per layer."""

from ganprobe.features.extract import extract_features, iter_features

__all__ = ["extract_features", "iter_features"]
