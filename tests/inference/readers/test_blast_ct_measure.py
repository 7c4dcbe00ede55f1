"""Areas, volumes and 3D components on the Volume's grid, in physical units."""
from __future__ import annotations

import numpy as np
import pytest
from blast_ct_inputs import make_volume

from inference.readers.blast_ct.grid import slice_extents_mm
from inference.readers.blast_ct.measure import class_volumes_ml, find_components, slice_areas_mm2


def test_components_volumes_and_areas_use_positions_and_pixel_size() -> None:
    labels = np.zeros((4, 40, 40), np.uint8)
    labels[1:3, 10:20, 10:20] = 1  # IPH: 100 px on slices 1 and 2
    labels[2, 30:32, 30:31] = 1  # a 2-voxel IPH speck
    labels[3, 0:10, 0:20] = 2  # EAH on slice 3
    volume = make_volume(np.zeros(labels.shape), spacing_mm=(1.5, 0.5, 0.5), positions_mm=(0.0, 1.5, 3.0, 4.0))
    ext = slice_extents_mm(volume)  # 1.5, 1.5, 1.25, 1.0
    comps = find_components(labels, ext, (0.5, 0.5), min_ml=0.0)
    assert [c.label for c in comps] == ["IPH", "EAH", "IPH"]
    iph = comps[0]
    assert iph.volume_ml == pytest.approx(100 * 0.25 * (1.5 + 1.25) / 1000)
    assert (iph.first_slice, iph.last_slice) == (1, 2)
    assert iph.centroid_index[1:] == pytest.approx((14.5, 14.5))
    assert comps[1].volume_ml == pytest.approx(200 * 0.25 * 1.0 / 1000)
    default = find_components(labels, ext, (0.5, 0.5))  # >= 0.1 mL: the speck and EAH drop out
    assert [c.label for c in default] == []
    big = find_components(labels, ext * 20, (0.5, 0.5))
    vols = class_volumes_ml(big)
    assert vols["IPH"] == pytest.approx(100 * 0.25 * 20 * 2.75 / 1000) and vols["oedema"] == 0.0
    areas = slice_areas_mm2(labels, (0.5, 0.5))
    assert areas.shape == (4, 4) and areas.dtype == np.float32
    assert areas[2, 0] == pytest.approx(102 * 0.25) and areas[3, 1] == pytest.approx(50.0)


def test_diagonal_neighbours_are_one_component() -> None:
    labels = np.zeros((3, 5, 5), np.uint8)
    labels[0, 1, 1] = labels[1, 2, 2] = labels[2, 3, 3] = 4
    comps = find_components(labels, np.ones(3), (1.0, 1.0), min_ml=0.0)
    assert len(comps) == 1 and comps[0].label == "IVH" and comps[0].volume_ml == pytest.approx(0.003)
