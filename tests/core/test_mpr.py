"""Multiplanar reformatting (viewer/core/mpr.py): known structures at known places in plain, uneven,
tilted and feet-first stacks; point <-> index round trips; the fast and the general path agree."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inference.synth.variants import Grid, write_feet_first, write_plain, write_tilted
from viewer.core.loading import load_stack, open_paths
from viewer.core.mpr import COLS_PLANE, ROWS_PLANE, MprGeometry
from viewer.core.volume import StudyMetadata, Volume

GRID = Grid(n_slices=16, rows=48, cols=40, row_spacing_mm=2.0, col_spacing_mm=2.0, step_mm=4.0, z0_mm=40.0)
# A bright box in patient space: x in [-10, 10], y in [-6, 14], z in [60, 80] mm (LPS).
BOX = ((-10.0, 10.0), (-6.0, 14.0), (60.0, 80.0))


def box_sampler(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points)
    inside = np.ones(p.shape[:-1], bool)
    for axis, (lo, hi) in enumerate(BOX):
        inside &= (p[..., axis] >= lo) & (p[..., axis] <= hi)
    return np.where(inside, 1000.0, 0.0).astype(np.float32)


def load(folder: Path) -> Volume:
    tree = open_paths([folder])
    (stack,) = [s for s in tree.stacks() if not s.is_localizer]
    return load_stack(stack, workers=1)


def make_volume(hu: np.ndarray, positions: list[float], spacing: tuple[float, float] = (1.0, 1.0)) -> Volume:
    n = hu.shape[0]
    return Volume(
        hu=hu.astype(np.int16), spacing_mm=(float(np.median(np.diff(positions))) if n > 1 else 1.0, *spacing),
        origin_mm=(0.0, 0.0, float(positions[0])), direction=np.eye(3), positions_mm=tuple(positions),
        sop_instance_uids=tuple(str(k) for k in range(n)), instance_numbers=tuple(range(n)),
        slice_thickness_mm=(None,) * n, source_paths=(Path("x"),) * n, series_uid="1", stack_id="1",
        metadata=StudyMetadata(),
    )


def bright_extent(profile: np.ndarray, start_mm: float, step_mm: float, sign: float = 1.0) -> tuple[float, float]:
    """(first, last) coordinate (mm) where a profile is at least half bright (500 HU)."""
    idx = np.nonzero(profile >= 500)[0]
    assert idx.size, "the box is not in the plane"
    ends = (start_mm + sign * idx[0] * step_mm, start_mm + sign * idx[-1] * step_mm)
    return min(ends), max(ends)


def check_box(volume: Volume, tol_mm: float) -> None:
    """Coronal through the box shows it at z 60-80 and x -10..10; sagittal at z 60-80, y -6..14."""
    g = MprGeometry(volume)
    centre = np.array([0.0, 4.0, 70.0])
    a, b, h = g.frame_of_point(centre)
    for plane, fixed, across_lim in ((ROWS_PLANE, b, BOX[0]), (COLS_PLANE, a, BOX[1])):
        img = g.reformat(plane, fixed)
        assert img.image.dtype == np.int16
        i, j = (int(round(v)) for v in g.plane_pixel(plane, centre))
        z_lo, z_hi = bright_extent(img.image[:, j], img.top_h_mm, -img.pixel_spacing_mm[0])
        z_lo, z_hi = z_lo + g.origin[2], z_hi + g.origin[2]  # h is measured from the origin (e_k = +z)
        assert abs(z_lo - 60.0) <= tol_mm and abs(z_hi - 80.0) <= tol_mm, (plane, z_lo, z_hi)
        x_lo, x_hi = bright_extent(img.image[i, :], img.left_mm, img.pixel_spacing_mm[1])
        origin_axis = g.origin[0] if plane == ROWS_PLANE else g.origin[1]
        assert abs(x_lo + origin_axis - across_lim[0]) <= 2.5 and abs(x_hi + origin_axis - across_lim[1]) <= 2.5, (plane, x_lo, x_hi)


def test_plain_stack_coronal_is_the_rows_of_the_slices() -> None:
    hu = np.random.default_rng(0).integers(-100, 100, (10, 12, 14)).astype(np.int16)
    v = make_volume(hu, [2.0 * k for k in range(10)])  # 2 mm slices, 1 mm pixels: step 2 mm
    g = MprGeometry(v)
    assert g.step_mm == 2.0 and g.plane_count(ROWS_PLANE) == 12 and g.plane_count(COLS_PLANE) == 14
    cor = g.reformat(ROWS_PLANE, g.plane_position(ROWS_PLANE, 5))
    np.testing.assert_array_equal(cor.image, hu[::-1, 5, :])  # superior at the top
    sag = g.reformat(COLS_PLANE, g.plane_position(COLS_PLANE, 3))
    np.testing.assert_array_equal(sag.image, hu[::-1, :, 3])
    assert g.plane_name(ROWS_PLANE) == "coronal" and g.plane_name(COLS_PLANE) == "sagittal"


def test_uneven_positions_give_a_uniform_vertical_step() -> None:
    hu = np.zeros((4, 6, 6), np.int16)
    for k in range(4):
        hu[k] = 100 * k
    v = make_volume(hu, [0.0, 1.0, 2.0, 6.0])
    g = MprGeometry(v)
    cor = g.reformat(ROWS_PLANE, 2.0)
    assert cor.pixel_spacing_mm[0] == g.step_mm == 1.0 and cor.image.shape[0] == 7
    # Top row is z = 6 (slice 3); z = 5, 4, 3 lie between slices 2 (z 2) and 3 (z 6).
    np.testing.assert_array_equal(cor.image[:, 0], [300, 275, 250, 225, 200, 100, 0])


@pytest.mark.parametrize("variant", ["plain", "tilted", "tilted_no_tag", "feet_first"])
def test_box_at_its_place_in_coronal_and_sagittal(tmp_path, variant: str) -> None:
    if variant == "plain":
        write_plain(tmp_path, grid=GRID, sampler=box_sampler, noise_hu=0.0)
    elif variant == "feet_first":
        write_feet_first(tmp_path, grid=GRID, sampler=box_sampler, noise_hu=0.0)
    else:
        write_tilted(tmp_path, tilt_deg=20.0, write_tilt_tag=variant == "tilted", grid=GRID, sampler=box_sampler, noise_hu=0.0)
    volume = load(tmp_path)
    assert len(volume.slice_origins_mm) == volume.n_slices
    # Half a slice step along z (the box edges fall between slices), plus a pixel.
    check_box(volume, tol_mm=GRID.step_mm / 2.0 + 2.0)
    if variant == "tilted":
        # Without the per-slice origins, the shear is derived from the normal (table along z): same.
        check_box(replace(volume, slice_origins_mm=()), tol_mm=GRID.step_mm / 2.0 + 2.0)


def test_point_index_round_trip_on_a_tilted_stack(tmp_path) -> None:
    write_tilted(tmp_path, tilt_deg=15.0, grid=GRID, sampler=box_sampler, noise_hu=0.0)
    g = MprGeometry(load(tmp_path))
    rng = np.random.default_rng(1)
    for _ in range(20):
        k, r, c = rng.uniform(0, GRID.n_slices - 1), rng.uniform(0, GRID.rows - 1), rng.uniform(0, GRID.cols - 1)
        p = g.point_of_index(k, r, c)
        np.testing.assert_allclose(g.index_of_point(p), [k, r, c], atol=1e-6)
        for plane in (ROWS_PLANE, COLS_PLANE):
            fixed = g.frame_of_point(p)[1 if plane == ROWS_PLANE else 0]
            i, j = g.plane_pixel(plane, p)
            np.testing.assert_allclose(g.plane_point(plane, fixed, i, j), p, atol=1e-6)


def test_fast_path_equals_the_general_path(tmp_path) -> None:
    write_tilted(tmp_path, tilt_deg=20.0, grid=GRID, noise_hu=0.0)  # the realistic head
    v = load(tmp_path)
    g = MprGeometry(v)
    for plane in (ROWS_PLANE, COLS_PLANE):
        fixed = g.plane_position(plane, g.plane_count(plane) // 2)
        fast = g.reformat(plane, fixed).image.astype(np.int32)
        general = g._general_sample(v.hu, plane, fixed, *_grid_axes(g, plane), 1, -1024, 1)
        general = np.rint(general).astype(np.int32)
        # The two interpolate between slices along slightly different directions (the sheet along
        # the plane, the general path along the normal): equal where the head is smooth.
        close = np.abs(fast - general) <= 60
        assert close.mean() > 0.9, close.mean()


def _grid_axes(g: MprGeometry, plane: str) -> tuple[np.ndarray, np.ndarray]:
    height, width, top, left, down, across = g.native_grid(plane)
    return top - np.arange(height) * down, left + np.arange(width) * across


def test_labels_nearest_and_strided_data_land_on_the_same_place() -> None:
    hu = np.zeros((8, 16, 16), np.int16)
    labels = np.zeros((8, 16, 16), np.uint8)
    labels[3:5, 4:8, 8:12] = 2
    v = make_volume(hu, [1.0 * k for k in range(8)])
    g = MprGeometry(v)
    cor = g.reformat(ROWS_PLANE, g.plane_position(ROWS_PLANE, 5), labels, order=0, fill=0)
    assert cor.image.dtype == np.uint8 and set(np.unique(cor.image)) == {0, 2}
    rows, cols = np.nonzero(cor.image)
    assert sorted(set(cols)) == [8, 9, 10, 11] and sorted(set(7 - rows)) == [3, 4]
    # A 4x subsampled map (each value the centre of a 4x4 block) reformats onto the full grid.
    coarse = np.zeros((8, 4, 4), np.float32)
    coarse[:, 1, 2] = 1.0  # block rows 4-7, cols 8-11
    heat = g.reformat(ROWS_PLANE, g.plane_position(ROWS_PLANE, 5) + 0.5, coarse, fill=0.0, stride=4)
    assert heat.image.shape == cor.image.shape
    assert heat.image[:, 9:11].min() > 0.6 and heat.image[:, 0:4].max() == 0.0


def test_a_coronal_stack_reformats_into_radiologically_displayed_planes(tmp_path) -> None:
    from inference.synth.variants import write_coronal

    write_coronal(tmp_path)
    v = load(tmp_path)
    assert v.orientation == "coronal"
    g = MprGeometry(v)
    names = {g.plane_name(p): p for p in (ROWS_PLANE, COLS_PLANE)}
    assert set(names) == {"axial", "sagittal"}
    right, down = g.plane_axes(names["axial"])
    np.testing.assert_allclose(right, [1, 0, 0], atol=1e-9)  # patient left on screen right
    np.testing.assert_allclose(down, [0, 1, 0], atol=1e-9)  # anterior up
    right, down = g.plane_axes(names["sagittal"])
    np.testing.assert_allclose(right, [0, 1, 0], atol=1e-9)  # posterior right
    np.testing.assert_allclose(down, [0, 0, -1], atol=1e-9)  # head up
    for plane in (ROWS_PLANE, COLS_PLANE):
        fixed = g.plane_position(plane, g.plane_count(plane) // 2)
        img = g.reformat(plane, fixed)
        assert img.image.shape == g.plane_grid(plane)[:2]
        y, x = img.image.shape[0] // 3, img.image.shape[1] // 2
        p = g.plane_point(plane, fixed, y, x)
        np.testing.assert_allclose(g.plane_pixel(plane, p), (y, x), atol=1e-6)
        # The displayed pixel holds the HU of that patient point (nearest voxel of the stack).
        k, r, c = (int(round(t)) for t in g.index_of_point(p))
        assert abs(int(img.image[y, x]) - int(v.hu[k, r, c])) <= 80
