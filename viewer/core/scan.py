"""Find DICOM files and parse their headers (pixel data untouched), in parallel.

Contract (fixed; other modules rely on it). Implementation: see `scan_paths`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SliceHeader:
    """The header facts of one image (one file, or one frame of a multi-frame file)."""

    path: Path
    frame: int | None  # 0-based frame of a multi-frame file; None for a single-frame file
    sop_instance_uid: str
    sop_class_uid: str
    series_uid: str
    study_uid: str
    patient_id: str
    modality: str
    rows: int
    columns: int
    instance_number: int | None = None
    image_type: tuple[str, ...] = ()
    pixel_spacing_mm: tuple[float, float] | None = None  # (between rows, between columns)
    position_mm: tuple[float, float, float] | None = None  # ImagePositionPatient
    orientation: tuple[float, float, float, float, float, float] | None = None  # ImageOrientationPatient
    slice_thickness_mm: float | None = None
    gantry_tilt_deg: float | None = None
    series_number: int | None = None
    series_description: str = ""
    transfer_syntax_uid: str = ""
    photometric: str = ""
    # Header window (first value when multi-valued), None when absent.
    window_center_hu: float | None = None
    window_width_hu: float | None = None
    # Everything a report or acceptance check needs; values are plain str. Holds patient data:
    # never log it.
    meta: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class SkippedFile:
    """A file the scan did not use, and why (a sentence a user understands)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class ScanResult:
    slices: tuple[SliceHeader, ...]
    skipped: tuple[SkippedFile, ...]


ProgressCallback = Callable[[int, int], None]  # (files done, files total)


def scan_paths(
    paths: Sequence[Path | str],
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> ScanResult:
    """Scan folders (recursively), DICOMDIR files and single files; never raises on a bad file."""
    raise NotImplementedError
