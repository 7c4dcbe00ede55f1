"""The measurement tools and the tag browser used through the main window."""
from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtGui

from window_driver import open_and_wait, send_drag, viewport_image, write_study


def test_tag_browser_shows_patient_name_of_the_current_slice(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    hu = np.zeros((3, 32, 32), np.int16)
    folder = write_study(tmp_path / "s", hu, seed="tags", patient_name="TAGTEST^ALICE")
    open_and_wait(qtbot, main_window, [folder])
    assert not main_window.tag_dock.isVisible()
    qtbot.keyClick(main_window.slice_view.graphics, QtCore.Qt.Key.Key_T, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(main_window.tag_dock.isVisible)
    browser = main_window.tag_browser
    assert browser.path == main_window.current_volume.source_paths[main_window.slice_view.index]
    qtbot.keyClicks(browser.search_box, "PatientName")
    rows = browser.visible_rows()
    assert any(r[1] == "PatientName" and "TAGTEST^ALICE" in r[3] for r in rows)
    main_window.slice_view.setFocus()
    qtbot.keyClick(main_window.slice_view.graphics, QtCore.Qt.Key.Key_End)
    assert browser.path == main_window.current_volume.source_paths[-1]


def _disk_study(tmp_path):  # noqa: ANN001, ANN202
    """A disk of 60 HU, radius 20 mm, on -100 HU, with 0.4 x 0.8 mm pixels (rows x columns)."""
    row_mm, col_mm = 0.4, 0.8
    rows, cols = 200, 100  # 80 mm x 80 mm
    y = (np.arange(rows) + 0.5) * row_mm - 40.0
    x = (np.arange(cols) + 0.5) * col_mm - 40.0
    disk = (y[:, None] ** 2 + x[None, :] ** 2) <= 20.0**2
    hu = np.where(disk, 60, -100).astype(np.int16)[None].repeat(3, axis=0)
    return write_study(tmp_path / "disk", hu, pixel_spacing_mm=(row_mm, col_mm), seed="disk")


def test_ellipse_roi_drawn_with_the_mouse_on_anisotropic_pixels(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    open_and_wait(qtbot, main_window, [_disk_study(tmp_path)])
    view = main_window.slice_view
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_E)  # arm the ellipse tool
    assert main_window.measurements.tool == "ellipse"

    def to_viewport(x_mm: float, y_mm: float) -> QtCore.QPointF:
        return QtCore.QPointF(view.graphics.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(x_mm, y_mm))))

    # Drag the bounding box of a 12 x 8 mm ellipse inside the disk (centre 40, 40 mm).
    send_drag(view.graphics.viewport(), to_viewport(34.0, 36.0), to_viewport(46.0, 44.0))
    items = main_window.measurements.measurements
    assert len(items) == 1
    m = items[0]
    (cx, cy), (rx, ry) = m.ellipse_mm()
    assert m.stats is not None and abs(m.stats.mean_hu - 60.0) <= 2.0
    assert abs(m.stats.area_mm2 - math.pi * rx * ry) <= 0.02 * math.pi * rx * ry
    assert abs(rx - 6.0) < 1.0 and abs(ry - 4.0) < 1.0
    main_window.measurements.delete_selected()
    assert main_window.measurements.measurements == []


def test_disk_on_anisotropic_pixels_renders_round(qtbot, main_window, tmp_path, artifacts_dir) -> None:  # noqa: ANN001
    open_and_wait(qtbot, main_window, [_disk_study(tmp_path)])
    main_window.slice_view.set_corner_text_visible(False)
    qtbot.keyClick(main_window.slice_view.graphics, QtCore.Qt.Key.Key_5)  # soft tissue: disk bright on dark
    image = viewport_image(main_window)
    image.save(str(artifacts_dir / "anisotropic_disk.png"))
    view = main_window.slice_view
    centre = view.graphics.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(40.0, 40.0)))
    cx, cy = int(round(centre.x())), int(round(centre.y()))

    def bright(x: int, y: int) -> bool:
        return QtGui.QColor(image.pixel(x, y)).red() > 100  # disk 60 HU -> ~166, background -100 HU -> ~38

    def run(dx: int, dy: int) -> int:
        n = 0
        while bright(cx + (n + 1) * dx, cy + (n + 1) * dy):
            n += 1
        return n

    width, height = run(1, 0) + run(-1, 0) + 1, run(0, 1) + run(0, -1) + 1
    assert height > 40
    assert abs(width / height - 1.0) < 0.03, (width, height)


def test_escape_disarms_the_ruler_and_the_left_drag_windows_again(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    open_and_wait(qtbot, main_window, [_disk_study(tmp_path)])
    view = main_window.slice_view
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_M)
    assert main_window.measurements.tool == "ruler"
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_Escape)
    assert main_window.measurements.tool == ""
    centre = QtCore.QPointF(view.graphics.viewport().width() / 2, view.graphics.viewport().height() / 2)
    width_before = view.window[0]
    send_drag(view.graphics.viewport(), centre, centre + QtCore.QPointF(40, 0))
    assert main_window.measurements.measurements == []
    assert view.window[0] > width_before


def test_the_window_follows_the_series(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    """Bone kernel -> bone window, scout -> its header window, the user's window kept per series."""
    from PySide6 import QtCore
    from window_driver import open_and_wait, rendered_grey, viewport_image, write_study

    hu = np.zeros((3, 60, 60), np.int16)
    hu[:, :, :20], hu[:, :, 20:40], hu[:, :, 40:] = 0, 600, 1500
    root = tmp_path / "study"
    write_study(root / "soft", hu, pixel_spacing_mm=(3.0, 3.0), seed="wf", series_number=1)
    write_study(root / "bone", hu, pixel_spacing_mm=(3.0, 3.0), seed="wf", series_number=2,
                series_uid="1.2.826.0.1.3680043.10.1146.99.21", convolution_kernel="H70h")
    write_study(root / "scout", hu[:1], pixel_spacing_mm=(3.0, 3.0), seed="wf", series_number=3,
                series_uid="1.2.826.0.1.3680043.10.1146.99.22", image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
                window_center_hu=300.0, window_width_hu=1200.0)
    open_and_wait(qtbot, main_window, [root])
    view, combo = main_window.slice_view, main_window.preset_combo
    by_number = {int(s.slices[0].meta.get("SeriesNumber", "0")): s.stack_id for s in main_window.tree.stacks()}

    def show(number: int) -> None:
        with qtbot.waitSignal(main_window.volume_loaded, timeout=30000):
            main_window.series_browser.select_stack(by_number[number])

    def greys() -> list[int]:
        image = viewport_image(main_window)
        return [rendered_grey(main_window, image, (10 + 20 * i) * 3.0, 30 * 3.0) for i in range(3)]

    assert main_window.current_volume.metadata.series_number == 1
    assert view.window == (80.0, 40.0) and combo.currentText() == "Brain"
    show(2)  # bone kernel: W 2800 / L 600 maps 0, 600, 1500 HU to 73, 128, 210
    assert view.window == (2800.0, 600.0) and combo.currentText() == "Bone"
    assert all(abs(g - w) <= 2 for g, w in zip(greys(), (73, 128, 210))), greys()
    show(3)  # the scout: its header window
    assert view.window == (1200.0, 300.0) and combo.currentText() == "Header"
    show(2)
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_5)  # the user picks soft tissue on the bone series
    assert combo.currentText() == "Soft tissue"
    show(1)
    assert view.window == (80.0, 40.0)
    show(2)  # kept for the session
    assert view.window == (400.0, 40.0) and combo.currentText() == "Soft tissue"
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_R)  # reset: the series' own default again
    assert view.window == (2800.0, 600.0) and combo.currentText() == "Bone"
