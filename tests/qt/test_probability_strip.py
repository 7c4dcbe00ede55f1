"""The probability strip: one point per slice, threshold and current lines, clicks and N / Shift+N."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui
from PySide6.QtTest import QTest

from inference.labels import LABELS
from viewer.qt.probability_strip import REDRAW_MS, ProbabilityStrip

N = 30
THRESHOLD = 0.4
BLEED = (12, 13, 14)


def _probs(index: int) -> dict[str, float]:
    p_any = 0.9 if index in BLEED else 0.05 + 0.01 * (index % 3)
    out = {label: 0.02 for label in LABELS}
    out["any"] = p_any
    out["subdural"] = 0.8 if index == 13 else 0.03
    return out


@pytest.fixture
def strip(qtbot):
    s = ProbabilityStrip()
    qtbot.addWidget(s)
    s.resize(600, 140)
    s.show()
    qtbot.waitExposed(s)
    s.reset(N, THRESHOLD)
    for i in range(N):
        s.update_slice(i, _probs(i))
    s.set_current(5)
    qtbot.wait(3 * REDRAW_MS)  # streamed updates are drawn together shortly after
    return s


def _grab(widget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    return arr[:, : img.width(), 2::-1].astype(int)


def _widget_pos(strip, x_view: float, y_view: float) -> QtCore.QPoint:
    vb = strip.plot_item.getViewBox()
    scene = vb.mapViewToScene(QtCore.QPointF(x_view, y_view))
    return strip.plot_widget.mapFromScene(scene)


def test_one_point_per_slice_streamed(qtbot):
    s = ProbabilityStrip()
    qtbot.addWidget(s)
    s.reset(N, THRESHOLD)
    assert s.n_points() == 0
    s.update_slice(3, _probs(3))
    assert s.n_points() == 1
    for i in range(N):
        s.update_slice(i, _probs(i))
    assert s.n_points() == N
    s.update_slice(N + 5, _probs(0))  # out of range: ignored
    assert s.n_points() == N


def test_click_emits_slice_index(strip, qtbot):
    with qtbot.waitSignal(strip.slice_clicked) as blocker:
        QTest.mouseClick(strip.plot_widget.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=_widget_pos(strip, 21, 0.5))
    assert blocker.args == [20]  # x shows 1-based slice numbers; the signal carries the 0-based index


def test_next_and_previous_above_threshold(strip):
    assert strip.next_above(0) == 12
    assert strip.next_above(12) == 13
    assert strip.next_above(14) is None
    assert strip.previous_above(29) == 14
    assert strip.previous_above(12) is None
    assert strip.next_above(0, label="subdural") == 13


def test_rendered_threshold_current_marker_and_points(strip, artifacts_dir):
    strip.grab().save(str(artifacts_dir / "probability_strip.png"))
    rgb = _grab(strip)
    # The current-slice marker (green) is drawn at slice 6 (index 5).
    p = _widget_pos(strip, 6, 0.5)
    col = rgb[p.y(), p.x() - 2 : p.x() + 3]
    assert any(g > 180 and r < 80 for r, g, b in col)
    # The dashed threshold line is drawn across at y = 0.4.
    t = _widget_pos(strip, 25.3, THRESHOLD)
    assert rgb[t.y() - 1 : t.y() + 2, t.x() - 6 : t.x() + 6].max() > 200
    # A bleed slice's point (filled orange) sits near y = 0.9.
    b = _widget_pos(strip, 14, 0.9)
    patch = rgb[b.y() - 2 : b.y() + 3, b.x() - 2 : b.x() + 3]
    assert ((patch[..., 0] > 200) & (patch[..., 2] < 80)).any()


def test_set_label_switches_curve(strip):
    strip.set_label("subdural")
    values = strip.probabilities()
    assert values[13] == pytest.approx(0.8) and strip.label == "subdural"
    assert "subdural" in strip.plot_item.getAxis("left").labelText
    with pytest.raises(ValueError):
        strip.set_label("nonsense")
    strip.reset(10, 0.5)
    assert strip.n_points() == 0 and strip.current == 5  # the marker stays while inside the stack
    strip.reset(3, 0.5)
    assert strip.current is None
