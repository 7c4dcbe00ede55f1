"""Canonical display orientation: the same head comes out the same way up from any stored layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.synth import variants
from viewer.core.loading import load_stack, open_paths
from viewer.core.orientation import canonical_geometry, classify_orientation
from viewer.core.series import Stack
from viewer.core.volume import Volume

AXIAL_VARIANTS = {
    "plain": variants.write_plain,
    "feet_first": variants.write_feet_first,
    "flipped_iop": variants.write_flipped_iop,
    "transposed_iop": variants.write_transposed_iop,
}
GRID = variants.Grid(n_slices=6, rows=96, cols=80, row_spacing_mm=2.0, col_spacing_mm=2.5)


def _only_stack(folder: Path) -> Stack:
    stacks = open_paths([folder]).stacks()
    assert len(stacks) == 1
    return stacks[0]


@pytest.fixture(scope="module")
def axial_volumes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Volume, variants.WrittenVariant]]:
    out = {}
    for name, write in AXIAL_VARIANTS.items():
        folder = tmp_path_factory.mktemp(name)
        written = write(folder, seed=3, grid=GRID)
        out[name] = (load_stack(_only_stack(folder)), written)
    return out


def test_every_axial_variant_gives_the_identical_canonical_array(axial_volumes) -> None:
    reference = axial_volumes["plain"][0]
    assert reference.hu.shape == (6, 96, 80)  # non-square: a transpose would show
    for name, (volume, written) in axial_volumes.items():
        assert volume.orientation == "axial", name
        np.testing.assert_array_equal(volume.hu, written.expected_hu, err_msg=name)
        np.testing.assert_array_equal(volume.hu, reference.hu, err_msg=name)


def test_canonical_geometry_is_the_same_for_every_axial_variant(axial_volumes) -> None:
    for name, (volume, written) in axial_volumes.items():
        # +c to the patient's left, +r posterior, +k superior (LPS x, y, z)
        np.testing.assert_allclose(volume.direction, np.eye(3), atol=1e-6, err_msg=name)
        np.testing.assert_allclose(volume.origin_mm, GRID.origin_mm, atol=1e-3, err_msg=name)
        assert volume.spacing_mm == pytest.approx(written.expected_spacing_mm), name
        assert volume.pixel_spacing_mm == pytest.approx((2.0, 2.5)), name


def test_coronal_series(tmp_path: Path) -> None:
    written = variants.write_coronal(tmp_path, seed=1, n_slices=5, size=64)
    volume = load_stack(_only_stack(tmp_path))
    assert volume.orientation == "coronal"
    np.testing.assert_array_equal(volume.hu, written.expected_hu)
    # +c right -> left (+x), +r head -> feet (-z), +k anterior -> posterior (+y)
    np.testing.assert_allclose(volume.direction, [[1, 0, 0], [0, 0, 1], [0, -1, 0]], atol=1e-6)


def test_voxel_positions_follow_origin_and_direction() -> None:
    """Every canonical pixel lands where the stored IPP/IOP geometry puts it."""
    rows, cols, spacing = 4, 3, (2.0, 0.5)
    ipp = np.array([10.0, -20.0, 30.0])
    for iop in [(1, 0, 0, 0, 1, 0), (-1, 0, 0, 0, -1, 0), (0, 1, 0, 1, 0, 0), (0, -1, 0, -1, 0, 0), (0, 1, 0, 0, 0, -1)]:
        u, v = np.array(iop[:3], float), np.array(iop[3:], float)
        g = canonical_geometry(
            iop=iop, first_position_mm=ipp, last_position_mm=ipp + 5 * np.cross(u, v),
            rows=rows, cols=cols, pixel_spacing_mm=spacing,
        )
        stored_pos = ipp + np.arange(cols)[None, :, None] * spacing[1] * u + np.arange(rows)[:, None, None] * spacing[0] * v
        canonical_pos = g.transform.apply(np.moveaxis(stored_pos, -1, 0))  # (3, r', c')
        r_idx, c_idx = np.meshgrid(np.arange(g.shape[0]), np.arange(g.shape[1]), indexing="ij")
        predicted = (
            np.asarray(g.origin_mm)[:, None, None]
            + g.direction[:, 0, None, None] * c_idx * g.pixel_spacing_mm[1]
            + g.direction[:, 1, None, None] * r_idx * g.pixel_spacing_mm[0]
        )
        np.testing.assert_allclose(canonical_pos, predicted, atol=1e-9, err_msg=str(iop))
        assert np.linalg.det(g.direction) == pytest.approx(1.0) or np.linalg.det(g.direction) == pytest.approx(-1.0)


def test_sagittal_layout_and_labels() -> None:
    # Sagittal stored with rows along +y, cols along -z.
    g = canonical_geometry(
        iop=(0, 0, -1, 0, 1, 0), first_position_mm=(-50, 0, 0), last_position_mm=(50, 0, 0),
        rows=10, cols=20, pixel_spacing_mm=(1.0, 2.0),
    )
    assert g.orientation == "sagittal"
    assert g.transform.transpose and g.shape == (20, 10) and g.pixel_spacing_mm == (2.0, 1.0)
    np.testing.assert_allclose(g.direction[:, 0], [0, 1, 0], atol=1e-9)  # A -> P
    np.testing.assert_allclose(g.direction[:, 1], [0, 0, -1], atol=1e-9)  # S -> I
    np.testing.assert_allclose(g.direction[:, 2], [1, 0, 0], atol=1e-9)  # R -> L
    tilt = np.deg2rad(18.5)
    assert classify_orientation(np.cross([1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)]))[0] == "axial"
    assert classify_orientation([0.0, np.sin(np.deg2rad(45)), np.cos(np.deg2rad(45))])[0] == "oblique"
