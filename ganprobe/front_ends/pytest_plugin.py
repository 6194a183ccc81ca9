"""pytest plugin: assert a generator's quality inside a project's own test suite.

Installing ganprobe registers this plugin (``pytest11`` entry point ``ganprobe``). It offers:

* the session fixture ``ganprobe`` (a :class:`GanprobeSession`): ``ganprobe.evaluate(fake, real, fail_if=[...])``
  evaluates a folder, tensor or generator callable against a real folder, tensor or ``ganprobe stats`` file and
  fails the test (naming metric, value and threshold) when a gate fails; it returns the
  :class:`ganprobe.run.pipeline.EvaluationResult` for further asserts;
* the marker ``@pytest.mark.ganprobe(fake=..., real=..., fail_if=[...], **options)`` with the fixture
  ``ganprobe_result``: the evaluation runs (and gates are checked) before the test body, which receives the result;
  relative folder paths in the marker are relative to the project's root (pytest's ``rootdir``);
* command-line options for the whole session: ``--ganprobe-device``, ``--ganprobe-num-samples`` (overrides every
  evaluation's sample count, e.g. small on laptops and large in nightly CI), ``--ganprobe-extractor``,
  ``--ganprobe-batch-size``, ``--ganprobe-no-cache``, and the repeatable ``--ganprobe-set METRIC.SETTING=VALUE``
  (the CLI's ``--set``: metric settings for every evaluation; a test's own ``settings=`` wins per setting);
* ini keys ``ganprobe_<field>`` (``ganprobe_device``, ``ganprobe_num_samples``, ``ganprobe_use_cache``,
  ``ganprobe_settings``...; every field in :data:`ganprobe.run.config.FIELDS` with an ini key), the environment
  (``GANPROBE_<FIELD>``) and ``pyproject.toml``'s ``[tool.ganprobe]``, resolved into one
  :class:`~ganprobe.run.config.RunConfig` for the session: ``--ganprobe-*`` option > environment > ini key >
  ``[tool.ganprobe]`` > defaults. A test's own keywords win over the session's values, except ``num_samples`` and
  ``device`` set for the session anywhere (so a laptop or a nightly run can change every test's count).

Importing this module stays cheap (torch is imported on the first evaluation), since pytest loads it in every
session of an environment where ganprobe is installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ganprobe.extractors.base import FeatureExtractor
    from ganprobe.report.gates import GateResult
    from ganprobe.run.config import RunConfig
    from ganprobe.run.pipeline import EvaluationResult

_FAILED_GATES = pytest.StashKey[list]()


def failure_message(failed: Sequence[GateResult]) -> str:
    """One line naming every failed gate with its metric, value and threshold."""
    return "ganprobe: " + "; ".join(gate.message for gate in failed)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the session-wide ``--ganprobe-*`` options."""
    group = parser.getgroup("ganprobe", "ganprobe generator-quality gates")
    group.addoption("--ganprobe-device", default=None, help="torch device of every ganprobe evaluation (default: cpu)")
    group.addoption(
        "--ganprobe-num-samples",
        type=int,
        default=None,
        help="images per set for every ganprobe evaluation (overrides each test's num_samples)",
    )
    group.addoption("--ganprobe-extractor", default=None, help="extractor for evaluations that do not name one")
    group.addoption("--ganprobe-batch-size", type=int, default=None, help="images per forward pass")
    group.addoption("--ganprobe-no-cache", action="store_true", help="do not read or write ganprobe's feature cache")
    group.addoption(
        "--ganprobe-backend",
        choices=["auto", "torch", "onnxruntime"],
        default=None,
        help="how built-in backbones run (default auto: ONNX Runtime on CPU where installed, else torch)",
    )
    group.addoption(
        "--ganprobe-set",
        action="append",
        default=[],
        metavar="METRIC.SETTING=VALUE",
        help="a metric setting for every ganprobe evaluation, e.g. kid.subset_size=500 (repeatable)",
    )
    from ganprobe.run.config import FIELDS

    for entry in FIELDS:
        if entry.ini_name is not None:
            kind = "linelist" if entry.kind in ("list", "settings") else "string"
            parser.addini(entry.ini_name, f"ganprobe: {entry.help} (as {entry.name}= of ganprobe.evaluate)", kind)


# --ganprobe-* option -> configuration field
_OPTIONS = {
    "--ganprobe-device": "device",
    "--ganprobe-num-samples": "num_samples",
    "--ganprobe-extractor": "extractor",
    "--ganprobe-batch-size": "batch_size",
    "--ganprobe-no-cache": "use_cache",
    "--ganprobe-backend": "backend",
    "--ganprobe-set": "settings",
}


def session_config(config: pytest.Config) -> RunConfig:
    """The session's :class:`~ganprobe.run.config.RunConfig`: ``--ganprobe-*`` options over the environment
    (``GANPROBE_*``) over ini keys (``ganprobe_*``, also from ``[tool.pytest.ini_options]``) over the
    ``[tool.ganprobe]`` table of the ``pyproject.toml`` nearest the ``rootdir`` over the defaults.

    Raises:
        pytest.UsageError: a bad value, one line naming where it came from.
    """
    from ganprobe.errors import GanprobeError
    from ganprobe.metrics import settings as metric_settings
    from ganprobe.run.config import FIELDS, defaults_for
    from ganprobe.run.config_layers import environment_values, find_pyproject, parse_text, read_pyproject, relative_to

    try:
        run = defaults_for("plugin")
        path = find_pyproject(config.rootpath)
        if path is not None:
            values, label = read_pyproject(path)
            run = run.replace(label, **values)
        where = f" ({config.inipath})" if config.inipath else ""
        for entry in FIELDS:
            raw = config.getini(entry.ini_name) if entry.ini_name is not None else ""
            if raw not in ("", []):
                text = " ".join(raw) if isinstance(raw, list) else str(raw)
                label = f"ini {entry.ini_name}{where}"
                value = parse_text(entry, text, label)
                run = run.replace(label, **{entry.name: relative_to(Path(config.inipath or ".").parent, entry, value)})
        values, labels = environment_values(os.environ)
        for name, value in values.items():
            run = run.replace(labels[name], **{name: value})
        for option, name in _OPTIONS.items():
            value = config.getoption(option)
            if value in (None, False, []):
                continue
            if name == "use_cache":
                value = False
            elif name == "settings":
                value = metric_settings.parse_settings(value, option)
            elif name in ("num_samples", "batch_size") and value < 1:
                raise pytest.UsageError(f"{option}: must be positive, got {value}")
            run = run.replace(f"pytest option {option}", **{name: value})
    except GanprobeError as exc:
        raise pytest.UsageError(str(exc)) from None
    return run


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``ganprobe`` marker."""
    config.addinivalue_line(
        "markers",
        "ganprobe(fake, real, fail_if=(), **options): evaluate fake against real with ganprobe before the test "
        "(use the ganprobe_result fixture) and fail it when a gate fails",
    )


class GanprobeSession:
    """Evaluations for one pytest session: session options applied, extractors built once and reused.

    Args:
        device: torch device (``None``: cpu).
        num_samples: when set, overrides the sample count of every evaluation.
        extractor: default extractor name (``None``: ganprobe's default, ``efficientnet-lite0``).
        batch_size: images per forward pass (``None``: ganprobe's default).
        use_cache: read/write ganprobe's feature cache (real folders are then extracted once across runs).
        settings: ``METRIC.SETTING=VALUE`` texts applied to every evaluation (``--ganprobe-set``).
        backend: how built-in backbones run, ``"auto"`` (``None``), ``"torch"`` or ``"onnxruntime"``
            (``--ganprobe-backend``; see :mod:`ganprobe.extractors.onnx_backend`).
    """

    def __init__(
        self,
        device: str | None = None,
        num_samples: int | None = None,
        extractor: str | None = None,
        batch_size: int | None = None,
        use_cache: bool = True,
        settings: Sequence[str] = (),
        backend: str | None = None,
        config: RunConfig | None = None,
    ) -> None:
        from ganprobe import defaults
        from ganprobe.errors import GanprobeError
        from ganprobe.metrics import settings as metric_settings
        from ganprobe.run.config import RunConfig

        if num_samples is not None and num_samples < 1:
            raise pytest.UsageError(f"--ganprobe-num-samples: must be positive, got {num_samples}")
        if batch_size is not None and batch_size < 1:
            raise pytest.UsageError(f"--ganprobe-batch-size: must be positive, got {batch_size}")
        if config is None:
            given = {"device": device, "num_samples": num_samples, "extractor": extractor,
                     "batch_size": batch_size, "backend": backend}  # fmt: skip
            try:
                parsed = metric_settings.parse_settings(settings, "--ganprobe-set")
            except GanprobeError as exc:
                raise pytest.UsageError(str(exc)) from None
            values = {name: value for name, value in given.items() if value is not None}
            config = RunConfig.build("plugin", use_cache=use_cache, settings=parsed, **values)
        self.config = config
        # A session value of device or num_samples (an option, the environment, an ini key, pyproject.toml) wins over
        # a test's own; the other session values are defaults that a test's keywords override.
        forced = {name: config.source(name) != "default" for name in ("device", "num_samples")}
        self.device_option = config.execution.device if forced["device"] else None
        self.device = config.execution.device or defaults.DEVICE
        self.num_samples = config.extraction.num_samples if forced["num_samples"] else None
        self.extractor = config.extraction.extractor
        self.batch_size = config.extraction.batch_size
        self.use_cache = config.execution.use_cache
        self.backend = config.extraction.backend
        self.settings = {metric: dict(values) for metric, values in config.settings.items()}
        self._extractors: dict[str, FeatureExtractor] = {}
        self.last_failures: list[GateResult] = []

    def _extractor(self, name: str, device: str) -> FeatureExtractor:
        key = f"{name}@{device}"
        if key not in self._extractors:
            from ganprobe.run.runtime import build_extractor

            extraction = self.config.extraction
            self._extractors[key] = build_extractor(
                name, device, weights=extraction.weights, channels_last=extraction.channels_last,
                autocast=extraction.autocast, compile=extraction.compile, option="extractor",
                pipeline=extraction.pipeline, backend=self.backend,
            )  # fmt: skip
        return self._extractors[key]

    def evaluate(
        self,
        fake: Any,
        real: Any,
        fail_if: Sequence[str] = (),
        baseline: Mapping[str, Any] | str | None = None,
        max_regression: float | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        extractor: str | FeatureExtractor | None = None,
        num_samples: int | None = None,
        fail_now: bool = True,
        **options: Any,
    ) -> EvaluationResult:
        """Evaluate ``fake`` against ``real`` and fail the calling test when a gate fails.

        Args:
            fake: a folder, a tensor, a DataLoader, or a generator callable ``fn(n) -> images`` (called under
                ``torch.manual_seed(seed)``; ``num_samples`` required).
            real: a folder, a tensor, or a ``.npz`` file from ``ganprobe stats``.
            fail_if: gate expressions such as ``"fid>40"`` (the test fails when one holds).
            baseline: a previous JSON report (dict or path) for regression gates.
            max_regression: allowed worsening against ``baseline`` in percent (default 10); noise is allowed for
                as in the CLI (``sigmas=`` in ``options`` is not taken: see :meth:`EvaluationResult.check`).
            settings: metric settings ``{"kid": {"subset_size": 500}}`` (over ``--ganprobe-set``).
            extractor: registry name or extractor (default: ``--ganprobe-extractor``, else ganprobe's default).
            num_samples: images per set (``--ganprobe-num-samples`` overrides it).
            fail_now: fail the calling test at once when a gate fails (``False``: only record the failures in
                :attr:`last_failures`).
            options: any other keyword of :func:`ganprobe.run.pipeline.evaluate` (``metrics``, ``layers``, ``seed``...).

        Returns:
            The :class:`ganprobe.run.pipeline.EvaluationResult` (``result["fid"]``, ``result.separability``...).
        """
        from ganprobe.errors import GanprobeError
        from ganprobe.front_end_names import render
        from ganprobe.utils.safe_text import one_line

        # Bad input (a missing folder, a stats file of another extractor, a typo in a gate) fails the test with one
        # line, never a traceback through ganprobe's internals.
        try:
            result, failed = self._run(
                fake, real, fail_if, baseline, max_regression, settings, extractor, num_samples, options
            )
        except GanprobeError as error:
            problem = one_line(render(error, "plugin")) or type(error).__name__
        else:
            problem = ""
        if problem:  # failed outside the except block, so pytest shows no chained error in Python's words
            pytest.fail(f"ganprobe: {problem}", pytrace=False)
        if failed and fail_now:
            pytest.fail(failure_message(failed), pytrace=False)
        self.last_failures = failed
        return result

    def _run(
        self,
        fake: Any,
        real: Any,
        fail_if: Sequence[str],
        baseline: Mapping[str, Any] | str | None,
        max_regression: float | None,
        settings: Mapping[str, Mapping[str, Any]] | None,
        extractor: str | FeatureExtractor | None,
        num_samples: int | None,
        options: dict[str, Any],
    ) -> tuple[EvaluationResult, list[GateResult]]:
        """Build the extractor and cache as the CLI does, evaluate, and check the gates: ``(result, failed)``."""
        from ganprobe.report.gates import check_max_regression
        from ganprobe.run.pipeline import evaluate
        from ganprobe.run.runtime import build_cache, build_extractor

        device = str(self.device_option or options.pop("device", None) or self.device)
        options.pop("device", None)
        if extractor is not None and not isinstance(extractor, str):
            model = build_extractor(extractor, device)
        else:
            model = self._extractor(extractor or self.extractor, device)
        merged = {metric: dict(values) for metric, values in self.settings.items()}
        for metric, values in (settings or {}).items():
            merged.setdefault(metric, {}).update(values)
        execution = self.config.execution
        options.setdefault("cache", build_cache(execution.cache_dir, self.use_cache, execution.hash_contents))
        limit = self.config.gates.max_regression if max_regression is None else max_regression
        check_max_regression(limit)
        # Gates are validated before the (slow) evaluation, so a typo or a left-out metric fails at once.
        result = evaluate(
            fake,
            real,
            self.config,
            extractor=model,
            num_samples=self.num_samples or num_samples,
            fail_if=fail_if,
            settings=merged,
            **options,
        )
        sigmas = self.config.gates.regression_sigmas
        return result, [gate for gate in result.check(fail_if, baseline, limit, sigmas) if not gate.passed]


@pytest.fixture(scope="session")
def ganprobe(request: pytest.FixtureRequest) -> GanprobeSession:
    """The session's :class:`GanprobeSession`: call ``ganprobe.evaluate(fake, real, fail_if=[...])`` in a test."""
    return GanprobeSession(config=session_config(request.config))


@pytest.fixture
def ganprobe_result(request: pytest.FixtureRequest, ganprobe: GanprobeSession) -> EvaluationResult:
    """The evaluation declared by the test's ``@pytest.mark.ganprobe(fake=..., real=..., fail_if=[...])`` marker.

    Gates are checked before the test body runs; a failing gate fails the test with metric, value and threshold.
    """
    marker = request.node.get_closest_marker("ganprobe")
    if marker is None:
        raise pytest.UsageError(
            f"{request.node.nodeid}: the ganprobe_result fixture needs @pytest.mark.ganprobe(fake=..., real=...)"
        )
    kwargs = dict(marker.kwargs)
    for name, value in zip(("fake", "real"), marker.args, strict=False):
        kwargs.setdefault(name, value)
    missing = [name for name in ("fake", "real") if name not in kwargs]
    if missing:
        raise pytest.UsageError(f"{request.node.nodeid}: @pytest.mark.ganprobe needs {' and '.join(missing)}")
    for name in ("fake", "real", "baseline"):  # relative paths are relative to the project's root, not the cwd
        if isinstance(kwargs.get(name), (str, os.PathLike)) and not Path(kwargs[name]).is_absolute():
            kwargs[name] = request.config.rootpath / kwargs[name]
    result = ganprobe.evaluate(fail_now=False, **kwargs)
    # A failing gate fails the test in its call phase (reported FAILED, not as a setup ERROR), before the body runs.
    request.node.stash[_FAILED_GATES] = ganprobe.last_failures
    return result


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A ``@pytest.mark.ganprobe`` test evaluates even when it does not ask for ``ganprobe_result`` itself."""
    for item in items:
        fixtures = getattr(item, "fixturenames", None)
        marked = item.get_closest_marker("ganprobe") is not None
        if marked and fixtures is not None and "ganprobe_result" not in fixtures:
            fixtures.append("ganprobe_result")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    """Fail a ``@pytest.mark.ganprobe`` test whose gates failed, instead of running its body."""
    failed = pyfuncitem.stash.get(_FAILED_GATES, [])
    if failed:
        pytest.fail(failure_message(failed), pytrace=False)
