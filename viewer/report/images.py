"""Key images for the findings report: brain-window greyscale, the heat-map overlay and the second
reader's lesion outlines (no Qt).

The heat map uses the viewer's default colour map, CET-L17 (Kovesi's perceptually uniform,
colour-blind-safe linear map, white-yellow-orange-red-blue; `resources/colormaps/CET-L17.csv`, CC-BY
4.0) from 0.12 of the way along, exactly as the viewer draws it: its pale low end stays visible on
grey brain and its dark violet-blue high end on a white hyperdense bleed (inferno's pale yellow
high end vanished there). Alpha-blended so the anatomy underneath stays visible: a CAM value below
`floor` is fully transparent, and opacity never exceeds `max_alpha`.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from pathlib import Path

from inference.preprocess import cam_cell_affine, cam_to_image  # noqa: F401 (cam_cell_affine re-exported)
from viewer.core.windowing import PRESETS_BY_KEY, apply_window

CET_L17_CSV = Path(__file__).resolve().parents[2] / "resources" / "colormaps" / "CET-L17.csv"
HEATMAP_START = 0.12  # skip the map's near-white start, as the viewer does
# Lesion classes of the second reader (label values 1..4 = IPH, EAH, oedema, IVH): Okabe-Ito
# (colour-blind safe) yellow, blue, bluish green, sky blue. The one table: the viewer's overlay, its
# strip and the PDF all use it.
LESION_COLOURS: dict[int, tuple[int, int, int]] = {
    1: (240, 228, 66),  # IPH
    2: (0, 114, 178),  # EAH
    3: (0, 158, 115),  # oedema
    4: (86, 180, 233),  # IVH
}

BRAIN = PRESETS_BY_KEY["brain"]  # W80 / C40



def cet_l17_lut(start: float = HEATMAP_START, n: int = 256) -> np.ndarray:
    """(n, 3) uint8: CET-L17 from `start` to its end, linearly interpolated as pyqtgraph's
    `ColorMap.getLookupTable(start, 1.0, n)` does (the viewer's heat map)."""
    table = np.loadtxt(CET_L17_CSV, delimiter=",", dtype=np.float64)
    pos = np.linspace(0.0, 1.0, table.shape[0])
    t = np.linspace(start, 1.0, n)
    lut = np.stack([np.interp(t, pos, table[:, c] * 255.0) for c in range(3)], axis=1)
    return np.clip(lut, 0, 255).astype(np.uint8)


HEATMAP_LUT = cet_l17_lut()


def brain_window_image(hu: np.ndarray, *, width_hu: float = BRAIN.width_hu, center_hu: float = BRAIN.center_hu) -> Image.Image:
    """A greyscale PIL image of one slice in the given window (brain W80/C40 by default)."""
    return Image.fromarray(apply_window(np.asarray(hu), width_hu=width_hu, center_hu=center_hu), mode="L")


def resize_cam(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a CAM (model resolution) to the image's (rows, cols), values kept in [0, 1]."""
    rows, cols = shape
    src = Image.fromarray(np.asarray(cam, dtype=np.float32), mode="F")
    out = np.asarray(src.resize((cols, rows), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def heatmap_overlay_image(
    hu: np.ndarray,
    cam: np.ndarray,
    *,
    to_image: np.ndarray | None = None,
    width_hu: float = BRAIN.width_hu,
    center_hu: float = BRAIN.center_hu,
    floor: float = 0.1,
    max_alpha: float = 0.6,
) -> Image.Image:
    """An RGB image: the windowed slice with the CAM in CET-L17 blended over it.

    Opacity rises linearly from 0 at `floor` to `max_alpha` at 1.0, so weak activations stay faint
    and the anatomy is never hidden. With `to_image` (CAM cell -> source pixel, see
    `cam_cell_affine`) the CAM is placed where the model looked; without it, it is stretched over
    the whole image.
    """
    grey = apply_window(np.asarray(hu), width_hu=width_hu, center_hu=center_hu).astype(np.float32)
    if to_image is not None:
        heat = np.clip(cam_to_image(np.asarray(cam, np.float32), to_image, grey.shape), 0.0, 1.0)
    else:
        heat = resize_cam(cam, grey.shape)
    colour = HEATMAP_LUT[np.clip(np.rint(heat * 255.0), 0, 255).astype(np.uint8)].astype(np.float32)
    alpha = np.clip((heat - floor) / max(1e-6, 1.0 - floor), 0.0, 1.0) * max_alpha
    rgb = grey[..., None] * (1.0 - alpha[..., None]) + colour * alpha[..., None]
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), mode="RGB")


def lesion_outline_image(
    hu: np.ndarray,
    labels: np.ndarray,
    *,
    width_hu: float = BRAIN.width_hu,
    center_hu: float = BRAIN.center_hu,
) -> Image.Image:
    """An RGB image: the windowed slice with each lesion class's outline (its border pixels, one
    pixel wide, 8-neighbourhood) in `LESION_COLOURS`; the pixels inside stay as they are."""
    grey = apply_window(np.asarray(hu), width_hu=width_hu, center_hu=center_hu)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    lab = np.asarray(labels)
    for value, colour in LESION_COLOURS.items():
        mask = lab == value
        if not mask.any():
            continue
        padded = np.pad(mask, 1)
        interior = np.ones_like(mask)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                interior &= padded[1 + dr : 1 + dr + mask.shape[0], 1 + dc : 1 + dc + mask.shape[1]]
        rgb[mask & ~interior] = colour
    return Image.fromarray(rgb, mode="RGB")
