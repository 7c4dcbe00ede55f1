"""The cranial cavity of one real slice, found from its pixels: inner table along rays from the
cavity centre, depth below it, CSF and brain pixels; and the fast in-plane blur it and the bleed
blending use."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_RAYS = 720

# ------------------------------------------------------------------------------ blur helpers


def _blur_axis(x: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """Approximate Gaussian along one axis: a 3-tap kernel for small sigma, else 3 box passes."""
    if sigma <= 0.05:
        return x
    if sigma <= 0.8:
        a = sigma * sigma / 2.0
        xp = np.moveaxis(x, axis, -1)
        pad = np.concatenate([xp[..., :1], xp, xp[..., -1:]], axis=-1)
        out = a * pad[..., :-2] + (1 - 2 * a) * pad[..., 1:-1] + a * pad[..., 2:]
        return np.moveaxis(out, -1, axis)
    w = max(1, int(round(np.sqrt(12.0 * sigma * sigma / 3.0 + 1.0))))
    w += 1 - w % 2  # odd: centred
    r = w // 2
    xp = np.moveaxis(x, axis, -1)
    for _ in range(3):
        pad = np.concatenate([np.repeat(xp[..., :1], r + 1, axis=-1), xp, np.repeat(xp[..., -1:], r, axis=-1)], axis=-1)
        c = np.cumsum(pad, axis=-1, dtype=np.float32)
        xp = (c[..., w:] - c[..., :-w]) / w
    return np.moveaxis(xp, -1, axis)


def gaussian_blur(images: np.ndarray, sigma_px: float) -> np.ndarray:
    """Approximately Gaussian blur of (n, rows, cols) images in-plane (edge padding), float32."""
    x = np.asarray(images, dtype=np.float32)
    if sigma_px <= 0.05:
        return x.copy()
    return np.ascontiguousarray(_blur_axis(_blur_axis(x, sigma_px, -1), sigma_px, -2), dtype=np.float32)


# ------------------------------------------------------------------------- cavity geometry


@dataclass(frozen=True, eq=False)
class Cavity:
    """Geometry of the cranial cavity on one slice (source pixels)."""

    ok: bool  # a closed skull ring was found on most rays
    center_rc: tuple[float, float]
    depth_mm: np.ndarray  # below the inner table along the ray (< 0 outside the cavity)
    angle: np.ndarray  # ray angle of each pixel (radians)
    inner_radius_mm: np.ndarray  # (N_RAYS,) inner-table radius per ray
    radius_mm: np.ndarray  # distance of each pixel from the centre
    csf: np.ndarray  # CSF-like pixels in the cavity (smoothed HU < 22)
    brain: np.ndarray  # cavity pixels of brain / CSF density


def cavity_geometry(hu: np.ndarray, spacing_mm: tuple[float, float]) -> Cavity:
    """Inner table, depth and CSF of one slice from its pixels (no labels needed)."""
    h = hu.astype(np.float32)
    rows, cols = h.shape
    sr, sc = spacing_mm
    bone = h > 350.0
    soft = (h > -50) & (h < 120)
    rr, cc = np.nonzero(soft)
    if rr.size < 200:
        return _empty_cavity(h.shape)
    cr, ccol = float(rr.mean()), float(cc.mean())
    # Rays: sample every 0.5 mm outwards.
    step = 0.5
    radii = np.arange(0, 130, step)
    ang = np.linspace(-np.pi, np.pi, N_RAYS, endpoint=False)
    pr = cr + (np.sin(ang)[:, None] * radii[None, :]) / sr
    pc = ccol + (np.cos(ang)[:, None] * radii[None, :]) / sc
    inside = (pr >= 0) & (pr <= rows - 1) & (pc >= 0) & (pc <= cols - 1)
    ir = np.clip(np.rint(pr).astype(int), 0, rows - 1)
    ic = np.clip(np.rint(pc).astype(int), 0, cols - 1)
    b = bone[ir, ic] & inside
    air = (h[ir, ic] < -300) | ~inside
    n_r = radii.size
    # Skin: the first air run of >= 3 mm along each ray.
    w_air = int(3.0 / step)
    run_air = _window_all(air, w_air)
    limit = np.where(run_air.any(axis=1), run_air.argmax(axis=1), n_r)
    b &= np.arange(n_r)[None, :] < limit[:, None]
    # Skull: close gaps < 2 mm, take the outermost bone run before the skin, its inner edge.
    closed = _window_all(_window_any(b, int(2.0 / step)), int(2.0 / step), centred=True) | b
    has = b.any(axis=1)
    j_out = n_r - 1 - np.argmax(b[:, ::-1], axis=1)
    idx_r = np.arange(n_r)[None, :]
    gap = ~closed & (idx_r < j_out[:, None])
    j_in = np.where(gap.any(axis=1), n_r - 1 - np.argmax(gap[:, ::-1], axis=1) + 1, 0)
    inner = np.where(has & (j_in > 0), radii[np.clip(j_in, 0, n_r - 1)], np.nan)
    valid = np.isfinite(inner)
    if valid.mean() < 0.85:
        return _empty_cavity(h.shape)
    # Fill missing rays by circular interpolation, then smooth a little.
    idx = np.arange(N_RAYS)
    inner = np.interp(idx, idx[valid], inner[valid], period=N_RAYS)
    kernel = np.ones(7) / 7
    inner = np.convolve(np.r_[inner[-3:], inner, inner[:3]], kernel, mode="valid")
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    dy, dx = (yy - cr) * sr, (xx - ccol) * sc
    radius = np.hypot(dy, dx)
    angle = np.arctan2(dy, dx)
    ray = np.clip(np.rint((angle + np.pi) / (2 * np.pi) * N_RAYS).astype(int) % N_RAYS, 0, N_RAYS - 1)
    depth = inner[ray] - radius
    brain = (depth > 0) & (h > -30) & (h < 110)
    smooth = gaussian_blur(h[None], 1.0 / sr)[0]
    tissue_hu = float(np.median(smooth[brain & (depth > 10.0)])) if (brain & (depth > 10.0)).any() else 30.0
    csf = brain & (smooth < min(22.0, tissue_hu - 10.0)) & (smooth > -15.0)
    ok = bool(brain.sum() * sr * sc > 3000.0)  # at least ~30 cm2 of cavity
    return Cavity(ok, (cr, ccol), depth.astype(np.float32), angle.astype(np.float32), inner, radius.astype(np.float32), csf, brain)


def _window_any(a: np.ndarray, w: int) -> np.ndarray:
    """Along axis 1: True where any of the centred window of `w` samples is True."""
    c = np.cumsum(np.pad(a.astype(np.int32), ((0, 0), (w // 2 + 1, w - w // 2 - 1))), axis=1)
    return (c[:, w:] - c[:, :-w]) > 0


def _window_all(a: np.ndarray, w: int, *, centred: bool = False) -> np.ndarray:
    """Along axis 1: True where all of the window of `w` samples starting here (or centred here)
    are True (outside the array counts as False)."""
    left = w // 2 + 1 if centred else 1
    c = np.cumsum(np.pad(a.astype(np.int32), ((0, 0), (left, w - left))), axis=1)
    return (c[:, w:] - c[:, :-w]) == w


def _empty_cavity(shape: tuple[int, int]) -> Cavity:
    z = np.zeros(shape, np.float32)
    return Cavity(False, (shape[0] / 2, shape[1] / 2), z - 1, z, np.zeros(N_RAYS), z, z > 0, z > 0)
