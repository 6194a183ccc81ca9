"""Reading TorchScript archives tensors-only (OpenAI's CLIP checkpoints): the same tensors as ``torch.jit.load`` on
archives the tests write, and a refusal, with nothing run, of anything that is not plain module state."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from ganprobe.errors import WeightsFormatError
from ganprobe.extractors.script_archive import is_script_archive, load_script_archive


class Block(nn.Module):
    """A CLIP-like residual block: LayerNorms, multi-head attention, an MLP in a Sequential, a None attribute."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, 2)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))
        self.attn_mask: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=self.attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Tower(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 2, stride=2, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width))
        self.blocks = nn.ModuleList([Block(width) for _ in range(2)])
        self.proj = nn.Parameter(torch.randn(width, 4))
        self.register_buffer("steps", torch.arange(5))
        self.sizes = [3, 4]  # an int list attribute (TorchScript's build_intlist)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x).flatten(2).permute(2, 0, 1)
        for block in self.blocks:
            x = block(x)
        return x @ self.proj


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.visual = Tower().half()  # OpenAI stores its CLIP checkpoints in fp16
        self.token_embedding = nn.Embedding(10, 8)
        self.tied = nn.Linear(8, 10, bias=False)
        self.tied.weight = self.token_embedding.weight  # two names, one storage
        self.logit_scale = nn.Parameter(torch.ones([]))

    def forward(self, x: Tensor) -> Tensor:
        return self.visual(x)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jit") / "model.pt"
    torch.jit.save(torch.jit.script(Model()), str(path))
    return path


def test_same_tensors_as_torch_jit_load(archive: Path) -> None:
    state = load_script_archive(archive)
    reference = torch.jit.load(str(archive)).state_dict()  # compiles the archive's code: the reference, tests only
    assert set(state) == set(reference)
    for key, value in reference.items():
        assert state[key].dtype == value.dtype and state[key].shape == value.shape, key
        assert torch.equal(state[key], value), key
    assert state["visual.class_embedding"].dtype == torch.float16 and state["logit_scale"].dtype == torch.float32
    assert state["tied.weight"].data_ptr() == state["token_embedding.weight"].data_ptr()


def test_tells_archives_from_torch_save_files(archive: Path, tmp_path: Path) -> None:
    saved = tmp_path / "state.pt"
    torch.save(Model().state_dict(), saved)
    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    assert is_script_archive(archive)
    assert not is_script_archive(saved) and not is_script_archive(text) and not is_script_archive(tmp_path / "none")
    with pytest.raises(WeightsFormatError, match="not a TorchScript archive"):
        load_script_archive(saved)


def _archive_with(tmp_path: Path, payload: bytes, data: dict[str, bytes] | None = None) -> Path:
    path = tmp_path / "crafted.pt"
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("archive/data.pkl", payload)
        out.writestr("archive/constants.pkl", pickle.dumps(()))
        out.writestr("archive/code/__torch__.py", "")
        for name, raw in (data or {}).items():
            out.writestr(f"archive/data/{name}", raw)
    return path


class _Call:
    """Pickles as a call of ``function(*args)``: what a hostile archive would hide in its state."""

    def __init__(self, function: object, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.function, self.args


def test_a_hostile_archive_is_refused_before_anything_runs(tmp_path: Path) -> None:
    import os

    marker = tmp_path / "ran"
    path = _archive_with(tmp_path, pickle.dumps(_Call(os.system, f"touch {marker}"), protocol=2))
    with pytest.raises(WeightsFormatError) as info:
        load_script_archive(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "system" in message
    assert not marker.exists()
    # the same for a callable hidden in torch's own namespace
    path = _archive_with(tmp_path, pickle.dumps(_Call(torch.save, {}, str(marker)), protocol=2))
    with pytest.raises(WeightsFormatError, match="torch.serialization.save"):
        load_script_archive(path)
    assert not marker.exists()


def test_a_storage_shorter_than_declared_is_refused(archive: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(archive) as source:
        prefix = next(name for name in source.namelist() if name.endswith("/data.pkl"))[: -len("data.pkl")]
        payload = source.read(f"{prefix}data.pkl")
        storages = {
            name[len(prefix) + len("data/") :]: source.read(name)
            for name in source.namelist()
            if name.startswith(f"{prefix}data/")
        }
    first = sorted(storages)[0]
    storages[first] = storages[first][:-2]  # truncated
    with pytest.raises(WeightsFormatError, match=f"storage '{first}' holds"):
        load_script_archive(_archive_with(tmp_path, payload, storages))
    del storages[first]
    with pytest.raises(WeightsFormatError, match="missing from the archive"):
        load_script_archive(_archive_with(tmp_path, payload, storages))


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path: Path) -> None:
    import io

    class Storage:
        """Stands for a 2-float storage; the pickler writes it as the archive's persistent id."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            return ("storage", torch.FloatStorage, "0", "cpu", 2) if isinstance(obj, Storage) else None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump({"weight": _Call(torch._utils._rebuild_tensor_v2, Storage(), 0, (4,), (1,))})
    path = _archive_with(tmp_path, buffer.getvalue(), {"0": bytes(8)})
    with pytest.raises(WeightsFormatError, match="reaches past its storage"):
        load_script_archive(path)
