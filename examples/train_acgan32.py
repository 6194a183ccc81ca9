"""Train the 32x32 ACGAN-style discriminator of the CIFAR-10 study alone and with a generator, with ganprobe metrics.

Usage: ``python examples/train_acgan32.py --data FOLDER [--device cuda] [--out runs/...]`` (``--help`` lists every flag;
defaults reproduce the study, see examples/gan/acgan.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gan.acgan import ACGANResult, run  # noqa: E402


def main(argv: Sequence[str] | None = None) -> ACGANResult:
    """Run the trainer with command-line flags ``argv`` (``None``: ``sys.argv``); returns the run's result."""
    return run(argv)


if __name__ == "__main__":
    main()
