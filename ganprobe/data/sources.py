"""Every way images reach ganprobe, turned into one stream of preprocessed batches.

A *source* is one of:

* a folder path (``str`` / ``Path``): decoded in DataLoader worker processes, each image preprocessed on its own;
* a tensor ``(N, C, H, W)`` (``uint8`` in ``[0, 255]`` or float in ``[0, 1]``);
* a ``DataLoader`` or any iterable of batches (a batch may be a tensor or a ``(images, labels, ...)`` tuple);
* a generator callable ``fn(n) -> images``, called under ``torch.manual_seed(seed)`` (inside a forked RNG state,
  so the caller's RNG is untouched) with ``n = GENERATOR_CHUNK`` (64) images per call, whatever the batch size,
  until ``num_samples`` images are drawn.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ganprobe.data.folder import list_images, load_image
from ganprobe.errors import ImageFolderError, InputError

ImageSource = str | os.PathLike | Tensor | Iterable | Callable[[int], Tensor]
Preprocess = Callable[[Tensor], Tensor]
# A generator callable is always asked for this many images at a time (the last call fewer), so what a seed draws
# does not depend on the batch size of the extraction.
GENERATOR_CHUNK = 64


@dataclass
class _Decoded:
    index: int
    image: Tensor | None
    error: str | None


class _FolderDataset(Dataset):
    """Decodes (and, when given a preprocessing, resizes and normalises) one file per item in a worker."""

    def __init__(self, paths: Sequence[Path], preprocess: Preprocess | None) -> None:
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
    return items


def default_num_workers() -> int:
    """Decoding workers: one per spare core, at most 4 (0, i.e. in-process, on a single-core machine)."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def source_length(source: ImageSource, num_samples: int | None = None) -> int | None:
    """How many images ``source`` will yield, when that is known in advance."""
    if isinstance(source, (str, os.PathLike)):
        total: int | None = len(list_images(source))
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

    Raises:
        ImageFolderError: a folder problem or an undecodable file (named).
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
        yield from _folder_batches(Path(source), batch_size, num_samples, preprocess, num_workers)
    elif isinstance(source, Tensor):
        stop = source.shape[0] if num_samples is None else min(num_samples, source.shape[0])
        for start in range(0, stop, batch_size):
            yield finish(source[start : min(start + batch_size, stop)])
    elif callable(source) and not isinstance(source, Iterable):
        yield from (finish(batch) for batch in _generator_batches(source, batch_size, num_samples, seed))
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


def _folder_batches(
    folder: Path, batch_size: int, num_samples: int | None, preprocess: Preprocess | None, num_workers: int | None
) -> Iterator[Tensor]:
    paths = list_images(folder)[:num_samples]
    workers = default_num_workers() if num_workers is None else num_workers
    loader = DataLoader(
        _FolderDataset(paths, preprocess),
        batch_size=batch_size,
        shuffle=False,
        num_workers=min(workers, max(0, len(paths) // batch_size)),
        collate_fn=_collate,
        worker_init_fn=_single_thread_worker,
    )
    for items in loader:
        for item in items:
            if item.error is not None:
                raise ImageFolderError(item.error)
        images = [item.image for item in items]
        shapes = {tuple(image.shape) for image in images}
        if len(shapes) == 1:
            yield torch.stack(images)
        else:  # no preprocessing and mixed sizes: the caller gets a list it must resize
            yield images  # type: ignore[misc]


def _generator_batches(
    generate: Callable[[int], Tensor], batch_size: int, num_samples: int | None, seed: int
) -> Iterator[Tensor]:
    """Call ``generate`` in fixed chunks of :data:`GENERATOR_CHUNK` (whatever ``batch_size`` is) and re-batch, so
    the images drawn for a seed do not depend on the batch size."""
    if num_samples is None:
        raise InputError("num_samples: required when the source is a generator callable fn(n) -> images")
    drawn = 0
    state: tuple[Tensor, list[Tensor]] | None = None
    pending: list[Tensor] = []
    while drawn < num_samples:
        count = min(GENERATOR_CHUNK, num_samples - drawn)
        # Fork the RNG around each call only: the caller's own draws between batches neither see nor shift the
        # generator's seeded stream, and the caller's RNG state is untouched.
        with torch.random.fork_rng():
            if state is None:
                torch.manual_seed(seed)
            else:
                torch.set_rng_state(state[0])
                if torch.cuda.is_available():
                    torch.cuda.set_rng_state_all(state[1])
            with torch.no_grad():
                chunk = generate(count)
            state = (torch.get_rng_state(), torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])
        if not isinstance(chunk, Tensor) or chunk.ndim != 4 or chunk.shape[0] != count:
            shape = tuple(chunk.shape) if isinstance(chunk, Tensor) else type(chunk).__name__
            raise InputError(f"generator: fn({count}) must return an NCHW tensor of {count} images, got {shape}")
        drawn += count
        pending.append(chunk.detach())
        buffered = torch.cat(pending) if len(pending) > 1 else pending[0]
        while buffered.shape[0] >= batch_size or (drawn >= num_samples and buffered.shape[0] > 0):
            yield buffered[:batch_size]
            buffered = buffered[batch_size:]
        pending = [buffered] if buffered.shape[0] else []
