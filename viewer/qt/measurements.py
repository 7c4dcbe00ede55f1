"""Distance rulers and ellipse ROIs drawn on a SliceView, each attached to its slice.

Everything is placed in the view's millimetre scene coordinates (the image item spans
cols * col_mm by rows * row_mm), so lengths and areas come out in mm on anisotropic pixels too.
The arithmetic lives in viewer.core.measure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from viewer.core.measure import RoiStats, distance_mm, ellipse_stats

RULER = "ruler"
ELLIPSE = "ellipse"

_PEN = pg.mkPen((255, 210, 0), width=2)
_SELECTED_PEN = pg.mkPen((0, 220, 255), width=3)
_HOVER_PEN = pg.mkPen((255, 255, 255), width=2)
_LABEL_FILL = pg.mkBrush(0, 0, 0, 170)
_MIN_DRAG_MM = 1.0  # a press-release shorter than this places nothing


class _EllipseRoi(pg.EllipseROI):
    """An axis-aligned ellipse: no rotate handle, scale handles on both axes and one corner."""

    def _addHandles(self) -> None:  # noqa: N802 (pyqtgraph's name)
        self.addScaleHandle([1.0, 0.5], [0.5, 0.5])
        self.addScaleHandle([0.5, 1.0], [0.5, 0.5])
        self.addScaleHandle([0.5 + 0.5 * 2.0**-0.5, 0.5 + 0.5 * 2.0**-0.5], [0.5, 0.5])


@dataclass(eq=False)
class Measurement:
    """One ruler or ellipse on one slice of one stack, with its last computed values."""

    kind: str  # RULER or ELLIPSE
    stack_id: str
    slice_index: int
    roi: pg.ROI
    label: pg.TextItem
    length_mm: float | None = None  # rulers
    stats: RoiStats | None = None  # ellipses
    text: str = ""

    def endpoints_mm(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """A ruler's two end points in mm (x along columns, y along rows)."""
        handles = self.roi.getHandles()
        p0, p1 = (self.roi.mapToParent(h.pos()) for h in handles[:2])
        return (p0.x(), p0.y()), (p1.x(), p1.y())

    def ellipse_mm(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """An ellipse's centre and radii in mm, (x, y) each."""
        pos, size = self.roi.pos(), self.roi.size()
        w, h = abs(size.x()), abs(size.y())
        x0 = min(pos.x(), pos.x() + size.x())
        y0 = min(pos.y(), pos.y() + size.y())
        return (x0 + w / 2.0, y0 + h / 2.0), (w / 2.0, h / 2.0)


class Measurements(QtCore.QObject):
    """Rulers and ellipse ROIs on a SliceView; each is shown only on the slice it was drawn on.

    `start_ruler()` / `start_ellipse()` arm a tool: the next left-drag on the image places it.
    Delete removes the selected measurement (the last placed, moved or clicked one).
    """

    measurement_added = QtCore.Signal(object)
    measurement_changed = QtCore.Signal(object)
    measurement_removed = QtCore.Signal(object)
    tool_changed = QtCore.Signal(str)  # RULER, ELLIPSE or "" when no tool is armed

    def __init__(self, slice_view: QtWidgets.QWidget) -> None:
        super().__init__(slice_view)
        self._view = slice_view
        self._items: list[Measurement] = []
        self._selected: Measurement | None = None
        self._tool = ""
        self._drawing: Measurement | None = None
        self._press_mm: tuple[float, float] | None = None
        slice_view.index_changed.connect(self._refresh_visibility)
        slice_view.volume_changed.connect(self._on_volume_changed)
        scene = slice_view.view_box.scene()
        if scene is not None:
            scene.installEventFilter(self)
        self._delete_shortcut = QtGui.QShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_Delete), slice_view)
        self._delete_shortcut.setContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._delete_shortcut.activated.connect(self.delete_selected)
        self._escape_shortcut = QtGui.QShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_Escape), slice_view)
        self._escape_shortcut.setContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._escape_shortcut.activated.connect(self.cancel_tool)
        self._escape_shortcut.setEnabled(False)  # only while a tool is armed

    # ----------------------------------------------------------------------------------- public
    @property
    def measurements(self) -> list[Measurement]:
        """All measurements, on every slice and stack, in the order they were made."""
        return list(self._items)

    @property
    def selected(self) -> Measurement | None:
        return self._selected

    @property
    def tool(self) -> str:
        """The armed tool: RULER, ELLIPSE or ""."""
        return self._tool

    def visible_measurements(self) -> list[Measurement]:
        """The measurements of the slice on screen."""
        return [m for m in self._items if self._on_current_slice(m)]

    def start_ruler(self) -> None:
        """Arm the ruler: the next left-drag on the image draws it."""
        self._set_tool(RULER)

    def start_ellipse(self) -> None:
        """Arm the ellipse ROI: the next left-drag on the image draws its bounding box."""
        self._set_tool(ELLIPSE)

    def cancel_tool(self) -> None:
        """Disarm the tool without placing anything."""
        self._set_tool("")

    def add_ruler(self, p0_mm: tuple[float, float], p1_mm: tuple[float, float]) -> Measurement:
        """Place a ruler on the current slice between two points in mm (x, y)."""
        stack_id, index = self._require_slice()
        roi = pg.LineSegmentROI(
            [tuple(map(float, p0_mm)), tuple(map(float, p1_mm))], pen=_PEN, hoverPen=_HOVER_PEN, removable=True
        )
        return self._register(Measurement(RULER, stack_id, index, roi, self._make_label()))

    def add_ellipse(self, center_mm: tuple[float, float], radii_mm: tuple[float, float]) -> Measurement:
        """Place an axis-aligned ellipse ROI on the current slice (centre and radii in mm, x/y)."""
        stack_id, index = self._require_slice()
        rx, ry = abs(float(radii_mm[0])), abs(float(radii_mm[1]))
        roi = _EllipseRoi(
            (float(center_mm[0]) - rx, float(center_mm[1]) - ry),
            (2.0 * rx, 2.0 * ry),
            pen=_PEN,
            hoverPen=_HOVER_PEN,
            rotatable=False,
            removable=True,
        )
        return self._register(Measurement(ELLIPSE, stack_id, index, roi, self._make_label()))

    def delete_selected(self) -> None:
        """Remove the selected measurement (Delete key); nothing when none is selected."""
        if self._selected is not None:
            self.remove(self._selected)

    def remove(self, measurement: Measurement) -> None:
        """Remove one measurement."""
        if measurement not in self._items:
            return
        self._items.remove(measurement)
        vb = self._view.view_box
        for item in (measurement.roi, measurement.label):
            vb.removeItem(item)
        if self._selected is measurement:
            self._selected = None
        self.measurement_removed.emit(measurement)

    def clear(self) -> None:
        """Remove every measurement of every slice."""
        for m in list(self._items):
            self.remove(m)

    # ---------------------------------------------------------------------------- internals
    def _set_tool(self, tool: str) -> None:
        self._tool = tool
        self._escape_shortcut.setEnabled(bool(tool))
        self._drawing = None
        self._press_mm = None
        self._view.setCursor(QtCore.Qt.CursorShape.CrossCursor if tool else QtCore.Qt.CursorShape.ArrowCursor)
        self.tool_changed.emit(tool)

    def _require_slice(self) -> tuple[str, int]:
        volume = self._view.volume
        if volume is None:
            raise RuntimeError("no series is shown: open a series before measuring")
        return volume.stack_id, int(self._view.index)

    def _make_label(self) -> pg.TextItem:
        label = pg.TextItem("", color=(255, 230, 120), fill=_LABEL_FILL, anchor=(0, 0))
        label.setZValue(30)
        return label

    def _register(self, m: Measurement) -> Measurement:
        vb = self._view.view_box
        m.roi.setZValue(20)
        m.roi.setAcceptedMouseButtons(QtCore.Qt.MouseButton.LeftButton)
        vb.addItem(m.roi)
        vb.addItem(m.label)
        m.roi.sigRegionChanged.connect(lambda _roi, m=m: self._update(m))
        m.roi.sigRegionChangeStarted.connect(lambda _roi, m=m: self._select(m))
        m.roi.sigClicked.connect(lambda _roi, _ev, m=m: self._select(m))
        m.roi.sigRemoveRequested.connect(lambda _roi, m=m: self.remove(m))
        self._items.append(m)
        self._update(m)
        self._select(m)
        self._refresh_visibility()
        self.measurement_added.emit(m)
        return m

    def _select(self, m: Measurement | None) -> None:
        if self._selected is not None and self._selected in self._items:
            self._selected.roi.setPen(_PEN)
        self._selected = m
        if m is not None:
            m.roi.setPen(_SELECTED_PEN)

    def _update(self, m: Measurement) -> None:
        if m.kind == RULER:
            p0, p1 = m.endpoints_mm()
            m.length_mm = distance_mm(p0, p1)
            m.text = f"{m.length_mm:.1f} mm"
            anchor_mm = max((p0, p1), key=lambda p: (p[0], p[1]))
            m.label.setPos(anchor_mm[0], anchor_mm[1])
        else:
            center, radii = m.ellipse_mm()
            volume = self._view.volume
            if volume is not None and volume.stack_id == m.stack_id and m.slice_index < volume.n_slices:
                m.stats = ellipse_stats(volume.hu[m.slice_index], center, radii, volume.pixel_spacing_mm)
            m.text = _ellipse_text(m.stats, radii)
            m.label.setPos(center[0] + radii[0], center[1] + radii[1])
        m.label.setText(m.text)
        self.measurement_changed.emit(m)

    def _on_current_slice(self, m: Measurement) -> bool:
        volume = self._view.volume
        return volume is not None and volume.stack_id == m.stack_id and int(self._view.index) == m.slice_index

    @QtCore.Slot()
    def _refresh_visibility(self, *_args: object) -> None:
        for m in self._items:
            shown = self._on_current_slice(m)
            m.roi.setVisible(shown)
            m.label.setVisible(shown)

    @QtCore.Slot(object)
    def _on_volume_changed(self, _volume: object) -> None:
        if self._drawing is not None:
            self._set_tool("")
        for m in self._items:
            if self._on_current_slice(m) and m.kind == ELLIPSE:
                self._update(m)
        self._refresh_visibility()

    # ------------------------------------------------------------------ mouse placement of tools
    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt's name)
        if not self._tool:
            return False
        etype = event.type()
        if etype == QtCore.QEvent.Type.GraphicsSceneMousePress:
            if event.button() != QtCore.Qt.MouseButton.LeftButton or self._view.volume is None:
                return False
            if not self._view.view_box.sceneBoundingRect().contains(event.scenePos()):
                return False
            self._press_mm = self._to_mm(event.scenePos())
            return True
        if etype == QtCore.QEvent.Type.GraphicsSceneMouseMove and self._press_mm is not None:
            self._drag_to(self._to_mm(event.scenePos()))
            return True
        if etype == QtCore.QEvent.Type.GraphicsSceneMouseRelease and self._press_mm is not None:
            if event.button() != QtCore.Qt.MouseButton.LeftButton:
                return True
            self._drag_to(self._to_mm(event.scenePos()))
            placed = self._drawing
            self._set_tool("")
            if placed is not None:
                self._select(placed)
            return True
        return False

    def _to_mm(self, scene_pos: QtCore.QPointF) -> tuple[float, float]:
        p = self._view.view_box.mapSceneToView(scene_pos)
        return float(p.x()), float(p.y())

    def _drag_to(self, p_mm: tuple[float, float]) -> None:
        start = self._press_mm
        assert start is not None
        if self._drawing is None:
            if math.hypot(p_mm[0] - start[0], p_mm[1] - start[1]) < _MIN_DRAG_MM:
                return
            if self._tool == RULER:
                self._drawing = self.add_ruler(start, p_mm)
            else:
                self._drawing = self.add_ellipse(*_box_to_ellipse(start, p_mm))
            return
        m = self._drawing
        if m.kind == RULER:
            handles = m.roi.getHandles()
            m.roi.movePoint(handles[1], QtCore.QPointF(*p_mm), coords="parent")
        else:
            center, radii = _box_to_ellipse(start, p_mm)
            m.roi.setPos((center[0] - radii[0], center[1] - radii[1]), update=False)
            m.roi.setSize((2 * radii[0], 2 * radii[1]))


def _box_to_ellipse(
    a_mm: tuple[float, float], b_mm: tuple[float, float]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The ellipse inscribed in the box spanned by two corners: (centre, radii)."""
    center = ((a_mm[0] + b_mm[0]) / 2.0, (a_mm[1] + b_mm[1]) / 2.0)
    radii = (max(abs(b_mm[0] - a_mm[0]) / 2.0, 0.05), max(abs(b_mm[1] - a_mm[1]) / 2.0, 0.05))
    return center, radii


def _ellipse_text(stats: RoiStats | None, radii_mm: tuple[float, float]) -> str:
    area = math.pi * radii_mm[0] * radii_mm[1]
    if stats is None or stats.n_pixels == 0 or not np.isfinite(stats.mean_hu):
        return f"area {area:.1f} mm²\n(no pixel inside)"
    return (
        f"mean {stats.mean_hu:.1f} HU  SD {stats.sd_hu:.1f}\n"
        f"min {stats.min_hu:.0f}  max {stats.max_hu:.0f} HU\n"
        f"area {stats.area_mm2:.1f} mm²"
    )
