"""The 1 mm working grid: the package's resampling (SimpleITK), uneven positions, single slices, and
labels mapped back to the Volume's pixels; physical slice extents."""
from __future__ import annotations

import numpy as np
import pytest
from blast_ct_inputs import make_volume, write_nifti

from inference.readers.blast_ct.grid import labels_to_volume, make_grid, resample_hu, slice_extents_mm


def test_resampling_equals_the_packages_simpleitk_rescale(tmp_path) -> None:  # noqa: ANN001
    import SimpleITK as sitk
    from blast_ct.nifti.rescale import reorient_image, rescale

    rng = np.random.default_rng(0)
    hu = rng.integers(-1000, 1500, size=(9, 37, 41)).astype(np.int16)
    volume = make_volume(hu, spacing_mm=(2.5, 0.7, 0.45))
    path = tmp_path / "v.nii.gz"
    write_nifti(volume, path)
    ref = sitk.GetArrayFromImage(rescale([1.0, 1.0, 1.0], reorient_image(sitk.ReadImage(str(path)), False)))
    grid = make_grid(volume)
    ours = resample_hu(volume.hu, grid)
    assert ours.shape == ref.shape == (21, 26, 19)
    assert np.abs(ours - ref).max() < 1e-2


def test_uneven_positions_are_honoured() -> None:
    pos = (0.0, 1.0, 5.0, 6.0, 12.0)
    hu = np.broadcast_to(np.array(pos, np.float32)[:, None, None] * 10, (5, 4, 4)).astype(np.int16)
    grid = make_grid(make_volume(hu, spacing_mm=(3.0, 1.0, 1.0), positions_mm=pos))
    iso = resample_hu(hu, grid)
    assert iso.shape[0] == 13
    np.testing.assert_allclose(iso[:, 0, 0], np.arange(13) * 10.0, atol=1e-3)  # linear in position


def test_labels_map_back_to_each_slice_by_nearest_neighbour() -> None:
    pos = (0.0, 1.0, 5.0, 6.0, 12.0)
    volume = make_volume(np.zeros((5, 10, 12), np.int16), spacing_mm=(3.0, 0.6, 0.8), positions_mm=pos)
    grid = make_grid(volume)
    z, y, x = np.meshgrid(*(np.arange(s) for s in grid.shape), indexing="ij")
    iso = (z * 7 + y * 3 + x) % 251  # a code of the 1 mm voxel
    back = labels_to_volume(iso.astype(np.uint8), grid)
    k, r, c = np.meshgrid(np.arange(5), np.arange(10), np.arange(12), indexing="ij")
    zi = np.floor(np.asarray(pos)[k] + 0.5).astype(int)
    yi, xi = np.floor(r * 0.6 + 0.5).astype(int), np.floor(c * 0.8 + 0.5).astype(int)
    np.testing.assert_array_equal(back, ((zi * 7 + yi * 3 + xi) % 251).astype(np.uint8))


def test_a_single_slice_is_a_one_sample_slab() -> None:
    hu = np.full((1, 20, 20), 30, np.int16)
    volume = make_volume(hu, spacing_mm=(5.0, 0.5, 0.5))
    grid = make_grid(volume)
    assert grid.shape == (1, 10, 10)
    labels = np.zeros(grid.shape, np.uint8)
    labels[0, 2, 3] = 4
    back = labels_to_volume(labels, grid)
    assert back.shape == (1, 20, 20) and set(np.unique(back)) == {0, 4}
    assert back[0, 4, 6] == 4 and back[0, 3, 5] == 4 and back[0, 5, 7] == 0


def test_slice_extents_follow_positions() -> None:
    v = make_volume(np.zeros((4, 2, 2)), positions_mm=(0.0, 1.5, 3.0, 4.0))
    np.testing.assert_allclose(slice_extents_mm(v), [1.5, 1.5, 1.25, 1.0])
    assert slice_extents_mm(make_volume(np.zeros((1, 2, 2)), spacing_mm=(2.5, 1, 1)))[0] == pytest.approx(2.5)
