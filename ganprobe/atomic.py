"""Safe file writes: every file ganprobe writes appears whole or not at all, and nothing else is replaced.

* A regular file (new or existing) is written to a temporary file in the same folder, flushed to disk, and renamed
  over the target; an existing file keeps its permission bits (and, where allowed, its owner).
* A symbolic link is written *through*: its final target is replaced as above, the link itself stays a link.
* A file with several hard links is written in place once the new content is complete in a temporary file, so
  every name sees the new content (as with a shell redirection); only this case is not atomic for readers.
* A special file (a character device such as ``/dev/null`` or ``/dev/full``, a FIFO) is opened and written in place,
  the way a shell redirection (``> /dev/null``) would: it is never replaced by a regular file.

Any failure (a full disk, ``/dev/full``, no permission) raises :class:`OSError` whose ``filename`` is the requested
path; the temporary file is removed and a regular target is left exactly as it was.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Write a file safely (see the module docstring): atomically for regular files, through links and devices.

    Args:
        path: the file to create or replace (missing parent folders are created).
        write: called with an open binary file; it writes the content.

    Returns:
        ``path`` as a :class:`~pathlib.Path`. Concurrent writers never expose half a file; on any error the
        temporary file is removed and a regular ``path`` is left as it was.

    Raises:
        OSError: the write failed; ``filename`` is ``path``.
    """
    target = Path(path)
    try:
        _write(target, write)
    except OSError as exc:
        if exc.filename is None or exc.filename != str(target):
            raise type(exc)(exc.errno, exc.strerror or str(exc), str(target)) from exc
        raise
    return target


def _write(target: Path, write: Callable[[BinaryIO], None]) -> None:
    real = Path(os.path.realpath(target)) if target.is_symlink() else target  # write through links
    try:
        info: os.stat_result | None = real.stat()
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
        with open(real, "wb") as handle:  # a device or FIFO: write in place, as `> /dev/null` does
            write(handle)
            handle.flush()
        return
    real.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if info is not None and info.st_nlink > 1:  # a hard link: write through it too, once the content is whole
            with open(tmp, "rb") as source, open(real, "r+b") as destination:
                destination.truncate(0)
                for block in iter(lambda: source.read(1 << 20), b""):
                    destination.write(block)
                destination.flush()
                os.fsync(destination.fileno())
            return
        if info is not None:  # replacing a file: keep its permissions (a 0600 report stays 0600) and owner
            os.chmod(tmp, stat.S_IMODE(info.st_mode))
            if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.chown(tmp, info.st_uid, info.st_gid)
                except OSError:
                    pass  # only root may give a file away; the content is still the user's
        else:  # mkstemp creates 0600 files; give a new file what a plain open() would (umask applied)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, real)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
