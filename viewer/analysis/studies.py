"""The studies under some paths, one entry per study of one patient, each with a hash of its input.

`find_studies` scans once (viewer.core.loading.open_paths) and returns a `StudyInput` per
(patient, study) in tree order: never two patients or two studies in one entry. Its
`input_sha256` identifies the input for resuming a batch: the SHA-256 of every instance's
SOPInstanceUID, file path, size and modification time (sorted), so a changed, added or removed
file gives another hash without reading any pixels.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from viewer.core.series import Stack, StudyTree
from viewer.core.slice_header import SkippedFile

__all__ = ["StudyInput", "find_studies", "study_id"]


@dataclass(frozen=True)
class StudyInput:
    """One study of one patient to analyse. Holds patient data: never log it."""

    patient_id: str
    patient_name: str
    study_uid: str
    study_date: str
    description: str
    stacks: tuple[Stack, ...]
    input_sha256: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.patient_id, self.study_uid)

    @property
    def id(self) -> str:
        return study_id(self.patient_id, self.study_uid)

    @property
    def n_slices(self) -> int:
        return sum(s.n_slices for s in self.stacks)

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(sorted({h.path for st in self.stacks for h in st.slices}))


def study_id(patient_id: str, study_uid: str) -> str:
    """A short, file-name-safe id of a (patient, study) that holds no patient data."""
    return hashlib.sha256(f"{patient_id}\0{study_uid}".encode()).hexdigest()[:16]


def _input_hash(stacks: Sequence[Stack]) -> str:
    items = []
    for st in stacks:
        for h in st.slices:
            try:
                info = os.stat(h.path)
                size, mtime = info.st_size, info.st_mtime_ns
            except OSError:
                size, mtime = -1, -1
            items.append(f"{h.sop_instance_uid}\0{h.path}\0{size}\0{mtime}")
    digest = hashlib.sha256()
    for item in sorted(items):
        digest.update(item.encode("utf-8", "surrogateescape"))
        digest.update(b"\n")
    return digest.hexdigest()


def studies_of(tree: StudyTree) -> list[StudyInput]:
    """One StudyInput per study of one patient in `tree`, in tree order."""
    out = []
    for patient in tree.patients:
        for study in patient.studies:
            stacks = tuple(st for se in study.series for st in se.stacks)
            if not stacks:
                continue
            out.append(StudyInput(
                patient_id=patient.patient_id,
                patient_name=patient.name,
                study_uid=study.study_uid,
                study_date=study.date,
                description=study.description,
                stacks=stacks,
                input_sha256=_input_hash(stacks),
            ))
    return out


def find_studies(paths: Sequence[Path | str]) -> tuple[list[StudyInput], tuple[SkippedFile, ...]]:
    """Scan `paths` and return the studies found and the files the scan skipped (with reasons)."""
    from viewer.core.loading import open_paths

    tree = open_paths(paths)
    return studies_of(tree), tree.skipped
