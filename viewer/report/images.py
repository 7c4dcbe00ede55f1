"""Key images for the findings report: brain-window greyscale and a heat-map overlay (no Qt).

The overlay uses inferno (perceptually uniform, readable with the common colour-vision
deficiencies and in greyscale print), alpha-blended so the anatomy underneath stays visible: a CAM
value below `floor` is fully transparent, and opacity never exceeds `max_alpha`.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from inference.preprocess import cam_cell_affine, cam_to_image  # noqa: F401 (cam_cell_affine re-exported)
from viewer.core.windowing import PRESETS_BY_KEY, apply_window

BRAIN = PRESETS_BY_KEY["brain"]  # W80 / C40

# matplotlib's inferno (CC0), sampled at 32 evenly spaced points; interpolated to 256 below.
_INFERNO_ANCHORS = np.array(
    [
        (0, 0, 4), (4, 3, 18), (11, 7, 36), (22, 11, 57), (35, 12, 76), (49, 10, 92), (62, 9, 102),
        (77, 13, 108), (90, 17, 110), (103, 22, 110), (116, 26, 110), (128, 31, 108), (143, 36, 105),
        (155, 41, 100), (168, 46, 95), (180, 51, 89), (193, 58, 80), (204, 66, 72), (215, 75, 63),
        (224, 85, 54), (233, 97, 43), (239, 110, 33), (245, 123, 23), (248, 137, 12), (251, 151, 6),
        (252, 168, 13), (251, 184, 29), (249, 199, 47), (246, 215, 70), (242, 232, 101),
        (243, 245, 134), (252, 255, 164),
    ],
    dtype=np.float32,
)


def inferno_lut() -> np.ndarray:
    """(256, 3) uint8 RGB colour table of inferno."""
    x = np.linspace(0.0, 1.0, len(_INFERNO_ANCHORS))
    t = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(t, x, _INFERNO_ANCHORS[:, c]) for c in range(3)], axis=1)
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


INFERNO = inferno_lut()


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
    """An RGB image: the windowed slice with the CAM in inferno blended over it.

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
    colour = INFERNO[np.clip(np.rint(heat * 255.0), 0, 255).astype(np.uint8)].astype(np.float32)
    alpha = np.clip((heat - floor) / max(1e-6, 1.0 - floor), 0.0, 1.0) * max_alpha
    rgb = grey[..., None] * (1.0 - alpha[..., None]) + colour * alpha[..., None]
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), mode="RGB")
