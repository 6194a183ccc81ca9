"""The extractors' speed options: channels-last (default, tested in test_extractors), bf16 autocast and compile."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ganprobe import extract_features, get_extractor
from ganprobe.errors import InputError
from ganprobe.extractors.base import FeatureExtractor
from ganprobe.extractors.preprocessing import Preprocessing
from ganprobe.features import FeatureCache
from ganprobe.features.stats import check_compatible, load_reference_stats, save_reference_stats

IMAGES = (torch.rand(6, 3, 40, 40, generator=torch.Generator().manual_seed(2)) * 255).to(torch.uint8)


def _compiled_paths(model: nn.Module) -> set[str]:
    return {path for path, module in model.named_modules() if "forward" in vars(module)}


def test_compile_wraps_the_largest_untapped_modules_only() -> None:
    # torch.compile is lazy: building the extractor only swaps the forwards, nothing is compiled yet.
    lite0 = get_extractor("random-efficientnet-lite0", compile=True)
    compiled = _compiled_paths(lite0.model)
    assert lite0.compiled and lite0.execution == "channels_last float32 compiled"
    # Tapped modules compile their own forward (their hooks run outside it); the root and the stage list, which
    # hold taps, stay eager glue; nothing inside a compiled module is compiled again.
    assert {"stem", "stages.0", "stages.6", "head", "classifier"} <= compiled
    assert "" not in compiled and "stages" not in compiled
    assert not any(a != b and b.startswith(a + ".") for a in compiled for b in compiled)
    # A container without taps inside (no forward of its own) has its children compiled.
    holder = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU())
    holder.extra = nn.ModuleList([nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1)])
    from ganprobe.extractors.speed import compile_outside_taps

    assert compile_outside_taps(holder, ["1"]) == 3 and _compiled_paths(holder) == {"0", "extra.0", "extra.1"}
    resnet = get_extractor("random-resnet18", compile=True)
    assert {"conv1", "bn1", "layer1", "layer4", "fc"} <= _compiled_paths(resnet.model)
    assert not _compiled_paths(get_extractor("random-resnet18").model)


def test_compiled_extractor_gives_the_eager_features_and_stops_early() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3), nn.Flatten(), nn.LazyLinear(3))
    net(torch.zeros(1, 3, 12, 12))  # materialise the lazy layer
    taps = {"a": "0", "b": "2", "out": "4"}
    preprocessing = Preprocessing(size=(12, 12), mean=(0.5,) * 3, std=(0.5,) * 3)

    def build(model: nn.Module, compile: bool) -> FeatureExtractor:
        return FeatureExtractor("tiny", model, taps, preprocessing, "out", ("a", "b"), compile=compile)

    eager, compiled = build(copy.deepcopy(net), False), build(net, True)
    assert _compiled_paths(compiled.model) == {"0", "2", "4"}  # parameterless ReLU/Flatten stay eager
    ours = compiled(IMAGES, layers=["a", "b", "out"])
    reference = eager(IMAGES, layers=["a", "b", "out"])
    for layer in reference:
        torch.testing.assert_close(ours[layer], reference[layer], rtol=1e-5, atol=1e-6)
    # Early stop still works: asking for "a" alone never runs the later (compiled) layers.
    later_calls = []
    handle = compiled.model[2].register_forward_pre_hook(lambda *_: later_calls.append(1))
    torch.testing.assert_close(compiled(IMAGES, layers="a")["a"], reference["a"], rtol=1e-5, atol=1e-6)
    assert later_calls == []
    compiled(IMAGES, layers="b")
    assert later_calls == [1]
    handle.remove()
    # A copy (torchmetrics' clone() deep-copies) runs its own parameters, not the original's.
    twin = copy.deepcopy(compiled)
    assert twin.model[0].forward.__self__ is twin.model[0]
    with torch.no_grad():
        twin.model[4].bias.add_(1.0)
    torch.testing.assert_close(twin(IMAGES, layers="out")["out"], reference["out"] + 1.0, rtol=1e-5, atol=1e-5)


def test_bf16_autocast_is_opt_in_and_recorded(tmp_path: Path) -> None:
    plain = get_extractor("random-resnet18")
    fast = get_extractor("random-resnet18", autocast="bfloat16")
    assert plain.precision == "float32" and fast.precision == "bfloat16-autocast"
    assert fast.execution == "channels_last bfloat16-autocast"
    ours, reference = fast(IMAGES)["pool"], plain(IMAGES)["pool"]
    assert ours.dtype == torch.float32
    error = float((ours - reference).norm() / reference.norm())
    assert 0 < error < 0.1  # really ran in bf16 (not bit-identical), yet the same features to about 1e-2
    with pytest.raises(InputError, match="autocast: expected None or one of"):
        get_extractor("random-resnet18", autocast="int8")
    # Cache entries and stats files keep float32 and bf16 features apart.
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(np.full((16, 16, 3), 40 * index, dtype=np.uint8)).save(folder / f"{index}.png")
    cache = FeatureCache(tmp_path / "cache")
    extract_features(plain, folder, ["pool"], batch_size=3, num_workers=0, cache=cache)
    extract_features(fast, folder, ["pool"], batch_size=3, num_workers=0, cache=cache)
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2
    stats = save_reference_stats(tmp_path / "real.npz", plain(IMAGES), plain)
    _, meta = load_reference_stats(stats)
    check_compatible(meta, plain, stats)
    check_compatible(meta, get_extractor("random-resnet18", channels_last=False), stats)  # round-off only: fine
    with pytest.raises(InputError, match="made with precision 'float32', but this run uses 'bfloat16-autocast'"):
        check_compatible(meta, fast, stats)
    older = {key: value for key, value in meta.items() if key != "precision"}  # files written before the option
    check_compatible(older, plain, stats)


def test_cli_speed_options_reach_the_extractor_and_the_report(tmp_path: Path) -> None:
    from ganprobe.front_ends.cli import main

    for name in ("fake", "real"):
        folder = tmp_path / name
        folder.mkdir()
        rng = np.random.default_rng(len(name))
        for index in range(8):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)).save(folder / f"{index}.png")
    report = tmp_path / "report.json"
    code = main(
        [
            "evaluate", str(tmp_path / "fake"), str(tmp_path / "real"), "--extractor", "random-resnet18",
            "--metrics", "fid", "--no-cache", "--quiet", "--workers", "0", "--no-channels-last",
            "--autocast", "bfloat16", "--json", str(report),
        ]
    )  # fmt: skip
    assert code == 0
    assert json.loads(report.read_text())["extractor"]["execution"] == "contiguous bfloat16-autocast"


def test_cli_speed_option_a_custom_factory_lacks_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ganprobe.extractors import registry
    from ganprobe.front_ends.cli import main

    def factory(weights_path: str | None = None) -> FeatureExtractor:  # a user's factory, no speed options
        return get_extractor("random-resnet18")

    monkeypatch.setitem(registry._REGISTRY, "my-net", registry.ExtractorEntry("my-net", factory, "test"))
    (tmp_path / "f").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "f" / "0.png")
    code = main(["evaluate", str(tmp_path / "f"), str(tmp_path / "f"), "--extractor", "my-net", "--compile"])
    assert code == 2
    assert "--extractor my-net: its factory does not accept 'compile'" in capsys.readouterr().err
