"""Typed exceptions of the study core: each names the file (or series) and what to do about it."""
from __future__ import annotations

from pathlib import Path


class IchviewError(Exception):
    """Base class for every error ichview reports to a user (the UI catches these in one place)."""


class UnreadableFileError(IchviewError):
    """A file that cannot be used: not DICOM, truncated, empty, unreadable or unsupported."""

    def __init__(self, path: Path | str, reason: str, fix: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        self.fix = fix
        message = f"{self.path}: {reason}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


class NoImageSeriesError(IchviewError):
    """Nothing in the given paths is an image series that can be shown."""


class PixelDecodeError(IchviewError):
    """A slice whose pixel data cannot be decoded (codec missing, data truncated)."""

    def __init__(self, path: Path | str, reason: str, fix: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        self.fix = fix
        message = f"{self.path}: cannot decode pixels: {reason}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


class LoadCancelled(IchviewError):
    """Loading was cancelled by the user."""
