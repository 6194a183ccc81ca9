"""One pass of an extractor over an image source: every requested layer's features from a single forward pass."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import nullcontext

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor

from ganprobe.data.sources import ImageSource, iter_batches, source_length
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.features.cache import FeatureCache, cache_key, source_fingerprint


def _progress(enabled: bool) -> Progress | nullcontext:
    if not enabled:
        return nullcontext()
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    )


def iter_features(
    extractor: FeatureExtractor,
    source: ImageSource,
    layers: str | Sequence[str] | None = None,
    batch_size: int = 64,
    num_samples: int | None = None,
    seed: int = 0,
    num_workers: int | None = None,
    pool: bool = True,
    progress: bool = False,
    description: str = "extracting",
) -> Iterator[dict[str, Tensor]]:
    """Yield ``{layer: features}`` per batch of ``source``; the extractor runs once per batch for all layers.

    Args:
        extractor: the backbone with its taps and preprocessing.
        source: a folder, tensor, DataLoader/iterable or generator callable (see :mod:`ganprobe.data.sources`).
        layers: layer names (default: the extractor's default layer).
        batch_size: images per forward pass.
        num_samples: at most this many images (required for generator callables).
        seed: seed of a generator callable.
        num_workers: decoding processes for folders.
        pool: average maps over space to ``(N, C)``.
        progress: show a rich progress bar.
        description: the progress bar's label.
    """
    wanted = extractor.resolve_layers(layers)
    total = source_length(source, num_samples)
    preprocess = extractor.preprocessing
    with _progress(progress) as bar:
        task = bar.add_task(description, total=total) if bar is not None else None
        for batch in iter_batches(source, batch_size, num_samples, seed, preprocess, num_workers):
            features = extractor.forward_preprocessed(batch.to(extractor.device, non_blocking=True), wanted, pool)
            if bar is not None:
                bar.update(task, advance=batch.shape[0])
            yield features


def extract_features(
    extractor: FeatureExtractor,
    source: ImageSource,
    layers: str | Sequence[str] | None = None,
    batch_size: int = 64,
    num_samples: int | None = None,
    seed: int = 0,
    num_workers: int | None = None,
    progress: bool = False,
    description: str = "extracting",
    cache: FeatureCache | None = None,
) -> dict[str, Tensor]:
    """Run :func:`iter_features` to the end and concatenate: ``{layer: (N, C)}`` on the extractor's device.

    With a ``cache``, folder and tensor sources are looked up first (see :mod:`ganprobe.features.cache`) and
    stored after extraction; the result is identical either way.

    Example:
        >>> import torch
        >>> from ganprobe.extractors import get_extractor
        >>> extractor = get_extractor("random-resnet18")
        >>> feats = extract_features(extractor, torch.rand(6, 3, 32, 32), layers=["layer1", "pool"], batch_size=4)
        >>> {k: tuple(v.shape) for k, v in feats.items()}
        {'layer1': (6, 64), 'pool': (6, 512)}
    """
    wanted = extractor.resolve_layers(layers)
    key = None
    # An extractor without a weights digest (a user's module, whose weights change as it trains) is never cached.
    if cache is not None and cache.enabled and extractor.weights_sha256 is not None:
        fingerprint = source_fingerprint(source, cache.content_hash)
        if fingerprint is not None:
            key = cache_key(fingerprint, extractor, wanted, num_samples)
            cached = cache.load(key)
            if cached is not None:
                return {layer: cached[layer].to(extractor.device) for layer in wanted}
    parts: dict[str, list[Tensor]] = {}
    for features in iter_features(
        extractor, source, wanted, batch_size, num_samples, seed, num_workers, True, progress, description
    ):
        for layer, value in features.items():
            parts.setdefault(layer, []).append(value)
    result = {layer: torch.cat(values) for layer, values in parts.items()}
    if key is not None and cache is not None:
        cache.store(key, result)
    return result
