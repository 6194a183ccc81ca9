"""InceptionScore and its functional twin, against torchmetrics' InceptionScore on the same logits."""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict

import pytest
import torch
from torch import nn
from torchmetrics.image.inception import InceptionScore as TorchmetricsInceptionScore

from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.inception_fid.weights import FID_INCEPTION_SHA256
from ganprobe.extractors.module import ModuleExtractor
from ganprobe.extractors.preprocessing import Preprocessing
from ganprobe.functional.inception_score import inception_score
from ganprobe.metrics.inception_score import InceptionScore
from ganprobe.metrics.records import Estimate

# The digest prefix of pytorch-fid's official weights: only these give "published" numbers.
OFFICIAL_DIGEST = FID_INCEPTION_SHA256  # only the official file gives "published" numbers


def torchmetrics_score(logits: torch.Tensor, splits: int, seed: int) -> tuple[float, float]:
    """torchmetrics' IS of precomputed logits: an identity "feature network" returns them unchanged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its "all features are kept in memory" notice
        metric = TorchmetricsInceptionScore(feature=nn.Identity(), splits=splits)
    metric.update(logits)
    torch.manual_seed(seed)  # compute() shuffles with the global RNG
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # std of one split
        mean, std = metric.compute()
    return float(mean), float(std)


def is_label(metric: InceptionScore) -> str:
    """The label a report gives the metric's IS (from its declaration and comparability, without computing)."""
    output = metric.outputs[0]
    assert output.key == "is"
    return metric.output_record(output, Estimate(0.0)).label


def random_logits(n: int, classes: int, seed: int, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(n, classes, generator=torch.Generator().manual_seed(seed)) * scale


@pytest.mark.parametrize(("n", "classes", "scale"), [(50, 10, 5.0), (200, 1008, 3.0), (64, 1000, 0.1)])
def test_one_split_matches_torchmetrics(n: int, classes: int, scale: float) -> None:
    logits = random_logits(n, classes, n, scale)
    expected, _ = torchmetrics_score(logits, splits=1, seed=0)  # one split: the shuffle cannot matter
    mean, std = inception_score(logits, splits=1)
    assert float(mean) == pytest.approx(expected, rel=1e-5)
    assert math.isnan(float(std))  # unbiased std of one value, as torchmetrics


@pytest.mark.parametrize(("n", "splits", "seed"), [(200, 10, 0), (300, 3, 7), (120, 8, 123)])
def test_seeded_splits_match_torchmetrics_permutation(n: int, splits: int, seed: int) -> None:
    logits = random_logits(n, 1008, seed + n)
    expected_mean, expected_std = torchmetrics_score(logits, splits, seed)
    mean, std = inception_score(logits, splits, seed=seed)
    assert float(mean) == pytest.approx(expected_mean, rel=1e-5)
    assert float(std) == pytest.approx(expected_std, rel=1e-5)
    # a different seed gives different splits, hence a different std
    assert float(inception_score(logits, splits, seed=seed + 1)[1]) != pytest.approx(float(std), rel=1e-6)


def test_known_values_and_order() -> None:
    assert float(inception_score(torch.zeros(40, 10), splits=4)[0]) == pytest.approx(1.0)  # p(y|x) = p(y)
    confident = torch.eye(10).repeat(10, 1) * 100  # each split holds every class once, confidently
    mean, std = inception_score(confident, splits=10)
    assert float(mean) == pytest.approx(10.0, rel=1e-6)
    assert float(std) == pytest.approx(0.0, abs=1e-6)
    # seed=None keeps the order: class-sorted samples make every split one class (IS 1); a shuffle restores it
    sorted_by_class = torch.eye(10).repeat_interleave(10, dim=0) * 100
    assert float(inception_score(sorted_by_class, splits=10)[0]) == pytest.approx(1.0, abs=1e-6)
    assert float(inception_score(sorted_by_class, splits=10, seed=0)[0]) > 4.0
    # with one split any shuffle gives the same score
    logits = random_logits(90, 20, 1)
    assert float(inception_score(logits, 1, seed=5)[0]) == pytest.approx(float(inception_score(logits, 1)[0]))


def test_uneven_splits_use_floor_boundaries() -> None:
    logits = random_logits(23, 12, 2).double()
    expected = []
    for part in range(4):  # rows [s N // 4, (s + 1) N // 4): sizes 5, 6, 6, 6
        chunk = logits[part * 23 // 4 : (part + 1) * 23 // 4].softmax(dim=1)
        kl = (chunk * (chunk.log() - chunk.mean(dim=0, keepdim=True).log())).sum(dim=1).mean()
        expected.append(kl.exp())
    mean, std = inception_score(logits, splits=4)
    assert float(mean) == pytest.approx(float(torch.stack(expected).mean()), rel=1e-12)
    assert float(std) == pytest.approx(float(torch.stack(expected).std()), rel=1e-12)


def test_underflowing_classes_give_finite_scores() -> None:
    logits = torch.zeros(20, 5, dtype=torch.float64)
    logits[:, 0] = -1e4  # class 0 has probability exactly 0 everywhere: 0 * log 0 must count as 0
    assert float(inception_score(logits, splits=2)[0]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("logits", "kwargs"),
    [
        (torch.randn(10, 5), {"splits": 0}),
        (torch.randn(10, 5), {"splits": 11}),
        (torch.randn(10, 5), {"splits": True}),
        (torch.randn(10, 5), {"seed": 1.5}),
        (torch.randn(10), {}),
        (torch.full((10, 5), float("nan")), {"splits": 2}),
        (torch.ones(10, 5, dtype=torch.long), {"splits": 2}),
    ],
)
def test_functional_rejects_bad_input(logits: torch.Tensor, kwargs: dict) -> None:
    with pytest.raises(InputError):
        inception_score(logits, **kwargs)


def test_metric_on_precomputed_logits() -> None:
    logits = random_logits(200, 1008, 4)
    metric = InceptionScore(splits=10, seed=3, extractor=None)
    metric.update(logits[:120])
    metric.update(logits[120:], real=False)
    metric.update(random_logits(50, 1008, 5, scale=0.1), real=True)  # kept for compute_real only
    result = metric.compute()
    assert set(result) == {"is", "is_std"} and all(value.ndim == 0 for value in result.values())
    mean, std = result["is"], result["is_std"]
    expected_mean, expected_std = inception_score(logits, 10, seed=3)
    assert float(mean) == float(expected_mean) and float(std) == float(expected_std)
    assert float(mean) == pytest.approx(torchmetrics_score(logits, 10, seed=3)[0], rel=1e-5)
    real_result = metric.compute_real()
    assert set(real_result) == {"is", "is_std"}
    assert float(real_result["is"]) < 1.2  # near-uniform predictions
    assert is_label(metric) == "IS on precomputed logits" and not metric.comparable_with_published
    assert metric.higher_is_better is True


def test_metric_needs_generated_samples() -> None:
    metric = InceptionScore(splits=2, extractor=None)
    metric.update(torch.randn(10, 5), real=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InputError, match="no fake samples"):
            metric.compute()
    metric.update(torch.randn(1, 5))
    with pytest.raises(InputError, match="splits=2"):
        metric.compute()
    with pytest.raises(InputError):
        InceptionScore(splits=0, extractor=None)
    with pytest.raises(InputError):
        InceptionScore(extractor=None, unbiased_logits=True)


def tiny_extractor(name: str) -> FeatureExtractor:
    """A two-layer stand-in with the FID Inception's tap names: pool (3 channel means) -> fc (10 logits)."""
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(pool=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), fc=nn.Linear(3, 10)))
    nn.init.normal_(model.fc.bias, std=5.0)
    return FeatureExtractor(
        name=name,
        weights_sha256=OFFICIAL_DIGEST if name == "inception-fid" else None,
        model=model,
        taps={"pool": "pool", "logits": "fc"},
        preprocessing=Preprocessing(size=(8, 8), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), pipeline="tf"),
        default_layer="pool",
        block_layers=("pool",),
        logits_layer="logits",
    )


def test_fid_inception_scores_unbiased_logits() -> None:
    extractor = tiny_extractor("inception-fid")
    images = torch.rand(20, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    metric = InceptionScore(splits=10, extractor=extractor)
    assert metric.unbiased_logits and is_label(metric) == "IS" and metric.comparable_with_published
    metric.update(images)
    features = extractor(images, layers=["pool", "logits"])
    unbiased = features["pool"] @ extractor.model.fc.weight.T  # torch-fidelity's "logits_unbiased"
    torch.testing.assert_close(metric.fake_0[0], unbiased, rtol=1e-5, atol=1e-5)
    assert float(metric.compute()["is"]) == pytest.approx(float(inception_score(unbiased, 10, seed=0)[0]), rel=1e-5)
    # the same logits reach it through update_features (one extraction pass feeding many metrics)
    shared = InceptionScore(splits=10, extractor=extractor)
    shared.update_features(features)
    torch.testing.assert_close(shared.fake_0[0], metric.fake_0[0])
    biased = InceptionScore(splits=5, extractor=extractor, unbiased_logits=False)
    biased.update(images)
    torch.testing.assert_close(biased.fake_0[0], features["logits"])
    assert not biased.comparable_with_published and is_label(biased) == "IS on inception-fid logits"
    five_splits = InceptionScore(splits=5, extractor=extractor)
    assert not five_splits.comparable_with_published  # published: 10 splits
    assert is_label(five_splits) == "IS on inception-fid logits"  # not "IS": only the published protocol is


def test_other_extractors_keep_their_bias_and_are_labelled() -> None:
    metric = InceptionScore(extractor="random-resnet18")
    assert metric.layer == "logits" and not metric.unbiased_logits
    assert is_label(metric) == "IS on random-resnet18 logits" and not metric.comparable_with_published
    unbiased = InceptionScore(extractor=metric.extractor, unbiased_logits=True, splits=2)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    unbiased.update(images)
    features = metric.extractor(images, layers=["pool", "logits"])
    torch.testing.assert_close(unbiased.fake_0[0], features["pool"] @ metric.extractor.model.fc.weight.T)
    random_fid = InceptionScore(extractor=tiny_extractor("random-inception-fid"))
    assert random_fid.unbiased_logits and is_label(random_fid) == "IS on random-inception-fid logits"
    assert not random_fid.comparable_with_published


def test_extractor_without_logits_is_rejected() -> None:
    extractor = ModuleExtractor(nn.Sequential(nn.Conv2d(3, 4, 3)), layers=["0"], input_size=(8, 8))
    with pytest.raises(InputError, match="no logits layer"):
        InceptionScore(extractor=extractor)
