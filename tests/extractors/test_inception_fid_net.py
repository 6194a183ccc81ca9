"""Parity of ganprobe's FID Inception-v3 with pytorch-fid's reference network (random weights, no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_fid.inception as pfi
import torch
from torch import Tensor, nn
from torchvision.models.inception import Inception3

from ganprobe.extractors.inception_fid.network import (
    FID_INCEPTION_WEIGHTS_FILENAME,
    FID_INCEPTION_WEIGHTS_URL,
    FIDInceptionV3,
    load_fid_inception_weights,
)

TOL = {"rtol": 1e-5, "atol": 1e-5}


def randomise(model: nn.Module) -> None:
    """Give every layer non-trivial weights and BN statistics that keep activations O(1)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, 0.05)
                m.bias.normal_(0.0, 0.1)


@pytest.fixture(scope="module")
def fid_env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Random state dict saved to disk, our model loaded from it, and a seeded input batch in [-1, 1]."""
    torch.manual_seed(0)
    source = FIDInceptionV3()
    randomise(source)
    path = tmp_path_factory.mktemp("weights") / FID_INCEPTION_WEIGHTS_FILENAME
    torch.save(source.state_dict(), path)

    ours = FIDInceptionV3()
    load_fid_inception_weights(ours, path)
    x = torch.rand(3, 3, 299, 299, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return {"path": path, "model": ours, "x": x}


@pytest.fixture()
def offline_reference(monkeypatch: pytest.MonkeyPatch, fid_env: dict) -> None:
    """Make pytorch-fid 'download' our random weights instead of the real ones."""

    def fake_load(url: str, *args: object, **kwargs: object) -> dict[str, Tensor]:
        assert url == FID_INCEPTION_WEIGHTS_URL
        return torch.load(fid_env["path"], map_location="cpu", weights_only=True)

    monkeypatch.setattr(pfi, "load_state_dict_from_url", fake_load)


def _run_with_taps(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Return (forward output, avgpool output, fc output) captured with forward hooks."""
    taps: dict[str, Tensor] = {}
    handles = [
        getattr(model, name).register_forward_hook(lambda _m, _i, out, name=name: taps.__setitem__(name, out))
        for name in ("avgpool", "fc")
    ]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, taps["avgpool"], taps["fc"]


def test_matches_pytorch_fid(fid_env: dict, offline_reference: None) -> None:
    model, x = fid_env["model"], fid_env["x"]
    assert not model.training
    logits, pool, fc = _run_with_taps(model, x)
    assert pool.shape == (3, 2048, 1, 1)
    assert logits.shape == (3, 1008)
    assert torch.equal(fc, logits)
    assert pool.std() > 0.1 and logits.std() > 0.1  # random weights did not collapse the activations

    ref_pool_net = pfi.InceptionV3([3], resize_input=False, normalize_input=False, use_fid_inception=True).eval()
    ref_logit_net = pfi.fid_inception_v3().eval()
    assert not ref_logit_net.transform_input
    with torch.no_grad():
        (ref_pool,) = ref_pool_net(x)
        ref_logits = ref_logit_net(x)

    torch.testing.assert_close(pool, ref_pool, **TOL)
    torch.testing.assert_close(logits, ref_logits, **TOL)
    # pytorch-fid's wrapper and its Inception3 agree with each other too (same pool3 tap).
    _, ref_pool_via_hook, _ = _run_with_taps(ref_logit_net, x)
    torch.testing.assert_close(ref_pool_via_hook, ref_pool, **TOL)


def test_differs_from_plain_torchvision_inception(fid_env: dict) -> None:
    """The FID-specific pooling changes matter: the test above would catch a plain torchvision network."""
    plain = Inception3(num_classes=1008, aux_logits=False, init_weights=False).eval()
    plain.load_state_dict(fid_env["model"].state_dict())
    with torch.no_grad():
        diff = (plain(fid_env["x"]) - fid_env["model"](fid_env["x"])).abs().max()
    assert diff > 1e-2


def test_state_dict_keys_match_reference(fid_env: dict, offline_reference: None) -> None:
    ours = list(FIDInceptionV3().state_dict())
    ref = list(pfi.fid_inception_v3().state_dict())
    assert ours == ref


def test_load_rejects_non_state_dict(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pth"
    torch.save([1, 2], bad)
    with pytest.raises(ValueError, match="not a state dict"):
        load_fid_inception_weights(FIDInceptionV3(), bad)


def test_load_rejects_mismatched_state_dict(tmp_path: Path) -> None:
    sd = FIDInceptionV3().state_dict()
    del sd["fc.bias"]
    path = tmp_path / "partial.pth"
    torch.save(sd, path)
    with pytest.raises(RuntimeError, match="fc.bias"):
        load_fid_inception_weights(FIDInceptionV3(), path)
