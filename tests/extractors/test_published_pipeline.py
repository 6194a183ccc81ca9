"""The inception-fid pipeline is part of the description, cache keys, stats files and the published-number labels:
only the official weights with the TF pipeline are "comparable with published", and labels name the reference."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganprobe.extractors.published as published
import ganprobe.scorers.fid as fid_mod
from ganprobe.errors import InputError
from ganprobe.extractors import get_extractor
from ganprobe.extractors.inception_fid.network import FIDInceptionV3
from ganprobe.extractors.weights import WeightsFile, sha256_file
from ganprobe.features.cache import cache_key
from ganprobe.features.stats import check_compatible, load_reference_stats, save_reference_stats
from ganprobe.metrics import FID, KID, InceptionScore


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        model = FIDInceptionV3()
    path = tmp_path_factory.mktemp("w") / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture
def trusted(weights_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Treat the test file as the official one (its digest pinned and recognised as published)."""
    digest = sha256_file(weights_file)
    spec = published.FID_INCEPTION_WEIGHTS
    monkeypatch.setattr(published, "FID_INCEPTION_WEIGHTS", WeightsFile(spec.filename, spec.url, digest))
    monkeypatch.setattr(fid_mod, "PUBLISHED_WEIGHTS_SHA256", digest)
    return weights_file


def test_default_pipeline_is_tf(weights_file: Path) -> None:
    extractor = get_extractor("random-inception-fid")
    assert extractor.pipeline == "tf"
    text = extractor.preprocessing.describe()
    assert "pipeline=tf" in text and "resize=tf1-bilinear" in text and "range=0-255" in text
    with pytest.raises(InputError, match="pipelines"):
        get_extractor("random-inception-fid", pipeline="tensorflow")


def test_pipeline_is_in_cache_keys() -> None:
    keys = {
        name: cache_key({"kind": "tensor"}, get_extractor("random-inception-fid", pipeline=name), ["pool"], None)
        for name in ("tf", "clean", "pytorch-fid")
    }
    assert len({str(key) for key in keys.values()}) == 3


def test_stats_file_of_another_pipeline_is_refused_with_the_fix(tmp_path: Path) -> None:
    clean = get_extractor("random-inception-fid", pipeline="clean")
    path = save_reference_stats(tmp_path / "real.npz", {"pool": torch.randn(4, 8)}, clean)
    _, meta = load_reference_stats(path)
    check_compatible(meta, clean, path)  # same pipeline: accepted
    with pytest.raises(InputError) as info:
        check_compatible(meta, get_extractor("random-inception-fid"), path)
    message = str(info.value)
    assert "'clean'" in message and "'tf'" in message and "pipeline='clean'" in message


def test_only_official_weights_with_the_tf_pipeline_are_comparable(trusted: Path) -> None:
    labels = {}
    for pipeline in ("tf", "clean", "pytorch-fid"):
        extractor = get_extractor("inception-fid", weights_path=trusted, pipeline=pipeline)
        fid = FID(extractor=extractor)
        comparable = fid.comparable_with_published
        assert comparable == (pipeline == "tf")
        assert KID(extractor=extractor).comparable_with_published == comparable
        assert InceptionScore(extractor=extractor).comparable_with_published == comparable
        output = fid.declared_outputs()[0]
        labels[pipeline] = output.display_label("inception-fid:pool", comparable)
    assert labels["tf"] == "FID (comparable with TensorFlow FID (TTUR) / torch-fidelity)"
    assert "clean-fid" in labels["clean"] and not labels["clean"].startswith("FID")
    assert "pytorch-fid" in labels["pytorch-fid"] and not labels["pytorch-fid"].startswith("FID")


def test_unverified_or_random_weights_are_never_comparable(trusted: Path) -> None:
    unverified = get_extractor("inception-fid", weights_path=trusted, verify_checksum=False)
    assert unverified.published_reference is None
    assert get_extractor("random-inception-fid").published_reference is None
    assert not FID(extractor=get_extractor("random-inception-fid")).comparable_with_published


def test_cli_pipeline_option_reaches_the_extractor_and_the_report(tmp_path: Path, capsys) -> None:
    import json

    import numpy as np
    from PIL import Image

    from ganprobe.front_ends.cli import main

    for name in ("fake", "real"):
        (tmp_path / name).mkdir()
        for index in range(4):
            pixels = np.random.default_rng(index + len(name)).integers(0, 256, (40, 30, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{index}.png")
    report = tmp_path / "report.json"
    common = [str(tmp_path / "fake"), str(tmp_path / "real"), "--no-cache", "--quiet", "--metrics", "fid"]
    assert main(["evaluate", *common, "--extractor", "random-inception-fid", "--pipeline", "clean", "--json",
                 str(report)]) == 0  # fmt: skip
    assert "pipeline=clean" in json.loads(report.read_text())["extractor"]["preprocessing"]
    assert main(["evaluate", *common, "--extractor", "random-resnet18", "--pipeline", "clean"]) == 2
    assert "--pipeline: 'resnet18' has pipelines ['imagenet'], got 'clean'" in capsys.readouterr().err
