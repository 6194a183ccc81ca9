"""Gates on per-class numbers: ``recall[7]<0.5`` and ``missing_classes>0`` (issue 24)."""

from __future__ import annotations

import math

import pytest

from ganprobe.errors import InputError
from ganprobe.front_end_names import render
from ganprobe.metrics.per_class_outputs import CLASS_VALUES, find_per_class_output, split_class_key
from ganprobe.report.gates import check_gate_sources, check_gates, parse_gate, parse_gates

REPORTED = {"recall": "precision_recall", "precision": "precision_recall", "fid": "fid"}


def test_a_per_class_key_parses_with_its_headline_metric_and_declaration() -> None:
    gate = parse_gate("recall[7] < 0.5")
    assert (gate.metric, gate.operator, gate.threshold, gate.source, gate.per_class) == (
        "recall[7]",
        "<",
        0.5,
        "precision_recall",
        True,
    )
    metric, output = find_per_class_output("recall[airplane]")
    assert metric == "precision_recall" and output.label == "recall of class airplane"
    assert output.direction.kind == "higher" and (output.lower, output.upper) == (0.0, 1.0)  # the headline's
    assert parse_gate("missing_classes>0").source == "per_class"
    assert split_class_key("knn_loo[class 3]") == ("knn_loo", "class 3")
    assert not parse_gate("fid>40").per_class


def test_every_per_class_value_is_a_value_of_the_functional_layer() -> None:
    from ganprobe.functional.per_class import GROUPS

    assert set(CLASS_VALUES) <= {name for names in GROUPS.values() for name in names}
    assert all(find_per_class_output(f"{value}[0]") is not None for value in CLASS_VALUES)


@pytest.mark.parametrize("expression", ["nonsense[7]<1", "knn_loo_real[7]<1", "recall[]<1", "recall[7<1"])
def test_an_unknown_per_class_key_is_refused(expression: str) -> None:
    with pytest.raises(InputError, match="--fail-if"):
        parse_gate(expression)


def test_a_per_class_gate_needs_labels_the_metric_and_a_known_class() -> None:
    gates = parse_gates(["recall[7]<0.5"])
    with pytest.raises(InputError) as refused:
        check_gate_sources(gates, REPORTED)
    assert "recall[7] is a per-class value" in render(refused.value, "cli")
    assert "classes='subfolders'" in render(refused.value, "python")
    with pytest.raises(InputError, match="needs metric 'precision_recall'"):
        check_gate_sources(gates, {"fid": "fid"}, labelled=True)
    with pytest.raises(InputError, match="no class named '7'; the classes are 0, 1"):
        check_gate_sources(gates, REPORTED, labelled=True, class_names=["0", "1"])
    check_gate_sources(gates, REPORTED, labelled=True)  # names not known yet: checked later
    check_gate_sources(gates + parse_gates(["missing_classes>0"]), REPORTED, labelled=True, class_names=["7"])


def test_a_withheld_per_class_value_fails_its_gate_with_the_reason() -> None:
    gates = parse_gates(["recall[7]<0.5", "recall[3]<0.5", "missing_classes>0"])
    values = {"recall[7]": math.nan, "recall[3]": 0.9, "missing_classes": 1.0}
    reasons = {"recall[7]": "class 7: too few: 40 real, 41 fake; precision_recall needs 500 per set"}
    seven, three, missing = check_gates(gates, values, reasons)
    assert not seven.passed and seven.value is None and "has no value (class 7: too few: 40 real" in seven.message
    assert three.passed and not missing.passed
