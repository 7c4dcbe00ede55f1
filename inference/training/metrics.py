"""Metrics of the hemorrhage model, numpy only: as RSNA 2019 scored it, plus calibration and CAMs.

- `roc_auc`: area under the ROC curve (Mann-Whitney with ties counted half).
- `weighted_log_loss`: the RSNA 2019 metric, weight 2 for `any` and 1 for each subtype, with
  probabilities clipped to [1e-7, 1 - 1e-7]; per image the weighted mean over the six labels,
  then the mean over images.
- `sensitivity_specificity`, `threshold_for_sensitivity` (the operating threshold: the highest
  threshold whose sensitivity on `any` is at least the target).
- `expected_calibration_error`: equal-width bins, weighted by bin size.
- CAM localisation on slices with a ground-truth mask: `cam_mass_inside`, `pointing_game_hit`,
  `dilate_mask_mm`, and the baseline heatmap `baseline_blood_heatmap` ("pixels between 50 and
  90 HU inside the skull", with `inference.skull.intracranial_mask`, the engine's own definition).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from inference.labels import LABELS, LOSS_WEIGHTS
from inference.skull import intracranial_mask

EPS = 1e-7


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of `score` for binary `y_true`; NaN when only one class is present."""
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    ranks = np.empty(s.size, dtype=np.float64)
    # Average ranks over ties (1-based).
    i = 0
    while i < s.size:
        j = i
        while j + 1 < s.size and s_sorted[j + 1] == s_sorted[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def weighted_log_loss(
    y_true: np.ndarray,
    prob: np.ndarray,
    *,
    weights: Mapping[str, float] = LOSS_WEIGHTS,
    labels: Sequence[str] = LABELS,
) -> float:
    """RSNA 2019 weighted multi-label log loss of (n, 6) labels and probabilities."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(prob, dtype=np.float64), EPS, 1.0 - EPS)
    w = np.array([weights[name] for name in labels], dtype=np.float64)
    bce = -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
    return float(np.mean((bce * w[None, :]).sum(axis=1) / w.sum()))


def per_label_log_loss(y_true: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Unweighted binary log loss per column of (n, k) labels and probabilities."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.clip(np.asarray(prob, dtype=np.float64), EPS, 1.0 - EPS)
    return np.mean(-(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)), axis=0)


def sensitivity_specificity(y_true: np.ndarray, prob: np.ndarray, threshold: float) -> tuple[float, float]:
    """(sensitivity, specificity) of `prob >= threshold`; NaN for a class that is absent."""
    y = np.asarray(y_true).astype(bool).ravel()
    pred = np.asarray(prob, dtype=np.float64).ravel() >= threshold
    n_pos = int(y.sum())
    n_neg = int((~y).sum())
    sens = float((pred & y).sum() / n_pos) if n_pos else float("nan")
    spec = float((~pred & ~y).sum() / n_neg) if n_neg else float("nan")
    return sens, spec


def threshold_for_sensitivity(y_true: np.ndarray, prob: np.ndarray, *, target: float = 0.95) -> float:
    """The highest threshold t such that sensitivity of `prob >= t` is at least `target`.

    That is the k-th highest positive score with k = ceil(target * n_positives); ties below it are
    included by `>=`. Raises ValueError without positives.
    """
    y = np.asarray(y_true).astype(bool).ravel()
    p = np.asarray(prob, dtype=np.float64).ravel()
    pos = np.sort(p[y])[::-1]
    if pos.size == 0:
        raise ValueError("no positive slices: cannot choose a threshold for sensitivity")
    k = int(np.ceil(target * pos.size - 1e-9))
    k = min(max(k, 1), pos.size)
    return float(pos[k - 1])


def expected_calibration_error(y_true: np.ndarray, prob: np.ndarray, *, n_bins: int = 10) -> float:
    """ECE with `n_bins` equal-width bins on [0, 1], weighted by the share of samples per bin."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(prob, dtype=np.float64).ravel()
    if p.size == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            ece += sel.mean() * abs(p[sel].mean() - y[sel].mean())
    return float(ece)


# ---------------------------------------------------------------------------------------- CAMs


def dilate_mask_mm(mask: np.ndarray, pixel_spacing_mm: tuple[float, float], *, radius_mm: float) -> np.ndarray:
    """Binary dilation of a 2-D mask by a disc of `radius_mm` (elliptical in pixels)."""
    m = np.asarray(mask, dtype=bool)
    ry = int(np.floor(radius_mm / pixel_spacing_mm[0]))
    rx = int(np.floor(radius_mm / pixel_spacing_mm[1]))
    if (ry == 0 and rx == 0) or not m.any():
        return m.copy()
    out = m.copy()
    h, w = m.shape
    for dy in range(-ry, ry + 1):
        for dx in range(-rx, rx + 1):
            if (dy * pixel_spacing_mm[0]) ** 2 + (dx * pixel_spacing_mm[1]) ** 2 > radius_mm**2 + 1e-9:
                continue
            ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
            xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
            out[yd, xd] |= m[ys, xs]
    return out


def cam_mass_inside(cam: np.ndarray, region: np.ndarray) -> float:
    """Fraction of the (non-negative) heatmap mass inside `region`; NaN for an all-zero map."""
    c = np.clip(np.asarray(cam, dtype=np.float64), 0.0, None)
    total = c.sum()
    if total <= 0:
        return float("nan")
    return float(c[np.asarray(region, dtype=bool)].sum() / total)


def pointing_game_hit(cam: np.ndarray, region: np.ndarray) -> bool:
    """Whether the heatmap's maximum lies inside `region` (False for an all-zero map)."""
    c = np.asarray(cam, dtype=np.float64)
    if not np.any(c > 0):
        return False
    r, col = np.unravel_index(int(np.argmax(c)), c.shape)
    return bool(np.asarray(region, dtype=bool)[r, col])


def box_average(image: np.ndarray, radius_px: tuple[int, int]) -> np.ndarray:
    """Mean over a (2*ry+1, 2*rx+1) box around each pixel (edges padded with zeros)."""
    ry, rx = radius_px
    a = np.pad(np.asarray(image, dtype=np.float64), ((ry + 1, ry), (rx + 1, rx)))
    c = a.cumsum(axis=0).cumsum(axis=1)
    h, w = np.asarray(image).shape
    ky, kx = 2 * ry + 1, 2 * rx + 1
    s = c[ky:ky + h, kx:kx + w] - c[:h, kx:kx + w] - c[ky:ky + h, :w] + c[:h, :w]
    return s / (ky * kx)


def baseline_blood_heatmap(hu: np.ndarray, *, low_hu: float = 50.0, high_hu: float = 90.0) -> np.ndarray:
    """The baseline heatmap: 1 where 50 <= HU <= 90 inside the skull, else 0 (float32)."""
    h = np.asarray(hu, dtype=np.float32)
    return (((h >= low_hu) & (h <= high_hu)) & intracranial_mask(h)).astype(np.float32)


@dataclass(frozen=True)
class CamScores:
    """Mean CAM localisation scores over positive slices, next to the HU baseline."""

    n_slices: int
    mass_inside: float  # mean fraction of heatmap mass inside the dilated mask
    pointing_hit_rate: float
    baseline_mass_inside: float
    baseline_pointing_hit_rate: float


def cam_localisation(
    cams: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    hus: Sequence[np.ndarray],
    pixel_spacing_mm: Sequence[tuple[float, float]],
    *,
    dilate_mm: float = 2.0,
) -> CamScores:
    """Localisation of `cams` against ground-truth `masks` dilated by `dilate_mm`, each slice with
    its HU image (same grid) for the baseline heatmap. A slice whose CAM is all zero scores 0 mass
    and a miss (a model that shows nothing has not localised anything)."""
    mass, hit, bmass, bhit = [], [], [], []
    for cam, mask, hu, sp in zip(cams, masks, hus, pixel_spacing_mm, strict=True):
        region = dilate_mask_mm(mask, sp, radius_mm=dilate_mm)
        m = cam_mass_inside(cam, region)
        mass.append(0.0 if np.isnan(m) else m)
        hit.append(pointing_game_hit(cam, region))
        base = baseline_blood_heatmap(hu)
        bm = cam_mass_inside(base, region)
        bmass.append(0.0 if np.isnan(bm) else bm)
        # A binary map has no single maximum: point at its densest spot (5 mm box average).
        radius_px = (max(1, round(2.5 / sp[0])), max(1, round(2.5 / sp[1])))
        bhit.append(pointing_game_hit(box_average(base, radius_px), region))
    n = len(mass)

    def _mean(v: list) -> float:
        return float(np.mean(v)) if v else float("nan")

    return CamScores(n, _mean(mass), _mean(hit), _mean(bmass), _mean(bhit))
