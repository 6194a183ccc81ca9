"""Train the 64x64 colour DCGAN of the face study on an image folder, with ganprobe metrics tracked during training.

Usage: ``python examples/train_dcgan64.py --data FOLDER [--device cuda] [--out runs/...]`` (``--help`` lists every flag;
defaults reproduce the study, see examples/gan/dcgan64.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gan.dcgan64 import run  # noqa: E402
from gan.loop import RunResult  # noqa: E402


def main(argv: Sequence[str] | None = None) -> RunResult:
    """Run the trainer with command-line flags ``argv`` (``None``: ``sys.argv``); returns the run's result."""
    return run(argv)


if __name__ == "__main__":
    main()
