"""Errors that know their option (issue 25 item 2): each message that names a parameter is built from a template
and rendered in the words of the front end in use (Python ``weights_path=``, CLI ``--weights``, the pytest plugin's
options), with no search-and-replace on the rendered text.

The reference for the command line's words is the CLI's former rewriting of the Python messages (``in_cli_words``,
copied below): every case it handled must render the same words from the template, except the KID advice that the
rewriting missed (its pattern said ``set shrink_subsets``, the warning says ``pass shrink_subsets``).
"""

from __future__ import annotations

import ast
import os
import pickle
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganprobe
from ganprobe.errors import (
    GanprobeError,
    ImageFolderError,
    InputError,
    SkippedImagesWarning,
    UsageError,
    WeightsChecksumError,
    WeightsNotFoundError,
    error_from_report,
    problem_report,
)
from ganprobe.front_end_names import FRONT_ENDS, PARAMETERS, PerFrontEnd, Template, fields, render
from ganprobe.front_ends.cli import main

# -- the reference: the CLI's former rewriting, verbatim ---------------------------------------------------------
_OLD_WORDS = (
    ("strict=False (CLI --skip-unreadable) skips such files instead", "--skip-unreadable skips such files instead"),
    ("(strict=True fails instead)", "(without --skip-unreadable such files fail the run)"),
    ("(or pass weights_path=...)", "(or pass --weights FILE)"),
    ("weights_path '", "--weights '"),
    ("pipeline: '", "--pipeline: '"),
    ("lower batch_size or num_workers (CLI --batch-size, --workers)", "lower --batch-size or --workers"),
    (" (set shrink_subsets=False to get an error instead)", ""),
)
_OLD_PATTERNS = (
    (re.compile(r"settings=\{'(\w+)': \{'(\w+)': ([^}]+)\}\}"), r"--set \1.\2=\3"),
    (re.compile(r"leave it out of metrics=\[\.\.\.\]"), "leave the metric out of --metrics"),
    (re.compile(r"^backend: "), "--backend: "),
    (
        re.compile(r"\(or pass verify_checksum=False for your own weights\)"),
        "(your own weights load from Python with verify_checksum=False; the command line takes only published ones)",
    ),
    (
        re.compile(r"pass verify_checksum=False for your own weights"),
        "your own weights load from Python with verify_checksum=False (the command line takes only published ones)",
    ),
    (
        re.compile(r"pass weights_path=\.\.\. with verify_checksum=False"),
        "load its weights from Python with weights_path=... and verify_checksum=False",
    ),
)


def _old_cli_words(message: str) -> str:
    for python, cli in _OLD_WORDS:
        message = message.replace(python, cli)
    for pattern, cli in _OLD_PATTERNS:
        message = pattern.sub(cli, message)
    return message


# Python keyword spellings the command line must never print (verify_checksum is said as Python-only advice).
PYTHON_SPELLINGS = ("weights_path", "strict=", "settings=", "metrics=", "batch_size", "num_workers", "shrink_subsets")


def _folder(path: Path, count: int, seed: int, broken: bool = False) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(path / f"{index}.png")
    if broken:
        (path / "broken.png").write_bytes(b"not a png")
    return path


# -- one function per case the former rewriting handled: each returns the error or warning a real call raises ---
def _missing_weights_path(tmp_path: Path) -> BaseException:
    from ganprobe.extractors.weights import WeightsFile, resolve_weights

    with pytest.raises(WeightsNotFoundError) as info:
        resolve_weights(WeightsFile("w.pth", None, "ab" * 32), tmp_path / "none.pth")
    return info.value


def _weights_nowhere(tmp_path: Path) -> BaseException:
    from ganprobe.extractors.weights import WeightsFile, look_only, resolve_weights

    spec = WeightsFile("w-12345678.pth", "https://example.invalid/w-12345678.pth", "ab" * 32)
    with pytest.MonkeyPatch.context() as patch, look_only(), pytest.raises(WeightsNotFoundError) as info:
        patch.setenv("GANPROBE_WEIGHTS_DIR", str(tmp_path / "weights"))
        patch.setenv("GANPROBE_CACHE_DIR", str(tmp_path / "cache"))
        patch.setenv("TORCH_HOME", str(tmp_path / "torch"))
        resolve_weights(spec)
    return info.value


def _unreadable_strict(tmp_path: Path) -> BaseException:
    from ganprobe.data.sources import iter_folder_batches

    folder = _folder(tmp_path / "images", 3, 1, broken=True)
    with pytest.raises(ImageFolderError) as info:
        list(iter_folder_batches(folder, 8, num_workers=0))
    return info.value


def _unreadable_skipped(tmp_path: Path) -> Warning:
    from ganprobe.data.sources import report_skipped

    with pytest.warns(SkippedImagesWarning) as caught:  # what a non-strict extraction calls for its skipped files
        report_skipped(tmp_path, [(str(tmp_path / "broken.png"), "cannot decode image")])
    return caught[0].message  # type: ignore[return-value]


def _unknown_pipeline(tmp_path: Path) -> BaseException:
    from ganprobe.extractors.builtin import BACKBONES

    with pytest.raises(InputError) as info:
        BACKBONES["resnet18"].pipeline("clean")
    return info.value


def _unknown_backend(tmp_path: Path) -> BaseException:
    from ganprobe.extractors.onnx_backend import check_backend

    with pytest.raises(InputError) as info:
        check_backend("tensorrt")
    return info.value


def _too_few_images(tmp_path: Path) -> BaseException:
    from ganprobe.run.evaluator import Evaluator

    evaluator = Evaluator("random-resnet18", metrics=["is"])
    with pytest.raises(InputError) as info:
        evaluator.check_sample_counts(20, 4)
    return info.value


def _no_published_checksum(tmp_path: Path) -> BaseException:
    from ganprobe.extractors.weights import verify_checksum

    (tmp_path / "own.pth").write_bytes(b"weights")
    with pytest.raises(WeightsChecksumError) as info:
        verify_checksum(tmp_path / "own.pth", "")
    return info.value


def _other_checksum(tmp_path: Path) -> BaseException:
    from ganprobe.extractors.weights import verify_checksum

    (tmp_path / "other.pth").write_bytes(b"weights")
    with pytest.raises(WeightsChecksumError) as info:
        verify_checksum(tmp_path / "other.pth", "ab" * 32)
    return info.value


def _bundled_lenet_missing(tmp_path: Path) -> BaseException:
    from ganprobe.extractors import published

    with pytest.MonkeyPatch.context() as patch, pytest.raises(WeightsNotFoundError) as info:
        patch.setattr(published, "BUNDLED_WEIGHTS", tmp_path / "lenet_mnist.pt")
        published.find_lenet_weights(None, True)
    return info.value


CASES = {
    "missing weights_path": (_missing_weights_path, "--weights '", "weights_path '"),
    "weights nowhere": (_weights_nowhere, "(or pass --weights FILE)", "(or pass weights_path=...)"),
    "unreadable file, strict": (
        _unreadable_strict, "--skip-unreadable skips such files instead", "strict=False skips such files instead"
    ),
    "unreadable file, skipped": (
        _unreadable_skipped, "(without --skip-unreadable such files fail the run)", "(strict=True fails instead)"
    ),
    "unknown pipeline": (_unknown_pipeline, "--pipeline: 'resnet18' has pipelines", "pipeline: 'resnet18'"),
    "unknown backend": (_unknown_backend, "--backend: expected one of", "--ganprobe-backend: expected one of"),
    "too few images": (
        _too_few_images,
        "lower it with --set is.splits=N, or leave the metric out of --metrics",
        "lower it with settings={'is': {'splits': N}}, or leave it out of metrics=[...]",
    ),
    "no published checksum": (
        _no_published_checksum, "the command line takes only published ones", "pass verify_checksum=False for your"
    ),
    "other checksum": (_other_checksum, "the command line takes only published ones", "(or pass verify_checksum=False"),
    "bundled lenet missing": (
        _bundled_lenet_missing,
        "load its weights from Python with weights_path=... and verify_checksum=False",
        "pass weights_path=... with verify_checksum=False",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_each_front_end_says_it_in_its_own_words(case: str, tmp_path: Path) -> None:
    make, cli_words, plugin_words = CASES[case]
    error = make(tmp_path)
    python = str(error)
    assert render(error, "python") == python
    # the command line's words are those of the former rewriting, now built from the template
    assert render(error, "cli") == _old_cli_words(python), render(error, "cli")
    assert cli_words in render(error, "cli") and cli_words not in python
    assert plugin_words in render(error, "plugin"), render(error, "plugin")
    assert error.parameters and set(error.parameters) <= set(PARAMETERS)  # it knows what it concerns
    if "checksum" not in case and "lenet" not in case:  # there the CLI says that only Python can do it
        assert not [word for word in PYTHON_SPELLINGS if word in render(error, "cli")], render(error, "cli")


def test_kid_advice_names_no_python_only_argument_outside_python() -> None:
    from ganprobe.metrics.kid import KID

    metric = KID(subset_size=95, num_subsets=10, seed=3, extractor=None)
    metric.update(torch.randn(100, 8), real=True)
    metric.update(torch.randn(90, 8), real=False)
    with pytest.warns(UserWarning, match="subset_size 95 lowered to 90") as caught:
        metric.compute()
    warning = next(item.message for item in caught if "lowered" in str(item.message))
    assert "pass shrink_subsets=False to get an error instead" in str(warning)
    for front_end in ("cli", "plugin"):  # only the KID classes take shrink_subsets
        assert render(warning, front_end) == str(warning).removesuffix(
            " (pass shrink_subsets=False to get an error instead)"
        )
        assert "shrink_subsets" not in render(warning, front_end)


def test_a_killed_decoding_worker_names_each_front_ends_options(tmp_path: Path, monkeypatch) -> None:
    from ganprobe.data import sources

    folder = _folder(tmp_path / "images", 24, 3)
    decode = sources._FolderDataset.__getitem__

    def killed_at_10(self: object, index: int) -> object:  # the out-of-memory killer, in a forked worker
        if index == 10:
            os.kill(os.getpid(), signal.SIGKILL)
        return decode(self, index)

    monkeypatch.setattr(sources._FolderDataset, "__getitem__", killed_at_10)
    with pytest.raises(ImageFolderError) as info:
        list(sources.iter_folder_batches(folder, 4, num_workers=2))
    error = info.value
    assert str(error).endswith("lower batch_size or num_workers (CLI --batch-size, --workers)")
    assert render(error, "cli") == _old_cli_words(str(error))
    assert render(error, "cli").endswith("lower --batch-size or --workers")
    assert render(error, "plugin").endswith("lower --ganprobe-batch-size or num_workers")


def test_an_error_without_a_parameter_is_the_same_everywhere() -> None:
    plain = InputError("x.png: not an image {weights_path} strict=False")
    for error in (plain, GanprobeError(), UsageError(""), SkippedImagesWarning("x {strict}", ["x"])):
        assert error.parameters == () and error.parameter is None
        assert {render(error, front_end) for front_end in FRONT_ENDS} == {str(error)}
    assert render("plain text", "cli") == "plain text"


def test_values_are_inserted_as_they_are_and_words_survive_pickling_and_other_processes() -> None:
    error = WeightsNotFoundError(Template("{weights_path} {path!r} is missing", path="/w/{strict}.pth"))
    assert str(error) == "weights_path '/w/{strict}.pth' is missing"  # a brace in a value is never a field
    assert render(error, "cli") == "--weights '/w/{strict}.pth' is missing"
    assert error.parameter == "weights_path" and isinstance(error, FileNotFoundError)
    for copy in (pickle.loads(pickle.dumps(error)), error_from_report(problem_report(error))):
        assert type(copy) is WeightsNotFoundError and str(copy) == str(error)
        assert render(copy, "cli") == render(error, "cli") and copy.parameters == ("weights_path",)
    assert type(error_from_report(["NoSuchError", "m"], InputError)) is InputError  # a [name, message] pair


def test_a_template_field_that_is_neither_value_nor_parameter_is_refused() -> None:
    with pytest.raises(KeyError, match="neither a value"):
        Template("{wieghts_path} missing").render("cli")
    with pytest.raises(LookupError, match="no equivalent"):
        Template("pass {verify_checksum}=False").render("cli")  # needs a PerFrontEnd


def _call_name(node: ast.Call) -> str:
    return node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")


def _constant_texts(tree: ast.Module) -> dict[str, str]:
    """Names assigned a string constant anywhere in a module (a template kept in a local variable)."""
    texts = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            texts.update({target.id: node.value.value for target in node.targets if isinstance(target, ast.Name)})
    return texts


def test_every_parameter_a_message_names_is_in_the_table_for_each_front_end_it_is_said_in() -> None:
    package = Path(ganprobe.__file__).parent
    templates, pieces = 0, 0
    for module in sorted(package.rglob("*.py")):
        tree = ast.parse(module.read_text())
        named = _constant_texts(tree)
        value_names = {
            keyword.arg for node in ast.walk(tree) if isinstance(node, ast.Call) and _call_name(node) == "Template"
            for keyword in node.keywords
        }  # fmt: skip
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _call_name(node) not in ("Template", "PerFrontEnd"):
                continue
            where = f"{module.relative_to(package.parent)}:{node.lineno}"
            if _call_name(node) == "Template":
                first = node.args[0]
                text = first.value if isinstance(first, ast.Constant) else named.get(getattr(first, "id", ""))
                assert isinstance(text, str), f"{where}: a Template's text must be a literal (or a name for one)"
                values = {keyword.arg for keyword in node.keywords}
                for field in set(fields(text)) - values:
                    assert field in PARAMETERS, f"{where}: {field!r} is neither a value nor in PARAMETERS"
                    for front_end in FRONT_ENDS:
                        assert PARAMETERS[field][front_end], f"{where}: {field!r} has no {front_end} spelling"
                templates += 1
            else:
                texts = {keyword.arg: keyword.value for keyword in node.keywords}
                texts.update(zip(("python", "cli", "plugin"), node.args, strict=False))
                texts.setdefault("plugin", texts["python"])
                for front_end, value in texts.items():
                    assert isinstance(value, ast.Constant), f"{where}: PerFrontEnd texts must be literals"
                    for field in set(fields(value.value)) - value_names:
                        assert field in PARAMETERS, f"{where}: {field!r} is neither a value nor in PARAMETERS"
                        assert PARAMETERS[field][front_end], f"{where}: {field!r} has no {front_end} spelling"
                pieces += 1
    assert templates >= 12 and pieces >= 8, (templates, pieces)  # the scan sees the raise sites


def test_per_front_end_pieces_need_the_command_lines_words() -> None:
    with pytest.raises(TypeError):
        PerFrontEnd(python="pass {strict}=False")  # type: ignore[call-arg]


def test_cli_output_names_options_not_python_keywords(tmp_path: Path, capsys) -> None:
    fake, real = _folder(tmp_path / "fake", 4, 1, broken=True), _folder(tmp_path / "real", 20, 2)
    fast = ["--extractor", "random-resnet18", "--quiet", "--workers", "0", "--no-cache"]
    assert main(["evaluate", str(fake), str(real), *fast, "--metrics", "fid"]) == 2  # the broken file, strict
    assert main(["evaluate", str(fake), str(real), *fast, "--metrics", "is", "--skip-unreadable"]) == 2  # 4 < 10
    weights = ["--extractor", "resnet18", "--weights", str(tmp_path / "none.pth"), "--metrics", "fid"]
    assert main(["evaluate", str(real), str(real), *fast, *weights]) == 2
    err = capsys.readouterr().err
    assert "--skip-unreadable skips such files instead" in err and "--set is.splits=N" in err, err
    assert "--weights '" in err and "--metrics" in err, err
    assert not [word for word in PYTHON_SPELLINGS if word in err], err


PLUGIN_TESTS = """
def test_backend_cannot_run(ganprobe, tmp_path):
    ganprobe.evaluate(REAL, REAL, extractor="random-resnet18", metrics=["fid"])

def test_unreadable_file(ganprobe):
    ganprobe.evaluate(BROKEN, REAL, extractor="random-resnet18", metrics=["fid"], num_workers=0)
"""


def test_the_plugin_prints_its_own_words(pytester: pytest.Pytester, tmp_path: Path) -> None:
    real, broken = _folder(tmp_path / "real", 4, 1), _folder(tmp_path / "broken", 4, 2, broken=True)
    pytester.makeconftest(
        "from ganprobe.extractors import onnx_backend\n"
        "onnx_backend.onnxruntime_available = lambda: False  # the backend error on any machine\n"
    )
    tests = f"REAL = {str(real)!r}\nBROKEN = {str(broken)!r}\n" + PLUGIN_TESTS
    pytester.makepyfile(test_words=tests)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ganprobe-no-cache",
        "--ganprobe-backend", "onnxruntime", "-k", "backend_cannot_run",
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ganprobe: --ganprobe-backend: onnxruntime cannot run extractor 'random-resnet18'*"])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ganprobe-no-cache", "-k", "unreadable_file")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ganprobe: *broken.png*; strict=False skips such files instead*"])
    assert "(CLI --skip-unreadable)" not in result.stdout.str()  # nor in a chained exception's report


def test_the_command_line_spellings_are_the_run_configurations_options() -> None:
    """Two tables name command-line options: the messages' (front_end_names.PARAMETERS) and the run configuration's
    fields (ganprobe.run.config.FIELDS). Where a message parameter is a configuration field they must agree."""
    from ganprobe.front_end_names import PARAMETERS
    from ganprobe.run.config import FIELDS

    fields = {field.name: field for field in FIELDS}
    field_of = {"weights_path": "weights"}  # the Python keyword of the extractor factory vs the field's name
    compared = 0
    for parameter, spellings in PARAMETERS.items():
        field = fields.get(field_of.get(parameter, parameter))
        if field is None:
            assert spellings["cli"] is None or parameter in {"verify_checksum", "shrink_subsets"}, parameter
            continue
        assert spellings["cli"] == field.cli, (parameter, spellings["cli"], field.cli)
        compared += 1
    assert compared >= 7
