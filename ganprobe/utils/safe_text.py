"""Safe text for messages: file names with control characters never cut a line or reach the terminal raw.

A file name may hold a newline (which would cut a one-line error), an escape character (which would inject a
terminal control sequence into a warning), or bytes that are not UTF-8 (which cannot even be printed). Messages
name such files with :func:`quote_path`; the CLI passes every line it prints through :func:`one_line`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else (f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def quote_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """``path`` as text for a message: unchanged when every character is printable, else quoted with escapes.

    ``quote_path("a.png") == "a.png"``; ``quote_path("a\\nb.png") == "'a\\\\nb.png'"`` (a backslash-n, not a
    newline); an ESC character becomes ``\\x1b``; a non-UTF-8 byte ``\\xe9``.
    """
    text = os.fsdecode(path)
    if text.isprintable():
        return text
    return "'" + "".join(char if char.isprintable() and char != "\\" else _escape(char) for char in text) + "'"


def one_line(text: str) -> str:
    """``text`` with every non-printable character escaped (newlines included): one safe line for a terminal."""
    text = text.strip()
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def shorten_common_prefix(paths: Sequence[str], width: int) -> list[str]:
    """``paths`` made to fit ``width`` characters by dropping leading folders they all share (shown as ``…/``),
    never by cutting a file name; paths that already fit, or share no folder, come back unchanged.

    Args:
        paths: file paths as reported (``/data/run/campus/IMG_1.jpg``).
        width: the characters a path may take.

    Returns:
        The paths, each with the same leading folders replaced by ``…/`` as far as needed (or possible).
    """
    if not paths or max(len(path) for path in paths) <= width:
        return list(paths)
    split = [path.split("/") for path in paths]
    shared = 0
    while all(len(parts) > shared + 1 for parts in split) and len({parts[shared] for parts in split}) == 1:
        shared += 1
    for drop in range(1, shared + 1):
        shortened = ["…/" + "/".join(parts[drop:]) for parts in split]
        if max(len(path) for path in shortened) <= width or drop == shared:
            return shortened
    return list(paths)
