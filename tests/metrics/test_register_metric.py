"""Issue 25 item 3: the declaration is a metric's only home. Settings rows live in each declaration, the outputs that
are not scalars (closest pairs, image paths, per-layer tables) are declared, and a user's metric joins through
``register_metric`` or an entry point of the ``ganprobe.metrics`` group."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ganprobe
from ganprobe.errors import GanprobeWarning, UsageError
from ganprobe.metrics import registry
from ganprobe.metrics import settings as metric_settings
from ganprobe.metrics.declarations import MetricDeclaration, Setting
from ganprobe.metrics.records import LOWER, Output

ROOT = Path(__file__).resolve().parents[2]

# The settings table as it stood in ganprobe/defaults.py before it moved into the declarations: (metric, setting,
# default, kind). The derived table must keep every name, default and kind.
TABLE_BEFORE = [
    ("kid", "num_subsets", 100, int),
    ("kid", "subset_size", 1000, int),
    ("kid", "degree", 3, int),
    ("kid", "gamma", None, float),
    ("kid", "coef", 1.0, float),
    ("is", "splits", 10, int),
    ("precision_recall", "k", 3, int),
    ("density_coverage", "k", 5, int),
    ("cmmd", "sigma", 10.0, float),
    ("cmmd", "scale", 1000.0, float),
    ("cmmd", "normalize", True, bool),
    ("memorization", "threshold", None, float),
    ("memorization", "pixels", True, bool),
    ("knn_loo", "k", 1, int),
    ("layer_separability", "protocols", ("linear_probe", "knn_loo", "pca2_svm", "pca2_kmeans"), str),
    ("layer_separability", "folds", 5, int),
    ("layer_separability", "k", 1, int),
]


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test are forgotten after it (entry points are not scanned)."""
    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(registry, "_entry_points_loaded", True)


# Added after the move: FID's interval and FID-infinity, once report options, became FID settings (issue 25).
FID_SETTINGS = [("fid", "bootstrap", 0, int), ("fid", "infinity", False, bool)]


def test_settings_live_in_the_declarations_and_the_table_is_unchanged() -> None:
    declarations = registry.metric_declarations()
    rows = [
        (name, entry.name, entry.default, entry.kind)
        for name, declaration in declarations.items()
        for entry in declaration.settings
    ]
    assert rows == FID_SETTINGS + TABLE_BEFORE
    table = metric_settings.METRIC_SETTINGS
    assert list(table) == list(declarations)  # every metric keyed
    derived = [
        (metric, key, entry.default, entry.kind) for metric, rows in table.items() for key, entry in rows.items()
    ]
    assert derived == FID_SETTINGS + TABLE_BEFORE
    assert metric_settings.setting("kid", "subset_size") == declarations["kid"].setting("subset_size").default == 1000
    assert "kid.subset_size=1000: rows per subset" in metric_settings.settings_help()


def test_defaults_module_holds_no_settings_rows() -> None:
    """The table is derived, not written: defaults.py names no metric setting (one home: the declarations)."""
    source = (ROOT / "ganprobe" / "defaults.py").read_text(encoding="utf-8")
    assert "Setting(" not in source
    for metric, name, _, _ in TABLE_BEFORE:
        assert registry.metric_declarations()[metric].setting(name).help not in source, name


def test_the_classes_signature_defaults_are_the_declared_ones() -> None:
    for name, cls in registry.metric_classes().items():
        parameters = inspect.signature(cls.__init__).parameters
        for entry in registry.metric_declarations()[name].settings:
            assert parameters[entry.name].default == entry.default, f"{name}.{entry.name}"


def test_non_scalar_outputs_are_declared() -> None:
    declarations = registry.metric_declarations()
    assert [name for name, item in declarations.items() if item.closest_pairs] == ["memorization"]
    assert [name for name, item in declarations.items() if item.takes_image_paths] == ["memorization"]
    assert [name for name, item in declarations.items() if item.per_layer] == ["layer_separability"]


def test_the_evaluation_reads_the_declaration_not_hasattr() -> None:
    """A metric with a ``most_suspicious`` method that does not declare closest pairs gives none; a declaration
    that promises them on a class without the method is refused when the class is defined."""
    from ganprobe.run.pipeline import _suspicious
    from ganprobe.scorers.base import SingleLayerScorer

    plain = MetricDeclaration("plain_test", "x:Y", (Output("plain_test", "plain", LOWER, "a number"),))

    class Undeclared(SingleLayerScorer):
        declaration = plain

        def most_suspicious(self, count: int = 5) -> list:
            raise AssertionError("called although not declared")

    assert _suspicious(Undeclared.__new__(Undeclared)) == []
    promising = MetricDeclaration(
        "pairs_test", "x:Y", (Output("pairs_test", "pairs", LOWER, "a number"),), closest_pairs=True
    )
    with pytest.raises(TypeError, match=r"Promising: its declaration has closest_pairs=True .*most_suspicious"):

        class Promising(SingleLayerScorer):
            declaration = promising


def test_a_declared_setting_missing_from_the_class_is_refused() -> None:
    from ganprobe.scorers.base import SingleLayerScorer

    declared = MetricDeclaration(
        "setting_test",
        "x:Y",
        (Output("setting_test", "s", LOWER, "a number"),),
        settings=(Setting("alpha", 1.0, float, "a power"),),
    )
    with pytest.raises(TypeError, match=r"NoAlpha: declared setting 'alpha' .*signature"):

        class NoAlpha(SingleLayerScorer):
            declaration = declared

    with pytest.raises(TypeError, match=r"OtherDefault: setting 'alpha' defaults to 2.0 .* declares 1.0"):

        class OtherDefault(SingleLayerScorer):
            declaration = declared

            def __init__(self, alpha: float = 2.0, **kwargs: object) -> None:
                super().__init__(**kwargs)


def test_register_metric_is_public_and_refuses_clashes(clean_registry: None) -> None:
    assert ganprobe.register_metric is registry.register_metric
    assert "register_metric" in ganprobe.__all__
    output = Output("fid", "clash", LOWER, "a key FID already reports")
    with pytest.raises(UsageError, match=r"register_metric: 'fid' is a built-in metric"):
        ganprobe.register_metric(MetricDeclaration("fid", "x:Y", (output,)))
    with pytest.raises(UsageError, match=r"output key 'fid' is already reported by fid"):
        ganprobe.register_metric(MetricDeclaration("mine", "x:Y", (output,)))
    with pytest.raises(UsageError, match=r"name 'my.metric'"):
        ganprobe.register_metric(MetricDeclaration("my.metric", "x:Y", (Output("m", "m", LOWER, "m"),)))
    with pytest.raises(UsageError, match=r"expected a MetricDeclaration"):
        ganprobe.register_metric("energy")  # type: ignore[arg-type]
    mine = MetricDeclaration("mine", "x:Y", (Output("mine", "mine", LOWER, "m"),))
    assert ganprobe.register_metric(mine) is mine and ganprobe.register_metric(mine) is mine  # twice: no-op
    assert registry.metric_names()[-1] == "mine" and registry.find_output("mine") == ("mine", mine.outputs[0])
    other = MetricDeclaration("mine", "x:Z", (Output("mine2", "mine", LOWER, "m"),))
    with pytest.raises(UsageError, match=r"'mine' is already registered"):
        ganprobe.register_metric(other)


def _dist_info(folder: Path, distribution: str, entry_points: str) -> None:
    info = folder / f"{distribution}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points), encoding="utf-8")


def _python(code: str, path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), str(ROOT)])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_a_broken_entry_point_is_one_warning_line_and_a_clash_is_refused(tmp_path: Path) -> None:
    _dist_info(
        tmp_path,
        "broken_metrics",
        """
        [ganprobe.metrics]
        missing = no_such_module_here:DECLARATION
        clash = fid_clash:DECLARATION
        """,
    )
    (tmp_path / "fid_clash.py").write_text(
        "from ganprobe.metrics.declarations.fid import DECLARATION\n", encoding="utf-8"
    )
    code = "from ganprobe.metrics.registry import metric_names; print(metric_names())"
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "'fid'" in done.stdout and "missing" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and all("ganprobe.metrics entry point" in line for line in lines), done.stderr
    assert "Traceback" not in done.stderr
    missing = next(line for line in lines if "'missing'" in line)
    assert "broken_metrics 0.1" in missing and "No module named 'no_such_module_here'" in missing
    assert GanprobeWarning.__name__ in missing
    clash = next(line for line in lines if "'clash'" in line)
    assert "'fid' is a built-in metric" in clash


def test_entry_points_are_read_once_and_only_when_the_metric_list_is_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []
    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(registry, "_metric_entry_points", lambda: calls.append(1) or [])
    assert metric_settings.setting("kid", "num_subsets") == 100 and calls == []  # a built-in default needs no scan
    registry.metric_names()
    registry.metric_names()
    assert calls == [1]


def test_a_new_declaration_module_is_all_the_registry_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built-in metrics are every module of ganprobe.metrics.declarations, ordered by ``report_order``: no list to
    edit."""
    from ganprobe.metrics import declarations

    (tmp_path / "newcomer.py").write_text(
        "from ganprobe.metrics.declarations import MetricDeclaration\n"
        "from ganprobe.metrics.records import LOWER, Output\n"
        "DECLARATION = MetricDeclaration('newcomer', 'x:Y', (Output('newcomer', 'n', LOWER, 'n'),), report_order=15)\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(declarations, "__path__", [*declarations.__path__, str(tmp_path)])
    registry.builtin_declarations.cache_clear()
    try:
        names = list(registry.builtin_declarations())
    finally:
        monkeypatch.undo()
        registry.builtin_declarations.cache_clear()
    assert names[:3] == ["fid", "newcomer", "kid"] and "newcomer" not in registry.builtin_declarations()


def test_a_registered_metric_whose_class_cannot_be_imported_only_fails_when_asked_for(clean_registry: None) -> None:
    """Classes are imported for the metrics a run asks for; a broken one is a one-line error naming it."""
    import torch

    from ganprobe.run.evaluator import Evaluator

    ganprobe.register_metric(
        MetricDeclaration("ghost", "no_such_package.ghost:Ghost", (Output("ghost", "g", LOWER, "g"),))
    )
    evaluator = Evaluator("random-resnet18", metrics=["knn_loo"])
    evaluator.add(torch.rand(6, 3, 16, 16), real=True)
    evaluator.add(torch.rand(6, 3, 16, 16), real=False)
    assert set(evaluator.compute()) == {"knn_loo"}
    with pytest.raises(UsageError, match=r"^metric 'ghost': cannot import its class no_such_package.ghost:Ghost "):
        Evaluator("random-resnet18", metrics=["ghost"])
