"""Write a file atomically: a temp file in the destination folder, then os.replace.

A failed write leaves neither a partial file nor the temp file behind and raises ExportError, which
names the file and says why. An existing file at the destination stays untouched until the new one
is complete.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from viewer.core.errors import FileProblemError


class ExportError(FileProblemError):
    """A report (or other output) could not be written; nothing was left behind."""

    prefix = "not written: "


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _describe(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, PermissionError):
        return f"permission denied ({exc.strerror or exc})", "choose a folder you can write to"
    if isinstance(exc, FileNotFoundError):
        return "the folder does not exist", "create the folder first or choose another"
    if isinstance(exc, OSError) and exc.errno == 28:
        return "no space left on the device", "free some space or choose another disk"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc), ""
    return f"{type(exc).__name__}: {exc}", ""


@contextlib.contextmanager
def atomic_output(path: Path | str) -> Iterator[BinaryIO]:
    """Yield a binary file to write; on success it replaces `path` in one step.

    On any exception inside the block (or while finishing) the temp file is removed and
    ExportError is raised from the original exception. KeyboardInterrupt also cleans up, then
    propagates unchanged.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ExportError(target, "a folder of that name exists", "give a file name")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        reason, fix = _describe(exc)
        raise ExportError(target, reason, fix) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        if isinstance(exc, ExportError):
            raise
        reason, fix = _describe(exc)
        raise ExportError(target, reason, fix) from exc


def write_atomic(path: Path | str, write: Callable[[BinaryIO], None]) -> Path:
    """Call `write(handle)` on a temp file and move it to `path`; returns `path` as a Path."""
    with atomic_output(path) as handle:
        write(handle)
    return Path(path)


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    return write_atomic(path, lambda handle: handle.write(data))


def write_files_atomic(outputs: list[tuple[Path, bytes]]) -> None:
    """Write several files all or nothing.

    Every file is first written completely to a temp file beside its target (a failure there
    removes the temps and touches no target). Then each target is replaced in turn, an existing one
    kept as a hidden backup until all are in place; if a replacement fails (or the process is
    interrupted), the targets already replaced get their old contents back (or are removed when
    they did not exist) and ExportError names the file that failed.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in outputs:
            target = Path(path)
            if target.is_dir():
                raise ExportError(target, "a folder of that name exists", "give a file name")
            folder = target.parent if str(target.parent) else Path(".")
            try:
                fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
            except OSError as exc:
                reason, fix = _describe(exc)
                raise ExportError(target, reason, fix) from exc
            staged.append((target, Path(tmp_name)))
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp_name, 0o666 & ~_umask())
            except OSError as exc:
                reason, fix = _describe(exc)
                raise ExportError(target, reason, fix) from exc
        _commit(staged)
    finally:
        for _, tmp in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _commit(staged: list[tuple[Path, Path]]) -> None:
    """Move each temp onto its target; on any failure put every target back as it was."""
    done: list[tuple[Path, Path | None]] = []  # (target, backup of its old contents or None)
    try:
        for target, tmp in staged:
            backup = None
            if target.exists():
                fd, backup_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
                os.close(fd)
                backup = Path(backup_name)
                os.replace(target, backup)
            done.append((target, backup))
            os.replace(tmp, target)
    except BaseException as exc:
        for target, backup in reversed(done):
            with contextlib.suppress(OSError):
                if backup is not None:
                    os.replace(backup, target)
                else:
                    target.unlink(missing_ok=True)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, ExportError)):
            raise
        failed = done[-1][0] if done else staged[0][0]
        reason, fix = _describe(exc)
        raise ExportError(failed, reason, fix) from exc
    for _, backup in done:
        if backup is not None:
            with contextlib.suppress(OSError):
                backup.unlink()
