"""Which pixels lie inside the skull: one definition for the heatmap gate and the localisation metrics."""
from __future__ import annotations

import numpy as np

__all__ = ["intracranial_mask"]


def intracranial_mask(hu: np.ndarray, *, bone_hu: float = 300.0) -> np.ndarray:
    """Pixels inside the skull of one slice: between bone pixels along both the row and the column,
    and not bone themselves (a fast convex-ish stand-in for hole filling)."""
    bone = np.asarray(hu) >= bone_hu
    h, w = bone.shape
    idx_c = np.arange(w)[None, :]
    idx_r = np.arange(h)[:, None]
    any_r = bone.any(axis=1, keepdims=True)
    first_c = np.where(any_r, np.argmax(bone, axis=1)[:, None], w)
    last_c = np.where(any_r, w - 1 - np.argmax(bone[:, ::-1], axis=1)[:, None], -1)
    any_c = bone.any(axis=0, keepdims=True)
    first_r = np.where(any_c, np.argmax(bone, axis=0)[None, :], h)
    last_r = np.where(any_c, h - 1 - np.argmax(bone[::-1, :], axis=0)[None, :], -1)
    inside = (idx_c > first_c) & (idx_c < last_c) & (idx_r > first_r) & (idx_r < last_r)
    return inside & ~bone
