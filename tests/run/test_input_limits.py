"""Inputs that must not exhaust memory or the stack, and baselines that must be valid (issue 14, items 6-8)."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprobe.errors import InputError, UsageError
from ganprobe.extractors import get_extractor
from ganprobe.features import stats as stats_module
from ganprobe.features.stats import load_reference_stats, save_reference_stats
from ganprobe.front_ends.cli import main
from ganprobe.report.baseline import validate_baseline
from ganprobe.run.pipeline import load_baseline
from ganprobe.utils.devices import check_device
from ganprobe.utils.json_depth import json_depth

CLI = ["--extractor", "random-resnet18", "--metrics", "fid", "--quiet", "--workers", "0", "--no-cache"]


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _bomb(path: Path, rows: int, count: int) -> Path:
    """A valid-looking stats file whose deflated ``features/pool`` inflates to ``rows x 512`` float32 zeros."""
    meta_buffer = io.BytesIO()
    np.save(meta_buffer, np.array(json.dumps({"format": 1, "extractor": "random-resnet18", "count": count})))
    info = zipfile.ZipInfo("features/pool.npy")
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.npy", meta_buffer.getvalue())
        with archive.open(info, "w", force_zip64=True) as member:
            member.write(_npy_header((rows, 512), "<f4"))
            block = bytes(1 << 22)
            for _ in range(rows * 512 * 4 // len(block)):
                member.write(block)
    return path


def test_decompression_bomb_stats_file_is_refused_before_inflating(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "real.npz", 16_384, 16_384)  # 32 MiB of zeros in ~32 KiB
    assert path.stat().st_size < 200_000
    started = time.perf_counter()
    with pytest.raises(InputError, match="decompression bomb"):
        load_reference_stats(path)
    assert time.perf_counter() - started < 5


def test_stats_array_larger_than_the_metadata_promises_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _bomb(tmp_path / "real.npz", 8_192, 6)
    read = []
    monkeypatch.setattr(stats_module, "_read_array", lambda *args: read.append(args))
    with pytest.raises(InputError, match="declares 8192 rows, but the metadata promises 6"):
        load_reference_stats(path)
    assert read == []


def test_wrong_extractor_stats_file_is_refused_before_its_arrays_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_reference_stats(tmp_path / "real.npz", {"pool": torch.randn(6, 512)}, get_extractor("random-resnet34"))
    read = []
    original = stats_module._read_array
    monkeypatch.setattr(stats_module, "_read_array", lambda *args: read.append(args) or original(*args))
    with pytest.raises(InputError, match="made with extractor 'random-resnet34'"):
        load_reference_stats(path, get_extractor("random-resnet18"))
    assert read == []
    features, meta = load_reference_stats(path)  # without an extractor: read as before
    assert features["pool"].shape == (6, 512) and meta["count"] == 6 and len(read) == 1


def test_stats_round_trip_is_exact(tmp_path: Path) -> None:
    extractor = get_extractor("random-resnet18")
    stored = {"pool": torch.randn(7, 512), "layer1": torch.randn(7, 64)}
    path = save_reference_stats(tmp_path / "s.npz", stored, extractor, {"kind": "folder"})
    features, meta = load_reference_stats(path, extractor)
    assert all(torch.equal(features[layer], stored[layer]) for layer in stored)
    assert meta["source"] == {"kind": "folder"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("width", "declares 70000 features per row"),
        ("dtype", "must be a float"),
        ("meta_deep", r"s.npz: meta: JSON nested 500 levels deep"),
        ("object", "not a readable ganprobe stats file"),
    ],
)
def test_malformed_stats_headers_are_input_errors(change: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "s.npz"
    meta = {"format": 1, "count": 2} if change != "meta_deep" else json.loads("[" * 500 + "]" * 500)
    arrays = {
        "width": np.zeros((2, 70_000), np.float32),
        "dtype": np.zeros((2, 4), np.int64),
        "meta_deep": np.zeros((2, 4), np.float32),
        "object": np.array([None, 1], dtype=object),
    }
    np.savez(path, meta=np.array(json.dumps(meta)), **{"features/pool": arrays[change]})
    with pytest.raises(InputError, match=message) as info:
        load_reference_stats(path)
    assert "\n" not in str(info.value)


def _report(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {"schema_version": 2, "metrics": [{"key": "fid", "value": 12.5}]}
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_report(schema_version=999), "schema_version 999 is not one"),
        (_report(schema_version="banana"), "schema_version 'banana'"),
        (_report(schema_version=True), "schema_version True"),
        (_report(schema_version=2.0), "schema_version 2.0"),
        ({"metrics": [{"key": "fid", "value": 1.0}]}, "schema_version None"),
        (_report(metrics=[]), "'metrics' is empty"),
        (_report(metrics={"fid": 1}), "no 'metrics' list"),
        (_report(metrics=[{"key": "fid", "value": True}]), r"metrics\[0\] \(fid\): 'value' must be a number"),
        (_report(metrics=[{"key": "fid", "value": "12"}]), "'value' must be a number or null"),
        (_report(metrics=[{"value": 1.0}]), r"metrics\[0\] has no string 'key'"),
        (_report(metrics=[5]), r"metrics\[0\] is a int"),
        ([1, 2], "not an object"),
    ],
)
def test_invalid_baselines_are_refused(payload: object, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        validate_baseline(payload, "old.json")
    assert str(info.value).startswith("--baseline: old.json") and "\n" not in str(info.value)


@pytest.mark.parametrize("version", [2, 3])
def test_known_schema_versions_and_null_values_are_accepted(version: int) -> None:
    payload = _report(schema_version=version, metrics=[{"key": "fid", "value": None}, {"key": "kid", "value": 1}])
    assert validate_baseline(payload, "old.json") == payload


def test_load_baseline_validates_and_survives_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps(_report(schema_version=999)))
    with pytest.raises(InputError, match="schema_version 999"):
        load_baseline(path)
    path.write_text('{"schema_version": 2, "metrics": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(InputError, match="not a readable JSON report"):
        load_baseline(path)
    path.write_text(json.dumps(_report()))
    assert load_baseline(path)["metrics"][0]["key"] == "fid"


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth('{"a": "[[[[{{{", "b": [[1]]}') == 3
    assert json_depth('"\\"[[["') == 0
    assert json_depth("[" * 100_000 + "]" * 100_000) == 100_000


@pytest.mark.parametrize("device", ["meta", "cuda:0" if not torch.cuda.is_available() else "meta"])
def test_unusable_device_is_a_usage_error(device: str) -> None:
    with pytest.raises(UsageError, match="--device"):
        check_device(torch.device(device), "--device")
    check_device(torch.device("cpu"), "--device")


def test_cli_device_meta_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake, real = tmp_path / "fake", tmp_path / "real"
    for folder in (fake, real):
        folder.mkdir()
        Image.new("RGB", (8, 8), (1, 2, 3)).save(folder / "a.png")
        Image.new("RGB", (8, 8), (4, 5, 6)).save(folder / "b.png")
    assert main(["evaluate", str(fake), str(real), *CLI, "--device", "meta"]) == 2
    err = capsys.readouterr().err
    assert "--device: meta cannot run a model" in err and len(err.strip().splitlines()) == 1


def test_folder_nested_1100_deep_is_walked_without_recursion(tmp_path: Path) -> None:
    from ganprobe.data.folder import list_images

    deep = tmp_path / "root"
    deep.mkdir()
    path = deep
    for _ in range(1100):  # one level at a time (Path.mkdir(parents=True) itself recurses)
        path = path / "d"
        path.mkdir()
    Image.new("RGB", (4, 4)).save(path / "deep.png")
    Image.new("RGB", (4, 4)).save(deep / "top.png")
    try:
        found = list_images(deep)
        assert [p.name for p in found] == ["deep.png", "top.png"]  # sorted by relative path: d/d/.../deep.png first
    finally:  # pytest's clean-up (shutil.rmtree) recurses: leave no deep tree behind
        folders = [deep / "d"]
        for _ in range(1099):
            folders.append(folders[-1] / "d")
        (folders[-1] / "deep.png").unlink()
        for folder in reversed(folders):
            folder.rmdir()
