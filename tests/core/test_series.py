"""Grouping into patient -> study -> series -> stacks, geometric order and stack warnings, on the
real GE / Philips series and on synthetic series written by the generator."""
from __future__ import annotations

import math
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from inference.synth import variants
from inference.synth.dicom_writer import SeriesSpec, write_series
from viewer.core import warnings as W
from viewer.core.geometry import shear_angle_deg
from viewer.core.loading import open_paths
from viewer.core.series import Stack, StudyTree


def _codes(stack: Stack) -> set[str]:
    return {w.code for w in stack.warnings}


def _only_stack(tree: StudyTree) -> Stack:
    stacks = tree.stacks()
    assert len(stacks) == 1, [s.stack_id for s in stacks]
    return stacks[0]


def _message(stack: Stack, code: str) -> str:
    return next(w.message for w in stack.warnings if w.code == code)


# ----------------------------------------------------------------------------------- real data


def test_ge_tilted_one_stack_in_geometric_order_with_warnings(real_data: Path) -> None:
    tree = open_paths([real_data / "ge_head_ct_tilted"])
    stack = _only_stack(tree)
    assert stack.n_slices == 28 and stack.modality == "CT"
    assert stack.stack_id == stack.series_uid
    # Geometric order: inferior -> superior (table z ascending), files 01..28.
    z = [s.position_mm[2] for s in stack.slices]
    assert z == sorted(z)
    assert [s.path.name for s in stack.slices] == [f"{i:02d}.dcm" for i in range(1, 29)]
    g = stack.geometry
    assert g.normal == pytest.approx((0.0, 0.3173047, 0.9483237), abs=1e-6)
    steps = np.diff(g.positions_mm)
    # Thin part (4 mm slices): 4.0 mm along the normal, not the 4.22 mm table step.
    assert steps[:13] == pytest.approx([4.0] * 13, abs=0.01)
    assert z[1] - z[0] == pytest.approx(4.22, abs=0.001)
    assert steps[13] == pytest.approx(1.08, abs=0.01)  # where thickness changes
    assert steps[14:] == pytest.approx([7.0] * 13, abs=0.01)
    assert g.slice_spacing_median_mm == pytest.approx(4.0, abs=0.01)
    assert g.slice_spacing_min_mm == pytest.approx(1.08, abs=0.01)
    assert g.slice_spacing_max_mm == pytest.approx(6.99, abs=0.02)
    assert g.tilt_deg == pytest.approx(18.5)
    # The shear of the positions against the normal agrees with the tag.
    assert shear_angle_deg([s.position_mm for s in stack.slices], g.normal) == pytest.approx(18.5, abs=0.05)
    assert {W.GANTRY_TILT, W.MIXED_THICKNESS, W.UNEVEN_SPACING} <= _codes(stack)
    assert W.MISSING_SLICES not in _codes(stack) and W.DUPLICATE_POSITION not in _codes(stack)
    assert "18.5°" in _message(stack, W.GANTRY_TILT)
    assert "4.0 mm (14 slices)" in _message(stack, W.MIXED_THICKNESS)
    assert "7.0 mm (14 slices)" in _message(stack, W.MIXED_THICKNESS)
    assert "1.08" in _message(stack, W.UNEVEN_SPACING)


def test_philips_phantom_28_slices_and_dirfile_skipped(real_data: Path) -> None:
    tree = open_paths([real_data / "philips_head_phantom_5mm"])
    stack = _only_stack(tree)
    assert stack.n_slices == 28
    # File names (I10, I100, I110, ... I20) sort differently from the geometry.
    assert [s.instance_number for s in stack.slices] == list(range(1, 29))
    assert stack.geometry.slice_spacing_median_mm == pytest.approx(5.0)
    assert stack.geometry.slice_spacing_max_mm == pytest.approx(5.0)
    assert stack.geometry.tilt_deg == 0.0
    assert stack.warnings == ()
    assert [s.path.name for s in tree.skipped] == ["DIRFILE"]
    assert "do not resolve" in tree.skipped[0].reason
    (patient,) = tree.patients
    assert patient.studies[0].date == "20150206"


def test_enhanced_multiframe_ct_is_one_stack_of_frames() -> None:
    from pydicom.data import get_testdata_file

    stack = _only_stack(open_paths([get_testdata_file("eCT_Supplemental.dcm")]))
    assert [s.frame for s in stack.slices] == [0, 1]
    assert stack.geometry.positions_mm[1] - stack.geometry.positions_mm[0] == pytest.approx(10.0)
    # IOP (-1,0,0, 0,1,0): cross product points to the feet; flipped to +S, frame 0 is lowest.
    assert stack.geometry.normal == pytest.approx((0.0, 0.0, 1.0))


def test_dicomdir_tree_groups_into_patients() -> None:
    from pydicom.data import get_testdata_file

    tree = open_paths([get_testdata_file("DICOMDIR")])
    assert len(tree.patients) >= 2
    assert sum(s.n_slices for s in tree.stacks()) == 31


# ----------------------------------------------------------------------------------- synthetic


def _assert_matches(stack: Stack, written: variants.WrittenVariant) -> None:
    assert stack.n_slices == len(written.expected_positions_mm)
    assert stack.geometry.positions_mm == pytest.approx(written.expected_positions_mm, abs=1e-3)
    assert stack.geometry.slice_spacing_median_mm == pytest.approx(written.expected_spacing_mm[0], abs=1e-3)


def test_shuffled_names_and_contradicting_instance_numbers(tmp_path: Path) -> None:
    written = variants.write_shuffled(tmp_path)
    stack = _only_stack(open_paths([tmp_path]))
    _assert_matches(stack, written)
    numbers = [s.instance_number for s in stack.slices]
    assert numbers != sorted(numbers), "fixture must contradict the geometry"
    z = [s.position_mm[2] for s in stack.slices]
    assert z == sorted(z)
    assert stack.warnings == ()


def test_renamed_and_shuffled_files_order_identically(tmp_path: Path) -> None:
    written = variants.write_plain(tmp_path / "plain")
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    names = [f"x{i:03d}.dcm" for i in range(len(written.paths))]
    random.Random(3).shuffle(names)
    for src, name in zip(written.paths, names):
        shutil.copy(src, shuffled / name)
    a = _only_stack(open_paths([tmp_path / "plain"]))
    b = _only_stack(open_paths([shuffled]))
    assert [s.sop_instance_uid for s in a.slices] == [s.sop_instance_uid for s in b.slices]


@pytest.mark.parametrize(
    "writer", [variants.write_feet_first, variants.write_flipped_iop, variants.write_transposed_iop]
)
def test_axial_variants_are_stored_inferior_to_superior(tmp_path: Path, writer) -> None:
    written = writer(tmp_path)
    stack = _only_stack(open_paths([tmp_path]))
    _assert_matches(stack, written)
    assert stack.geometry.normal == pytest.approx((0.0, 0.0, 1.0))
    z = [s.position_mm[2] for s in stack.slices]
    assert z == sorted(z) and z[0] < z[-1]
    assert stack.warnings == ()


def test_coronal_series_ordered_anterior_to_posterior(tmp_path: Path) -> None:
    written = variants.write_coronal(tmp_path)
    stack = _only_stack(open_paths([tmp_path]))
    _assert_matches(stack, written)
    assert stack.geometry.normal == pytest.approx((0.0, 1.0, 0.0))  # +P
    y = [s.position_mm[1] for s in stack.slices]
    assert y == sorted(y)


@pytest.mark.parametrize("write_tag", [True, False], ids=["tilt_tag", "no_tilt_tag"])
def test_gantry_tilt_from_tag_or_from_sheared_positions(tmp_path: Path, write_tag: bool) -> None:
    written = variants.write_tilted(tmp_path, tilt_deg=12.0, write_tilt_tag=write_tag)
    stack = _only_stack(open_paths([tmp_path]))
    _assert_matches(stack, written)
    assert stack.geometry.slice_spacing_median_mm == pytest.approx(5.0 * math.cos(math.radians(12.0)), abs=1e-3)
    assert stack.geometry.tilt_deg == pytest.approx(12.0, abs=0.01)
    assert _codes(stack) == {W.GANTRY_TILT}
    message = _message(stack, W.GANTRY_TILT)
    assert "12.0°" in message
    assert ("no tilt tag" in message) == (not write_tag)


def test_two_patients_in_one_folder(tmp_path: Path) -> None:
    first, second = variants.write_two_patients(tmp_path)
    tree = open_paths([tmp_path])
    assert [p.patient_id for p in tree.patients] == sorted([first.notes["patient_id"], second.notes["patient_id"]])
    for patient in tree.patients:
        (study,) = patient.studies
        (series,) = study.series
        (stack,) = series.stacks
        assert stack.n_slices == len(first.expected_positions_mm)
        assert stack.patient_id == patient.patient_id
        assert {s.patient_id for s in stack.slices} == {patient.patient_id}


def test_duplicated_slice_warns(tmp_path: Path) -> None:
    written = variants.write_duplicated_slice(tmp_path)
    stack = _only_stack(open_paths([tmp_path]))
    assert stack.n_slices == len(written.expected_positions_mm) + 1
    assert _codes(stack) == {W.DUPLICATE_POSITION}
    assert stack.geometry.slice_spacing_median_mm == pytest.approx(5.0)
    duplicated_mm = written.expected_positions_mm[5]  # the variant repeats slice 5 by default
    assert f"{duplicated_mm:.1f} mm" in _message(stack, W.DUPLICATE_POSITION)


def test_missing_slice_warns_with_where(tmp_path: Path) -> None:
    written = variants.write_missing_slice(tmp_path, missing_index=6)
    stack = _only_stack(open_paths([tmp_path]))
    _assert_matches(stack, written)
    assert _codes(stack) == {W.MISSING_SLICES}
    message = _message(stack, W.MISSING_SLICES)
    # Slice 6 is gone: the gap runs from the position of slice 5 to that of slice 7.
    before_mm, after_mm = written.expected_positions_mm[5], written.expected_positions_mm[6]
    assert after_mm - before_mm == pytest.approx(10.0)
    assert "1 slice appears to be missing" in message
    assert f"between {before_mm:.1f} and {after_mm:.1f} mm" in message
    assert stack.geometry.slice_spacing_max_mm == pytest.approx(10.0)


def test_scout_in_the_series_is_split_into_its_own_stack(tmp_path: Path) -> None:
    written = variants.write_with_scout(tmp_path)
    tree = open_paths([tmp_path])
    (patient,) = tree.patients
    (series,) = patient.studies[0].series
    assert [s.stack_id for s in series.stacks] == [f"{written.series_uid}#1", f"{written.series_uid}#2"]
    axial, scout = series.stacks
    assert not axial.is_localizer and scout.is_localizer
    _assert_matches(axial, written)
    assert axial.warnings == ()
    assert scout.n_slices == 1 and scout.slices[0].path == written.notes["scout_path"]


def test_mixed_orientations_in_one_series_are_split(tmp_path: Path) -> None:
    spec = SeriesSpec(uid_seed="mixed", series_uid="1.2.826.0.1.3680043.10.1146.99.1")
    write_series(np.zeros((4, 16, 16)), tmp_path, spec, file_names=lambda i: f"ax{i}.dcm")
    coronal = SeriesSpec(
        uid_seed="mixed",
        series_uid=spec.series_uid,
        image_orientation=(1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
        first_position_mm=(-100.0, -20.0, 50.0),
    )
    write_series(
        np.zeros((3, 16, 16)), tmp_path, coronal, file_names=lambda i: f"co{i}.dcm",
        sop_instance_uids=[f"{spec.series_uid}.9.{i}" for i in range(3)],
    )
    stacks = open_paths([tmp_path]).stacks()
    assert [s.n_slices for s in stacks] == [4, 3]
    assert stacks[0].geometry.normal == pytest.approx((0, 0, 1)) and stacks[1].geometry.normal == pytest.approx((0, 1, 0))


def test_mixed_thickness_in_one_orientation_stays_one_stack(tmp_path: Path) -> None:
    spec = SeriesSpec(uid_seed="thick")
    overrides = {i: {"SliceThickness": "2.5"} for i in range(3)}
    write_series(np.zeros((6, 16, 16)), tmp_path, spec, slice_overrides=overrides)
    stack = _only_stack(open_paths([tmp_path]))
    assert stack.n_slices == 6
    assert _codes(stack) == {W.MIXED_THICKNESS}


def test_missing_positions_fall_back_to_slice_location(tmp_path: Path) -> None:
    spec = SeriesSpec(uid_seed="nopos")
    n = 5
    overrides = {i: {"ImagePositionPatient": None} for i in range(n)}
    write_series(
        np.zeros((n, 16, 16)), tmp_path, spec, slice_overrides=overrides, instance_numbers=[3, 1, 5, 2, 4]
    )
    stack = _only_stack(open_paths([tmp_path]))
    locations = [float(s.meta["SliceLocation"]) for s in stack.slices]
    assert locations == sorted(locations)
    assert [s.instance_number for s in stack.slices] == [3, 1, 5, 2, 4]  # geometry, not numbers
    assert W.NO_POSITION in _codes(stack)
    assert "Slice Location" in _message(stack, W.NO_POSITION)


def test_single_slice_warns(tmp_path: Path) -> None:
    write_series(np.zeros((1, 16, 16)), tmp_path, SeriesSpec(uid_seed="single"))
    stack = _only_stack(open_paths([tmp_path]))
    assert _codes(stack) == {W.SINGLE_SLICE}
    assert stack.geometry.slice_spacing_median_mm is None
