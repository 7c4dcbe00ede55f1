"""Slice-normal direction, plane, shear angle and spacing warnings of geometry.order_slices."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from viewer.core import warnings as W
from viewer.core.geometry import canonical_normal, order_slices, plane_of, shear_angle_deg
from viewer.core.scan import SliceHeader

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _header(i: int, position, orientation=AXIAL, *, thickness: float = 5.0, tilt: float | None = None) -> SliceHeader:
    return SliceHeader(
        path=Path(f"/nowhere/{i}.dcm"),
        frame=None,
        sop_instance_uid=f"1.2.3.{i}",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        series_uid="1.2.3",
        study_uid="1.2",
        patient_id="P",
        modality="CT",
        rows=16,
        columns=16,
        instance_number=i + 1,
        position_mm=tuple(float(v) for v in position),
        orientation=orientation,
        slice_thickness_mm=thickness,
        gantry_tilt_deg=tilt,
    )


def _axial_at(zs, **kw):
    return [_header(i, (0.0, 0.0, z), **kw) for i, z in enumerate(zs)]


@pytest.mark.parametrize(
    ("iop", "expected", "plane"),
    [
        (AXIAL, (0, 0, 1), "axial"),
        ((-1, 0, 0, 0, 1, 0), (0, 0, 1), "axial"),  # feet-first style: cross points to the feet
        ((0, 1, 0, 1, 0, 0), (0, 0, 1), "axial"),  # transposed
        ((1, 0, 0, 0, 0, -1), (0, 1, 0), "coronal"),
        ((1, 0, 0, 0, 0, 1), (0, 1, 0), "coronal"),
        ((0, 1, 0, 0, 0, -1), (1, 0, 0), "sagittal"),
        ((0, -1, 0, 0, 0, -1), (1, 0, 0), "sagittal"),
    ],
)
def test_normal_points_superior_posterior_or_left(iop, expected, plane) -> None:
    assert canonical_normal(iop) == pytest.approx(expected)
    assert plane_of(iop) == plane


def test_plane_without_orientation_is_unknown_and_oblique_beyond_35_degrees() -> None:
    assert plane_of(None) == "unknown"
    t = math.radians(40.0)
    assert plane_of((1.0, 0.0, 0.0, 0.0, math.cos(t), -math.sin(t))) == "oblique"
    t = math.radians(30.0)
    assert plane_of((1.0, 0.0, 0.0, 0.0, math.cos(t), -math.sin(t))) == "axial"


def test_huge_gap_is_uneven_not_hundreds_of_missing_slices() -> None:
    result = order_slices(_axial_at([0, 1.25, 2.5, 205.0, 206.25]))
    assert [w.code for w in result.warnings] == [W.UNEVEN_SPACING]


def test_sagittal_stack_runs_right_to_left() -> None:
    iop = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    slices = [_header(i, (x, -100.0, 100.0), iop) for i, x in enumerate([20.0, -20.0, 0.0])]
    result = order_slices(slices)
    assert [s.position_mm[0] for s in result.slices] == [-20.0, 0.0, 20.0]  # LPS +x is left
    assert result.positions_mm == pytest.approx((-20.0, 0.0, 20.0))


def test_shear_angle() -> None:
    t = math.radians(20.0)
    normal = (0.0, math.sin(t), math.cos(t))
    assert shear_angle_deg([(0, 0, 0), (0, 0, 10)], normal) == pytest.approx(20.0)
    assert shear_angle_deg([(0, 0, 0), (0, 0, 0)], normal) is None


def test_missing_slices_counted_and_not_called_uneven() -> None:
    result = order_slices(_axial_at([0, 5, 10, 25, 30, 35]))  # 2 missing between 10 and 25
    codes = [w.code for w in result.warnings]
    assert codes == [W.MISSING_SLICES]
    assert "2 slices appear to be missing (2 between 10.0 and 25.0 mm" in result.warnings[0].message


def test_uneven_spacing_reported_with_range() -> None:
    result = order_slices(_axial_at([0, 5, 10, 17, 22, 27]))
    assert [w.code for w in result.warnings] == [W.UNEVEN_SPACING]
    assert "5.0 to 7.0 mm" in result.warnings[0].message
    assert (result.spacing_median_mm, result.spacing_min_mm, result.spacing_max_mm) == (5.0, 5.0, 7.0)


def test_small_jitter_is_not_uneven() -> None:
    result = order_slices(_axial_at([0, 5.02, 9.99, 15.01, 20.0]))
    assert result.warnings == ()


def test_duplicates_do_not_shrink_the_spacing() -> None:
    result = order_slices(_axial_at([0, 5, 5, 10, 15]))
    assert [w.code for w in result.warnings] == [W.DUPLICATE_POSITION]
    assert result.spacing_min_mm == 5.0 and result.spacing_median_mm == 5.0


def test_tiny_shear_is_not_tilt_but_tag_is() -> None:
    shear = math.tan(math.radians(0.2)) * 5.0
    slices = [_header(i, (0.0, i * shear, i * 5.0)) for i in range(4)]
    assert order_slices(slices).tilt_deg == 0.0
    tagged = [_header(i, (0.0, 0.0, i * 5.0), tilt=-10.0) for i in range(4)]
    result = order_slices(tagged)
    assert result.tilt_deg == -10.0
    assert result.warnings[0].message.startswith("Gantry tilt 10.0°")


def test_order_never_follows_instance_numbers() -> None:
    slices = _axial_at([30, 0, 20, 10])
    result = order_slices(slices)
    assert [s.instance_number for s in result.slices] == [2, 4, 3, 1]
    assert np.all(np.diff(result.positions_mm) > 0)
