"""JUnit XML of quality gates: one test case per gate, so CI systems show gate results natively."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from ganprobe.report.gates import GateResult
from ganprobe.utils.atomic_files import atomic_write


def junit_xml(gates: Sequence[GateResult], suite: str = "ganprobe", seconds: float = 0.0) -> bytes:
    """Render gate results as a JUnit ``<testsuites>`` document.

    Args:
        gates: the checked gates; each becomes a ``<testcase>`` named by its expression, with a ``<failure>``
            (message: metric, value and threshold) when it failed.
        suite: the ``<testsuite>`` name (e.g. the fake folder).
        seconds: the evaluation's duration, reported as the suite's time.

    Returns:
        UTF-8 XML bytes.
    """
    failures = sum(not gate.passed for gate in gates)
    root = ET.Element("testsuites", tests=str(len(gates)), failures=str(failures), errors="0", time=f"{seconds:.3f}")
    node = ET.SubElement(
        root, "testsuite", name=suite, tests=str(len(gates)), failures=str(failures), errors="0", time=f"{seconds:.3f}"
    )
    for gate in gates:
        case = ET.SubElement(node, "testcase", classname=f"ganprobe.gates.{gate.metric}", name=gate.expression)
        if gate.passed:
            ET.SubElement(case, "system-out").text = gate.message
        else:
            failure = ET.SubElement(case, "failure", message=gate.message, type="GateFailed")
            failure.text = gate.message
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(
    path: str | os.PathLike[str], gates: Sequence[GateResult], suite: str = "ganprobe", seconds: float = 0.0
) -> Path:
    """Write :func:`junit_xml` to ``path`` atomically; returns the path."""
    data = junit_xml(gates, suite, seconds)
    return atomic_write(path, lambda handle: handle.write(data))
