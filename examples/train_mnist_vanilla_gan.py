"""Train the MNIST vanilla GAN of the course study with ganprobe metrics tracked during training.

Usage: ``python examples/train_mnist_vanilla_gan.py [--steps 3750] [--device cuda] [--out runs/mnist_vanilla] ...``
(``--help`` lists every flag; defaults reproduce the study, see examples/gan/mnist.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gan.loop import RunResult  # noqa: E402
from gan.mnist import run  # noqa: E402


def main(argv: Sequence[str] | None = None) -> RunResult:
    """Run the trainer with command-line flags ``argv`` (``None``: ``sys.argv``); returns the run's result."""
    return run("vanilla", argv)


if __name__ == "__main__":
    main()
