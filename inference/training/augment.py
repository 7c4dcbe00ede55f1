"""Training-time augmentation of model inputs (torch tensors on the training device): scanner
calibration offsets and gains, cupping (brightening next to the inner table), flips and noise."""
from __future__ import annotations

import math
from typing import Any


from inference.preprocess import PreprocessConfig

__all__ = ["augment"]


def augment(
    x: Any,
    gen: Any,
    config: PreprocessConfig,
    *,
    hu_offset_max: float = 8.0,
    hu_gain_range: tuple[float, float] = (0.92, 1.12),
    cupping_hu_max: float = 0.0,
) -> Any:
    """On-the-fly augmentation of a float batch (N, C, H, W) on the model grid, seeded by `gen`:
    left-right mirror, rotation +-12 deg, scale 0.9-1.1, shift +-6 px, a global HU gain and offset
    (inside each window), and (5 %) neighbour slabs replaced by the target slab (a single slice or
    the end of a stack, as make_inputs feeds it)."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    u = torch.rand(n, 6, generator=gen)
    flip = u[:, 0] < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
    ang = (u[:, 1] - 0.5) * 2 * math.radians(12.0)
    scale = 0.9 + 0.2 * u[:, 2]
    tx = (u[:, 3] - 0.5) * 2 * 6.0 / (x.shape[-1] / 2)
    ty = (u[:, 4] - 0.5) * 2 * 6.0 / (x.shape[-2] / 2)
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Scanner calibration: HU' = gain * HU + offset on every pixel inside its window (clipped
    # pixels stay clipped). Real brains differ by 5-10 HU between scanners (the real GE check sits
    # ~6 HU above the two training backgrounds).
    widths = torch.tensor([w.width_hu for w in config.windows] * config.n_slabs, dtype=x.dtype).view(1, -1, 1, 1)
    lows = torch.tensor([w.center_hu - w.width_hu / 2 for w in config.windows] * config.n_slabs, dtype=x.dtype).view(1, -1, 1, 1)
    offset_hu = ((torch.rand(n, 1, generator=gen) - 0.5) * 2 * hu_offset_max).view(n, 1, 1, 1)
    g0, g1 = hu_gain_range
    gain = (g0 + (g1 - g0) * torch.rand(n, 1, generator=gen)).view(n, 1, 1, 1)
    hu = lows + x * widths
    extra = offset_hu
    if cupping_hu_max > 0:
        extra = extra + cupping_hu_max * torch.rand(n, 1, 1, 1, generator=gen) * _inner_table_band(x, config)
    x_new = ((gain * hu + extra - lows) / widths).clamp(0.0, 1.0)
    inside = (x > 0.0) & (x < 1.0)
    x = torch.where(inside, x_new, x)
    single = u[:, 5] < 0.05
    if bool(single.any()):
        nw = len(config.windows)
        mid = config.n_slabs // 2
        centre = x[:, mid * nw : (mid + 1) * nw].repeat(1, config.n_slabs, 1, 1)
        x = torch.where(single.view(n, 1, 1, 1), centre, x)
    return x


def _inner_table_band(x: Any, config: PreprocessConfig, *, bone_hu: float = 300.0, steps: int = 4) -> Any:
    """(N, 1, H, W) weight in [0, 1]: 1 on cranial pixels next to the skull, fading over `steps`
    pixels inwards (0 elsewhere), from the bone window of the target slab."""
    import torch
    import torch.nn.functional as F

    nw = len(config.windows)
    mid = config.n_slabs // 2
    widest = max(range(nw), key=lambda w: config.windows[w].width_hu)
    win = config.windows[widest]
    hu = (win.center_hu - win.width_hu / 2) + x[:, mid * nw + widest : mid * nw + widest + 1] * win.width_hu
    bone = (hu > bone_hu).to(x.dtype)
    inside = (
        torch.cummax(bone, dim=3).values * torch.cummax(bone.flip(3), dim=3).values.flip(3)
        * torch.cummax(bone, dim=2).values * torch.cummax(bone.flip(2), dim=2).values.flip(2)
        * (1 - bone)
    )
    band = torch.zeros_like(bone)
    grown = bone
    for k in range(steps):
        grown = F.max_pool2d(grown, 3, stride=1, padding=1)
        band = torch.maximum(band, grown * (1.0 - k / steps))
    return band * inside
