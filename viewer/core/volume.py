"""The Volume: what the study core hands to the viewer, to inference and to the report.

Contract (fixed; other modules rely on it).

Canonical display orientation (radiological convention), reached from any IOP sign, head-first or
feet-first, so the viewer and the model always see the head the same way up:
- `hu[k, r, c]`: slice k, row r (top to bottom of the screen), column c (left to right).
- Axial (and tilted near-axial) stacks: columns run from the patient's right to left (patient right
  on screen left), rows from anterior to posterior (anterior up); slices from inferior (k=0) to
  superior.
- Coronal: columns right -> left, rows superior -> inferior (head up); slices anterior -> posterior.
- Sagittal: columns anterior -> posterior, rows superior -> inferior; slices right -> left.
Reaching it may flip or transpose the stored in-plane axes; it never resamples.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from viewer.core.warnings import StackWarning

HU_DTYPE = np.int16  # HU rounded to the nearest integer; padding / outside-FOV set to -1024 (air)
AIR_HU = -1024


@dataclass(frozen=True)
class StudyMetadata:
    """What a report needs. Holds patient data: never log it."""

    patient_name: str = ""  # decoded with Specific Character Set (e.g. ISO_IR 192), "^" kept
    patient_id: str = ""
    patient_birth_date: str = ""  # DICOM DA, YYYYMMDD or ""
    patient_sex: str = ""
    study_uid: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    institution: str = ""
    series_uid: str = ""
    series_number: int | None = None
    series_description: str = ""
    modality: str = ""
    manufacturer: str = ""
    model_name: str = ""
    body_part: str = ""
    convolution_kernel: str = ""
    contrast_agent: str = ""  # ContrastBolusAgent, "" when absent
    image_type: tuple[str, ...] = ()
    specific_character_set: str = ""
    kvp: float | None = None


@dataclass(frozen=True, eq=False)
class Volume:
    """A stack decoded to HU in the canonical display orientation (see module docstring)."""

    hu: np.ndarray  # (n_slices, rows, cols), HU_DTYPE
    spacing_mm: tuple[float, float, float]  # (between slices along the normal [median], rows, cols)
    origin_mm: tuple[float, float, float]  # patient (LPS) position of voxel [0, 0, 0]
    direction: np.ndarray  # 3x3, columns = LPS unit vectors of +c, +r, +k in the canonical array
    positions_mm: tuple[float, ...]  # each slice's position along the slice normal
    sop_instance_uids: tuple[str, ...]
    instance_numbers: tuple[int | None, ...]
    slice_thickness_mm: tuple[float | None, ...]
    source_paths: tuple[Path, ...]  # per slice (for the tag browser); never written to
    series_uid: str
    stack_id: str
    metadata: StudyMetadata
    orientation: str = "axial"  # "axial", "coronal", "sagittal" or "oblique"
    tilt_deg: float = 0.0
    window_center_hu: float | None = None  # header window of the first slice
    window_width_hu: float | None = None
    warnings: tuple[StackWarning, ...] = field(default_factory=tuple)
    # Canonical indices of slices whose pixels could not be decoded: they hold AIR_HU, and a
    # DECODE_FAILED warning names them. Empty when every slice decoded.
    missing_slices: tuple[int, ...] = ()
    # LPS centre of each slice's canonical voxel [k, 0, 0] (from its ImagePositionPatient); empty when
    # unknown, and then a tilted stack is taken to be sheared along the patient axis nearest the
    # normal (viewer/core/mpr.py).
    slice_origins_mm: tuple[tuple[float, float, float], ...] = ()

    @property
    def n_slices(self) -> int:
        return int(self.hu.shape[0])

    @property
    def pixel_spacing_mm(self) -> tuple[float, float]:
        """(between rows, between columns) in the canonical orientation."""
        return self.spacing_mm[1], self.spacing_mm[2]
