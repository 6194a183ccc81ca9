"""A GAN project's quality tests, written against the ganprobe pytest plugin only."""

from __future__ import annotations

import pytest

EXTRACTOR = "random-resnet18"  # a real project would keep the default, efficientnet-lite0
FAST = {"metrics": ["fid", "knn_loo"], "permutations": 20, "extractor": EXTRACTOR}


def test_good_generator_passes(ganprobe, good_generator, real_folder) -> None:
    result = ganprobe.evaluate(good_generator, real_folder, fail_if=["knn_loo>0.8"], num_samples=32, **FAST)
    assert 0.0 <= result["knn_loo"] <= 0.8


def test_bad_generator_fails(ganprobe, bad_generator, real_folder) -> None:
    ganprobe.evaluate(bad_generator, real_folder, fail_if=["knn_loo>0.8"], num_samples=32, **FAST)


def test_session_options(ganprobe, good_generator, real_folder) -> None:
    result = ganprobe.evaluate(good_generator, real_folder, num_samples=32, **FAST)
    print(f"fake count = {result.inputs['fake']['count']}, device = {result.extractor['device']}")


@pytest.mark.ganprobe(fake="samples/good", real="samples/real", fail_if=["knn_loo>0.8"], **FAST)
def test_marker_gate_passes(ganprobe_result) -> None:
    assert ganprobe_result["knn_loo"] <= 0.8


@pytest.mark.ganprobe(fake="samples/bad", real="samples/real", fail_if=["fid>1e9", "knn_loo>0.8"], **FAST)
def test_marker_gate_fails(ganprobe_result) -> None:
    raise AssertionError("not reached: the gate fails before the test body")
