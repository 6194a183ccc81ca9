"""A cached superset of layers serves any subset: changing ``--metrics`` does not run the backbone again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_feature_cache import write_images

from ganprobe.errors import FeatureCacheWarning
from ganprobe.extractors import get_extractor
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.features import FeatureCache, extract_features
from ganprobe.front_ends.cli import main

LAYERS = ["layer1", "layer2", "pool"]


class Forwards:
    """Counts backbone passes; with ``forbid``, a pass raises (a cache hit must not run the backbone)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.forbid = False
        original = FeatureExtractor.forward_preprocessed

        def counted(extractor, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            if self.forbid:
                raise AssertionError("the backbone ran on what should have been a cache hit")
            self.calls += 1
            return original(extractor, *args, **kwargs)

        monkeypatch.setattr(FeatureExtractor, "forward_preprocessed", counted)


def extract(folder: Path, layers: list[str], cache: FeatureCache | None) -> dict[str, torch.Tensor]:
    extractor = get_extractor("random-resnet18", seed=0)
    return extract_features(extractor, folder, layers, batch_size=4, num_workers=0, cache=cache)


def test_any_subset_of_cached_layers_hits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_images(tmp_path / "real", 6, 0)
    fresh = extract(folder, LAYERS, None)
    cache = FeatureCache(tmp_path / "cache")
    extract(folder, LAYERS, cache)
    forwards = Forwards(monkeypatch)
    forwards.forbid = True
    for subset in (["layer1"], ["layer2", "pool"], ["pool", "layer1"], LAYERS):
        served = extract(folder, subset, cache)
        assert sorted(served) == sorted(subset)
        for layer in subset:
            assert torch.equal(served[layer], fresh[layer]), layer
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1  # served from the one entry, nothing new stored


def test_a_layer_no_entry_holds_misses_and_extracts_every_wanted_layer(tmp_path: Path, monkeypatch) -> None:
    folder = write_images(tmp_path / "real", 6, 0)
    cache = FeatureCache(tmp_path / "cache")
    extract(folder, ["layer1", "pool"], cache)
    forwards = Forwards(monkeypatch)
    served = extract(folder, ["layer1", "layer3"], cache)
    assert forwards.calls == 2 and sorted(served) == ["layer1", "layer3"]
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2  # stored as an entry of its own
    forwards.forbid = True
    extract(folder, ["layer3"], cache)  # now served by the new entry
    extract(folder, ["pool"], cache)  # and still by the first
    # a different source (other num_samples, other folder) is never served by another source's superset
    forwards.forbid = False
    extractor = get_extractor("random-resnet18", seed=0)
    extract_features(extractor, folder, ["pool"], batch_size=4, num_samples=4, num_workers=0, cache=cache)
    assert forwards.calls == 3


def test_a_corrupt_superset_is_warned_about_and_recomputed(tmp_path: Path, monkeypatch) -> None:
    folder = write_images(tmp_path / "real", 6, 0)
    fresh = extract(folder, LAYERS, None)
    cache = FeatureCache(tmp_path / "cache")
    extract(folder, LAYERS, cache)
    (entry,) = (tmp_path / "cache").glob("*.pt")
    payload = torch.load(entry, weights_only=True)
    payload["features"]["layer2"] = payload["features"]["layer2"] + 1  # not a requested layer: still refused
    torch.save(payload, entry)
    forwards = Forwards(monkeypatch)
    with pytest.warns(FeatureCacheWarning, match="checksum mismatch in layer 'layer2'"):
        served = extract(folder, ["pool"], cache)
    assert forwards.calls == 2 and torch.equal(served["pool"], fresh["pool"])
    forwards.forbid = True
    assert torch.equal(extract(folder, ["pool"], cache)["pool"], fresh["pool"])  # the recomputed entry hits


def test_entry_names_group_the_layer_sets_of_one_input(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "real", 4, 0)
    cache = FeatureCache(tmp_path / "cache")
    extract(folder, ["pool"], cache)
    extract(folder, ["layer1"], cache)
    names = sorted(path.stem for path in (tmp_path / "cache").glob("*.pt"))
    assert len(names) == 2 and names[0].split("-")[0] == names[1].split("-")[0]


def test_cli_fewer_metrics_after_all_metrics_does_not_extract_again(tmp_path: Path, monkeypatch) -> None:
    fake, real = write_images(tmp_path / "fake", 12, 1), write_images(tmp_path / "real", 12, 2)
    args = ["evaluate", str(fake), str(real), "--extractor", "random-resnet18", "--quiet", "--workers", "0"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--permutations", "10"]
    assert main([*args, "--json", str(tmp_path / "all.json")]) == 0
    forwards = Forwards(monkeypatch)
    forwards.forbid = True
    assert main([*args, "--metrics", "fid", "knn_loo", "--json", str(tmp_path / "some.json")]) == 0
    every = {record["key"]: record["value"] for record in json.loads((tmp_path / "all.json").read_text())["metrics"]}
    some = {record["key"]: record["value"] for record in json.loads((tmp_path / "some.json").read_text())["metrics"]}
    assert some and all(some[key] == every[key] for key in some)
