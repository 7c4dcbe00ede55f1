"""Canonical display orientation: flips / transposes of the in-plane axes, never a resampling.

The canonical layout is documented in viewer/core/volume.py. In LPS patient coordinates (+x to the
patient's left, +y posterior, +z superior) the canonical axes are:

| orientation | +c (columns)          | +r (rows)              | +k (slices)            |
| ----------- | --------------------- | ---------------------- | ---------------------- |
| axial       | +x (right -> left)    | +y (anterior -> post.) | +z (inferior -> sup.)  |
| coronal     | +x (right -> left)    | -z (superior -> inf.)  | +y (anterior -> post.) |
| sagittal    | +y (anterior -> post.)| -z (superior -> inf.)  | +x (right -> left)     |

The orientation of a stack is the LPS axis its slice normal lies closest to; a normal more than
`OBLIQUE_DEG` away from every axis is labelled "oblique" (and still laid out by that closest axis).
Gantry-tilted head CT (up to ~30 deg) stays "axial". The stored axes (IOP row vector = +c stored,
IOP column vector = +r stored) are matched to the canonical ones by largest alignment, transposed
when the stored columns run closer to the canonical rows, and flipped where they point against them.

The slice axis: `Stack.slices` arrive ordered along the normal in canonical order (inferior ->
superior for axial, etc.; see series.py / geometry.py); `direction[:, 2]` is the unit slice normal
signed to point from slice 0 to the last slice (from the positions; by the canonical axis for a single
slice), so `origin + k * spacing_k * direction[:, 2]` is slice k's position projected on the normal.
For a tilted stack the true slice-to-slice step is sheared against the normal; the positions along
the normal are what `Volume.positions_mm` and `spacing_mm[0]` measure.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

OBLIQUE_DEG = 35.0

_X, _Y, _Z = np.eye(3)
# orientation -> (canonical +c, canonical +r, canonical +k) in LPS
CANONICAL_AXES: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
    "axial": (_X, _Y, _Z),
    "coronal": (_X, -_Z, _Y),
    "sagittal": (_Y, -_Z, _X),
}
_BY_NORMAL_AXIS = ("sagittal", "coronal", "axial")  # normal mostly along x, y, z


@dataclass(frozen=True)
class InPlaneTransform:
    """How a stored (rows, cols) image becomes canonical: transpose first, then flips."""

    transpose: bool = False
    flip_rows: bool = False  # after the transpose
    flip_cols: bool = False

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Canonical view (no copy) of `image` (..., rows, cols) in stored layout."""
        a = np.swapaxes(image, -1, -2) if self.transpose else image
        if self.flip_rows:
            a = a[..., ::-1, :]
        if self.flip_cols:
            a = a[..., :, ::-1]
        return a

    def canonical_shape(self, rows: int, cols: int) -> tuple[int, int]:
        return (cols, rows) if self.transpose else (rows, cols)


@dataclass(frozen=True)
class CanonicalGeometry:
    """Where a stack lands in the canonical orientation."""

    orientation: str  # "axial", "coronal", "sagittal" or "oblique"
    transform: InPlaneTransform
    shape: tuple[int, int]  # canonical (rows, cols)
    pixel_spacing_mm: tuple[float, float]  # canonical (between rows, between columns)
    direction: np.ndarray  # 3x3, columns = LPS unit vectors of +c, +r, +k (canonical)
    origin_mm: tuple[float, float, float]  # LPS position of canonical voxel [0, 0, 0]


def classify_orientation(normal: Sequence[float], *, oblique_deg: float = OBLIQUE_DEG) -> tuple[str, str]:
    """(label, layout): the label may be "oblique"; the layout is the closest of the three planes."""
    n = np.abs(np.asarray(normal, dtype=float))
    n = n / max(np.linalg.norm(n), 1e-12)
    axis = int(np.argmax(n))
    layout = _BY_NORMAL_AXIS[axis]
    angle = float(np.degrees(np.arccos(np.clip(n[axis], -1.0, 1.0))))
    return ("oblique" if angle > oblique_deg else layout), layout


def canonical_geometry(
    *,
    iop: Sequence[float] | None,
    first_position_mm: Sequence[float] | None,
    last_position_mm: Sequence[float] | None,
    rows: int,
    cols: int,
    pixel_spacing_mm: tuple[float, float] | None,
) -> CanonicalGeometry:
    """The canonical layout of a stack whose slices share `iop` (None: stored layout, identity).

    `first_position_mm` / `last_position_mm`: ImagePositionPatient of slice 0 and of the last slice
    (in the stack's order). `pixel_spacing_mm`: stored (between rows, between columns).
    """
    spacing = tuple(float(s) for s in (pixel_spacing_mm or (1.0, 1.0)))
    if iop is None:
        identity = InPlaneTransform()
        origin = tuple(float(v) for v in (first_position_mm or (0.0, 0.0, 0.0)))
        return CanonicalGeometry("axial", identity, (rows, cols), (spacing[0], spacing[1]), np.eye(3), origin)  # type: ignore[arg-type]
    u = np.asarray(iop[:3], dtype=float)  # stored +c
    v = np.asarray(iop[3:6], dtype=float)  # stored +r
    u /= np.linalg.norm(u)
    v /= np.linalg.norm(v)
    normal = np.cross(u, v)
    normal /= np.linalg.norm(normal)
    label, layout = classify_orientation(normal)
    can_c, can_r, can_k = CANONICAL_AXES[layout]

    # Match stored axes to canonical ones: keep or transpose, whichever aligns better.
    keep = abs(u @ can_c) + abs(v @ can_r)
    swap = abs(v @ can_c) + abs(u @ can_r)
    transpose = swap > keep
    new_c, new_r = (v, u) if transpose else (u, v)
    flip_cols = bool(new_c @ can_c < 0)
    flip_rows = bool(new_r @ can_r < 0)
    transform = InPlaneTransform(transpose=bool(transpose), flip_rows=flip_rows, flip_cols=flip_cols)
    dir_c = -new_c if flip_cols else new_c
    dir_r = -new_r if flip_rows else new_r

    # Slice axis: the normal, signed from slice 0 towards the last slice.
    k_dir = normal.copy()
    if first_position_mm is not None and last_position_mm is not None:
        step = np.asarray(last_position_mm, dtype=float) - np.asarray(first_position_mm, dtype=float)
        along = float(step @ normal)
        if abs(along) > 1e-6:
            k_dir = normal if along > 0 else -normal
        elif normal @ can_k < 0:
            k_dir = -normal
    elif normal @ can_k < 0:
        k_dir = -normal

    # Stored spacing: (between rows, between columns). Stored extents along +c and +r:
    space_r, space_c = spacing
    if transpose:
        can_spacing = (space_c, space_r)
        can_rows, can_cols = cols, rows
    else:
        can_spacing = (space_r, space_c)
        can_rows, can_cols = rows, cols
    # Canonical voxel [0,0,0] is stored pixel (row, col) of slice 0:
    ipp = np.asarray(first_position_mm if first_position_mm is not None else (0.0, 0.0, 0.0), dtype=float)
    # in canonical index space the first pixel is at the far end of each flipped axis
    far_c = (can_cols - 1) * can_spacing[1] if flip_cols else 0.0
    far_r = (can_rows - 1) * can_spacing[0] if flip_rows else 0.0
    origin = ipp + far_c * new_c + far_r * new_r
    direction = np.column_stack([dir_c, dir_r, k_dir])
    return CanonicalGeometry(
        orientation=label,
        transform=transform,
        shape=(can_rows, can_cols),
        pixel_spacing_mm=(float(can_spacing[0]), float(can_spacing[1])),
        direction=direction,
        origin_mm=(float(origin[0]), float(origin[1]), float(origin[2])),
    )
