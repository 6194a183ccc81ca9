"""The metric contract tester: one table of cases, one set of checks that every ganprobe metric goes through.

In the spirit of torchmetrics' ``MetricTester``: each :class:`Case` says how to build a metric, what data it takes
and what its functional twin returns on the same data; ``tests/metrics/test_metric_contract.py`` runs every case through
every check (batch split and order, update vs forward vs ``update_features``/``update_from``/Evaluator,
``MetricCollection`` compute groups, reset, clone, pickle, state_dict, ``merge_state``, dtype moves,
``compute_on_cpu``, a custom ``dist_sync_fn`` on every public compute method, ``plot()``). The 2-process gloo run
of every metric is ``tests/metrics/test_ddp.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ganprobe import functional as F
from ganprobe.extractors import ModuleExtractor
from ganprobe.metrics import (
    CMMD,
    FID,
    KID,
    DensityCoverage,
    FeatureMetric,
    InceptionScore,
    KNNLOOAccuracy,
    LayerSeparability,
    Memorization,
    PrecisionRecall,
)

NUM_REAL, NUM_FAKE = 40, 36
LAYERS = ("a", "b")
Features = dict[str, Tensor]


def make_features(seed: int = 0) -> tuple[Features, Features]:
    """Real and fake features for two layers: overlapping but distinguishable, with a few exact copies."""
    gen = torch.Generator().manual_seed(seed)
    real = {"a": torch.randn(NUM_REAL, 6, generator=gen), "b": torch.randn(NUM_REAL, 4, generator=gen)}
    fake = {"a": torch.randn(NUM_FAKE, 6, generator=gen) + 0.4, "b": torch.randn(NUM_FAKE, 4, generator=gen) * 1.5}
    fake["a"][:2] = real["a"][:2]
    return real, fake


@dataclass
class Case:
    """One metric under the contract.

    Attributes:
        name: the metric's evaluator name.
        build: ``build(extractor, **metric_kwargs)`` with ``extractor=None`` for precomputed features.
        twin: the functional twin, ``twin(real, fake)`` on ``{layer: (N, D)}`` dicts -> ``compute()``'s value.
        multi_layer: feeds ``{layer: ...}`` dicts (LayerSeparability) instead of one layer's tensor.
        row_order_free: the value does not depend on the order of rows (False where rows are subsampled or
            split by position: KID subsets, IS splits, separability folds).
        extra_computes: other public compute methods, each ``fn(metric)``, that must sync like ``compute()``.
        tolerance: relative tolerance against the twin (sums vs rows round differently in FID).
    """

    name: str
    build: Callable[..., FeatureMetric]
    twin: Callable[[Features, Features], Any]
    multi_layer: bool = False
    row_order_free: bool = True
    extra_computes: dict[str, Callable[[FeatureMetric], Any]] = field(default_factory=dict)
    tolerance: float = 0.0


def _kid_twin(real: Features, fake: Features) -> dict[str, Tensor]:
    mean, std = F.kid(real["a"], fake["a"], num_subsets=5, subset_size=20, seed=0)
    return {"kid": mean, "kid_std": std}


def _is_twin(real: Features, fake: Features) -> dict[str, Tensor]:
    mean, std = F.inception_score(fake["a"], splits=4, seed=0)
    return {"is": mean, "is_std": std}


def _separability_twin(real: Features, fake: Features) -> dict[str, Tensor]:
    table = F.layer_separability(real, fake, ("linear_probe", "knn_loo"), folds=3, seed=0)
    return {
        f"separability.{layer}.{name}": torch.tensor(value, dtype=torch.float64)
        for layer, scores in table.items()
        for name, value in scores.items()
    }


def _prdc_twin(keys: tuple[str, str], k: int) -> Callable[[Features, Features], dict[str, Tensor]]:
    def twin(real: Features, fake: Features) -> dict[str, Tensor]:
        values = F.prdc(real["a"], fake["a"], k=k)
        return {key: values[key] for key in keys}

    return twin


CASES: list[Case] = [
    Case(
        "fid",
        lambda extractor, **kw: FID(extractor=extractor, keep_features=True, **kw),
        lambda real, fake: F.fid_from_features(real["a"], fake["a"]),
        extra_computes={
            "compute_interval": lambda m: m.compute_interval(num_resamples=3),
            "compute_infinity": lambda m: m.compute_infinity(num_points=3),
        },
        tolerance=1e-9,
    ),
    Case(
        "kid",
        lambda extractor, **kw: KID(extractor=extractor, num_subsets=5, subset_size=20, **kw),
        _kid_twin,
        row_order_free=False,
    ),
    Case(
        "is",
        lambda extractor, **kw: InceptionScore(extractor=extractor, splits=4, **kw),
        _is_twin,
        row_order_free=False,
        extra_computes={"compute_real": lambda m: m.compute_real()},
    ),
    Case(
        "precision_recall",
        lambda extractor, **kw: PrecisionRecall(extractor=extractor, **kw),
        _prdc_twin(("precision", "recall"), 3),
        extra_computes={
            "compute_details": lambda m: m.compute_details(),
            "compute_interval": lambda m: m.compute_interval(num_resamples=3),
        },
    ),
    Case(
        "density_coverage",
        lambda extractor, **kw: DensityCoverage(extractor=extractor, **kw),
        _prdc_twin(("density", "coverage"), 5),
        extra_computes={
            "compute_details": lambda m: m.compute_details(),
            "compute_interval": lambda m: m.compute_interval(num_resamples=3),
        },
    ),
    Case("cmmd", lambda extractor, **kw: CMMD(extractor=extractor, **kw), lambda r, f: F.cmmd(r["a"], f["a"])),
    Case(
        "memorization",
        lambda extractor, **kw: Memorization(extractor=extractor, **kw),
        lambda r, f: F.memorization_fraction(r["a"], f["a"]),
        extra_computes={
            "compute_details": lambda m: m.compute_details(),
            "most_suspicious": lambda m: m.most_suspicious(3),
        },
    ),
    Case(
        "knn_loo",
        lambda extractor, **kw: KNNLOOAccuracy(extractor=extractor, **kw),
        lambda r, f: F.knn_loo_accuracy(r["a"], f["a"]),
        extra_computes={"compute_details": lambda m: m.compute_details(num_permutations=20)},
    ),
    Case(
        "layer_separability",
        lambda extractor, **kw: LayerSeparability(
            extractor=extractor,
            layers=None if extractor is not None else list(LAYERS),
            protocols=["linear_probe", "knn_loo"],
            folds=3,
            **kw,
        ),
        _separability_twin,
        multi_layer=True,
        row_order_free=False,
        extra_computes={
            "compute_table": lambda m: m.compute_table(),
            "first_separable_layer": lambda m: m.first_separable_layer(),
        },
    ),
]
CASES_BY_NAME = {case.name: case for case in CASES}


def batch_of(case: Case, features: Features, rows: slice | Tensor) -> Any:
    """What ``update`` takes for these rows: one tensor (layer ``a``), or a dict for multi-layer metrics."""
    if case.multi_layer:
        return {layer: value[rows] for layer, value in features.items()}
    return features["a"][rows]


def feed(metric: Any, case: Case, real: Features, fake: Features, batch: int, call: str = "update") -> None:
    """Add every row in batches of ``batch`` rows, alternating real and fake batches, through ``call``."""
    method = metric if call == "forward" else getattr(metric, call)
    for start in range(0, max(NUM_REAL, NUM_FAKE), batch):
        for features, is_real in ((real, True), (fake, False)):
            count = next(iter(features.values())).shape[0]
            if start < count:
                method(batch_of(case, features, slice(start, min(start + batch, count))), real=is_real)


def assert_same(got: Any, expected: Any, tolerance: float = 0.0, what: str = "") -> None:
    """Equal values: tensors (or dicts of them, same keys), exactly or within a relative tolerance."""
    if isinstance(expected, Mapping):
        assert isinstance(got, Mapping), f"{what}: expected a dict, got {type(got).__name__}"
        assert list(got) == list(expected), f"{what}: keys {list(got)} != {list(expected)}"
        for key in expected:
            assert_same(got[key], expected[key], tolerance, f"{what}[{key}]")
        return
    got_value, expected_value = torch.as_tensor(got).double(), torch.as_tensor(expected).double()
    assert got_value.shape == expected_value.shape == (), f"{what}: not a scalar: {got_value.shape}"
    if tolerance:
        assert torch.allclose(got_value, expected_value, rtol=tolerance, atol=tolerance), f"{what}: {got} != {expected}"
    else:
        assert torch.equal(got_value, expected_value), f"{what}: {got} != {expected}"


class TinyNet(nn.Module):
    """A two-tap network with a linear head, so every metric (IS's logits included) runs on images."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Sequential(nn.Conv2d(3, 6, 3), nn.Tanh())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(6, 5)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.conv(x)).flatten(1))


def tiny_extractor() -> ModuleExtractor:
    """A ``ModuleExtractor`` over :class:`TinyNet` with taps ``conv`` and ``head`` (also its logits layer)."""
    extractor = ModuleExtractor(TinyNet(), layers=["conv", "head"], input_size=(16, 16), name="tiny")
    extractor.logits_layer = "head"
    return extractor


def make_images(seed: int = 0) -> tuple[Tensor, Tensor]:
    """Real and fake uint8 images (fakes darker)."""
    gen = torch.Generator().manual_seed(seed)
    real = torch.randint(0, 256, (NUM_REAL, 3, 16, 16), generator=gen, dtype=torch.uint8)
    fake = (torch.randint(0, 256, (NUM_FAKE, 3, 16, 16), generator=gen) // 2).to(torch.uint8)
    return real, fake


# ------------------------------------------------------------------------------------------------ per-class values
# Class sizes (real, fake): two classes above every headline rule (precision/recall needs 500 per set), one above
# 1-NN's 25 and FID's D + 1 only, one with reals and no fakes. Class 1's fakes are shifted far: fully separated.
PER_CLASS_SIZES = ((520, 510), (505, 530), (30, 28), (12, 0))
PER_CLASS_WIDTH = 4
# Each metric that takes labels, built on precomputed features: name -> build(**metric_kwargs).
PER_CLASS_BUILDS: dict[str, Callable[..., FeatureMetric]] = {
    "fid": lambda **kw: FID(extractor=None, keep_features=True, **kw),
    "kid": lambda **kw: KID(extractor=None, num_subsets=5, subset_size=60, **kw),
    "precision_recall": lambda **kw: PrecisionRecall(extractor=None, **kw),
    "density_coverage": lambda **kw: DensityCoverage(extractor=None, **kw),
    "knn_loo": lambda **kw: KNNLOOAccuracy(extractor=None, **kw),
}


def make_labelled_features(seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(real, fake, real_labels, fake_labels)`` of :data:`PER_CLASS_SIZES`, rows of the classes interleaved
    (shuffled), so a class's rows arrive spread over every batch."""
    gen = torch.Generator().manual_seed(seed)
    parts: dict[str, list[Tensor]] = {"real": [], "fake": [], "real_labels": [], "fake_labels": []}
    for index, (n_real, n_fake) in enumerate(PER_CLASS_SIZES):
        centre = torch.randn(PER_CLASS_WIDTH, generator=gen) * 3
        shift = 20.0 if index == 1 else 0.0
        parts["real"].append(torch.randn(n_real, PER_CLASS_WIDTH, generator=gen) + centre)
        parts["fake"].append(torch.randn(n_fake, PER_CLASS_WIDTH, generator=gen) + centre + shift)
        parts["real_labels"].append(torch.full((n_real,), index))
        parts["fake_labels"].append(torch.full((n_fake,), index))
    real, fake = torch.cat(parts["real"]), torch.cat(parts["fake"])
    real_labels, fake_labels = torch.cat(parts["real_labels"]), torch.cat(parts["fake_labels"])
    real_order = torch.randperm(real.shape[0], generator=gen)
    fake_order = torch.randperm(fake.shape[0], generator=gen)
    return real[real_order], fake[fake_order], real_labels[real_order], fake_labels[fake_order]


def feed_labelled(metric: Any, data: tuple[Tensor, Tensor, Tensor, Tensor], batch: int, call: str = "update") -> None:
    """Add every labelled row in batches of ``batch`` rows, alternating real and fake batches, through ``call``."""
    real, fake, real_labels, fake_labels = data
    method = metric if call == "forward" else getattr(metric, call)
    for start in range(0, max(real.shape[0], fake.shape[0]), batch):
        for rows, labels, is_real in ((real, real_labels, True), (fake, fake_labels, False)):
            if start < rows.shape[0]:
                stop = min(start + batch, rows.shape[0])
                method(rows[start:stop], real=is_real, labels=labels[start:stop])


def per_class_table(records: Any) -> list[tuple[Any, ...]]:
    """``compute_per_class()`` records as comparable tuples (name, counts, values, reasons)."""
    return [
        (r.name, r.index, r.num_real, r.num_fake, sorted(r.values.items()), sorted(r.reasons.items())) for r in records
    ]
