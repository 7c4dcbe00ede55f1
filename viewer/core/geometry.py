"""Slice geometry of one stack: order along the slice normal, spacing, tilt, duplicates, gaps.

Direction convention (the pixel loader relies on it): the normal is cross(row, col) of the
ImageOrientationPatient, its sign flipped when needed so that it points toward patient superior
(+S, LPS +z) for axial-ish stacks, posterior (+P, LPS +y) for coronal and left (+L, LPS +x) for
sagittal ones. Slices are ordered by ascending projection of ImagePositionPatient on that normal, so
an axial stack is always stored inferior -> superior (head-first or feet-first alike), a coronal one
anterior -> posterior and a sagittal one right -> left. `positions_mm` therefore always ascend.
Never ordered by file name or InstanceNumber unless positions are missing (then: SliceLocation,
then InstanceNumber, with a NO_POSITION warning).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viewer.core.scan import SliceHeader, parse_number
from viewer.core.validation import check_orientation, check_position
from viewer.core.warnings import (
    DUPLICATE_POSITION,
    GANTRY_TILT,
    MISSING_SLICES,
    MIXED_THICKNESS,
    NO_POSITION,
    SINGLE_SLICE,
    UNEVEN_SPACING,
    StackWarning,
)

AXIAL = "axial"
CORONAL = "coronal"
SAGITTAL = "sagittal"
OBLIQUE = "oblique"
UNKNOWN = "unknown"  # no ImageOrientationPatient (e.g. a projection radiograph)


@dataclass(frozen=True)
class OrderedSlices:
    """The result of `order_slices`: slices in geometric order and what was measured on them."""

    slices: tuple[SliceHeader, ...]
    normal: tuple[float, float, float]
    positions_mm: tuple[float, ...]
    spacing_median_mm: float | None
    spacing_min_mm: float | None
    spacing_max_mm: float | None
    tilt_deg: float
    warnings: tuple[StackWarning, ...]


def slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """Unit vector cross(row, col) of an ImageOrientationPatient (not yet sign-normalised)."""
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:6], dtype=float)
    normal = np.cross(row, col)
    norm = float(np.linalg.norm(normal))
    if norm < 1e-6:
        raise ValueError("degenerate ImageOrientationPatient (row and column directions are parallel)")
    return normal / norm


def plane_of(orientation: Sequence[float] | None, *, oblique_tolerance_deg: float = 35.0) -> str:
    """"axial", "coronal", "sagittal" by the normal's dominant patient axis ("oblique" if none,
    i.e. the normal is farther than `oblique_tolerance_deg` from every axis; "unknown" without an
    orientation)."""
    if orientation is None or check_orientation(orientation) is not None:
        return UNKNOWN
    normal = np.abs(slice_normal(orientation))
    axis = int(np.argmax(normal))
    angle = math.degrees(math.acos(min(1.0, float(normal[axis]))))
    if angle > oblique_tolerance_deg:
        return OBLIQUE
    return (SAGITTAL, CORONAL, AXIAL)[axis]


def canonical_normal(orientation: Sequence[float]) -> np.ndarray:
    """The slice normal, flipped to point toward +S (axial), +P (coronal) or +L (sagittal)."""
    normal = slice_normal(orientation)
    axis = int(np.argmax(np.abs(normal)))
    return -normal if normal[axis] < 0 else normal


def orientation_angle_deg(a: Sequence[float], b: Sequence[float]) -> float:
    """Largest angle between the row directions, column directions of two IOPs (degrees)."""
    worst = 0.0
    for i in (0, 3):
        u = np.asarray(a[i : i + 3], dtype=float)
        v = np.asarray(b[i : i + 3], dtype=float)
        cos = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
        worst = max(worst, math.degrees(math.acos(max(-1.0, min(1.0, cos)))))
    return worst


def _fmt(mm: float) -> str:
    """Millimetres for people: 4.0, 1.08, 6.99."""
    return f"{mm:.1f}" if abs(round(mm, 1) - round(mm, 2)) < 1e-9 else f"{mm:.2f}"


def order_slices(
    slices: Sequence[SliceHeader],
    *,
    duplicate_tolerance_mm: float = 0.01,
    uneven_tolerance: float = 0.1,
    uneven_tolerance_mm: float = 0.1,
    missing_tolerance: float = 0.2,
    tilt_tolerance_deg: float = 0.5,
) -> OrderedSlices:
    """Order one stack's slices along the normal and report irregularities as warnings.

    Spacing is measured between neighbouring distinct positions along the normal. Gaps that are
    close to a whole multiple (>= 2) of the median (within `missing_tolerance` of the median)
    count as missing slices; any other spread beyond `uneven_tolerance` (relative to the median)
    and `uneven_tolerance_mm` is uneven spacing. Tilt is the GantryDetectorTilt tag when non-zero,
    else the shear angle between the slice-to-slice displacement and the normal.
    """
    items = list(slices)
    warnings: list[StackWarning] = []
    # The scan refuses files with unusable geometry (viewer/core/validation.py); headers built
    # elsewhere are checked again here so a bad value never raises: it costs the ordering only.
    have_geometry = bool(items) and all(
        s.position_mm is not None
        and s.orientation is not None
        and check_position(s.position_mm) is None
        and check_orientation(s.orientation) is None
        for s in items
    )
    if have_geometry:
        normal = canonical_normal(items[0].orientation)  # type: ignore[arg-type]
        projections = [float(np.dot(normal, s.position_mm)) for s in items]  # type: ignore[arg-type]
        order = sorted(range(len(items)), key=lambda i: (projections[i], _tiebreak(items[i])))
        ordered = [items[i] for i in order]
        positions = [projections[i] for i in order]
    else:
        usable = bool(items) and items[0].orientation is not None and check_orientation(items[0].orientation) is None
        normal = canonical_normal(items[0].orientation) if usable else np.array([0.0, 0.0, 1.0])  # type: ignore[arg-type]
        ordered, positions, how = _fallback_order(items)
        if len(items) > 1:
            warnings.append(
                StackWarning(
                    NO_POSITION,
                    f"Slice positions are missing from the headers: slices were ordered by {how}. "
                    "Slice order and distances may be wrong; do not measure across slices.",
                )
            )

    diffs = np.diff(np.asarray(positions, dtype=float)) if len(positions) > 1 else np.zeros(0)
    distinct = diffs[diffs > duplicate_tolerance_mm]
    median = float(np.median(distinct)) if distinct.size else None
    low = float(distinct.min()) if distinct.size else None
    high = float(distinct.max()) if distinct.size else None

    if len(items) == 1:
        warnings.append(
            StackWarning(
                SINGLE_SLICE,
                "This stack has a single slice: no slice spacing, and no measurements across slices.",
            )
        )
    n_duplicates = int(np.count_nonzero(diffs <= duplicate_tolerance_mm))
    if n_duplicates:
        where = sorted({round(positions[i + 1], 2) for i in np.flatnonzero(diffs <= duplicate_tolerance_mm)})
        warnings.append(
            StackWarning(
                DUPLICATE_POSITION,
                f"{n_duplicates} slice{'s' if n_duplicates > 1 else ''} share{'' if n_duplicates > 1 else 's'} "
                f"the position of another slice (at {', '.join(_fmt(p) + ' mm' for p in where[:5])}"
                f"{', ...' if len(where) > 5 else ''} along the slice normal): the series may hold a "
                "repeated or re-reconstructed image; all are kept, in the order found.",
            )
        )
    if median is not None and distinct.size >= 2:
        warnings.extend(
            _spacing_warnings(
                distinct,
                positions,
                diffs,
                median,
                duplicate_tolerance_mm=duplicate_tolerance_mm,
                uneven_tolerance=uneven_tolerance,
                uneven_tolerance_mm=uneven_tolerance_mm,
                missing_tolerance=missing_tolerance,
            )
        )

    thickness_warning = _thickness_warning(ordered)
    if thickness_warning is not None:
        warnings.append(thickness_warning)

    tilt = _tilt_deg(ordered, positions, normal, have_geometry, tilt_tolerance_deg=tilt_tolerance_deg)
    if tilt is not None:
        angle, source = tilt
        warnings.append(
            StackWarning(
                GANTRY_TILT,
                f"Gantry tilt {abs(angle):.1f}°{source}: the slices are sheared; measurements across "
                "slices are approximate.",
            )
        )
    return OrderedSlices(
        slices=tuple(ordered),
        normal=(float(normal[0]) + 0.0, float(normal[1]) + 0.0, float(normal[2]) + 0.0),
        positions_mm=tuple(float(p) for p in positions),
        spacing_median_mm=median,
        spacing_min_mm=low,
        spacing_max_mm=high,
        tilt_deg=float(tilt[0]) if tilt is not None else 0.0,
        warnings=tuple(warnings),
    )


def _tiebreak(s: SliceHeader) -> tuple[int, int, str]:
    """Deterministic order among slices at the same position (duplicates)."""
    return (s.instance_number if s.instance_number is not None else 0, s.frame or 0, s.sop_instance_uid)


def _fallback_order(items: list[SliceHeader]) -> tuple[list[SliceHeader], list[float], str]:
    locations = [parse_number(s.meta.get("SliceLocation")) for s in items]
    if items and all(loc is not None for loc in locations):
        order = sorted(range(len(items)), key=lambda i: (locations[i], _tiebreak(items[i])))
        return [items[i] for i in order], [float(locations[i]) for i in order], "Slice Location"  # type: ignore[arg-type]
    step = next((s.slice_thickness_mm for s in items if s.slice_thickness_mm), None) or 1.0
    if items and all(s.instance_number is not None for s in items):
        ordered = sorted(items, key=_tiebreak)
        how = f"Instance Number (spacing assumed equal to the slice thickness, {_fmt(step)} mm)"
    else:
        ordered = list(items)
        how = f"the order the files were found (spacing assumed equal to the slice thickness, {_fmt(step)} mm)"
    return ordered, [i * step for i in range(len(ordered))], how


def _spacing_warnings(
    distinct: np.ndarray,
    positions: list[float],
    diffs: np.ndarray,
    median: float,
    *,
    duplicate_tolerance_mm: float,
    uneven_tolerance: float,
    uneven_tolerance_mm: float,
    missing_tolerance: float,
    max_missing: int = 10,
) -> list[StackWarning]:
    """Missing-slice and uneven-spacing warnings. A gap counts as missing slices only when it is
    close to a small whole multiple of the median (at most `max_missing` slices): a much larger
    gap is reported as uneven spacing, not as dozens of lost slices."""
    tolerance = max(uneven_tolerance * median, uneven_tolerance_mm)
    out: list[StackWarning] = []
    gaps: list[tuple[float, float, int]] = []  # (from, to, missing count)
    unexplained = []
    for i, d in enumerate(diffs):
        if d <= duplicate_tolerance_mm or abs(d - median) <= tolerance:
            continue
        multiple = round(d / median)
        if 2 <= multiple <= max_missing + 1 and abs(d - multiple * median) <= missing_tolerance * median:
            gaps.append((positions[i], positions[i + 1], multiple - 1))
        else:
            unexplained.append(float(d))
    if gaps:
        n_missing = sum(g[2] for g in gaps)
        where = "; ".join(f"{g[2]} between {_fmt(g[0])} and {_fmt(g[1])} mm" for g in gaps[:5])
        out.append(
            StackWarning(
                MISSING_SLICES,
                f"{n_missing} slice{'s appear' if n_missing > 1 else ' appears'} to be missing "
                f"({where}; usual spacing {_fmt(median)} mm). Check that the whole series was sent.",
            )
        )
    if unexplained:
        lo, hi = float(distinct.min()), float(distinct.max())
        out.append(
            StackWarning(
                UNEVEN_SPACING,
                f"Uneven slice spacing: {_fmt(lo)} to {_fmt(hi)} mm between neighbouring slices "
                f"(median {_fmt(median)} mm). Distances and 3D views across slices are approximate.",
            )
        )
    return out


def _thickness_warning(ordered: list[SliceHeader]) -> StackWarning | None:
    counts = Counter(round(s.slice_thickness_mm, 2) for s in ordered if s.slice_thickness_mm is not None)
    if len(counts) < 2:
        return None
    parts = ", ".join(f"{_fmt(t)} mm ({n} slice{'s' if n > 1 else ''})" for t, n in sorted(counts.items()))
    return StackWarning(
        MIXED_THICKNESS,
        f"Slice thickness changes within this stack: {parts}. Thin and thick slices show "
        "different detail; compare them with care.",
    )


def shear_angle_deg(positions: Sequence[Sequence[float]], normal: Sequence[float]) -> float | None:
    """Angle between the first-to-last slice displacement and the normal (degrees), or None when
    the slices do not move."""
    first = np.asarray(positions[0], dtype=float)
    last = np.asarray(positions[-1], dtype=float)
    displacement = last - first
    length = float(np.linalg.norm(displacement))
    if length < 1e-6:
        return None
    cos = abs(float(np.dot(displacement / length, np.asarray(normal, dtype=float))))
    return math.degrees(math.acos(min(1.0, cos)))


def _tilt_deg(
    ordered: list[SliceHeader],
    positions: list[float],
    normal: np.ndarray,
    have_geometry: bool,
    *,
    tilt_tolerance_deg: float,
) -> tuple[float, str] | None:
    """(tilt in degrees, how it was found) or None when there is none."""
    tags = [s.gantry_tilt_deg for s in ordered if s.gantry_tilt_deg is not None]
    tag = tags[0] if tags else None
    if tag is not None and abs(tag) > tilt_tolerance_deg:
        return float(tag), ""
    if not have_geometry or len(ordered) < 2:
        return None
    shear = shear_angle_deg([ordered[0].position_mm, ordered[-1].position_mm], normal)  # type: ignore[list-item]
    if shear is None or shear <= tilt_tolerance_deg:
        return None
    return shear, " (from the slice positions; the header has no tilt tag)" if tag is None else (
        " (from the slice positions; the header's tilt tag says 0°)"
    )
