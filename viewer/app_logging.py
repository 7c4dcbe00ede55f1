"""The viewer's log file: rotating, in the user's state folder, never holding patient names or IDs.

Callers log codes, counts, timings, exception types and stack traces of ichview's own code. Paths
and DICOM values can hold patient names, so they are never logged: `redact` replaces them.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

LOGGER_NAME = "ichview"
LOG_FILE_NAME = "ichview.log"
MAX_BYTES = 1_000_000
BACKUPS = 3


def state_dir() -> Path:
    """Per-user folder for the log (ICHVIEW_STATE_DIR overrides; XDG on Linux)."""
    override = os.environ.get("ICHVIEW_STATE_DIR")
    if override:
        return Path(override)
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
        return base / "ichview" / "Logs"
    if sys.platform == "darwin":
        return home / "Library" / "Logs" / "ichview"
    base = Path(os.environ.get("XDG_STATE_HOME") or home / ".local" / "state")
    return base / "ichview"


def log_file_path() -> Path:
    """The current log file (shown in Help > About)."""
    return state_dir() / LOG_FILE_NAME


def setup_logging(level: int = logging.INFO) -> Path:
    """Attach the rotating file handler to the `ichview` logger once; return the log file's path.

    A log folder that cannot be created leaves logging to stderr only (never fails the app).
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    path = log_file_path()
    for handler in logger.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            if Path(handler.baseFilename) == path:
                return path
            logger.removeHandler(handler)
            handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError:
        logger.addHandler(logging.StreamHandler())
        return path
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    return path


def get_logger(name: str = "") -> logging.Logger:
    """A child of the `ichview` logger."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def redact(_value: object) -> str:
    """What to log instead of a path or DICOM value that may name a patient."""
    return "<redacted>"


def close_logging() -> None:
    """Detach and close the file handlers (tests, and at exit)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
