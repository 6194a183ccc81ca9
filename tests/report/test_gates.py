"""Quality gates: parsing, threshold checks, regressions against a baseline, and their JUnit XML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from ganprobe.errors import InputError
from ganprobe.metrics.records import MetricRecord
from ganprobe.metrics.registry import find_output
from ganprobe.report.gates import check_gates, check_regressions, metric_values, parse_gate, parse_gates
from ganprobe.report.junit import junit_xml


def record(key: str, value: float, stderr: float | None = None, feature_space: str = "") -> MetricRecord:
    """A record as a metric would label it: direction, ideal, layer and protocol from the key's declaration."""
    found = find_output(key)
    assert found is not None, key
    metric, output = found
    return MetricRecord(
        key,
        key,
        value,
        stderr=stderr,
        direction=output.direction.kind,
        ideal=output.direction.ideal,
        feature_space=feature_space,
        metric=metric,
        layer=output.layer,
        protocol=output.protocol,
    )


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
    cells = [record("separability.stage1.linear_probe", 0.6), record("separability.stage1.knn_loo", 0.55)]
    assert (cells[0].layer, cells[0].protocol) == ("stage1", "linear_probe")
    values = metric_values([record("fid", 3.0), *cells])
    assert values == {"fid": 3.0, "separability.stage1.linear_probe": 0.6, "separability.stage1.knn_loo": 0.55}


def test_regressions_follow_each_metric_direction() -> None:
    # No standard errors on either side: the allowance is the percentage of the baseline's badness.
    baseline = {
        "metrics": [
            {"key": "fid", "value": 10.0},
            {"key": "precision", "value": 0.8},
            {"key": "knn_loo", "value": 0.6},
            {"key": "knn_loo_fake", "value": 0.6},
            {"key": "separability.stage1.linear_probe", "value": 0.6},
            {"key": "knn_loo_p_value", "value": 0.5},
            {"key": "kid_std", "value": 0.001},
            {"key": "kid", "value": None},
        ]
    }
    now = [
        record("fid", 10.9),  # 0.9 worse: within 10% of 10
        record("precision", 0.70),  # 0.1 worse: beyond 10% of 0.8 (0.08)
        record("knn_loo", 0.395),  # distance from 0.5 grew from 0.1 to 0.105, on the other side: within 0.01
        record("knn_loo_fake", 0.39),  # distance from 0.5 grew from 0.1 to 0.11: beyond 0.01
        record("separability.stage1.linear_probe", 0.405),  # 0.1 -> 0.095 from 0.5: better
        record("knn_loo_p_value", 0.0),  # no direction: never a regression gate
        record("kid_std", 1.0),  # a spread, no direction
        record("kid", 1.0),  # the baseline has no finite value: cannot pass
        record("recall", 0.1),  # not in the baseline: not compared
    ]
    results = {result.metric: result for result in check_regressions(now, baseline, 10.0)}
    assert set(results) == {"fid", "precision", "knn_loo", "knn_loo_fake", "separability.stage1.linear_probe", "kid"}
    assert not results["kid"].passed and "no finite value in the baseline" in results["kid"].message
    assert results["fid"].passed and not results["precision"].passed
    assert results["knn_loo"].passed and not results["knn_loo_fake"].passed
    assert results["separability.stage1.linear_probe"].passed
    assert "better" in results["separability.stage1.linear_probe"].message
    assert not check_regressions([record("knn_loo", 0.75)], baseline, 10.0)[0].passed  # 0.1 -> 0.25
    assert not check_regressions([record("knn_loo_real", 0.75)], {"metrics": [{"key": "knn_loo_real", "value": 0.6}]},
                                 10.0)[0].passed  # fmt: skip
    message = results["precision"].message
    assert "0.1 worse" in message and "12.5%" in message and "allowed 0.08 worse" in message
    assert "higher is better" in message
    assert "0.5 is best" in results["knn_loo"].message
    improved = check_regressions([record("fid", 5.0)], baseline, 0.0)
    assert improved[0].passed and "better" in improved[0].message


def test_regression_allowance_is_the_larger_of_percent_and_sigmas_of_the_combined_stderr() -> None:
    baseline = {"metrics": [{"key": "fid", "value": 10.0, "stderr": 0.3}]}
    # max(10% of 10 = 1.0, 3 * sqrt(0.3^2 + 0.4^2) = 1.5) = 1.5
    assert check_regressions([record("fid", 11.49, stderr=0.4)], baseline, 10.0)[0].passed
    (failed,) = check_regressions([record("fid", 11.51, stderr=0.4)], baseline, 10.0)
    assert not failed.passed and "allowed 1.5 worse" in failed.message
    assert check_regressions([record("fid", 11.9, stderr=0.4)], baseline, 10.0, sigmas=5.0)[0].passed  # 2.5
    # when the noise is small the percentage wins: max(1.0, 3 * sqrt(0.01^2 + 0.01^2))
    small = {"metrics": [{"key": "fid", "value": 10.0, "stderr": 0.01}]}
    assert check_regressions([record("fid", 10.99, stderr=0.01)], small, 10.0)[0].passed
    assert not check_regressions([record("fid", 11.01, stderr=0.01)], small, 10.0)[0].passed
    # a side without a standard error counts as the other side's: 3 * sqrt(2) * 0.5 = 2.12
    assert check_regressions([record("fid", 12.1)], {"metrics": [{"key": "fid", "value": 10.0, "stderr": 0.5}]},
                             10.0)[0].passed  # fmt: skip
    assert not check_regressions([record("fid", 12.2)], {"metrics": [{"key": "fid", "value": 10.0, "stderr": 0.5}]},
                                 10.0)[0].passed  # fmt: skip
    # a non-finite standard error is ignored, not trusted
    nan_error = {"metrics": [{"key": "fid", "value": 10.0, "stderr": math.nan}]}
    assert not check_regressions([record("fid", 11.1, stderr=math.nan)], nan_error, 10.0)[0].passed
    with pytest.raises(InputError, match="--regression-sigmas"):
        check_regressions([], {"metrics": []}, 10.0, sigmas=-1.0)


def test_regression_against_an_ideal_baseline_allows_its_sampling_noise() -> None:
    # memorization = 0 and knn_loo = 0.5 are ideal: a percentage of their badness (0) allows nothing, their
    # standard errors allow 3 * sqrt(0.004^2 + 0.003^2) = 0.015.
    baseline = {
        "metrics": [
            {"key": "memorization", "value": 0.0, "stderr": 0.004},
            {"key": "knn_loo", "value": 0.5, "stderr": 0.004},
        ]
    }
    for now, passes in ((0.0, True), (0.005, True), (0.0149, True), (0.0151, False), (0.02, False)):
        results = check_regressions(
            [record("memorization", now, stderr=0.003), record("knn_loo", 0.5 + now, stderr=0.003)], baseline, 10
        )
        assert [result.passed for result in results] == [passes, passes], now
    # without standard errors an ideal baseline tolerates round-off only
    bare = {"metrics": [{"key": "memorization", "value": 0.0}, {"key": "knn_loo", "value": 0.5}]}
    results = check_regressions([record("memorization", 0.005), record("knn_loo", 0.505)], bare, 10)
    assert [result.passed for result in results] == [False, False]
    # unbounded metrics (FID) likewise: a zero baseline without noise estimates tolerates round-off only
    fid = {"metrics": [{"key": "fid", "value": 0.0}]}
    assert not check_regressions([record("fid", 1e-6)], fid, 10.0)[0].passed


def test_regression_gate_never_passes_by_default() -> None:
    baseline = {"metrics": [{"key": "fid", "value": 10.0, "feature_space": "a:pool", "direction": "lower"}]}
    (missing,) = check_regressions([], baseline, 10.0)  # fid not computed this time
    assert not missing.passed and "was not computed" in missing.message
    (nan,) = check_regressions([record("fid", math.nan, feature_space="a:pool")], baseline, 10.0)
    assert not nan.passed
    with pytest.raises(InputError, match="measured in 'a:pool', this run in 'b:pool'"):
        check_regressions([record("fid", 1.0, feature_space="b:pool")], baseline, 5)


def test_bad_baseline_and_percentage_are_typed_errors() -> None:
    with pytest.raises(InputError, match="no 'metrics' list"):
        check_regressions([], {"schema_version": 2}, 10.0)
    with pytest.raises(InputError, match="--max-regression: must be a finite, non-negative number"):
        check_regressions([], {"metrics": []}, -1.0)
    # Hand-edited baselines: non-string keys are ignored, an integer too large for a float is not finite.
    odd = {"metrics": [{"key": ["fid"], "value": 1.0}, {"key": {"a": 1}}, {"key": "fid", "value": 10**400}]}
    (fid,) = check_regressions([record("fid", 1.0)], odd, 10.0)
    assert not fid.passed and "no finite value in the baseline" in fid.message


def test_baseline_of_another_precision_is_refused() -> None:
    from ganprobe.run.pipeline import _check_same_precision

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
