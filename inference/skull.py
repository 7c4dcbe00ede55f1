"""Which pixels lie inside the skull: one definition for the heatmap gate and the localisation metrics.

A pixel is inside the cranial cavity of its slice when
1. it lies between bone pixels along its row and along its column (a fast convex-ish bracket), and
2. it cannot be reached from the image border without crossing bone (bone dilated by
   `close_px` pixels first, so a partial-volume gap in a thin skull does not open the cavity).
The bracket alone let soft tissue at the skull base through (temporal fossa, masticator space: it
lies between the zygoma and the skull along rows and columns, yet it is outside the skull); the
reachability test removes every region that connects to the outside around the bone on that slice.
Where the skull is open on a slice (foramen magnum level, a craniectomy), the cavity there is
empty: the heatmap then shows nothing rather than something outside the head.
Pure numpy, a few milliseconds per 128 x 128 model-grid slice.
"""
from __future__ import annotations

import numpy as np

__all__ = ["intracranial_mask", "reachable_from_border"]


def _bracket(bone: np.ndarray) -> np.ndarray:
    h, w = bone.shape
    idx_c = np.arange(w)[None, :]
    idx_r = np.arange(h)[:, None]
    any_r = bone.any(axis=1, keepdims=True)
    first_c = np.where(any_r, np.argmax(bone, axis=1)[:, None], w)
    last_c = np.where(any_r, w - 1 - np.argmax(bone[:, ::-1], axis=1)[:, None], -1)
    any_c = bone.any(axis=0, keepdims=True)
    first_r = np.where(any_c, np.argmax(bone, axis=0)[None, :], h)
    last_r = np.where(any_c, h - 1 - np.argmax(bone[::-1, :], axis=0)[None, :], -1)
    return (idx_c > first_c) & (idx_c < last_c) & (idx_r > first_r) & (idx_r < last_r)


def _runs_touching(free: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Pixels of `free` whose row-run of free pixels contains a `seed` pixel."""
    h, w = free.shape
    # A run id: the row, and how many blocked pixels precede it in the row.
    ids = np.cumsum(~free, axis=1) + (np.arange(h)[:, None] * (w + 1))
    hit = np.zeros(h * (w + 1) + w + 2, dtype=bool)
    hit[ids[seed & free]] = True
    return hit[ids] & free


def reachable_from_border(blocked: np.ndarray, *, max_rounds: int = 64) -> np.ndarray:
    """Pixels not `blocked` that connect to the image border through unblocked pixels (4-neighbour),
    by alternating whole row-runs and column-runs until nothing changes."""
    free = ~np.asarray(blocked, dtype=bool)
    reach = np.zeros_like(free)
    reach[0, :] = free[0, :]
    reach[-1, :] = free[-1, :]
    reach[:, 0] |= free[:, 0]
    reach[:, -1] |= free[:, -1]
    for _ in range(max_rounds):
        before = int(reach.sum())
        reach = _runs_touching(free, reach)
        reach = _runs_touching(free.T, reach.T).T
        if int(reach.sum()) == before:
            break
    return reach


def _dilate(mask: np.ndarray, px: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(px):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def intracranial_mask(hu: np.ndarray, *, bone_hu: float = 300.0, close_px: int = 1) -> np.ndarray:
    """Pixels inside the cranial cavity of one slice (see the module docstring); never bone."""
    bone = np.asarray(hu) >= bone_hu
    if not bone.any():
        return np.zeros(bone.shape, dtype=bool)
    sealed = _dilate(bone, close_px) if close_px > 0 else bone
    outside = reachable_from_border(sealed)
    core = _bracket(bone) & ~sealed & ~outside
    if close_px <= 0:
        return core
    # The dilation's rim next to the inner table belongs to the cavity when it touches the cavity's
    # core and not the outside.
    rim = _dilate(core, close_px) & ~bone & ~_dilate(outside, close_px)
    return core | rim
