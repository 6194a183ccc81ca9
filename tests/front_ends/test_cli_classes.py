"""``ganprobe evaluate --classes``: bad class input is one line on standard error, exit 2, and nothing written.

Each refusal comes before any image is extracted: an unknown class in a gate, a per-class gate without classes, a
label file naming a file outside both folders, an image directly in a folder labelled by its subfolders, and
``predicted`` on an extractor without class logits.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from ganprobe.extractors import registry as registry_mod
from ganprobe.extractors.module import ModuleExtractor
from ganprobe.extractors.registry import register_extractor
from ganprobe.front_ends.cli import main
from ganprobe.run.config import RunConfig


def _image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(torch.full((28, 28), value, dtype=torch.uint8).numpy()).save(path)


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    for which in ("real", "fake"):
        for digit in ("1", "2"):
            for index in range(3):
                _image(tmp_path / which / digit / f"{index}.png", 40 * index + int(digit))
    return tmp_path


def _label_rows() -> list[str]:
    """``path,label`` rows of every image of :func:`folders`, relative to its root (the label file's folder)."""
    sets, digits = ("real", "fake"), "12"
    return [f"{which}/{digit}/{index}.png,{digit}" for which in sets for digit in digits for index in range(3)]


def _refused(root: Path, capsys: pytest.CaptureFixture[str], *options: str) -> str:
    report = root / "report.json"
    argv = ["evaluate", str(root / "fake"), str(root / "real"), "--extractor", "lenet-mnist", "--no-cache"]
    argv += ["--quiet", "--metrics", "knn_loo", "--json", str(report), *options]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert not report.exists()
    return err


def test_a_gate_on_an_unknown_class_is_refused(folders: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(folders, capsys, "--classes", "subfolders", "--fail-if", "knn_loo[7]>0.9")
    assert "no class named '7'; the classes are 1, 2" in err


def test_a_per_class_gate_without_classes_is_refused(folders: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _refused(folders, capsys, "--fail-if", "missing_classes>0")
    assert "missing_classes is a per-class value" in err and "--classes subfolders" in err


def test_a_per_class_gate_on_a_metric_the_run_leaves_out_is_refused(
    folders: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(folders, capsys, "--classes", "subfolders", "--fail-if", "recall[1]<0.5")
    assert "needs metric 'precision_recall'" in err


def test_a_label_file_naming_a_file_outside_the_folders_is_refused(
    folders: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _label_rows()
    label_file = folders / "labels.csv"
    label_file.write_text("\n".join([*rows, "elsewhere/0.png,1"]) + "\n")
    err = _refused(folders, capsys, "--classes", str(label_file))
    assert "line 13: 'elsewhere/0.png' lies under neither the real folder" in err


def test_a_label_file_leaving_an_image_unlabelled_is_refused(folders: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _label_rows()
    label_file = folders / "labels.csv"
    label_file.write_text("\n".join(rows[:-1]) + "\n")
    err = _refused(folders, capsys, "--classes", str(label_file))
    assert "1 image(s) of the fake folder" in err and "have no label, e.g. '2/2.png'" in err


def test_an_image_directly_in_a_folder_labelled_by_subfolders_is_refused(
    folders: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _image(folders / "real" / "stray.png", 9)
    err = _refused(folders, capsys, "--classes", "subfolders")
    assert "stray.png" in err and "image outside a class subfolder" in err


def test_a_classes_value_that_is_no_mode_and_no_file_is_refused(
    folders: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(folders, capsys, "--classes", "subfolder")
    assert "--classes 'subfolder': expected subfolders, predicted, or an existing .csv/.json label file" in err


def test_predicted_classes_on_an_extractor_without_logits_are_refused(
    folders: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_mod, "_REGISTRY", dict(registry_mod._REGISTRY))

    def toy() -> ModuleExtractor:
        net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        return ModuleExtractor(net, layers=["3"], input_size=(8, 8), name="toy")

    register_extractor("toy-no-logits", toy)
    report = folders / "report.json"
    argv = ["evaluate", str(folders / "fake"), str(folders / "real"), "--extractor", "toy-no-logits", "--no-cache"]
    argv += ["--quiet", "--metrics", "knn_loo", "--json", str(report), "--classes", "predicted"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--classes predicted: extractor 'toy' has no class logits; use subfolders or a label file" in err
    assert len(err.splitlines()) == 1 and not report.exists()


def test_classes_and_worst_come_from_every_configuration_layer(tmp_path: Path) -> None:
    environ = {"GANPROBE_CLASSES": "subfolders", "GANPROBE_WORST": "3"}
    config = RunConfig.resolve(environ=environ, pyproject=False)
    assert config["classes"] == "subfolders" and config["worst"] == 3
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.ganprobe]\nclasses = "predicted"\nworst = 0\n')
    config = RunConfig.resolve(environ={}, pyproject=pyproject)
    assert config["classes"] == "predicted" and config["worst"] == 0
    assert RunConfig.resolve({"classes": "labels.csv"}, environ=environ, pyproject=False)["classes"] == "labels.csv"
    assert RunConfig.build()["classes"] is None and RunConfig.build()["worst"] == 10


def test_classes_from_files_need_folders_not_a_stats_file(folders: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = folders / "real.npz"
    stats.write_bytes(b"not read")
    argv = ["evaluate", str(folders / "fake"), str(stats), "--extractor", "lenet-mnist", "--no-cache", "--quiet"]
    argv += ["--metrics", "knn_loo", "--classes", "subfolders"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "--classes subfolders: the real images are not a folder, so no file carries their class; give the real "
        "image folder instead of a stats file"
    )
