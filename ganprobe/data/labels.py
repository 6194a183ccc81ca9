"""Class labels for an image set: from class subfolders, a ``path,label`` file, a tensor, or a classifier's logits.

Every source gives a :class:`ClassLabels`: one class index per image, aligned to the image order the rest of
ganprobe uses (the folder's :class:`~ganprobe.data.listing.FolderListing` order, i.e. sorted relative paths), and
the class names those indices stand for. Two sets are put on one shared list of classes with
:func:`shared_classes` before they are compared (the reals may hold a class the fakes lack, and the other way).

Class names sort numerically when every name is a whole number (``2`` before ``10``), else as text.

Example:
    >>> listing, labels = labels_from_subfolders("real/")  # doctest: +SKIP
    >>> labels.names, labels.indices[:3]  # doctest: +SKIP
    (('0', '1', ..., '9'), tensor([0, 0, 0]))
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ganprobe.data.listing import FolderListing, list_folder
from ganprobe.errors import ImageFolderError, InputError
from ganprobe.utils.json_depth import check_json_depth
from ganprobe.utils.safe_text import quote_path

# A label file of 50,000 rows of 100-character paths is about 5 MiB; anything far beyond that is not a label file.
MAX_LABEL_FILE_BYTES = 64 * 2**20
# Class names longer than this are refused (a label is a short class name, not a payload).
MAX_LABEL_CHARS = 200


@dataclass(frozen=True)
class ClassLabels:
    """One class per image.

    Attributes:
        indices: ``(N,)`` int64 class index of each image, into ``names``.
        names: the class names; ``names[i]`` is the name of class index ``i``.
    """

    indices: Tensor
    names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def counts(self) -> Tensor:
        """``(len(names),)`` int64 number of images per class (0 for a class with none)."""
        return torch.bincount(self.indices, minlength=len(self.names))


def _class_order(names: set[str] | Sequence[str]) -> tuple[str, ...]:
    """Numerical order when every name is a whole number, else text order."""
    unique = set(names)
    if all(name.lstrip("-").isdigit() and name.strip() == name for name in unique):
        return tuple(sorted(unique, key=lambda name: (int(name), name)))
    return tuple(sorted(unique))


def _index(per_image: Sequence[str]) -> ClassLabels:
    names = _class_order(per_image)
    position = {name: index for index, name in enumerate(names)}
    return ClassLabels(torch.tensor([position[name] for name in per_image], dtype=torch.long), names)


def labels_from_subfolders(folder: str | os.PathLike[str]) -> tuple[FolderListing, ClassLabels]:
    """Labels from class subfolders: every immediate subfolder of ``folder`` is a class named after it.

    The images are listed by :func:`~ganprobe.data.listing.list_folder` (the same walk every run uses: hidden files
    and folders skipped, links to folders never entered), so the labels line up with the features extracted from
    that listing. Images deeper inside a class folder (``real/3/batch1/x.png``) belong to that class.

    Args:
        folder: the set's folder, e.g. ``real/`` holding ``real/0/*.png`` ... ``real/9/*.png``.

    Returns:
        ``(listing, labels)``: the folder's listing and one label per listed image, in listing order.

    Raises:
        ImageFolderError: the folder cannot be listed or holds no images (as ``list_folder``), or an image lies
            directly in ``folder`` rather than in a class subfolder.
    """
    listing = list_folder(folder)
    per_image = []
    for name in listing.names:
        head, separator, _ = name.partition("/")
        if not separator:
            raise ImageFolderError(
                f"{quote_path(listing.root / name)}: image outside a class subfolder; with labels from subfolders "
                "every image must lie in <folder>/<class>/"
            )
        per_image.append(head)
    return listing, _index(per_image)


def _read_text(path: Path) -> str:
    """The label file's text: a regular file (checked before opening, and again on what was opened, which is opened
    non-blocking so that a FIFO put there in between cannot hang the run) of at most ``MAX_LABEL_FILE_BYTES``."""
    name = quote_path(path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InputError(f"{name}: the label file is not a regular file")
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        with os.fdopen(os.open(path, flags), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError(f"{name}: the label file is not a regular file")
            if info.st_size > MAX_LABEL_FILE_BYTES:
                raise InputError(f"{name}: label file of {info.st_size:,} bytes exceeds {MAX_LABEL_FILE_BYTES:,}")
            data = handle.read(MAX_LABEL_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{name}: cannot read the label file ({exc.strerror or exc})") from None
    if len(data) > MAX_LABEL_FILE_BYTES:  # grew since the stat
        raise InputError(f"{name}: label file exceeds {MAX_LABEL_FILE_BYTES:,} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{name}, line {line}: not UTF-8 text") from None


def _check_label(label: object, where: str) -> str:
    if isinstance(label, bool) or not isinstance(label, (str, int)):
        raise InputError(f"{where}: label must be a string or an integer, got {type(label).__name__}")
    text = str(label)
    if not text.strip() or text.strip() != text or len(text) > MAX_LABEL_CHARS or not text.isprintable():
        raise InputError(
            f"{where}: bad label {text[:40]!r} (expected a non-empty printable name of at most {MAX_LABEL_CHARS} "
            "characters, without surrounding spaces)"
        )
    return text


def at_line(where: str, line: int) -> str:
    """``"<file>, line N"``, or just the file when the line is unknown (0)."""
    return f"{where}, line {line}" if line else where


def _rows_from_csv(text: str, where: str) -> list[tuple[str, str, int]]:
    """``(path, label, line)`` rows of a ``path,label`` CSV; a first row ``path,label`` is a header."""
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            line = reader.line_num
            if line == 1 and [cell.strip().lower() for cell in row] == ["path", "label"]:
                continue
            if len(row) != 2:
                raise InputError(f"{where}, line {line}: expected 2 fields (path,label), got {len(row)}")
            rows.append((row[0], _check_label(row[1], f"{where}, line {line}"), line))
    except csv.Error as exc:
        raise InputError(f"{where}, line {reader.line_num}: malformed CSV ({exc})") from None
    return rows


def _rows_from_json(text: str, where: str) -> list[tuple[str, str, int]]:
    """``(path, label, line)`` rows of a JSON object ``{"path": label, ...}``; duplicate keys are kept as rows."""
    check_json_depth(text, where)
    pairs_seen: list[list[tuple[str, object]]] = []

    def keep_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
        pairs_seen.append(pairs)
        return dict(pairs)

    try:
        document = json.loads(text, object_pairs_hook=keep_pairs)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}, line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(document, dict) or len(pairs_seen) != 1:
        raise InputError(f'{where}: expected one JSON object {{"path": label, ...}} with no nested objects')
    rows, cursor = [], 0
    for key, label in pairs_seen[0]:
        # The key's line: the pairs come in document order, so each is found after the previous one.
        found = text.find(json.dumps(key, ensure_ascii=False), cursor)
        if found < 0:
            found = text.find(json.dumps(key), cursor)
        cursor = found + 1 if found >= 0 else cursor
        line = text.count("\n", 0, found) + 1 if found >= 0 else 0  # 0: written with other escapes, not found
        rows.append((key, _check_label(label, at_line(where, line)), line))
    return rows


def read_label_rows(label_file: str | os.PathLike[str]) -> tuple[str, list[tuple[str, str, int]]]:
    """The rows of a label file (the formats of :func:`labels_from_file`), checked row by row but not against any
    folder.

    Returns:
        ``(where, rows)``: the file's name for messages, and one ``(path, label, line)`` per row (``line`` 0 where
        it is unknown; :func:`at_line` words a place either way).

    Raises:
        InputError: one line naming the file (and the line): not ``.csv``/``.json``, too large, not UTF-8, malformed,
            or a bad row or label.
    """
    path = Path(label_file).expanduser()
    where = quote_path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(f"{where}: label file must end in .csv or .json, got {suffix or 'no extension'!r}")
    text = _read_text(path)
    return where, (_rows_from_csv(text, where) if suffix == ".csv" else _rows_from_json(text, where))


def labels_from_file(
    label_file: str | os.PathLike[str], folder: str | os.PathLike[str] | FolderListing
) -> tuple[FolderListing, ClassLabels]:
    """Labels from a ``path,label`` file for the images of ``folder``.

    Formats (by the file's extension):

    * ``.csv``: one ``path,label`` row per image (RFC 4180 quoting; an optional first row ``path,label``).
    * ``.json``: one object ``{"path": label, ...}``; labels are strings or integers.

    Each path is an image's path relative to ``folder``, POSIX-style, exactly as listed (``3/img_001.png``, not
    ``./3/img_001.png``). Every listed image needs exactly one row, and every row must name a listed image.

    Args:
        label_file: the CSV or JSON file (at most :data:`MAX_LABEL_FILE_BYTES`).
        folder: the set's folder, or its listing.

    Returns:
        ``(listing, labels)``: the folder's listing and one label per listed image, in listing order.

    Raises:
        InputError: one line naming the file (and the line) for a file too large, not UTF-8, malformed, with a bad
            row or label, a duplicate path, a path not in the folder, or images of the folder left without a label.
        ImageFolderError: the folder cannot be listed (as ``list_folder``).
    """
    where, rows = read_label_rows(label_file)
    listing = list_folder(folder)
    position = {name: index for index, name in enumerate(listing.names)}
    per_image: list[str | None] = [None] * len(listing)
    first_line: dict[str, int] = {}
    for name, label, line in rows:
        if name in first_line:
            first = f" (first at line {first_line[name]})" if first_line[name] else ""
            raise InputError(f"{at_line(where, line)}: duplicate path {name!r}{first}")
        first_line[name] = line
        if name not in position:
            raise InputError(f"{at_line(where, line)}: {name!r} is not an image listed in {quote_path(listing.root)}")
        per_image[position[name]] = label
    unlabelled = [name for name, label in zip(listing.names, per_image, strict=True) if label is None]
    if unlabelled:
        raise InputError(
            f"{where}: {len(unlabelled):,} image(s) of {quote_path(listing.root)} have no label, e.g. {unlabelled[0]!r}"
        )
    return listing, _index([label for label in per_image if label is not None])


def labels_from_tensor(
    labels: Tensor, num_images: int, names: Sequence[str] | None = None, argument: str = "labels"
) -> ClassLabels:
    """Labels given beside the images in the Python API: a ``(N,)`` integer tensor of class indices.

    Args:
        labels: ``(N,)`` integer class indices ``>= 0``, one per image in the images' order.
        num_images: the number of images they label (must equal ``N``).
        names: class names (``names[i]`` for index ``i``; at least ``max + 1`` of them); default ``"0"``, ``"1"``...
        argument: the argument's name for messages.

    Raises:
        InputError: not a 1-D integer tensor, wrong length, negative index, or too few names.
    """
    if not isinstance(labels, Tensor) or labels.ndim != 1:
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise InputError(f"{argument}: expected a (N,) tensor of class indices, got {shape}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise InputError(f"{argument}: expected integer class indices, got dtype {labels.dtype}")
    if labels.shape[0] != num_images:
        raise InputError(f"{argument}: {labels.shape[0]} labels for {num_images} images")
    indices = labels.detach().to("cpu", torch.long)
    if indices.numel() and int(indices.min()) < 0:
        raise InputError(f"{argument}: class indices must be >= 0, got {int(indices.min())}")
    count = int(indices.max()) + 1 if indices.numel() else 0
    if names is None:
        names = [str(index) for index in range(count)]
    elif len(names) < count:
        raise InputError(f"{argument}: index {count - 1} but only {len(names)} class names")
    return ClassLabels(indices, tuple(str(name) for name in names))


def labels_from_logits(logits: Tensor, names: Sequence[str] | None = None) -> ClassLabels:
    """Labels predicted by a classifier extractor (for unconditional generators): the argmax class of each row.

    Apply the same classifier to both sets (``lenet-mnist``'s ``logits``, ``efficientnet-lite0``'s ImageNet head,
    ``inception-fid``'s logits) so the class distributions of reals and fakes are comparable.

    Args:
        logits: ``(N, C)`` class scores (logits or probabilities: only their argmax is used; ties -> lower index).
        names: ``C`` class names; default ``"0"`` ... ``"C-1"``.

    Raises:
        InputError: not a finite ``(N, C)`` floating tensor, or a wrong number of names.
    """
    if not isinstance(logits, Tensor) or logits.ndim != 2 or not logits.is_floating_point():
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise InputError(f"logits: expected a floating (N, C) tensor, got {shape}")
    if not bool(torch.isfinite(logits).all()):
        raise InputError("logits: contains NaN or infinite values")
    width = logits.shape[1]
    if names is not None and len(names) != width:
        raise InputError(f"names: {len(names)} class names for {width} logit columns")
    chosen = logits.detach().cpu().argmax(dim=1)
    return ClassLabels(chosen.long(), tuple(str(n) for n in names) if names else tuple(map(str, range(width))))


def shared_classes(*sets: ClassLabels) -> tuple[ClassLabels, ...]:
    """The label sets re-indexed onto one list of classes: the union of their names, in :func:`_class_order`.

    A class present in one set only keeps its name and gets count 0 in the others.
    """
    names = _class_order({name for labels in sets for name in labels.names})
    position = {name: index for index, name in enumerate(names)}
    result = []
    for labels in sets:
        mapping = torch.tensor([position[name] for name in labels.names], dtype=torch.long)
        result.append(ClassLabels(mapping[labels.indices] if len(labels.names) else labels.indices, names))
    return tuple(result)
