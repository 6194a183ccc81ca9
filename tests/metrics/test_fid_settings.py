"""FID's interval and FID-infinity are FID settings (``bootstrap``, ``infinity``; issue 25 item 3): one number by
every path (the class, ``settings=``, the keyword shorthands, ``--set``, the CLI shorthands, ``pyproject.toml``),
clear errors where two paths disagree, and gates that name the setting in each front end's words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from ganprobe import defaults, evaluate
from ganprobe.errors import InputError, UsageError
from ganprobe.front_end_names import render
from ganprobe.front_ends.cli import main
from ganprobe.metrics.fid import FID
from ganprobe.metrics.records import ReportOptions
from ganprobe.run.config import FIELDS

COMMON = {"extractor": "random-resnet18", "metrics": ["fid"], "noise_resamples": 0, "seed": 3}


def _sets() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(14, 3, 16, 16, generator=gen), torch.rand(14, 3, 16, 16, generator=gen) * 0.6


def _fid_records(result) -> dict[str, tuple]:  # noqa: ANN001
    return {record.key: (record.value, record.low, record.high) for record in result.records}


def test_the_class_reports_what_its_settings_ask_for() -> None:
    gen = torch.Generator().manual_seed(1)
    real, fake = torch.randn(60, 4, generator=gen), torch.randn(60, 4, generator=gen) + 0.5
    plain, asked = FID(extractor=None), FID(extractor=None, bootstrap=6, infinity=True)
    assert not plain.keep_features and asked.keep_features  # both settings are computed from the rows
    for metric in (plain, asked):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    plain_records = {record.key: record for record in plain.records(ReportOptions(seed=2))}
    asked_records = {record.key: record for record in asked.records(ReportOptions(seed=2))}
    assert set(plain_records) == {"fid"} and plain_records["fid"].low is None
    assert set(asked_records) == {"fid", "fid_infinity"}
    assert asked_records["fid"].value == plain_records["fid"].value
    assert asked_records["fid"].low is not None and asked_records["fid"].high is not None
    assert asked_records["fid_infinity"].value == pytest.approx(float(asked.compute_infinity(seed=2)), abs=1e-12)
    interval = asked.compute_interval(num_resamples=6, seed=2)
    assert (asked_records["fid"].low, asked_records["fid"].high) == (interval.low, interval.high)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bootstrap": -1}, r"^bootstrap: expected an integer >= 0"),
        ({"bootstrap": True}, r"^bootstrap: expected an integer >= 0"),
        ({"infinity": "yes"}, r"^infinity: expected True or False"),
    ],
)
def test_bad_settings_are_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        FID(extractor=None, **kwargs)


def test_settings_and_the_keyword_shorthands_give_the_same_records() -> None:
    real, fake = _sets()
    by_settings = evaluate(fake, real, settings={"fid": {"bootstrap": 4, "infinity": True}}, **COMMON)
    by_shorthands = evaluate(fake, real, fid_bootstrap=4, fid_infinity=True, **COMMON)
    assert _fid_records(by_settings) == _fid_records(by_shorthands)
    assert set(_fid_records(by_settings)) == {"fid", "fid_infinity"}
    assert _fid_records(by_settings)["fid"][1] is not None  # the interval
    plain = evaluate(fake, real, **COMMON)
    assert set(_fid_records(plain)) == {"fid"} and _fid_records(plain)["fid"][1] is None
    assert _fid_records(plain)["fid"][0] == _fid_records(by_settings)["fid"][0]


def test_shorthands_that_disagree_or_have_no_fid_are_refused() -> None:
    real, fake = _sets()
    with pytest.raises(UsageError, match=r"^evaluate: fid_bootstrap=3 and settings\['fid'\]\['bootstrap'\]=4 disagree"):
        evaluate(fake, real, fid_bootstrap=3, settings={"fid": {"bootstrap": 4}}, **COMMON)
    with pytest.raises(UsageError, match=r"^evaluate: fid_infinity is a setting of FID, which metrics leaves out"):
        evaluate(fake, real, fid_infinity=True, **{**COMMON, "metrics": ["kid"]})
    # the same value twice is no disagreement
    both = evaluate(fake, real, fid_infinity=True, settings={"fid": {"infinity": True}}, **COMMON)
    assert "fid_infinity" in _fid_records(both)


def test_a_gate_on_fid_infinity_names_the_setting_in_each_front_ends_words() -> None:
    real, fake = _sets()
    with pytest.raises(InputError) as caught:
        evaluate(fake, real, fail_if=["fid_infinity>4"], **COMMON)
    assert (
        str(caught.value) == "--fail-if 'fid_infinity>4': needs settings={'fid': {'infinity': True}} for fid_infinity"
    )
    assert render(caught.value, "cli") == (
        "--fail-if 'fid_infinity>4': needs --fid-infinity (--set fid.infinity=true) for fid_infinity"
    )
    result = evaluate(fake, real, fail_if=["fid_infinity>4"], settings={"fid": {"infinity": True}}, **COMMON)
    (gate,) = result.check(["fid_infinity<1e9"])  # a gate fails when its expression holds: a finite value
    assert not gate.passed and gate.value == result["fid_infinity"]


def _folders(tmp_path: Path) -> list[str]:
    real, fake = _sets()
    for label, images in (("real", real), ("fake", fake)):
        (tmp_path / label).mkdir()
        for index, image in enumerate(images):
            Image.fromarray((image.permute(1, 2, 0) * 255).byte().numpy()).save(tmp_path / label / f"{index}.png")
    return [str(tmp_path / "fake"), str(tmp_path / "real")]


def test_the_command_line_shorthands_set_and_pyproject_give_one_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for entry in FIELDS:
        if entry.env_name:
            monkeypatch.delenv(entry.env_name, raising=False)
    folders = _folders(tmp_path)
    common = ["--extractor", "random-resnet18", "--metrics", "fid", "--seed", "3", "--no-cache", "--quiet"]
    common += ["--noise-resamples", "0"]
    reports = {}
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.ganprobe.settings.fid]\nbootstrap = 4\ninfinity = true\n")
    ways = {
        "shorthands": ["--fid-bootstrap", "4", "--fid-infinity"],
        "set": ["--set", "fid.bootstrap=4", "--set", "fid.infinity=true"],
        "pyproject": [],
    }
    for way, options in ways.items():
        out = tmp_path / f"{way}.json"
        monkeypatch.chdir(project if way == "pyproject" else tmp_path)
        assert main(["evaluate", *folders, *common, *options, "--json", str(out)]) == 0, capsys.readouterr().err
        metrics = json.loads(out.read_text())["metrics"]
        reports[way] = {entry["key"]: (entry["value"], entry.get("low"), entry.get("high")) for entry in metrics}
    assert reports["shorthands"] == reports["set"] == reports["pyproject"]
    assert set(reports["set"]) == {"fid", "fid_infinity"} and reports["set"]["fid"][1] is not None
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", *folders, *common, "--fid-infinity", "--set", "fid.infinity=false"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("--fid-infinity and --set fid.infinity=false disagree: give one of them")
    )
    assert main(["evaluate", *folders, *common[:2], "--metrics", "kid", "--fid-bootstrap", "3"]) == 2
    assert "--fid-bootstrap: a setting of fid, which --metrics leaves out" in capsys.readouterr().err
    assert main(["evaluate", *folders, *common, "--fid-bootstrap", "-1"]) == 2
    assert "--fid-bootstrap: must be non-negative, got -1" in capsys.readouterr().err
    assert main(["evaluate", *folders, *common, "--fail-if", "fid_infinity>4"]) == 2
    assert "needs --fid-infinity (--set fid.infinity=true) for fid_infinity" in capsys.readouterr().err


def test_the_settings_names_that_left_defaults_say_where_they_went() -> None:
    for name in ("METRIC_SETTINGS", "setting", "parse_settings", "check_settings", "settings_help"):
        with pytest.raises(AttributeError, match=rf"^ganprobe.defaults.{name} moved: import it from ganprobe"):
            getattr(defaults, name)
    assert not any(
        line.startswith(("from ganprobe", "import ganprobe"))
        for line in Path(defaults.__file__).read_text(encoding="utf-8").splitlines()
    ), "ganprobe.defaults holds constants and imports nothing of ganprobe"
