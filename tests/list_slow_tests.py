"""Write ``tests/slow_tests.txt``: the tests that took at least ``--seconds`` in a timed run of the whole suite.

The fast selection for the edit loop is ``pytest -m "not slow"``; ``tests/conftest.py`` marks every test listed in
``tests/slow_tests.txt`` as ``slow`` (as well as those marked in the code). Regenerate the list after adding slow
tests::

    .venv/bin/python -m pytest -q -p no:cacheprovider --durations=0 > /tmp/durations.log
    .venv/bin/python tests/list_slow_tests.py /tmp/durations.log

or, from a timed run of the fast selection only, add the tests that became slow to the list (``--merge``)::

    .venv/bin/python -m pytest -q -m "not slow" -p no:cacheprovider --durations=0 > /tmp/fast.log
    .venv/bin/python tests/list_slow_tests.py /tmp/fast.log --merge

A test's time is its setup, call and teardown together (a module fixture's cost lands on the first test using it).
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

LINE = re.compile(r"\s*([\d.]+)s (?:call|setup|teardown)\s+(tests/\S+?\.py::.+?)\s*$")
OUTPUT = Path(__file__).with_name("slow_tests.txt")


def slow_tests(durations_log: str, seconds: float) -> list[str]:
    """Node ids whose setup + call + teardown took at least ``seconds`` in ``durations_log`` (sorted)."""
    totals: collections.Counter[str] = collections.Counter()
    for line in Path(durations_log).read_text(encoding="utf-8").splitlines():
        match = LINE.match(line)
        if match:
            totals[match.group(2)] += float(match.group(1))
    return sorted(node for node, total in totals.items() if total >= seconds)


def listed_tests() -> list[str]:
    """The node ids ``tests/slow_tests.txt`` lists now."""
    lines = OUTPUT.read_text(encoding="utf-8").splitlines() if OUTPUT.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def main() -> int:
    """Parse the arguments and write the list. Returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("durations_log", help="output of pytest --durations=0 over the whole suite")
    parser.add_argument("--seconds", type=float, default=1.0, help="a test at least this slow is listed (1.0)")
    parser.add_argument("--merge", action="store_true", help="keep the tests listed already, add the new ones")
    args = parser.parse_args()
    nodes = slow_tests(args.durations_log, args.seconds)
    if args.merge:
        nodes = sorted(set(nodes) | set(listed_tests()))
    header = f"# Tests that took >= {args.seconds:g} s on 2 cores; written by tests/list_slow_tests.py (see there).\n"
    OUTPUT.write_text(header + "".join(f"{node}\n" for node in nodes), encoding="utf-8")
    print(f"wrote {OUTPUT}: {len(nodes)} slow tests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
