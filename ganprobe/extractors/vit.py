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
Pin a digest by adding it to :data:`PINNED_SHA256` (the full 64 hex digits; a prefix is refused). The files, the
pins and their search live in the torch-free :mod:`ganprobe.extractors.published`; this module loads them.
"""

from __future__ import annotations

import os
import warnings

from torch import Tensor, nn

from ganprobe.errors import InputError, WeightsFormatError
from ganprobe.extractors.nets.vit import TappedViT, dinov2_position_embedding
from ganprobe.extractors.published import (
    CLIP_WEIGHTS,
    DINOV2_WEIGHTS,
    PINNED_SHA256,
    clip_pinned,
    dinov2_pinned,
    find_vit_weights,
    is_pinned,
    pinned,
    timm_available,
)
from ganprobe.extractors.weights import WeightsFile, find_local, load_state_dict, load_weights_into

__all__ = [
    "CLIP_WEIGHTS",
    "DINOV2_WEIGHTS",
    "PINNED_SHA256",
    "clip_available",
    "clip_pinned",
    "dinov2_pinned",
    "is_pinned",
    "load_clip_weights",
    "load_dinov2_weights",
    "pinned",
]


def _resolve(spec: WeightsFile, weights_path: str | os.PathLike[str] | None, verify: bool) -> tuple[str, str]:
    path, digest = find_vit_weights(spec, weights_path, verify)
    if not pinned(spec).sha256:
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


def clip_available() -> bool:
    """Whether ``clip-vitl14-336`` can be built here without a download: timm installed and the weights on disk."""
    return timm_available() and find_local(CLIP_WEIGHTS) is not None
