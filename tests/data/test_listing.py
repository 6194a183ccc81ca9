"""One listing per source per run: a folder is walked (and its files stat'ed) once, whatever stages read it."""

from __future__ import annotations

import builtins
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganprobe.data.folder as folder_module
from ganprobe import evaluate, extract_features, get_extractor
from ganprobe.data import FolderListing, iter_batches, list_folder, list_images, source_length
from ganprobe.errors import ImageFolderError, SkippedImagesWarning
from ganprobe.features import FeatureCache, source_fingerprint
from ganprobe.front_ends.cli import main
from ganprobe.run.provenance import describe_source

# Enough images for every default metric's minimum sample count (as in test_cli.py).
COUNT = 12


def write_folder(folder: Path, count: int, seed: int, bright: bool) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        pixels = rng.integers(150, 256, (24, 24, 3)) if bright else rng.integers(0, 100, (24, 24, 3))
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"img_{index:03d}.png")
    return folder


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    return write_folder(tmp_path / "fake", COUNT, 1, False), write_folder(tmp_path / "real", COUNT, 2, True)


class CountingWalks:
    """Counts the walks of each folder (``walk_files`` runs once per walk) and the per-file stat calls and opens."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
        self.walks: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        self.opens: Counter[str] = Counter()
        roots = tuple(os.fspath(folder) for folder in folders)

        def image_below(path) -> bool:  # noqa: ANN001
            return (
                isinstance(path, (str, os.PathLike))
                and os.fspath(path).startswith(roots)
                and str(path).endswith(".png")
            )

        walk, stat, open_ = folder_module.walk_files, os.stat, builtins.open

        def counted_walk(root: Path):
            self.walks[os.fspath(root)] += 1
            return walk(root)

        def counted_stat(path, *args, **kwargs):
            if image_below(path):
                self.stats[os.fspath(path)] += 1
            return stat(path, *args, **kwargs)

        def counted_open(path, *args, **kwargs):
            if image_below(path):
                self.opens[os.fspath(path)] += 1
            return open_(path, *args, **kwargs)

        monkeypatch.setattr(folder_module, "walk_files", counted_walk)
        monkeypatch.setattr(os, "stat", counted_stat)
        monkeypatch.setattr(builtins, "open", counted_open)

    def reset(self) -> None:
        self.walks.clear()
        self.stats.clear()
        self.opens.clear()


def cli_evaluate(fake: Path, real: Path, tmp_path: Path, *extra: str) -> dict:
    report = tmp_path / "report.json"
    argv = ["evaluate", str(fake), str(real), "--extractor", "random-resnet18", "--cache-dir", str(tmp_path / "cache")]
    argv += ["--quiet", "--workers", "0", "--batch-size", "5", "--permutations", "10", "--json", str(report), *extra]
    assert main(argv) == 0
    return json.loads(report.read_text())


def test_cli_evaluate_walks_each_folder_once_on_a_miss_and_on_a_hit(folders, tmp_path, monkeypatch) -> None:
    fake, real = folders
    counted = CountingWalks(monkeypatch, fake, real)
    first = cli_evaluate(fake, real, tmp_path)
    assert counted.walks == {str(fake): 1, str(real): 1}  # a cache miss: listed once, then decoded
    counted.reset()
    second = cli_evaluate(fake, real, tmp_path)
    assert counted.walks == {str(fake): 1, str(real): 1}  # a cache hit
    # one stat pass per run: the cache key and the report's provenance share the listing's file sizes and times
    assert set(counted.stats.values()) == {1} and len(counted.stats) == 2 * COUNT
    assert first["inputs"] == second["inputs"] and first["inputs"]["fake"]["path"] == str(fake)


def test_hash_contents_reads_each_file_once_on_a_hit(folders, tmp_path, monkeypatch) -> None:
    fake, real = folders
    cli_evaluate(fake, real, tmp_path, "--metrics", "fid", "--hash-contents")
    counted = CountingWalks(monkeypatch, fake, real)
    cli_evaluate(fake, real, tmp_path, "--metrics", "fid", "--hash-contents")
    assert counted.walks == {str(fake): 1, str(real): 1}
    assert set(counted.opens.values()) == {1} and len(counted.opens) == 2 * COUNT  # hashed once
    assert set(counted.stats.values()) == {1}


def test_cli_stats_walks_the_folder_once(folders, tmp_path, monkeypatch) -> None:
    _, real = folders
    counted = CountingWalks(monkeypatch, real)
    argv = ["stats", str(real), "-o", str(tmp_path / "real.npz"), "--extractor", "random-resnet18", "--quiet"]
    argv += ["--workers", "0", "--cache-dir", str(tmp_path / "cache")]
    for _ in range(2):  # a miss, then a hit
        counted.reset()
        assert main(argv) == 0
        assert counted.walks == {str(real): 1}


def test_listed_and_plain_path_inputs_give_the_same_report(folders) -> None:
    fake, real = folders
    options = {"extractor": get_extractor("random-resnet18", seed=0), "permutations": 10, "num_workers": 0}
    options["metrics"] = ["fid", "knn_loo", "memorization", "precision_recall"]
    by_path = evaluate(str(fake), str(real), **options).to_json()
    by_listing = evaluate(list_folder(str(fake)), list_folder(real), **options).to_json()
    for report in (by_path, by_listing):
        del report["timings"]
    assert by_listing == by_path
    assert by_listing["inputs"]["fake"]["path"] == str(fake)  # as given, never the expanded or resolved path


def test_a_listing_is_a_sequence_of_files_that_reads_as_its_path(folders) -> None:
    fake, _ = folders
    listing = list_folder(fake)
    assert list_folder(listing) is listing and FolderListing.of(listing) is listing
    assert list(listing) == list_images(fake) and len(listing) == COUNT and listing[0] == list_images(fake)[0]
    assert os.fspath(listing) == str(fake) == str(listing) and Path(listing) == fake and listing.root == fake
    assert list_images(listing) == list(listing) and source_length(listing) == COUNT
    assert source_length(listing, 5) == 5
    assert source_fingerprint(listing) == source_fingerprint(fake)
    assert source_fingerprint(listing, content_hash=True) == source_fingerprint(fake, content_hash=True)
    assert describe_source(listing, COUNT) == describe_source(fake, COUNT)
    # a slice is a listing of those files (what one rank of a sharded run extracts), cheap to take
    shard = listing[4:8]
    assert isinstance(shard, FolderListing) and len(shard) == 4 and list(shard) == list(listing)[4:8]
    assert str(shard) == str(fake) and shard.root == listing.root
    assert source_fingerprint(shard)["count"] == 4
    (batch,) = iter_batches(shard, batch_size=8, num_workers=0)
    (whole,) = iter_batches(fake, batch_size=COUNT, num_workers=0)
    assert torch.equal(batch, whole[4:8])


def test_a_path_gets_the_same_listing_rules_and_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageFolderError, match="folder does not exist"):
        list_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageFolderError, match="no image files found"):
        list_folder(tmp_path / "empty")


def test_resume_and_skipping_work_on_one_listing(folders, tmp_path, monkeypatch) -> None:
    fake, _ = folders
    (fake / "img_005.png").write_bytes(b"not a png")
    extractor = get_extractor("random-resnet18", seed=0)
    listing = list_folder(fake)
    counted = CountingWalks(monkeypatch, fake)
    skipped: list[str] = []
    cache = FeatureCache(tmp_path / "cache")
    with pytest.warns(SkippedImagesWarning):
        by_listing = extract_features(
            extractor, listing, ["pool"], batch_size=4, num_workers=0, cache=cache, strict=False, skipped=skipped
        )
    assert skipped == [str(fake / "img_005.png")] and by_listing["pool"].shape[0] == COUNT - 1
    assert counted.walks == {}  # the listing was made before: nothing walks the folder again
    with pytest.raises(ImageFolderError, match="img_005"):
        extract_features(extractor, listing, ["pool"], batch_size=4, num_workers=0, cache=cache)
    with pytest.warns(SkippedImagesWarning):
        by_path = extract_features(extractor, fake, ["pool"], batch_size=4, num_workers=0, strict=False)
    assert torch.equal(by_listing["pool"], by_path["pool"])
