"""MPR in the main window, driven as a user drives it: the layout keys, the coronal and sagittal
planes showing a known box at its known place (plain, tilted and feet-first series), the linked
crosshair (a click in one view moves the others to the same patient point), scrolling in a plane,
the shared window, and the AI overlays reformatted into the planes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui
from window_driver import open_and_wait, send_wheel

from inference.synth.variants import Grid, write_feet_first, write_plain, write_tilted
from viewer.core.mpr import COLS_PLANE, ROWS_PLANE

GRID = Grid(n_slices=16, rows=48, cols=40, row_spacing_mm=2.0, col_spacing_mm=2.0, step_mm=4.0, z0_mm=40.0)
BOX = ((-10.0, 10.0), (-6.0, 14.0), (60.0, 80.0))  # LPS mm: a 1000 HU box in 0 HU


def box_sampler(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points)
    inside = np.ones(p.shape[:-1], bool)
    for axis, (lo, hi) in enumerate(BOX):
        inside &= (p[..., axis] >= lo) & (p[..., axis] <= hi)
    return np.where(inside, 1000.0, 0.0).astype(np.float32)


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name in ("plain", "tilted", "feet_first"):
        folder = tmp_path_factory.mktemp(name)
        if name == "plain":
            write_plain(folder, grid=GRID, sampler=box_sampler, noise_hu=0.0)
        elif name == "tilted":
            write_tilted(folder, tilt_deg=20.0, grid=GRID, sampler=box_sampler, noise_hu=0.0)
        else:
            write_feet_first(folder, grid=GRID, sampler=box_sampler, noise_hu=0.0)
        out[name] = folder
    return out


def grey_rows(view) -> np.ndarray:  # noqa: ANN001
    """The rendered viewport as (H, W) grey levels (red channel), device pixels."""
    view.render_now()
    image = view.graphics.viewport().grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    rgb = arr[:, : image.width(), 2::-1].astype(int)
    grey = rgb[..., 0].copy()
    grey[rgb.max(axis=-1) - rgb.min(axis=-1) > 40] = 255  # crosshair lines count as inside a run
    return grey, image.devicePixelRatio()


def to_device(view, x_mm: float, y_mm: float, dpr: float) -> tuple[int, int]:  # noqa: ANN001
    p = view.graphics.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(x_mm, y_mm)))
    return int(round(p.x() * dpr)), int(round(p.y() * dpr))


def from_device(view, px: float, py: float, dpr: float) -> QtCore.QPointF:  # noqa: ANN001
    scene = view.graphics.mapToScene(QtCore.QPoint(int(round(px / dpr)), int(round(py / dpr))))
    return view.view_box.mapSceneToView(scene)


def set_layout_by_key(qtbot, window, n: int) -> None:  # noqa: ANN001
    qtbot.keyClick(window.slice_view.graphics, QtCore.Qt.Key(QtCore.Qt.Key.Key_0 + n), QtCore.Qt.KeyboardModifier.AltModifier)


@pytest.mark.parametrize("name", ["plain", "tilted", "feet_first"])
def test_planes_show_the_box_at_its_height(qtbot, main_window, studies, name: str, artifacts_dir) -> None:  # noqa: ANN001
    window = main_window
    open_and_wait(qtbot, window, [studies[name]])
    set_layout_by_key(qtbot, window, 3)  # Alt+3: 2 x 2
    assert window.mpr.layout == "2x2" and window.layout_combo.currentText().startswith("2")
    qtbot.keyClick(window.slice_view.graphics, QtCore.Qt.Key.Key_4)  # bone window: 0 -> 73, 1000 -> 165
    window.mpr.set_point(np.array([0.0, 4.0, 70.0]))  # through the box's centre
    tol = GRID.step_mm / 2.0 + 2.0  # half a slice step (edges fall between slices) and a pixel
    for plane in (window.mpr.coronal, window.mpr.sagittal):
        assert plane.volume is window.current_volume and plane.window == (2800.0, 600.0)
        grey, dpr = grey_rows(plane)
        g = plane.geometry_
        # A column beside the crosshair's vertical line (the other plane, drawn in colour).
        off = np.array([4.0, 0.0, 0.0]) if plane.plane == ROWS_PLANE else np.array([0.0, 4.0, 0.0])
        centre = plane.point_to_scene(np.array([0.0, 4.0, 70.0]) + off)
        x_px, y_px = to_device(plane, centre.x(), centre.y(), dpr)
        column = grey[:, x_px] >= (73 + 165) // 2
        assert column[y_px], f"{name} {plane.plane}: no box on screen"
        top, bottom = y_px, y_px  # the bright run through the box's centre (not the edge letters)
        while top > 0 and column[top - 1]:
            top -= 1
        while bottom < column.size - 1 and column[bottom + 1]:
            bottom += 1
        bright = np.array([top, bottom])
        z_top = g.point_of_frame(g.frame_of_point(plane.scene_to_point(from_device(plane, x_px, bright[0], dpr))))[2]
        z_bottom = plane.scene_to_point(from_device(plane, x_px, bright[-1], dpr))[2]
        assert abs(z_top - 80.0) <= tol and abs(z_bottom - 60.0) <= tol, (name, plane.plane, z_top, z_bottom)
        row_px = bright[0] + 3  # below the box's top edge, above the slice line through z = 70
        line = grey[row_px] >= (73 + 165) // 2
        left, right = x_px, x_px  # the bright run through the centre column
        while left > 0 and line[left - 1]:
            left -= 1
        while right < line.size - 1 and line[right + 1]:
            right += 1
        across = np.array([left, right])
        axis = 0 if plane.plane == ROWS_PLANE else 1
        lo = plane.scene_to_point(from_device(plane, across[0], bright[0], dpr))[axis]
        hi = plane.scene_to_point(from_device(plane, across[-1], bright[0], dpr))[axis]
        assert abs(min(lo, hi) - BOX[axis][0]) <= 3.0 and abs(max(lo, hi) - BOX[axis][1]) <= 3.0, (name, plane.plane, lo, hi)
    window.views_area.grab().save(str(artifacts_dir / f"mpr_2x2_{name}.png"))


def test_crosshair_click_moves_every_view_to_the_same_point(qtbot, main_window, studies) -> None:  # noqa: ANN001
    window = main_window
    open_and_wait(qtbot, window, [studies["tilted"]])
    set_layout_by_key(qtbot, window, 2)  # Alt+2: 1 + 2
    assert window.mpr.layout == "1+2" and window.mpr.coronal.isVisible() and not window.mpr.info.isVisible()
    view, cor, sag = window.slice_view, window.mpr.coronal, window.mpr.sagittal
    g = window.mpr.geometry_
    # A click in the coronal view, at the pixel showing the patient point (6, ., 66).
    target_scene = cor.point_to_scene(np.array([6.0, cor.position_mm() + g.origin[1], 66.0]))
    widget_pos = cor.graphics.mapFromScene(cor.view_box.mapViewToScene(target_scene))
    qtbot.mouseClick(cor.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=widget_pos)
    p = window.mpr.point
    assert p is not None and abs(p[0] - 6.0) <= 1.0 and abs(p[2] - 66.0) <= 2.0
    k, r, c = g.index_of_point(p)
    assert abs(view.index - k) <= 0.5, (view.index, k)  # the slice through the point
    assert abs(sag.position_mm() - g.frame_of_point(p)[0]) <= GRID.col_spacing_mm / 2  # the sagittal through it
    assert abs(cor.position_mm() - g.frame_of_point(p)[1]) <= GRID.row_spacing_mm / 2
    # The axial view's lines cross at the point's pixel (half a voxel).
    line_c = window.mpr.view_lines[COLS_PLANE].line()
    x_mm = (c + 0.5) * GRID.col_spacing_mm
    assert abs(line_c.x1() - x_mm) <= GRID.col_spacing_mm / 2 and abs(line_c.x2() - x_mm) <= GRID.col_spacing_mm / 2

    # Now a click in the axial view moves the planes.
    sc = view.graphics.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(10.5 * 2.0, 30.5 * 2.0)))
    qtbot.mouseClick(view.graphics.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=sc)
    p = window.mpr.point
    k, r, c = g.index_of_point(p)
    assert abs(r - 30) <= 0.5 and abs(c - 10) <= 0.5 and abs(k - view.index) < 1e-6
    assert abs(sag.position_mm() - g.frame_of_point(p)[0]) <= GRID.col_spacing_mm / 2
    assert abs(cor.position_mm() - g.frame_of_point(p)[1]) <= GRID.row_spacing_mm / 2

    # Scrolling in the sagittal view moves its plane by one column and the axial view's line with it.
    before = sag.position_mm()
    send_wheel(sag.graphics.viewport(), QtCore.QPointF(sag.graphics.viewport().rect().center()), -1)  # down: next
    assert abs(sag.position_mm() - before - GRID.col_spacing_mm) < 1e-6
    assert abs(window.mpr.view_lines[COLS_PLANE].line().x1() - (c + 1.5) * GRID.col_spacing_mm) <= GRID.col_spacing_mm / 2
    # Up/Down in a plane view with the focus.
    sag.graphics.setFocus()
    qtbot.keyClick(sag.graphics, QtCore.Qt.Key.Key_Up)
    assert abs(sag.position_mm() - before) < 1e-6
    # Window from a plane reaches the slice view; Alt+1 back to one view.
    sag.set_window(300.0, 50.0)
    assert view.window == (300.0, 50.0) and cor.window == (300.0, 50.0)
    set_layout_by_key(qtbot, window, 1)
    assert window.mpr.layout == "1" and not cor.isVisible()


def test_ai_overlays_are_reformatted_into_the_planes(qtbot, main_window, studies) -> None:  # noqa: ANN001
    from viewer.qt.ai_assist import AiAssist
    from viewer.qt.lesion_overlay import LESION_COLORS

    window = main_window
    window.apply_settings(window.settings.with_changes(auto_run_ai=False))
    ai = AiAssist(window, warm_up=False)
    try:
        volume = open_and_wait(qtbot, window, [studies["plain"]])
        set_layout_by_key(qtbot, window, 3)
        # The second reader's labels (IPH) on slices 6-9 in a block; the heatmap hot on the same slices.
        labels = np.zeros(volume.hu.shape, np.uint8)
        labels[6:10, 20:30, 15:25] = 1
        ai.lesions.set_labels(labels, volume.stack_id)
        ai.set_heatmap_visible(True)
        ai.overlay.set_slice_cams({k: np.full((8, 8), 0.9, np.float32) for k in range(6, 10)})
        g = window.mpr.geometry_
        window.mpr.set_point(g.point_of_index(8.0, 25.0, 20.0))
        window.mpr.refresh_overlays()
        cor = window.mpr.coronal
        rgba = cor.lesion_item.image
        assert rgba is not None and cor.lesion_item.isVisible()
        coloured = np.nonzero(rgba[..., 3] > 0)
        assert coloured[0].size
        hs = [cor.scene_to_point(cor.pixel_to_scene(i, j))[2] for i, j in zip(*coloured)]
        z_of = [float(g.point_of_index(k, 0, 0)[2]) for k in (6, 9)]
        assert min(hs) >= z_of[0] - GRID.step_mm and max(hs) <= z_of[1] + GRID.step_mm
        assert (rgba[coloured][:, :3] == LESION_COLORS["IPH"]).all()
        heat = cor.heat_item.image
        assert heat is not None and cor.heat_item.isVisible() and (heat[..., 3] > 0).any()
        hot_rows = np.nonzero(heat[..., 3].max(axis=1) > 0)[0]
        h_hot = [cor.scene_to_point(cor.pixel_to_scene(i, 0))[2] for i in hot_rows]
        assert min(h_hot) >= z_of[0] - GRID.step_mm and max(h_hot) <= z_of[1] + GRID.step_mm
        # L hides them in the planes too.
        qtbot.keyClick(window.slice_view.graphics, QtCore.Qt.Key.Key_L)
        window.mpr.refresh_overlays()
        assert not cor.lesion_item.isVisible()
    finally:
        assert ai.shutdown(10.0)
