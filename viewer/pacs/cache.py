"""The per-user cache of retrieved studies: the only place a retrieve writes.

Layout: `<root>/studies/<key>/` for a complete study, `<root>/studies/<key>.partial/` while one is
arriving (renamed in one step when complete, removed when a retrieve fails or is cancelled, and
cleared at the next retrieve of that study), `<root>/incoming/` for the storage SCP, `<root>/results/` for `ichview listen`'s SR and key images. `<key>` is a
hash of the StudyInstanceUID: folder names hold no patient data. A size limit is kept by evicting
the least recently used complete studies; `clear()` empties the cache.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from viewer.pacs.errors import CacheError

PARTIAL = ".partial"


def study_key(study_uid: str) -> str:
    return hashlib.sha256(study_uid.encode("ascii", "replace")).hexdigest()[:20]


def folder_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


@dataclass(frozen=True)
class StudyCache:
    """A cache folder with a size limit in bytes."""

    root: Path
    limit_bytes: int

    @property
    def studies(self) -> Path:
        return self.root / "studies"

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    def study_dir(self, study_uid: str) -> Path:
        """Where the complete study lives (it may not exist)."""
        return self.studies / study_key(study_uid)

    def complete(self, study_uid: str) -> Path | None:
        """The folder of a complete cached study (its use time refreshed), or None."""
        folder = self.study_dir(study_uid)
        if not folder.is_dir():
            return None
        os.utime(folder)
        return folder

    def start(self, study_uid: str) -> Path:
        """A fresh, empty `.partial` folder for a study (a stale one from an interrupted run is removed)."""
        partial = self.study_dir(study_uid).with_name(study_key(study_uid) + PARTIAL)
        try:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
        except OSError as exc:
            raise CacheError(f"cannot write the PACS cache at {self.root} ({exc.strerror}); check its permissions") from exc
        return partial

    def discard(self, partial: Path) -> None:
        """Remove a partial study (after a failure or a cancel)."""
        if partial.name.endswith(PARTIAL) and partial.parent == self.studies:
            shutil.rmtree(partial, ignore_errors=True)

    def commit(self, study_uid: str, partial: Path) -> Path:
        """Make a partial study complete in one rename (replacing an older copy); evict to the limit."""
        final = self.study_dir(study_uid)
        if final.exists():
            old = final.with_name(final.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(partial, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(partial, final)
        self.evict(keep={final.name})
        return final

    def check_room(self, partial: Path, bytes_so_far: int) -> None:
        """CacheError when a study alone is larger than the limit."""
        if bytes_so_far > self.limit_bytes:
            raise CacheError(
                f"the study is larger than the PACS cache limit ({self.limit_bytes // 1_000_000} MB); raise "
                "cache.limit_mb in the PACS settings"
            )

    def size_bytes(self) -> int:
        return folder_bytes(self.root) if self.root.exists() else 0

    def evict(self, keep: frozenset[str] | set[str] = frozenset()) -> int:
        """Remove least recently used complete studies until under the limit; bytes freed."""
        if not self.studies.is_dir():
            return 0
        entries = []
        for child in self.studies.iterdir():
            if child.is_dir() and not child.name.endswith(PARTIAL) and child.name not in keep:
                entries.append((child.stat().st_mtime, child, folder_bytes(child)))
        total = self.size_bytes()
        freed = 0
        for _, child, size in sorted(entries, key=lambda e: e[0]):
            if total - freed <= self.limit_bytes:
                break
            shutil.rmtree(child, ignore_errors=True)
            freed += size
        return freed

    @property
    def results(self) -> Path:
        return self.root / "results"

    def clear(self) -> int:
        """Empty the cache (studies, incoming pushes, `ichview listen` results); bytes freed."""
        freed = self.size_bytes()
        for sub in (self.studies, self.incoming, self.results):
            shutil.rmtree(sub, ignore_errors=True)
        return freed
