"""A Volume to BLAST-CT's 1 mm working grid and its label map back, in the slice frame.

The working grid is the package's (blast-ct 2.1.0 `nifti/rescale.py`, `nifti/savers.py`), built
from the Volume in memory instead of a NIfTI file:

* **Axes.** The canonical axial layout `hu[k, r, c]` (k inferior -> superior, r anterior ->
  posterior, c right -> left) is already what the package's reorientation makes of an axial scan
  (LPS axes, array order z, y, x), so nothing is permuted or flipped here.
* **Samples.** Voxel [0, 0, 0] is the grid's origin. Along each axis, sample i sits i mm from it,
  and there are `round(extent_mm + 1)` of them (Python's round, as the package), where the extent
  is `(n - 1) * pixel spacing` in-plane and `positions_mm[-1] - positions_mm[0]` across slices.
* **Interpolation.** Trilinear (separable), neighbours clamped at the last index, and a sample
  further than half a voxel beyond the last one (ITK's buffer rule) takes the image minimum, like
  SimpleITK's linear `Resample` with the package's default value. Across slices the source
  position is found from `positions_mm` itself, so uneven spacing and gaps are honoured; with
  even spacing this is exactly the package's index arithmetic. Duplicate positions keep the first
  slice. A single slice gives a one-sample-thick grid (the tiles' edge padding repeats it).
* **Gantry tilt.** The grid is laid in the slice frame (in-plane axes and the slice normal). A
  Volume keeps each slice's position along the normal but not its in-plane shear, so a tilted
  stack is read as if its slices were stacked straight: each slice's anatomy is exact, and the
  head is sheared across slices by tan(tilt) (0.33 mm per mm at 18.5 deg). The package does the
  same with a tilted NIfTI (its reorientation keeps the tilt in the data). Because the grid is the
  slice frame, the labels map back to each slice's own pixels exactly, whatever the tilt.
* **Back to the Volume.** Nearest neighbour (round half up, as ITK), outside the grid 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AxisSampling", "IsoGrid", "make_grid", "resample_hu", "labels_to_volume", "slice_extents_mm"]


@dataclass(frozen=True)
class AxisSampling:
    """Linear interpolation along one axis: target sample i = (1 - frac[i]) * src[lo[i]] + frac[i] * src[hi[i]];
    `inside[i]` False means outside the source (the default value)."""

    lo: np.ndarray
    hi: np.ndarray
    frac: np.ndarray
    inside: np.ndarray

    @property
    def size(self) -> int:
        return int(self.lo.size)


@dataclass(frozen=True)
class IsoGrid:
    """The 1 mm working grid of a Volume: shape (z, y, x) = (slices, rows, cols) directions."""

    shape: tuple[int, int, int]
    resolution_mm: float
    axes: tuple[AxisSampling, AxisSampling, AxisSampling]
    # source coordinate (mm from voxel [0,0,0]) of every Volume slice / row / column
    source_mm: tuple[np.ndarray, np.ndarray, np.ndarray]


def _n_samples(extent_mm: float, resolution_mm: float) -> int:
    return int(round(extent_mm / resolution_mm + 1))


def _regular_axis(n: int, spacing_mm: float, resolution_mm: float) -> AxisSampling:
    m = _n_samples((n - 1) * spacing_mm, resolution_mm)
    cidx = np.arange(m, dtype=np.float64) * resolution_mm / spacing_mm
    lo = np.floor(cidx).astype(np.int64)
    frac = (cidx - lo).astype(np.float32)
    inside = cidx < n - 0.5
    lo_c = np.clip(lo, 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    return AxisSampling(lo_c, hi, frac, inside)


def _position_axis(positions_mm: np.ndarray, resolution_mm: float) -> AxisSampling:
    n = positions_mm.size
    rel = positions_mm - positions_mm[0]
    # Strictly increasing positions (the contract orders them); a duplicate keeps the first slice.
    idx = np.flatnonzero(np.concatenate([[True], np.diff(rel) > 1e-6])) if n > 1 else np.array([0])
    q = rel[idx]
    m = _n_samples(float(q[-1]), resolution_mm)
    z = np.arange(m, dtype=np.float64) * resolution_mm
    if q.size == 1:
        zero = np.zeros(m, np.int64)
        return AxisSampling(zero + idx[0], zero + idx[0], np.zeros(m, np.float32), z < 0.5 * resolution_mm)
    j = np.clip(np.searchsorted(q, z, side="right") - 1, 0, q.size - 1)
    j_hi = np.minimum(j + 1, q.size - 1)
    gap = np.where(j_hi > j, q[j_hi] - q[j], 1.0)
    frac = np.where(j_hi > j, (z - q[j]) / gap, 0.0)
    frac = np.clip(frac, 0.0, 1.0).astype(np.float32)
    last_gap = q[-1] - q[-2]
    inside = z < q[-1] + 0.5 * last_gap
    return AxisSampling(idx[j], idx[j_hi], frac, inside)


def make_grid(volume: object, resolution_mm: float = 1.0) -> IsoGrid:
    """The working grid of a `viewer.core.volume.Volume`."""
    n, rows, cols = np.asarray(volume.hu).shape  # type: ignore[attr-defined]
    _, row_mm, col_mm = (float(v) for v in volume.spacing_mm)  # type: ignore[attr-defined]
    positions = np.asarray(volume.positions_mm, dtype=np.float64)  # type: ignore[attr-defined]
    if positions.size != n:
        raise ValueError(f"{positions.size} slice positions for {n} slices")
    if np.any(np.diff(positions) < -1e-6):
        raise ValueError("slice positions must not decrease (the Volume contract orders them)")
    z_axis = _position_axis(positions, resolution_mm)
    y_axis = _regular_axis(rows, row_mm, resolution_mm)
    x_axis = _regular_axis(cols, col_mm, resolution_mm)
    source = (positions - positions[0], np.arange(rows) * row_mm, np.arange(cols) * col_mm)
    return IsoGrid((z_axis.size, y_axis.size, x_axis.size), resolution_mm, (z_axis, y_axis, x_axis), source)


def _lerp(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> np.ndarray:
    return a + (b - a) * f


def resample_hu(hu: np.ndarray, grid: IsoGrid, default_hu: float | None = None) -> np.ndarray:
    """HU (n, rows, cols) -> float32 (z, y, x) on `grid`; outside samples get `default_hu` (the
    image minimum by default, as the package)."""
    hu = np.asarray(hu)
    default = float(hu.min()) if default_hu is None else float(default_hu)
    za, ya, xa = grid.axes
    used = np.unique(np.concatenate([za.lo[za.inside], za.hi[za.inside]]))
    fy = ya.frac[:, None]
    fx = xa.frac[None, :]
    planes = np.empty((used.size, ya.size, xa.size), np.float32)
    for i, s in enumerate(used):
        src = hu[s]
        rows = _lerp(src[ya.lo].astype(np.float32), src[ya.hi].astype(np.float32), fy)
        planes[i] = _lerp(rows[:, xa.lo], rows[:, xa.hi], fx)
    planes[:, ~ya.inside, :] = default
    planes[:, :, ~xa.inside] = default
    where = np.searchsorted(used, np.where(za.inside, za.lo, used[0]))
    where_hi = np.searchsorted(used, np.where(za.inside, za.hi, used[0]))
    out = np.empty(grid.shape, np.float32)
    for z in range(za.size):
        if not za.inside[z]:
            out[z] = default
        elif za.frac[z] == 0.0 or where[z] == where_hi[z]:
            out[z] = planes[where[z]]
        else:
            out[z] = _lerp(planes[where[z]], planes[where_hi[z]], za.frac[z])
    return out


def _nearest(source_mm: np.ndarray, size: int, resolution_mm: float) -> tuple[np.ndarray, np.ndarray]:
    idx = np.floor(source_mm / resolution_mm + 0.5).astype(np.int64)
    ok = (idx >= 0) & (idx < size)
    return np.clip(idx, 0, size - 1), ok


def labels_to_volume(labels_iso: np.ndarray, grid: IsoGrid) -> np.ndarray:
    """A label map on `grid` -> uint8 (n, rows, cols) on the Volume's grid (nearest neighbour)."""
    (iz, okz), (iy, oky), (ix, okx) = (
        _nearest(src, size, grid.resolution_mm) for src, size in zip(grid.source_mm, grid.shape)
    )
    out = labels_iso[iz][:, iy][:, :, ix].astype(np.uint8, copy=False)
    if not (okz.all() and oky.all() and okx.all()):
        out = out.copy()
        out[~okz] = 0
        out[:, ~oky] = 0
        out[:, :, ~okx] = 0
    return np.ascontiguousarray(out)


def slice_extents_mm(volume: object) -> np.ndarray:
    """Each slice's share of the stack along the normal (mm): half the distance between its
    neighbours' positions, a full gap at either end; a single slice: its slice thickness, else
    spacing_mm[0], else 1 mm."""
    p = np.asarray(volume.positions_mm, dtype=np.float64)  # type: ignore[attr-defined]
    n = p.size
    if n == 1:
        thick = (volume.slice_thickness_mm or (None,))[0]  # type: ignore[attr-defined]
        for cand in (thick, volume.spacing_mm[0], 1.0):  # type: ignore[attr-defined]
            if cand is not None and float(cand) > 0:
                return np.array([float(cand)])
    gaps = np.diff(p)
    ext = np.empty(n)
    ext[1:-1] = (gaps[:-1] + gaps[1:]) / 2.0
    ext[0] = gaps[0]
    ext[-1] = gaps[-1]
    return ext
