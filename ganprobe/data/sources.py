"""Every way images reach ganprobe, turned into one stream of preprocessed batches.

A *source* is one of:

* a folder path (``str`` / ``Path``), or its :class:`~ganprobe.data.listing.FolderListing` (a folder listed once
  per run: the functions here walk a plain path again on every call, a listing never): decoded in DataLoader
  worker processes, each image preprocessed on its own;
* a tensor ``(N, C, H, W)`` (``uint8`` in ``[0, 255]`` or float in ``[0, 1]``);
* a ``DataLoader`` or any iterable of batches (a batch may be a tensor or a ``(images, labels, ...)`` tuple);
* a generator callable ``fn(n) -> images``, called with ``n = GENERATOR_CHUNK`` (64) images per call, whatever the
  batch size, until ``num_samples`` images are drawn: the first call under ``torch.manual_seed(seed)``, call ``i``
  under a seed derived from ``(seed, i)`` (:func:`chunk_seed`), each inside a forked RNG state, so the caller's RNG
  is untouched and any chunk can be drawn without the ones before it (sharding over processes).

A file in a folder that cannot be read or decoded raises :class:`ImageFolderError` naming it (``strict=True``, the
default). With ``strict=False`` such files are skipped: the rows come from the remaining files (with
``num_samples``, the first ``num_samples`` *readable* files), one :class:`SkippedImagesWarning` lists them, and an
optional ``skipped`` list receives their paths. A folder with no readable file at all is always an error.
"""

from __future__ import annotations

import hashlib
import os
import signal
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, get_worker_info

from ganprobe.data.folder import load_image, max_image_pixels
from ganprobe.data.listing import FolderListing, list_folder
from ganprobe.errors import ImageFolderError, InputError, SkippedImagesWarning
from ganprobe.front_end_names import PerFrontEnd, Template
from ganprobe.utils.safe_text import quote_path

ImageSource = str | os.PathLike | Tensor | Iterable | Callable[[int], Tensor]
Preprocess = Callable[[Tensor], Tensor]
# A generator callable is always asked for this many images at a time (the last call fewer), so what a seed draws
# does not depend on the batch size of the extraction.
GENERATOR_CHUNK = 64


# How many skipped files a warning names before "and N more".
WARN_LISTED = 5
# The advice after an unreadable file, in each front end's words (the CLI's option skips, Python's keyword is strict).
SKIP_UNREADABLE = PerFrontEnd(
    python="{strict}=False (CLI --skip-unreadable) skips such files instead",
    cli="{strict} skips such files instead",
    plugin="{strict}=False skips such files instead",
)
# The advice after a decoding worker died (the out-of-memory killer): fewer images or processes at once.
LOWER_MEMORY = PerFrontEnd(
    python="lower {batch_size} or {num_workers} (CLI --batch-size, --workers)",
    cli="lower {batch_size} or {num_workers}",
    plugin="lower {batch_size} or {num_workers}",
)


@dataclass
class FolderBatch:
    """One batch of a folder and what it consumed (what resumable extraction records per batch).

    Attributes:
        images: the decoded (preprocessed) images, a tensor -- or a list when unpreprocessed sizes differ; ``None``
            for a final batch that only carries trailing skipped files.
        files: the file of every image, in order.
        skipped: ``(file, reason)`` of every file skipped since the previous batch.
        next_index: how many of the folder's listed files (see :func:`list_images`) are consumed after this batch.
    """

    images: Tensor | list[Tensor] | None
    files: list[str]
    skipped: list[tuple[str, str]]
    next_index: int


@dataclass
class _Decoded:
    """One file's outcome. A decoded image travels as row ``row`` of its loader batch's stacked tensor ``batch``
    (``image`` is then ``None`` until :func:`_unpack` restores it as a view of that row)."""

    index: int
    image: Tensor | None
    error: str | None
    batch: Tensor | None = None
    row: int = 0


class _FolderDataset(Dataset):
    """Decodes (and, when given a preprocessing, resizes and normalises) one file per item in a worker."""

    def __init__(self, paths: Sequence[Path], preprocess: Preprocess | None) -> None:
        max_image_pixels()  # a bad GANPROBE_MAX_IMAGE_PIXELS is one line here, not a traceback from each worker
        self.paths = list(paths)
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> _Decoded:
        try:
            image = load_image(self.paths[index])
            if self.preprocess is not None:
                image = self.preprocess(image.unsqueeze(0))[0]
            return _Decoded(index, image, None)
        except ImageFolderError as exc:  # errors travel back as data so the main process raises one clean line
            return _Decoded(index, None, str(exc))


def _single_thread_worker(_worker_id: int) -> None:
    # Decoding workers share the cores with the backbone: one intra-op thread each avoids oversubscription.
    torch.set_num_threads(1)


def _collate(items: list[_Decoded]) -> list[_Decoded]:
    """Stack a loader batch's decoded images (when their shapes agree) into one tensor, in shared memory inside a
    worker, as torch's ``default_collate`` does.

    One tensor per batch crosses from the worker to the main process instead of one per image: receiving
    separate images (a file descriptor, a mapping and the page faults of each, then a copy into the batch) costs
    the main process, the one running the backbone, far more CPU time than one stacked batch
    (``benchmarks/README.md``, "Execution backends", measures both). The values are the same either way.
    """
    good = [item for item in items if item.image is not None]
    images = [item.image for item in good]
    if len(images) < 2 or len({(tuple(image.shape), image.dtype) for image in images}) != 1:  # type: ignore[union-attr]
        return items
    out = None
    if get_worker_info() is not None:
        first: Tensor = images[0]  # type: ignore[assignment]
        storage = first._typed_storage()._new_shared(first.numel() * len(images), device=first.device)
        out = first.new(storage).resize_(len(images), *first.shape)
    stacked = torch.stack(images, out=out)  # type: ignore[arg-type]
    for row, item in enumerate(good):
        item.image, item.batch, item.row = None, stacked, row
    return items


def _unpack(items: list[_Decoded]) -> list[_Decoded]:
    """Give every decoded item its image back (a view of its row of the stacked batch)."""
    for item in items:
        if item.batch is not None:
            item.image = item.batch[item.row]
    return items


def default_num_workers() -> int:
    """Decoding workers: one per spare core, at most 4 (0, i.e. in-process, on a single-core machine).

    On a 2-core CPU, 0, 1 and 2 workers extracted from a folder at the same rate within noise
    (``benchmarks/README.md``, "Execution backends"): with the backbone's runs already on both cores, overlapping
    decoding with them gains nothing measurable there, and loses nothing; the default stays.
    """
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def source_length(source: ImageSource, num_samples: int | None = None) -> int | None:
    """How many images ``source`` will yield, when that is known in advance."""
    if isinstance(source, (str, os.PathLike)):
        total: int | None = len(list_folder(source))
    elif isinstance(source, Tensor):
        total = source.shape[0]
    elif callable(source) and not isinstance(source, Iterable):
        total = num_samples
    else:
        total = len(source.dataset) if isinstance(source, DataLoader) and hasattr(source.dataset, "__len__") else None
    if total is not None and num_samples is not None:
        total = min(total, num_samples)
    return total


def iter_batches(
    source: ImageSource,
    batch_size: int = 64,
    num_samples: int | None = None,
    seed: int = 0,
    preprocess: Preprocess | None = None,
    num_workers: int | None = None,
    strict: bool = True,
    skipped: list[str] | None = None,
) -> Iterator[Tensor]:
    """Yield batches of images from ``source`` (preprocessed with ``preprocess`` when given).

    Args:
        source: see the module docstring.
        batch_size: images per yielded batch (the last may be smaller; iterables keep their own batching).
        num_samples: stop after this many images (required for generator callables).
        seed: seed of a generator callable.
        preprocess: a function from an NCHW batch to the backbone's input; for folders it runs per image in the
            decoding workers, for tensors and generators per batch in this process.
        num_workers: decoding processes for folders (default :func:`default_num_workers`).
        strict: for folders, raise on the first unreadable or undecodable file instead of skipping it.
        skipped: for folders, a list that receives the path of every skipped file (a
            :class:`~ganprobe.errors.SkippedImagesWarning` names them too, once, when the folder is done).

    Raises:
        ImageFolderError: a folder problem, no decodable file at all, or (``strict``) an undecodable file (named).
        InputError: a bad argument or a batch that is not images.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size: must be a positive integer, got {batch_size!r}")
    if num_samples is not None and (
        isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1
    ):
        raise InputError(f"num_samples: must be a positive integer, got {num_samples!r}")
    finish = preprocess if preprocess is not None else (lambda batch: batch)
    if isinstance(source, (str, os.PathLike)):
        listing = list_folder(source)
        bad: list[tuple[str, str]] = []
        for batch in iter_folder_batches(listing, batch_size, num_samples, preprocess, num_workers, strict):
            bad += batch.skipped
            if batch.images is not None:
                yield batch.images  # type: ignore[misc]
        report_skipped(Path(listing), bad, skipped)
    elif isinstance(source, Tensor):
        stop = source.shape[0] if num_samples is None else min(num_samples, source.shape[0])
        for start in range(0, stop, batch_size):
            yield finish(source[start : min(start + batch_size, stop)])
    elif callable(source) and not isinstance(source, Iterable):
        yield from (finish(batch) for batch in generator_batches(source, batch_size, num_samples, seed))
    elif isinstance(source, Iterable):
        seen = 0
        for item in source:
            batch = item[0] if isinstance(item, (tuple, list)) and item and isinstance(item[0], Tensor) else item
            if not isinstance(batch, Tensor):
                raise InputError(
                    f"source: batches must be image tensors or (images, ...) tuples, got {type(item).__name__}"
                )
            if num_samples is not None:
                batch = batch[: num_samples - seen]
            seen += batch.shape[0]
            yield finish(batch)
            if num_samples is not None and seen >= num_samples:
                return
    else:
        raise InputError(
            f"source: expected a folder, a tensor, a DataLoader/iterable or a callable, got {type(source).__name__}"
        )


def iter_folder_batches(
    folder: str | os.PathLike[str] | FolderListing,
    batch_size: int,
    num_samples: int | None = None,
    preprocess: Preprocess | None = None,
    num_workers: int | None = None,
    strict: bool = True,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[FolderBatch]:
    """Decode ``folder`` from its ``start``-th listed file on (up to, not including, the ``stop``-th), in batches of
    exactly ``batch_size`` readable images (the last may be smaller), skipping undecodable files unless ``strict``.

    Batches do not depend on where the skipped files fall, so features (and resumed runs, which pass the previous
    batch's ``next_index`` as ``start`` and the images still wanted as ``num_samples``) do not either. ``start``
    counts files of ``folder``'s listing (a :class:`~ganprobe.data.listing.FolderListing`, or a path listed now).

    Raises:
        ImageFolderError: a folder problem; ``strict`` and a bad file (named); or, when ``start`` is 0, no readable
            file at all.
    """
    paths = list_folder(folder).files
    end = len(paths) if stop is None else min(stop, len(paths))
    remaining = paths[start:end]
    workers = default_num_workers() if num_workers is None else num_workers
    wanted = num_samples if num_samples is not None else len(remaining)
    # A worker decodes the next batch while the backbone runs on this one: with one batch there is nothing to overlap,
    # and starting a process only adds its start-up time.
    later_batches = max(0, (min(len(remaining), wanted) - 1) // batch_size)
    loader = DataLoader(
        _FolderDataset(remaining, preprocess),
        batch_size=batch_size,
        shuffle=False,
        num_workers=min(workers, later_batches),
        collate_fn=_collate,
        worker_init_fn=_single_thread_worker,
    )
    pending: list[_Decoded] = []
    bad: list[tuple[int, str, str]] = []  # (index in ``remaining``, path, reason) not yet reported with a batch
    taken = 0
    for items in _worker_batches(loader, folder) if wanted > 0 else ():
        for item in _unpack(items):
            if item.error is None:
                pending.append(item)
                continue
            if strict:
                raise ImageFolderError(Template("{error}; {skip}", error=item.error, skip=SKIP_UNREADABLE))
            path = str(remaining[item.index])
            bad.append((item.index, path, item.error.removeprefix(f"{quote_path(path)}: ")))
        while pending and (len(pending) >= batch_size or taken + len(pending) >= wanted):
            count = min(batch_size, wanted - taken)
            batch, pending = pending[:count], pending[count:]
            taken += count
            last = batch[-1].index
            before = [(path, reason) for index, path, reason in bad if index < last]
            bad = [entry for entry in bad if entry[0] > last]
            files = [str(remaining[item.index]) for item in batch]
            yield FolderBatch(_stack(batch), files, before, start + last + 1)
            if taken >= wanted:
                return
    if pending:  # fewer than a batch left (skipped files made up the rest): the last batch consumes everything
        files = [str(remaining[item.index]) for item in pending]
        everything = [(path, reason) for _, path, reason in bad]
        yield FolderBatch(_stack(pending), files, everything, end)
        return
    if taken == 0 and start == 0 and stop is None:
        first = f"{quote_path(bad[0][1])}: {bad[0][2]}" if bad else "no files"
        raise ImageFolderError(
            f"{quote_path(folder)}: none of its {len(paths)} image files could be decoded (first: {first})"
        )
    if bad:
        yield FolderBatch(None, [], [(path, reason) for _, path, reason in bad], end)


def _worker_batches(loader: DataLoader, folder: str | os.PathLike[str]) -> Iterator[list[_Decoded]]:
    """``loader``'s batches; a decoding worker process that dies (the out-of-memory killer's SIGKILL) is reported as
    that, naming the folder and the signal, instead of torch's "Connection reset by peer" or "exited unexpectedly".

    Raises:
        ImageFolderError: a worker process of ``loader`` died.
    """
    iterator = iter(loader)
    while True:
        try:
            items = next(iterator)
        except StopIteration:
            return
        except (ConnectionError, EOFError, RuntimeError) as exc:
            if loader.num_workers == 0 or not (isinstance(exc, OSError) or "DataLoader worker" in str(exc)):
                raise
            workers = [(w.pid, w.exitcode) for w in getattr(iterator, "_workers", ()) if w.exitcode not in (None, 0)]
            died = next((worker for worker in workers if worker[1] < 0), workers[0] if workers else None)
            how = "died"
            if died is not None:
                how = f"(pid {died[0]}) " + (
                    f"was killed by signal {_signal_name(-died[1])}" if died[1] < 0 else f"exited with code {died[1]}"
                )
            raise ImageFolderError(
                Template(
                    "{folder}: an image decoding worker process {how} while decoding ({kind}: {exc}); the system's "
                    "out-of-memory killer sends SIGKILL: {lower}",
                    folder=quote_path(folder),
                    how=how,
                    kind=type(exc).__name__,
                    exc=exc,
                    lower=LOWER_MEMORY,
                )
            ) from exc
        yield items


def _signal_name(number: int) -> str:
    """``SIGKILL`` for 9: a signal's name, or its number where Python does not know it."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _stack(items: list[_Decoded]) -> Tensor | list[Tensor]:
    first = items[0].batch
    if first is not None and len(items) == first.shape[0]:
        if all(item.batch is first and item.row == row for row, item in enumerate(items)):
            return first  # exactly one loader batch, in order (no file skipped): no copy
    images = [item.image for item in items]
    if len({tuple(image.shape) for image in images}) == 1:  # type: ignore[union-attr]
        return torch.stack(images)  # type: ignore[arg-type]
    return images  # type: ignore[return-value]  # no preprocessing and mixed sizes: a list the caller must resize


def _relative(path: str, folder: Path) -> str:
    try:
        return Path(path).relative_to(folder).as_posix()
    except ValueError:
        return path


def report_skipped(folder: Path, bad: Sequence[tuple[str, str]], skipped: list[str] | None = None) -> None:
    """Warn once (:class:`SkippedImagesWarning`) about ``bad`` ``(file, reason)`` pairs and add their paths to
    ``skipped``; does nothing when ``bad`` is empty."""
    if not bad:
        return
    if skipped is not None:
        skipped.extend(path for path, _ in bad)
    named = ", ".join(f"{quote_path(_relative(path, folder))} ({reason})" for path, reason in bad[:WARN_LISTED])
    more = f" and {len(bad) - WARN_LISTED} more" if len(bad) > WARN_LISTED else ""
    warnings.warn(
        SkippedImagesWarning(
            Template(
                "{folder}: skipped {count} unreadable image file{s}: {named}{more} ({strict_advice})",
                folder=quote_path(folder),
                count=len(bad),
                s="s" if len(bad) > 1 else "",
                named=named,
                more=more,
                strict_advice=PerFrontEnd(
                    python="{strict}=True fails instead", cli="without {strict} such files fail the run"
                ),
            ),
            [path for path, _ in bad],
        ),
        stacklevel=3,
    )


def chunk_seed(seed: int, index: int) -> int:
    """The seed a generator callable's ``index``-th chunk is drawn under.

    The first chunk is drawn under ``seed`` itself (so ``fn(n)`` for up to :data:`GENERATOR_CHUNK` images is called
    under ``torch.manual_seed(seed)``); later chunks under a seed derived from ``(seed, index)``, so any chunk can be
    drawn on its own, without drawing the ones before it: what sharding a generator's samples over processes needs.
    """
    if index == 0:
        return seed
    digest = hashlib.sha256(f"ganprobe-generator-chunk:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _draw_chunk(generate: Callable[[int], Tensor], seed: int, index: int, count: int) -> Tensor:
    # Fork the RNG around each call only: the caller's own draws between batches neither see nor shift the
    # generator's seeded stream, and the caller's RNG state is untouched.
    with torch.random.fork_rng():
        torch.manual_seed(chunk_seed(seed, index))
        with torch.no_grad():
            chunk = generate(count)
    if not isinstance(chunk, Tensor) or chunk.ndim != 4 or chunk.shape[0] != count:
        shape = tuple(chunk.shape) if isinstance(chunk, Tensor) else type(chunk).__name__
        raise InputError(f"generator: fn({count}) must return an NCHW tensor of {count} images, got {shape}")
    return chunk.detach()


def generator_batches(
    generate: Callable[[int], Tensor],
    batch_size: int,
    num_samples: int | None,
    seed: int,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[Tensor]:
    """Rows ``[start, stop)`` of the ``num_samples`` images a generator callable draws for ``seed``, in batches of
    ``batch_size`` counted from ``start`` (the last may be smaller).

    ``generate`` is always called for whole chunks of :data:`GENERATOR_CHUNK` images (the last chunk fewer), chunk
    ``i`` under :func:`chunk_seed` ``(seed, i)``, whatever the batch size or range: the images a seed draws depend on
    neither, and a range computed on its own equals the same rows of the whole stream.

    Raises:
        InputError: ``num_samples`` missing, or ``fn(n)`` returned something other than ``n`` NCHW images.
    """
    if num_samples is None:
        raise InputError("num_samples: required when the source is a generator callable fn(n) -> images")
    stop = num_samples if stop is None else min(stop, num_samples)
    pending: list[Tensor] = []
    buffered_rows = 0
    for index in range(start // GENERATOR_CHUNK, -(-stop // GENERATOR_CHUNK)):
        first = index * GENERATOR_CHUNK
        chunk = _draw_chunk(generate, seed, index, min(GENERATOR_CHUNK, num_samples - first))
        chunk = chunk[max(start - first, 0) : stop - first]
        pending.append(chunk)
        buffered_rows += chunk.shape[0]
        done = first + GENERATOR_CHUNK >= stop
        if buffered_rows < batch_size and not done:
            continue
        buffered = torch.cat(pending) if len(pending) > 1 else pending[0]
        while buffered.shape[0] >= batch_size or (done and buffered.shape[0] > 0):
            yield buffered[:batch_size]
            buffered = buffered[batch_size:]
        pending, buffered_rows = ([buffered], buffered.shape[0]) if buffered.shape[0] else ([], 0)
