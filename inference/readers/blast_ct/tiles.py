"""Where BLAST-CT runs on the 1 mm grid: the skull-enclosed region, cut into large aligned tiles.

* **Head region.** On each axial plane of the grid, the voxels with bone (> 300 HU) on all four
  sides along the row and the column (what the skull encloses: brain, CSF, blood, sinuses),
  dilated by `MARGIN_MM` in 3D. Blood classes live inside the skull, so voxels outside this region
  are read as background without running the network there. When the planes enclose less than
  `MIN_ENCLOSED_ML` (no closed skull ring: a craniectomy, a partial scan), the region falls back to
  all tissue (> -300 HU), dilated likewise.
* **Blocks.** The grid is cut into 15^3-voxel blocks from voxel [0, 0, 0] (the network's
  lattice, `network.LATTICE_VOXELS`); a block is needed when it touches the region.
* **Tiles.** Blocks are grouped `group` x `group` along z and y; in each group the bounding box of
  its needed blocks is one tile (full x extent of the needed blocks). Every tile's output origin
  is on the 15-voxel lattice, so its labels equal those of the package's 30^3 tiling (whose
  origins are multiples of 30 from the same voxel [0, 0, 0]).
* **Inputs.** Each tile reads 40 voxels of context on every side; beyond the grid the border
  voxel is repeated (the package's `np.pad(mode="edge")` of its patches).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.readers.blast_ct.network import CONTEXT_VOXELS, LATTICE_VOXELS

__all__ = ["Tile", "head_region", "plan_tiles", "input_box", "tile_input", "window", "BONE_HU", "MARGIN_MM"]

BONE_HU = 300.0
TISSUE_HU = -300.0
MARGIN_MM = 2
MIN_ENCLOSED_ML = 50.0


@dataclass(frozen=True)
class Tile:
    """An output block of the grid: origin (z, y, x) on the 15-voxel lattice and size (multiples of 15)."""

    origin: tuple[int, int, int]
    size: tuple[int, int, int]

    @property
    def n_voxels(self) -> int:
        return int(np.prod(self.size))


def window(hu_iso: np.ndarray, lower_hu: float = -15.0, upper_hu: float = 100.0) -> np.ndarray:
    """The package's IntensityWindowNormalization: clip to [lower, upper], map to [-1, 1] (float32)."""
    x = np.clip(hu_iso, lower_hu, upper_hu)
    return ((2.0 * x - lower_hu - upper_hu) / (upper_hu - lower_hu)).astype(np.float32)


def _enclosed(bone: np.ndarray) -> np.ndarray:
    """Per plane (axis 0): non-bone voxels with bone on all four sides along axes 1 and 2."""
    left = np.maximum.accumulate(bone, axis=2)
    right = np.maximum.accumulate(bone[:, :, ::-1], axis=2)[:, :, ::-1]
    out = left & right
    del left, right
    up = np.maximum.accumulate(bone, axis=1)
    out &= up
    del up
    out &= np.maximum.accumulate(bone[:, ::-1], axis=1)[:, ::-1]
    out &= ~bone
    return out


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Box dilation by r voxels on each side (separable running max)."""
    out = mask
    for axis in range(3):
        n = out.shape[axis]
        c = np.concatenate(
            [np.zeros_like(np.take(out, [0], axis=axis)), np.cumsum(out, axis=axis, dtype=np.int32)], axis=axis
        )
        hi = np.clip(np.arange(n) + r + 1, 0, n)
        lo = np.clip(np.arange(n) - r, 0, n)
        out = (np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)) > 0
    return out


def head_region(hu_iso: np.ndarray, resolution_mm: float = 1.0) -> tuple[np.ndarray, bool]:
    """(region mask (z, y, x), whether a skull enclosure was found) on the 1 mm grid."""
    enclosed = _enclosed(hu_iso > BONE_HU)
    found = float(enclosed.sum()) * resolution_mm**3 / 1000.0 >= MIN_ENCLOSED_ML
    base = enclosed if found else hu_iso > TISSUE_HU
    return _dilate(base, int(round(MARGIN_MM / resolution_mm))), found


def plan_tiles(region: np.ndarray, group: int = 3) -> list[Tile]:
    """Lattice-aligned tiles covering every 15^3 block of the grid that touches `region`."""
    b = LATTICE_VOXELS
    shape = region.shape
    nb = tuple(-(-s // b) for s in shape)
    padded = np.zeros(tuple(n * b for n in nb), bool)
    padded[: shape[0], : shape[1], : shape[2]] = region
    need = padded.reshape(nb[0], b, nb[1], b, nb[2], b).any(axis=(1, 3, 5))
    tiles = []
    for z0 in range(0, nb[0], group):
        for y0 in range(0, nb[1], group):
            sub = need[z0 : z0 + group, y0 : y0 + group]
            if not sub.any():
                continue
            zz, yy, xx = np.nonzero(sub)
            lo = (z0 + zz.min(), y0 + yy.min(), xx.min())
            hi = (z0 + zz.max() + 1, y0 + yy.max() + 1, xx.max() + 1)
            tiles.append(Tile(tuple(int(v) * b for v in lo), tuple(int(h - l) * b for l, h in zip(lo, hi))))
    return tiles


def input_box(tiles: list[Tile], grid_shape: tuple[int, int, int]) -> tuple[tuple[int, int], ...]:
    """Per axis, the [lo, hi) range of grid voxels that the tiles' inputs read (context included,
    clipped to the grid): only this part of the grid needs windowing and keeping."""
    box = []
    for a, n in enumerate(grid_shape):
        lo = min(t.origin[a] for t in tiles) - CONTEXT_VOXELS
        hi = max(t.origin[a] + t.size[a] for t in tiles) + CONTEXT_VOXELS
        box.append((max(0, lo), min(n, hi)))
    return tuple(box)


def tile_input(
    image: np.ndarray,
    tile: Tile,
    grid_shape: tuple[int, int, int] | None = None,
    box_lo: tuple[int, int, int] = (0, 0, 0),
) -> np.ndarray:
    """The tile's network input (size + 80 per axis), border-repeated at the grid's edges.

    `image` may be the part of the grid starting at `box_lo` (see `input_box`) of a grid of
    `grid_shape` (default: `image` is the whole grid)."""
    shape = grid_shape or image.shape
    idx = [
        np.clip(np.arange(o - CONTEXT_VOXELS, o + s + CONTEXT_VOXELS), 0, n - 1) - lo
        for o, s, n, lo in zip(tile.origin, tile.size, shape, box_lo)
    ]
    return image[np.ix_(*idx)]
