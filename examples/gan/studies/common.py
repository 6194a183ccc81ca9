"""What every study command shares: short vs full settings, offline data folders, the summary table.

Each study module declares ``SHORT`` (minutes on a CPU) and ``FULL`` (the study's own settings) as dicts of the
same keys; :func:`resolve` fills every flag left unset on the command line from one of them (``--full`` picks
``FULL``), so an explicit flag always wins. :func:`write_summary` writes ``summary.json`` and ``summary.md``: each
number or figure the study reported next to what this run measured.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gan.data import ImageData, balanced_subset, mnist_digits, write_pngs

# skimage.data's colour photos that ship inside scikit-image (no download): outdoor scenes, people, objects.
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")
# torch's CPU kernels (and NumPy's BLAS) split sums across threads, so a result depends on the thread count: a study
# fixes it (``--threads``) so that a rerun prints the same numbers; examples/README.md's were made with this many.
STUDY_THREADS = 1


@dataclass
class Comparison:
    """One row of a study's table: what the study reported and what this run gives.

    Attributes:
        what: the quantity (e.g. "1-NN LOO accuracy, 3,143 + 3,143 images").
        study: the study's number or finding, as text.
        here: this run's value, as text.
        note: why the two may differ (data, network size, steps).
    """

    what: str
    study: str
    here: str
    note: str = ""


@dataclass
class StudyResult:
    """What a study command produced: the comparison rows, every number, and every file written."""

    study: str
    rows: list[Comparison]
    numbers: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--full``, ``--out``, ``--seed``, ``--threads``, ``--device``; the study's own flags default to ``None``
    (filled by :func:`resolve`), so ``--help`` lists both the short and the full value."""
    parser.add_argument("--full", action="store_true", help="the study's own settings (slow on a CPU)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: runs/study_<name>)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, training, sampling and plots")
    parser.add_argument(
        "--threads",
        type=int,
        default=STUDY_THREADS,
        help=f"CPU threads of torch and NumPy (default: {STUDY_THREADS}; results depend on it, so it is fixed)",
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")


def resolve(args: argparse.Namespace, short: Mapping[str, Any], full: Mapping[str, Any]) -> argparse.Namespace:
    """Fill every ``None`` flag named in ``short`` from ``full`` (with ``--full``) or ``short``; returns ``args``."""
    chosen = full if args.full else short
    for key, value in chosen.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def settings_help(key: str, short: Mapping[str, Any], full: Mapping[str, Any], text: str) -> str:
    """``text (short: 200; --full: 3750)`` for a flag's help."""
    return f"{text} (short: {short[key]}; --full: {full[key]})"


def common_flags(args: argparse.Namespace) -> list[str]:
    """The ``--seed``, ``--device`` and ``--threads`` flags to pass on to a trainer."""
    return ["--seed", str(args.seed), "--device", args.device, "--threads", str(args.threads)]


def _random_crop(photo: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """A square crop of ``photo`` (``(3, H, W)`` uint8) covering 15-60% of its short side, resized to ``size``,
    randomly flipped."""
    _, height, width = photo.shape
    side = int(min(height, width) * (0.15 + 0.45 * float(torch.rand((), generator=generator))))
    top = int(torch.randint(0, height - side + 1, (), generator=generator))
    left = int(torch.randint(0, width - side + 1, (), generator=generator))
    crop = photo[:, top : top + side, left : left + side].float().unsqueeze(0)
    crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    if float(torch.rand((), generator=generator)) < 0.5:
        crop = crop.flip(-1)
    return crop.round().clamp(0, 255).to(torch.uint8)


def photo_crops(count: int, size: int, seed: int) -> ImageData:
    """``count`` random square crops (``size`` x ``size`` RGB) of scikit-image's bundled colour photos: an
    offline stand-in for a folder of campus or face photos (outdoor scenes, a face, objects, textures)."""
    import skimage.data

    photos = [torch.from_numpy(np.ascontiguousarray(getattr(skimage.data, name)()[..., :3])) for name in PHOTOS]
    photos = [photo.permute(2, 0, 1) for photo in photos]
    generator = torch.Generator().manual_seed(seed)
    crops = [_random_crop(photos[index % len(photos)], size, generator) for index in range(count)]
    return ImageData(torch.stack(crops))


def photo_folder(folder: Path, count: int, size: int, seed: int) -> Path:
    """Write :func:`photo_crops` as PNGs under ``folder`` (unless it already holds ``count`` PNGs); returns it."""
    if len(list(folder.glob("*.png"))) != count:
        write_pngs(photo_crops(count, size, seed).images, folder)
    return folder


def coloured_digits(count: int, seed: int) -> ImageData:
    """``count`` MNIST digits (class-balanced, seeded) as 32x32 colour images: each digit padded by 2 pixels and
    painted in a random bright colour on a random dark background. Labels and class names are the digits."""
    digits = balanced_subset(mnist_digits(), count, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    strokes = F.pad(digits.images.float() / 255.0, (2, 2, 2, 2))  # (N, 1, 32, 32) in [0, 1]
    ink = 0.55 + 0.45 * torch.rand(len(digits), 3, 1, 1, generator=generator)
    paper = 0.35 * torch.rand(len(digits), 3, 1, 1, generator=generator)
    images = paper + (ink - paper) * strokes
    return ImageData(images.mul(255).round().clamp(0, 255).to(torch.uint8), digits.labels, digits.classes)


def labelled_folder(data: ImageData, folder: Path) -> Path:
    """Write labelled images as ``folder/<class>/00000.png`` (torchvision's ImageFolder layout); returns ``folder``."""
    assert data.labels is not None
    for label, name in enumerate(data.classes):
        write_pngs(data.images[data.labels == label], folder / name)
    return folder


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The resolved flags of a study run, JSON-ready (paths as text, ``--out`` left out: it names no setting)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in sorted(vars(args).items()) if k != "out"}


def write_summary(result: StudyResult, out: Path, run: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write ``summary.json`` (rows, numbers, files, and ``run``: the command, its settings, the thread count,
    the torch version) and ``summary.md`` (the comparison table), both atomically; print the table."""
    from rich.console import Console
    from rich.table import Table

    from gan.outputs import write_json
    from ganprobe.utils.atomic_files import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "study": result.study,
        "run": dict(run or {}),
        "rows": [vars(row) for row in result.rows],
        "numbers": result.numbers,
        "files": {name: str(path) for name, path in result.files.items()},
    }
    paths = {"summary_json": write_json(payload, out / "summary.json")}
    lines = ["| quantity | study reported | this run | note |", "|---|---|---|---|"]
    lines += [f"| {row.what} | {row.study} | {row.here} | {row.note} |" for row in result.rows]
    text = f"# {result.study}\n\n" + "\n".join(lines) + "\n"
    paths["summary_md"] = atomic_write(out / "summary.md", lambda handle: handle.write(text.encode()))
    table = Table(title=result.study, show_lines=False)
    for column in ("quantity", "study reported", "this run", "note"):
        table.add_column(column, overflow="fold")
    for row in result.rows:
        table.add_row(row.what, row.study, row.here, row.note)
    Console(width=140).print(table)
    print("files:")
    for name, path in {**result.files, **paths}.items():
        print(f"  {name:24s} {path}")
    return paths
