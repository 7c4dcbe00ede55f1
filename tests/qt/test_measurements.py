"""Rulers and ellipse ROIs on a slice view with anisotropic pixels: numbers and rendered pixels."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest
from volume_factory import make_volume

from viewer.qt.slice_view import SliceView

from viewer.core.measure import distance_mm, ellipse_mask, ellipse_stats
from viewer.qt.measurements import ELLIPSE, RULER, Measurements

ROW_MM, COL_MM = 0.8, 0.4  # anisotropic: rows twice as far apart as columns
DISK_HU, BACKGROUND_HU = 60, -800
DISK_CENTER_MM = (60.0, 50.0)  # (x along columns, y along rows)
DISK_RADIUS_MM = 25.0


def _disk_volume(n_slices: int = 3):
    rows, cols = 128, 256  # 102.4 mm x 102.4 mm
    x = (np.arange(cols) + 0.5) * COL_MM
    y = (np.arange(rows) + 0.5) * ROW_MM
    inside = (x[None, :] - DISK_CENTER_MM[0]) ** 2 + (y[:, None] - DISK_CENTER_MM[1]) ** 2 <= DISK_RADIUS_MM**2
    rng = np.random.default_rng(0)
    hu = np.where(inside, DISK_HU, BACKGROUND_HU) + rng.integers(-5, 6, size=(rows, cols))
    return make_volume(np.repeat(hu[None], n_slices, axis=0), pixel_spacing_mm=(ROW_MM, COL_MM))


@pytest.fixture
def view(qtbot):
    v = SliceView()
    qtbot.addWidget(v)
    v.resize(600, 600)
    v.show()
    qtbot.waitExposed(v)
    v.set_volume(_disk_volume(), index=0)
    v.set_window(400, 40)
    return v


def test_core_math_on_anisotropic_grid():
    assert distance_mm((0.0, 0.0), (3.0, 4.0)) == pytest.approx(5.0)
    mask = ellipse_mask((200, 100), (20.0, 40.0), (10.0, 20.0), (0.4, 0.8))
    assert mask.sum() * 0.4 * 0.8 == pytest.approx(math.pi * 10 * 20, rel=0.02)
    hu = np.zeros((200, 100), np.int16)
    hu[mask] = 50
    stats = ellipse_stats(hu, (20.0, 40.0), (10.0, 20.0), (0.4, 0.8))
    assert (stats.mean_hu, stats.min_hu, stats.max_hu, stats.sd_hu) == (50.0, 50.0, 50.0, 0.0)


def test_ellipse_roi_over_disk_reports_mean_and_area(view, qtbot):
    tools = Measurements(view)
    a, b = 15.0, 10.0  # inside the 25 mm disk
    m = tools.add_ellipse(DISK_CENTER_MM, (a, b))
    assert m.stats is not None
    assert m.stats.mean_hu == pytest.approx(DISK_HU, abs=2)
    assert m.stats.area_mm2 == pytest.approx(math.pi * a * b, rel=0.02)
    assert m.stats.n_pixels * ROW_MM * COL_MM == pytest.approx(math.pi * a * b, rel=0.02)
    assert DISK_HU - 6 <= m.stats.min_hu and m.stats.max_hu <= DISK_HU + 6
    assert f"mean {m.stats.mean_hu:.1f} HU" in m.label.toPlainText()
    assert "mm²" in m.label.toPlainText()


def test_ellipse_updates_live_when_moved(view, qtbot):
    tools = Measurements(view)
    m = tools.add_ellipse(DISK_CENTER_MM, (5.0, 5.0))
    assert m.stats.mean_hu == pytest.approx(DISK_HU, abs=2)
    m.roi.setPos((5.0, 5.0))  # onto the background
    assert m.stats.mean_hu == pytest.approx(BACKGROUND_HU, abs=2)
    assert f"mean {m.stats.mean_hu:.1f} HU" in m.label.toPlainText()


def test_ruler_over_known_distance(view):
    tools = Measurements(view)
    m = tools.add_ruler((10.0, 20.0), (40.0, 60.0))
    assert m.length_mm == pytest.approx(50.0, abs=0.5)
    assert "50.0 mm" in m.label.toPlainText()


def _grab(view) -> np.ndarray:
    img = view.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    return arr[:, : img.width(), 2::-1].copy()  # BGRA -> RGB


def test_disk_renders_round_on_anisotropic_pixels(view, artifacts_dir):
    view.grab().save(str(artifacts_dir / "measurements_anisotropic_disk.png"))
    grey = _grab(view).mean(axis=2)
    disk = grey > 70  # W400/L40: the 60 HU disk is grey ~140, the -800 HU background black
    ys, xs = np.nonzero(disk)
    width = xs.max() - xs.min() + 1
    height = ys.max() - ys.min() + 1
    assert width > 100  # big enough to measure a ratio
    assert width / height == pytest.approx(1.0, abs=0.03)


def _drag(view, p0_mm, p1_mm, steps: int = 8):
    """A left-button drag on the image as a user makes it: press, moves with the button held, release.

    Moves are spaced in time: pyqtgraph drops mouse moves that come faster than its rate limit.
    """
    gv = view.graphics
    vp = gv.viewport()

    def to_widget(p):
        return gv.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(*p)))

    def send(kind, pos, button, buttons):
        event = QtGui.QMouseEvent(
            kind, QtCore.QPointF(pos), QtCore.QPointF(vp.mapToGlobal(pos)), button, buttons,
            QtCore.Qt.KeyboardModifier.NoModifier,
        )
        QtWidgets.QApplication.sendEvent(vp, event)

    left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.NoButton
    a, b = to_widget(p0_mm), to_widget(p1_mm)
    send(QtCore.QEvent.Type.MouseButtonPress, a, left, left)
    for t in np.linspace(0, 1, steps + 1)[1:]:
        QTest.qWait(15)
        p = QtCore.QPoint(round(a.x() + t * (b.x() - a.x())), round(a.y() + t * (b.y() - a.y())))
        send(QtCore.QEvent.Type.MouseMove, p, none, left)
    QTest.qWait(15)
    send(QtCore.QEvent.Type.MouseButtonRelease, b, left, none)


def test_tools_place_by_mouse_drag_and_delete_key(view, qtbot):
    tools = Measurements(view)
    tools.start_ruler()
    assert tools.tool == RULER
    _drag(view, (10.0, 10.0), (70.0, 10.0))
    assert tools.tool == ""
    [ruler] = tools.measurements
    assert ruler.kind == RULER
    # One screen pixel is ~0.2 mm here: the drawn length is right to about a pixel.
    assert ruler.length_mm == pytest.approx(60.0, abs=0.5)

    tools.start_ellipse()
    _drag(view, (DISK_CENTER_MM[0] - 10, DISK_CENTER_MM[1] - 8), (DISK_CENTER_MM[0] + 10, DISK_CENTER_MM[1] + 8))
    ellipse = tools.measurements[-1]
    assert ellipse.kind == ELLIPSE
    assert ellipse.stats.mean_hu == pytest.approx(DISK_HU, abs=2)
    assert tools.selected is ellipse

    view.graphics.setFocus()
    QTest.keyClick(view.graphics, QtCore.Qt.Key.Key_Delete)
    assert tools.measurements == [ruler]

    tools.start_ellipse()
    QTest.keyClick(view.graphics, QtCore.Qt.Key.Key_Escape)
    assert tools.tool == ""
    _drag(view, (10.0, 10.0), (30.0, 30.0))  # no tool armed: places nothing
    assert tools.measurements == [ruler]


def test_measurements_belong_to_their_slice(view):
    tools = Measurements(view)
    m = tools.add_ruler((10.0, 10.0), (20.0, 10.0))
    assert m.roi.isVisible()
    view.set_index(1)
    assert not m.roi.isVisible() and not m.label.isVisible()
    assert tools.visible_measurements() == []
    view.set_index(0)
    assert m.roi.isVisible() and m.label.isVisible()
    tools.clear()
    assert tools.measurements == []


def test_dragging_an_ellipse_updates_its_numbers_live(view, qtbot):
    tools = Measurements(view)
    m = tools.add_ellipse(DISK_CENTER_MM, (5.0, 5.0))
    assert m.stats.mean_hu == pytest.approx(DISK_HU, abs=2)
    seen: list[float] = []
    tools.measurement_changed.connect(lambda changed: seen.append(changed.stats.mean_hu))
    # Grab the ROI's outline (its body accepts drags) and pull it onto the background.
    _drag(view, (DISK_CENTER_MM[0], DISK_CENTER_MM[1] - 5.0), (DISK_CENTER_MM[0] - 45.0, DISK_CENTER_MM[1] - 40.0))
    assert len(seen) >= 2  # updated while moving, not only at the end
    assert m.stats.mean_hu == pytest.approx(BACKGROUND_HU, abs=2)
    assert f"mean {m.stats.mean_hu:.1f} HU" in m.label.toPlainText()
    assert tools.selected is m
