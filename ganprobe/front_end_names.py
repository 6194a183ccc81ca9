"""Messages in the words of the front end in use: one table of each parameter's spelling, and their rendering.

ganprobe has three front ends: the Python API (``weights_path=``), the command line (``--weights``) and the pytest
plugin (a session option such as ``--ganprobe-backend``, else the keyword its ``ganprobe.evaluate(...)`` fixture
method takes). A :class:`~ganprobe.errors.GanprobeError` or :class:`~ganprobe.errors.GanprobeWarning` whose
message names a parameter is built from a :class:`Template`; it is rendered once per front end when raised
(``error.texts``), ``str(error)`` being the Python wording, and each front end prints :func:`render` of it::

    raise WeightsNotFoundError(Template("{weights_path} {path!r} does not exist", path=str(path)))
    # Python: weights_path '/w.pth' does not exist    CLI: --weights '/w.pth' does not exist

A template's fields are either values given by keyword (inserted as they are, never read again, so a file name
with braces is safe) or names of :data:`PARAMETERS`, spelled per front end. Advice whose meaning differs per front
end (``strict=False`` against ``--skip-unreadable``; ``verify_checksum=False``, which only Python has) is a
:class:`PerFrontEnd` value that says it in each front end's own words. Nothing searches or replaces text in a
rendered message. Torch-free.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

FRONT_ENDS = ("python", "cli", "plugin")

# Python parameter -> front end -> how that front end spells it; None where it has no equivalent there (a message
# naming it gives that front end its own advice with PerFrontEnd). The plugin's spelling is its session option where
# it has one, else the keyword of its ganprobe.evaluate(...) fixture method (a Python call, so the Python name).
PARAMETERS: dict[str, dict[str, str | None]] = {
    "weights_path": {"python": "weights_path", "cli": "--weights", "plugin": "weights_path"},
    "verify_checksum": {"python": "verify_checksum", "cli": None, "plugin": "verify_checksum"},
    "strict": {"python": "strict", "cli": "--skip-unreadable", "plugin": "strict"},
    "pipeline": {"python": "pipeline", "cli": "--pipeline", "plugin": "pipeline"},
    "backend": {"python": "backend", "cli": "--backend", "plugin": "--ganprobe-backend"},
    "batch_size": {"python": "batch_size", "cli": "--batch-size", "plugin": "--ganprobe-batch-size"},
    "num_workers": {"python": "num_workers", "cli": "--workers", "plugin": "num_workers"},
    "settings": {"python": "settings", "cli": "--set", "plugin": "settings"},
    "metrics": {"python": "metrics", "cli": "--metrics", "plugin": "metrics"},
    "classes": {"python": "classes", "cli": "--classes", "plugin": "classes"},
    "shrink_subsets": {"python": "shrink_subsets", "cli": None, "plugin": None},
}


def spell(parameter: str, front_end: str) -> str:
    """How ``front_end`` (one of :data:`FRONT_ENDS`) spells the Python parameter ``parameter``.

    Raises:
        KeyError: ``parameter`` is not in :data:`PARAMETERS` or ``front_end`` is not a front end.
        LookupError: that front end has no equivalent (the message should say it with :class:`PerFrontEnd`).
    """
    spelling = PARAMETERS[parameter][front_end]
    if spelling is None:
        raise LookupError(f"{parameter!r} has no equivalent in the {front_end} front end; say it with PerFrontEnd")
    return spelling


class PerFrontEnd:
    """A piece of a message said differently per front end, e.g. advice that only Python can follow.

    Each text is itself a template: its fields are the enclosing :class:`Template`'s values or parameter names
    (write a literal brace as ``{{`` or ``}}``).

    Args:
        python: the Python API's words.
        cli: the command line's words (required: Python words are never printed by the CLI by default).
        plugin: the pytest plugin's words (default: the Python words, since its tests are Python code).
    """

    def __init__(self, python: str, cli: str, plugin: str | None = None) -> None:
        self.texts = {"python": python, "cli": cli, "plugin": python if plugin is None else plugin}

    def __repr__(self) -> str:
        return f"PerFrontEnd({self.texts!r})"


class _Formatter(string.Formatter):
    def __init__(self, front_end: str, values: Mapping[str, Any]) -> None:
        self.front_end = front_end
        self.values = values

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if key in self.values:
            value = self.values[key]  # type: ignore[index]
            return self.vformat(value.texts[self.front_end], (), {}) if isinstance(value, PerFrontEnd) else value
        if key in PARAMETERS:
            return spell(str(key), self.front_end)
        raise KeyError(f"{key!r} is neither a value of the message nor a parameter of front_end_names.PARAMETERS")


def fields(text: str) -> list[str]:
    """The names of the fields of a template text, in order (``"{weights_path} {path!r}"``: both names)."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


class Template:
    """A message whose fields are spelled per front end (see the module docstring).

    Args:
        text: the message, with ``{parameter}`` fields (names of :data:`PARAMETERS`) and ``{value}`` fields.
        values: the values of the other fields; a :class:`PerFrontEnd` value is chosen per front end.

    Example:
        >>> Template("{weights_path} {path!r} is missing", path="w.pth").render("cli")
        "--weights 'w.pth' is missing"
    """

    def __init__(self, text: str, **values: Any) -> None:
        self.text = text
        self.values = values

    @property
    def parameters(self) -> tuple[str, ...]:
        """The parameters the message concerns: its fields (and its per-front-end values' fields) that are no
        values, in order of first use."""
        texts = [self.text] + [
            text for value in self.values.values() if isinstance(value, PerFrontEnd) for text in value.texts.values()
        ]
        names = [name for text in texts for name in fields(text) if name not in self.values]
        return tuple(dict.fromkeys(names))

    def render(self, front_end: str) -> str:
        """The message in the words of ``front_end`` (``"python"``, ``"cli"`` or ``"plugin"``)."""
        return _Formatter(front_end, self.values).vformat(self.text, (), {})

    def render_all(self) -> dict[str, str]:
        """``{front end: the message in its words}`` for every front end of :data:`FRONT_ENDS`."""
        return {front_end: self.render(front_end) for front_end in FRONT_ENDS}


def render(message: BaseException | str, front_end: str) -> str:
    """An error's or warning's message in the words of ``front_end``; a plain string, or an error or warning not
    built from a :class:`Template`, is its ``str()`` in every front end."""
    texts = getattr(message, "texts", None)
    if texts and front_end in texts:
        return str(texts[front_end])
    return str(message)
