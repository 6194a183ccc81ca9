"""How a run labels its images: class subfolders, the extractor's predicted classes, a label file, or tensors.

:func:`plan_classes` settles the labels before any extraction (so bad labels stop a run before any work) and
:func:`row_labels` matches them to the feature rows afterwards: by file for folders (so skipped unreadable files and
``num_samples`` keep the rows and labels aligned), by order for tensors, by the argmax of the logits for
``predicted``.

**A label file for both sets.** A CSV (``path,label`` rows, optional header) or JSON object (``{"path": label}``)
whose paths are relative to the label file's own folder (``fake/7/0001.png``, ``real/7/0001.png``): each path must
lie under the fake or the real folder (the deeper one when one folder holds the other), and every image of both
folders needs exactly one label.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganprobe.data.labels import ClassLabels, labels_from_logits, labels_from_subfolders, shared_classes
from ganprobe.data.listing import FolderListing
from ganprobe.errors import InputError, UsageError
from ganprobe.front_end_names import PerFrontEnd, Template
from ganprobe.utils.safe_text import quote_path

SUBFOLDERS = "subfolders"
PREDICTED = "predicted"


@dataclass(frozen=True)
class ClassPlan:
    """How a run labels its images, settled before extraction.

    Attributes:
        how: ``subfolders``, ``predicted``, ``file`` or ``tensors``.
        source: the report's words for it (``subfolders``, ``file labels.csv``, ``predicted: lenet-mnist logits``).
        by_path: ``{"real": {file: label}, "fake": {...}}`` for folder labels (matched to rows by file).
        tensors: ``{"real": ClassLabels, "fake": ClassLabels}`` for tensor labels (matched to rows by order).
        names: every class name, when known before extraction (not for ``predicted``).
        logits_layer: the layer whose argmax labels the images (``predicted``).
    """

    how: str
    source: str
    by_path: dict[str, dict[str, str]] | None = None
    tensors: dict[str, ClassLabels] | None = None
    names: tuple[str, ...] | None = None
    logits_layer: str | None = None


def _folder_labels(listing: FolderListing, labels: ClassLabels) -> dict[str, str]:
    return {str(path): labels.names[int(index)] for path, index in zip(listing, labels.indices, strict=True)}


def _under(path: str, root: Path) -> str | None:
    """``path`` relative to ``root`` (POSIX) when it lies under it (compared lexically), else ``None``."""
    relative = os.path.relpath(path, os.path.abspath(root))
    if relative == os.curdir or relative.startswith(os.pardir + os.sep) or relative == os.pardir:
        return None
    return Path(relative).as_posix()


def _file_labels(label_file: str, listings: Mapping[str, FolderListing]) -> dict[str, dict[str, str]]:
    """``{"real": {file: label}, "fake": {...}}`` from one label file naming the images of both folders."""
    from ganprobe.data.labels import at_line, read_label_rows

    where, rows = read_label_rows(label_file)
    path = Path(label_file).expanduser()
    base = os.path.abspath(path.parent)
    # the deeper folder first, so a fake folder inside the real folder takes its own images
    roots = sorted(listings.items(), key=lambda item: -len(os.path.abspath(item[1].root)))
    position = {label: {name: file for name, file in zip(lst.names, lst, strict=True)} for label, lst in roots}
    labelled: dict[str, dict[str, str]] = {label: {} for label in listings}
    first: dict[str, int] = {}
    for name, label, line in rows:
        full = os.path.normpath(os.path.join(base, name))
        if full in first:
            raise InputError(f"{at_line(where, line)}: duplicate path {name!r} (first at line {first[full]})")
        first[full] = line
        found = next(((which, lst) for which, lst in roots if _under(full, lst.root) is not None), None)
        if found is None:
            folders = " nor ".join(f"the {which} folder {quote_path(lst.root)}" for which, lst in listings.items())
            raise InputError(f"{at_line(where, line)}: {name!r} lies under neither {folders}")
        which, listing = found
        relative = _under(full, listing.root)
        if relative not in position[which]:
            raise InputError(f"{at_line(where, line)}: {name!r} is not an image listed in {quote_path(listing.root)}")
        labelled[which][str(position[which][relative])] = label
    for which, listing in listings.items():
        missing = [name for name, file in position[which].items() if str(file) not in labelled[which]]
        if missing:
            raise InputError(
                f"{where}: {len(missing):,} image(s) of the {which} folder {quote_path(listing.root)} have no label, "
                f"e.g. {missing[0]!r} (paths are relative to the label file's folder)"
            )
    return labelled


def plan_classes(
    classes: str | os.PathLike[str] | None,
    real: Any,
    fake: Any,
    real_labels: Tensor | None,
    fake_labels: Tensor | None,
    logits_layer: str | None,
    extractor_name: str,
) -> ClassPlan | None:
    """Settle how the run labels its images (before any extraction); ``None`` when it has no class labels.

    Args:
        classes: ``"subfolders"``, ``"predicted"``, a label file path, or ``None``.
        real, fake: the run's sources (folders already listed).
        real_labels, fake_labels: ``(N,)`` integer tensors of class indices (both or neither; not with ``classes``).
        logits_layer, extractor_name: the extractor's class-logits layer (``None``: none) and name.

    Raises:
        InputError: one line naming the argument and what is wrong (a folder with images outside class subfolders,
            an extractor without logits, a label file row outside both folders...).
    """
    if (real_labels is None) != (fake_labels is None):
        raise UsageError("evaluate: give real_labels and fake_labels together (or classes=)")
    if real_labels is not None:
        if classes is not None:
            raise UsageError("evaluate: class labels are given twice (classes= and real_labels=/fake_labels=)")
        from ganprobe.data.labels import labels_from_tensor

        pair = {}
        for label, given in (("real", real_labels), ("fake", fake_labels)):
            if not isinstance(given, Tensor) or given.ndim != 1:
                raise InputError(f"{label}_labels: expected a (N,) tensor of class indices")
            pair[label] = labels_from_tensor(given, given.shape[0], argument=f"{label}_labels")
        real_set, fake_set = shared_classes(pair["real"], pair["fake"])
        return ClassPlan("tensors", "tensors", tensors={"real": real_set, "fake": fake_set}, names=real_set.names)
    if classes is None:
        return None
    text = os.fspath(classes)
    if text == PREDICTED:
        if logits_layer is None:
            raise InputError(
                Template(
                    "{classes} predicted: extractor {name!r} has no class logits; use subfolders or a label file",
                    name=extractor_name,
                )
            )
        return ClassPlan(PREDICTED, f"predicted: {extractor_name} {logits_layer}", logits_layer=logits_layer)
    listings = {}
    for label, source in (("real", real), ("fake", fake)):
        if not isinstance(source, FolderListing):
            raise InputError(
                Template(
                    "{classes} {how}: the {label} images are not a folder, so no file carries their class; {fix}",
                    how=text,
                    label=label,
                    fix=PerFrontEnd(
                        python="give real_labels= and fake_labels= tensors instead",
                        cli="give the real image folder instead of a stats file",
                    ),
                )
            )
        listings[label] = source
    if text == SUBFOLDERS:
        by_path = {label: _folder_labels(*labels_from_subfolders(listing)) for label, listing in listings.items()}
        source = SUBFOLDERS
    else:
        if not Path(text).expanduser().is_file():
            raise InputError(
                Template(
                    "{classes} {value!r}: expected subfolders, predicted, or an existing .csv/.json label file",
                    value=text,
                )
            )
        by_path = _file_labels(text, listings)
        source = f"file {text}"
    names = sorted({name for table in by_path.values() for name in table.values()})
    names = shared_classes(ClassLabels(torch.zeros(0, dtype=torch.long), tuple(names)))[0].names
    return ClassPlan("subfolders" if text == SUBFOLDERS else "file", source, by_path=by_path, names=names)


def row_labels(
    plan: ClassPlan, paths: Mapping[str, Sequence[str | None]], features: Mapping[str, Mapping[str, Tensor]]
) -> tuple[ClassLabels, ClassLabels]:
    """``(real, fake)`` labels of the feature rows, on one shared list of classes.

    Args:
        plan: from :func:`plan_classes`.
        paths: ``{"real": [...], "fake": [...]}``: each row's file (the evaluator's :attr:`paths`).
        features: ``{"real": {layer: (N, D)}, "fake": {...}}``: the rows (and the logits for ``predicted``).
    """
    labels: dict[str, ClassLabels] = {}
    for label in ("real", "fake"):
        rows = next(iter(features[label].values())).shape[0]
        if plan.logits_layer is not None:
            labels[label] = labels_from_logits(features[label][plan.logits_layer].float())
        elif plan.tensors is not None:
            given = plan.tensors[label]
            if len(given) < rows:
                raise InputError(f"{label}_labels: {len(given)} labels for {rows} images")
            labels[label] = ClassLabels(given.indices[:rows], given.names)
        else:
            table = plan.by_path[label] if plan.by_path is not None else {}
            names = [table[str(path)] for path in paths[label]][:rows]
            order = {name: index for index, name in enumerate(plan.names or ())}
            indices = torch.tensor([order[name] for name in names], dtype=torch.long)
            labels[label] = ClassLabels(indices, tuple(plan.names or ()))
    real, fake = shared_classes(labels["real"], labels["fake"])
    return real, fake
