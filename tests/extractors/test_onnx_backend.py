"""The ONNX Runtime backend: features equal eager PyTorch's, exports cached and verified, ``auto`` resolved as
documented, and the backend recorded wherever features are keyed or reported."""

from __future__ import annotations

import copy
import json
import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch
from test_distributed_evaluate import png_folder

from ganprobe.errors import FeatureCacheWarning, InputError
from ganprobe.extractors import get_extractor, onnx_backend
from ganprobe.extractors.builtin import BACKBONES
from ganprobe.extractors.onnx_backend import ExportCache, OnnxRuntimeRunner, export_key
from ganprobe.features.cache import cache_key, source_fingerprint
from ganprobe.front_ends.cli import main
from ganprobe.run.runtime import build_extractor

RELATIVE = 1e-4  # the tolerance: max |ort - eager| / max |eager|, per layer
VITS = {"dinov2-vitl14", "clip-vitl14-336"}  # tested on their own below (a whole ViT-L export costs minutes)
CNNS = [f"random-{name}" for name in BACKBONES if name not in VITS]  # every other built-in backbone


def _images(count: int = 4, size: int = 48, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8, generator=generator)


def _relative(ort: torch.Tensor, eager: torch.Tensor) -> float:
    assert ort.shape == eager.shape and ort.dtype == eager.dtype == torch.float32
    return float((ort - eager).abs().max() / eager.abs().max().clamp_min(1e-12))


def _compare(name: str, layer_sets: list[list[str]], images: torch.Tensor) -> None:
    fast = get_extractor(name, backend="onnxruntime")
    eager = get_extractor(name, backend="torch")
    assert fast.active_backend == "onnxruntime" and eager.active_backend == "torch"
    for layers in layer_sets:
        got, want = fast(images, layers), eager(images, layers)
        assert list(got) == list(want) == layers
        for layer in layers:
            assert _relative(got[layer], want[layer]) < RELATIVE, (name, layer)
    raw = layer_sets[0][0]
    got, want = fast(images, raw, pool=False)[raw], eager(images, raw, pool=False)[raw]
    assert got.ndim == want.ndim and _relative(got, want) < RELATIVE


@pytest.mark.parametrize("name", CNNS)
def test_cnn_features_equal_eager(name: str) -> None:
    probe = get_extractor(name, backend="torch")
    sets = [[probe.block_layers[0]], [probe.default_layer], list(probe.block_layers), list(probe.layers)]
    _compare(name, sets, _images())


# The whole ViT-L (the embedding tap) exports 1.2 GB in about a minute: DINOv2 runs it, CLIP (same blocks from timm,
# its head is a LayerNorm and a projection) stops at block 4 to keep CI short.
@pytest.mark.parametrize(
    ("name", "last"), [("random-dinov2-vitl14", ["embedding"]), ("random-clip-vitl14-336", ["block1", "block4"])]
)
def test_vit_features_equal_eager(name: str, last: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("timm", reason="timm is a dev dependency: the ViT extractors are built on it")
    monkeypatch.setenv("GANPROBE_ONNX_DIR", str(tmp_path))  # exports of up to 1.2 GB, deleted with the test's folder
    _compare(name, [["block1"], ["block2", "block3"], last], _images(2, 32))


def test_batch_size_and_reruns_do_not_change_features() -> None:
    extractor = get_extractor("random-resnet18", backend="onnxruntime")
    images = _images(11)
    whole = extractor(images, ["layer2", "pool"])
    for size in (1, 4):
        parts = [extractor(images[i : i + size], ["layer2", "pool"]) for i in range(0, 11, size)]
        for layer in whole:
            assert torch.allclose(torch.cat([p[layer] for p in parts]), whole[layer], rtol=1e-6, atol=1e-7)
    again = extractor(images, ["layer2", "pool"])
    assert all(torch.equal(again[layer], whole[layer]) for layer in whole)


@pytest.mark.parametrize("name", ["random-resnet18", "random-efficientnet-lite0"])
def test_row_blocks_in_parallel_give_the_features_of_one_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    extractor = get_extractor(name, backend="onnxruntime")
    layers = ["layer2", "pool"] if "resnet" in name else ["stage3", "pool"]
    images = _images(7)
    previous = torch.get_num_threads()
    calls: list[int] = []
    try:
        torch.set_num_threads(1)
        monkeypatch.setattr(onnx_backend, "BLOCK_ROWS", 1000)
        one_run = extractor(images, layers)  # one run of all 7 images
        runner = extractor._onnx
        assert runner is not None and runner.blocks(7) == 1
        monkeypatch.setattr(onnx_backend, "BLOCK_ROWS", 2)
        torch.set_num_threads(3)
        assert runner.blocks(7) == 4 and runner.blocks(64) == 32 and runner.blocks(2) == 2 and runner.blocks(1) == 1
        (session,) = runner._sessions.values()

        class Recording:  # InferenceSession.run cannot be patched on the C++ object: wrap it
            def run(self, names: object, feeds: dict) -> list:
                calls.append(feeds["images"].shape[0])
                return session.run(names, feeds)

        runner._sessions = {key: Recording() for key in runner._sessions}
        blocks = extractor(images, layers)
    finally:
        torch.set_num_threads(previous)
    assert sorted(calls) == [1, 2, 2, 2]  # 7 images in blocks of 2, over 3 threads
    for layer, value in one_run.items():
        assert torch.equal(blocks[layer], value), (name, layer)  # the same arithmetic per image


def _extract_in_child(extractor: object, images: torch.Tensor, want: torch.Tensor, queue: object) -> None:
    queue.put(torch.equal(extractor(images, "fc1")["fc1"], want))  # type: ignore[attr-defined,operator]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork start method only")
def test_a_forked_child_runs_blocks_on_its_own_threads() -> None:
    import multiprocessing

    extractor = get_extractor("random-lenet-mnist", backend="onnxruntime")
    images = _images(8, 28)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        want = extractor(images, "fc1")["fc1"]  # the parent's block threads now exist
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_extract_in_child, args=(extractor, images, want, queue))
        child.start()
        child.join(120)
        alive = child.is_alive()
        if alive:
            child.kill()
    finally:
        torch.set_num_threads(previous)
    assert not alive, "the forked child hung waiting for its parent's threads"
    assert child.exitcode == 0 and queue.get(timeout=10) is True


def test_auto_resolution() -> None:
    assert get_extractor("random-lenet-mnist").active_backend == "onnxruntime"  # the built-ins' default: auto
    assert get_extractor("random-lenet-mnist").execution == "onnxruntime float32"
    assert get_extractor("random-lenet-mnist", autocast="bfloat16").active_backend == "torch"
    eager = get_extractor("random-lenet-mnist", backend="torch")
    assert eager.execution == "channels_last float32"
    on_meta = get_extractor("random-lenet-mnist").to("meta")  # any non-CPU device: auto falls back to torch
    assert on_meta.active_backend == "torch"


def test_explicit_backend_that_cannot_run_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="float32 only"):
        get_extractor("random-lenet-mnist", backend="onnxruntime", autocast="bfloat16")
    with pytest.raises(InputError, match="torch backend only"):
        get_extractor("random-lenet-mnist", backend="onnxruntime", compile=True)
    with pytest.raises(InputError, match="backend: expected one of"):
        get_extractor("random-lenet-mnist", backend="tensorrt")
    on_meta = get_extractor("random-lenet-mnist", backend="onnxruntime").to("meta")
    with pytest.raises(InputError, match="CPU only"):
        on_meta.active_backend  # noqa: B018
    assert "CPU only" in str(onnx_backend.unusable_reason(torch.device("cuda"), None, False))
    monkeypatch.setattr(onnx_backend, "onnxruntime_available", lambda: False)
    assert get_extractor("random-lenet-mnist").active_backend == "torch"  # auto without the extra: torch
    with pytest.raises(InputError, match=r"pip install 'ganprobe\[onnxruntime\]'"):
        get_extractor("random-lenet-mnist", backend="onnxruntime")
    with pytest.raises(InputError, match="^backend: onnxruntime cannot run"):
        build_extractor("random-lenet-mnist", backend="onnxruntime")


def test_cli_backend_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake, real = png_folder(tmp_path / "fake", 4, 1), png_folder(tmp_path / "real", 4, 2)
    code = main(["evaluate", str(fake), str(real), "--extractor", "random-lenet-mnist", "--backend", "onnxruntime",
                 "--autocast", "bfloat16", "--quiet", "--no-cache"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--backend: onnxruntime cannot run extractor 'random-lenet-mnist'" in err and "float32 only" in err


def test_export_cache_hit_and_invalidation(tmp_path: Path) -> None:
    extractor = get_extractor("random-lenet-mnist", backend="torch")
    batch = extractor.preprocess(_images(3, 28))
    taps = {"fc1": "fc1"}
    first = OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, tmp_path)
    want = first.run(extractor.model, taps, batch, True)
    assert first.exports == 1 and len(list(tmp_path.glob("*.onnx"))) == 1
    again = OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, tmp_path)
    got = again.run(extractor.model, taps, batch, True)
    assert again.exports == 0 and torch.equal(got["fc1"], want["fc1"])  # read back from disk
    # Anything the graph depends on is a new key: other weights, taps, pooling, input size, library versions.
    key = export_key(extractor.name, extractor.weights_sha256, taps, True, batch.shape[1:])
    variants = [
        export_key(extractor.name, "0" * 64, taps, True, batch.shape[1:]),
        export_key(extractor.name, extractor.weights_sha256, {"conv2": "conv2"}, True, batch.shape[1:]),
        export_key(extractor.name, extractor.weights_sha256, taps, False, batch.shape[1:]),
        export_key(extractor.name, extractor.weights_sha256, taps, True, (3, 32, 32)),
        {**key, "versions": {**key["versions"], "onnxruntime": "0.0.0"}},
    ]
    cache = ExportCache(tmp_path)
    assert len({cache.path_for(k) for k in [key, *variants]}) == 6
    other = OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, tmp_path)
    other.run(extractor.model, {"conv2": "conv2"}, batch, True)
    assert other.exports == 1
    assert not [path for path in tmp_path.iterdir() if not path.name.endswith(".onnx")]  # no temporary leftovers


@pytest.mark.parametrize("damage", ["flip", "truncate", "key"])
def test_damaged_export_is_reported_and_exported_again(tmp_path: Path, damage: str) -> None:
    extractor = get_extractor("random-lenet-mnist", backend="torch")
    batch = extractor.preprocess(_images(2, 28))
    taps = {"logits": "logits"}
    want = OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, tmp_path).run(extractor.model, taps, batch, True)
    (path,) = tmp_path.glob("*.onnx")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) - 100]
    else:
        header, _, graph = bytes(data).partition(b"\n")
        stored = json.loads(header)
        stored["key"]["extractor"] = "another"
        data = bytearray(json.dumps(stored).encode() + b"\n" + graph)
    path.write_bytes(bytes(data))
    runner = OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, tmp_path)
    with pytest.warns(FeatureCacheWarning, match="exporting again"):
        got = runner.run(extractor.model, taps, batch, True)
    assert runner.exports == 1 and torch.equal(got["logits"], want["logits"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten export is clean
        OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, tmp_path).run(extractor.model, taps, batch, True)


def test_unwritable_export_folder_warns_once_and_still_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    extractor = get_extractor("random-lenet-mnist", backend="torch")
    runner = OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, blocker / "onnx")
    batch = extractor.preprocess(_images(2, 28))
    with pytest.warns(FeatureCacheWarning, match="cannot store ONNX exports"):
        got = runner.run(extractor.model, {"fc1": "fc1"}, batch, True)
    assert _relative(got["fc1"], extractor.forward_preprocessed(batch, "fc1")["fc1"]) < RELATIVE


def test_copies_and_pickles_rebuild_their_sessions() -> None:
    extractor = get_extractor("random-lenet-mnist")
    images = _images(3, 28)
    want = extractor(images, "fc1")["fc1"]
    for other in (copy.deepcopy(extractor), pickle.loads(pickle.dumps(extractor))):
        assert other.active_backend == "onnxruntime"
        assert torch.equal(other(images, "fc1")["fc1"], want)


def test_backend_is_part_of_cache_keys() -> None:
    images = _images(2, 28)
    fingerprint = source_fingerprint(images)
    fast = get_extractor("random-lenet-mnist")
    eager = get_extractor("random-lenet-mnist", backend="torch")
    assert cache_key(fingerprint, fast, ["fc1"], None) != cache_key(fingerprint, eager, ["fc1"], None)


def test_cli_backends_agree_and_are_reported(tmp_path: Path) -> None:
    fake, real = png_folder(tmp_path / "fake", 24, 1), png_folder(tmp_path / "real", 24, 2)
    reports = {}
    for backend in ("auto", "torch", "onnxruntime"):
        out = tmp_path / f"{backend}.json"
        code = main(
            ["evaluate", str(fake), str(real), "--extractor", "random-resnet18", "--metrics", "fid", "knn_loo", "kid",
             "--set", "kid.subset_size=10", "--backend", backend, "--json", str(out), "--quiet", "--no-cache"]
        )  # fmt: skip
        assert code == 0
        reports[backend] = json.loads(out.read_text())
    assert reports["auto"]["extractor"]["backend"] == reports["onnxruntime"]["extractor"]["backend"] == "onnxruntime"
    assert reports["torch"]["extractor"]["backend"] == "torch"
    assert reports["onnxruntime"]["extractor"]["execution"] == "onnxruntime float32"
    values = {b: {m["key"]: m["value"] for m in r["metrics"]} for b, r in reports.items()}
    assert values["auto"] == values["onnxruntime"]
    for key, value in values["torch"].items():
        assert values["onnxruntime"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def test_plugin_session_backend_option() -> None:
    from ganprobe.front_ends.pytest_plugin import GanprobeSession

    session = GanprobeSession(backend="torch", extractor="random-lenet-mnist")
    result = session.evaluate(_images(12, 28, 1), _images(12, 28, 2), metrics=["fid"])
    assert result.extractor["backend"] == "torch"
    assert (
        GanprobeSession(extractor="random-lenet-mnist")
        .evaluate(_images(12, 28, 1), _images(12, 28, 2), metrics=["fid"])
        .extractor["backend"]
        == "onnxruntime"
    )
