"""Bleeds inserted into the real backgrounds (the one insertion module: training episodes and whole volumes)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.labels import SUBTYPES
from inference.training.datasets.backgrounds import Background, load_background
from inference.training.datasets.cavity import cavity_geometry
from inference.training.datasets.insertion import insert_bleeds


@pytest.fixture(scope="module")
def invesalius(real_data: Path) -> Background:
    return load_background("invesalius_head_ct_0051", str(real_data))


def test_background_is_canonical_and_finds_the_brain(invesalius: Background) -> None:
    bg = invesalius
    assert bg.hu.shape == (108, 512, 512)
    assert np.all(np.diff(bg.positions_mm) > 0)
    cav = cavity_geometry(bg.hu[55], bg.pixel_spacing_mm)
    assert cav.ok
    ic_hu = bg.hu[55][cav.depth_mm > 5]
    assert 15 < np.median(ic_hu) < 40  # brain, not bone or scalp fat
    assert cav.csf.sum() > 200  # ventricles and sulci at this level
    # Anterior up: the cavity's centre sits in the middle rows, the face (air) in the top rows.
    rows = np.nonzero((cav.depth_mm > 0).any(axis=1))[0]
    assert rows.min() < 256 < rows.max()


def test_the_real_negative_test_series_is_refused(real_data: Path) -> None:
    with pytest.raises(ValueError, match="negative test"):
        load_background("ge_head_ct_tilted", str(real_data))


@pytest.mark.parametrize("subtype", SUBTYPES)
def test_inserted_bleed_is_dense_and_placed(invesalius: Background, subtype: str) -> None:
    rng = np.random.default_rng(SUBTYPES.index(subtype))
    ins = insert_bleeds(invesalius, rng, (subtype,), size=0.9, z0_mm=float(invesalius.positions_mm[60]))
    occ = ins.occupancy[subtype]
    assert ins.volume_ml(subtype) > 0.5
    k = int(np.argmax((occ >= 0.5).sum(axis=(1, 2))))
    mask = occ[k] >= 0.5
    core = occ[k] >= 0.9  # the blurred edge is part background by design
    before = invesalius.hu[k][core]
    after = ins.hu[k][core]
    assert np.median(after) - np.median(before) > 15, "the bleed is denser than what it replaced"
    assert 45 <= np.median(after) <= 110
    cav = cavity_geometry(invesalius.hu[k], invesalius.pixel_spacing_mm)
    assert (mask & ~(cav.depth_mm > 0)).sum() <= 0.05 * mask.sum(), "bleeds stay inside the skull"
    depth = cav.depth_mm[mask]
    if subtype in ("epidural", "subdural"):
        assert np.percentile(depth, 10) < 2.0  # against the inner table
    if subtype == "intraparenchymal":
        assert np.median(depth) > 8.0
    # Everything away from the bleed is the untouched background, on every slice.
    untouched = ~dilated(occ > 0, 2)
    np.testing.assert_array_equal(ins.hu[untouched], invesalius.hu[untouched])


def dilated(m: np.ndarray, n: int) -> np.ndarray:
    out = m.copy()
    for _ in range(n):
        out = out | np.roll(out, 1, -2) | np.roll(out, -1, -2) | np.roll(out, 1, -1) | np.roll(out, -1, -1)
    return out


def test_cerr_background_cavity_only_at_brain_levels(real_data: Path) -> None:
    bg = load_background("cerr_head_neck_ct", str(real_data))
    b0, b1 = bg.split.brain_range
    found = [cavity_geometry(bg.hu[k], bg.pixel_spacing_mm).ok for k in range(b0, b1 + 1, 4)]
    assert np.mean(found) >= 0.8
    assert not cavity_geometry(bg.hu[10], bg.pixel_spacing_mm).ok  # the neck has no skull ring
