"""Trust boundaries of the cache folders (issue 22, items 1-3): the feature cache and the ONNX export folder.

1. A link (or dangling link) at an entry's name is never written through: the link's target is left alone.
2. A FIFO at an entry's name never blocks a run (an alarm turns a blocked ``open`` into a failure here).
3. A forged entry is never used silently: a folder (or an entry) that another user could write is not used, and an
   ONNX graph read from disk is checked against the eager network on a fixed probe batch before its first use.

Every refusal is one :class:`FeatureCacheWarning` line naming the file or folder, and the results are the clean ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from test_distributed_evaluate import png_folder

from ganprobe.errors import FeatureCacheWarning
from ganprobe.extractors import get_extractor, onnx_backend
from ganprobe.extractors.onnx_backend import ExportCache, OnnxRuntimeRunner, export_key
from ganprobe.features import FeatureCache, extract_features
from ganprobe.features.cache import cache_key, source_fingerprint
from ganprobe.front_ends.cli import main
from ganprobe.run.runtime import build_extractor

pytestmark = pytest.mark.skipif(os.name != "posix", reason="links, FIFOs and permission bits as POSIX has them")
LAYER = "fc1"
TAPS = {"fc1": "fc1"}
OTHER_ID = 65534  # "nobody": another user (and group) than the one running the tests
as_root = pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="giving a file away needs root")


@contextlib.contextmanager
def never_blocks(seconds: int = 120) -> Iterator[None]:
    """Fail instead of hanging: a blocked ``open`` of a FIFO is interrupted by SIGALRM (main thread, POSIX)."""

    def expire(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"still blocked after {seconds} s (a FIFO opened?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def cache_lines(record: list[warnings.WarningMessage]) -> list[str]:
    lines = [str(w.message) for w in record if isinstance(w.message, FeatureCacheWarning)]
    assert all("\n" not in line for line in lines)
    return lines


def run_cli(arguments: list[str]) -> list[str]:
    """Run ``ganprobe`` (exit 0 expected) and return its feature-cache warnings (the lines it would print)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert main(arguments) == 0
    return cache_lines(record)


def fid(report: Path) -> float:
    return json.loads(report.read_text())["metrics"][0]["value"]


def eager() -> torch.nn.Module:
    return get_extractor("random-lenet-mnist", backend="torch")


def extract(folder: Path, cache: FeatureCache | None) -> torch.Tensor:
    return extract_features(eager(), folder, [LAYER], 4, num_workers=0, cache=cache)[LAYER]


def export_name(exports: Path) -> Path:
    extractor = eager()
    return ExportCache(exports).path_for(export_key(extractor.name, extractor.weights_sha256, TAPS, True, (1, 28, 28)))


def feature_entry_name(cache: FeatureCache, folder: Path, name: str) -> Path:
    """The planted name: the entry itself, an entry of other layers of the same input, or a part of the entry."""
    key = cache_key(source_fingerprint(folder), eager(), [LAYER], None)
    entry = cache.path_for(key)
    if name == "entry":
        return entry
    if name == "other-layers":
        return entry.with_name(f"{entry.name.split('-')[0]}-x.pt")
    return cache.part_path(key, 4, 0)


# ------------------------------------------------------------------------------------------- 1. links


@pytest.mark.parametrize("dangling", [False, True], ids=["link", "dangling-link"])
@pytest.mark.parametrize("name", ["entry", "part"])
def test_link_at_feature_entry_name_is_not_written_through(tmp_path: Path, name: str, dangling: bool) -> None:
    folder = png_folder(tmp_path / "fake", 6, 1)
    clean = extract(folder, None)
    cache = FeatureCache(tmp_path / "cache")
    cache.directory.mkdir()
    planted, victim = feature_entry_name(cache, folder, name), tmp_path / "notes.txt"
    if not dangling:
        victim.write_text("the user's own file")
    planted.symlink_to(victim)
    with pytest.warns(FeatureCacheWarning) as record:
        got = extract(folder, cache)
    assert torch.equal(got, clean)
    assert planted.is_symlink() and os.readlink(planted) == str(victim)
    assert victim.read_text() == "the user's own file" if not dangling else not victim.exists()
    (line,) = cache_lines(record)
    assert str(planted) in line and "symbolic link" in line


@pytest.mark.parametrize("dangling", [False, True], ids=["link", "dangling-link"])
def test_link_at_export_name_is_not_written_through(tmp_path: Path, dangling: bool) -> None:
    extractor = eager()
    batch = extractor.preprocess(torch.randint(0, 256, (2, 3, 28, 28), dtype=torch.uint8))
    exports = tmp_path / "onnx"
    exports.mkdir()
    planted = export_name(exports)
    victim = tmp_path / "notes.txt"
    if not dangling:
        victim.write_text("the user's own file")
    planted.symlink_to(victim)
    runner = OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, exports)
    with pytest.warns(FeatureCacheWarning) as record:
        got = runner.run(extractor.model, TAPS, batch, True)[LAYER]
    want = extractor.forward_preprocessed(batch, LAYER)[LAYER]
    assert float((got - want).abs().max() / want.abs().max()) < 1e-4
    assert planted.is_symlink()
    assert victim.read_text() == "the user's own file" if not dangling else not victim.exists()
    (line,) = cache_lines(record)
    assert str(planted) in line and "symbolic link" in line


# ------------------------------------------------------------------------------------------- 2. FIFOs


@pytest.mark.parametrize("name", ["entry", "other-layers", "part"])
def test_fifo_at_feature_entry_name_never_blocks(tmp_path: Path, name: str) -> None:
    folder = png_folder(tmp_path / "fake", 6, 1)
    clean = extract(folder, None)
    cache = FeatureCache(tmp_path / "cache")
    cache.directory.mkdir()
    planted = feature_entry_name(cache, folder, name)
    os.mkfifo(planted)
    with never_blocks(), pytest.warns(FeatureCacheWarning) as record:
        got = extract(folder, cache)
    assert torch.equal(got, clean)
    assert stat.S_ISFIFO(os.lstat(planted).st_mode)  # left as it was
    (line,) = cache_lines(record)
    assert str(planted) in line and "FIFO" in line


def test_fifo_at_export_name_never_blocks(tmp_path: Path) -> None:
    extractor = eager()
    batch = extractor.preprocess(torch.randint(0, 256, (2, 3, 28, 28), dtype=torch.uint8))
    exports = tmp_path / "onnx"
    exports.mkdir()
    planted = export_name(exports)
    os.mkfifo(planted)
    runner = OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, exports)
    with never_blocks(), pytest.warns(FeatureCacheWarning) as record:
        got = runner.run(extractor.model, TAPS, batch, True)[LAYER]
    want = extractor.forward_preprocessed(batch, LAYER)[LAYER]
    assert float((got - want).abs().max() / want.abs().max()) < 1e-4
    assert stat.S_ISFIFO(os.lstat(planted).st_mode)
    (line,) = cache_lines(record)
    assert str(planted) in line and "FIFO" in line


# ------------------------------------------------------------------------------- 3. forged ONNX graphs


def forge_graph(path: Path) -> None:
    """Scale the graph's largest initializer by 1.3 and write a header whose SHA-256 matches (what anyone who can
    write the folder can do)."""
    import onnx
    from onnx import numpy_helper

    header, _, graph = path.read_bytes().partition(b"\n")
    model = onnx.load_from_string(graph)
    weight = max(model.graph.initializer, key=lambda tensor: int(np.prod(tensor.dims)))
    scaled = (numpy_helper.to_array(weight) * np.float32(1.3)).astype(np.float32)
    weight.CopyFrom(numpy_helper.from_array(scaled, weight.name))
    forged = model.SerializeToString()
    stored = json.loads(header)
    stored["sha256"] = hashlib.sha256(forged).hexdigest()
    path.write_bytes(json.dumps(stored, sort_keys=True).encode() + b"\n" + forged)


def test_forged_export_is_refused_and_exported_again(tmp_path: Path) -> None:
    extractor = eager()
    batch = extractor.preprocess(torch.randint(0, 256, (3, 3, 28, 28), dtype=torch.uint8))
    first = OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, tmp_path)
    clean = first.run(extractor.model, TAPS, batch, True)
    (path,) = tmp_path.glob("*.onnx")
    forge_graph(path)
    runner = OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, tmp_path)
    with pytest.warns(FeatureCacheWarning) as record:
        got = runner.run(extractor.model, TAPS, batch, True)
    (line,) = cache_lines(record)
    assert str(path) in line and "probe" in line and "exporting again" in line
    assert runner.exports == 1 and torch.equal(got[LAYER], clean[LAYER])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the export was stored again, clean
        OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, tmp_path).run(extractor.model, TAPS, batch, True)


def test_cli_forged_export_gives_the_clean_fid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, real = png_folder(tmp_path / "fake", 12, 1), png_folder(tmp_path / "real", 12, 2)
    monkeypatch.setenv("GANPROBE_ONNX_DIR", str(tmp_path / "onnx"))
    monkeypatch.setattr(onnx_backend, "_VERIFIED", set(), raising=False)  # as a new process: nothing checked
    command = ["evaluate", str(fake), str(real), "--extractor", "random-lenet-mnist", "--metrics", "fid",
               "--backend", "onnxruntime", "--no-cache", "--quiet"]  # fmt: skip
    assert run_cli([*command, "--json", str(tmp_path / "clean.json")]) == []
    forged = sorted((tmp_path / "onnx").glob("*.onnx"))
    assert forged
    for path in forged:
        forge_graph(path)
    monkeypatch.setattr(onnx_backend, "_VERIFIED", set(), raising=False)
    lines = run_cli([*command, "--json", str(tmp_path / "forged.json")])
    assert len(lines) == len(forged) and all("probe" in line for line in lines), lines
    assert fid(tmp_path / "forged.json") == pytest.approx(fid(tmp_path / "clean.json"), rel=1e-6)


def test_probe_runs_once_per_process_per_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extractor = eager()
    batch = extractor.preprocess(torch.randint(0, 256, (2, 3, 28, 28), dtype=torch.uint8))
    OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, tmp_path).run(extractor.model, TAPS, batch, True)
    probes = []
    check = onnx_backend.probe_mismatch
    monkeypatch.setattr(onnx_backend, "probe_mismatch", lambda *args: probes.append(1) or check(*args))
    monkeypatch.setattr(onnx_backend, "_VERIFIED", set())  # as a new process
    for _ in range(3):
        OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, tmp_path).run(extractor.model, TAPS, batch, True)
    assert len(probes) == 1


# --------------------------------------------------------------------- 3. folders other users can write


def forge_feature_entry(tmp_path: Path, cache_dir: Path, fake: Path, real: Path) -> Path:
    """An entry for ``fake`` (every layer, so it serves any metric) holding ``real``'s features, with matching
    checksums, moved into ``cache_dir`` (made elsewhere, as another user would)."""
    extractor = build_extractor("random-lenet-mnist", backend="torch")
    layers = list(extractor.layers)
    features = extract_features(extractor, real, layers, 8, num_workers=0)
    workshop = FeatureCache(tmp_path / "workshop")
    made = workshop.store(cache_key(source_fingerprint(fake), extractor, layers, None), features)
    assert made is not None
    return made.rename(cache_dir / made.name)


PERMISSIONS = [
    pytest.param("world-writable", id="folder-world-writable"),
    pytest.param("parent-world-writable", id="parent-world-writable"),
    pytest.param("group-writable", id="folder-group-writable", marks=as_root),
    pytest.param("other-owner", id="folder-owned-by-another-user", marks=as_root),
    pytest.param("entry-other-owner", id="entry-owned-by-another-user", marks=as_root),
    pytest.param("entry-writable", id="entry-world-writable"),
]


@pytest.mark.parametrize("case", PERMISSIONS)
def test_cli_feature_cache_others_can_write_is_not_used(tmp_path: Path, case: str) -> None:
    fake, real = png_folder(tmp_path / "fake", 12, 1), png_folder(tmp_path / "real", 12, 2)
    parent = tmp_path / "shared"
    cache_dir = parent / "cache"
    cache_dir.mkdir(parents=True)
    entry = forge_feature_entry(tmp_path, cache_dir, fake, real)
    if case == "world-writable":
        cache_dir.chmod(0o777)
    elif case == "parent-world-writable":
        parent.chmod(0o777)
    elif case == "group-writable":
        os.chown(cache_dir, -1, OTHER_ID)
        cache_dir.chmod(0o770)
    elif case == "other-owner":
        os.chown(cache_dir, OTHER_ID, -1)
    elif case == "entry-other-owner":
        cache_dir.chmod(0o1777)  # sticky, as /tmp: others may add names, never replace yours
        os.chown(entry, OTHER_ID, -1)
    else:
        entry.chmod(0o666)
    command = ["evaluate", str(fake), str(real), "--extractor", "random-lenet-mnist", "--metrics", "fid",
               "--backend", "torch", "--quiet"]  # fmt: skip
    assert run_cli([*command, "--no-cache", "--json", str(tmp_path / "clean.json")]) == []
    before = sorted(path.name for path in cache_dir.iterdir())
    lines = run_cli([*command, "--cache-dir", str(cache_dir), "--json", str(tmp_path / "cached.json")])
    clean = fid(tmp_path / "clean.json")
    assert fid(tmp_path / "cached.json") == pytest.approx(clean, rel=1e-9) and clean > 0  # the forgery gives 0
    assert len(lines) == 1, lines
    if case.startswith("entry"):
        assert str(entry) in lines[0] and "another user" in lines[0]
    else:
        assert str(cache_dir) in lines[0] and "another user" in lines[0]
        assert sorted(path.name for path in cache_dir.iterdir()) == before  # nothing read from or written there


def own_private_group() -> bool:
    """Whether the user's primary group is a private one (named after the user, no other member), as Debian makes."""
    import grp
    import pwd

    user = pwd.getpwuid(os.geteuid())
    group = grp.getgrgid(user.pw_gid)
    return group.gr_name == user.pw_name and set(group.gr_mem) <= {user.pw_name}


def test_sticky_or_private_group_folder_is_used(tmp_path: Path) -> None:
    folder = png_folder(tmp_path / "fake", 6, 1)
    clean = extract(folder, None)
    for mode in (0o1777, 0o770) if own_private_group() else (0o1777,):
        cache = FeatureCache(tmp_path / f"cache-{mode:o}")
        cache.directory.mkdir(mode=mode)
        cache.directory.chmod(mode)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            extract(folder, cache)
            assert torch.equal(extract(folder, cache), clean) and cache.hits == 1


@pytest.mark.parametrize("case", ["world-writable", pytest.param("other-owner", marks=as_root)])
def test_export_folder_others_can_write_is_not_used(tmp_path: Path, case: str) -> None:
    extractor = eager()
    batch = extractor.preprocess(torch.randint(0, 256, (2, 3, 28, 28), dtype=torch.uint8))
    exports = tmp_path / "onnx"
    OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, exports).run(extractor.model, TAPS, batch, True)
    (path,) = exports.glob("*.onnx")
    forge_graph(path)  # a forgery the probe would catch; the folder is refused before it is read
    forged = path.read_bytes()
    if case == "world-writable":
        exports.chmod(0o777)
    else:
        os.chown(exports, OTHER_ID, -1)
    runner = OnnxRuntimeRunner(extractor.name, extractor.weights_sha256, exports)
    with pytest.warns(FeatureCacheWarning) as record:
        for _ in range(2):  # two layer sets: still one line
            runner.run(extractor.model, TAPS, batch, True)
            got = runner.run(extractor.model, {"logits": "logits"}, batch, True)["logits"]
    want = extractor.forward_preprocessed(batch, "logits")["logits"]
    assert float((got - want).abs().max() / want.abs().max()) < 1e-4
    (line,) = cache_lines(record)
    assert str(exports) in line and "another user" in line
    assert runner.exports == 2 and path.read_bytes() == forged and len(list(exports.iterdir())) == 1
