"""Write the studies' tables in examples/README.md from the summaries the study commands wrote.

Each ``python examples/reproduce_study.py STUDY`` run writes ``summary.json`` (its rows, its numbers, the command
and its settings). The ones behind the README are kept in ``examples/results/STUDY.json`` (the default, short run)
and ``examples/results/STUDY.full.json`` (a ``--full`` run). The README holds, for each, a block between

    <!-- generated from examples/results/STUDY.json by examples/study_tables.py: do not edit -->
    <!-- end of examples/results/STUDY.json -->

and this script rewrites every block from its summary, so the README's numbers are the commands' own.

Usage::

    python examples/reproduce_study.py campus && cp runs/study_campus/summary.json examples/results/campus.json
    python examples/study_tables.py            # rewrite the blocks in examples/README.md
    python examples/study_tables.py --check    # exit 1 when a block differs from its summary (what CI runs)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent
RESULTS = EXAMPLES / "results"
README = EXAMPLES / "README.md"
START = "<!-- generated from examples/results/{name} by examples/study_tables.py: do not edit -->"
END = "<!-- end of examples/results/{name} -->"
BLOCK = re.compile(
    r"<!-- generated from examples/results/(?P<name>[\w.]+) by examples/study_tables\.py: do not edit -->\n"
    r"(?P<body>.*?)"
    r"<!-- end of examples/results/(?P=name) -->",
    re.DOTALL,
)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(summary: Mapping[str, Any]) -> str:
    """The Markdown of one summary: the command that made it, its run settings, and its comparison table."""
    run = summary.get("run", {})
    label = "full run (`--full`)" if run.get("settings", {}).get("full") else "short run (defaults)"
    lines = [
        f"`{run.get('command', '?')}`: seed {run.get('settings', {}).get('seed', '?')}, "
        f"torch threads: {run.get('threads', '?')}, torch {run.get('torch', '?')}.",
        "",
        f"| quantity | study reported | {label} | note |",
        "|---|---|---|---|",
    ]
    for row in summary["rows"]:
        lines.append("| " + " | ".join(_cell(row[key]) for key in ("what", "study", "here", "note")) + " |")
    return "\n".join(lines) + "\n"


def render_pending(name: str) -> str:
    """What a block says while its summary has not been kept yet: how to make it, and no numbers."""
    study = name.split(".")[0]
    flag = " --full" if name.endswith(".full.json") else ""
    return (
        f"No table yet: `examples/results/{name}` has not been kept. Numbers appear here only from a summary a "
        f"command wrote: run `python examples/reproduce_study.py {study}{flag}`, then "
        f"`cp runs/study_{study}/summary.json examples/results/{name}` and `python examples/study_tables.py`.\n"
    )


def summaries(folder: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """``{file name: summary}`` of every ``*.json`` in ``folder``."""
    return {path.name: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def rewrite(text: str, found: Mapping[str, Mapping[str, Any]]) -> str:
    """``text`` with every generated block replaced by the rendering of its summary.

    A block whose summary is not kept yet says how to make it (:func:`render_pending`) and quotes no number.

    Raises:
        ValueError: a kept summary has no block.
    """
    names = [match.group("name") for match in BLOCK.finditer(text)]
    unplaced = sorted(set(found) - set(names))
    if unplaced:
        raise ValueError(f"summaries without a block in the README: {', '.join(unplaced)}")

    def body(match: re.Match[str]) -> str:
        name = match.group("name")
        table = render(found[name]) if name in found else render_pending(name)
        return f"{START.format(name=name)}\n{table}{END.format(name=name)}"

    return BLOCK.sub(body, text)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite (or with ``--check``, compare) the README's generated blocks; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the README differs from the summaries")
    parser.add_argument("--readme", type=Path, default=README, help="the Markdown file holding the blocks")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the committed summaries")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    try:
        updated = rewrite(text, summaries(args.results))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if updated == text:
        print(f"{args.readme}: every study table equals its summary")
        return 0
    if args.check:
        print(f"{args.readme}: study tables differ from {args.results}; run python examples/study_tables.py")
        return 1
    from ganprobe.utils.atomic_files import atomic_write

    atomic_write(args.readme, lambda handle: handle.write(updated.encode()))
    print(f"{args.readme}: study tables rewritten from {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
