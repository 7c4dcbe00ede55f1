"""Tiles: lattice-aligned, covering the head region; inputs cut from a windowed sub-box equal those
from the whole grid; the skull-enclosed region and its fallback."""
from __future__ import annotations

import numpy as np

from inference.readers.blast_ct.tiles import head_region, input_box, plan_tiles, tile_input, window


def test_tiles_cover_the_region_on_the_lattice() -> None:
    rng = np.random.default_rng(0)
    region = np.zeros((70, 100, 90), bool)
    region[10:50, 20:80, 5:60] = rng.random((40, 60, 55)) > 0.7
    tiles = plan_tiles(region, group=3)
    covered = np.zeros((75, 105, 90), bool)
    for t in tiles:
        assert all(o % 15 == 0 for o in t.origin) and all(s % 15 == 0 and s > 0 for s in t.size)
        covered[tuple(slice(o, o + s) for o, s in zip(t.origin, t.size))] = True
    assert covered[:70, :100, :90][region].all()
    assert not covered[60:].any()  # no tile where nothing is needed


def test_inputs_from_the_windowed_box_equal_inputs_from_the_whole_grid() -> None:
    rng = np.random.default_rng(1)
    hu = rng.normal(30, 40, size=(50, 120, 130)).astype(np.float32)
    region = np.zeros(hu.shape, bool)
    region[20:40, 60:100, 70:120] = True
    tiles = plan_tiles(region)
    box = input_box(tiles, hu.shape)
    lo = tuple(b[0] for b in box)
    part = window(hu[tuple(slice(a, b) for a, b in box)])
    whole = window(hu)
    assert part.size < whole.size
    for t in tiles:
        np.testing.assert_array_equal(tile_input(part, t, hu.shape, lo), tile_input(whole, t))
    assert window(np.array([-1000.0, -15.0, 42.5, 100.0, 2000.0])).tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0]


def test_the_region_is_what_the_skull_encloses_else_all_tissue() -> None:
    z, y, x = np.meshgrid(np.arange(60), np.arange(90), np.arange(90), indexing="ij")
    r = np.hypot(y - 45, x - 45)
    hu = np.where(r < 38, 30.0, -1000.0)
    hu[(r >= 38) & (r < 42)] = 1000.0  # a skull ring on every plane
    hu[(r >= 42) & (r < 44)] = 20.0  # scalp
    region, found = head_region(hu)
    assert found
    assert region[30][r[30] < 38].all() and not region[30][r[30] > 41].any()
    no_skull = np.where(r < 38, 30.0, -1000.0)
    region, found = head_region(no_skull)
    assert not found and region[30][r[30] < 38].all()
