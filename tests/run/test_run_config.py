"""One run configuration: precedence (command line > environment > pyproject > defaults), sources, errors."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprobe import evaluate
from ganprobe.errors import UsageError
from ganprobe.run.config import FIELDS, RunConfig, configuration_table, describe
from ganprobe.run.config_layers import find_pyproject, read_pyproject

PLUGIN_PROJECT = Path(__file__).parents[1] / "plugin_project"


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    names = {entry.env_name for entry in FIELDS}
    clean = {key: value for key, value in os.environ.items() if key not in names}
    return subprocess.run(
        [sys.executable, "-m", "ganprobe", *args], capture_output=True, text=True, cwd=cwd,
        env={**clean, "GANPROBE_OFFLINE": "1", **(env or {})}, timeout=300,
    )  # fmt: skip


def printed(result: subprocess.CompletedProcess) -> dict[str, str]:
    """``{name: "value  (source)"}`` from ``--print-config`` output."""
    assert result.returncode == 0, result.stderr
    lines = {}
    for line in result.stdout.splitlines():
        name, _, rest = line.partition(" = ")
        lines[name.split(".")[-1] if not name.startswith("settings.") else name] = rest
    return lines


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.ganprobe]\nbatch_size = 7\nseed = 5\nnum_samples = 9\n")
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_precedence_one_field_at_each_level_with_its_source(project: Path) -> None:
    folder = project / "sub"  # the nearest parent's pyproject.toml applies
    default = printed(cli("evaluate", "--print-config", "F", "R", cwd=project.parent))
    assert default["batch_size"] == "64  (default)"
    from_file = printed(cli("evaluate", "--print-config", "F", "R", cwd=folder))
    assert from_file["batch_size"] == f"7  (pyproject.toml ({project / 'pyproject.toml'}))"
    from_env = printed(cli("evaluate", "--print-config", "F", "R", cwd=folder, env={"GANPROBE_BATCH_SIZE": "8"}))
    assert from_env["batch_size"] == "8  (environment GANPROBE_BATCH_SIZE)"
    assert from_env["seed"].startswith("5  (pyproject.toml")  # the other values of lower layers stay
    given = cli("evaluate", "--print-config", "F", "R", "--batch-size", "9", cwd=folder,
                env={"GANPROBE_BATCH_SIZE": "8"})  # fmt: skip
    assert printed(given)["batch_size"] == "9  (command line --batch-size)"


def test_print_config_shows_inverted_flags_settings_and_loads_no_torch(project: Path) -> None:
    code = (
        "import sys; from ganprobe.front_ends.cli import main; "
        "rc = main(['evaluate', '--print-config', 'missing', 'also-missing', '--no-cache', '--set', "
        "'kid.subset_size=5']); print('TORCH', 'torch' in sys.modules); sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "TORCH False" in result.stdout
    assert "execution.use_cache = false  (command line --no-cache)" in result.stdout
    assert "settings.kid.subset_size = 5  (command line --set)" in result.stdout
    assert "execution.progress = true  (default)" in result.stdout


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("env", "GANPROBE_BATCH_SIZE: expected a positive integer, got 'x'"),
        ("pyproject", "[tool.ganprobe] batch_size: expected a positive integer, got 'x'"),
        ("unknown", "[tool.ganprobe]: unknown key 'batchsize'; known: metrics, settings, extractor"),
        ("bool", "GANPROBE_USE_CACHE: expected true or false, got 'maybe'"),
        ("choice", "[tool.ganprobe] backend: expected one of auto, torch, onnxruntime, got 'tpu'"),
        ("cli", "--batch-size: must be positive, got 0"),
    ],
)
def test_bad_values_are_one_line_naming_their_source(tmp_path: Path, where: str, expected: str) -> None:
    text = {"pyproject": 'batch_size = "x"', "unknown": "batchsize = 3", "choice": 'backend = "tpu"'}.get(where, "")
    (tmp_path / "pyproject.toml").write_text(f"[tool.ganprobe]\n{text}\n")
    env = {"env": {"GANPROBE_BATCH_SIZE": "x"}, "bool": {"GANPROBE_USE_CACHE": "maybe"}}.get(where, {})
    extra = ["--batch-size", "0"] if where == "cli" else []
    result = cli("evaluate", "--print-config", "F", "R", *extra, cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr, result.stderr


def test_pyproject_that_is_no_regular_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pyproject.toml")
    result = cli("evaluate", "--print-config", "F", "R", cwd=tmp_path)
    assert result.returncode == 2 and "not a regular file" in result.stderr
    folder = tmp_path / "inner"
    (folder / "pyproject.toml").mkdir(parents=True)
    assert find_pyproject(folder) == folder / "pyproject.toml"
    with pytest.raises(UsageError, match="not a regular file"):
        read_pyproject(folder / "pyproject.toml")


def test_pyproject_settings_table_and_environment_lists() -> None:
    config = RunConfig.resolve(
        environ={"GANPROBE_METRICS": "fid knn_loo", "GANPROBE_SETTINGS": "kid.subset_size=4 knn_loo.k=3"},
        pyproject=False,
    )
    assert config.metrics == ("fid", "knn_loo")
    assert dict(config.settings["kid"]) == {"subset_size": 4}
    assert config.source("settings.knn_loo.k") == "environment GANPROBE_SETTINGS"


def test_pyproject_table_of_settings(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    text = '[tool.ganprobe]\nfail_if = ["fid>40"]\nbaseline = "reports/base.json"\n'
    path.write_text(text + "[tool.ganprobe.settings]\nkid = {subset_size = 50}\n")
    config = RunConfig.resolve(environ={}, pyproject=path)
    assert config.gates.baseline == str(tmp_path / "reports" / "base.json")  # relative to the file's folder
    assert config.gates.fail_if == ("fid>40",)
    assert config.settings["kid"]["subset_size"] == 50
    assert config.source("settings.kid.subset_size") == f"pyproject.toml ({path})"


def test_python_api_reads_no_environment_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANPROBE_BATCH_SIZE", "3")
    assert RunConfig.build().extraction.batch_size == 64
    assert RunConfig.resolve(pyproject=False).extraction.batch_size == 3


def test_config_is_frozen_and_typed() -> None:
    config = RunConfig.build(batch_size=4, layers=["a"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.extraction.batch_size = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.metrics = ("fid",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.settings["kid"] = {}  # type: ignore[index]
    assert config.extraction.layers == ("a",) and config["batch_size"] == 4 and config.source("batch_size") == "python"


def test_unknown_keyword_is_one_line() -> None:
    with pytest.raises(UsageError, match="unknown keyword 'batchsize'"):
        evaluate(torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16), batchsize=4)


def test_evaluate_with_a_config_equals_the_keywords() -> None:
    torch.manual_seed(0)
    real, fake = torch.rand(12, 3, 32, 32), torch.rand(12, 3, 32, 32) * 0.7
    keywords = {"extractor": "random-resnet18", "metrics": ["fid", "knn_loo"], "seed": 1, "batch_size": 5,
                "permutations": 10}  # fmt: skip
    by_keywords = evaluate(fake, real, **keywords)
    by_config = evaluate(fake, real, RunConfig.build(**keywords))
    assert by_keywords.values() == by_config.values() and by_keywords.seed == by_config.seed == 1
    mixed = evaluate(fake, real, RunConfig.build(**keywords), seed=2)  # a keyword overrides the config's value
    assert mixed.seed == 2
    # the positional extractor and metrics of the API before configurations existed
    positional = evaluate(fake, real, "random-resnet18", ["fid", "knn_loo"], seed=1, batch_size=5, permutations=10)
    assert positional.values() == by_keywords.values()
    with pytest.raises(UsageError, match="extractor is given twice"):
        evaluate(fake, real, "random-resnet18", extractor="random-resnet18")


def test_evaluator_records_skipped_files(tmp_path: Path) -> None:
    from ganprobe.run.config import RunConfig
    from ganprobe.run.evaluator import Evaluator, ExtractionOptions

    folder = tmp_path / "fake"
    folder.mkdir()
    for index in range(4):
        Image.fromarray(np.full((16, 16, 3), index * 40, np.uint8)).save(folder / f"{index}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    evaluator = Evaluator("random-resnet18", metrics=["knn_loo"])
    evaluator.add(torch.rand(4, 3, 16, 16), real=True)
    options = ExtractionOptions.from_config(RunConfig.build(strict=False, num_workers=0))
    with pytest.warns(Warning):
        evaluator.add(folder, real=False, options=options)
    assert [Path(path).name for path in evaluator.skipped["fake"]] == ["broken.png"]
    assert evaluator.skipped["real"] == []


def test_run_configuration_compares_the_resolved_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from ganprobe.front_ends.cli import build_parser, run_configuration

    monkeypatch.setenv("GANPROBE_BATCH_SIZE", "12")
    args = build_parser().parse_args(["evaluate", "f", "r"])
    assert run_configuration(args)["--batch-size"] == 12


def test_every_command_line_option_of_the_table_is_the_parsers() -> None:
    from ganprobe.front_ends.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    options = {option: action.dest for action in commands["evaluate"]._actions for option in action.option_strings}
    for entry in FIELDS:
        if entry.cli is not None:
            assert options.get(entry.cli) == entry.cli_dest, entry.name


def test_docs_table_lists_every_field() -> None:
    table = configuration_table()
    for entry in FIELDS:
        assert f"| {entry.section}.{entry.name} |" in table
    assert len(describe(RunConfig.build())) == len(FIELDS)


def test_plugin_reads_ini_environment_and_options(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for source in PLUGIN_PROJECT.iterdir():
        if source.is_file():
            shutil.copy(source, pytester.path / source.name)
    pytester.makeini("[pytest]\nganprobe_num_samples = 16\nganprobe_use_cache = false\n")
    base = ("-p", "no:cacheprovider", "-s", "-k", "session_options")
    monkeypatch.delenv("GANPROBE_NUM_SAMPLES", raising=False)
    pytester.runpytest_subprocess(*base).stdout.fnmatch_lines(["*fake count = 16, device = cpu*"])
    monkeypatch.setenv("GANPROBE_NUM_SAMPLES", "20")
    pytester.runpytest_subprocess(*base).stdout.fnmatch_lines(["*fake count = 20, device = cpu*"])
    result = pytester.runpytest_subprocess(*base, "--ganprobe-num-samples", "24")
    result.stdout.fnmatch_lines(["*fake count = 24, device = cpu*"])
    monkeypatch.setenv("GANPROBE_NUM_SAMPLES", "zero")
    result = pytester.runpytest_subprocess(*base)
    assert "GANPROBE_NUM_SAMPLES: expected a positive integer, got 'zero'" in result.stderr.str() + result.stdout.str()


def test_configuration_page_holds_the_generated_table() -> None:
    page = Path(__file__).parents[2] / "docs" / "configuration.md"
    if not page.is_file():
        pytest.skip("docs/configuration.md not written yet")
    assert configuration_table() in page.read_text(encoding="utf-8")


def test_pyproject_is_read_without_tomllib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.10 has no ``tomllib``: the reader falls back to ``tomli`` (a dependency there) with the same result,
    errors included."""
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.ganprobe]\nbatch_size = 7\n[tool.ganprobe.settings.fid]\ninfinity = true\n")
    with_tomllib = read_pyproject(path)
    monkeypatch.setitem(sys.modules, "tomllib", None)  # `import tomllib` now fails as on Python 3.10
    assert read_pyproject(path) == with_tomllib and with_tomllib
    path.write_text("[tool.ganprobe\n")
    with pytest.raises(UsageError, match=r"pyproject.toml .*: not valid TOML"):
        read_pyproject(path)


@pytest.mark.parametrize("cache", [False, True, "~/.cache/ganprobe"])
def test_a_cache_that_is_no_feature_cache_is_refused_in_one_line(cache: object) -> None:
    """``cache=False`` once reached the evaluator and failed with ``'bool' object has no attribute 'hits'``."""
    images = torch.zeros(4, 3, 28, 28, dtype=torch.uint8)
    with pytest.raises(UsageError, match=r"^evaluate: cache must be a .*FeatureCache or None.*use_cache=True or False"):
        evaluate(images, images, extractor="lenet-mnist", metrics=["fid"], cache=cache)
