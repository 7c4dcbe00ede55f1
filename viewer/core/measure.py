"""Measurement arithmetic on a slice (no Qt): ruler length and ellipse ROI statistics in mm / HU.

Coordinates are millimetres in the slice plane, as the viewer draws them: x along columns, y along
rows, with the image's top-left corner at (0, 0); pixel (r, c) covers
[c * col_mm, (c + 1) * col_mm) x [r * row_mm, (r + 1) * row_mm), its centre at the middle.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RoiStats:
    """HU statistics of the pixels whose centres lie inside an ROI, and its area."""

    mean_hu: float
    sd_hu: float
    min_hu: float
    max_hu: float
    area_mm2: float  # geometric area of the shape (pi * a * b for an ellipse)
    n_pixels: int  # pixels whose centre is inside
    pixel_area_mm2: float  # n_pixels * row_mm * col_mm (the area as the pixel grid sees it)


def distance_mm(p0_mm: tuple[float, float], p1_mm: tuple[float, float]) -> float:
    """Euclidean distance between two points given in mm."""
    return float(math.hypot(p1_mm[0] - p0_mm[0], p1_mm[1] - p0_mm[1]))


def ellipse_mask(
    shape: tuple[int, int],
    center_mm: tuple[float, float],
    radii_mm: tuple[float, float],
    pixel_spacing_mm: tuple[float, float],
) -> np.ndarray:
    """Boolean (rows, cols) mask of pixels whose centres lie inside an axis-aligned ellipse.

    `center_mm` and `radii_mm` are (x, y) = (along columns, along rows); `pixel_spacing_mm` is
    (between rows, between columns), as in the Volume.
    """
    rows, cols = int(shape[0]), int(shape[1])
    row_mm, col_mm = float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1])
    rx, ry = abs(float(radii_mm[0])), abs(float(radii_mm[1]))
    if rx <= 0 or ry <= 0 or rows == 0 or cols == 0:
        return np.zeros((rows, cols), dtype=bool)
    x = ((np.arange(cols) + 0.5) * col_mm - float(center_mm[0])) / rx
    y = ((np.arange(rows) + 0.5) * row_mm - float(center_mm[1])) / ry
    return (y[:, None] ** 2 + x[None, :] ** 2) <= 1.0


def ellipse_stats(
    hu2d: np.ndarray,
    center_mm: tuple[float, float],
    radii_mm: tuple[float, float],
    pixel_spacing_mm: tuple[float, float],
) -> RoiStats:
    """Mean / SD / min / max HU inside an axis-aligned ellipse and its area in mm².

    With no pixel centre inside (a tiny ellipse), the HU values are NaN and n_pixels is 0.
    """
    mask = ellipse_mask(hu2d.shape[:2], center_mm, radii_mm, pixel_spacing_mm)
    area = math.pi * abs(float(radii_mm[0])) * abs(float(radii_mm[1]))
    pixel_area = float(pixel_spacing_mm[0]) * float(pixel_spacing_mm[1])
    n = int(mask.sum())
    if n == 0:
        nan = float("nan")
        return RoiStats(nan, nan, nan, nan, area, 0, 0.0)
    values = hu2d[mask].astype(np.float64)
    return RoiStats(
        mean_hu=float(values.mean()),
        sd_hu=float(values.std(ddof=1)) if n > 1 else 0.0,
        min_hu=float(values.min()),
        max_hu=float(values.max()),
        area_mm2=area,
        n_pixels=n,
        pixel_area_mm2=n * pixel_area,
    )
