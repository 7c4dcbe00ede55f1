"""Typed exceptions of the study core: each names the file (or series) and what to do about it."""
from __future__ import annotations

from pathlib import Path


class IchviewError(Exception):
    """Base class for every error ichview reports to a user (the UI catches these in one place)."""


class FileProblemError(IchviewError):
    """A problem with one file: the message names the file, the reason and, when known, the fix."""

    prefix = ""

    def __init__(self, path: Path | str, reason: str, fix: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        self.fix = fix
        message = f"{self.path}: {self.prefix}{reason}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


class UnreadableFileError(FileProblemError):
    """A file that cannot be used: not DICOM, truncated, empty, unreadable or unsupported."""


class NoImageSeriesError(IchviewError):
    """Nothing in the given paths is an image series that can be shown."""


class PixelDecodeError(FileProblemError):
    """A slice whose pixel data cannot be decoded (codec missing, data truncated)."""

    prefix = "cannot decode pixels: "


class VolumeTooLargeError(IchviewError):
    """A stack whose decoded volume would exceed the memory limit (viewer/core/limits.py)."""


class LoadCancelled(IchviewError):
    """Loading was cancelled by the user."""
