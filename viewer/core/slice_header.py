"""What a header scan yields: one `SliceHeader` per image (per frame of a multi-frame file), the files
it skipped with their reasons, and the header attributes it keeps (see scan.py for how it reads them).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SliceHeader", "SkippedFile", "ScanResult", "ProgressCallback", "META_KEYWORDS"]


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
    # Byte offset of the Pixel Data element in the file (None when unknown, e.g. deflated), so the
    # loader can read the pixels without parsing the header again.
    pixel_offset: int | None = field(default=None, compare=False, hash=False)


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

# Header attributes copied into SliceHeader.meta (as str) when present.
META_KEYWORDS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "StudyID",
    "AccessionNumber",
    "InstitutionName",
    "ReferringPhysicianName",
    "Manufacturer",
    "ManufacturerModelName",
    "BodyPartExamined",
    "ConvolutionKernel",
    "ContrastBolusAgent",
    "SpecificCharacterSet",
    "KVP",
    "XRayTubeCurrent",
    "SeriesDate",
    "SeriesTime",
    "SeriesDescription",
    "SeriesNumber",
    "AcquisitionNumber",
    "PatientPosition",
    "FrameOfReferenceUID",
    "SliceLocation",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PixelPaddingValue",
    "PixelPaddingRangeLimit",
    "NumberOfFrames",
    "DerivationDescription",
)
