"""Vision transformers from timm with one tap module per block, for DINOv2 and CLIP feature spaces.

timm (``pip install ganprobe[vit]``) supplies the architectures; :class:`TappedViT` runs a timm
``VisionTransformer`` block by block and passes each block's tokens through a :class:`ClassToken` module, so a
forward hook on ``block_tokens.<i>`` sees that block's class token ``(N, D)`` (what LayerSeparability compares),
and the final embedding through ``embedding``. Nothing is downloaded here; weights are loaded by
:mod:`ganprobe.extractors.vit_l14.weights`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganprobe.errors import WeightsNotFoundError
from ganprobe.extractors.published import TIMM_MISSING, timm_available


def _create(architecture: str, **kwargs: object) -> nn.Module:
    if not timm_available():
        raise WeightsNotFoundError(TIMM_MISSING)
    import timm

    return timm.create_model(architecture, pretrained=False, **kwargs)


class ClassToken(nn.Module):
    """The class token of a ``(N, T, D)`` token sequence: ``(N, D)`` (a tap point; it has no parameters)."""

    def forward(self, tokens: Tensor) -> Tensor:
        """Return ``tokens[:, 0]``."""
        return tokens[:, 0]


class L2Normalize(nn.Module):
    """Scale each row to unit Euclidean norm (CLIP's normalised image embeddings)."""

    def forward(self, x: Tensor) -> Tensor:
        """Return ``x / ||x||`` row by row."""
        return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)


class TappedViT(nn.Module):
    """A timm ``VisionTransformer`` run block by block with named tap modules.

    Args:
        vit: the timm model (its state dict lives under ``vit.``).
        normalize_embedding: L2-normalise the final embedding (CLIP) or not (DINOv2).

    Taps: ``block_tokens.<i>`` (class token after block ``i``, before the final norm), ``pool`` (the pooled,
    final-normed class token before any head) and ``embedding`` (after the head, normalised when asked).
    """

    def __init__(self, vit: nn.Module, normalize_embedding: bool) -> None:
        super().__init__()
        self.vit = vit
        self.block_tokens = nn.ModuleList(ClassToken() for _ in vit.blocks)
        self.pool = nn.Identity()
        self.embedding = L2Normalize() if normalize_embedding else nn.Identity()

    def forward(self, images: Tensor) -> Tensor:
        """Map a preprocessed ``(N, 3, H, W)`` batch to the ``(N, D)`` embedding."""
        vit = self.vit
        tokens = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(images))))
        for block, tap in zip(vit.blocks, self.block_tokens, strict=True):
            tokens = block(tokens)
            tap(tokens)
        pooled = self.pool(vit.fc_norm(vit.pool(vit.norm(tokens))))
        return self.embedding(vit.head(pooled))


def dinov2_vitl14() -> TappedViT:
    """DINOv2 ViT-L/14 at 224x224 (a 16x16 patch grid), class-token embedding after the final norm (1024-d)."""
    vit = _create("vit_large_patch14_dinov2", img_size=224, num_classes=0)
    return TappedViT(vit, normalize_embedding=False)


def clip_vitl14_336() -> TappedViT:
    """OpenAI CLIP ViT-L/14@336 image tower (QuickGELU), projected to 768-d and L2-normalised."""
    vit = _create("vit_large_patch14_clip_quickgelu_336", num_classes=768)
    return TappedViT(vit, normalize_embedding=True)


def dinov2_position_embedding(pos_embed: Tensor, grid: int, offset: float = 0.1) -> Tensor:
    """Resample a DINOv2 position embedding ``(1, 1 + M*M, D)`` to a ``grid x grid`` patch grid.

    DINOv2's own forward does this at every call (``interpolate_pos_encoding``): bicubic, no antialiasing, with
    the scale factor ``(grid + offset) / M`` rather than the output size; doing it once when loading gives the
    same embedding for the fixed input size.
    """
    count = pos_embed.shape[1] - 1
    side = int(round(count**0.5))
    if side * side != count:
        raise ValueError(f"position embedding of {count} patches is not a square grid")
    if side == grid:
        return pos_embed
    dim = pos_embed.shape[-1]
    patches = pos_embed[:, 1:].float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    scale = (grid + offset) / side
    patches = F.interpolate(patches, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    if tuple(patches.shape[-2:]) != (grid, grid):
        raise ValueError(f"resampled position embedding has grid {tuple(patches.shape[-2:])}, expected {grid}")
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, dim)
    return torch.cat([pos_embed[:, :1].float(), patches], dim=1).to(pos_embed.dtype)
