"""Evaluator: one backbone pass per image set feeds every metric; results equal standalone metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganprobe import InputError, KNNLOOAccuracy, LayerSeparability, get_extractor
from ganprobe.errors import UsageError
from ganprobe.features import FeatureCache
from ganprobe.features.stats import check_compatible, load_reference_stats, save_reference_stats
from ganprobe.metrics.registry import metric_classes
from ganprobe.run.evaluator import Evaluator, supported_metrics


class PassCounter:
    def __init__(self, extractor, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = extractor.forward_preprocessed

        def counted(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(extractor, "forward_preprocessed", counted)


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(24, 3, 32, 32, generator=gen), torch.rand(24, 3, 32, 32, generator=gen) * 0.6


def test_all_metrics_cost_one_pass_per_set(images, monkeypatch) -> None:
    extractor = get_extractor("random-resnet18")
    counter = PassCounter(extractor, monkeypatch)
    evaluator = Evaluator(extractor, seed=1, settings={"kid": {"subset_size": 10}})
    assert set(evaluator.metrics) == set(supported_metrics(extractor)) == set(metric_classes())
    assert evaluator.metrics["kid"].subset_size == 10
    real, fake = images
    evaluator.add(real, real=True, batch_size=8)
    evaluator.add(fake, real=False, batch_size=8)
    assert counter.calls == 6  # 3 batches per set, every layer of every metric from the same forward pass
    results = evaluator.compute()
    assert set(results) == set(metric_classes())


def test_results_equal_standalone_metrics(images) -> None:
    extractor = get_extractor("random-resnet18")
    real, fake = images
    evaluator = Evaluator(extractor, metrics=["knn_loo", "layer_separability"], layers=["layer1", "layer3"], seed=3)
    evaluator.add(real, real=True, batch_size=5)
    evaluator.add(fake, real=False, batch_size=24)
    got = evaluator.compute()
    knn = KNNLOOAccuracy(extractor=extractor)
    sep = LayerSeparability(extractor=extractor, layers=["layer1", "layer3"], seed=3)
    for metric in (knn, sep):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    assert float(got["knn_loo"]) == float(knn.compute())
    assert got["layer_separability"] == sep.compute()


def test_cache_makes_the_second_evaluation_of_a_real_set_free(tmp_path: Path, images, monkeypatch) -> None:
    extractor = get_extractor("random-resnet18")
    counter = PassCounter(extractor, monkeypatch)
    real, fake = images
    cache = FeatureCache(tmp_path / "cache")
    outputs = []
    for _ in range(2):
        evaluator = Evaluator(extractor, metrics=["knn_loo"], cache=cache)
        evaluator.add(real, real=True, batch_size=12)
        evaluator.add(fake, real=False, batch_size=12)
        outputs.append(float(evaluator.compute()["knn_loo"]))
    assert counter.calls == 4  # first run: 2 + 2 batches; second run: all from the cache
    assert outputs[0] == outputs[1]


def test_reference_stats_round_trip_and_compatibility(tmp_path: Path, images) -> None:
    extractor = get_extractor("random-resnet18")
    real, _ = images
    features = {"pool": extractor(real)["pool"], "layer2": extractor(real, layers="layer2")["layer2"]}
    path = save_reference_stats(tmp_path / "real_stats.npz", features, extractor, {"kind": "tensor"})
    loaded, meta = load_reference_stats(path)
    assert meta["extractor"] == "random-resnet18" and meta["count"] == 24
    for layer in features:
        assert torch.equal(loaded[layer], features[layer])
    check_compatible(meta, extractor, path)
    with pytest.raises(InputError, match="made with weights_sha256"):
        check_compatible(meta, get_extractor("random-resnet18", seed=5), path)
    with pytest.raises(InputError, match="does not exist"):
        load_reference_stats(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputError, match="not a readable ganprobe stats file"):
        load_reference_stats(tmp_path / "bad.npz")


def test_bad_arguments() -> None:
    extractor = get_extractor("random-resnet18")
    with pytest.raises(InputError, match="unknown"):
        Evaluator(extractor, metrics=["fid", "sharpness"])
    with pytest.raises(InputError, match="not evaluated"):
        Evaluator(extractor, metrics=["fid"], settings={"kid": {"subset_size": 10}})
    with pytest.raises(UsageError, match="unknown metric 'sharpness'"):
        Evaluator(extractor, metrics=["fid"], settings={"sharpness": {"k": 1}})
    with pytest.raises(UsageError, match="kid has no setting 'subsets'"):
        Evaluator(extractor, metrics=["kid"], settings={"kid": {"subsets": 10}})
    from ganprobe import ModuleExtractor

    no_logits = ModuleExtractor(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), layers=["0"], input_size=(8, 8))
    assert "is" not in supported_metrics(no_logits)
    with pytest.raises(InputError, match="logits"):
        Evaluator(no_logits, metrics=["is"])


def test_settings_naming_a_metric_are_checked_even_when_empty() -> None:
    # Before the settings= rename, metric_options={"kid": {}} for a run without KID raised; an empty (or unknown)
    # metric entry must not be silently accepted.
    extractor = get_extractor("random-resnet18")
    with pytest.raises(InputError, match="not evaluated"):
        Evaluator(extractor, metrics=["fid"], settings={"kid": {}})
    with pytest.raises(UsageError, match="unknown metric 'sharpness'"):
        Evaluator(extractor, metrics=["fid"], settings={"sharpness": {}})


def test_paths_accumulate_and_kid_subset_size_is_restored(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    folders = []
    for name, count in (("a", 3), ("b", 4)):
        folder = tmp_path / name
        folder.mkdir()
        for index in range(count):
            pixels = np.random.default_rng(index + count).integers(0, 256, (16, 16, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{index}.png")
        folders.append(folder)
    evaluator = Evaluator("random-resnet18", metrics=["memorization", "kid"])
    evaluator.add(torch.rand(6, 3, 16, 16), real=True)
    evaluator.add(folders[0], real=False, num_workers=0)
    evaluator.add(folders[1], real=False, num_workers=0)
    evaluator.add(torch.rand(2, 3, 16, 16), real=False)
    with pytest.warns(UserWarning, match="subset_size 1000 lowered to 6"):
        evaluator.compute()
    assert evaluator.metrics["kid"].subset_size == 1000  # lowered for that compute only, never mutated
    pairs = evaluator.metrics["memorization"].most_suspicious(9)
    paths = {pair.fake_index: pair.fake_path for pair in pairs}
    assert paths[0].endswith("a/0.png") and paths[3].endswith("b/0.png") and paths[7] is None


def test_module_extractor_grayscale_through_every_path_and_never_cached(tmp_path: Path) -> None:
    from ganprobe import ModuleExtractor

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU())
    extractor = ModuleExtractor(net, layers=["1"], input_size=(12, 12), channels=1)
    cache = FeatureCache(tmp_path / "cache")
    images = torch.rand(5, 3, 12, 12)
    evaluator = Evaluator(extractor, metrics=["knn_loo"], cache=cache)
    first = evaluator.add(images, real=True)["1"]
    torch.testing.assert_close(first, extractor(images)["1"])
    with torch.no_grad():
        net[0].weight.mul_(2)  # the discriminator trains on: the next extraction must see new features
    second = Evaluator(extractor, metrics=["knn_loo"], cache=cache).add(images, real=True)["1"]
    assert not torch.equal(first, second)
    assert not (tmp_path / "cache").exists()
