"""The on-disk feature cache: hits reuse features exactly; any change to input, weights or preprocessing misses."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprobe import extract_features, get_extractor
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.features import FeatureCache


def write_images(folder: Path, count: int, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3)).astype(np.uint8)).save(folder / f"{index}.png")
    return folder


class CountingPasses:
    """Counts how many batches go through the backbone."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches = 0
        original = FeatureExtractor.forward_preprocessed

        def counted(extractor, *args, **kwargs):
            self.batches += 1
            return original(extractor, *args, **kwargs)

        monkeypatch.setattr(FeatureExtractor, "forward_preprocessed", counted)


@pytest.fixture
def extractor():
    return get_extractor("random-resnet18", seed=0)


def extract(extractor, source, cache, layers=("layer1", "pool")):
    return extract_features(extractor, source, list(layers), batch_size=4, num_workers=0, cache=cache)


def test_hit_returns_identical_features_without_a_pass(tmp_path, extractor, monkeypatch) -> None:
    folder = write_images(tmp_path / "real", 6, 0)
    cache = FeatureCache(tmp_path / "cache")
    passes = CountingPasses(monkeypatch)
    first = extract(extractor, folder, cache)
    assert passes.batches == 2 and len(list((tmp_path / "cache").glob("*.pt"))) == 1
    second = extract(extractor, folder, cache)
    assert passes.batches == 2  # served from the cache
    for layer in first:
        assert torch.equal(first[layer], second[layer])
    tensor = torch.rand(5, 3, 16, 16)
    extract(extractor, tensor, cache)
    extract(extractor, tensor.clone(), cache)
    assert passes.batches == 4  # tensors are keyed by content: the clone hits
    extract(extractor, tensor * 0.99, cache)
    assert passes.batches == 6


def test_changed_file_weights_preprocessing_or_layers_miss(tmp_path, extractor, monkeypatch) -> None:
    folder = write_images(tmp_path / "real", 4, 1)
    cache = FeatureCache(tmp_path / "cache")
    passes = CountingPasses(monkeypatch)
    extract(extractor, folder, cache)
    assert passes.batches == 1
    # a changed file (new content and mtime)
    write_images(tmp_path / "other", 1, 9)
    os.replace(tmp_path / "other" / "0.png", folder / "2.png")
    changed = extract(extractor, folder, cache)
    assert passes.batches == 2
    # other weights (another seed -> another weights digest)
    extract(get_extractor("random-resnet18", seed=1), folder, cache)
    assert passes.batches == 3
    # other preprocessing (same weights, other input size)
    resized = get_extractor("random-resnet18", seed=0)
    resized.preprocessing = type(resized.preprocessing)(
        size=(112, 112), mean=resized.preprocessing.mean, std=resized.preprocessing.std
    )
    extract(resized, folder, cache)
    assert passes.batches == 4
    # another execution backend, then another memory layout (features differ at float32 round-off: not served from
    # the other execution's entry)
    assert extractor.execution == "onnxruntime float32"
    extract(get_extractor("random-resnet18", seed=0, backend="torch"), folder, cache)
    assert passes.batches == 5
    extract(get_extractor("random-resnet18", seed=0, backend="torch", channels_last=False), folder, cache)
    assert passes.batches == 6
    # other layers
    extract(extractor, folder, cache, layers=("layer2",))
    assert passes.batches == 7
    # and the original configuration still hits, with the changed file's features
    again = extract(extractor, folder, cache)
    assert passes.batches == 7
    assert torch.equal(again["pool"], changed["pool"])


def test_truncated_or_foreign_entry_is_detected_and_recomputed(tmp_path, extractor, monkeypatch) -> None:
    folder = write_images(tmp_path / "real", 4, 2)
    cache = FeatureCache(tmp_path / "cache")
    passes = CountingPasses(monkeypatch)
    first = extract(extractor, folder, cache)
    (entry,) = (tmp_path / "cache").glob("*.pt")
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    with pytest.warns(UserWarning, match="unreadable feature-cache entry"):
        second = extract(extractor, folder, cache)
    assert passes.batches == 2
    assert torch.equal(first["pool"], second["pool"])
    # an entry whose stored key differs (e.g. copied from another machine's cache) is not used
    payload = torch.load(entry, weights_only=True)
    payload["key"] = payload["key"].replace("random-resnet18", "resnet18")
    torch.save(payload, entry)
    with pytest.warns(UserWarning, match="does not match its key"):
        extract(extractor, folder, cache)
    assert passes.batches == 3
    # and afterwards the entry is healthy again
    extract(extractor, folder, cache)
    assert passes.batches == 3


def test_disabled_cache_and_uncacheable_sources(tmp_path, extractor, monkeypatch) -> None:
    folder = write_images(tmp_path / "real", 3, 3)
    cache = FeatureCache(tmp_path / "cache", enabled=False)
    passes = CountingPasses(monkeypatch)
    extract(extractor, folder, cache)
    extract(extractor, folder, cache)
    assert passes.batches == 2 and not (tmp_path / "cache").exists()
    on = FeatureCache(tmp_path / "cache2")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.rand(4, 3, 16, 16)), batch_size=2)
    extract(extractor, loader, on)
    extract(extractor, loader, on)
    assert passes.batches == 6 and not (tmp_path / "cache2").exists()


def test_default_location_is_under_the_cache_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GANPROBE_CACHE_DIR", str(tmp_path / "gp"))
    assert FeatureCache().directory == tmp_path / "gp" / "features"
