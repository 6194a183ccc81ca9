"""The README's main job (examples/quickstart.py) runs end to end offline, in a small configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_runs_and_tells_good_from_bad(tmp_path: Path) -> None:
    env = {**os.environ, "GANPROBE_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path), "--num", "40"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    good = json.loads((tmp_path / "report_fake_good.json").read_text())
    bad = json.loads((tmp_path / "report_fake_bad.json").read_text())
    assert good["extractor"]["name"] == "efficientnet-lite0"
    good_values = {record["key"]: record["value"] for record in good["metrics"]}
    bad_values = {record["key"]: record["value"] for record in bad["metrics"]}
    assert bad_values["knn_loo"] > 0.9
    assert good_values["knn_loo"] < bad_values["knn_loo"]
    assert good_values["fid"] < bad_values["fid"]
    assert good_values["precision"] > bad_values["precision"]
    assert bad["first_separable_layer"] is not None
