"""A simple analytic head (ellipsoids) sampled at patient (LPS) points: fast, asymmetric on purpose.

Used where geometry matters more than realism (loader orientation tests). It has a dense marker in
the left frontal lobe and a head that narrows towards the vertex, so any flip or transpose of an
array is visible. Realistic anatomy lives in `anatomy.py` with the same sampling interface.
"""
from __future__ import annotations

import numpy as np

# Head centre (LPS mm) and semi-axes; z = 0 near the skull base, the vertex near z = +95.
HEAD_CENTER_MM = np.array([0.0, 5.0, 30.0])
HEAD_SEMI_AXES_MM = np.array([72.0, 92.0, 70.0])
LEFT_FRONTAL_MARKER_MM = np.array([30.0, -45.0, 45.0])  # +x is the patient's left, -y anterior


def _ellipsoid_r(p: np.ndarray, center: np.ndarray, axes: np.ndarray) -> np.ndarray:
    d = (p - center) / axes
    return np.sqrt(np.sum(d * d, axis=-1))


def simple_head_hu(points_mm: np.ndarray) -> np.ndarray:
    """HU (float32, noise-free) of the simple phantom at `points_mm` (..., 3) in LPS mm."""
    p = np.asarray(points_mm, dtype=np.float32)
    # Narrow towards the vertex: scale x/y axes down above the centre.
    z_rel = np.clip((p[..., 2] - HEAD_CENTER_MM[2]) / HEAD_SEMI_AXES_MM[2], -1.0, 1.0)
    taper = 1.0 - 0.15 * np.clip(z_rel, 0.0, 1.0)
    q = p.copy()
    q[..., 0] = (p[..., 0] - HEAD_CENTER_MM[0]) / taper
    q[..., 1] = (p[..., 1] - HEAD_CENTER_MM[1]) / taper
    q[..., 2] = p[..., 2] - HEAD_CENTER_MM[2]
    r = _ellipsoid_r(q, np.zeros(3, np.float32), HEAD_SEMI_AXES_MM.astype(np.float32))
    hu = np.full(p.shape[:-1], -1000.0, dtype=np.float32)
    scale = float(HEAD_SEMI_AXES_MM.mean())
    depth_mm = (1.0 - r) * scale  # approximate depth below the skin
    hu[depth_mm > 0] = 20.0  # scalp
    hu[depth_mm > 4] = 1100.0  # skull
    hu[depth_mm > 11] = 35.0  # brain
    # Lateral ventricles: two ellipsoids either side of the midline.
    for x in (-9.0, 9.0):
        rv = _ellipsoid_r(p, np.array([x, 5.0, 45.0], np.float32), np.array([6.0, 25.0, 12.0], np.float32))
        hu[(rv < 1.0) & (depth_mm > 11)] = 7.0
    marker = _ellipsoid_r(p, LEFT_FRONTAL_MARKER_MM.astype(np.float32), np.full(3, 8.0, np.float32))
    hu[marker < 1.0] = 300.0
    return hu
