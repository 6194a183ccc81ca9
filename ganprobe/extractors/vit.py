"""Weights of the ViT feature spaces the field moved to: DINOv2 ViT-L/14 and CLIP ViT-L/14@336 (via timm).

* ``dinov2-vitl14``: Meta's ``dinov2_vitl14_pretrain.pth``, the file ``torch.hub.load("facebookresearch/dinov2",
  "dinov2_vitl14")`` loads and dgm-eval uses for FD_DINOv2. Its 37x37 position embedding is resampled to the 16x16
  grid of a 224x224 input exactly as DINOv2's forward does it (:func:`~ganprobe.extractors.nets.vit.
  dinov2_position_embedding`).
* ``clip-vitl14-336``: OpenAI's CLIP ViT-L/14@336 as an open_clip state dict (timm's hub copy,
  ``timm/vit_large_patch14_clip_336.openai``), converted to timm's layout by timm's own checkpoint filter.

Both load with ``torch.load(..., weights_only=True)`` through :mod:`ganprobe.extractors.weights` (explicit path,
``$GANPROBE_WEIGHTS_DIR``, cache, download unless ``GANPROBE_OFFLINE=1``). The full SHA-256 of neither file could
be established where this code was written, so :data:`PINNED_SHA256` holds none: an unpinned file loads with a
warning, its digest goes into every cache key, and its numbers are never labelled comparable with published ones.
Pin a digest by adding it to :data:`PINNED_SHA256` (the full 64 hex digits; a prefix is refused).
"""

from __future__ import annotations

import os
import warnings

from torch import Tensor, nn

from ganprobe.errors import InputError, WeightsFormatError
from ganprobe.extractors.nets.vit import TappedViT, dinov2_position_embedding, timm_available
from ganprobe.extractors.weights import WeightsFile, find_local, load_state_dict, load_weights_into, resolve_weights

DINOV2_WEIGHTS = WeightsFile(
    filename="dinov2_vitl14_pretrain.pth",
    url="https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",
    sha256="",
)
CLIP_WEIGHTS = WeightsFile(
    # Saved under a specific name: open_clip's file name is the same for every model on the hub.
    filename="vit_large_patch14_clip_336.openai.open_clip_pytorch_model.bin",
    url="https://huggingface.co/timm/vit_large_patch14_clip_336.openai/resolve/main/open_clip_pytorch_model.bin",
    sha256="",
)
# file name -> full SHA-256 of the published file. Empty: no digest could be verified offline (see the docstring).
PINNED_SHA256: dict[str, str] = {}


def pinned(spec: WeightsFile) -> WeightsFile:
    """``spec`` with its pinned full digest from :data:`PINNED_SHA256` (or ``""`` when none is pinned).

    Raises:
        InputError: a pinned digest that is not 64 hex digits (prefixes are not accepted for these files).
    """
    digest = PINNED_SHA256.get(spec.filename, "")
    if digest and (len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower())):
        raise InputError(f"PINNED_SHA256[{spec.filename!r}]: expected a full 64-hex-digit SHA-256, got {digest!r}")
    return WeightsFile(spec.filename, spec.url, digest.lower())


def is_pinned(spec: WeightsFile) -> bool:
    """Whether the published file ``spec`` has a full SHA-256 pinned in :data:`PINNED_SHA256`."""
    return bool(pinned(spec).sha256)


def _resolve(spec: WeightsFile, weights_path: str | os.PathLike[str] | None, verify: bool) -> tuple[str, str]:
    spec = pinned(spec)
    path, digest = resolve_weights(spec, weights_path, verify and bool(spec.sha256))
    if not spec.sha256:
        warnings.warn(
            f"{path}: no SHA-256 is pinned for {spec.filename} in this ganprobe; loaded unverified (sha256 "
            f"{digest}); its numbers are not labelled comparable with published ones",
            UserWarning,
            stacklevel=4,
        )
    return str(path), digest


def _load(model: nn.Module, state: dict[str, Tensor], path: str, network: str) -> None:
    if not isinstance(model, TappedViT):
        raise InputError(f"{network}: expected the TappedViT built by the declaration, got {type(model).__name__}")
    load_weights_into(model.vit, state, path, network)


def load_dinov2_weights(model: nn.Module, weights_path: str | os.PathLike[str] | None, verify: bool) -> str:
    """Load Meta's DINOv2 ViT-L/14 checkpoint into ``model`` (a :class:`TappedViT`); return the file's SHA-256."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    path, digest = _resolve(DINOV2_WEIGHTS, weights_path, verify)
    state = load_state_dict(path)
    if "pos_embed" not in state or "cls_token" not in state:
        raise WeightsFormatError(f"{path}: not DINOv2 ViT-L/14 weights (no pos_embed / cls_token)")
    grid = model.vit.patch_embed.grid_size[0]  # type: ignore[union-attr]
    state["pos_embed"] = dinov2_position_embedding(state["pos_embed"], grid)
    state.setdefault("mask_token", state["cls_token"].new_zeros(1, state["cls_token"].shape[-1]))  # timm's marker
    _load(model, checkpoint_filter_fn(state, model.vit), path, "DINOv2 ViT-L/14")  # type: ignore[arg-type]
    return digest


def load_clip_weights(model: nn.Module, weights_path: str | os.PathLike[str] | None, verify: bool) -> str:
    """Load OpenAI's CLIP ViT-L/14@336 (open_clip layout) into ``model`` (a :class:`TappedViT`); return its SHA-256."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    path, digest = _resolve(CLIP_WEIGHTS, weights_path, verify)
    state = load_state_dict(path)
    if "visual.class_embedding" not in state:
        raise WeightsFormatError(f"{path}: not an OpenAI/open_clip CLIP state dict (no visual.class_embedding)")
    _load(model, checkpoint_filter_fn(state, model.vit), path, "CLIP ViT-L/14@336")  # type: ignore[arg-type]
    return digest


def dinov2_pinned() -> bool:
    """Whether the DINOv2 weights file has a pinned full SHA-256."""
    return is_pinned(DINOV2_WEIGHTS)


def clip_pinned() -> bool:
    """Whether the CLIP weights file has a pinned full SHA-256."""
    return is_pinned(CLIP_WEIGHTS)


def clip_available() -> bool:
    """Whether ``clip-vitl14-336`` can be built here without a download: timm installed and the weights on disk."""
    return timm_available() and find_local(CLIP_WEIGHTS) is not None
