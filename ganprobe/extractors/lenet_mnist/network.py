"""A LeNet-style MNIST classifier: two 5x5 convolution blocks, a 128-d embedding and 10 class logits.

Architecture (input ``(N, 1, 28, 28)``, MNIST-normalised pixels):

* ``conv1``: Conv 1->32 5x5, ReLU, 2x2 max-pool -> ``(N, 32, 12, 12)``
* ``conv2``: Conv 32->64 5x5, ReLU, 2x2 max-pool -> ``(N, 64, 4, 4)``
* ``fc1``: flatten, Linear 1024->128, ReLU -> ``(N, 128)`` (the embedding)
* ``dropout`` (training only), then ``logits``: Linear 128->10 -> ``(N, 10)``

About 185k parameters (0.74 MB as float32).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

LENET_INPUT_SIZE = (28, 28)
LENET_EMBEDDING_DIM = 128
LENET_NUM_CLASSES = 10


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, kernel_size=5),
            relu=nn.ReLU(inplace=False),
            pool=nn.MaxPool2d(2),
        )
    )


class LeNet(nn.Module):
    """The LeNet-style classifier behind the ``lenet-mnist`` extractor.

    Args:
        num_classes: size of the ``logits`` layer.
        dropout: dropout probability between ``fc1`` and ``logits`` (active in training mode only).

    Forward: ``(N, 1, 28, 28)`` float -> ``(N, num_classes)`` logits.
    """

    def __init__(self, num_classes: int = LENET_NUM_CLASSES, dropout: float = 0.5) -> None:
        super().__init__()
        self.conv1 = _conv_block(1, 32)
        self.conv2 = _conv_block(32, 64)
        self.fc1 = nn.Sequential(
            OrderedDict(flatten=nn.Flatten(), linear=nn.Linear(64 * 4 * 4, LENET_EMBEDDING_DIM), relu=nn.ReLU())
        )
        self.dropout = nn.Dropout(dropout)
        self.logits = nn.Linear(LENET_EMBEDDING_DIM, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        """Return class logits for a batch of normalised ``(N, 1, 28, 28)`` images."""
        return self.logits(self.dropout(self.fc1(self.conv2(self.conv1(images)))))
