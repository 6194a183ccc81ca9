"""A study's numbers depend on torch's (and NumPy's BLAS) thread count, so the study commands fix it: whatever the
caller's setting, a study runs on ``--threads`` threads (default 1) and its summary says how many."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import reproduce_study  # noqa: E402
from gan.studies import common  # noqa: E402


@pytest.mark.parametrize(("ambient", "flags", "expected"), [(2, [], 1), (3, [], 1), (1, ["--threads", "2"], 2)])
def test_a_study_runs_on_its_own_thread_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ambient: int, flags: list[str], expected: int
) -> None:
    from threadpoolctl import threadpool_info

    seen = {}

    def run(args):
        seen["torch"] = torch.get_num_threads()
        seen["blas"] = {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}
        return common.StudyResult("t", [common.Comparison("a", "b", "c")], {"x": 1.0})

    monkeypatch.setattr(reproduce_study.STUDIES["course"], "run", run)
    previous = torch.get_num_threads()
    torch.set_num_threads(ambient)
    try:
        reproduce_study.main(["course", "--out", str(tmp_path), *flags])
        assert torch.get_num_threads() == ambient  # the caller's setting is restored afterwards
    finally:
        torch.set_num_threads(previous)
    assert common.STUDY_THREADS == 1 and seen["torch"] == expected
    assert all(count <= expected for count in seen["blas"]), seen
    assert json.loads((tmp_path / "summary.json").read_text())["run"]["threads"] == expected
