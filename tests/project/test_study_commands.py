"""Each seed study runs end to end from ``examples/reproduce_study.py`` with tiny settings and writes every output
its README row promises (figures, exported samples, summary.json/summary.md with the study's numbers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import reproduce_study  # noqa: E402
from gan.data import image_folder  # noqa: E402
from gan.studies import common  # noqa: E402

COMMON = ["--threads", "1", "--device", "cpu"]
TINY_DCGAN64 = ["--images", "40", "--held-out", "16", "--steps", "2", "--width", "4", "--batch-size", "8"]


def check_outputs(result: common.StudyResult, out: Path, promised: set[str], study: str) -> dict:
    """Every promised file exists and is not empty, and so does every output examples/README.md lists for the
    study; the summary holds the study's rows; returns summary.json."""
    listed = readme_outputs(study)
    assert len(listed) >= 3, listed
    for name in [*listed, "summary.json", "summary.md"]:
        assert list(out.glob(name.rstrip("/"))), f"{study}: README promises {name}, the run has no such output"
    assert promised <= set(result.files), promised - set(result.files)
    for name in promised:
        path = result.files[name]
        assert path.exists(), name
        if path.suffix == ".png":
            assert path.stat().st_size > 2000, name
            assert min(Image.open(path).size) >= 150, name  # large enough to read
    summary = json.loads((out / "summary.json").read_text())
    assert summary["study"] == result.study and len(summary["rows"]) == len(result.rows) >= 3
    table = (out / "summary.md").read_text()
    assert "| quantity | study reported | this run | note |" in table
    assert all(row["here"] and row["study"] for row in summary["rows"])
    return summary


def test_every_study_has_a_subcommand_with_short_and_full_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert set(reproduce_study.STUDIES) == {"campus", "faces", "acgan", "course", "layers"}
    for name, module in reproduce_study.STUDIES.items():
        assert set(module.SHORT) == set(module.FULL), name
        with pytest.raises(SystemExit):
            reproduce_study.main([name, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--full" in text and "--seed" in text, name
        key, value = next(iter(module.FULL.items()))
        assert f"--full: {value}" in text, (name, key)
    args = reproduce_study.build_parser().parse_args(["layers", "--full", "--embed-samples", "7"])
    common.resolve(args, reproduce_study.layers.SHORT, reproduce_study.layers.FULL)
    assert (args.epochs, args.embed_samples, args.tsne_iterations) == (45, 7, 300)  # explicit flags beat --full


def test_layers_study_embeds_g_and_d_layers_coloured_by_digit(tmp_path: Path) -> None:
    argv = ["layers", "--out", str(tmp_path), "--steps", "2", "--width", "4", "--embed-samples", "30"]
    result = reproduce_study.main([*argv, "--tsne-iterations", "250", "--batch-size", "32", *COMMON])
    check_outputs(result, tmp_path, {"d_layers_real", "d_layers_fake", "g_layers", "class_structure"}, "layers")
    scores = result.numbers["digit_1nn"]
    assert list(scores["D on real digits"]) == ["conv1", "conv2", "conv3"]
    assert list(scores["G (generated digits)"]) == ["fc", "deconv1", "deconv2", "out"]
    assert all(0.0 <= v <= 1.0 for group in scores.values() for v in group.values())
    assert sum(result.numbers["fake_predicted_class_counts"].values()) == 30
    again = reproduce_study.main([*argv[:2], str(tmp_path / "again"), *argv[3:], "--tsne-iterations", "250",
                                  "--batch-size", "32", *COMMON])  # fmt: skip
    assert again.numbers["digit_1nn"] == scores  # deterministic for a seed: training, sampling, PCA


def test_faces_study_exports_samples_and_measures_1nn_tsne_and_pca(tmp_path: Path) -> None:
    argv = ["faces", "--out", str(tmp_path), *TINY_DCGAN64, "--tsne-iterations", "250"]
    result = reproduce_study.main([*argv, "--extractor", "random-resnet18", *COMMON])
    promised = {"tsne", "pca_variance", "export_fake", "export_real", "train_final_grid"}
    check_outputs(result, tmp_path, promised, "faces")
    fake, real = image_folder(result.files["export_fake"], 64), image_folder(result.files["export_real"], 64)
    assert len(fake) == len(real) == 16  # as many generated as real images, as in the study
    assert set(result.numbers["knn_loo"]) == {"logits", "pool"}
    assert all(0.0 <= value <= 1.0 for value in result.numbers["knn_loo"].values())
    # Evaluation-only mode on the exported folders gives the same numbers (deterministic for a seed).
    again = reproduce_study.main(
        ["faces", "--out", str(tmp_path / "again"), "--fake", str(result.files["export_fake"]), "--real",
         str(result.files["export_real"]), "--extractor", "random-resnet18", "--tsne-iterations", "250", *COMMON]
    )  # fmt: skip
    assert again.numbers["knn_loo"] == result.numbers["knn_loo"]
    assert again.numbers["pca_components"] == result.numbers["pca_components"]


def test_campus_study_runs_the_protocol_per_block(tmp_path: Path) -> None:
    argv = ["campus", "--out", str(tmp_path), *TINY_DCGAN64, "--samples", "12", "--extractor", "random-resnet18"]
    result = reproduce_study.main([*argv, *COMMON])
    check_outputs(result, tmp_path, {"tsne_per_block", "separability_per_block", "train_final_grid"}, "campus")
    table = result.numbers["per_block"]
    assert list(table) == ["layer1", "layer2", "layer3", "layer4"]
    assert all(set(scores) == {"pca2_kmeans", "pca2_svm", "linear_probe", "knn_loo"} for scores in table.values())
    assert result.numbers["real_images"] == result.numbers["fake_images"] == 12


def test_acgan_study_compares_both_discriminators_and_probes_them(tmp_path: Path) -> None:
    argv = ["acgan", "--out", str(tmp_path), "--images", "60", "--held-out", "20", "--width", "8", "--steps", "5"]
    argv += ["--classifier-steps", "2", "--batch-size", "8", "--ascent-steps", "3", "--probe-samples", "20"]
    result = reproduce_study.main([*argv, "--extractor", "random-resnet18", *COMMON])
    promised = {"comparison", "samples_by_class", "gan_samples"}
    promised |= {f"{who}_{plot}" for who in ("classifier", "gan") for plot in ("perturbation", "maximised")}
    promised |= {f"{who}_maximised_features" for who in ("classifier", "gan")}
    check_outputs(result, tmp_path, promised, "acgan")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [str(d) for d in range(10)]
    assert {len(list((tmp_path / "data" / str(d)).glob("*.png"))) for d in range(10)} == {6}  # class-balanced
    for key in ("classifier_only_accuracy", "with_generator_accuracy", "with_generator_maximised_logit_7"):
        assert key in result.numbers
    # the generator's Classification Accuracy Score, beside the real-trained probe and the shuffled-label control
    assert result.numbers["cas_fakes"] == 60
    assert all(0.0 <= result.numbers[key] <= 1.0 for key in ("cas", "cas_real", "cas_shuffled", "cas_chance"))
    (row,) = [row for row in result.rows if row.what.startswith("Classification Accuracy Score")]
    assert f"{result.numbers['cas']:.1%}" in row.here and f"{result.numbers['cas_real']:.1%}" in row.here


def test_course_study_trains_the_three_gans(tmp_path: Path) -> None:
    argv = ["course", "--out", str(tmp_path), "--steps", "2", "--eval-samples", "30", "--width-scale", "0.05"]
    result = reproduce_study.main([*argv, "--extractor", "random-lenet-mnist", *COMMON])
    promised = {"samples", "vanilla_metrics_plot", "lsgan_metrics_plot", "dcgan_metrics_plot"}
    check_outputs(result, tmp_path, promised, "course")
    assert set(result.numbers) == {"vanilla", "lsgan", "dcgan"}
    assert [row.study for row in result.rows] == ["1.451 / 0.823 (step 3,750)", "0.239 / 0.165 (step 3,750)",
                                                  "0.91 / 1.15 (step 3,750)"]  # fmt: skip


def test_coloured_digits_are_class_balanced_on_the_sorted_data() -> None:
    data = common.coloured_digits(50, seed=0)
    assert data.images.shape == (50, 3, 32, 32) and data.images.dtype == torch.uint8
    assert torch.bincount(data.labels, minlength=10).tolist() == [5] * 10
    crops = common.photo_crops(6, 64, seed=1)
    assert crops.images.shape == (6, 3, 64, 64) and torch.equal(crops.images, common.photo_crops(6, 64, 1).images)


def readme_outputs(study: str) -> list[str]:
    """The files and folders examples/README.md promises for ``study`` (its "Outputs:" paragraph), braces expanded."""
    import re

    text = (EXAMPLES / "README.md").read_text()
    start = text.index(f"python examples/reproduce_study.py {study} ")
    section = text[start : text.find("\n### ", start)]
    paragraph = section[section.index("Outputs:") :].split("\n\n")[0]
    names = []
    for token in re.findall(r"`([^`]+)`", paragraph):
        if not re.search(r"(\.png|\.json|/)$", token):
            continue
        match = re.search(r"\{([^}]*)\}", token)
        options = match.group(1).split(",") if match else [""]
        names += [token.replace(match.group(0), option) if match else token for option in options]
    return [name.replace("XXXX", "*") for name in names]
