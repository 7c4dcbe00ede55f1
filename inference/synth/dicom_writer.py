"""Write a CT Image Storage series from an HU array (pydicom + numpy only).

Every synthetic series says what it is: PatientName `SYNTHETIC^...`, ImageType `DERIVED`, a
SeriesDescription containing "SYNTHETIC" and UIDs under `UID_ROOT`.

UID root: `1.2.826.0.1.3680043.10.1146.` is a fixed prefix under the Medical Connections free-UID
arc (1.2.826.0.1.3680043.10.*). It is used only for synthetic data written by ichview, so a UID that
starts with it marks a study as synthetic. UIDs below it are derived deterministically (a hash of
the spec's `uid_seed`), so the same seed writes the same UIDs.

Geometry is written as given: `hu[i]` is stored as slice i with rows/columns exactly as in the array;
the caller chooses ImageOrientationPatient (IOP) and ImagePositionPatient (IPP) to match. Gantry tilt
follows the GE convention seen in real data: for a tilt of +t degrees the column direction is
(0, cos t, -sin t) and the table (IPP) advances along +z only, so positions are sheared against the
slice normal.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    UID,
    generate_uid,
)

UID_ROOT = "1.2.826.0.1.3680043.10.1146."
IMPLEMENTATION_CLASS_UID = UID_ROOT + "0.1"
IMPLEMENTATION_VERSION_NAME = "ICHVIEW_SYNTH_1"
UNCOMPRESSED_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
COMPRESSED_SYNTAXES = (RLELossless, JPEGLSLossless, JPEG2000Lossless)
ISO_IR_192 = "ISO_IR 192"  # UTF-8: use for non-Latin patient names

AXIAL_IOP: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def synthetic_uid(*parts: object) -> str:
    """A deterministic UID under `UID_ROOT` from the given parts (same parts, same UID)."""
    return str(generate_uid(prefix=UID_ROOT, entropy_srcs=[str(p) for p in parts]))


def tilted_iop(tilt_deg: float) -> tuple[float, float, float, float, float, float]:
    """IOP of an axial slice acquired with the gantry tilted by `tilt_deg` (GE sign convention)."""
    t = np.deg2rad(tilt_deg)
    return (1.0, 0.0, 0.0, 0.0, float(np.cos(t)), float(-np.sin(t)))


def slice_normal(iop: Sequence[float]) -> np.ndarray:
    """Unit normal (row direction x column direction) of an IOP."""
    row = np.asarray(iop[:3], dtype=float)
    col = np.asarray(iop[3:], dtype=float)
    n = np.cross(row, col)
    return n / np.linalg.norm(n)


@dataclass(frozen=True)
class SeriesSpec:
    """Everything written into each slice's header except the pixels.

    Empty UIDs are generated under `UID_ROOT` from `uid_seed`. Geometry: either
    `image_positions_mm` (one IPP per slice) or `first_position_mm` plus `slice_step_mm`; the step
    runs along the slice normal, or, when `gantry_tilt_deg` is non-zero, along +z (the table), which
    shears the positions against the normal as on a real tilted scanner.
    """

    patient_name: str = "SYNTHETIC^HEAD"
    patient_id: str = "SYN-0001"
    patient_birth_date: str = "19700101"
    patient_sex: str = "O"
    uid_seed: str = "ichview-synthetic"
    study_uid: str = ""
    series_uid: str = ""
    frame_of_reference_uid: str = ""
    study_date: str = "20260101"
    study_time: str = "120000"
    study_description: str = "SYNTHETIC HEAD CT"
    study_id: str = "1"
    accession_number: str = "SYN0001"
    institution: str = "ichview synthetic"
    referring_physician: str = ""
    manufacturer: str = "ichview synthetic"
    model_name: str = "ichview.synth"
    body_part: str = "HEAD"
    series_number: int = 1
    series_description: str = "SYNTHETIC HEAD"
    modality: str = "CT"
    image_type: tuple[str, ...] = ("DERIVED", "SECONDARY", "AXIAL")
    pixel_spacing_mm: tuple[float, float] = (0.5, 0.5)  # (between rows, between columns)
    slice_thickness_mm: float = 5.0
    image_orientation: tuple[float, ...] = AXIAL_IOP  # None-tilt IOP; see `gantry_tilt_deg`
    image_positions_mm: tuple[tuple[float, float, float], ...] | None = None
    first_position_mm: tuple[float, float, float] = (-128.0, -128.0, 0.0)
    slice_step_mm: float = 5.0
    gantry_tilt_deg: float = 0.0  # when non-zero and IOP is axial, IOP is tilted (see module doc)
    write_tilt_tag: bool = True  # False: positions sheared but no GantryDetectorTilt tag
    patient_position: str = "HFS"
    rescale_slope: float = 1.0
    rescale_intercept: float = -1024.0
    pixel_signed: bool = False  # PixelRepresentation 1 (int16) or 0 (uint16)
    window_center_hu: float | tuple[float, ...] = 40.0
    window_width_hu: float | tuple[float, ...] = 80.0
    convolution_kernel: str = "SYNTH_SOFT"
    kvp: float = 120.0
    contrast_agent: str = ""  # "" -> ContrastBolusAgent not written
    specific_character_set: str = "ISO_IR 100"
    transfer_syntax: str = ExplicitVRLittleEndian
    extra: Mapping[str, Any] = field(default_factory=dict)  # keyword -> value for every slice

    def resolved_uids(self) -> tuple[str, str, str]:
        """(study, series, frame of reference) UIDs, generated from `uid_seed` where empty."""
        study = self.study_uid or synthetic_uid(self.uid_seed, "study")
        series = self.series_uid or synthetic_uid(self.uid_seed, study, "series", self.series_number)
        frame = self.frame_of_reference_uid or synthetic_uid(self.uid_seed, study, "frame")
        return study, series, frame

    def effective_iop(self) -> tuple[float, ...]:
        """The IOP written: the given one, tilted when `gantry_tilt_deg` is set on an axial IOP."""
        if self.gantry_tilt_deg and tuple(self.image_orientation) == AXIAL_IOP:
            return tilted_iop(self.gantry_tilt_deg)
        return tuple(float(v) for v in self.image_orientation)

    def positions(self, n_slices: int) -> np.ndarray:
        """(n_slices, 3) IPPs in mm (LPS)."""
        if self.image_positions_mm is not None:
            pos = np.asarray(self.image_positions_mm, dtype=float)
            if pos.shape != (n_slices, 3):
                raise ValueError(f"image_positions_mm has shape {pos.shape}, need ({n_slices}, 3)")
            return pos
        first = np.asarray(self.first_position_mm, dtype=float)
        if self.gantry_tilt_deg:
            step = np.array([0.0, 0.0, 1.0])
        else:
            step = slice_normal(self.effective_iop())
        return first[None, :] + np.arange(n_slices)[:, None] * self.slice_step_mm * step[None, :]


def _ds_value(v: float) -> str:
    """A DS string (max 16 chars)."""
    s = f"{float(v):.6g}"
    return s if len(s) <= 16 else f"{float(v):.8e}"[:16]


def _multi(v: float | Sequence[float]) -> str | list[str]:
    if isinstance(v, (list, tuple)):
        return [_ds_value(x) for x in v]
    return _ds_value(v)


def hu_to_stored(hu: np.ndarray, spec: SeriesSpec) -> np.ndarray:
    """HU -> stored integers with the spec's rescale; clipped to the stored range."""
    raw = np.rint((np.asarray(hu, dtype=np.float64) - spec.rescale_intercept) / spec.rescale_slope)
    if spec.pixel_signed:
        return np.clip(raw, -32768, 32767).astype(np.int16)
    return np.clip(raw, 0, 65535).astype(np.uint16)


def _base_dataset(spec: SeriesSpec, rows: int, cols: int) -> Dataset:
    study_uid, series_uid, frame_uid = spec.resolved_uids()
    ds = Dataset()
    ds.SpecificCharacterSet = spec.specific_character_set
    ds.ImageType = list(spec.image_type)
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = spec.study_date
    ds.SeriesDate = spec.study_date
    ds.ContentDate = spec.study_date
    ds.StudyTime = spec.study_time
    ds.SeriesTime = spec.study_time
    ds.ContentTime = spec.study_time
    ds.AccessionNumber = spec.accession_number
    ds.Modality = spec.modality
    ds.Manufacturer = spec.manufacturer
    ds.InstitutionName = spec.institution
    ds.ReferringPhysicianName = spec.referring_physician
    ds.StudyDescription = spec.study_description
    ds.SeriesDescription = spec.series_description
    ds.ManufacturerModelName = spec.model_name
    if "DERIVED" in spec.image_type:
        ds.DerivationDescription = "synthetic image generated by ichview (not a patient scan)"
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.patient_id
    ds.PatientBirthDate = spec.patient_birth_date
    ds.PatientSex = spec.patient_sex
    ds.BodyPartExamined = spec.body_part
    if spec.contrast_agent:
        ds.ContrastBolusAgent = spec.contrast_agent
    ds.SliceThickness = _ds_value(spec.slice_thickness_mm)
    ds.KVP = _ds_value(spec.kvp)
    if spec.write_tilt_tag:
        ds.GantryDetectorTilt = _ds_value(spec.gantry_tilt_deg)
    ds.ConvolutionKernel = spec.convolution_kernel
    ds.PatientPosition = spec.patient_position
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = spec.study_id
    ds.SeriesNumber = spec.series_number
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = [_ds_value(v) for v in spec.effective_iop()]
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.PixelSpacing = [_ds_value(v) for v in spec.pixel_spacing_mm]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if spec.pixel_signed else 0
    ds.WindowCenter = _multi(spec.window_center_hu)
    ds.WindowWidth = _multi(spec.window_width_hu)
    ds.RescaleIntercept = _ds_value(spec.rescale_intercept)
    ds.RescaleSlope = _ds_value(spec.rescale_slope)
    ds.RescaleType = "HU"
    for keyword, value in spec.extra.items():
        _set_or_delete(ds, keyword, value)
    return ds


def _set_or_delete(ds: Dataset, keyword: str, value: Any) -> None:
    if value is None:
        if keyword in ds:
            delattr(ds, keyword)
    else:
        setattr(ds, keyword, value)


def encoder_available(transfer_syntax: str) -> bool:
    """Whether pydicom has a working encoder for a compressed transfer syntax here."""
    if transfer_syntax in UNCOMPRESSED_SYNTAXES:
        return True
    try:
        from pydicom.pixels import get_encoder

        return bool(get_encoder(UID(transfer_syntax)).is_available)
    except (ImportError, NotImplementedError, ValueError):
        return False


FileNames = Sequence[str] | Callable[[int], str] | None


def _file_name(file_names: FileNames, index: int) -> str:
    if file_names is None:
        return f"IM{index + 1:04d}.dcm"
    if callable(file_names):
        return file_names(index)
    return file_names[index]


def _save_atomically(ds: Dataset, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        ds.save_as(tmp, enforce_file_format=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_slice(
    hu_slice: np.ndarray,
    spec: SeriesSpec,
    *,
    position_mm: Sequence[float],
    instance_number: int | None,
    sop_instance_uid: str,
    overrides: Mapping[str, Any] | None = None,
) -> Dataset:
    """One slice's dataset (with file meta) for `hu_slice` at `position_mm`."""
    if hu_slice.ndim != 2:
        raise ValueError(f"a slice must be 2-D, got shape {hu_slice.shape}")
    rows, cols = hu_slice.shape
    ds = _base_dataset(spec, rows, cols)
    ds.SOPInstanceUID = sop_instance_uid
    if instance_number is not None:
        ds.InstanceNumber = int(instance_number)
    ds.ImagePositionPatient = [_ds_value(v) for v in position_mm]
    normal = slice_normal([float(v) for v in ds.ImageOrientationPatient])
    ds.SliceLocation = _ds_value(float(np.dot(normal, np.asarray(position_mm, dtype=float))))
    stored = hu_to_stored(hu_slice, spec)
    ds.PixelData = stored.tobytes()
    for keyword, value in (overrides or {}).items():
        _set_or_delete(ds, keyword, value)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta
    ts = UID(spec.transfer_syntax)
    if ts == ImplicitVRLittleEndian:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
    elif ts != ExplicitVRLittleEndian:
        if not encoder_available(ts):
            raise RuntimeError(
                f"no encoder for transfer syntax {ts.name} here "
                "(install pylibjpeg-rle / pyjpegls / pylibjpeg-openjpeg, or write uncompressed)"
            )
        ds.compress(ts, stored)
    return ds


def write_series(
    hu: np.ndarray,
    out_dir: Path | str,
    spec: SeriesSpec,
    *,
    file_names: FileNames = None,
    instance_numbers: Sequence[int | None] | None = None,
    slice_overrides: Mapping[int, Mapping[str, Any]] | None = None,
    sop_instance_uids: Sequence[str] | None = None,
) -> list[Path]:
    """Write `hu` (n_slices, rows, cols; HU) as one CT series into `out_dir`; return the paths.

    `file_names`: a list or `index -> name` (default `IM0001.dcm`...). `instance_numbers`: per slice
    (None omits the tag; default 1..n). `slice_overrides`: slice index -> {keyword: value} applied
    last (value None deletes the attribute). Each file is written atomically.
    """
    hu = np.asarray(hu)
    if hu.ndim == 2:
        hu = hu[None]
    if hu.ndim != 3:
        raise ValueError(f"hu must be (n_slices, rows, cols), got shape {hu.shape}")
    n = hu.shape[0]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    positions = spec.positions(n)
    study_uid, series_uid, _ = spec.resolved_uids()
    if instance_numbers is not None and len(instance_numbers) != n:
        raise ValueError(f"{len(instance_numbers)} instance numbers for {n} slices")
    paths: list[Path] = []
    for i in range(n):
        uid = (
            sop_instance_uids[i]
            if sop_instance_uids is not None
            else synthetic_uid(spec.uid_seed, series_uid, "sop", i)
        )
        number = (i + 1) if instance_numbers is None else instance_numbers[i]
        ds = build_slice(
            hu[i],
            spec,
            position_mm=positions[i],
            instance_number=number,
            sop_instance_uid=uid,
            overrides=(slice_overrides or {}).get(i),
        )
        path = out / _file_name(file_names, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_atomically(ds, path)
        paths.append(path)
    return paths


def with_updates(spec: SeriesSpec, **changes: Any) -> SeriesSpec:
    """A copy of `spec` with fields changed (a readable alias of dataclasses.replace)."""
    return replace(spec, **changes)


def read_back(path: Path | str) -> pydicom.Dataset:
    """Read a written file with pydicom (for tests and checks)."""
    return pydicom.dcmread(path)
