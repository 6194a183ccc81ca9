"""The DCGAN-64 that studies §1 (campus) and §2 (faces) both evaluate: trained once, reused by both.

The two studies train the same 64x64 DCGAN with the same flags and export the same samples, so the run folder is
cached, keyed by everything that decides its files: the trainer's flags, the training images (the offline photo
crops' count and seed, or the bytes of every file of ``--data``), the source of the code that trains and exports,
and the torch version. A run is trained into a private temporary folder, its ``manifest.json`` (SHA-256 of every
file) written last, and the folder renamed into place in one step, so a half-written entry is never visible.

Trust model: an entry is reused only when it is a real folder (never a symbolic link), holds no links, and every
file matches its manifest; an entry that fails the check is trained again. Each study copies the entry into its
own ``OUT/train/`` (the copy is the study's, the cache stays untouched).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

from gan import dcgan64
from gan.studies.common import common_flags, photo_folder

# Source files whose code decides the trained networks and the exported images.
SOURCES = ("cli.py", "data.py", "dcgan64.py", "loop.py", "losses.py", "models.py", "monitor.py", "studies/common.py")
MANIFEST = "manifest.json"
PREFIX = "dcgan64-"


def training_flags(args: argparse.Namespace) -> list[str]:
    """The ``train_dcgan64.py`` flags of a study (without ``--data`` and ``--out``, which name places)."""
    flags = ["--width", str(args.width), "--batch-size", str(args.batch_size), "--held-out", str(args.held_out)]
    flags += ["--export-samples", str(args.held_out), "--eval-samples", str(min(64, args.held_out))]
    flags += ["--extractor", args.extractor, "--log-every", "10", "--grid-every", "5"]
    flags += ["--steps", str(args.steps)] if args.steps else ["--epochs", str(args.epochs)]
    flags += ["--eval-every", str(10**9)]  # one evaluation, at the last step (the study's metrics come after)
    return [*flags, *common_flags(args)]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    """Every file under ``folder`` (sorted, relative); raises ``ValueError`` on a symbolic link anywhere inside."""
    found = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        for name in [*dirs, *names]:
            path = Path(root) / name
            if path.is_symlink():
                raise ValueError(f"{path}: a symbolic link inside a cached run (links are never followed)")
        found += [(Path(root) / name).relative_to(folder) for name in names]
    return sorted(found)


def cache_key(args: argparse.Namespace) -> str:
    """Hex digest of the training flags, the training images, the training code and the torch version."""
    import torch

    digest = hashlib.sha256(json.dumps(training_flags(args)).encode())
    if args.data is None:
        digest.update(f"photo crops {args.images} seed {args.seed}".encode())
    else:
        for relative in _files(Path(args.data)):
            digest.update(f"{relative}\0{_sha256(Path(args.data) / relative)}\0".encode())
    code = Path(__file__).resolve().parents[1]
    for name in SOURCES:
        digest.update((code / name).read_bytes())
    digest.update(torch.__version__.encode())
    return digest.hexdigest()


def verified(entry: Path) -> bool:
    """Whether ``entry`` is a real folder, holds no links, and every file matches ``manifest.json``."""
    if entry.is_symlink() or not entry.is_dir():
        return False
    try:
        files = _files(entry)
        manifest = json.loads((entry / MANIFEST).read_text())
    except (ValueError, OSError):
        return False
    listed = {Path(name) for name in manifest}
    if listed != set(files) - {Path(MANIFEST)}:
        return False
    return all(_sha256(entry / name) == digest for name, digest in manifest.items())


def _train_into(folder: Path, args: argparse.Namespace) -> None:
    """Train and export into ``folder`` (fresh), then write its manifest last."""
    data = args.data or photo_folder(folder / "data", args.images, 64, args.seed)
    dcgan64.run(["--data", str(data), "--out", str(folder / "run"), *training_flags(args)])
    manifest = {str(name): _sha256(folder / name) for name in _files(folder)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


def cached_run(args: argparse.Namespace, cache: Path) -> Path:
    """The cache entry (a folder with ``run/``, the DCGAN-64 run folder) for ``args``: reused when it verifies,
    else trained now. Raises ``SystemExit`` when ``cache`` or the entry is a symbolic link."""
    for path in (cache, *cache.parents):
        if path.is_symlink():
            raise SystemExit(f"error: --cache {cache}: {path} is a symbolic link; give a real folder")
    key = cache_key(args)
    entry = cache / f"{PREFIX}{key[:20]}"
    if entry.is_symlink():
        raise SystemExit(f"error: {entry}: a symbolic link in the DCGAN-64 cache; remove it")
    if verified(entry):
        print(f"reusing the DCGAN-64 trained with the same settings: {entry}")
        return entry
    cache.mkdir(parents=True, exist_ok=True)
    scratch = cache / f".{entry.name}.{os.getpid()}.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        _train_into(scratch, args)
        if entry.exists():  # a stale or broken entry: replace it
            shutil.rmtree(entry)
        os.replace(scratch, entry)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return entry


def train_and_export(args: argparse.Namespace, out: Path) -> tuple[Path, Path, dict[str, Path]]:
    """Train DCGAN-64 (or reuse the cached run of the same settings) and copy the run to ``out/train``.

    Returns:
        The exported fake and real PNG folders under ``out/train/export/`` and ``{name: file}`` of the run's final
        sample grid and plots.
    """
    cache = Path(args.cache) if args.cache is not None else out.parent / "dcgan64_cache"
    entry = cached_run(args, cache)
    train = out / "train"
    if train.is_symlink():
        raise SystemExit(f"error: {train}: a symbolic link; the study writes its own copy of the run there")
    if train.exists():
        shutil.rmtree(train)
    shutil.copytree(entry / "run", train, symlinks=True)
    files = {
        "train_final_grid": train / "samples" / "final.png",
        "train_metrics_plot": train / "plots" / "metrics.png",
        "train_losses_plot": train / "plots" / "losses.png",
    }
    return train / "export" / "fake", train / "export" / "real", files
