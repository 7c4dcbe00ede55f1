"""Atomic writes: all or nothing, and a failure says why and leaves the folder as it was."""
from __future__ import annotations

from pathlib import Path

import pytest

from viewer.core.atomic import ExportError, atomic_output, write_bytes_atomic


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_writes_whole_file_and_no_temp(tmp_path: Path) -> None:
    out = write_bytes_atomic(tmp_path / "a.json", b"{}\n")
    assert out.read_bytes() == b"{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    mode = out.stat().st_mode & 0o777
    assert mode & 0o600 == 0o600  # mkstemp's 0600 widened to the umask


def test_failure_mid_write_leaves_folder_unchanged(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(b"old report")
    before = _listing(tmp_path)
    with pytest.raises(ExportError) as info:
        with atomic_output(tmp_path / "report.pdf") as handle:
            handle.write(b"half a new rep")
            raise RuntimeError("drawing failed")
    assert "report.pdf" in str(info.value) and "drawing failed" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert _listing(tmp_path) == before


def test_failure_on_new_file_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ExportError):
        with atomic_output(tmp_path / "new.json") as handle:
            handle.write(b"{")
            raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="folder does not exist"):
        write_bytes_atomic(tmp_path / "nope" / "a.json", b"x")
    assert list(tmp_path.iterdir()) == []


def test_folder_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"not a folder")
    before = _listing(tmp_path)
    with pytest.raises(ExportError, match="plain"):
        write_bytes_atomic(tmp_path / "plain" / "a.json", b"x")
    assert _listing(tmp_path) == before


def test_target_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out.pdf").mkdir()
    with pytest.raises(ExportError, match="folder of that name"):
        write_bytes_atomic(tmp_path / "out.pdf", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["out.pdf"]
