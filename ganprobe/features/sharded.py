"""Extraction shared by the processes of a ``torch.distributed`` group: each rank extracts its shard, all get all.

Under an initialised process group of ``W`` ranks, :func:`extract_sharded` splits one image source so that each
rank decodes and extracts about ``1/W`` of it, then all-gathers the features so that every rank holds every row,
in the order one process would have produced them. The evaluation then proceeds identically on every rank (the
k-NN metrics split their neighbour searches over the ranks: see :mod:`ganprobe.utils.distributed`).

How each kind of source is split:

* **folders and tensors**: the rows are cut into the batches one process would run (``batch_size`` each, from the
  first row), and rank ``r`` takes a contiguous run of whole batches (:func:`~ganprobe.utils.distributed.shard_range`
  over the batches). Each batch is the same batch as in one process, so its features are bit for bit the same.
* **generator callables**: the same batch runs, each rank drawing only the chunks that cover its rows (every chunk
  has its own seed: :func:`~ganprobe.data.sources.chunk_seed`), so no rank draws the whole stream.
* **DataLoaders and other iterables**: their length is unknown in advance, so every rank iterates all of them
  (their own decoding is not split) and extracts the batches whose index is ``r`` modulo ``W``; the features
  are put back in batch order after the gather.

Before any extraction the ranks check that they agree (or all raise the same error): on the extraction's arguments
(batch size, sample count, seed, layers, strictness, and the extractor as the cache keys it) and on the content
fingerprint the feature cache uses for the source (a folder's sizes and modification times or SHA-256s, a tensor's
bytes; not the folder's location). After the gather, the batches must tile the rows once.

The feature cache is read by every rank; the set is extracted unless every rank found the entry (a rank on another
machine may not have it), and only rank 0 writes the entry. An error on any rank (an undecodable file in a strict
run) is raised on every rank, so no rank waits forever for the others.

With ``strict=False`` and ``num_samples``, a folder's rows are the readable files among its first ``num_samples``
(one process tops up from later files instead); without ``num_samples`` the rows are the same.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganprobe import errors
from ganprobe.data.folder import list_images
from ganprobe.data.listing import FolderListing, list_folder
from ganprobe.data.sources import (
    ImageSource,
    generator_batches,
    iter_folder_batches,
    report_skipped,
)
from ganprobe.errors import GanprobeError, ImageFolderError, error_from_report, problem_report
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.features.cache import FeatureCache, source_fingerprint
from ganprobe.features.extract import cache_entry_key, iter_features, served_from_cache
from ganprobe.utils.distributed import (
    all_gather_json,
    check_same_everywhere,
    collective_device,
    gather_rows,
    rank_and_world_size,
    shard_range,
)

Shard = tuple[dict[str, list[Tensor]], list[tuple[str, str]], list[int]]


def batch_shard(rows: int, batch_size: int, rank: int, world_size: int) -> tuple[int, int]:
    """The rows ``[start, stop)`` rank ``rank`` extracts: a contiguous run of the whole ``batch_size`` batches one
    process would run over ``rows`` rows (so each batch, and its features, is the same as in one process)."""
    batches = -(-rows // batch_size)
    first, last = shard_range(batches, rank, world_size)
    return min(first * batch_size, rows), min(last * batch_size, rows)


def extract_sharded(
    extractor: FeatureExtractor,
    source: ImageSource,
    layers: Sequence[str],
    batch_size: int,
    num_samples: int | None = None,
    seed: int = 0,
    num_workers: int | None = None,
    cache: FeatureCache | None = None,
    strict: bool = True,
    skipped: list[str] | None = None,
) -> tuple[dict[str, Tensor], list[int]]:
    """Extract ``source`` across the ranks of the default process group (see the module docstring).

    Args:
        (as in :func:`ganprobe.features.extract_features`)

    Returns:
        ``({layer: (N, D)}, extracted)``: every row on every rank (on the extractor's device) and how many images
        each rank extracted (all zeros when the cache served every rank).

    Raises:
        ImageFolderError, InputError: the first error any rank met, on every rank.
    """
    wanted = extractor.resolve_layers(layers)
    rank, world_size = rank_and_world_size()
    device = collective_device()
    if isinstance(source, (str, os.PathLike)):
        source = _same_listing_everywhere(source, device)  # listed once, then reused by every step below
    arguments = {"batch_size": batch_size, "num_samples": num_samples, "seed": seed, "layers": list(wanted),
                 "strict": strict, "extractor": _extractor_identity(extractor)}  # fmt: skip
    check_same_everywhere(arguments, "every process must extract with the same arguments")
    _same_contents_everywhere(source, cache is not None and cache.content_hash, device)
    key = cache_entry_key(extractor, source, wanted, num_samples, cache)
    entry = cache.load_entry(key) if key is not None and cache is not None else None
    if all(all_gather_json(entry is not None, device)):  # a rank without the entry makes every rank extract
        return served_from_cache(entry, extractor, source, wanted, strict, skipped), [0] * world_size  # type: ignore[arg-type]
    problem: list[Any] | None = None
    parts: dict[str, list[Tensor]] = {}
    bad: list[tuple[str, str]] = []
    order: list[int] = []
    try:
        parts, bad, order = _extract_shard(
            extractor, source, wanted, batch_size, num_samples, seed, num_workers, strict, rank, world_size
        )
    except GanprobeError as exc:
        problem = problem_report(exc)
    reports = all_gather_json({"problem": problem, "skipped": bad, "batches": order}, device)
    for report in reports:
        if report["problem"] is not None:
            raise error_from_report(report["problem"])
    features = _gather(parts, wanted, extractor, device, [report["batches"] for report in reports])
    extracted = [sum(report["batches"][1::2]) for report in reports]
    _check_tiling([report["batches"] for report in reports], batch_size, _known_rows(source, num_samples, strict))
    all_bad = [(str(path), str(reason)) for report in reports for path, reason in report["skipped"]]
    if not features or next(iter(features.values())).shape[0] == 0:
        raise ImageFolderError(f"{source}: no image could be decoded")
    if key is not None and cache is not None and rank == 0:
        cache.store(key, features, all_bad)
    if isinstance(source, (str, os.PathLike)):
        report_skipped(Path(source), all_bad, skipped)
    return features, extracted


def _same_listing_everywhere(folder: str | os.PathLike[str], device: torch.device) -> FolderListing:
    """This rank's listing of ``folder`` (walked once; a listing is reused), after checking every rank sees the same
    files: a folder split over ranks that see it differently (another machine, path or mount) is refused.

    Raises:
        ImageFolderError: on every rank: the first rank's own listing error, or which ranks differ.
    """
    listing = None
    try:
        listing = list_folder(folder)
        names = "\n".join(listing.names)
        seen: list[Any] = [len(listing), hashlib.sha256(names.encode()).hexdigest()]
    except ImageFolderError as exc:
        seen = [-1, str(exc)]
    views = all_gather_json(seen, device)
    for view in views:
        if view[0] == -1:
            raise ImageFolderError(view[1])
    if any(view != views[0] for view in views):
        counts = ", ".join(f"rank {rank}: {view[0]}" for rank, view in enumerate(views))
        raise ImageFolderError(
            f"{folder}: the processes see different image files ({counts}); every process must see the same "
            "files at the same path (a shared file system)"
        )
    return listing  # type: ignore[return-value] - set: this rank's own listing error was raised above


def _extractor_identity(extractor: FeatureExtractor) -> list[Any]:
    """What makes two ranks' extractors compute the same features (as the feature cache keys them)."""
    return [extractor.name, extractor.weights_sha256, extractor.preprocessing.describe(), extractor.execution]


def _same_contents_everywhere(source: ImageSource, content_hash: bool, device: torch.device) -> None:
    """Check that every rank's folder or tensor has the content fingerprint the feature cache keys it by (file sizes
    and modification times, or with ``content_hash`` every file's SHA-256; a tensor's bytes), so that ranks holding
    another copy (a stale one on another machine) stop every rank before extraction and before any cache write.
    Where the folder lies is not compared: each machine may mount it elsewhere. Other sources are not fingerprinted.

    Raises:
        ImageFolderError: on every rank, naming which ranks differ.
    """
    fingerprint = source_fingerprint(source, content_hash)
    if fingerprint is None:  # generators and loaders: nothing to compare (every rank returns here alike)
        return
    contents = {name: value for name, value in fingerprint.items() if name != "path"}
    views = all_gather_json(hashlib.sha256(repr(sorted(contents.items())).encode()).hexdigest(), device)
    if all(view == views[0] for view in views):
        return
    groups = ", ".join(f"rank {rank}: {view[:12]}" for rank, view in enumerate(views))
    what = f"{source}: the processes see different contents under the same file names"
    if isinstance(source, Tensor):
        what = "the tensor: the processes hold different images"
    hint = ""
    if not content_hash and not isinstance(source, Tensor):
        hint = "; copies with equal bytes but other modification times pass with --hash-contents (content_hash=True)"
    raise ImageFolderError(f"{what} (content fingerprints {groups}); every process must read the same images{hint}")


def _check_tiling(batches: list[list[int]], batch_size: int, rows: int | None) -> None:
    """Check that the gathered batch indices are ``0, 1, 2, ...`` once each and, where the row count is known in
    advance (``rows``), that they cover it: a rank extracting other batches than the others never drops rows
    silently.

    Raises:
        InputError: which batches the processes extracted.
    """
    indices = sorted(index for view in batches for index in view[::2])
    expected = len(indices) if rows is None else -(-rows // batch_size)
    if indices != list(range(expected)):
        raise errors.InputError(
            f"the processes extracted batches {indices} of {batch_size} images, not each of the {expected} batches "
            "once; every process must run with the same arguments"
        )


def _known_rows(source: ImageSource, num_samples: int | None, strict: bool) -> int | None:
    """How many rows one process extracts from ``source``, where known before extracting (``None``: a loader, or a
    folder whose unreadable files are skipped)."""
    if isinstance(source, Tensor):
        count = source.shape[0]
    elif isinstance(source, (str, os.PathLike)):
        if not strict:
            return None
        count = len(list_images(source))
    elif callable(source) and not isinstance(source, Iterable):
        return num_samples
    else:
        return None
    return count if num_samples is None else min(count, num_samples)


def _extract_shard(
    extractor: FeatureExtractor,
    source: ImageSource,
    wanted: Sequence[str],
    batch_size: int,
    num_samples: int | None,
    seed: int,
    num_workers: int | None,
    strict: bool,
    rank: int,
    world_size: int,
) -> Shard:
    """This rank's features per layer (a list of batches), skipped files and ``[batch index, rows, ...]`` pairs."""
    parts: dict[str, list[Tensor]] = {layer: [] for layer in wanted}
    bad: list[tuple[str, str]] = []
    order: list[int] = []

    def run(batches: Iterator[Tensor], first_index: int, preprocessed: bool = False) -> None:
        if preprocessed:  # decoded and preprocessed by the folder's workers
            stream = (
                extractor.forward_preprocessed(b.to(extractor.device, non_blocking=True), wanted) for b in batches
            )
        else:
            stream = iter_features(extractor, batches, wanted, batch_size)
        for offset, features in enumerate(stream):
            for layer, value in features.items():
                parts[layer].append(value)
            order.extend([first_index + offset, int(next(iter(features.values())).shape[0])])

    if isinstance(source, (str, os.PathLike)):
        count = len(list_images(source))
        start, stop = batch_shard(count if num_samples is None else min(count, num_samples), batch_size, rank,
                                  world_size)  # fmt: skip
        if stop > start:
            folder = iter_folder_batches(
                source, batch_size, None, extractor.preprocessing, num_workers, strict, start, stop
            )

            def images() -> Iterator[Tensor]:
                for batch in folder:
                    bad.extend(batch.skipped)
                    if batch.images is not None:
                        yield batch.images  # type: ignore[misc]

            run(images(), start // batch_size, preprocessed=True)
    elif isinstance(source, Tensor):
        count = source.shape[0] if num_samples is None else min(num_samples, source.shape[0])
        start, stop = batch_shard(count, batch_size, rank, world_size)
        run((source[i : min(i + batch_size, stop)] for i in range(start, stop, batch_size)), start // batch_size)
    elif callable(source) and not isinstance(source, Iterable):
        if num_samples is None:
            raise errors.InputError("num_samples: required when the source is a generator callable fn(n) -> images")
        start, stop = batch_shard(num_samples, batch_size, rank, world_size)
        if stop > start:
            run(generator_batches(source, batch_size, num_samples, seed, start, stop), start // batch_size)
    else:
        for index, batch in enumerate(_limited(source, num_samples)):
            if index % world_size == rank:
                run(iter([batch]), index)
    return parts, bad, order


def _limited(source: ImageSource, num_samples: int | None) -> Iterator[Tensor]:
    """The batches of an iterable source, cut at ``num_samples`` images (as one process cuts them)."""
    from ganprobe.data.sources import iter_batches

    yield from iter_batches(source, batch_size=1, num_samples=num_samples)


def _gather(
    parts: dict[str, list[Tensor]],
    wanted: Sequence[str],
    extractor: FeatureExtractor,
    device: torch.device,
    batches: list[list[int]],
) -> dict[str, Tensor]:
    """All ranks' rows of every layer, in batch order (``batches``: each rank's ``[index, rows, ...]``)."""
    rank_rows = [sum(pairs[1::2]) for pairs in batches]
    placed = sorted(
        (index, rank, rows)
        for rank, pairs in enumerate(batches)
        for index, rows in zip(pairs[::2], pairs[1::2], strict=True)
    )
    features = {}
    for layer in wanted:
        local = torch.cat(parts[layer]) if parts.get(layer) else None
        if local is None:  # this rank extracted nothing: an empty block of the right width
            width = _width(extractor, layer, device)
            local = torch.empty((0, *width), device=device)
        whole = gather_rows(local.to(device), rank_rows)
        offsets = [sum(rank_rows[:rank]) for rank in range(len(rank_rows))]
        cursor = list(offsets)
        pieces = []
        for _index, rank, rows in placed:
            pieces.append(whole[cursor[rank] : cursor[rank] + rows])
            cursor[rank] += rows
        features[layer] = torch.cat(pieces).to(extractor.device) if pieces else whole.to(extractor.device)
    return features


def _width(extractor: FeatureExtractor, layer: str, device: torch.device) -> tuple[int, ...]:
    """The feature shape after the row dimension of ``layer`` (one tiny forward pass, for a rank with no rows)."""
    size = getattr(extractor.preprocessing, "size", None) or (32, 32)
    probe = torch.zeros((1, 3, *size), dtype=torch.uint8)
    return tuple(extractor(probe, layer)[layer].shape[1:])
