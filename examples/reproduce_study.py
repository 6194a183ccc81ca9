"""Reproduce one of the five seed studies (docs/studies.md) end to end, offline, from one command.

Usage::

    python examples/reproduce_study.py campus   # §1 per-block separability of real vs DCGAN-64 photos
    python examples/reproduce_study.py faces    # §2 DCGAN-64 + 1-NN LOO, t-SNE, PCA variance
    python examples/reproduce_study.py acgan    # §3 ACGAN D alone vs with G, attack, class/feature maximisation
    python examples/reproduce_study.py course   # §4 vanilla GAN, LSGAN, DCGAN on MNIST
    python examples/reproduce_study.py layers   # §5 PCA -> t-SNE of every G and D layer

Each runs in minutes on a CPU with short settings; ``--full`` switches to the study's own settings (epochs,
sample counts, network widths). Every study writes its figures, ``summary.json`` and ``summary.md`` (the
study's numbers next to this run's) under ``--out`` (default ``runs/study_<name>``) and prints the table.
``python examples/reproduce_study.py <study> --help`` lists a study's flags with their short and full values.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gan.studies import acgan, campus, course, faces, layers  # noqa: E402
from gan.studies.common import StudyResult, settings_of, write_summary  # noqa: E402

STUDIES = {"campus": campus, "faces": faces, "acgan": acgan, "course": course, "layers": layers}


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per study."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="study", required=True, metavar="STUDY")
    for name, module in STUDIES.items():
        sub = commands.add_parser(name, help=module.TITLE, description=module.__doc__.split("\n\n")[0])
        module.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> StudyResult:
    """Run the study named by ``argv`` (``None``: the command line); returns its result (files and numbers).

    torch and NumPy's BLAS run on ``--threads`` threads (default 1) for the whole study: their sums depend on the
    thread count, and a fixed count makes a rerun print the same numbers.
    """
    import torch
    from threadpoolctl import threadpool_limits

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    module = STUDIES[args.study]
    args.out = Path(args.out or f"runs/study_{args.study}")
    previous = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with threadpool_limits(limits=args.threads):
            result = module.run(args)
    finally:
        torch.set_num_threads(previous)
    run = {
        "command": " ".join(["python examples/reproduce_study.py", *argv]),
        "settings": settings_of(args),
        "threads": args.threads,
        "torch": torch.__version__.split("+")[0],
    }
    result.files.update(write_summary(result, args.out, run))
    return result


if __name__ == "__main__":
    main()
