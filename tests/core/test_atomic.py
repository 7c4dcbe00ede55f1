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


def test_several_files_all_or_nothing_restores_the_old_first_file(tmp_path: Path) -> None:
    """A failed second file leaves the first file's old contents (not the new ones, not nothing)."""
    from viewer.core.atomic import write_files_atomic

    first = tmp_path / "r.json"
    first.write_bytes(b"old json")
    blocked = tmp_path / "r.pdf"
    blocked.mkdir()  # the second target cannot be written
    with pytest.raises(ExportError, match="r.pdf"):
        write_files_atomic([(first, b"new json"), (blocked, b"%PDF")])
    assert first.read_bytes() == b"old json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.pdf"]  # no temp or backup left


def test_several_files_rename_failure_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os as _os

    from viewer.core import atomic
    from viewer.core.atomic import write_files_atomic

    a, b = tmp_path / "a.json", tmp_path / "b.pdf"
    a.write_bytes(b"old a")
    real_replace = _os.replace
    calls = {"n": 0}

    def flaky(src, dst):  # the move of the second new file onto its target fails
        if str(dst) == str(b):
            calls["n"] += 1
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", flaky)
    with pytest.raises(ExportError, match="no space left"):
        write_files_atomic([(a, b"new a"), (b, b"new b")])
    monkeypatch.setattr(atomic.os, "replace", real_replace)
    assert calls["n"] == 1
    assert a.read_bytes() == b"old a" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_several_files_written_together(tmp_path: Path) -> None:
    from viewer.core.atomic import write_files_atomic

    a, b = tmp_path / "a.json", tmp_path / "b.pdf"
    b.write_bytes(b"old")
    write_files_atomic([(a, b"A"), (b, b"B")])
    assert a.read_bytes() == b"A" and b.read_bytes() == b"B"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.pdf"]
