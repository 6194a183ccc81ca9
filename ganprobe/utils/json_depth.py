"""Bound on JSON nesting: a file nested 100,000 levels deep makes Python's parser (and any code walking the result)
exceed the recursion limit; :func:`check_json_depth` measures the nesting of the *text* first, without recursion,
and refuses it with one line.
"""

from __future__ import annotations

import re
from itertools import accumulate

from ganprobe.errors import InputError

# Reports nest about 5 levels; a limit far above that, far below the recursion limit.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (brackets inside strings do not count)."""
    brackets = (1 if char in "[{" else -1 for char in _JSON_STRING.sub('""', text) if char in "[]{}")
    return max(accumulate(brackets), default=0)


def check_json_depth(text: str, what: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`InputError` (``"<what>: nested N levels deep ..."``) when ``text`` nests deeper than ``limit``."""
    depth = json_depth(text)
    if depth > limit:
        raise InputError(f"{what}: JSON nested {depth} levels deep (at most {limit} allowed); not a ganprobe file")
