"""Typed exceptions raised by ganprobe.

Every error that a user can cause derives from :class:`GanprobeError`, so a caller (the CLI, a CI script) can
catch one class and print its one-line message. Each subclass also derives from the matching built-in
(``ValueError``, ``FileNotFoundError``...) so generic handlers keep working.

An error or warning whose message names a parameter is raised with a :class:`~ganprobe.front_end_names.Template`
instead of a string: it then knows the parameters it concerns (``error.parameters``) and its message in each front
end's words (``error.texts``; ``str(error)`` is the Python wording), which the CLI and the pytest plugin print with
:func:`~ganprobe.front_end_names.render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from ganprobe.front_end_names import Template


class _Worded:
    """What errors and warnings share: built from a string (the same in every front end) or from a
    :class:`~ganprobe.front_end_names.Template` (rendered once per front end, here).

    Attributes:
        parameters: the Python parameters the message names (empty for a plain string).
        texts: ``{front end: message}`` (empty for a plain string: ``str()`` is the message everywhere).
    """

    parameters: tuple[str, ...] = ()
    texts: MappingProxyType[str, str] = MappingProxyType({})

    def __init__(self, *args: Any) -> None:
        if args and isinstance(args[0], Template):
            self.parameters = args[0].parameters
            self.texts = MappingProxyType(args[0].render_all())
            args = (self.texts["python"], *args[1:])
        super().__init__(*args)

    def __reduce__(self) -> tuple[Any, ...]:  # a MappingProxyType does not pickle; a dict does
        state = {**self.__dict__, **({"texts": dict(self.texts)} if "texts" in self.__dict__ else {})}
        return (type(self), self.args, state)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "texts" in state:
            self.texts = MappingProxyType(dict(state["texts"]))

    @property
    def parameter(self) -> str | None:
        """The (first) Python parameter the message concerns, ``None`` when it names none."""
        return self.parameters[0] if self.parameters else None


class GanprobeError(_Worded, Exception):
    """Base class of every error ganprobe raises on purpose; its message is one line naming what is wrong."""


class InputError(GanprobeError, ValueError):
    """Images or features that cannot be used: wrong shape, dtype, value range, width, or too few samples."""


class UsageError(GanprobeError, ValueError):
    """A command-line option or argument is invalid (the CLI's own checks; exit code 2)."""


class ImageFolderError(GanprobeError, ValueError):
    """An image folder is missing, holds no images, or holds a file that cannot be decoded."""


class WeightsError(GanprobeError, RuntimeError):
    """Base class for problems with an extractor's weights file."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """The weights file is not available here and could not be downloaded; the message says how to supply it."""


class WeightsChecksumError(WeightsError):
    """The weights file exists but its SHA-256 does not match the published checksum."""


class WeightsFormatError(WeightsError):
    """The weights file is not a plain state dict of tensors (it is never unpickled beyond ``weights_only``)."""


class UnknownExtractorError(GanprobeError, KeyError):
    """No extractor is registered under the requested name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it a readable line.
        return str(self.args[0]) if self.args else ""


class GanprobeWarning(_Worded, UserWarning):
    """Base class of every warning ganprobe issues on purpose (filter them with one ``warnings`` rule)."""


class SampleSizeWarning(GanprobeWarning, UserWarning):
    """A set is too small for a number to mean what it claims (rank-deficient FID, KID subsets that are the whole
    set). A metric issues each such warning once per state; reports state the same at their top instead."""


class SkippedImagesWarning(GanprobeWarning, UserWarning):
    """Image files that could not be read or decoded were skipped (non-strict runs); ``files`` lists them all.

    Args:
        message: the one-line warning (count, the first few files and why, and "and N more").
        files: the path of every skipped file.
    """

    def __init__(self, message: str, files: list[str] | None = None) -> None:
        super().__init__(message)
        self.files = list(files or [])


class FeatureCacheWarning(GanprobeWarning, UserWarning):
    """A feature-cache entry was unreadable, corrupt or mismatched (it is recomputed), or could not be written."""


def problem_report(error: GanprobeError) -> list[Any]:
    """``error`` as JSON-ready data for another process: ``[class name, message, texts, parameters]``."""
    return [type(error).__name__, str(error), dict(error.texts), list(error.parameters)]


def error_from_report(report: Sequence[Any], fallback: type[GanprobeError] = GanprobeError) -> GanprobeError:
    """The error a :func:`problem_report` (or a ``[class name, message]`` pair) describes, with its words in every
    front end; a class name that is no :class:`GanprobeError` of this module gives ``fallback``."""
    kind = globals().get(str(report[0]))
    error = (kind if isinstance(kind, type) and issubclass(kind, GanprobeError) else fallback)(report[1])
    if len(report) > 3:
        error.texts = MappingProxyType({str(key): str(text) for key, text in dict(report[2]).items()})
        error.parameters = tuple(str(name) for name in report[3])
    return error
