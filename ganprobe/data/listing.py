"""One listing of an image folder per run: walked once, read by every stage (counts, batches, cache key, report).

Walking a folder of 50,000 files takes seconds; a run used to walk each input about six times (a pre-check, the
sample count, the cache key, the decoding, the row paths, the provenance). A :class:`FolderListing` is the folder
walked once, by :func:`~ganprobe.data.list_images`' rules, with the stat (or hash) pass of the cache key memoised
on it. It is accepted wherever a folder path is: it *is* a path (``os.fspath(listing)`` is the folder exactly as
the user gave it, so reports and messages name it that way) and a sequence of its files, cheap to index and slice
(a slice lists just those files: what one rank of a sharded extraction reads).

Example:
    >>> listing = list_folder("samples/")  # doctest: +SKIP
    >>> len(listing), listing[0], str(listing)  # doctest: +SKIP
    (50000, PosixPath('samples/00000.png'), 'samples/')
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

from ganprobe.data.folder import decoding_settings, scan_images

# ``(size, mtime_ns)``, or ``"unreadable:<errno>"`` for a file whose size cannot be read (a link loop, no
# permission): keyed as such; decoding reports it.
_FileStat = tuple[int, int] | str
Source = TypeVar("Source")


class FolderListing(Sequence[Path]):
    """An image folder's files, listed once: a path to the folder and a sequence of its image files.

    Make one with :func:`list_folder` (or :meth:`of`); a plain ``FolderListing(...)`` trusts its arguments. A
    listing is a snapshot, meant for one run: files added, removed or rewritten after it was made are not seen, by
    its cache fingerprint either (a long-lived program lists the folder again for its next evaluation).

    Args:
        path: the folder as the user gave it (what ``str()`` and ``os.fspath()`` return).
        files: its image files, in :func:`~ganprobe.data.list_images` order, each ``root / relative path``.
        root: ``path`` with ``~`` expanded (default: from ``path``).
        names: each file's path relative to ``root``, POSIX-style (default: from ``files``, when first needed).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        files: Sequence[Path],
        root: Path | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.root = Path(self.path).expanduser() if root is None else root
        self.files: tuple[Path, ...] = tuple(files)
        self._names: tuple[str, ...] | None = None if names is None else tuple(names)
        self._stats: list[_FileStat] | None = None
        self._identities: list[tuple[int, int] | None] | None = None  # (st_dev, st_ino), read with the stats
        self._hashes: list[str | None] | None = None
        self._fingerprints: dict[bool, dict[str, Any]] = {}

    @classmethod
    def of(cls, folder: str | os.PathLike[str]) -> FolderListing:
        """List ``folder`` (walking it now), or return it unchanged when it is already a listing.

        Raises:
            ImageFolderError: as :func:`~ganprobe.data.list_images`.
        """
        if isinstance(folder, FolderListing):
            return folder
        root, names, files = scan_images(folder)
        return cls(folder, files, root, names)

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"FolderListing({self.path!r}, {len(self.files)} files)"

    def __len__(self) -> int:
        return len(self.files)

    @overload
    def __getitem__(self, index: int) -> Path: ...

    @overload
    def __getitem__(self, index: slice) -> FolderListing: ...

    def __getitem__(self, index: int | slice) -> Path | FolderListing:
        if not isinstance(index, slice):
            return self.files[index]
        part = FolderListing(
            self.path, self.files[index], self.root, None if self._names is None else self._names[index]
        )
        if self._stats is not None:  # what was already read of these files stays read
            part._stats = self._stats[index]
        if self._identities is not None:
            part._identities = self._identities[index]
        if self._hashes is not None:
            part._hashes = self._hashes[index]
        return part

    def __iter__(self) -> Iterator[Path]:
        return iter(self.files)

    @property
    def names(self) -> tuple[str, ...]:
        """Each file's path relative to the folder, POSIX-style (what the cache key and sort order use)."""
        if self._names is None:
            self._names = tuple(path.relative_to(self.root).as_posix() for path in self.files)
        return self._names

    def fingerprint(self, content_hash: bool = False) -> dict[str, Any]:
        """What the feature cache keys this folder by: every file's relative path with its size and modification
        time (or, with ``content_hash``, its SHA-256), digested; computed once per listing and mode. It also names
        how files are decoded (:func:`~ganprobe.data.folder.decoding_settings`), read on every call.

        Every file is stat'ed once per listing; with ``content_hash`` every file is also read once.
        """
        if content_hash not in self._fingerprints:
            stats = self._file_stats()
            hashes = self._file_hashes() if content_hash else [None] * len(stats)
            entries = []
            for name, stat, digest in zip(self.names, stats, hashes, strict=True):
                entry: list[Any] = [name]
                if isinstance(stat, str):
                    entry += [None, stat]
                elif content_hash and digest is not None and digest.startswith("unreadable:"):
                    entry += [None, digest]
                else:
                    entry += [stat[0], digest if content_hash else stat[1]]
                entries.append(entry)
            self._fingerprints[content_hash] = {
                "kind": "folder",
                "path": str(self.root.resolve()),
                "count": len(entries),
                "listing_sha256": hashlib.sha256(json.dumps(entries).encode()).hexdigest(),
                "content_hash": content_hash,
            }
        return {**self._fingerprints[content_hash], "decoding": decoding_settings()}

    def _file_stats(self) -> list[_FileStat]:
        """``(size, mtime_ns)`` of every file, or ``"unreadable:<errno>"`` (each file stat'ed once)."""
        if self._stats is None:
            stats: list[_FileStat] = []
            identities: list[tuple[int, int] | None] = []
            for path in self.files:
                try:
                    info = os.stat(path)
                    stats.append((info.st_size, info.st_mtime_ns))
                    identities.append((info.st_dev, info.st_ino))
                except OSError as exc:
                    stats.append(f"unreadable:{exc.errno}")
                    identities.append(None)
            self._stats, self._identities = stats, identities
        return self._stats

    def file_identities(self) -> list[tuple[int, int] | None]:
        """``(st_dev, st_ino)`` of every file (``None`` where it cannot be stat'ed), from the same single stat pass
        as the cache key's sizes and times: what an output path is compared with (never a second stat per file)."""
        if self._identities is None:
            self._stats = None  # stats read without identities (a sliced listing): read both once
            self._file_stats()
        assert self._identities is not None
        return self._identities

    def _file_hashes(self) -> list[str | None]:
        """The SHA-256 of every file (``"unreadable:<errno>"`` for a file that cannot be read), read once."""
        if self._hashes is None:
            hashes: list[str | None] = []
            for path, stat in zip(self.files, self._file_stats(), strict=True):
                hashes.append(None if isinstance(stat, str) else _sha256(path))
            self._hashes = hashes
        return self._hashes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        return f"unreadable:{exc.errno}"
    return digest.hexdigest()


def list_folder(folder: str | os.PathLike[str]) -> FolderListing:
    """The :class:`FolderListing` of ``folder``: walked now for a path, returned unchanged for a listing.

    Raises:
        ImageFolderError: the folder does not exist, is not a folder, holds no image files, or cannot be listed.
    """
    return FolderListing.of(folder)


def as_listed(source: Source) -> Source | FolderListing:
    """A folder path as its :class:`FolderListing` (walked now); every other source (a listing, a stats file, a
    tensor, a loader, a generator) unchanged. What a run calls once per input at its start."""
    if isinstance(source, (str, os.PathLike)) and not isinstance(source, FolderListing):
        if not Path(source).expanduser().is_file():  # a ``ganprobe stats`` file is not a folder
            return FolderListing.of(source)
    return source
