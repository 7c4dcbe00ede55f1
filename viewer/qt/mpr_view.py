"""MPR in the main window: the stack's two reformatted planes beside its own slices, a layout switch
and a linked crosshair.

`MprController(window, grid)` owns two `PlaneView`s (coronal and sagittal for an axial stack; the
reformatting is viewer.core.mpr's) and lays them out with the window's `slice_view` in `grid`:
"1" (the slices alone), "1+2" (the slices large, the two planes beside them) or "2x2" (slices,
coronal, sagittal and a readout of the crosshair point). The crosshair is one patient (LPS) point:
a click on any view moves it there, and every view goes to it (the slice view to its slice, each
plane to its position), each view drawing the other planes as lines in their colours; scrolling in
any view moves the point along that view's axis. The window (W/L) and inversion are shared by all
views; each view zooms and pans on its own. The AI's heatmap and the second reader's lesion outlines
(attached with `attach_overlays`) are reformatted into the planes too: the lesion labels directly
(nearest), the heatmap from the per-slice CAMs resampled onto a 4x coarser image grid (linear).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from viewer.core.mpr import COLS_PLANE, ROWS_PLANE, MprGeometry, PlaneImage
from viewer.core.volume import Volume
from viewer.qt.heatmap_overlay import _SmoothImageItem, cam_to_rgba
from viewer.qt.lesion_overlay import LESION_Z, _NearestImageItem, labels_to_rgba
from viewer.qt.slice_overlay import format_mm, screen_orientation_labels
from viewer.qt.slice_view import HEATMAP_Z, SliceView

LAYOUTS = ("1", "1+2", "2x2")
LAYOUT_NAMES = {"1": "1 view", "1+2": "1 + 2 views", "2x2": "2 × 2 views"}
# The colour each plane's line has in the other views (and its view's name tag).
PLANE_COLORS = {"stack": (255, 200, 60), ROWS_PLANE: (80, 200, 255), COLS_PLANE: (130, 230, 120)}
HEAT_STRIDE = 4  # the heatmap volume for the planes is kept on a 4x coarser image grid
CROSSHAIR_Z = 15.0


def cam_on_grid(
    cam: np.ndarray, to_image: np.ndarray | None, rows: int, cols: int, stride: int
) -> np.ndarray:
    """A CAM (model grid, values 0..1) resampled (bilinear, 0 outside) at the centres of the
    stride x stride blocks of a rows x cols image: (rows // stride, cols // stride) float32.
    `to_image` (2, 3): image [row, col] = to_image @ [y, x, 1]; None: the CAM spans the image."""
    cam = np.asarray(cam, np.float32)
    h, w = cam.shape
    rr = np.arange(rows // stride, dtype=np.float64) * stride + (stride - 1) / 2.0
    cc = np.arange(cols // stride, dtype=np.float64) * stride + (stride - 1) / 2.0
    R, C = np.meshgrid(rr, cc, indexing="ij")
    if to_image is None:
        y = (R + 0.5) * h / rows - 0.5
        x = (C + 0.5) * w / cols - 0.5
    else:
        a = np.asarray(to_image, np.float64).reshape(2, 3)
        inv = np.linalg.inv(a[:, :2])
        dr, dc = R - a[0, 2], C - a[1, 2]
        y = inv[0, 0] * dr + inv[0, 1] * dc
        x = inv[1, 0] * dr + inv[1, 1] * dc
    y0, x0 = np.floor(y).astype(np.intp), np.floor(x).astype(np.intp)
    wy, wx = (y - y0).astype(np.float32), (x - x0).astype(np.float32)
    out = np.zeros(R.shape, np.float32)
    for dy, fy in ((0, 1 - wy), (1, wy)):
        for dx, fx in ((0, 1 - wx), (1, wx)):
            yy, xx = y0 + dy, x0 + dx
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            out += fy * fx * np.where(ok, cam[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)], 0.0)
    return out


def _line_item(color: tuple[int, int, int]) -> QtWidgets.QGraphicsLineItem:
    item = QtWidgets.QGraphicsLineItem()
    pen = QtGui.QPen(QtGui.QColor(*color, 200))
    pen.setCosmetic(True)
    pen.setWidthF(1.0)
    item.setPen(pen)
    item.setZValue(CROSSHAIR_Z)
    item.setVisible(False)
    return item


class PlaneView(SliceView):
    """A reformatted plane of the shown Volume (a SliceView whose positions are the plane's).

    `plane`: viewer.core.mpr.ROWS_PLANE (coronal for an axial stack) or COLS_PLANE (sagittal).
    The index is the plane's position in voxel steps across the stack's extent.
    """

    def __init__(self, plane: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.plane = plane
        self.geometry_: MprGeometry | None = None
        self._plane_cache: tuple[int, PlaneImage] | None = None
        self.heat_item = _SmoothImageItem(axisOrder="row-major")
        self.heat_item.setZValue(HEATMAP_Z)
        self.heat_item.setVisible(False)
        self.lesion_item = _NearestImageItem(axisOrder="row-major")
        self.lesion_item.setZValue(LESION_Z)
        self.lesion_item.setVisible(False)
        for item in (self.heat_item, self.lesion_item):
            self.view_box.addItem(item, ignoreBounds=True)
        self.lines = {key: _line_item(color) for key, color in PLANE_COLORS.items() if key != plane}
        for line in self.lines.values():
            self.view_box.addItem(line, ignoreBounds=True)
        self.setAccessibleName(f"{plane} plane view")

    # ----------------------------------------------------------------------------- hooks
    def _volume_set(self) -> None:
        assert self._volume is not None
        self.geometry_ = MprGeometry(self._volume)
        self._plane_cache = None

    def count(self) -> int:
        return self.geometry_.plane_count(self.plane) if self.geometry_ is not None and self._volume is not None else 0

    def plane_data(self) -> PlaneImage:
        """The reformatted image at the current position (computed once per position)."""
        assert self.geometry_ is not None
        if self._plane_cache is None or self._plane_cache[0] != self._index:
            position = self.geometry_.plane_position(self.plane, self._index)
            self._plane_cache = (self._index, self.geometry_.reformat(self.plane, position))
        return self._plane_cache[1]

    def plane_image(self) -> np.ndarray:
        return self.plane_data().image

    def position_mm(self) -> float:
        assert self.geometry_ is not None
        return self.geometry_.plane_position(self.plane, self._index)

    def image_rect(self) -> QtCore.QRectF:
        assert self.geometry_ is not None
        height, width, down, across = self.geometry_.plane_grid(self.plane)
        return QtCore.QRectF(0, 0, width * across, height * down)

    def _spacing(self) -> tuple[float, float]:
        if self.geometry_ is not None and self._volume is not None:
            _h, _w, down, across = self.geometry_.plane_grid(self.plane)
            return down, across
        return super()._spacing()

    def _orientation_labels(self) -> dict[str, str]:
        assert self.geometry_ is not None
        right, down = self.geometry_.plane_axes(self.plane)
        return screen_orientation_labels(np.column_stack([right, down, np.cross(right, down)]))

    def patient_position_text(self) -> str:
        """The plane's place as a patient coordinate, e.g. 'y 4.0 mm' (LPS)."""
        assert self.geometry_ is not None
        g = self.geometry_
        normal = g.plane_normal(self.plane)
        axis = int(np.argmax(np.abs(normal)))
        point = g.origin + self.position_mm() * normal
        return f"{'xyz'[axis]} {point[axis] + 0.0:.1f} mm".replace("-0.0 ", "0.0 ")

    def name(self) -> str:
        return self.geometry_.plane_name(self.plane).capitalize() if self.geometry_ is not None else "Plane"

    def corner_texts(self) -> dict[str, str]:
        if self._volume is None or self.geometry_ is None:
            return {}
        w, c = self.window
        wl = f"W {w:.0f}  L {c:.0f}" + ("  inverted" if self.inverted else "")
        zoom = f"Zoom {self.zoom_factor():.2f}×"
        down, across = self._spacing()
        return {
            "top_left": f"{self.name()}  {self.patient_position_text()}",
            "top_right": f"{self.index + 1} / {self.count()}",
            "bottom_left": "\n".join(t for t in (self.cursor_info(), wl, zoom) if t),
            "bottom_right": f"{format_mm(across)} × {format_mm(down)} (reformatted)",
        }

    def _show_slice(self) -> None:
        super()._show_slice()
        self.overlays_dirty.emit()

    overlays_dirty = QtCore.Signal()

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802
        """Up/Down (Shift: 10), Home/End move through the plane's positions."""
        K = QtCore.Qt.Key
        step = 10 if event.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier else 1
        if event.key() == K.Key_Down:
            self.step(step)
        elif event.key() == K.Key_Up:
            self.step(-step)
        elif event.key() == K.Key_Home:
            self.set_index(0)
        elif event.key() == K.Key_End:
            self.set_index(self.count() - 1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # -------------------------------------------------------------------------- mapping
    def scene_to_point(self, pos: QtCore.QPointF) -> np.ndarray:
        """LPS of a scene point (mm) of this plane."""
        assert self.geometry_ is not None
        down, across = self._spacing()
        return self.geometry_.plane_point(self.plane, self.position_mm(), pos.y() / down - 0.5, pos.x() / across - 0.5)

    def pixel_to_scene(self, i: float, j: float) -> QtCore.QPointF:
        down, across = self._spacing()
        return QtCore.QPointF((j + 0.5) * across, (i + 0.5) * down)

    def point_to_scene(self, p_lps: np.ndarray) -> QtCore.QPointF:
        assert self.geometry_ is not None
        i, j = self.geometry_.plane_pixel(self.plane, p_lps)
        return self.pixel_to_scene(i, j)

    # ------------------------------------------------------------------------- overlays
    def show_overlays(self, heat: tuple[np.ndarray, dict] | None, labels: tuple[np.ndarray, dict] | None) -> None:
        """Draw the reformatted heatmap ((coarse volume, drawing options)) and lesion labels."""
        geometry = self.geometry_
        if geometry is None or self._volume is None:
            self.heat_item.setVisible(False)
            self.lesion_item.setVisible(False)
            return
        rect = self.image_rect()
        position = self.position_mm()
        if heat is not None:
            volume, options = heat
            plane = geometry.reformat(self.plane, position, volume, fill=0.0, stride=HEAT_STRIDE)
            self.heat_item.setImage(cam_to_rgba(plane.image, **options), autoLevels=False, levels=(0, 255))
            self.heat_item.setRect(rect)
        self.heat_item.setVisible(heat is not None)
        if labels is not None:
            label_map, options = labels
            plane = geometry.reformat(self.plane, position, label_map, order=0, fill=0)
            self.lesion_item.setImage(labels_to_rgba(plane.image, **options), autoLevels=False, levels=(0, 255))
            self.lesion_item.setRect(rect)
        self.lesion_item.setVisible(labels is not None)


class MprController(QtCore.QObject):
    """The layout switch, the two planes and the linked crosshair (see the module docstring)."""

    layout_changed = QtCore.Signal(str)
    point_changed = QtCore.Signal(object)  # LPS np.ndarray (3,)

    def __init__(self, window: QtWidgets.QMainWindow, grid: QtWidgets.QGridLayout) -> None:
        super().__init__(window)
        self.window = window
        self.view: SliceView = window.slice_view  # type: ignore[attr-defined]
        self.grid = grid
        parent = grid.parentWidget()
        self.coronal = PlaneView(ROWS_PLANE, parent)
        self.sagittal = PlaneView(COLS_PLANE, parent)
        self.planes = (self.coronal, self.sagittal)
        self.info = QtWidgets.QLabel(parent)
        self.info.setAccessibleName("Crosshair point")
        self.info.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.info.setStyleSheet("QLabel { background: black; color: #ddd; }")
        self.view_lines = {key: _line_item(PLANE_COLORS[key]) for key in (ROWS_PLANE, COLS_PLANE)}
        for line in self.view_lines.values():
            self.view.view_box.addItem(line, ignoreBounds=True)
        self.layout = ""
        self.geometry_: MprGeometry | None = None
        self.point: np.ndarray | None = None
        self._syncing = False
        self._heat = None
        self._lesions = None
        self._heat_volume: np.ndarray | None = None
        self._heat_ids: dict[int, int] = {}
        self._overlay_timer = QtCore.QTimer(self)
        self._overlay_timer.setSingleShot(True)
        self._overlay_timer.setInterval(120)
        self._overlay_timer.timeout.connect(self.refresh_overlays)

        self.view.volume_changed.connect(self._on_volume)
        self.view.index_changed.connect(self._on_view_index)
        self.view.clicked.connect(lambda pos: self._on_click(self.view, pos))
        self.view.window_changed.connect(self._sync_window)
        self.view.inverted_changed.connect(self._sync_inverted)
        for plane in self.planes:
            plane.index_changed.connect(lambda _i, p=plane: self._on_plane_index(p))
            plane.clicked.connect(lambda pos, p=plane: self._on_click(p, pos))
            plane.window_changed.connect(self._sync_window)
            plane.inverted_changed.connect(self._sync_inverted)
            plane.overlays_dirty.connect(lambda p=plane: self._refresh_plane_overlays(p))
            plane.cursor_info_changed.connect(self._on_plane_cursor)
        self.set_layout("1")

    # ============================================================================ public
    def set_layout(self, layout: str) -> None:
        """"1", "1+2" or "2x2"."""
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
        for w in (self.view, self.coronal, self.sagittal, self.info):
            self.grid.removeWidget(w)
        self.grid.addWidget(self.view, 0, 0, 2 if layout == "1+2" else 1, 1)
        for r in range(2):
            self.grid.setRowStretch(r, 0)
        for c in range(2):
            self.grid.setColumnStretch(c, 0)
        if layout == "1":
            shown: tuple[QtWidgets.QWidget, ...] = ()
            self.grid.setRowStretch(0, 1)
            self.grid.setColumnStretch(0, 1)
        elif layout == "1+2":
            self.grid.addWidget(self.coronal, 0, 1)
            self.grid.addWidget(self.sagittal, 1, 1)
            shown = (self.coronal, self.sagittal)
            self.grid.setColumnStretch(0, 2)
            self.grid.setColumnStretch(1, 1)
            self.grid.setRowStretch(0, 1)
            self.grid.setRowStretch(1, 1)
        else:
            self.grid.addWidget(self.coronal, 0, 1)
            self.grid.addWidget(self.sagittal, 1, 0)
            self.grid.addWidget(self.info, 1, 1)
            shown = (self.coronal, self.sagittal, self.info)
            for i in range(2):
                self.grid.setRowStretch(i, 1)
                self.grid.setColumnStretch(i, 1)
        for w in (self.coronal, self.sagittal, self.info):
            w.setVisible(w in shown)
        self.layout = layout
        if self.active():
            self._load_planes()
        self._update_lines()
        self.layout_changed.emit(layout)

    def active(self) -> bool:
        """Whether the planes are shown."""
        return self.layout != "1"

    def visible_views(self) -> list[SliceView]:
        return [self.view] + ([self.coronal, self.sagittal] if self.active() else [])

    def set_point(self, p_lps: np.ndarray, source: SliceView | None = None) -> None:
        """Move the crosshair to an LPS point: every view (but `source`) goes to it."""
        g = self.geometry_
        if g is None:
            return
        self.point = np.asarray(p_lps, np.float64).copy()
        self._syncing = True
        try:
            k = g.index_of_point(self.point)[0]
            if source is not self.view and np.isfinite(k):
                self.view.set_index(int(round(k)))
            if self.active():
                a, b, _h = g.frame_of_point(self.point)
                if source is not self.coronal:
                    self.coronal.set_index(g.plane_index(ROWS_PLANE, b))
                if source is not self.sagittal:
                    self.sagittal.set_index(g.plane_index(COLS_PLANE, a))
        finally:
            self._syncing = False
        self._update_lines()
        self.point_changed.emit(self.point)

    def attach_overlays(self, heat: object, lesions: object) -> None:
        """The AI's HeatmapOverlay and LesionOverlay on the slice view: shown in the planes too."""
        self._heat, self._lesions = heat, lesions
        heat.changed.connect(self._on_heat_changed)  # type: ignore[attr-defined]
        lesions.changed.connect(self._schedule_overlays)  # type: ignore[attr-defined]

    def set_corner_text_visible(self, visible: bool) -> None:
        for plane in self.planes:
            plane.set_corner_text_visible(visible)

    def apply_mouse(self, mapping: object, sensitivity: float) -> None:
        for plane in self.planes:
            plane.mouse_mapping = mapping  # type: ignore[assignment]
            plane.wl_sensitivity_hu_per_px = sensitivity

    # ========================================================================= internals
    def _on_volume(self, volume: Volume | None) -> None:
        self._heat_volume, self._heat_ids = None, {}
        self.geometry_ = MprGeometry(volume) if volume is not None else None
        self.point = None
        self._syncing = True
        try:
            for plane in self.planes:
                plane.set_volume(None)
        finally:
            self._syncing = False
        if volume is None:
            self._update_lines()
            return
        g = self.geometry_
        assert g is not None
        rows, cols = volume.hu.shape[1:]
        self.point = g.point_of_index(self.view.index, (rows - 1) / 2.0, (cols - 1) / 2.0)
        if self.active():
            self._load_planes()
        self._update_lines()

    def _load_planes(self) -> None:
        volume = self.view.volume
        g = self.geometry_
        if volume is None or g is None or self.point is None:
            return
        a, b, _h = g.frame_of_point(self.point)
        self._syncing = True
        try:
            for plane, index in ((self.coronal, g.plane_index(ROWS_PLANE, b)), (self.sagittal, g.plane_index(COLS_PLANE, a))):
                if plane.volume is not volume:
                    plane.set_window(*self.view.window)
                    plane.set_inverted(self.view.inverted)
                    plane.set_volume(volume, index=index)
                else:
                    plane.set_index(index)
        finally:
            self._syncing = False
        self._schedule_overlays()

    def _on_view_index(self, index: int) -> None:
        if self._syncing or self.geometry_ is None or self.point is None:
            return
        # The point moves to the new slice, keeping its place across (the planes stay where they are).
        g = self.geometry_
        a, b, _h = g.frame_of_point(self.point)
        k_point = g.index_of_point(self.point)
        r, c = (k_point[1], k_point[2]) if np.all(np.isfinite(k_point)) else ((g.rows - 1) / 2, (g.cols - 1) / 2)
        self.point = g.point_of_index(index, r, c)
        self._update_lines()
        self.point_changed.emit(self.point)

    def _on_plane_index(self, plane: PlaneView) -> None:
        if self._syncing or self.geometry_ is None or self.point is None or plane.volume is None:
            return
        g = self.geometry_
        abh = g.frame_of_point(self.point)
        abh[1 if plane.plane == ROWS_PLANE else 0] = plane.position_mm()
        self.set_point(g.point_of_frame(abh), source=plane)

    def _on_click(self, view: SliceView, pos: QtCore.QPointF) -> None:
        g = self.geometry_
        if g is None or view.volume is None:
            return
        measurements = getattr(self.window, "measurements", None)
        if measurements is not None and getattr(measurements, "tool", ""):
            return  # a click that places a measurement
        if isinstance(view, PlaneView):
            point = view.scene_to_point(pos)
        else:
            row_mm, col_mm = view.volume.pixel_spacing_mm
            point = g.point_of_index(view.index, pos.y() / row_mm - 0.5, pos.x() / col_mm - 0.5)
        self.set_point(point, source=view)

    def _sync_window(self, width: float, center: float) -> None:
        for v in self.visible_views():
            v.set_window(width, center)

    def _sync_inverted(self, inverted: bool) -> None:
        for v in self.visible_views():
            v.set_inverted(inverted)

    def _on_plane_cursor(self, text: str) -> None:
        label = getattr(self.window, "cursor_label", None)
        if label is not None and text:
            label.setText(text)

    # ---------------------------------------------------------------------------- lines
    def _update_lines(self) -> None:
        g, p = self.geometry_, self.point
        show = self.active() and g is not None and p is not None and self.view.volume is not None
        for line in self.view_lines.values():
            line.setVisible(show)
        for plane in self.planes:
            for line in plane.lines.values():
                line.setVisible(show and plane.volume is not None)
        if not show:
            self.info.setText("")
            return
        assert g is not None and p is not None
        a, b, _h = g.frame_of_point(p)
        k = self.view.index
        volume = self.view.volume
        assert volume is not None
        row_mm, col_mm = volume.pixel_spacing_mm
        for key, fixed in ((ROWS_PLANE, b), (COLS_PLANE, a)):
            (r0, c0), (r1, c1) = g.plane_line_in_slice(key, fixed, k)
            self.view_lines[key].setLine((c0 + 0.5) * col_mm, (r0 + 0.5) * row_mm, (c1 + 0.5) * col_mm, (r1 + 0.5) * row_mm)
        for plane in self.planes:
            if plane.volume is None:
                continue
            other = self.sagittal if plane is self.coronal else self.coronal
            fixed = plane.position_mm()
            (i0, j0), (i1, j1) = g.slice_line_in_plane(plane.plane, fixed, k)
            s0, s1 = plane.pixel_to_scene(i0, j0), plane.pixel_to_scene(i1, j1)
            plane.lines["stack"].setLine(s0.x(), s0.y(), s1.x(), s1.y())
            # The other plane: a line across this one at the point (vertical for an axial stack).
            other_fixed = g.frame_of_point(p)[1 if other.plane == ROWS_PLANE else 0]
            (y0, x0), (y1, x1) = g.cross_line_in_plane(plane.plane, other_fixed)
            c0, c1 = plane.pixel_to_scene(y0 - 0.5, x0), plane.pixel_to_scene(y1 + 0.5, x1)
            if abs(y1 - y0) < abs(x1 - x0):  # a horizontal line: extend along x instead
                c0, c1 = plane.pixel_to_scene(y0, x0 - 0.5), plane.pixel_to_scene(y1, x1 + 0.5)
            plane.lines[other.plane].setLine(c0.x(), c0.y(), c1.x(), c1.y())
        k_f, r_f, c_f = g.index_of_point(p)
        value = ""
        if np.isfinite(k_f):
            ki, ri, ci = int(round(k_f)), int(round(r_f)), int(round(c_f))
            if 0 <= ri < g.rows and 0 <= ci < g.cols:
                value = f"{int(volume.hu[ki, ri, ci])} HU"
        self.info.setText(
            "Crosshair (patient LPS, mm)\n"
            f"x {p[0]:.1f}   y {p[1]:.1f}   z {p[2]:.1f}\n"
            f"slice {int(round(k_f)) + 1 if np.isfinite(k_f) else '—'} / {g.n_slices}   {value}"
        )

    # ------------------------------------------------------------------------- overlays
    def _on_heat_changed(self) -> None:
        self._schedule_overlays()

    def _schedule_overlays(self) -> None:
        if self.active() and not self._overlay_timer.isActive():
            self._overlay_timer.start()

    def refresh_overlays(self) -> None:
        """Recompute the planes' heatmap and lesions now (normally batched every 120 ms)."""
        for plane in self.planes:
            self._refresh_plane_overlays(plane)

    def _heat_source(self) -> tuple[np.ndarray, dict] | None:
        heat = self._heat
        volume = self.view.volume
        if heat is None or volume is None or not heat.visible:  # type: ignore[attr-defined]
            return None
        cams = heat.slice_cams()  # type: ignore[attr-defined]
        if not cams:
            return None
        n, rows, cols = volume.hu.shape
        shape = (n, rows // HEAT_STRIDE, cols // HEAT_STRIDE)
        if self._heat_volume is None or self._heat_volume.shape != shape:
            self._heat_volume, self._heat_ids = np.zeros(shape, np.float32), {}
        for k in [k for k in self._heat_ids if k not in cams]:
            self._heat_volume[k] = 0.0
            del self._heat_ids[k]
        for k, (cam, to_image) in cams.items():
            if 0 <= k < n and self._heat_ids.get(k) != id(cam):
                self._heat_volume[k] = cam_on_grid(cam, to_image, rows, cols, HEAT_STRIDE)
                self._heat_ids[k] = id(cam)
        options = {
            "colormap": heat.colormap,  # type: ignore[attr-defined]
            "opacity": heat.opacity,  # type: ignore[attr-defined]
            "display_threshold": heat.display_threshold,  # type: ignore[attr-defined]
        }
        return self._heat_volume, options

    def _lesion_source(self) -> tuple[np.ndarray, dict] | None:
        lesions = self._lesions
        if lesions is None or not lesions.visible:  # type: ignore[attr-defined]
            return None
        labels = lesions.labels()  # type: ignore[attr-defined]
        if labels is None:
            return None
        return labels, {"style": lesions.style, "opacity": lesions.opacity}  # type: ignore[attr-defined]

    def _refresh_plane_overlays(self, plane: PlaneView) -> None:
        if not self.active() or plane.volume is None:
            return
        plane.show_overlays(self._heat_source(), self._lesion_source())


def layout_combo(controller: MprController) -> QtWidgets.QComboBox:
    """A toolbar combo box for the layout."""
    combo = QtWidgets.QComboBox()
    combo.setAccessibleName("View layout")
    combo.setToolTip("Layout: the slices alone, with coronal and sagittal planes beside them, or 2 × 2 (Alt+1/2/3)")
    for key in LAYOUTS:
        combo.addItem(LAYOUT_NAMES[key], key)
    combo.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
    combo.activated.connect(lambda i: controller.set_layout(combo.itemData(i)))

    def follow(layout: str) -> None:
        blocker = QtCore.QSignalBlocker(combo)
        combo.setCurrentIndex(LAYOUTS.index(layout))
        del blocker

    controller.layout_changed.connect(follow)
    return combo


_ = pg  # pyqtgraph items are used through the views
