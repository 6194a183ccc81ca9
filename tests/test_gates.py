"""Quality gates: parsing, threshold checks, regressions against a baseline, and their JUnit XML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from ganprobe.errors import InputError
from ganprobe.report.gates import check_gates, check_regressions, metric_values, parse_gate, parse_gates
from ganprobe.report.junit import junit_xml
from ganprobe.report.records import MetricRecord


def record(key: str, value: float, higher_is_better: bool | None) -> MetricRecord:
    return MetricRecord(key, key, value, higher_is_better=higher_is_better)


@pytest.mark.parametrize(
    ("expression", "metric", "op", "threshold"),
    [
        ("fid>40", "fid", ">", 40.0),
        (" knn_loo >= 0.8 ", "knn_loo", ">=", 0.8),
        ("precision<.5", "precision", "<", 0.5),
        ("kid<=1e-3", "kid", "<=", 1e-3),
        ("memorization!=0", "memorization", "!=", 0.0),
        ("is==-2.5E+1", "is", "==", -25.0),
        ("separability.stage2.linear_probe>0.9", "separability.stage2.linear_probe", ">", 0.9),
    ],
)
def test_parse_gate(expression: str, metric: str, op: str, threshold: float) -> None:
    gate = parse_gate(expression)
    assert (gate.metric, gate.operator, gate.threshold) == (metric, op, threshold)
    assert gate.expression == expression.strip()


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("fid>>40", "expected METRIC OP NUMBER"),
        ("fid 40", "expected METRIC OP NUMBER"),
        ("fid>forty", "expected METRIC OP NUMBER"),
        ("", "expected METRIC OP NUMBER"),
        ("fdi>40", "unknown metric 'fdi'"),
        ("separability.stage2>0.9", "separability.LAYER.PROTOCOL"),
        ("fid>1e999", "finite number"),
    ],
)
def test_bad_gate_is_a_typed_one_line_error(expression: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        parse_gate(expression)
    assert "\n" not in str(error.value)


def test_gate_fails_exactly_when_its_expression_holds() -> None:
    values = {"fid": 40.0, "knn_loo": 0.7}
    cases = {"fid>40": True, "fid>=40": False, "fid<40": True, "fid<=40": False, "fid==40": False, "fid!=40": True}
    for expression, passes in cases.items():
        (result,) = check_gates(parse_gates([expression]), values)
        assert result.passed is passes, expression
        assert result.value == 40.0 and result.threshold == 40.0
        assert "fid = 40" in result.message and expression in result.message


def test_missing_or_non_finite_metric_fails_its_gate() -> None:
    missing, nan = check_gates(parse_gates(["kid>1", "fid>1"]), {"fid": math.nan})
    assert not missing.passed and "was not computed" in missing.message
    assert not nan.passed and "not a finite number" in nan.message and nan.value is None


def test_metric_values_include_separability_cells() -> None:
    values = metric_values([record("fid", 3.0, False)], {"stage1": {"linear_probe": 0.6, "knn_loo": 0.55}})
    assert values == {"fid": 3.0, "separability.stage1.linear_probe": 0.6, "separability.stage1.knn_loo": 0.55}


def test_regressions_follow_each_metric_direction() -> None:
    baseline = {
        "metrics": [
            {"key": "fid", "value": 10.0},
            {"key": "precision", "value": 0.8},
            {"key": "knn_loo", "value": 0.6},
            {"key": "knn_loo_p_value", "value": 0.5},
            {"key": "kid", "value": None},
        ]
    }
    now = [
        record("fid", 10.9, False),  # 9% worse: within 10%
        record("precision", 0.70, True),  # 12.5% worse
        record("knn_loo", 0.395, None),  # distance from 0.5 grew from 0.1 to 0.105: 5% worse, on the other side
        record("knn_loo_p_value", 0.0, True),
        record("kid", 1.0, False),  # the baseline has no finite value: cannot pass
        record("recall", 0.1, True),  # not in the baseline: not compared
    ]
    results = {result.metric: result for result in check_regressions(now, baseline, 10.0)}
    assert set(results) == {"fid", "precision", "knn_loo", "knn_loo_p_value", "kid"}
    assert not results["kid"].passed and "no finite value in the baseline" in results["kid"].message
    assert results["fid"].passed and not results["precision"].passed
    assert results["knn_loo"].passed
    assert not check_regressions([record("knn_loo", 0.75, None)], baseline, 10.0)[0].passed  # 0.1 -> 0.25
    assert not results["knn_loo_p_value"].passed  # p-value is higher-is-better: 0.5 -> 0 is a regression
    assert "12.5% worse" in results["precision"].message
    improved = check_regressions([record("fid", 5.0, False)], baseline, 0.0)
    assert improved[0].passed and "better" in improved[0].message


def test_regression_against_an_ideal_baseline_allows_a_share_of_the_bounded_range() -> None:
    # memorization = 0 and knn_loo = 0.5 are ideal; 10% applies to at least 0.1 for metrics bounded in [0, 1]
    baseline = {"metrics": [{"key": "memorization", "value": 0.0}, {"key": "knn_loo", "value": 0.5}]}
    for now, passes in ((0.0, True), (0.005, True), (0.02, False)):
        results = check_regressions(
            [record("memorization", now, False), record("knn_loo", 0.5 + now, None)], baseline, 10
        )
        assert [result.passed for result in results] == [passes, passes], now
    # unbounded metrics (FID) have no floor: a zero baseline tolerates round-off only
    fid = {"metrics": [{"key": "fid", "value": 0.0}]}
    assert not check_regressions([record("fid", 1e-6, False)], fid, 10.0)[0].passed


def test_regression_gate_never_passes_by_default() -> None:
    baseline = {"metrics": [{"key": "fid", "value": 10.0, "feature_space": "a:pool", "higher_is_better": False}]}
    (missing,) = check_regressions([], baseline, 10.0)  # fid not computed this time
    assert not missing.passed and "was not computed" in missing.message
    (nan,) = check_regressions([MetricRecord("fid", "fid", math.nan, higher_is_better=False, feature_space="a:pool")],
                               baseline, 10.0)  # fmt: skip
    assert not nan.passed
    with pytest.raises(InputError, match="measured in 'a:pool', this run in 'b:pool'"):
        check_regressions(
            [MetricRecord("fid", "fid", 1.0, higher_is_better=False, feature_space="b:pool")], baseline, 5
        )


def test_bad_baseline_and_percentage_are_typed_errors() -> None:
    with pytest.raises(InputError, match="no 'metrics' list"):
        check_regressions([], {"schema_version": 2}, 10.0)
    with pytest.raises(InputError, match="non-negative percentage"):
        check_regressions([], {"metrics": []}, -1.0)
    # Hand-edited baselines: non-string keys are ignored, an integer too large for a float is not finite.
    odd = {"metrics": [{"key": ["fid"], "value": 1.0}, {"key": {"a": 1}}, {"key": "fid", "value": 10**400}]}
    (fid,) = check_regressions([record("fid", 1.0, False)], odd, 10.0)
    assert not fid.passed and "no finite value in the baseline" in fid.message


def test_baseline_of_another_precision_is_refused() -> None:
    from ganprobe.evaluation import _check_same_precision

    bf16 = {"extractor": {"execution": "channels_last bfloat16-autocast"}}
    with pytest.raises(InputError, match="computed in bfloat16-autocast, this run in float32"):
        _check_same_precision(bf16, {"execution": "channels_last float32"})
    _check_same_precision(bf16, {"execution": "contiguous bfloat16-autocast compiled"})  # round-off only: fine
    _check_same_precision({"extractor": {}}, {"execution": "channels_last float32"})  # older report: float32
    with pytest.raises(InputError, match="computed in float32, this run in bfloat16-autocast"):
        _check_same_precision({}, {"execution": "channels_last bfloat16-autocast"})


def test_junit_has_one_case_per_gate_with_failures_named() -> None:
    results = check_gates(parse_gates(["fid>40", "knn_loo>0.8"]), {"fid": 52.5, "knn_loo": 0.6})
    root = ET.fromstring(junit_xml(results, suite="samples/", seconds=1.5))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == ["fid>40", "knn_loo>0.8"]
    failure = cases[0].find("failure")
    assert failure is not None and "fid = 52.5" in failure.get("message", "") and "> 40" in failure.get("message", "")
    assert cases[1].find("failure") is None
