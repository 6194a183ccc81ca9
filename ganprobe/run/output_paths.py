"""Output paths, checked before any work: an output never names an input, another output, or a folder.

The CLI calls :func:`check_output_paths` once, with every output option (``--json``, ``--html``, ``--junit``,
``--output``) and every input (the image folders, a stats file, ``--baseline``, ``--weights``). It refuses, with a
:class:`~ganprobe.errors.UsageError` naming the option:

* an output that is an input file (by path, through a symbolic link, or as a hard link of it);
* an output inside an input folder (it would overwrite one of its images, or add a file to the set);
* an output that is one of the files the run will read from an input folder, however it is reached (a symbolic
  link in the folder pointing at it, a linked subfolder, a hard link): the folders' listings are compared by file
  identity, not by name;
* two options naming the same file (``--json X --html X``); character devices such as ``/dev/null`` excepted;
* an existing folder, or a path that cannot be written: writability is *tried* (a temporary file is created in the
  nearest existing folder and removed at once), since permission bits say nothing for root or for ``/proc``.

How outputs are then written is :func:`ganprobe.utils.atomic_files.atomic_write`'s business: regular files atomically
(their
permissions kept), symbolic links and special files (``/dev/null``, FIFOs) written through like a shell redirection,
and this process's own streams (``/dev/stdout``, ``/dev/fd/N``) written to the open descriptor, after what was
printed there (:func:`~ganprobe.utils.atomic_files.stream_descriptor`).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ganprobe.errors import GanprobeError, UsageError
from ganprobe.utils.atomic_files import stream_descriptor

# argparse destinations of the CLI's output options and of its file/folder inputs, with their option names.
CLI_OUTPUTS = {"json_path": "--json", "html_path": "--html", "junit_path": "--junit", "output": "--output"}
CLI_INPUTS = ("fake", "real", "baseline", "weights")

PathLike = str | os.PathLike[str]


def cli_outputs(args: argparse.Namespace) -> dict[str, PathLike | None]:
    """``{option: path}`` of every output option a parsed command line has (``None`` where not given)."""
    return {option: getattr(args, dest) for dest, option in CLI_OUTPUTS.items() if hasattr(args, dest)}


def cli_inputs(args: argparse.Namespace) -> list[PathLike]:
    """Every input file or folder a parsed command line names (image folders, stats file, baseline, weights)."""
    return [getattr(args, dest) for dest in CLI_INPUTS if getattr(args, dest, None) is not None]


def check_cli_outputs(args: argparse.Namespace, listings: Sequence[PathLike] = ()) -> None:
    """:func:`check_output_paths` on a parsed ``ganprobe`` command line (what ``evaluate`` and ``stats`` call), with
    the listings of its input folders when they were listed already (else they are listed here)."""
    by_path = {os.fspath(listing): listing for listing in listings}
    check_output_paths(cli_outputs(args), [by_path.get(os.fspath(given), given) for given in cli_inputs(args)])


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _is_char_device(path: Path) -> bool:
    try:
        return stat.S_ISCHR(path.stat().st_mode)
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_paths(outputs: Mapping[str, PathLike | None], inputs: Sequence[PathLike]) -> None:
    """Refuse, before any work, output paths that would destroy an input or another output, or cannot be written.

    Args:
        outputs: ``{option name: path}`` (``None`` paths are ignored), e.g. ``{"--json": "report.json"}``.
        inputs: files and folders the run reads (paths that do not exist are ignored here; reading reports them).
            A folder may be given as its :class:`~ganprobe.data.listing.FolderListing` (a path that is also the
            sequence of its files); a plain folder path is listed here when an output already exists.

    Raises:
        UsageError: naming the option and the path, and what is wrong.
    """
    input_files: dict[tuple[int, int], Path] = {}
    input_folders: list[tuple[Path, Path]] = []  # (as given, resolved)
    listings: list[Iterable[Path]] = []  # the files each input folder gives the run
    for given in inputs:
        path = Path(given).expanduser()
        if path.is_dir():
            input_folders.append((path, Path(os.path.realpath(path))))
            listings.append(given if isinstance(given, Sequence) and not isinstance(given, str) else ())
        elif (identity := _identity(path)) is not None:
            input_files[identity] = path
    targets = {option: Path(given).expanduser() for option, given in outputs.items() if given is not None}
    images: dict[tuple[int, int], tuple[Path, Path]] = {}  # identity -> (listed file, its folder)
    if any(_identity(target) is not None for target in targets.values()):  # only an existing file can be an input
        for index, (folder, _) in enumerate(input_folders):
            files = listings[index] or _listed_files(folder)
            known = getattr(files, "file_identities", None)  # a listing: its one stat pass, shared with the cache key
            identities = known() if known is not None else [_identity(Path(file)) for file in files]
            images.update(
                (identity, (Path(file), folder))
                for file, identity in zip(files, identities, strict=True)
                if identity is not None
            )
    seen: list[tuple[str, Path, tuple[int, int] | None]] = []  # (option, resolved path, file identity)
    for option, target in targets.items():
        resolved = Path(os.path.realpath(target))
        identity = _identity(target)
        if identity is not None and identity in input_files:
            raise UsageError(f"{option}: {target} is the input {input_files[identity]}; writing it would destroy it")
        for folder, real_folder in input_folders:
            if _inside(resolved, real_folder) or (identity is not None and _hard_link_inside(target, real_folder)):
                raise UsageError(
                    f"{option}: {target} is inside the input folder {folder}; write outputs outside the inputs"
                )
        if identity is not None and identity in images:  # reached through a link in the folder
            image, folder = images[identity]
            raise UsageError(
                f"{option}: {target} is the image {image} of the input folder {folder} (through a link); writing it "
                "would destroy it"
            )
        _check_creatable(option, target)  # after the checks above: its probe file never lands in an input folder
        if _is_char_device(target):  # /dev/null twice is harmless
            continue
        for other, other_resolved, other_identity in seen:
            if resolved == other_resolved or (identity is not None and identity == other_identity):
                raise UsageError(f"{option}: {target} is also the {other} output; give each output its own file")
        seen.append((option, resolved, identity))


def _hard_link_inside(target: Path, folder: Path) -> bool:
    """Whether ``target`` (an existing file with several links) is also a file below ``folder``."""
    try:
        info = target.stat()
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_nlink < 2:
        return False
    stack = [os.fspath(folder)]  # an explicit stack: a folder thousands of levels deep is no RecursionError
    while stack:
        try:
            with os.scandir(stack.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue  # reading the inputs reports folders that cannot be listed
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                other = entry.stat()
            except OSError:
                continue
            if (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino):
                return True
    return False


def _listed_files(folder: Path) -> Sequence[Path]:
    """The image files a run reads from ``folder`` (its listing; none when it cannot be listed: reading says why)."""
    from ganprobe.data.listing import list_folder  # imports torch: only when an output exists and an input is a folder

    try:
        return list_folder(folder)
    except (GanprobeError, OSError):
        return ()


def _check_creatable(option: str, target: Path) -> None:
    """The checks of a single output: not a folder, and writable (the file itself, or its nearest folder)."""
    descriptor = stream_descriptor(target)
    if descriptor is not None:  # /dev/stdout: written to the open descriptor (ganprobe.utils.atomic_files)
        if fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_ACCMODE not in (os.O_WRONLY, os.O_RDWR):
            raise UsageError(f"{option}: cannot write {target}: descriptor {descriptor} is not open for writing")
        return
    if target.is_dir():
        raise UsageError(f"{option}: {target} is a folder; give a file path")
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):  # /dev/null, a FIFO: written through
        if not os.access(target, os.W_OK):
            raise UsageError(f"{option}: cannot write {target}: permission denied")
        return
    folder = Path(os.path.realpath(target)).parent if target.is_symlink() else target.parent
    ancestor = folder
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{option}: cannot create {target}: {ancestor} is not a folder")
    try:  # tried, not guessed: root passes os.access() on /proc, where nothing can be created
        handle, probe = tempfile.mkstemp(prefix=".ganprobe-write-test.", dir=ancestor)
    except OSError as exc:
        raise UsageError(f"{option}: cannot create {target}: {ancestor}: {exc.strerror or exc}") from None
    os.close(handle)
    os.unlink(probe)


def option_for(filename: PathLike | None, outputs: Mapping[str, PathLike | None]) -> str | None:
    """The output option whose path is ``filename`` (to name it in a write error), or ``None``."""
    if filename is None:
        return None
    wanted = os.path.realpath(os.fsdecode(filename))
    for option, path in outputs.items():
        if path is not None and os.path.realpath(Path(path).expanduser()) == wanted:
            return option
    return None


def describe_os_error(exc: OSError, args: argparse.Namespace) -> str:
    """One line for an :class:`OSError` of a CLI run, naming the output option when it is an output's failure."""
    option = option_for(exc.filename, cli_outputs(args))
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{option + ': ' if option else ''}{where}{exc.strerror or exc}"
