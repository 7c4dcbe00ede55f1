"""Model-grid training samples from a volume, made by the engine's own `make_inputs`.

Every data source (synthetic studies, lesions inserted into real backgrounds, RSNA 2019 series,
the held-out set, the real GE check) turns into samples here and nowhere else, so training sees
exactly what inference sees. Inputs are stored as uint8 (the windows map to [0, 1]; 1/255 of the
brain window is 0.3 HU), ground-truth masks are resampled onto the model grid with the same
affine `make_inputs` returns.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inference.labels import LABELS
from inference.preprocess import PreprocessConfig, make_inputs


@dataclass(frozen=True, eq=False)
class Samples:
    """A batch of model-grid samples (one per target slice)."""

    x: np.ndarray  # (n, C, H, W) uint8: make_inputs output * 255, rounded
    y: np.ndarray  # (n, 6) float32 in LABELS order (soft labels allowed: partial-volume edges)
    mask: np.ndarray  # (n, H, W) bool, ground-truth bleed on the model grid (all False if unknown)
    group: np.ndarray  # (n,) int32: which source study / series each sample came from

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @staticmethod
    def concat(parts: Sequence[Samples]) -> Samples:
        """All parts one after another."""
        return Samples(
            np.concatenate([p.x for p in parts]),
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.mask for p in parts]),
            np.concatenate([p.group for p in parts]),
        )

    @staticmethod
    def empty(config: PreprocessConfig) -> Samples:
        s = config.image_size
        return Samples(
            np.zeros((0, config.n_channels, s, s), np.uint8),
            np.zeros((0, len(LABELS)), np.float32),
            np.zeros((0, s, s), bool),
            np.zeros((0,), np.int32),
        )


def to_uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] float inputs -> uint8."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def from_uint8(x: np.ndarray) -> np.ndarray:
    """uint8 inputs -> float32 in [0, 1]."""
    return np.asarray(x, dtype=np.float32) / 255.0


def mask_to_model_grid(mask: np.ndarray, to_image: np.ndarray, size: int) -> np.ndarray:
    """Resample a source-grid mask (rows, cols) onto the model grid (size, size) (bilinear, >= 0.5).

    `to_image` maps model pixel [y, x, 1] to source [row, col] (from `PreparedInputs.to_image`).
    """
    m = np.asarray(mask, dtype=np.float32)
    rows, cols = m.shape
    a = np.asarray(to_image, dtype=np.float64)
    g = np.arange(size, dtype=np.float64)
    r = a[0, 0] * g + a[0, 2]  # axis-aligned affine: row depends on y only, col on x only
    c = a[1, 1] * g + a[1, 2]

    def _axis(coords: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        inside = (coords >= -0.5) & (coords <= n - 0.5)
        cc = np.clip(coords, 0, n - 1)
        i0 = np.floor(cc).astype(np.int64)
        i1 = np.minimum(i0 + 1, n - 1)
        return i0, i1, (cc - i0).astype(np.float32), inside

    r0, r1, fr, ir = _axis(r, rows)
    c0, c1, fc, ic = _axis(c, cols)
    top = m[r0][:, c0] * (1 - fc)[None, :] + m[r0][:, c1] * fc[None, :]
    bot = m[r1][:, c0] * (1 - fc)[None, :] + m[r1][:, c1] * fc[None, :]
    out = top * (1 - fr)[:, None] + bot * fr[:, None]
    return (out >= 0.5) & ir[:, None] & ic[None, :]


def samples_from_volume(
    hu: np.ndarray,
    positions_mm: Sequence[float],
    pixel_spacing_mm: tuple[float, float],
    config: PreprocessConfig,
    *,
    indices: Sequence[int],
    labels: np.ndarray,
    masks: np.ndarray | None = None,
    group: int = 0,
) -> Samples:
    """Samples for the target slices `indices` of a canonical volume.

    `labels`: (len(indices), 6) per target; `masks`: (len(indices), rows, cols) bleed masks on the
    source grid of those targets, or None.
    """
    idx = [int(i) for i in indices]
    if not idx:
        return Samples.empty(config)
    prepared = make_inputs(hu, positions_mm, pixel_spacing_mm, config, indices=idx)
    size = config.image_size
    grid_masks = np.zeros((len(idx), size, size), bool)
    if masks is not None:
        for i in range(len(idx)):
            if np.any(masks[i]):
                grid_masks[i] = mask_to_model_grid(masks[i], prepared.to_image[i], size)
    y = np.asarray(labels, dtype=np.float32).reshape(len(idx), len(LABELS))
    return Samples(to_uint8(prepared.x), y, grid_masks, np.full(len(idx), group, np.int32))


def hu_from_inputs(x: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Approximate HU of the target slab on the model grid, inverted from its window channels.

    `x` is (C, H, W) in [0, 1] (or uint8). Each pixel takes the narrowest window in which it is
    not clipped (brain, then subdural, then bone), so 50-90 HU is recovered to ~0.3 HU.
    """
    import torch

    from inference.gradcam import target_hu

    xf = from_uint8(x) if np.asarray(x).dtype == np.uint8 else np.asarray(x, dtype=np.float32)
    return target_hu(torch.from_numpy(np.ascontiguousarray(xf))[None], config)[0].numpy().astype(np.float32)
