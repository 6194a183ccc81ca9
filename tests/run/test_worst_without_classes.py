"""The per-sample lists without class labels: off by default, on with ``worst=N``, and both when the run's metrics
do not read the extractor's default layer (a run of only ``layer_separability`` extracts block layers: the default
run then read a layer it never extracted and stopped with ``KeyError: 'pool'``)."""

from __future__ import annotations

import torch

from ganprobe import evaluate

COMMON = {"extractor": "random-resnet18", "metrics": ["layer_separability"], "noise_resamples": 0}


def _sets() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(16, 3, 16, 16, generator=gen), torch.rand(16, 3, 16, 16, generator=gen) * 0.5


def test_no_lists_unless_asked_even_when_the_default_layer_is_not_extracted() -> None:
    real, fake = _sets()
    result = evaluate(fake, real, **COMMON)
    assert result.per_class is None and result.worst is None
    assert "pool" not in result.features  # only the blocks the separability reads were extracted


def test_worst_alone_extracts_the_default_layer_and_lists() -> None:
    real, fake = _sets()
    result = evaluate(fake, real, worst=3, **COMMON)
    assert result.per_class is None and result.worst is not None
    assert len(result.worst.reals) == 3 and len(result.worst.fakes) == 3
    assert result.worst.layer == "pool"
