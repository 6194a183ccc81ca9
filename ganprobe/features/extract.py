"""One pass of an extractor over an image source: every requested layer's features from a single forward pass."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor

from ganprobe.data.listing import FolderListing, as_listed
from ganprobe.data.sources import (
    SKIP_UNREADABLE,
    ImageSource,
    iter_batches,
    iter_folder_batches,
    report_skipped,
    source_length,
)
from ganprobe.errors import ImageFolderError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.features.cache import FeatureCache, cache_key, source_fingerprint
from ganprobe.front_end_names import Template


def _progress(enabled: bool) -> Progress | nullcontext:
    """Progress bars on standard error, and only on a terminal: redirected output and CI logs get no blank lines."""
    if not enabled:
        return nullcontext()
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
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
    strict: bool = True,
    skipped: list[str] | None = None,
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
        strict, skipped: for folders, fail on an undecodable file / collect skipped files (see
            :func:`ganprobe.data.iter_batches`).
    """
    wanted = extractor.resolve_layers(layers)
    source = as_listed(source)  # a folder is listed once, for its count and its batches
    total = source_length(source, num_samples)
    preprocess = extractor.preprocessing
    with _progress(progress) as bar:
        task = bar.add_task(description, total=total) if bar is not None else None
        for batch in iter_batches(source, batch_size, num_samples, seed, preprocess, num_workers, strict, skipped):
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
    strict: bool = True,
    skipped: list[str] | None = None,
) -> dict[str, Tensor]:
    """Run :func:`iter_features` to the end and concatenate: ``{layer: (N, C)}`` on the extractor's device.

    With a ``cache``, folder and tensor sources are looked up first (see :mod:`ganprobe.features.cache`) and
    stored after extraction; the result is identical either way. A folder's finished batches are also stored as
    they complete, so a run interrupted (Ctrl-C) and started again computes only the batches that were missing.
    A folder path is listed once here; pass a :class:`~ganprobe.data.listing.FolderListing` to reuse a listing
    (and its cache fingerprint) made earlier in the run.

    Args:
        strict: for folders, raise :class:`~ganprobe.errors.ImageFolderError` on the first unreadable or
            undecodable file (default); ``False`` skips such files with one
            :class:`~ganprobe.errors.SkippedImagesWarning` (also when the result comes from the cache).
        skipped: a list that receives the path of every skipped file (from the cache too); the rows are the
            folder's readable files in order: ``[p for p in list_images(folder) if str(p) not in skipped]``,
            the first ``num_samples`` of them.
        (the other arguments: as in :func:`iter_features`)

    Raises:
        ImageFolderError: a folder problem, no decodable file, or (``strict``) a skipped file, named.

    Example:
        >>> import torch
        >>> from ganprobe.extractors import get_extractor
        >>> extractor = get_extractor("random-resnet18")
        >>> feats = extract_features(extractor, torch.rand(6, 3, 32, 32), layers=["layer1", "pool"], batch_size=4)
        >>> {k: tuple(v.shape) for k, v in feats.items()}
        {'layer1': (6, 64), 'pool': (6, 512)}
    """
    wanted = extractor.resolve_layers(layers)
    source = as_listed(source)
    key = cache_entry_key(extractor, source, wanted, num_samples, cache)
    entry = cache.load_entry(key) if key is not None and cache is not None else None
    if entry is not None:
        return served_from_cache(entry, extractor, source, wanted, strict, skipped)
    if isinstance(source, FolderListing):
        result, bad = _extract_folder(
            extractor, source, wanted, batch_size, num_samples, num_workers, progress, description, strict,
            cache if key is not None else None, key,
        )  # fmt: skip
        if key is not None and cache is not None:
            if cache.store(key, result, bad) is not None:
                cache.remove_parts(key)
        report_skipped(Path(source), bad, skipped)
        return result
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


def cache_entry_key(
    extractor: FeatureExtractor,
    source: ImageSource,
    layers: Sequence[str],
    num_samples: int | None,
    cache: FeatureCache | None,
) -> dict[str, Any] | None:
    """The feature-cache key of ``source``'s ``layers``, or ``None`` when it is not cached: no (enabled) cache, a
    source that cannot be fingerprinted (generators, loaders), or an extractor without a weights digest (a user's
    module, whose weights change as it trains)."""
    if cache is None or not cache.enabled or extractor.weights_sha256 is None:
        return None
    fingerprint = source_fingerprint(source, cache.content_hash)
    return None if fingerprint is None else cache_key(fingerprint, extractor, layers, num_samples)


def served_from_cache(
    entry: tuple[Mapping[str, Tensor], Sequence[tuple[str, str]]],
    extractor: FeatureExtractor,
    source: ImageSource,
    layers: Sequence[str],
    strict: bool,
    skipped: list[str] | None,
) -> dict[str, Tensor]:
    """A cache entry's ``layers`` on the extractor's device, its skipped files reported as an extraction would
    (``strict``: the first one raises :class:`~ganprobe.errors.ImageFolderError`)."""
    features, bad = entry
    _check_skipped(bad, strict)
    if bad:  # only folders skip files
        report_skipped(Path(source), bad, skipped)  # type: ignore[arg-type]
    return {layer: features[layer].to(extractor.device) for layer in layers}


def _check_skipped(bad: Sequence[tuple[str, str]], strict: bool) -> None:
    if strict and bad:
        raise ImageFolderError(
            Template(
                "{file}: {reason} (the cached features of this folder skipped it); {skip}",
                file=bad[0][0],
                reason=bad[0][1],
                skip=SKIP_UNREADABLE,
            )
        )


def _extract_folder(
    extractor: FeatureExtractor,
    folder: FolderListing,
    wanted: Sequence[str],
    batch_size: int,
    num_samples: int | None,
    num_workers: int | None,
    progress: bool,
    description: str,
    strict: bool,
    cache: FeatureCache | None,
    key: Mapping[str, Any] | None,
) -> tuple[dict[str, Tensor], list[tuple[str, str]]]:
    """Extract a folder batch by batch, resuming from (and storing) the cache's parts when ``cache`` is given."""
    parts: dict[str, list[Tensor]] = {}
    bad: list[tuple[str, str]] = []
    start, rows, index = 0, 0, 0
    while cache is not None and key is not None:  # resume: reuse the finished batches of an interrupted run
        part = cache.load_part(key, batch_size, index)
        if part is None:
            break
        _check_skipped(part["skipped"], strict)
        for layer in wanted:
            parts.setdefault(layer, []).append(part["features"][layer].to(extractor.device))
        bad += part["skipped"]
        rows += next(iter(part["features"].values())).shape[0]
        start, index = part["next_index"], index + 1
    remaining = None if num_samples is None else num_samples - rows
    with _progress(progress) as bar:
        total = source_length(folder, num_samples)
        task = bar.add_task(description, total=total, completed=rows) if bar is not None else None
        batches = iter_folder_batches(
            folder, batch_size, remaining, extractor.preprocessing, num_workers, strict, start
        ) if remaining is None or remaining > 0 else iter(())  # fmt: skip
        for batch in batches:
            features: dict[str, Tensor] = {}
            if batch.images is not None:
                images = batch.images.to(extractor.device, non_blocking=True)  # type: ignore[union-attr]
                features = extractor.forward_preprocessed(images, wanted, True)
                for layer, value in features.items():
                    parts.setdefault(layer, []).append(value)
                rows += images.shape[0]
            bad += batch.skipped
            if cache is not None and key is not None and features:
                cache.store_part(key, batch_size, index, features, batch.skipped, batch.next_index)
                index += 1
            if bar is not None:
                bar.update(task, completed=rows)
    if rows == 0:
        raise ImageFolderError(f"{folder}: no image could be decoded")
    return {layer: torch.cat(values) for layer, values in parts.items()}, bad
