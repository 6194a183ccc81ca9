"""The declaration of lenet-mnist, the MNIST digit classifier shipped inside the package: taps, layers and input
pipelines, as plain data (no torch).
"""

from __future__ import annotations

from ganprobe.extractors.declaration import Backbone, Lazy
from ganprobe.extractors.preprocessing import GrayscalePreprocessing

LENET_TAPS = {"conv1": "conv1", "conv2": "conv2", "fc1": "fc1", "logits": "logits"}
MNIST_MEAN = 0.1307  # MNIST training-set pixel mean and standard deviation on [0, 1] pixels
MNIST_STD = 0.3081
# The input contract of the lenet-mnist weights (also used by the training script): antialiased bilinear resize to
# 28x28, RGB -> gray with BT.601 luma weights, MNIST normalisation.
LENET_PREPROCESSING = GrayscalePreprocessing(size=(28, 28), mean=(MNIST_MEAN,) * 3, std=(MNIST_STD,) * 3)

LENET_MNIST = Backbone(
    name="lenet-mnist",
    description="LeNet MNIST digit classifier; weights bundled with ganprobe (offline); for MNIST GANs",
    build=Lazy("ganprobe.extractors.lenet_mnist.network:LeNet"),
    taps=LENET_TAPS,
    default_layer="fc1",
    block_layers=("conv1", "conv2", "fc1"),
    pipelines={"mnist": LENET_PREPROCESSING},
    weights=Lazy("ganprobe.extractors.lenet_mnist.weights:load_lenet_weights"),
    find_weights=Lazy("ganprobe.extractors.published:find_lenet_weights"),
    logits_layer="logits",
)
