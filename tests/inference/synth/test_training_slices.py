"""The fast randomised training slices (2-D path of the generator)."""
from __future__ import annotations

import numpy as np
import pytest

from inference.labels import LABELS, SUBTYPES
from inference.synth.training_slices import TrainingSliceParams, render_training_slice, render_training_stack


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
