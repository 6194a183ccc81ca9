"""Each metric's plain-words verdict reads its own numbers correctly (known cases)."""

from __future__ import annotations

import torch

from ganprobe import KNNLOOAccuracy, LayerSeparability, Memorization, PrecisionRecall
from ganprobe.metrics.knn_loo import separation_words


def _fed(metric, real, fake):  # noqa: ANN001, ANN202
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return metric


def test_knn_loo_verdict_names_the_degree_and_the_class_that_gives_it_away() -> None:
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(200, 2, generator=gen)
    # Fakes from one half of the real distribution only, at the reals' density there (mode dropping): reals in the
    # other half have no fake nearby and are told apart, fakes are not.
    fake = torch.randn(600, 2, generator=gen)
    fake = fake[fake[:, 0] > 0][:100]
    metric = _fed(KNNLOOAccuracy(extractor=None), real, fake)
    (line,) = metric.verdict(metric.records())
    assert line.startswith(f"1-NN real-vs-fake accuracy {float(metric.compute()):.2f}")
    assert "mode dropping" in line and "Reals are recognised more often" in line
    same = _fed(KNNLOOAccuracy(extractor=None), real[:100], real[100:])
    assert "indistinguishable" in same.verdict(same.records())[0] or "slightly" in same.verdict(same.records())[0]
    assert [separation_words(value) for value in (0.4, 0.52, 0.6, 0.8, 0.97)] == [
        "below chance: fakes sit on top of reals (copies?)",
        "indistinguishable",
        "slightly separable",
        "clearly separable",
        "almost fully separated",
    ]


def test_precision_recall_verdict_tells_mode_dropping_from_poor_fidelity() -> None:
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(300, 3, generator=gen)
    dropped = _fed(PrecisionRecall(extractor=None), real, real[real[:, 0] > 0.5][:100])  # one part of the data
    assert "mode dropping" in dropped.verdict(dropped.records(None))[0]
    spread = _fed(PrecisionRecall(extractor=None), real, torch.randn(300, 3, generator=gen) * 2.5)  # off and wide
    assert "poor fidelity" in spread.verdict(spread.records(None))[0]


def test_separability_and_memorization_verdicts() -> None:
    gen = torch.Generator().manual_seed(2)
    real = {"a": torch.randn(60, 4, generator=gen), "b": torch.randn(60, 4, generator=gen)}
    fake = {"a": torch.randn(60, 4, generator=gen), "b": torch.randn(60, 4, generator=gen) + 4}
    metric = _fed(LayerSeparability(extractor=None, layers=["a", "b"], protocols=["linear_probe"]), real, fake)
    (line,) = metric.verdict(metric.records())
    assert line.startswith("Fakes become separable from layer b on (linear_probe accuracy")
    copies = torch.cat([real["a"][:6], torch.randn(54, 4, generator=gen) * 3])
    memorization = _fed(Memorization(extractor=None), real["a"], copies)
    (line,) = memorization.verdict(memorization.records())
    assert line.startswith("6 of 60 fakes (10.0%) look like copies") and "Closest pair: fake #" in line
