"""Export what you see: File > Export the view as PNG… and Edit > Copy the view, driven through the
menus; the PNG holds exactly the view's pixels (with the chosen overlays and corner text)."""
from __future__ import annotations

import numpy as np
from PySide6 import QtGui, QtWidgets
from window_driver import open_and_wait, write_study

from viewer.qt.view_export import ExportViewDialog


def pixels(image: QtGui.QImage) -> np.ndarray:
    img = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    return arr[:, : img.width(), :3].copy()


def menu_action(window, menu: str, text: str) -> QtGui.QAction:  # noqa: ANN001
    m = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == menu)
    return next(a for a in m.actions() if a.text().replace("&", "").startswith(text))


def test_export_view_png_equals_the_view_and_copy_to_clipboard(qtbot, main_window, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    hu = np.zeros((3, 60, 60), np.int16)
    hu[:, 20:40, 20:40] = 80
    open_and_wait(qtbot, main_window, [write_study(tmp_path / "study", hu, pixel_spacing_mm=(3.0, 3.0), seed="export")])
    window = main_window
    view = window.slice_view
    assert view.corner_text_visible  # on screen: the corner text with the patient's name

    # As shown (overlays and corner text both chosen in the dialog): the PNG is the view's pixels.
    choices = {"overlays": True, "corner": True}

    def accept(dialog: ExportViewDialog) -> int:
        dialog.overlays_box.setChecked(choices["overlays"])
        dialog.corner_box.setChecked(choices["corner"])
        return int(QtWidgets.QDialog.DialogCode.Accepted)

    monkeypatch.setattr(ExportViewDialog, "exec", accept)
    target = tmp_path / "out" / "view.png"
    target.parent.mkdir()
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    menu_action(window, "File", "Export the view").trigger()
    assert target.is_file()
    view.render_now()
    on_screen = pixels(window.views_area.grab().toImage())
    saved = pixels(QtGui.QImage(str(target)))
    assert saved.shape == on_screen.shape and np.array_equal(saved, on_screen)

    # The default: no corner text (patient data). The image itself is unchanged, the corners not.
    dialog = ExportViewDialog(window._view_export_options.__class__())
    assert dialog.overlays_box.isChecked() and not dialog.corner_box.isChecked()
    choices["corner"] = False
    target.unlink()
    menu_action(window, "File", "Export the view").trigger()
    plain = pixels(QtGui.QImage(str(target)))
    h, w = plain.shape[:2]
    centre = (slice(h // 3, 2 * h // 3), slice(w // 3, 2 * w // 3))
    assert np.array_equal(plain[centre], on_screen[centre])
    corner = (slice(0, h // 8), slice(0, w // 3))
    assert not np.array_equal(plain[corner], on_screen[corner])
    assert view.corner_text_visible  # the screen keeps its corner text

    # Edit > Copy the view: the same picture on the clipboard.
    menu_action(window, "Edit", "Copy the view").trigger()
    copied = pixels(QtWidgets.QApplication.clipboard().image())
    assert np.array_equal(copied, plain)


def test_export_without_overlays_leaves_out_the_crosshair_lines(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    from viewer.qt.view_export import ViewExportOptions

    hu = np.zeros((6, 60, 60), np.int16)
    hu[:, 20:40, 20:40] = 80
    open_and_wait(qtbot, main_window, [write_study(tmp_path / "study", hu, pixel_spacing_mm=(3.0, 3.0), seed="export2")])
    main_window.mpr.set_layout("1+2")
    cyan = np.array([80, 200, 255])  # the coronal plane's line colour

    def line_pixels(options: ViewExportOptions) -> int:
        rgb = pixels(main_window.view_image(options))[..., ::-1].astype(int)
        return int((np.abs(rgb - cyan).max(axis=-1) <= 60).sum())

    assert line_pixels(ViewExportOptions(overlays=True)) > 50
    assert line_pixels(ViewExportOptions(overlays=False)) == 0
    assert main_window.mpr.view_lines["rows"].isVisible()  # the screen keeps them
