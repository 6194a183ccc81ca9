"""The Inception-v3 variant behind published FID numbers.

This is the TensorFlow ``inception-2015-12-05`` graph as ported to PyTorch by pytorch-fid
(``pytorch_fid.inception.fid_inception_v3``, MIT licence), rebuilt from torchvision's Inception-v3 blocks.
It differs from torchvision's ImageNet Inception-v3 in three ways: 1008 output classes, average pools inside
the mixed blocks that ignore zero padding (TensorFlow semantics), and a max pool (not an average pool) in the
pool branch of the last block. Layer and parameter names match pytorch-fid's, so the official
``pt_inception-2015-12-05-6726825d.pth`` state dict loads with ``strict=True``.

Forward hooks on ``avgpool`` give the ``(N, 2048, 1, 1)`` pool3 features used by FID; hooks on ``fc`` give the
``(N, 1008)`` logits (used by Inception Score).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.inception import (
    BasicConv2d,
    Inception3,
    InceptionA,
    InceptionAux,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
)

from ganprobe.extractors.published import FID_INCEPTION_WEIGHTS_FILENAME, FID_INCEPTION_WEIGHTS_URL

__all__ = [
    "FID_INCEPTION_WEIGHTS_FILENAME",
    "FID_INCEPTION_WEIGHTS_URL",
    "FIDInceptionV3",
    "load_fid_inception_weights",
]


def _tf_avg_pool(x: Tensor) -> Tensor:
    """3x3 stride-1 average pool that, like TensorFlow's, leaves zero padding out of the average."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(InceptionA):
    """torchvision's InceptionA with a TensorFlow-style average pool."""

    def forward(self, x: Tensor) -> Tensor:
        """Run the four branches and concatenate them along channels."""
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool], 1)


class FIDInceptionC(InceptionC):
    """torchvision's InceptionC with a TensorFlow-style average pool."""

    def forward(self, x: Tensor) -> Tensor:
        """Run the four branches and concatenate them along channels."""
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = layer(branch7x7dbl)
        branch_pool = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([self.branch1x1(x), branch7x7, branch7x7dbl, branch_pool], 1)


class FIDInceptionE_1(InceptionE):  # name kept from pytorch-fid
    """torchvision's InceptionE with a TensorFlow-style average pool (block ``Mixed_7b``)."""

    def _pool(self, x: Tensor) -> Tensor:
        """Pooling applied before the pool branch's 1x1 convolution."""
        return _tf_avg_pool(x)

    def forward(self, x: Tensor) -> Tensor:
        """Run the four branches and concatenate them along channels."""
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        branch_pool = self.branch_pool(self._pool(x))
        return torch.cat([self.branch1x1(x), branch3x3, branch3x3dbl, branch_pool], 1)


class FIDInceptionE_2(FIDInceptionE_1):  # name kept from pytorch-fid
    """InceptionE whose pool branch uses a 3x3 max pool, as in the FID graph (block ``Mixed_7c``)."""

    def _pool(self, x: Tensor) -> Tensor:
        """Pooling applied before the pool branch's 1x1 convolution."""
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class FIDInceptionV3(Inception3):
    """Inception-v3 as used for FID (1008 classes, no aux logits, no input transform).

    ``forward`` expects an already preprocessed float batch of shape ``(N, 3, 299, 299)`` scaled to ``[-1, 1]``
    and returns the ``(N, 1008)`` logits. Weights start uninitialised (nothing is downloaded); load them with
    :func:`load_fid_inception_weights`. The model is put in eval mode on construction.
    """

    def __init__(self) -> None:
        super().__init__(
            num_classes=1008,
            aux_logits=False,
            transform_input=False,
            # Mixed_7b uses FIDInceptionE_1; Mixed_7c is swapped for FIDInceptionE_2 below. No aux head is built.
            inception_blocks=[
                BasicConv2d,
                FIDInceptionA,
                InceptionB,
                FIDInceptionC,
                InceptionD,
                FIDInceptionE_1,
                InceptionAux,
            ],
            init_weights=False,
        )
        self.Mixed_7c = FIDInceptionE_2(2048)
        self.eval()

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """Map a preprocessed ``(N, 3, 299, 299)`` batch in ``[-1, 1]`` to ``(N, 1008)`` logits."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # N x 64 x 147 x 147
        x = self.maxpool1(x)  # N x 64 x 73 x 73
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # N x 192 x 71 x 71
        x = self.maxpool2(x)  # N x 192 x 35 x 35
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))  # N x 288 x 35 x 35
        x = self.Mixed_6a(x)  # N x 768 x 17 x 17
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))  # N x 768 x 17 x 17
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))  # N x 2048 x 8 x 8
        x = self.avgpool(x)  # N x 2048 x 1 x 1 (pool3)
        x = self.dropout(x)  # identity in eval mode
        return self.fc(torch.flatten(x, 1))


def load_fid_inception_weights(model: FIDInceptionV3, path: str | os.PathLike) -> None:
    """Load a ``pt_inception-2015-12-05-6726825d.pth`` state dict from ``path`` into ``model`` (strictly)."""
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"{path}: not a state dict (expected a dict of tensors, got {type(state_dict).__name__})")
    model.load_state_dict(state_dict, strict=True)
