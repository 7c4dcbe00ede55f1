"""The awkward variants hold what they claim: re-reading them by geometry gives the expected arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from inference.synth import variants as V
from inference.synth.dicom_writer import slice_normal

SMALL = V.Grid(n_slices=8, rows=64, cols=64, row_spacing_mm=4.0, col_spacing_mm=4.0, step_mm=10.0, z0_mm=0.0)


def _reference_load(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """A tiny independent loader for axial data: sort by IPP on the normal and orient by IOP so
    that columns run right->left (+x), rows anterior->posterior (+y), slices inferior->superior."""
    dss = [pydicom.dcmread(p) for p in paths]
    iop = np.array([float(v) for v in dss[0].ImageOrientationPatient])
    n = slice_normal(iop)
    pos = np.array([np.dot(n, [float(v) for v in d.ImagePositionPatient]) for d in dss])
    sign = 1.0 if n[2] >= 0 else -1.0  # make slices run inferior -> superior
    order = np.argsort(sign * pos, kind="stable")
    hu = np.stack([dss[i].pixel_array * float(dss[i].RescaleSlope) + float(dss[i].RescaleIntercept) for i in order])
    row, col = np.rint(iop[:3]).astype(int), np.rint(iop[3:]).astype(int)
    if abs(row[1]) == 1:  # stored columns run along y: transpose
        hu = hu.transpose(0, 2, 1)
        row, col = col, row
    if row[0] < 0:
        hu = hu[:, :, ::-1]
    if col[1] < 0:
        hu = hu[:, ::-1, :]
    return hu, np.sort(sign * pos) * sign


def test_plain_head_is_asymmetric_enough_to_show_flips(tmp_path: Path) -> None:
    v = V.write_plain(tmp_path, grid=SMALL, noise_hu=0.0)
    hu = v.expected_hu.astype(float)
    assert v.expected_hu.dtype == np.int16
    for flipped in (hu[:, :, ::-1], hu[:, ::-1, :], hu[::-1], hu.transpose(0, 2, 1)):
        assert (np.abs(flipped - hu) > 100).sum() >= 20  # beyond noise: anatomy moved
    assert (hu > 700).any() and ((hu > 0) & (hu < 60)).mean() > 0.1  # bone and brain present


@pytest.mark.parametrize("name", list(V.ALL_AXIAL_VARIANTS))
def test_axial_variants_reorient_to_the_same_head(tmp_path: Path, name: str) -> None:
    plain = V.write_plain(tmp_path / "plain", grid=SMALL)
    v = V.ALL_AXIAL_VARIANTS[name](tmp_path / name, grid=SMALL)
    np.testing.assert_array_equal(v.expected_hu, plain.expected_hu)
    hu, _ = _reference_load(list(v.paths))
    np.testing.assert_array_equal(hu, plain.expected_hu)
    assert np.allclose(np.diff(v.expected_positions_mm), SMALL.step_mm)


def test_shuffled_names_and_instance_numbers_contradict_geometry(tmp_path: Path) -> None:
    v = V.write_shuffled(tmp_path, grid=SMALL)
    assert not any(p.suffix == ".dcm" for p in v.paths)
    dss = [pydicom.dcmread(p) for p in v.paths]
    by_number = sorted(dss, key=lambda d: int(d.InstanceNumber))
    z = [float(d.ImagePositionPatient[2]) for d in by_number]
    assert z != sorted(z)


def test_feet_first_stores_vertex_first(tmp_path: Path) -> None:
    v = V.write_feet_first(tmp_path, grid=SMALL)
    first = pydicom.dcmread(v.paths[0])
    assert first.PatientPosition == "FFS"
    assert [float(x) for x in first.ImageOrientationPatient][:3] == [-1.0, 0.0, 0.0]
    assert float(first.ImagePositionPatient[2]) == pytest.approx(max(v.expected_positions_mm))


def test_tilted_with_and_without_tag(tmp_path: Path) -> None:
    for tag in (True, False):
        v = V.write_tilted(tmp_path / str(tag), tilt_deg=20.0, write_tilt_tag=tag, grid=SMALL)
        d = pydicom.dcmread(v.paths[0])
        assert ("GantryDetectorTilt" in d) is tag
        assert v.expected_warnings == (V.GANTRY_TILT,)
        assert np.allclose(np.diff(v.expected_positions_mm), SMALL.step_mm * np.cos(np.deg2rad(20.0)))
        hu, _ = _reference_load(list(v.paths))
        np.testing.assert_array_equal(hu, v.expected_hu)


def test_coronal_is_head_up(tmp_path: Path) -> None:
    v = V.write_coronal(tmp_path, n_slices=6, size=64, pixel_mm=4.0, step_mm=15.0)
    assert v.expected_orientation == "coronal"
    d = pydicom.dcmread(v.paths[0])
    assert [float(x) for x in d.ImageOrientationPatient] == [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]
    middle = v.expected_hu[3].astype(float)
    rows_with_head = np.nonzero((middle > -500).any(axis=1))[0]
    # Head up: the vertex (top rows) has air above it, and the neck continues to the bottom edge.
    assert rows_with_head[0] > 0


def test_two_patients_duplicate_missing_scout_anisotropic(tmp_path: Path) -> None:
    a, b = V.write_two_patients(tmp_path / "two", grid=SMALL)
    ids = {str(pydicom.dcmread(p).PatientID) for p in (tmp_path / "two").iterdir()}
    assert ids == {a.notes["patient_id"], b.notes["patient_id"]} and len(ids) == 2

    dup = V.write_duplicated_slice(tmp_path / "dup", grid=SMALL)
    assert len(dup.paths) == SMALL.n_slices + 1
    z = sorted(float(pydicom.dcmread(p).ImagePositionPatient[2]) for p in dup.paths)
    assert len(set(z)) == SMALL.n_slices

    miss = V.write_missing_slice(tmp_path / "miss", grid=SMALL)
    assert len(miss.paths) == SMALL.n_slices - 1
    assert max(np.diff(miss.expected_positions_mm)) == pytest.approx(2 * SMALL.step_mm)

    sc = V.write_with_scout(tmp_path / "scout", grid=SMALL)
    dss = [pydicom.dcmread(p) for p in sc.paths]
    assert len({d.SeriesInstanceUID for d in dss}) == 1
    loc = [d for d in dss if "LOCALIZER" in list(d.ImageType)]
    assert len(loc) == 1 and (loc[0].Rows, loc[0].Columns) != (SMALL.rows, SMALL.cols)
    assert sc.expected_n_stacks == 2

    an = V.write_anisotropic(tmp_path / "aniso", n_slices=4)
    d = pydicom.dcmread(an.paths[0])
    assert [float(x) for x in d.PixelSpacing] == [1.6, 2.4]
    assert an.expected_hu.shape[1:] == (d.Rows, d.Columns)
