"""Each metric's identity is declared once: keys, labels and directions in its torch-free declaration module
(``ganprobe/metrics/declarations/<metric>.py``), which its class reads, and settings in one table."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from ganprobe import defaults
from ganprobe.errors import UsageError
from ganprobe.metrics import settings as metric_settings
from ganprobe.metrics.registry import (
    declared_outputs,
    find_output,
    metric_classes,
    metric_declarations,
    scorer_classes,
)
from ganprobe.report.json_report import report_schema

PACKAGE = Path(__file__).resolve().parents[2] / "ganprobe"
DECLARATIONS = PACKAGE / "metrics" / "declarations"
# The user-facing modules where a metric's identity used to be rewritten (and drifted): they must read it.
CONSUMERS = ("report", "front_ends", "run", "defaults.py")  # the front ends and the run, whole


def _sources() -> dict[Path, str]:
    """Every module that could write a metric's key or label: the consumers, the metric classes, their scorers and
    the declarations."""
    return {
        path: path.read_text(encoding="utf-8")
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] in CONSUMERS
        or path.parent in (PACKAGE / "metrics", PACKAGE / "scorers", DECLARATIONS)
    }


def _declaration_modules() -> dict[str, Path]:
    """``{metric name: its declaration module}`` for every module in ``ganprobe/metrics/declarations/``."""
    modules = {}
    for path in sorted(DECLARATIONS.glob("*.py")):
        if path.stem != "__init__":
            module = importlib.import_module(f"ganprobe.metrics.declarations.{path.stem}")
            modules[module.DECLARATION.name] = path.resolve()
    return modules


def test_one_declaration_module_per_registered_metric_and_its_class_reads_it() -> None:
    declarations = metric_declarations()
    assert set(_declaration_modules()) == set(declarations)
    for name, cls in metric_classes().items():
        declaration = declarations[name]
        assert cls.declaration is declaration and f"{cls.__module__}:{cls.__qualname__}" == declaration.metric_class
        scorer = scorer_classes()[name]  # the evaluator's class: the declared scorer on plain states
        assert scorer.declaration is declaration and issubclass(cls, scorer.__mro__[1])
        assert f"{scorer.__mro__[1].__module__}:{scorer.__mro__[1].__qualname__}" == declaration.scorer_class
        assert (cls.name, cls.outputs, cls.needs_logits, cls.uses_real, cls.seeded, cls.verdict_rank) == (
            declaration.name,
            declaration.outputs,
            declaration.needs_logits,
            declaration.uses_real,
            declaration.seeded,
            declaration.verdict_rank,
        )


def _without_docstrings(text: str) -> str:
    """``text`` with the lines of every docstring blanked (what a module documents, not what its code writes)."""
    lines = text.splitlines()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines[first.lineno - 1 : first.end_lineno] = [""] * (first.end_lineno - first.lineno + 1)
    return "\n".join(lines)


@pytest.mark.parametrize("metric, output", declared_outputs(), ids=lambda item: getattr(item, "key", item))
def test_key_and_label_written_once_in_the_declaration_module(metric: str, output) -> None:  # noqa: ANN001
    """A key or label is a string literal in one module, its declaration; its class imports the key constants
    (its docstrings may quote them, as user-facing examples do); no other module writes them at all."""
    module = _declaration_modules()[metric]
    # the modules of its class and its scorer may quote keys in docstrings (user-facing examples)
    documented = {Path(inspect.getfile(cls)).resolve() for cls in (metric_classes()[metric], scorer_classes()[metric])}
    names = [output.label] if output.label != output.key else []
    if output.key not in metric_declarations() and not output.is_template:  # metric names also key the settings
        names.append(output.key)
    for name in names:
        pattern = re.compile(r"[\"']" + re.escape(name) + r"[\"']")
        sources = _sources()
        for path in documented:
            sources[path] = _without_docstrings(sources[path])
        holders = [path for path, text in sources.items() if pattern.search(text)]
        outside = [path for path in holders if path != module]
        assert module in holders and not outside, f"{name!r} written outside {module.name}: {outside}"


def test_directions_are_words_of_one_module() -> None:
    for path, text in _sources().items():
        if path.name == "records.py":
            continue
        for phrase in ("lower is better", "higher is better", "is best"):
            assert f'"{phrase}' not in text and f"'{phrase}" not in text, f"{path}: writes {phrase!r}"


def test_schema_enum_and_gates_follow_the_declarations() -> None:
    key_schema = report_schema()["$defs"]["metric"]["properties"]["key"]["anyOf"]
    plain = {output.key for _, output in declared_outputs() if not output.is_template}
    assert set(key_schema[0]["enum"]) == plain
    assert find_output("separability.layer4.linear_probe")[0] == "layer_separability"
    assert find_output("knn_loo_real")[1].direction.ideal == 0.5
    assert find_output("knn_loo_p_value")[1].direction.kind == "none"


def test_torchmetrics_metadata_comes_from_the_first_output() -> None:
    classes = metric_classes()
    assert classes["fid"].higher_is_better is False and classes["precision_recall"].higher_is_better is True
    assert classes["knn_loo"].higher_is_better is None  # best at 0.5, neither direction
    assert classes["knn_loo"].plot_upper_bound == 1.0


@pytest.mark.parametrize("metric", list(metric_settings.METRIC_SETTINGS))
def test_class_defaults_are_the_table(metric: str) -> None:
    parameters = inspect.signature(metric_classes()[metric].__init__).parameters
    for name, entry in metric_settings.METRIC_SETTINGS[metric].items():
        assert parameters[name].default == entry.default, f"{metric}.{name}"


def test_parse_settings_types_and_errors() -> None:
    parsed = metric_settings.parse_settings(["kid.subset_size=50", "cmmd.normalize=false", "kid.gamma=none"])
    assert parsed == {"kid": {"subset_size": 50, "gamma": None}, "cmmd": {"normalize": False}}
    assert metric_settings.parse_settings(["layer_separability.protocols=knn_loo,linear_probe"]) == {
        "layer_separability": {"protocols": ("knn_loo", "linear_probe")}
    }
    for bad, message in (
        ("kid.subset_size", "METRIC.SETTING=VALUE"),
        ("kdi.subset_size=5", "unknown metric 'kdi'"),
        ("kid.subsetsize=5", "kid.subset_size"),
        ("kid.subset_size=many", "an integer"),
        ("layer_separability.protocols=svm", "choose from"),
    ):
        with pytest.raises(UsageError, match=message):
            metric_settings.parse_settings([bad])


def test_a_setting_reaches_the_metric_from_api_cli_and_plugin(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    import json

    import torch
    from PIL import Image

    from ganprobe.front_ends.cli import main
    from ganprobe.front_ends.pytest_plugin import GanprobeSession
    from ganprobe.run.pipeline import evaluate

    gen = torch.Generator().manual_seed(0)
    real, fake = torch.rand(12, 3, 16, 16, generator=gen), torch.rand(12, 3, 16, 16, generator=gen) * 0.7
    common = {"extractor": "random-resnet18", "metrics": ["kid"], "noise_resamples": 0}
    default = evaluate(fake, real, settings={"kid": {"subset_size": 6}}, **common)["kid_std"]
    one = {"kid": {"num_subsets": 1}}
    assert default > 0 and evaluate(fake, real, settings=one, **common)["kid_std"] == 0  # one subset: no spread
    session = GanprobeSession(settings=["kid.num_subsets=1"], use_cache=False)
    assert session.evaluate(fake, real, extractor="random-resnet18", metrics=["kid"])["kid_std"] == 0
    for label, images in (("real", real), ("fake", fake)):
        (tmp_path / label).mkdir()
        for index, image in enumerate(images):
            Image.fromarray((image.permute(1, 2, 0) * 255).byte().numpy()).save(tmp_path / label / f"{index}.png")
    report = tmp_path / "report.json"
    args = [str(tmp_path / "fake"), str(tmp_path / "real"), "--extractor", "random-resnet18", "--metrics", "kid"]
    code = main(["evaluate", *args, "--set", "kid.num_subsets=1", "--no-cache", "--quiet", "--json", str(report)])
    assert code == 0
    values = {entry["key"]: entry["value"] for entry in json.loads(report.read_text())["metrics"]}
    assert values["kid_std"] == 0
    assert main(["evaluate", *args, "--set", "kid.num_subsets=x", "--no-cache", "--quiet"]) == 2
    assert "--set kid.num_subsets: expected an integer" in capsys.readouterr().err


def test_small_sets_are_refused_before_any_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14, item 10: a metric that cannot run on the set says so in one line before any work."""
    import torch

    from ganprobe import InputError, evaluate
    from ganprobe.features import extract as extract_module

    calls = []
    monkeypatch.setattr(extract_module, "iter_features", lambda *a, **k: calls.append(1) or iter(()))
    real, fake = torch.rand(20, 3, 16, 16), torch.rand(6, 3, 16, 16)
    with pytest.raises(
        InputError, match=r"^is: needs at least 10 fake images \(splits=10\).*settings=\{'is': \{'splits': N\}\}"
    ):
        evaluate(fake, real, extractor="random-resnet18")
    with pytest.raises(InputError, match=r"precision_recall: needs at least 4 real images \(k=3\)"):
        evaluate(
            torch.rand(9, 3, 16, 16),
            torch.rand(3, 3, 16, 16),
            extractor="random-resnet18",
            metrics=["fid", "precision_recall"],
        )
    assert calls == []
    monkeypatch.undo()
    result = evaluate(fake, real, extractor="random-resnet18", metrics=["is", "kid"], settings={"is": {"splits": 3}})
    assert result["is"] >= 1.0  # with splits lowered to fit, the small set runs; KID shrinks its subsets itself


def test_numpy_images_and_empty_features_are_one_line_errors() -> None:
    """Issue 14: a numpy array passed to update() and (N, 0) features are typed errors, not crashes."""
    import numpy as np
    import torch

    from ganprobe import FID, InputError, KNNLOOAccuracy

    with pytest.raises(InputError, match=r"torch.Tensor .*got ndarray \(convert with torch.from_numpy\)"):
        KNNLOOAccuracy(extractor="random-resnet18").update(np.zeros((2, 3, 8, 8), dtype=np.uint8), real=True)
    for metric in (KNNLOOAccuracy(extractor=None), FID(extractor=None)):
        with pytest.raises(InputError, match=r"non-empty \(N, D\) tensor, got \(4, 0\)"):
            metric.update(torch.zeros(4, 0), real=True)


def test_report_and_plot_defaults_are_the_table() -> None:
    """Constants that used to drift (the HTML report's t-SNE points 500 vs the CLI's 300; ReportOptions' own 20 and
    1000) come from ganprobe.defaults."""
    from ganprobe.metrics.records import ReportOptions
    from ganprobe.report import html, plots

    options = ReportOptions()
    assert (options.seed, options.bootstrap, options.permutations) == (
        defaults.SEED,
        defaults.BOOTSTRAP,
        defaults.PERMUTATIONS,
    )
    for function in (html.render_html_report, html.write_html_report, plots.tsne_embedding):
        assert inspect.signature(function).parameters["max_points"].default == defaults.TSNE_POINTS, function
