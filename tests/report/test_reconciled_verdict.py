"""One reconciled verdict: one statement per question, the sample size first, nothing claimed that it cannot support.

The repro of issue 23 (campus photos, 64 + 64 images in 1,280-d): the 1-NN split said "poor fidelity" while
precision/recall said "mode dropping", as two unrelated lines. Here the same numbers must give one answer that
names the disagreement and says which metric the sample size supports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from ganprobe.errors import SampleSizeWarning
from ganprobe.metrics.declarations.fid import DECLARATION as FID_DECLARATION
from ganprobe.metrics.declarations.kid import DECLARATION as KID_DECLARATION
from ganprobe.metrics.fid import FID
from ganprobe.metrics.kid import KID
from ganprobe.metrics.records import MetricRecord
from ganprobe.metrics.sample_size import check_sample
from ganprobe.report.verdict import QUESTIONS
from ganprobe.run.evaluator import Evaluator


def _records(values: dict[str, tuple[str, float]]) -> list[MetricRecord]:
    return [MetricRecord(key=key, label=key, value=value, metric=metric) for key, (metric, value) in values.items()]


def _evaluator(real: torch.Tensor, fake: torch.Tensor, metrics: list[str]) -> Evaluator:
    """An evaluator whose metrics hold these features (the counts the sample-size checks read)."""
    evaluator = Evaluator("random-resnet18", metrics=metrics)
    evaluator.add_features({"pool": real}, real=True)
    evaluator.add_features({"pool": fake}, real=False)
    return evaluator


CAMPUS = {  # the numbers of the repro
    "knn_loo": ("knn_loo", 0.845),
    "knn_loo_real": ("knn_loo", 0.69),
    "knn_loo_fake": ("knn_loo", 1.0),
    "knn_loo_p_value": ("knn_loo", 0.001),
    "precision": ("precision_recall", 0.72),
    "recall": ("precision_recall", 0.09),
}


def test_campus_repro_gives_one_balance_statement_that_trusts_what_the_sample_supports() -> None:
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 512, generator=gen), torch.randn(64, 512, generator=gen)
    evaluator = _evaluator(real, fake, ["knn_loo", "precision_recall"])
    lines = evaluator.verdict(_records(CAMPUS))
    assert lines[0].startswith("Sample size: 64 real and 64 fake images.")
    assert "Enough for 1-NN LOO" in lines[0] and "Too few for precision/recall (500) per set" in lines[0]
    balance = [line for line in lines if line.startswith("Fidelity or diversity:")]
    assert len(balance) == 1  # one statement, not one per metric
    (line,) = balance
    assert "poor fidelity" in line
    # precision/recall's other reading is named as unreliable at this size, never stated as a conclusion
    assert "would suggest mode dropping" in line and "64 per set are too few for it (needs 500)" in line
    assert sum(line.startswith(f"{heading}:") for heading in QUESTIONS.values() for line in lines) == len(lines) - 1


def test_metrics_that_agree_are_said_once_and_disagreement_names_whom_to_trust() -> None:
    gen = torch.Generator().manual_seed(1)
    metrics = ["knn_loo", "precision_recall", "density_coverage"]
    evaluator = _evaluator(torch.randn(600, 8, generator=gen), torch.randn(600, 8, generator=gen), metrics)
    agree = dict(CAMPUS, precision=("precision_recall", 0.35), recall=("precision_recall", 0.8))
    agree.update(density=("density_coverage", 0.3), coverage=("density_coverage", 0.9))
    (line,) = [line for line in evaluator.verdict(_records(agree)) if line.startswith("Fidelity or diversity:")]
    assert "poor fidelity" in line and "agree." in line and "disagree" not in line
    assert "density/coverage (density 0.30, coverage 0.90)" in line
    disagree = dict(agree, precision=("precision_recall", 0.9), recall=("precision_recall", 0.2))
    (line,) = [line for line in evaluator.verdict(_records(disagree)) if line.startswith("Fidelity or diversity:")]
    assert "The metrics disagree: precision/recall (precision 0.90, recall 0.20) says mode dropping" in line
    assert "Trust 1-NN LOO here: its accuracies are plain proportions" in line


def test_no_question_is_answered_from_metrics_whose_sample_is_too_small() -> None:
    gen = torch.Generator().manual_seed(2)
    real, fake = torch.randn(30, 512, generator=gen), torch.randn(30, 512, generator=gen)
    evaluator = _evaluator(real, fake, ["precision_recall"])
    records = _records({"precision": ("precision_recall", 0.9), "recall": ("precision_recall", 0.1)})
    lines = evaluator.verdict(records)
    (line,) = [line for line in lines if line.startswith("Fidelity or diversity:")]
    assert line.startswith("Fidelity or diversity: too few samples to tell (precision/recall needs 500 per set)")
    assert "mode dropping" not in line


@pytest.mark.parametrize(("count", "enough"), [(16, False), (17, True)])
def test_fid_rule_needs_more_samples_than_dimensions(count: int, enough: bool) -> None:
    check = check_sample(FID_DECLARATION.sample_rule, "fid", "FID", count, count + 5, 16, {})
    assert (check.required, check.enough) == (17, enough)
    gen = torch.Generator().manual_seed(3)
    metric = FID(extractor=None)
    metric.update(torch.randn(count, 16, generator=gen), real=True)
    metric.update(torch.randn(count + 5, 16, generator=gen), real=False)
    assert metric.sample_check() == check


@pytest.mark.parametrize(("count", "enough"), [(99, False), (100, True)])
def test_kid_rule_needs_a_hundred_samples_per_set(count: int, enough: bool) -> None:
    metric = KID(extractor=None, subset_size=50, num_subsets=3)
    metric.update(torch.randn(count, 4), real=True)
    metric.update(torch.randn(count + 1, 4), real=False)
    check = metric.sample_check()
    assert (check.required, check.enough, check.real, check.fake) == (100, enough, count, count + 1)
    assert check == check_sample(KID_DECLARATION.sample_rule, "kid", "KID", count, count + 1, 4, {})


def test_a_sample_size_warning_is_issued_once_per_state_at_the_users_line() -> None:
    metric = FID(extractor=None)
    metric.update(torch.randn(8, 16), real=True)
    metric.update(torch.randn(8, 16), real=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metric.compute()
        metric.records()
        metric.compute()
    sample = [item for item in caught if issubclass(item.category, SampleSizeWarning)]
    assert len(sample) == 1 and sample[0].filename == __file__  # not an internal source line
    metric.update(torch.randn(2, 16), real=False)  # a new state: its own warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metric.records()
    assert sum(issubclass(item.category, SampleSizeWarning) for item in caught) == 1


def _images(folder: Path, count: int, shift: float) -> Path:
    from PIL import Image

    folder.mkdir()
    gen = torch.Generator().manual_seed(int(shift * 10))
    for index in range(count):
        pixels = (torch.rand(16, 16, 3, generator=gen) * 0.5 + shift).clamp(0, 1).mul(255).byte().numpy()
        Image.fromarray(pixels).save(folder / f"{index}.png")
    return folder


def test_cli_states_the_sample_size_first_and_warns_once_per_cause(tmp_path: Path) -> None:
    fake, real = _images(tmp_path / "fake", 30, 0.4), _images(tmp_path / "real", 30, 0.0)
    report = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "ganprobe", "evaluate", str(fake), str(real), "--extractor", "random-resnet18"]
        + ["--metrics", "fid", "kid", "knn_loo", "--json", str(report), "--no-cache", "--backend", "torch"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "250"},
    )
    assert done.returncode == 0, done.stderr
    warning_lines = [line for line in done.stderr.splitlines() if "warning:" in line]
    assert len(warning_lines) == len(set(warning_lines))
    assert not any("rank-deficient" in line or "lowered to" in line for line in warning_lines)  # the report says it
    # KID's one subset is the whole set: it shows a real interval (half-size subsets), never "± 0"
    (kid_row,) = [line for line in done.stdout.splitlines() if line.startswith("│ KD on")]
    assert "[" in kid_row and "± 0" not in done.stdout
    payload = json.loads(report.read_text())
    checks = {check["metric"]: check for check in payload["sample_size"]}
    assert checks["fid"] == {
        "metric": "fid",
        "label": "FID",
        "required": 513,
        "real": 30,
        "fake": 30,
        "dimension": 512,
        "enough": False,
        "why": FID_DECLARATION.sample_rule.why,
    }
    assert checks["knn_loo"]["enough"] and not checks["kid"]["enough"]
    assert payload["verdict"][0].startswith("Sample size: 30 real and 30 fake images.")
    in_short = done.stdout.split("In short", 1)[1]
    assert in_short.lstrip().startswith("- Sample size: 30 real and 30 fake images.")


def test_readme_example_verdict_is_what_the_campus_numbers_give() -> None:
    gen = torch.Generator().manual_seed(0)
    evaluator = _evaluator(
        torch.randn(64, 512, generator=gen), torch.randn(64, 512, generator=gen), ["knn_loo", "precision_recall"]
    )
    lines = evaluator.verdict(_records(CAMPUS))
    readme = (Path(__file__).parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")  # was README.md's
    block = textwrap.dedent(readme.split("## The verdict", 1)[1].split("```\n", 2)[1].rsplit("\n", 1)[0])
    shown = [" ".join(item.split()) for item in block.split("\n- ")]
    shown[0] = shown[0].removeprefix("- ")
    assert shown == [" ".join(line.split()) for line in lines]
