"""The pytest plugin, as a GAN project uses it: a test project (tests/plugin_project) run by pytester."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PROJECT = Path(__file__).parents[1] / "plugin_project"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    for source in PROJECT.glob("*.py"):
        shutil.copy(source, pytester.path / source.name)
    return pytester


def test_plugin_is_registered_by_installation(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--ganprobe-device*", "*--ganprobe-num-samples*"])
    project.parseconfig()  # in-process: the entry point alone (no conftest import of ganprobe) declares the marker
    markers = project.runpytest("--markers")
    markers.stdout.fnmatch_lines(["*@pytest.mark.ganprobe(fake, real, fail_if=()*"])


TYPO = """
def test_typo(ganprobe, good_generator, real_folder):
    ganprobe.evaluate(good_generator, real_folder, fail_if=["fdi>4"], num_samples=8, extractor="random-resnet18")
"""
NO_MARKER = """
def test_no_marker(ganprobe_result):
    pass
"""


def test_gates_pass_and_fail_with_metric_value_and_threshold(project: pytest.Pytester) -> None:
    project.makepyfile(test_typo=TYPO, test_nomarker=NO_MARKER)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "-rA", "-s")
    result.assert_outcomes(passed=3, failed=3, errors=1)
    message = "ganprobe: gate 'knn_loo>0.8' FAILED: knn_loo = 1 (fails when > 0.8)"
    result.stdout.fnmatch_lines(["*_ test_bad_generator_fails _*", message], consecutive=True)
    # The marker's test fails in its call phase (FAILED, not a setup ERROR) naming only the gate that failed,
    # and its body never runs.
    result.stdout.fnmatch_lines(["*_ test_marker_gate_fails _*", message], consecutive=True)
    assert "not reached" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*fake count = 32, device = cpu*"])
    # A typo in a gate fails at once with one line; the fixture without its marker is a usage error.
    result.stdout.fnmatch_lines(["*ganprobe: --fail-if 'fdi>4': unknown metric 'fdi'*"])  # one line, no traceback
    result.stdout.fnmatch_lines(["*needs @pytest.mark.ganprobe(fake=..., real=...)*"])


def test_session_options_override_the_sample_count(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-s",
        "-k",
        "session_options",
        "--ganprobe-num-samples",
        "16",
        "--ganprobe-device",
        "cpu",
        "--ganprobe-no-cache",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*fake count = 16, device = cpu*"])
