"""Safe file writes: every file ganprobe writes appears whole or not at all, and nothing else is replaced.

* A regular file (new or existing) is written to a temporary file in the same folder, flushed to disk, and renamed
  over the target; an existing file keeps its permission bits (and, where allowed, its owner).
* A symbolic link is written *through*: its final target is replaced as above, the link itself stays a link.
* A file with several hard links is written in place once the new content is complete in a temporary file, so
  every name sees the new content (as with a shell redirection); only this case is not atomic for readers.
* A special file (a character device such as ``/dev/null`` or ``/dev/full``, a FIFO) is opened and written in place,
  the way a shell redirection (``> /dev/null``) would: it is never replaced by a regular file.
* One of this process's own open files named as ``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N`` or
  ``/proc/self/fd/N`` (or a link to one) is written to that open descriptor as a stream, after what was already
  printed there and in the mode the shell opened it: a log opened with ``>> ci.log`` is appended to, never replaced
  (see :func:`stream_descriptor`).

Any failure (a full disk, ``/dev/full``, no permission) raises :class:`OSError` whose ``filename`` is the requested
path; the temporary file is removed and a regular target is left exactly as it was.
"""

from __future__ import annotations

import os
import re
import stat
import sys
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
    descriptor = stream_descriptor(target)
    if descriptor is not None:
        _write_stream(descriptor, write)
        return
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


# This process's descriptors by name: /dev/fd/N, /proc/self/fd/N, /proc/thread-self/fd/N, /proc/<pid>/fd/N.
_DESCRIPTOR_PATH = re.compile(r"/(?:dev/fd|proc/(?P<pid>self|thread-self|\d+)(?:/task/\d+)?/fd)/(?P<fd>\d+)")
_STANDARD_STREAMS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def stream_descriptor(path: str | os.PathLike[str]) -> int | None:
    """The open file descriptor of this process that ``path`` names, or ``None`` for any other path.

    ``/dev/stdout`` is a link to ``/proc/self/fd/1``, which is a link to whatever the shell connected: a pipe, a
    terminal, or a file opened with ``>`` or ``>>``. Following the links to the end would name that file, and
    replacing it atomically would destroy what the shell (or this process) already wrote there. So the chain of
    links is followed only until it reaches a descriptor name (``/dev/stdin``, ``/dev/stdout``, ``/dev/stderr``,
    ``/dev/fd/N``, ``/proc/self/fd/N`` or ``/proc/<this pid>/fd/N``); the output is then written to that open
    descriptor as a stream.

    Args:
        path: an output path as the user gave it.

    Returns:
        The descriptor number when ``path`` (or a link on its way) names one that is open in this process.
    """
    current = os.path.abspath(os.path.expanduser(os.fspath(path)))
    for _ in range(40):  # the kernel's own limit on links followed
        descriptor = _STANDARD_STREAMS.get(current)
        match = _DESCRIPTOR_PATH.fullmatch(current)
        if match is not None and match["pid"] in ("self", "thread-self", str(os.getpid()), None):
            descriptor = int(match["fd"])
        if descriptor is not None:
            try:
                os.fstat(descriptor)
            except OSError:
                return None
            return descriptor
        if not os.path.islink(current):
            return None
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return None


def _write_stream(descriptor: int, write: Callable[[BinaryIO], None]) -> None:
    """Write to an open descriptor of this process after everything already printed there, never truncating it."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    with os.fdopen(os.dup(descriptor), "wb") as handle:  # a duplicate: closing it leaves the stream open
        write(handle)
        handle.flush()
