"""Group scanned slices into patient -> study -> series -> stacks.

Contract (fixed; other modules rely on it). Implementation: see `group_slices`.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from viewer.core.geometry import order_slices, orientation_angle_deg
from viewer.core.scan import ScanResult, SkippedFile, SliceHeader
from viewer.core.validation import inconsistent_values
from viewer.core.warnings import INCONSISTENT_VALUES, MIXED_PATIENT, StackWarning


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

    A series UID shared by images of different patients or studies is never merged: each
    (patient, study) part becomes its own series entry with its own stacks (numbered on from the
    first part's), each with a MIXED_PATIENT warning. In a stack where most slices have a position,
    a slice without one is left out (listed in `skipped`) rather than costing the stack its
    geometry. Values that map pixels to HU (bit depth, signedness, rescale, MONOCHROME1/2) or give
    sizes (pixel spacing) that differ between a stack's slices give an INCONSISTENT_VALUES warning.
    """
    by_series: dict[str, dict[tuple[str, str], list[SliceHeader]]] = defaultdict(lambda: defaultdict(list))
    for header in scan.slices:
        by_series[header.series_uid][(_patient_key(header), header.study_uid)].append(header)

    # Studies are keyed by (patient, study UID): a study UID shared by two patients is two studies.
    series_by_study: dict[tuple[str, str], list[Series]] = defaultdict(list)
    study_first: dict[tuple[str, str], SliceHeader] = {}
    patient_of_study: dict[tuple[str, str], str] = {}
    patient_first: dict[str, SliceHeader] = {}
    skipped = list(scan.skipped)
    parts: list[tuple[str, list[SliceHeader], list[list[SliceHeader]], bool]] = []
    for series_uid, by_owner in by_series.items():
        owners = sorted(by_owner.items(), key=lambda kv: -len(kv[1]))  # the largest part first
        groups_of = []
        for _, headers in owners:
            groups = _split(headers, orientation_tolerance_deg=orientation_tolerance_deg)
            groups_of.append((headers, [_with_positions(g, skipped) for g in groups]))
        n_total = sum(len(groups) for _, groups in groups_of)
        n = 0
        for headers, groups in groups_of:
            stack_ids = []
            for _ in groups:
                n += 1
                stack_ids.append(f"{series_uid}#{n}" if n_total > 1 else series_uid)
            parts.append((series_uid, headers, [*zip(stack_ids, groups)], len(owners) > 1))  # type: ignore[list-item]
    for series_uid, headers, id_groups, mixed in parts:
        first = headers[0]
        stacks = tuple(_make_stack(group, stack_id, mixed_owner=mixed) for stack_id, group in id_groups)  # type: ignore[misc]
        description = first.series_description
        series = Series(series_uid, first.series_number, description, first.modality, stacks)
        patient_key = _patient_key(first)
        study_key = (patient_key, first.study_uid)
        series_by_study[study_key].append(series)
        study_first.setdefault(study_key, first)
        patient_of_study.setdefault(study_key, patient_key)
        patient_first.setdefault(patient_key, first)

    studies_by_patient: dict[str, list[Study]] = defaultdict(list)
    for study_key, series_list in series_by_study.items():
        first = study_first[study_key]
        study_uid = study_key[1]
        series_list.sort(key=lambda se: (se.series_number is None, se.series_number or 0, se.series_uid))
        study = Study(
            study_uid=study_uid,
            description=first.meta.get("StudyDescription", ""),
            date=first.meta.get("StudyDate", ""),
            series=tuple(series_list),
        )
        studies_by_patient[patient_of_study[study_key]].append(study)

    patients = []
    for key in sorted(studies_by_patient):
        studies = sorted(studies_by_patient[key], key=lambda st: (st.date, st.study_uid))
        first = patient_first[key]
        patients.append(Patient(first.patient_id, first.meta.get("PatientName", ""), tuple(studies)))
    return StudyTree(patients=tuple(patients), skipped=tuple(skipped))


def _with_positions(group: list[SliceHeader], skipped: list[SkippedFile]) -> list[SliceHeader]:
    """The group without its slices that lack a position when most of it has one (those go to
    `skipped`, once per file); unchanged otherwise."""
    placed = [h for h in group if h.position_mm is not None]
    if not placed or len(placed) == len(group) or 2 * len(placed) < len(group):
        return group
    seen = set()
    for h in group:
        if h.position_mm is None and h.path not in seen:
            seen.add(h.path)
            skipped.append(
                SkippedFile(
                    h.path,
                    "left out: no ImagePositionPatient while the rest of its series has one (the "
                    "slice cannot be placed among the others)",
                )
            )
    return placed


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


def _make_stack(headers: list[SliceHeader], stack_id: str, *, mixed_owner: bool = False) -> Stack:
    result = order_slices(headers)
    first = result.slices[0]
    warnings = list(result.warnings)
    if mixed_owner:
        warnings.append(
            StackWarning(
                MIXED_PATIENT,
                "This series' UID is shared by images of another patient or study: they were kept "
                "apart as separate stacks. Check which images belong to this patient.",
            )
        )
    found = inconsistent_values(result.slices)
    if found is not None:
        names, count = found
        warnings.append(
            StackWarning(
                INCONSISTENT_VALUES,
                f"{count} slice{'s' if count != 1 else ''} of this stack differ{'' if count != 1 else 's'} from "
                f"the others in {', '.join(names)}: their HU or sizes may be wrong; check those slices "
                "before reading or measuring them.",
            )
        )
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
        warnings=tuple(warnings),
        is_localizer=is_localizer(first),
    )
