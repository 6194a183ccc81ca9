"""Weights of the ViT feature spaces the field moved to: DINOv2 ViT-L/14 and CLIP ViT-L/14@336 (via timm).

* ``dinov2-vitl14``: Meta's ``dinov2_vitl14_pretrain.pth``, the file ``torch.hub.load("facebookresearch/dinov2",
  "dinov2_vitl14")`` loads and dgm-eval uses for FD_DINOv2. Its 37x37 position embedding is resampled to the 16x16
  grid of a 224x224 input exactly as DINOv2's forward does it (:func:`~ganprobe.extractors.vit_l14.network.
  dinov2_position_embedding`).
* ``clip-vitl14-336``: OpenAI's CLIP ViT-L/14@336 checkpoint ``ViT-L-14-336px.pt``, the file OpenAI's ``clip``
  package and open_clip download (a TorchScript archive, read tensors-only by
  :func:`~ganprobe.extractors.script_archive.load_script_archive`, never run), converted to timm's layout by timm's
  own checkpoint filter. A plain ``torch.save`` state dict in the same (OpenAI/open_clip) layout loads too.

DINOv2's file loads with ``torch.load(..., weights_only=True)``; both are found through
:mod:`ganprobe.extractors.weights` (explicit path, ``$GANPROBE_WEIGHTS_DIR``, cache, torch hub's checkpoints,
``~/.cache/clip`` for CLIP, download unless ``GANPROBE_OFFLINE=1``) and checked against their full SHA-256 in
:data:`PINNED_SHA256` before anything is read from them: Meta's ``dinov2_vitl14_pretrain.pth`` by the digest public
projects pin for it, OpenAI's file by the digest in its own download URL. With ``verify_checksum=False`` (your own
weights in the same layout) nothing is checked and the numbers are never labelled comparable with published ones.
The files, the pins and their search live in the torch-free :mod:`ganprobe.extractors.published`; this module loads
them.
"""

from __future__ import annotations

import os

from torch import Tensor, nn

from ganprobe.errors import InputError, WeightsFormatError
from ganprobe.extractors.published import (
    CLIP_WEIGHTS,
    DINOV2_WEIGHTS,
    PINNED_SHA256,
    find_clip_weights,
    find_dinov2_weights,
    timm_available,
)
from ganprobe.extractors.script_archive import is_script_archive, load_script_archive
from ganprobe.extractors.vit_l14.network import TappedViT, dinov2_position_embedding
from ganprobe.extractors.weights import find_local, load_state_dict, load_weights_into

__all__ = [
    "CLIP_WEIGHTS",
    "DINOV2_WEIGHTS",
    "PINNED_SHA256",
    "clip_available",
    "load_clip_weights",
    "load_dinov2_weights",
]


def _load(model: nn.Module, state: dict[str, Tensor], path: str, network: str) -> None:
    if not isinstance(model, TappedViT):
        raise InputError(f"{network}: expected the TappedViT built by the declaration, got {type(model).__name__}")
    load_weights_into(model.vit, state, path, network)


def load_dinov2_weights(model: nn.Module, weights_path: str | os.PathLike[str] | None, verify: bool) -> str:
    """Load Meta's DINOv2 ViT-L/14 checkpoint into ``model`` (a :class:`TappedViT`); return the file's SHA-256."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    path, digest = find_dinov2_weights(weights_path, verify)
    state = load_state_dict(path)
    if "pos_embed" not in state or "cls_token" not in state:
        raise WeightsFormatError(f"{path}: not DINOv2 ViT-L/14 weights (no pos_embed / cls_token)")
    grid = model.vit.patch_embed.grid_size[0]  # type: ignore[union-attr]
    state["pos_embed"] = dinov2_position_embedding(state["pos_embed"], grid)
    state.setdefault("mask_token", state["cls_token"].new_zeros(1, state["cls_token"].shape[-1]))  # timm's marker
    _load(model, checkpoint_filter_fn(state, model.vit), path, "DINOv2 ViT-L/14")  # type: ignore[arg-type]
    return digest


def load_clip_weights(model: nn.Module, weights_path: str | os.PathLike[str] | None, verify: bool) -> str:
    """Load OpenAI's CLIP ViT-L/14@336 into ``model`` (a :class:`TappedViT`); return the file's SHA-256.

    The file is OpenAI's TorchScript checkpoint (read tensors-only) or a ``torch.save`` state dict in the same
    layout (``visual.*`` keys; the text tower's keys are ignored); fp16 weights are widened to the model's float32.
    """
    from timm.models.vision_transformer import checkpoint_filter_fn

    path, digest = find_clip_weights(weights_path, verify)
    state = load_script_archive(path) if is_script_archive(path) else load_state_dict(path)
    if "visual.class_embedding" not in state:
        raise WeightsFormatError(f"{path}: not an OpenAI/open_clip CLIP state dict (no visual.class_embedding)")
    _load(model, checkpoint_filter_fn(state, model.vit), path, "CLIP ViT-L/14@336")  # type: ignore[arg-type]
    return digest


def clip_available() -> bool:
    """Whether ``clip-vitl14-336`` can be built here without a download: timm installed and the weights on disk."""
    return timm_available() and find_local(CLIP_WEIGHTS) is not None
