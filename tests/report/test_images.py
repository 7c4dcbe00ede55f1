"""Key images: brain window, and the heat map placed where the model looked, anatomy still visible."""
from __future__ import annotations

import dataclasses

import numpy as np
from report_inputs import head_volume

from inference.preprocess import PreprocessConfig, make_inputs
from viewer.report.images import HEATMAP_LUT, brain_window_image, cam_cell_affine, heatmap_overlay_image


def _coloured(img: np.ndarray) -> np.ndarray:
    rgb = img.astype(int)
    return (rgb.max(axis=2) - rgb.min(axis=2)) > 30


def test_heat_map_follows_the_model_grid_on_an_off_centre_head() -> None:
    vol = head_volume(n_slices=3, size=128, bleed=False)
    shifted = np.roll(vol.hu, 30, axis=2)  # the head sits right of the image centre
    shifted[:, :, :30] = -1024
    vol = dataclasses.replace(vol, hu=shifted)
    config = PreprocessConfig(image_size=64, pixel_mm=1.0)  # 64 mm grid, 8 mm CAM cells
    prepared = make_inputs(vol.hu, vol.positions_mm, vol.pixel_spacing_mm, config, indices=[1])
    cam = np.zeros((8, 8), np.float32)
    cam[3:5, 3:5] = 1.0  # the middle of the model grid = the head's centre
    affine = cam_cell_affine(prepared.to_image[0], config.image_size, cam.shape)
    placed = np.asarray(heatmap_overlay_image(vol.hu[1], cam, to_image=affine))
    rows, cols = np.nonzero(_coloured(placed))
    head_rows, head_cols = np.nonzero(vol.hu[1] > -500)
    assert abs(cols.mean() - head_cols.mean()) < 4 and abs(rows.mean() - head_rows.mean()) < 4
    # Stretched over the image instead, the same map would sit at the image centre (wrong here).
    stretched = np.asarray(heatmap_overlay_image(vol.hu[1], cam))
    assert abs(np.nonzero(_coloured(stretched))[1].mean() - 63.5) < 4


def test_overlay_keeps_anatomy_visible_and_clean_areas_grey() -> None:
    vol = head_volume(n_slices=1, size=64, bleed=False)
    cam = np.zeros((16, 16), np.float32)
    cam[4:12, 4:12] = 1.0
    plain = np.asarray(brain_window_image(vol.hu[0]))
    over = np.asarray(heatmap_overlay_image(vol.hu[0], cam)).astype(int)
    clean = cam.repeat(4, 0).repeat(4, 1) == 0
    clean[14:50, 14:50] = False  # away from the bilinear edge
    assert np.array_equal(over[clean][:, 0], plain[clean])  # no tint where the CAM is zero
    hot = over[24:40, 24:40]
    assert hot.std(axis=(0, 1)).max() > 5  # the ventricle still shows through the colour
    top = HEATMAP_LUT[255].astype(int)
    assert np.abs(hot - top).sum(axis=2).min() > 30  # never opaque colour
