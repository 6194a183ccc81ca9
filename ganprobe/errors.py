"""Typed exceptions raised by ganprobe.

Every error that a user can cause derives from :class:`GanprobeError`, so a caller (the CLI, a CI script) can
catch one class and print its one-line message. Each subclass also derives from the matching built-in
(``ValueError``, ``FileNotFoundError``...) so generic handlers keep working.
"""

from __future__ import annotations


class GanprobeError(Exception):
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


class GanprobeWarning(UserWarning):
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
