"""A Griffe extension for the documentation site: ganprobe's docstrings head their doctests ``Example:`` (the
torchmetrics habit); Griffe's Google parser reads only ``Examples:`` as a section of code, and would render the
``>>>`` lines as prose. This renames the heading when a ``>>>`` line follows it, in the site only."""

from __future__ import annotations

import re
from typing import Any

import griffe

HEADING = re.compile(r"^(\s*)Example:(\s*\n\s*>>>)", re.MULTILINE)


class DoctestExamples(griffe.Extension):
    """Read an ``Example:`` heading followed by doctest lines as Griffe's ``Examples:`` section."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = HEADING.sub(r"\1Examples:\2", obj.docstring.value)
