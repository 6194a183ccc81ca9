"""``ganprobe evaluate`` as CI runs it: gates and exit codes, JSON (schema-valid), JUnit XML, HTML, baselines."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from test_cli import run, write_folder

from ganprobe.report.json_report import report_schema

FAST = ["--extractor", "random-resnet18", "--quiet", "--no-cache", "--permutations", "20", "--bootstrap", "10"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("reports")
    return write_folder(root / "fake", 10, 1, bright=False), write_folder(root / "real", 10, 2, bright=True)


def test_failing_gate_exits_1_and_every_report_says_why(folders: tuple[Path, Path], tmp_path: Path) -> None:
    fake, real = folders
    paths = {name: tmp_path / "out" / f"report.{name}" for name in ("json", "xml", "html")}
    result = run(
        "evaluate", str(fake), str(real), *FAST,
        "--fail-if", "knn_loo>0.9", "--fail-if", "fid>1e12", "--fail-if", "separability.layer2.linear_probe<0.1",
        "--json", str(paths["json"]), "--junit", str(paths["xml"]), "--html", str(paths["html"]),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    # stderr names the failed gate with value and threshold, once; the table shows the gate status.
    failed = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert failed == ["ganprobe evaluate: gate 'knn_loo>0.9' FAILED: knn_loo = 1 (fails when > 0.9)"]
    assert "Quality gates: 2 passed, 1 failed" in result.stdout and "FAIL" in result.stdout

    payload = json.loads(paths["json"].read_text())
    jsonschema.validate(payload, report_schema())
    assert payload["passed"] is False
    gates = {gate["expression"]: gate for gate in payload["gates"]}
    assert gates["knn_loo>0.9"]["passed"] is False and gates["knn_loo>0.9"]["value"] == 1.0
    assert gates["fid>1e12"]["passed"] is True and gates["fid>1e12"]["threshold"] == 1e12
    assert gates["separability.layer2.linear_probe<0.1"]["passed"] is True

    suite = ET.parse(paths["xml"]).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("3", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert cases["knn_loo>0.9"].find("failure") is not None and cases["fid>1e12"].find("failure") is None

    page = paths["html"].read_text()
    metrics = re.search(r'id="metrics".*?(?=<section|</body>)', page, re.S)
    assert metrics and "<table" in metrics.group(0) and "FAIL" in metrics.group(0)
    for section in ("tsne", "separability", "pca-variance", "memorization", "samples"):
        block = re.search(rf'id="{section}".*?(?=<section|</body>)', page, re.S)
        assert block, section
        images = re.findall(r'src="data:image/png;base64,([^"]+)"', block.group(0))
        assert images, f"section {section} has no embedded plot"
        assert base64.b64decode(images[0]).startswith(b"\x89PNG")
    assert "knn_loo&gt;0.9" in page and "knn_loo>0.9" not in page  # gate expressions are shown, escaped
    assert "http://" not in page and "https://" not in page  # self-contained
    assert not [p for p in paths["json"].parent.iterdir() if p.name not in {"report.json", "report.xml", "report.html"}]


def test_passing_gates_and_baselines(folders: tuple[Path, Path], tmp_path: Path) -> None:
    fake, real = folders
    first = tmp_path / "first.json"
    args = ["evaluate", str(fake), str(real), *FAST, "--metrics", "fid", "knn_loo", "precision_recall"]
    result = run(*args, "--fail-if", "fid<0", "--json", str(first))
    assert result.returncode == 0, result.stderr
    assert "Quality gates: 1 passed, 0 failed" in result.stdout

    # The same run against itself: no regression.
    same = run(*args, "--baseline", str(first), "--max-regression", "0")
    assert same.returncode == 0, same.stderr

    # A baseline whose FID was half of today's: a 100% regression fails a 10% budget but passes a 150% one.
    baseline = json.loads(first.read_text())
    fid = next(entry for entry in baseline["metrics"] if entry["key"] == "fid")
    fid["value"] /= 2
    older = tmp_path / "older.json"
    older.write_text(json.dumps(baseline))
    worse = run(*args, "--baseline", str(older), "--junit", str(tmp_path / "g.xml"))
    assert worse.returncode == 1
    assert "regression gate FAILED: fid = " in worse.stderr and "= 100% of the baseline; allowed" in worse.stderr
    assert "the larger of 10% and 3 standard errors; lower is better" in worse.stderr
    names = [case.get("name") for case in ET.parse(tmp_path / "g.xml").getroot().iter("testcase")]
    assert "fid regression <= max(10%, 3 sigma)" in names
    assert run(*args, "--baseline", str(older), "--max-regression", "150").returncode == 0
