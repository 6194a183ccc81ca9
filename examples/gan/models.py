"""The networks of the reference trainers, each matching the study it reproduces (docs/studies.md §2-§4).

Every generator maps a latent batch ``(N, latent_dim)`` to images in ``[-1, 1]`` (tanh), NCHW. Every discriminator
maps images to raw scores ``(N,)`` (logits or critic values: the losses own any sigmoid); the ACGAN discriminator
returns ``(scores (N,), class_logits (N, C))``. Layers have stable names so ganprobe's ``ModuleExtractor`` can tap
them (``DISCRIMINATOR_TAPS``).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn


class MLPDiscriminator(nn.Module):
    """Vanilla GAN / LSGAN discriminator: linear 784->256, LeakyReLU 0.01, 256->256, LeakyReLU 0.01, 256->1.

    Args:
        hidden: width of the two hidden layers (256 in the study).
    """

    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.LeakyReLU(0.01))
        self.fc2 = nn.Sequential(nn.Linear(hidden, hidden), nn.LeakyReLU(0.01))
        self.out = nn.Linear(hidden, 1)

    def forward(self, images: Tensor) -> Tensor:
        """``(N, 1, 28, 28)`` images in ``[-1, 1]`` -> ``(N,)`` logits."""
        return self.out(self.fc2(self.fc1(images))).squeeze(1)


class MLPGenerator(nn.Module):
    """Vanilla GAN / LSGAN generator: noise->1024, ReLU, 1024->1024, ReLU, 1024->784, tanh.

    Args:
        latent_dim: noise size (96 in the study).
        hidden: width of the two hidden layers (1024 in the study).
    """

    def __init__(self, latent_dim: int = 96, hidden: int = 1024) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 784),
            nn.Tanh(),
        )

    def forward(self, noise: Tensor) -> Tensor:
        """``(N, latent_dim)`` -> ``(N, 1, 28, 28)`` images in ``[-1, 1]``."""
        return self.net(noise).view(-1, 1, 28, 28)


class MNISTDCGANDiscriminator(nn.Module):
    """MNIST DCGAN discriminator: 32 5x5 conv, LeakyReLU 0.01, maxpool 2, 64 5x5 conv, LeakyReLU 0.01, maxpool 2,
    FC 4*4*64, LeakyReLU 0.01, FC 1.

    Args:
        width: channels of the first convolution (32 in the study; the second has twice as many).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        flat = 4 * 4 * 2 * width
        self.conv1 = nn.Sequential(nn.Conv2d(1, width, 5), nn.LeakyReLU(0.01), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(width, 2 * width, 5), nn.LeakyReLU(0.01), nn.MaxPool2d(2))
        self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(flat, flat), nn.LeakyReLU(0.01))
        self.out = nn.Linear(flat, 1)

    def forward(self, images: Tensor) -> Tensor:
        """``(N, 1, 28, 28)`` images in ``[-1, 1]`` -> ``(N,)`` logits."""
        return self.out(self.fc1(self.conv2(self.conv1(images)))).squeeze(1)


class MNISTDCGANGenerator(nn.Module):
    """MNIST DCGAN generator: FC 1024 ReLU BN, FC 7*7*128 ReLU BN, 64 4x4 stride-2 transposed conv ReLU BN,
    1 4x4 stride-2 transposed conv tanh.

    Args:
        latent_dim: noise size (96 in the study).
        width: channels of the last transposed convolution's input (64 in the study; the 7x7 map has twice as many,
            the first FC layer sixteen times as many units).
    """

    def __init__(self, latent_dim: int = 96, width: int = 64) -> None:
        super().__init__()
        self.width = width
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, 16 * width),
            nn.ReLU(),
            nn.BatchNorm1d(16 * width),
            nn.Linear(16 * width, 7 * 7 * 2 * width),
            nn.ReLU(),
            nn.BatchNorm1d(7 * 7 * 2 * width),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.BatchNorm2d(width),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, noise: Tensor) -> Tensor:
        """``(N, latent_dim)`` -> ``(N, 1, 28, 28)`` images in ``[-1, 1]``."""
        return self.deconv(self.fc(noise).view(-1, 2 * self.width, 7, 7))


def _up(in_channels: int, out_channels: int, first: bool = False) -> nn.Sequential:
    stride, padding = (1, 0) if first else (2, 1)
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride, padding, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.2),
    )


def _down(in_channels: int, out_channels: int, norm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=False)]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class DCGAN64Generator(nn.Module):
    """64x64 colour DCGAN generator (the face study): latent -> 8w x4x4 -> 4w x8x8 -> 2w x16x16 -> w x32x32 ->
    3x64x64, transposed 4x4 convolutions with BatchNorm and LeakyReLU 0.2, tanh output.

    Args:
        latent_dim: latent size (64 in the study).
        width: channels of the last hidden map (64 in the study: 512-256-128-64).
    """

    def __init__(self, latent_dim: int = 64, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            _up(latent_dim, 8 * width, first=True),
            _up(8 * width, 4 * width),
            _up(4 * width, 2 * width),
            _up(2 * width, width),
            nn.ConvTranspose2d(width, 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, noise: Tensor) -> Tensor:
        """``(N, latent_dim)`` -> ``(N, 3, 64, 64)`` images in ``[-1, 1]``."""
        return self.net(noise[:, :, None, None])


class DCGAN64Discriminator(nn.Module):
    """64x64 colour DCGAN discriminator: strided 4x4 convolutions w -> 2w -> 4w -> 8w (BatchNorm after the first,
    LeakyReLU 0.2), then a 4x4 convolution to one logit (the study's sigmoid lives in the BCE loss).

    Args:
        width: channels of the first convolution (64 in the study: 64-128-256-512).
    """

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.block1 = _down(3, width, norm=False)
        self.block2 = _down(width, 2 * width)
        self.block3 = _down(2 * width, 4 * width)
        self.block4 = _down(4 * width, 8 * width)
        self.out = nn.Conv2d(8 * width, 1, 4, 1, 0, bias=False)

    def forward(self, images: Tensor) -> Tensor:
        """``(N, 3, 64, 64)`` images in ``[-1, 1]`` -> ``(N,)`` logits."""
        return self.out(self.block4(self.block3(self.block2(self.block1(images))))).flatten()


# ACGAN discriminator strides (the CIFAR-10 study): eight 3x3 convolutions, 32 -> 16 -> 8 -> 4 pixels.
ACGAN_STRIDES = (1, 2, 1, 2, 1, 1, 1, 2)


class ACGANDiscriminator(nn.Module):
    """32x32 ACGAN-style discriminator: eight 3x3 convolutions (strides 1,2,1,2,1,1,1,2), each with LayerNorm over
    (C, H, W) and LeakyReLU 0.2, 4x4 max-pool, then a real/fake head ``fc1`` and a class head ``fc10``.

    Args:
        num_classes: outputs of the class head.
        width: channels of every convolution (196 in the study).
    """

    def __init__(self, num_classes: int = 10, width: int = 196) -> None:
        super().__init__()
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        size, in_channels = 32, 3
        for index, stride in enumerate(ACGAN_STRIDES, start=1):
            size //= stride
            blocks[f"conv{index}"] = nn.Sequential(
                nn.Conv2d(in_channels, width, 3, stride, 1), nn.LayerNorm([width, size, size]), nn.LeakyReLU(0.2)
            )
            in_channels = width
        self.features = nn.Sequential(blocks)
        self.pool = nn.Sequential(nn.MaxPool2d(4), nn.Flatten())
        self.fc1 = nn.Linear(width, 1)
        self.fc10 = nn.Linear(width, num_classes)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``(N, 3, 32, 32)`` images in ``[-1, 1]`` -> ``(critic scores (N,), class logits (N, num_classes))``."""
        pooled = self.pool(self.features(images))
        return self.fc1(pooled).squeeze(1), self.fc10(pooled)


class ACGANGenerator(nn.Module):
    """32x32 ACGAN-style generator: linear noise -> w x4x4 with BatchNorm, then three rounds of (transposed 4x4
    stride-2 convolution, 3x3 convolution, BatchNorm, ReLU) to 32x32, and a 3x3 convolution to RGB with tanh.

    The class is given the study's way: the first ``num_classes`` noise entries are replaced by the one-hot label
    (:meth:`noise_with_labels`).

    Args:
        latent_dim: noise size (100 in the study).
        width: channels of every hidden map (196 in the study).
    """

    def __init__(self, latent_dim: int = 100, width: int = 196) -> None:
        super().__init__()
        self.width = width
        self.fc = nn.Sequential(nn.Linear(latent_dim, width * 16), nn.BatchNorm1d(width * 16), nn.ReLU())
        stages: list[nn.Module] = []
        for _ in range(3):
            stages += [
                nn.ConvTranspose2d(width, width, 4, 2, 1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.Conv2d(width, width, 3, 1, 1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
        self.net = nn.Sequential(*stages, nn.Conv2d(width, 3, 3, 1, 1), nn.Tanh())

    def forward(self, noise: Tensor) -> Tensor:
        """``(N, latent_dim)`` -> ``(N, 3, 32, 32)`` images in ``[-1, 1]``."""
        return self.net(self.fc(noise).view(-1, self.width, 4, 4))

    @staticmethod
    def noise_with_labels(noise: Tensor, labels: Tensor, num_classes: int) -> Tensor:
        """Write the one-hot ``labels`` into the first ``num_classes`` entries of ``noise`` (a copy)."""
        conditioned = noise.clone()
        conditioned[:, :num_classes] = nn.functional.one_hot(labels, num_classes).to(noise.dtype)
        return conditioned


class LayersGenerator(nn.Module):
    """The layer study's generator (docs/studies.md §5): dense latent -> 4w x4x4 + BatchNorm + LeakyReLU 0.2, then
    transposed 4x4 stride-2 convolutions to 2w x8x8 and w x16x16 (BatchNorm, LeakyReLU 0.2) and to 1x32x32 (tanh).

    Layers (for :func:`ganprobe.probe.record_activations`): ``fc``, ``deconv1``, ``deconv2``, ``out``.

    Args:
        latent_dim: latent size (100 in the study).
        width: channels of the last hidden map (32 in the study: 128 -> 64 -> 32 -> 1).
    """

    def __init__(self, latent_dim: int = 100, width: int = 32) -> None:
        super().__init__()
        self.width = width
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, 4 * width * 16), nn.BatchNorm1d(4 * width * 16), nn.LeakyReLU(0.2)
        )
        self.deconv1 = _up(4 * width, 2 * width)
        self.deconv2 = _up(2 * width, width)
        self.out = nn.Sequential(nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh())

    def forward(self, noise: Tensor) -> Tensor:
        """``(N, latent_dim)`` -> ``(N, 1, 32, 32)`` images in ``[-1, 1]``."""
        hidden = self.fc(noise).view(-1, 4 * self.width, 4, 4)
        return self.out(self.deconv2(self.deconv1(hidden)))


class LayersDiscriminator(nn.Module):
    """The layer study's discriminator (docs/studies.md §5): 4x4 stride-2 convolutions w -> 2w -> 4w, each with
    BatchNorm and LeakyReLU 0.2 (32x32 -> 16 -> 8 -> 4), then a dense layer to one logit.

    Layers: ``conv1``, ``conv2``, ``conv3`` (the study's three), ``out``.

    Args:
        width: channels of the first convolution (32 in the study: 32 -> 64 -> 128).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.conv1 = _down(1, width)
        self.conv2 = _down(width, 2 * width)
        self.conv3 = _down(2 * width, 4 * width)
        self.out = nn.Sequential(nn.Flatten(), nn.Linear(4 * width * 16, 1))

    def forward(self, images: Tensor) -> Tensor:
        """``(N, 1, 32, 32)`` images in ``[-1, 1]`` -> ``(N,)`` logits."""
        return self.out(self.conv3(self.conv2(self.conv1(images)))).squeeze(1)


# Layers of each discriminator that ganprobe's ModuleExtractor taps for per-layer separability.
DISCRIMINATOR_TAPS: dict[type[nn.Module], tuple[str, ...]] = {
    MLPDiscriminator: ("fc1", "fc2"),
    MNISTDCGANDiscriminator: ("conv1", "conv2", "fc1"),
    DCGAN64Discriminator: ("block1", "block2", "block3", "block4"),
    ACGANDiscriminator: ("features.conv2", "features.conv4", "features.conv8", "pool"),
    LayersDiscriminator: ("conv1", "conv2", "conv3"),
}
# Generator layers that --probe and the layer study embed (after each block's last activation or norm).
GENERATOR_TAPS: dict[type[nn.Module], tuple[str, ...]] = {
    LayersGenerator: ("fc", "deconv1", "deconv2", "out"),
    MNISTDCGANGenerator: ("fc.2", "fc.5", "deconv.2", "deconv.4"),
    MLPGenerator: ("net.1", "net.3", "net.5"),
}


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def init_xavier(module: nn.Module) -> None:
    """Xavier-uniform weights for linear and transposed-conv layers (the MNIST study's ``initialize_weights``).

    Draws from the global torch RNG: seed it first.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
