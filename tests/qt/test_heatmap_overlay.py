"""The heatmap shows colours over a hot CAM, nothing over a zero CAM, and never hides the image."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtGui
from volume_factory import make_volume

from viewer.qt.slice_view import SliceView

from viewer.qt.heatmap_overlay import MAX_ALPHA, HeatmapOverlay, cam_to_rgba

ROWS, COLS = 256, 256
ROW_MM, COL_MM = 0.9, 0.9


def _striped_volume(n_slices: int = 3, stack_id: str = "1.2.3"):
    """Vertical stripes 16 px wide: 0 HU (black in brain window) and 80 HU (white)."""
    cols = np.arange(COLS)
    row = np.where((cols // 16) % 2 == 0, 0, 80)
    hu = np.broadcast_to(row, (n_slices, ROWS, COLS))
    return make_volume(np.array(hu), pixel_spacing_mm=(ROW_MM, COL_MM), stack_id=stack_id)


def _hot_cam(size: int = 64) -> np.ndarray:
    """A Gaussian blob peaking at 1 in the centre of a model-resolution CAM."""
    y, x = np.mgrid[0:size, 0:size]
    return np.exp(-(((x - size / 2) ** 2 + (y - size / 2) ** 2) / (2 * (size / 8) ** 2))).astype(np.float16)


def _grab(view) -> np.ndarray:
    img = view.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    return arr[:, : img.width(), 2::-1].astype(int)


def _chroma(rgb: np.ndarray) -> np.ndarray:
    return rgb.max(axis=-1) - rgb.min(axis=-1)


def _image_box(view) -> tuple[slice, slice]:
    """Widget-pixel slices of the central quarter of the image (where the blob is)."""
    vb, gv = view.view_box, view.graphics
    w_mm, h_mm = COLS * COL_MM, ROWS * ROW_MM
    from PySide6 import QtCore

    a = gv.mapFromScene(vb.mapViewToScene(QtCore.QPointF(w_mm * 0.4, h_mm * 0.4)))
    b = gv.mapFromScene(vb.mapViewToScene(QtCore.QPointF(w_mm * 0.6, h_mm * 0.6)))
    return slice(a.y(), b.y()), slice(a.x(), b.x())


@pytest.fixture
def view(qtbot):
    v = SliceView()
    qtbot.addWidget(v)
    v.resize(520, 520)
    v.show()
    qtbot.waitExposed(v)
    v.set_volume(_striped_volume(), index=0)
    v.set_window(80, 40)
    return v


def test_hot_cam_shows_colours_and_image_underneath(view, artifacts_dir):
    overlay = HeatmapOverlay(view)
    before = _grab(view)
    box = _image_box(view)
    assert _chroma(before[box]).max() <= 2  # grey image
    overlay.set_opacity(1.0)
    overlay.set_cam(_hot_cam())
    after = _grab(view)
    view.grab().save(str(artifacts_dir / "heatmap_overlay_hot.png"))
    centre = after[box]
    assert (_chroma(centre) > 60).mean() > 0.5  # heatmap colours over the hot spot
    # The image still shows through at the hottest spot: white stripes stay brighter than black ones.
    grey_before = before[box].mean(axis=-1)
    lum_after = centre.mean(axis=-1)
    assert lum_after[grey_before > 200].mean() - lum_after[grey_before < 50].mean() > 255 * (1 - MAX_ALPHA) * 0.6
    corner = after[: after.shape[0] // 8, :]  # a far corner of the image: cold, so unchanged
    assert np.abs(corner[:, : after.shape[1] // 2] - before[: before.shape[0] // 8, : before.shape[1] // 2]).max() <= 2


def test_zero_cam_leaves_image_unchanged(view):
    overlay = HeatmapOverlay(view)
    overlay.set_color_bar_visible(False)
    before = _grab(view)
    overlay.set_cam(np.zeros((64, 64), np.float16))
    assert np.abs(_grab(view) - before).max() <= 1


def test_threshold_opacity_and_visibility_change_only_the_picture(view):
    overlay = HeatmapOverlay(view)
    overlay.set_color_bar_visible(False)
    before = _grab(view)
    box = _image_box(view)
    overlay.set_cam(_hot_cam())
    assert (_chroma(_grab(view)[box]) > 30).mean() > 0.5
    overlay.set_display_threshold(1.0)
    assert np.abs(_grab(view) - before).max() <= 1
    overlay.set_display_threshold(0.3)
    overlay.set_visible(False)
    assert np.abs(_grab(view) - before).max() <= 1
    overlay.set_visible(True)
    overlay.set_opacity(0.0)
    assert np.abs(_grab(view) - before).max() <= 1
    overlay.set_opacity(0.6)
    assert (_chroma(_grab(view)[box]) > 30).mean() > 0.3


def test_cam_does_not_follow_to_another_slice_or_series(view):
    overlay = HeatmapOverlay(view)
    overlay.set_cam(_hot_cam())
    assert overlay.image_item.isVisible()
    view.set_index(1)
    assert overlay.cam is None and not overlay.image_item.isVisible()
    overlay.set_slice_cams({2: _hot_cam()})
    view.set_index(2)
    assert overlay.image_item.isVisible()
    view.set_volume(_striped_volume(stack_id="other"))
    assert overlay.cam is None and not overlay.image_item.isVisible()


def test_color_bar_drawn_in_view(view, artifacts_dir):
    overlay = HeatmapOverlay(view)
    before = _grab(view)
    overlay.set_cam(_hot_cam())
    overlay.set_color_bar_visible(True)
    after = _grab(view)
    h, w = after.shape[:2]
    left_edge = after[: h // 2 - 20, :80]  # above the view's mid-left orientation letter
    assert overlay.color_bar.isVisible()
    assert (_chroma(left_edge) > 60).sum() > 300  # the bar's colours
    overlay.set_color_bar_visible(False)
    assert (_chroma(_grab(view)[: h // 2 - 20, :80]) > 60).sum() == 0
    view.grab().save(str(artifacts_dir / "heatmap_overlay_colorbar.png"))


def test_rgba_alpha_ramp():
    rgba = cam_to_rgba(np.array([[0.0, 0.1, 0.5, 1.0]]), opacity=1.0, display_threshold=0.2)
    assert rgba[0, 0, 3] == 0 and rgba[0, 1, 3] == 0  # below the threshold: transparent
    assert cam_to_rgba(np.array([[0.03]]), opacity=1.0)[0, 0, 3] == 0  # near-zero: always transparent
    assert 0 < rgba[0, 2, 3] <= round(255 * MAX_ALPHA) and rgba[0, 3, 3] == round(255 * MAX_ALPHA)


def _hot_spot(view, size: int, model_mm: float, centre_rc: tuple[float, float]):
    """Render a blob CAM through a model-grid affine; (hot pixel xs, ys, expected centre, px per mm)."""
    from PySide6 import QtCore

    overlay = HeatmapOverlay(view)
    overlay.set_color_bar_visible(False)
    a = model_mm / ROW_MM  # model pixel -> source pixels (square pixels here)
    to_image = np.array(
        [[a, 0.0, centre_rc[0] - a * (size - 1) / 2], [0.0, a, centre_rc[1] - a * (size - 1) / 2]]
    )
    overlay.set_cam(_hot_cam(size), to_image=to_image)
    rgb = _grab(view)
    # Blob centre of the CAM is at model pixel 32 (not 31.5): source row/col = to_image @ [32, 32, 1].
    row, col = to_image @ np.array([size / 2, size / 2, 1.0])
    scene = view.view_box.mapViewToScene(QtCore.QPointF((col + 0.5) * COL_MM, (row + 0.5) * ROW_MM))
    expected = view.graphics.mapFromScene(scene)
    px_per_mm = 1.0 / view.view_box.viewPixelSize()[0]
    # Only look near the expected place (the view's orientation letters are coloured too).
    hot = _chroma(rgb) > 60
    yy, xx = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]]
    hot &= np.hypot(xx - expected.x(), yy - expected.y()) < 50 * px_per_mm
    ys, xs = np.nonzero(hot)
    overlay.set_cam(None)
    return xs, ys, expected, px_per_mm


def test_cam_placed_by_model_grid_affine(view):
    """With the model grid's affine the hot spot lands where the model looked, at its physical size."""
    xs, ys, expected, px_per_mm = _hot_spot(view, 64, 2.0, (60.0, 180.0))
    assert abs(xs.mean() - expected.x()) < 1.5 * px_per_mm  # within 1.5 mm
    assert abs(ys.mean() - expected.y()) < 1.5 * px_per_mm
    wide = xs.max() - xs.min()
    xs2, _, _, _ = _hot_spot(view, 64, 1.0, (60.0, 180.0))  # half the model pixel size: half as wide
    assert wide / (xs2.max() - xs2.min()) == pytest.approx(2.0, rel=0.15)


def test_model_grid_affine_from_preprocess_lands_on_the_lesion(qtbot):
    """End to end with the engine's own grid: a map that is hot where the model input shows a lesion
    is drawn over that lesion in the image (anisotropic pixels, head off-centre in the field of view).
    """
    from PySide6 import QtCore

    from inference.preprocess import PreprocessConfig, make_inputs
    from viewer.qt.slice_view import SliceView

    rows, cols, row_mm, col_mm = 300, 500, 0.8, 0.4  # 240 x 200 mm field of view
    y = (np.arange(rows)[:, None] + 0.5) * row_mm
    x = (np.arange(cols)[None, :] + 0.5) * col_mm
    hu = np.full((rows, cols), -1024, np.int16)
    head = ((x - 120.0) / 70.0) ** 2 + ((y - 100.0) / 85.0) ** 2 <= 1.0  # off-centre head
    hu[head] = 30
    lesion_xy_mm = (150.0, 70.0)
    hu[(x - lesion_xy_mm[0]) ** 2 + (y - lesion_xy_mm[1]) ** 2 <= 10.0**2] = 80
    volume = make_volume(np.repeat(hu[None], 3, axis=0), pixel_spacing_mm=(row_mm, col_mm))
    config = PreprocessConfig()
    prepared = make_inputs(volume.hu, volume.positions_mm, volume.pixel_spacing_mm, config, indices=[1])
    brain_target = prepared.x[0, (config.n_slabs // 2) * len(config.windows)]  # target slab, brain window
    cam = (brain_target > 0.9).astype(np.float32)  # hot exactly where the model sees the lesion

    view = SliceView()
    qtbot.addWidget(view)
    view.resize(600, 600)
    view.show()
    qtbot.waitExposed(view)
    view.set_volume(volume, index=1)
    view.set_window(80, 40)
    overlay = HeatmapOverlay(view)
    overlay.set_color_bar_visible(False)
    overlay.set_opacity(1.0)
    overlay.set_cam(cam, to_image=prepared.to_image[0])
    rgb = _grab(view)
    expected = view.graphics.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(*lesion_xy_mm)))
    px_per_mm = 1.0 / view.view_box.viewPixelSize()[0]
    hot = _chroma(rgb) > 60
    yy, xx = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]]
    hot &= np.hypot(xx - expected.x(), yy - expected.y()) < 40 * px_per_mm  # away from the view's letters
    ys, xs = np.nonzero(hot)
    assert len(xs) > 50
    assert abs(xs.mean() - expected.x()) < 2.0 * px_per_mm
    assert abs(ys.mean() - expected.y()) < 2.0 * px_per_mm
    assert (xs.max() - xs.min()) / px_per_mm == pytest.approx(20.0, abs=4.0)  # the lesion is 20 mm wide
