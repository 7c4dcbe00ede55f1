"""Group scanned slices into patient -> study -> series -> stacks.

Contract (fixed; other modules rely on it). Implementation: see `group_slices`.
"""
from __future__ import annotations

from dataclasses import dataclass

from viewer.core.scan import ScanResult, SkippedFile, SliceHeader
from viewer.core.warnings import StackWarning


@dataclass(frozen=True)
class StackGeometry:
    """Where the slices of a stack lie, measured along the slice normal."""

    normal: tuple[float, float, float]  # unit vector, cross(row_dir, col_dir) of the IOP
    positions_mm: tuple[float, ...]  # each ordered slice's position along the normal
    slice_spacing_median_mm: float | None  # None for a single slice
    slice_spacing_min_mm: float | None
    slice_spacing_max_mm: float | None
    tilt_deg: float  # gantry tilt (tag, or shear of positions against the normal); 0.0 when none


@dataclass(frozen=True)
class Stack:
    """Slices of one series that belong together in one 3D volume, in geometric order."""

    stack_id: str  # stable: series_uid, plus "#<n>" when a series is split (n from 1)
    series_uid: str
    study_uid: str
    patient_id: str
    modality: str
    description: str
    slices: tuple[SliceHeader, ...]  # ordered along the normal (see geometry.py for direction)
    geometry: StackGeometry
    warnings: tuple[StackWarning, ...]
    is_localizer: bool = False

    @property
    def n_slices(self) -> int:
        return len(self.slices)


@dataclass(frozen=True)
class Series:
    series_uid: str
    series_number: int | None
    description: str
    modality: str
    stacks: tuple[Stack, ...]


@dataclass(frozen=True)
class Study:
    study_uid: str
    description: str
    date: str  # DICOM DA as stored (YYYYMMDD) or ""
    series: tuple[Series, ...]


@dataclass(frozen=True)
class Patient:
    patient_id: str
    name: str  # decoded with the Specific Character Set; patient data, never log it
    studies: tuple[Study, ...]


@dataclass(frozen=True)
class StudyTree:
    """Everything found in the opened paths."""

    patients: tuple[Patient, ...]
    skipped: tuple[SkippedFile, ...]

    def stacks(self) -> list[Stack]:
        """All stacks in tree order."""
        return [st for p in self.patients for s in p.studies for se in s.series for st in se.stacks]


def group_slices(scan: ScanResult) -> StudyTree:
    """Group, split into stacks and order geometrically; irregularities become stack warnings."""
    raise NotImplementedError
