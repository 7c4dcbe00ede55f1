"""Bleeds inserted into real backgrounds, and the fast randomised training slices."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference.labels import LABELS, SUBTYPES
from inference.synth.insertion import Background, BackgroundError, insert_lesions, load_background
from inference.synth.training_slices import TrainingSliceParams, render_training_slice, render_training_stack


@pytest.fixture(scope="module")
def invesalius(real_data: Path) -> Background:
    return load_background(real_data / "invesalius_head_ct_0051")


def test_background_is_canonical_and_finds_the_brain(invesalius: Background) -> None:
    bg = invesalius
    assert bg.hu.shape == (108, 512, 512)
    assert np.all(np.diff(bg.positions_mm) > 0)
    brain = bg.brain_slices()
    assert 30 <= len(brain) <= 90 and brain[0] > 5  # not the face / neck at the bottom
    a = bg.anatomy(55)
    ic_hu = bg.hu[55][a.intracranial]
    assert 15 < np.median(ic_hu) < 40  # brain, not bone or scalp fat
    assert a.ventricles.sum() > 200  # the lateral ventricles at this level
    # Anterior up: the frontal sinus air / face is in the top rows, the occiput at the bottom.
    rows = np.nonzero(a.intracranial.any(axis=1))[0]
    assert rows.min() < 256 < rows.max()


def test_the_real_negative_test_series_is_refused(real_data: Path) -> None:
    with pytest.raises(BackgroundError, match="negative test"):
        load_background(real_data / "ge_head_ct_tilted")


@pytest.mark.parametrize("subtype", SUBTYPES)
def test_inserted_bleed_is_dense_labelled_and_placed(invesalius: Background, subtype: str) -> None:
    rng = np.random.default_rng(SUBTYPES.index(subtype))
    slab = insert_lesions(invesalius, rng, lesions=[subtype], size="large", age=0.0, center_slice=60, half_window=6)
    j = LABELS.index(subtype)
    assert slab.labels[:, j].sum() >= 1 and slab.labels[:, 0].sum() >= 1
    assert slab.masks[subtype].any()
    k = int(np.argmax(slab.masks[subtype].reshape(len(slab.slice_indices), -1).sum(1)))
    bg_k = slab.slice_indices[k]
    mask = slab.masks[subtype][k]
    before = invesalius.hu[bg_k][mask]
    after = slab.hu[k][mask]
    assert np.median(after) - np.median(before) > 15, "the bleed is denser than what it replaced"
    assert 45 <= np.median(after) <= 110
    a = invesalius.anatomy(bg_k)
    assert (mask & ~a.intracranial).sum() <= 0.05 * mask.sum(), "bleeds stay inside the skull"
    depth = a.depth_mm[mask]
    if subtype in ("epidural", "subdural"):
        assert np.percentile(depth, 10) < 2.0  # against the inner table
    if subtype == "intraparenchymal":
        assert np.median(depth) > 8.0
    # Everything away from the bleed (and its edema rim) is the untouched background.
    untouched = ~dilated(slab.occupancy[subtype][k] > 0, 12)
    np.testing.assert_array_equal(slab.hu[k][untouched], invesalius.hu[bg_k][untouched])


def dilated(m: np.ndarray, n: int) -> np.ndarray:
    out = m.copy()
    for _ in range(n):
        out = out | np.roll(out, 1, 0) | np.roll(out, -1, 0) | np.roll(out, 1, 1) | np.roll(out, -1, 1)
    return out


def test_cerr_background_brain_levels(real_data: Path) -> None:
    bg = load_background(real_data / "cerr_head_neck_ct")
    brain = bg.brain_slices()
    assert brain and 45 <= brain[0] <= 62 and 75 <= brain[-1] <= 89


def test_training_slices_are_varied_and_labelled() -> None:
    rng = np.random.default_rng(0)
    params = TrainingSliceParams(size=128, p_positive=1.0, p_target_lesion=1.0, lesion_size="large")
    seen = np.zeros(len(LABELS))
    for _ in range(10):
        hu, masks, labels = render_training_slice(rng, params)
        assert hu.shape == (128, 128) and hu.dtype == np.float32
        assert labels.shape == (6,) and labels[0] == labels[1:].max()
        for i, s in enumerate(SUBTYPES, start=1):
            assert bool(labels[i]) == (masks[s].sum() > 0) or masks[s].sum() * 4 < 4.0
        seen += labels
    assert seen[0] >= 6  # large targeted bleeds are mostly visible
    neg = TrainingSliceParams(size=128, p_positive=0.0)
    hu, masks, labels = render_training_slice(np.random.default_rng(1), neg)
    assert labels.sum() == 0 and not any(m.any() for m in masks.values())
    # Deterministic from the generator state.
    a = render_training_slice(np.random.default_rng(5), neg)[0]
    b = render_training_slice(np.random.default_rng(5), neg)[0]
    np.testing.assert_array_equal(a, b)


def test_training_stack_gives_context_slices() -> None:
    hu, masks, labels = render_training_stack(np.random.default_rng(2), TrainingSliceParams(size=96), (-5.0, 0.0, 5.0))
    assert hu.shape == (3, 96, 96)
    assert not np.array_equal(hu[0], hu[2])
    with pytest.raises(ValueError):
        render_training_stack(np.random.default_rng(2), TrainingSliceParams(size=96), (-5.0, 5.0))
