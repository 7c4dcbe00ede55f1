"""The metrics the model card reports: checked against values worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from inference.labels import LABELS
from inference.training.metrics import (
    baseline_blood_heatmap,
    box_average,
    cam_localisation,
    cam_mass_inside,
    dilate_mask_mm,
    expected_calibration_error,
    intracranial_mask,
    pointing_game_hit,
    roc_auc,
    sensitivity_specificity,
    threshold_for_sensitivity,
    weighted_log_loss,
)


def test_auc_matches_pair_counting_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200) + 0.3 * y, 1)  # rounded: many ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert roc_auc(y, s) == pytest.approx(pairs / (pos.size * neg.size), abs=1e-12)
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_weighted_log_loss_weights_any_twice() -> None:
    y = np.zeros((1, 6))
    y[0, 0] = 1
    p = np.full((1, 6), 0.5)
    p[0, 0] = 0.9
    expected = (2 * -math.log(0.9) + 5 * -math.log(0.5)) / 7
    assert weighted_log_loss(y, p) == pytest.approx(expected, rel=1e-12)
    assert LABELS[0] == "any"
    # Perfect predictions are clipped, not infinite or zero-by-log(0).
    assert 0 < weighted_log_loss(y, y) < 1e-5


def test_threshold_reaches_the_sensitivity_and_is_the_highest_such() -> None:
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(100), np.zeros(300)]
    p = np.r_[rng.beta(5, 2, 100), rng.beta(2, 5, 300)]
    t = threshold_for_sensitivity(y, p, target=0.95)
    sens, spec = sensitivity_specificity(y, p, t)
    assert sens >= 0.95
    assert sensitivity_specificity(y, p, np.nextafter(t, 1.0))[0] < 0.95
    assert 0 < spec < 1
    with pytest.raises(ValueError):
        threshold_for_sensitivity(np.zeros(3), np.ones(3))


def test_ece_zero_when_calibrated_and_large_when_not() -> None:
    p = np.r_[np.full(100, 0.25), np.full(100, 0.75)]
    y = np.r_[np.r_[np.ones(25), np.zeros(75)], np.r_[np.ones(75), np.zeros(25)]]
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(np.zeros(10), np.full(10, 0.95)) == pytest.approx(0.95)


def _head(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    hu = np.full((size, size), -1000.0)
    hu[r < 28] = 1200.0  # skull
    hu[r < 24] = 35.0  # brain
    return hu


def test_dilation_and_intracranial_mask() -> None:
    m = np.zeros((21, 21), bool)
    m[10, 10] = True
    d = dilate_mask_mm(m, (1.0, 1.0), radius_mm=2.0)
    assert d.sum() == 13  # a disc of radius 2 pixels
    d_half = dilate_mask_mm(m, (0.5, 1.0), radius_mm=2.0)
    assert d_half[6, 10] and not d_half[10, 7]  # 4 rows but only 2 columns away
    hu = _head()
    inside = intracranial_mask(hu)
    assert inside[32, 32] and not inside[0, 0] and not inside[32, 32 + 26]


def test_cam_scores_and_baseline() -> None:
    hu = _head()
    mask = np.zeros_like(hu, bool)
    mask[20:26, 20:26] = True
    hu[mask] = 70.0  # a bleed
    hu[40:44, 40:44] = 60.0  # a blood-like mimic outside the mask
    hu[2:6, 2:6] = 70.0  # 70 HU outside the skull: not in the baseline
    base = baseline_blood_heatmap(hu)
    assert base[22, 22] == 1 and base[41, 41] == 1 and base[3, 3] == 0
    assert cam_mass_inside(base, mask) == pytest.approx(36 / 52)
    cam = np.zeros_like(hu)
    cam[22, 22] = 1.0
    cam[41, 41] = 0.25
    assert cam_mass_inside(cam, mask) == pytest.approx(0.8)
    assert pointing_game_hit(cam, mask)
    assert not pointing_game_hit(np.zeros_like(cam), mask)
    assert box_average(np.ones((5, 5)), (1, 1))[2, 2] == pytest.approx(1.0)
    scores = cam_localisation([cam, np.zeros_like(cam)], [mask, mask], [hu, hu], [(1.0, 1.0)] * 2)
    assert scores.n_slices == 2
    assert scores.mass_inside == pytest.approx(0.4)  # (0.8 + 0) / 2: an empty CAM scores zero
    assert scores.pointing_hit_rate == pytest.approx(0.5)
    assert scores.baseline_pointing_hit_rate == pytest.approx(1.0)
    assert scores.baseline_mass_inside == pytest.approx(36 / 52)  # the mimic stays outside the dilated mask
