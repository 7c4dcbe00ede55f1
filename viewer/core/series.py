"""Group scanned slices into patient -> study -> series -> stacks.

Contract (fixed; other modules rely on it). Implementation: see `group_slices`.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from viewer.core.geometry import order_slices, orientation_angle_deg
from viewer.core.scan import ScanResult, SkippedFile, SliceHeader
from viewer.core.warnings import StackWarning


@dataclass(frozen=True)
class StackGeometry:
    """Where the slices of a stack lie, measured along the slice normal."""

    # Unit vector cross(row_dir, col_dir) of the IOP, sign flipped so it points toward +S (axial),
    # +P (coronal) or +L (sagittal); see geometry.py.
    normal: tuple[float, float, float]
    positions_mm: tuple[float, ...]  # each ordered slice's position along the normal (ascending)
    slice_spacing_median_mm: float | None  # None for a single slice
    slice_spacing_min_mm: float | None
    slice_spacing_max_mm: float | None
    tilt_deg: float  # gantry tilt (tag, or shear of positions against the normal); 0.0 when none


@dataclass(frozen=True)
class Stack:
    """Slices of one series that belong together in one 3D volume, in geometric order.

    `slices` order is the canonical slice order (k = 0, 1, ...): ascending along `geometry.normal`,
    i.e. inferior -> superior for axial stacks (head-first or feet-first alike), anterior ->
    posterior for coronal and right -> left for sagittal ones.
    """

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


def group_slices(scan: ScanResult, *, orientation_tolerance_deg: float = 1.0) -> StudyTree:
    """Group, split into stacks and order geometrically; irregularities become stack warnings.

    One SeriesInstanceUID is split into stacks only when it mixes orientations (row or column
    directions more than `orientation_tolerance_deg` apart), matrix sizes, SOP classes, or
    LOCALIZER images beside others. Stack ids are the series UID, plus "#1", "#2"... when split
    (the main, non-localizer, largest stack first).
    """
    by_series: dict[str, list[SliceHeader]] = defaultdict(list)
    for header in scan.slices:
        by_series[header.series_uid].append(header)

    series_by_study: dict[str, list[Series]] = defaultdict(list)
    study_first: dict[str, SliceHeader] = {}
    patient_of_study: dict[str, str] = {}
    patient_first: dict[str, SliceHeader] = {}
    for series_uid, headers in by_series.items():
        first = headers[0]
        groups = _split(headers, orientation_tolerance_deg=orientation_tolerance_deg)
        stacks = tuple(
            _make_stack(group, f"{series_uid}#{n}" if len(groups) > 1 else series_uid)
            for n, group in enumerate(groups, start=1)
        )
        description = first.series_description
        series = Series(series_uid, first.series_number, description, first.modality, stacks)
        series_by_study[first.study_uid].append(series)
        study_first.setdefault(first.study_uid, first)
        patient_key = _patient_key(first)
        patient_of_study.setdefault(first.study_uid, patient_key)
        patient_first.setdefault(patient_key, first)

    studies_by_patient: dict[str, list[Study]] = defaultdict(list)
    for study_uid, series_list in series_by_study.items():
        first = study_first[study_uid]
        series_list.sort(key=lambda se: (se.series_number is None, se.series_number or 0, se.series_uid))
        study = Study(
            study_uid=study_uid,
            description=first.meta.get("StudyDescription", ""),
            date=first.meta.get("StudyDate", ""),
            series=tuple(series_list),
        )
        studies_by_patient[patient_of_study[study_uid]].append(study)

    patients = []
    for key in sorted(studies_by_patient):
        studies = sorted(studies_by_patient[key], key=lambda st: (st.date, st.study_uid))
        first = patient_first[key]
        patients.append(Patient(first.patient_id, first.meta.get("PatientName", ""), tuple(studies)))
    return StudyTree(patients=tuple(patients), skipped=scan.skipped)


def _patient_key(header: SliceHeader) -> str:
    """PatientID; the name when the ID is empty (anonymised exports)."""
    return header.patient_id or "name:" + header.meta.get("PatientName", "")


def is_localizer(header: SliceHeader) -> bool:
    """A scout / topogram: ImageType contains LOCALIZER."""
    return "LOCALIZER" in header.image_type


def _split(headers: list[SliceHeader], *, orientation_tolerance_deg: float) -> list[list[SliceHeader]]:
    """Partition one series into groups that form one volume each, main stack first."""
    groups: list[tuple[tuple[object, ...], tuple[float, ...] | None, list[SliceHeader]]] = []
    for header in headers:
        key = (header.sop_class_uid, header.rows, header.columns, is_localizer(header))
        for group_key, orientation, members in groups:
            if group_key != key:
                continue
            if orientation is None or header.orientation is None:
                if orientation is None and header.orientation is None:
                    members.append(header)
                    break
                continue
            if orientation_angle_deg(orientation, header.orientation) <= orientation_tolerance_deg:
                members.append(header)
                break
        else:
            groups.append((key, header.orientation, [header]))
    ordered = sorted(
        (members for _, _, members in groups),
        key=lambda m: (is_localizer(m[0]), -len(m), min(h.sop_instance_uid for h in m)),
    )
    return ordered


def _make_stack(headers: list[SliceHeader], stack_id: str) -> Stack:
    result = order_slices(headers)
    first = result.slices[0]
    return Stack(
        stack_id=stack_id,
        series_uid=first.series_uid,
        study_uid=first.study_uid,
        patient_id=first.patient_id,
        modality=first.modality,
        description=first.series_description,
        slices=result.slices,
        geometry=StackGeometry(
            normal=result.normal,
            positions_mm=result.positions_mm,
            slice_spacing_median_mm=result.spacing_median_mm,
            slice_spacing_min_mm=result.spacing_min_mm,
            slice_spacing_max_mm=result.spacing_max_mm,
            tilt_deg=result.tilt_deg,
        ),
        warnings=result.warnings,
        is_localizer=is_localizer(first),
    )
