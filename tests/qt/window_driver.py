"""Helpers that drive the real main window as a user does and read back its rendered pixels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from inference.synth.dicom_writer import SeriesSpec, write_series
from viewer.core.windowing import apply_window


def open_and_wait(qtbot, window, paths: list[Path | str], *, timeout_ms: int = 30000):  # noqa: ANN001, ANN201
    """Open paths the way File > Open does and wait until a Volume is shown."""
    with qtbot.waitSignal(window.volume_loaded, timeout=timeout_ms) as blocker:
        window.open_paths([str(p) for p in paths])
    qtbot.waitUntil(lambda: not window.is_loading(), timeout=timeout_ms)
    return blocker.args[0]


def write_study(
    out_dir: Path,
    hu: np.ndarray,
    *,
    pixel_spacing_mm: tuple[float, float] = (1.0, 1.0),
    seed: str = "qt-test",
    **spec_changes: object,
) -> Path:
    """Write an HU array (n, rows, cols) as an axial head-first synthetic CT series; return the folder."""
    spec = SeriesSpec(
        uid_seed=seed,
        pixel_spacing_mm=pixel_spacing_mm,
        series_description=f"SYNTHETIC {seed}",
        **spec_changes,  # type: ignore[arg-type]
    )
    write_series(hu, out_dir, spec)
    return out_dir


def block_pattern_volume(n_slices: int, *, rows: int = 64, cols: int = 64, block_px: int = 8, seed: int = 0) -> np.ndarray:
    """Slices of random flat blocks (HU 0..80, in the brain window), different on every slice."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 81, size=(n_slices, rows // block_px, cols // block_px)).astype(np.int16)
    return np.repeat(np.repeat(values, block_px, axis=1), block_px, axis=2)


def viewport_image(window) -> QtGui.QImage:  # noqa: ANN001
    """What the image view shows right now, as rendered (device pixels)."""
    view = window.slice_view
    view.render_now()
    return view.graphics.viewport().grab().toImage()


def rendered_grey(window, image: QtGui.QImage, x_mm: float, y_mm: float) -> int:  # noqa: ANN001
    """The rendered grey level at a point of the image given in mm (scene coordinates)."""
    view = window.slice_view
    scene = view.view_box.mapViewToScene(QtCore.QPointF(x_mm, y_mm))
    p = view.graphics.mapFromScene(scene)
    dpr = image.devicePixelRatio()
    color = QtGui.QColor(image.pixel(int(round(p.x() * dpr)), int(round(p.y() * dpr))))
    return color.red()


def rendered_block_greys(window, image: QtGui.QImage, *, block_px: int = 8) -> np.ndarray:  # noqa: ANN001
    """The rendered grey at the centre of every block of the current slice (rows, cols of blocks)."""
    v = window.slice_view.volume
    rows, cols = v.hu.shape[1:]
    row_mm, col_mm = v.pixel_spacing_mm
    out = np.zeros((rows // block_px, cols // block_px), np.int32)
    for br in range(rows // block_px):
        for bc in range(cols // block_px):
            y = (br + 0.5) * block_px * row_mm
            x = (bc + 0.5) * block_px * col_mm
            out[br, bc] = rendered_grey(window, image, x, y)
    return out


def expected_block_greys(hu2d: np.ndarray, width_hu: float, center_hu: float, *, block_px: int = 8) -> np.ndarray:
    """The windowed grey of every block's centre pixel."""
    grey = apply_window(hu2d, width_hu=width_hu, center_hu=center_hu)
    return grey[block_px // 2 :: block_px, block_px // 2 :: block_px].astype(np.int32)


def send_wheel(widget: QtWidgets.QWidget, pos: QtCore.QPointF, notches: int, modifiers=QtCore.Qt.KeyboardModifier.NoModifier) -> None:  # noqa: ANN001
    """`notches` wheel clicks (negative = towards the user) at a point of `widget`."""
    global_pos = QtCore.QPointF(widget.mapToGlobal(pos.toPoint()))
    for _ in range(abs(notches)):
        delta = 120 if notches > 0 else -120
        event = QtGui.QWheelEvent(
            pos, global_pos, QtCore.QPoint(0, 0), QtCore.QPoint(0, delta),
            QtCore.Qt.MouseButton.NoButton, modifiers, QtCore.Qt.ScrollPhase.NoScrollPhase, False,
        )
        QtWidgets.QApplication.sendEvent(widget, event)


def send_drag(widget: QtWidgets.QWidget, start: QtCore.QPointF, end: QtCore.QPointF, button=QtCore.Qt.MouseButton.LeftButton, steps: int = 6) -> None:  # noqa: ANN001
    """Press `button` at `start`, move in steps to `end`, release: a real mouse drag.

    Moves are spaced 25 ms apart, as a hand would: pyqtgraph drops mouse moves faster than the
    screen refresh.
    """
    E = QtCore.QEvent.Type
    no = QtCore.Qt.KeyboardModifier.NoModifier

    def event(kind: QtCore.QEvent.Type, pos: QtCore.QPointF, btn, buttons) -> QtGui.QMouseEvent:  # noqa: ANN001
        return QtGui.QMouseEvent(kind, pos, QtCore.QPointF(widget.mapToGlobal(pos.toPoint())), btn, buttons, no)

    QtWidgets.QApplication.sendEvent(widget, event(E.MouseButtonPress, start, button, button))
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        QTest.qWait(25)
        QtWidgets.QApplication.sendEvent(widget, event(E.MouseMove, p, QtCore.Qt.MouseButton.NoButton, button))
    QtWidgets.QApplication.sendEvent(widget, event(E.MouseButtonRelease, end, button, QtCore.Qt.MouseButton.NoButton))
