"""Cache entries in a folder: used only when no other user could have written them, read without following links or
blocking, and written without ever opening an existing name.

A cache folder is trusted like code: an entry is used as it is (its checksums catch damage, not forgery), so the
folder, every folder above it and every entry must be writable by you (or root) only, the rule ssh applies to
``~/.ssh``. Who could write a folder or file, from its owner and permission bits:

* its owner, which must be you or root;
* its group, when group-writable (``g+w``), unless that group is your private group (named after you, with no other
  member: the per-user groups of Debian-like systems, whose default umask 002 makes folders ``g+w``);
* everyone, when world-writable (``o+w``).

A folder with the sticky bit (``+t``, as ``/tmp``) only lets others add names, never rename or replace yours, so it
is accepted; every entry is then checked the same way (owned by you or root, not ``g+w``/``o+w``).

Reading (:func:`open_entry`): a name that is not a regular file (a symbolic link, FIFO, folder, device, socket) is
refused without being opened; a regular file is opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked again on the
open descriptor, so a link or FIFO swapped in between is refused too (and never blocks). Writing
(:func:`write_entry`): the content goes to a new temporary file in the folder (``mkstemp``: created exclusively,
never through a link), is flushed to disk, and is renamed over the name; a name that holds anything but a regular
file is refused and left as it is.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ganprobe.utils.safe_text import quote_path

_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFDIR: "a folder",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


class RefusedEntry(Exception):  # noqa: N818 - a refusal, not an error: the caller warns and goes without the cache
    """A cache entry that is not used or replaced; the message says why (e.g. ``is a FIFO, not a regular file``)."""


def folder_problem(folder: str | os.PathLike[str]) -> str | None:
    """Why ``folder`` cannot be trusted as a cache folder, or ``None`` when only you (or root) can write it.

    ``folder`` and every existing folder above it (links resolved) are judged; a missing folder is judged by the
    folders above it (ganprobe creates it, writable by you only). Always ``None`` where POSIX permissions do not
    apply (Windows).

    Returns:
        e.g. ``"the folder is writable by every user (mode 0777, no sticky bit)"`` or ``"the folder above it,
        /srv, is owned by user 'alice' (uid 1001)"``.
    """
    if os.name != "posix":
        return None
    target = Path(os.path.realpath(folder))
    for current in (target, *target.parents):
        try:
            info = os.stat(current)
        except FileNotFoundError:
            continue
        except OSError:
            return None  # unreadable: the cache's own reads and writes report it
        if not stat.S_ISDIR(info.st_mode):
            return None  # a file where a folder should be: writing reports it
        problem = _writable_by_others(info)
        if problem is not None:
            where = "the folder" if current == target else f"the folder above it, {quote_path(current)},"
            return f"{where} is {problem}"
    return None


def trusted_folder(folder: str | os.PathLike[str], planted: str, consequence: str) -> bool:
    """Whether only this user (or root) can write ``folder`` (:func:`folder_problem`); when another user could,
    one :class:`~ganprobe.errors.FeatureCacheWarning` says what they could plant and ``consequence`` (what the run
    does instead), and ``False`` comes back."""
    problem = folder_problem(folder)
    if problem is not None:
        from ganprobe.errors import FeatureCacheWarning

        warnings.warn(
            FeatureCacheWarning(f"{quote_path(folder)}: {problem} and plant {planted}; {consequence}"), stacklevel=5
        )
    return problem is None


def open_entry(path: str | os.PathLike[str]) -> BinaryIO | None:
    """Open a cache entry for reading: ``None`` when there is none, a binary file object otherwise.

    Raises:
        RefusedEntry: ``path`` is not a regular file (it is never opened then), or another user could have written
            it (see the module docstring).
        OSError: the entry cannot be opened (no permission).
    """
    try:
        problem = entry_problem(os.lstat(path))
    except FileNotFoundError:
        return None
    if problem is not None:
        raise RefusedEntry(problem)
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link put there since the lstat
            raise RefusedEntry(f"is {_KINDS[stat.S_IFLNK]}, not a regular file") from None
        raise
    handle = os.fdopen(descriptor, "rb")
    problem = entry_problem(os.fstat(descriptor))  # what was opened (another writer may have renamed a new entry in)
    if problem is not None:
        handle.close()
        raise RefusedEntry(problem)
    return handle


def entry_problem(info: os.stat_result) -> str | None:
    """Why a file with this ``lstat``/``fstat`` result is not a usable cache entry, or ``None``."""
    if not stat.S_ISREG(info.st_mode):
        return f"is {_KINDS.get(stat.S_IFMT(info.st_mode), 'not a file')}, not a regular file"
    return None if os.name != "posix" else _writable_by_others(info)


def write_entry(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Create or replace the cache entry ``path`` without opening or following what is there (module docstring).

    Missing folders are created writable by you only (``0755`` less the umask); the entry gets ``0644`` less the
    umask.

    Args:
        path: the entry file.
        write: called with a new temporary file open for binary writing; it writes the content.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        RefusedEntry: ``path`` exists and is not a regular file (a link, FIFO, folder...): it is left as it is.
        OSError: the write failed (full disk, no permission); the temporary file is removed, ``filename`` is
            ``path``, and an existing entry is left as it was.
    """
    target = Path(path)
    try:
        _make_folders(target.parent)
        try:
            info: os.stat_result | None = os.lstat(target)
        except FileNotFoundError:
            info = None
        if info is not None and not stat.S_ISREG(info.st_mode):
            raise RefusedEntry(f"is {_KINDS.get(stat.S_IFMT(info.st_mode), 'not a file')}, not a regular file")
        descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                write(handle)
                handle.flush()
                if hasattr(os, "fchmod"):
                    os.fchmod(handle.fileno(), 0o644 & ~_umask())
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        if exc.filename != str(target):
            raise type(exc)(exc.errno, exc.strerror or str(exc), str(target)) from exc
        raise
    return target


def _make_folders(folder: Path) -> None:
    """Create ``folder`` and its missing parents as ``0755`` less the umask (``mkdir -p`` would make parents
    ``0777`` less the umask: group-writable under the umask 002 of per-user groups)."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=0o755)
        except FileExistsError:
            pass  # another process made it in between


def _writable_by_others(info: os.stat_result) -> str | None:
    """Who besides you (and root) could write a file or folder with this ``stat`` result, as a phrase; or ``None``."""
    owner = info.st_uid
    if owner not in (0, os.geteuid()):
        return f"owned by {_user_name(owner)}, so another user could write it"
    mode = stat.S_IMODE(info.st_mode)
    sticky = stat.S_ISDIR(info.st_mode) and bool(mode & stat.S_ISVTX)
    if sticky:
        return None
    if mode & stat.S_IWOTH:
        return f"writable by every user (mode {mode:04o}, no sticky bit), so another user could write it"
    if mode & stat.S_IWGRP and not _private_group(info.st_gid):
        return f"writable by group {_group_name(info.st_gid)} (mode {mode:04o}), so another user could write it"
    return None


@functools.cache
def _private_group(gid: int) -> bool:
    """Whether ``gid`` is your own per-user group: your primary group, named after you, with no other member."""
    try:
        import grp
        import pwd

        user = pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(gid)
    except (ImportError, KeyError):
        return False
    return gid == user.pw_gid and group.gr_name == user.pw_name and set(group.gr_mem) <= {user.pw_name}


def _user_name(uid: int) -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _group_name(gid: int) -> str:
    try:
        import grp

        return f"{grp.getgrgid(gid).gr_name!r} (gid {gid})"
    except (ImportError, KeyError):
        return f"gid {gid}"


@functools.cache
def _umask() -> int:
    current = os.umask(0o022)  # reading the umask means setting it: put it back at once
    os.umask(current)
    return current
