"""Two processes storing the same feature-cache entry at once, many times: the entry is always loadable and
correct (atomic write-then-rename), and no temporary file is left behind."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import torch

from ganprobe.extractors import get_extractor
from ganprobe.features.cache import FeatureCache, cache_key

ROUNDS = 40


def _key() -> dict:
    extractor = get_extractor("random-resnet18")
    return cache_key({"kind": "tensor", "count": 64, "sha256": "x"}, extractor, ["pool"], None)


def _features() -> dict[str, torch.Tensor]:
    return {"pool": torch.arange(64 * 512, dtype=torch.float32).reshape(64, 512)}


def _writer(directory: str, start: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    cache, key, features = FeatureCache(directory), _key(), _features()
    start.wait()
    for _ in range(ROUNDS):
        assert cache.store(key, features) is not None


def test_two_processes_store_the_same_entry(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [context.Process(target=_writer, args=(str(tmp_path), start)) for _ in range(2)]
    for writer in writers:
        writer.start()
    start.set()
    cache, key, expected = FeatureCache(tmp_path), _key(), _features()
    reads = 0
    while any(writer.is_alive() for writer in writers):  # read while they write: never a torn entry
        if cache.path_for(key).exists():
            loaded = cache.load(key)
            assert loaded is not None and torch.equal(loaded["pool"], expected["pool"])
            reads += 1
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    loaded = cache.load(key)
    assert loaded is not None and torch.equal(loaded["pool"], expected["pool"])
    assert [path.name for path in tmp_path.iterdir()] == [cache.path_for(key).name]  # no temporary files left
    assert reads > 0
