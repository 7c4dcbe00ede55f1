"""The image: one slice of a Volume in millimetre scene coordinates, with windowing and overlays.

Contract (others build on it): `view_box` (aspect-locked, y inverted so row 0 is at the top) holds
`image_item`, drawn with `setRect(0, 0, cols * col_mm, rows * row_mm)`, so a scene distance is a
physical distance. Add overlay items (heatmaps, ROIs) to `view_box` in the same mm coordinates;
z-values: image 0, `HEATMAP_Z` for heatmaps, 20+ for measurements.

Windowing: the int16 HU slice goes to the ImageItem with `levels=(low, high)` as pyqtgraph expects
(`image_item.image` is the HU slice, `image_item.levels` the window). Rendering that to a QImage is
done by `WindowedImageItem.render`: one gather through a 65536-entry RGB32 table per window, giving an
opaque RGB32 QImage that Qt scales (smoothly) several times faster than pyqtgraph's ARGB32 output.
bench/scroll.py measures both paths in the same run (`--path pyqtgraph` keeps pyqtgraph's own).
The screen-fixed overlay (corner text, orientation letters, scale bar) is `slice_overlay.SliceOverlay`.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from viewer.core.volume import Volume
from viewer.core.windowing import PRESETS_BY_KEY, window_levels
from viewer.qt.slice_overlay import SliceOverlay, format_da, format_mm, format_person_name, screen_orientation_labels
from viewer.settings import NONE, PAN, WINDOW, ZOOM, MouseMapping

HEATMAP_Z = 10.0
_WHEEL_NOTCH = 120
_INVERTED_LUT = np.arange(255, -1, -1, dtype=np.uint8)
DEFAULT_WINDOW = (PRESETS_BY_KEY["brain"].width_hu, PRESETS_BY_KEY["brain"].center_hu)


class WindowedImageItem(pg.ImageItem):
    """A pg.ImageItem that renders int16 HU through a cached RGB32 window table (see module doc).

    Anything but a 2D int16 image (or `fast=False`) takes pyqtgraph's own path unchanged.
    """

    def __init__(self, *, fast: bool = True) -> None:
        super().__init__(axisOrder="row-major")
        self.fast = fast
        self.inverted = False
        self._table_key: tuple[float, float, bool] | None = None
        self._table: np.ndarray | None = None
        self._rgb32: np.ndarray | None = None

    def _window_table(self, low: float, high: float) -> np.ndarray:
        key = (float(low), float(high), self.inverted)
        if key != self._table_key or self._table is None:
            hu = np.arange(-32768, 32768, dtype=np.float32)
            grey = np.clip(np.rint((hu - low) * (255.0 / max(high - low, 1e-6))), 0, 255).astype(np.uint32)
            if self.inverted:
                grey = 255 - grey
            # Index i holds HU (i - 32768), which is what int16 -> uint16 XOR 0x8000 gives.
            self._table = np.uint32(0xFF000000) | (grey << 16) | (grey << 8) | grey
            self._table_key = key
        return self._table

    def render(self) -> None:
        image = self.image
        if (
            not self.fast
            or image is None
            or image.ndim != 2
            or image.dtype != np.int16
            or self.levels is None
            or np.ndim(self.levels) != 1
        ):
            super().render()
            return
        low, high = (float(v) for v in self.levels)
        table = self._window_table(low, high)
        index = image.view(np.uint16) ^ np.uint16(0x8000)
        rows, cols = image.shape
        if self._rgb32 is None or self._rgb32.shape != (rows, cols):
            self._rgb32 = np.empty((rows, cols), np.uint32)
        np.take(table, index, out=self._rgb32)
        self.qimage = QtGui.QImage(self._rgb32.data, cols, rows, cols * 4, QtGui.QImage.Format.Format_RGB32)
        self._renderRequired = False
        self._unrenderable = False


class _SliceViewBox(pg.ViewBox):
    """A ViewBox whose wheel and drags are routed to the SliceView's mouse mapping."""

    def __init__(self, owner: SliceView) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.0)
        self._owner = owner

    def wheelEvent(self, ev: QtWidgets.QGraphicsSceneWheelEvent, axis: int | None = None) -> None:  # noqa: N802
        self._owner._on_wheel(ev)

    def mouseDragEvent(self, ev: pg.GraphicsScene.mouseEvents.MouseDragEvent, axis: int | None = None) -> None:  # noqa: N802
        self._owner._on_drag(ev)

    def mouseClickEvent(self, ev: object) -> None:  # noqa: N802
        ev.accept()  # type: ignore[attr-defined]
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            self._owner.clicked.emit(self.mapSceneToView(ev.scenePos()))  # type: ignore[attr-defined]

class SliceView(QtWidgets.QWidget):
    """One slice of a Volume with windowing, navigation, zoom/pan and screen-fixed overlays."""

    index_changed = QtCore.Signal(int)
    volume_changed = QtCore.Signal(object)
    window_changed = QtCore.Signal(float, float)
    inverted_changed = QtCore.Signal(bool)
    zoom_changed = QtCore.Signal(float)
    cursor_info_changed = QtCore.Signal(str)  # "x 120  y 88  37 HU" or ""
    clicked = QtCore.Signal(object)  # QPointF in scene mm: a left click (not a drag) on the image

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Image view")
        self.graphics = pg.GraphicsView(self, background="k")
        self.graphics.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setFocusProxy(self.graphics)
        self.graphics.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, True)
        self.view_box = _SliceViewBox(self)
        self.view_box.setMouseEnabled(x=False, y=False)
        self.view_box.disableAutoRange()
        self.graphics.setCentralItem(self.view_box)
        self.image_item = WindowedImageItem()
        self.image_item.setZValue(0)
        self.view_box.addItem(self.image_item)
        self.overlay = SliceOverlay(self)
        self.graphics.scene().addItem(self.overlay)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

        self._volume: Volume | None = None
        self._index = 0
        self._width_hu, self._center_hu = DEFAULT_WINDOW
        self._levels = window_levels(self._width_hu, self._center_hu)
        self._inverted = False
        self._fitted = True
        self._preview_shape: tuple[int, int] | None = None
        self._preview_spacing: tuple[float, float] = (1.0, 1.0)
        self._preview_text = ""
        self._wheel_accum = 0
        self._drag_start: tuple[str, float, float, QtCore.QPointF] | None = None
        self._cursor_text = ""
        self._mouse_scene_pos: QtCore.QPointF | None = None  # where a still mouse rests (readout)
        self._labels: dict[str, str] = {}
        self.corner_text_visible = True
        self.empty_text = ""  # shown centred while no image is (e.g. how to open a study)
        self.mouse_mapping = MouseMapping()
        self.wl_sensitivity_hu_per_px = 2.0

        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.graphics.viewport().installEventFilter(self)
        self.view_box.sigResized.connect(self._on_resized)
        self.view_box.sigRangeChanged.connect(self._on_range_changed)

    # ------------------------------------------------------------------------------- state
    @property
    def volume(self) -> Volume | None:
        """The Volume shown (None while nothing or only a preview is shown)."""
        return self._volume

    @property
    def index(self) -> int:
        """The canonical index of the slice shown."""
        return self._index

    @property
    def window(self) -> tuple[float, float]:
        """(width_hu, center_hu)."""
        return self._width_hu, self._center_hu

    @property
    def inverted(self) -> bool:
        return self._inverted

    # ----------------------------------------------------------------------------- setters
    def set_volume(self, volume: Volume | None, *, index: int | None = None) -> None:
        """Show a Volume at `index` (default: the middle slice, the one decoded first); fits it."""
        self._volume = volume
        self._preview_shape = None
        self._preview_text = ""
        if volume is None:
            self.image_item.clear()
            self._labels = {}
            self._index = 0
        else:
            self._volume_set()
            n = self.count()
            self._index = int(np.clip(self.default_index() if index is None else index, 0, n - 1))
            self._labels = self._orientation_labels()
            old = self.image_item.mapRectToParent(self.image_item.boundingRect())
            new = self.image_rect()
            self._show_slice()
            self.image_item.setRect(new)
            if self._fitted or old != new:
                self.fit()
        self._refresh_cursor()
        self.overlay.update()
        self.volume_changed.emit(volume)
        self.index_changed.emit(self._index)

    def show_preview(self, hu2d: np.ndarray, pixel_spacing_mm: tuple[float, float], text: str = "") -> None:
        """Show one decoded slice while its volume loads (no Volume yet: tools stay off)."""
        self._volume = None
        self._labels = {}
        rows, cols = hu2d.shape
        row_mm, col_mm = (float(v) if v else 1.0 for v in pixel_spacing_mm)
        self._preview_shape = (rows, cols)
        self._preview_spacing = (row_mm, col_mm)
        self._preview_text = text
        self.image_item.setImage(hu2d, levels=self._levels, autoLevels=False)
        self.image_item.setRect(QtCore.QRectF(0, 0, cols * col_mm, rows * row_mm))
        self.fit()
        self.overlay.update()

    def set_preview_text(self, text: str) -> None:
        """Replace the text shown over a preview (e.g. when its loading was cancelled)."""
        self._preview_text = text
        self.overlay.update()

    def set_index(self, i: int) -> None:
        """Show slice `i` (clamped); emits index_changed when it changes."""
        if self._volume is None:
            return
        i = int(np.clip(i, 0, self.count() - 1))
        if i == self._index:
            return
        self._index = i
        self._show_slice()
        self._refresh_cursor()
        self.overlay.update()
        self.index_changed.emit(i)

    def step(self, delta: int) -> None:
        """Move `delta` slices (clamped)."""
        self.set_index(self._index + int(delta))

    def set_window(self, width_hu: float, center_hu: float) -> None:
        """Window in HU; width is clamped to at least 1 HU."""
        width_hu = max(float(width_hu), 1.0)
        center_hu = float(center_hu)
        if (width_hu, center_hu) == (self._width_hu, self._center_hu):
            return
        self._width_hu, self._center_hu = width_hu, center_hu
        self._levels = window_levels(width_hu, center_hu)
        if self._volume is not None or self._preview_shape is not None:
            self.image_item.setLevels(self._levels)
        self.overlay.update()
        self.window_changed.emit(width_hu, center_hu)

    def set_inverted(self, inverted: bool) -> None:
        """Show the image inverted (white air)."""
        inverted = bool(inverted)
        if inverted == self._inverted:
            return
        self._inverted = inverted
        self.image_item.inverted = inverted
        if not self.image_item.fast:
            self.image_item.setLookupTable(_INVERTED_LUT if inverted else None)
        self.image_item.updateImage()
        self.overlay.update()
        self.inverted_changed.emit(inverted)

    def set_corner_text_visible(self, visible: bool) -> None:
        self.corner_text_visible = bool(visible)
        self.overlay.update()

    # ------------------------------------------------------------------------ zoom and pan
    def fit(self) -> None:
        """Fit the whole image in the view (F)."""
        rect = self.image_item.mapRectToParent(self.image_item.boundingRect())
        if rect.width() <= 0 or rect.height() <= 0:
            return
        self.view_box.setRange(rect=rect, padding=0.0)
        self._fitted = True
        self.overlay.update()

    def zoom_by(self, factor: float, center_mm: QtCore.QPointF | None = None) -> None:
        """Zoom in by `factor` (> 1 enlarges) around a point in mm (default: the view centre)."""
        if factor <= 0:
            return
        center = center_mm if center_mm is not None else self.view_box.viewRect().center()
        self.view_box.scaleBy(s=(1.0 / factor, 1.0 / factor), center=center)
        self._fitted = False

    def pan_by_mm(self, dx_mm: float, dy_mm: float) -> None:
        """Move the image by (dx, dy) mm on screen."""
        self.view_box.translateBy(t=(-dx_mm, -dy_mm))
        self._fitted = False

    def mm_per_screen_px(self) -> float | None:
        """Millimetres per device-independent screen pixel (None before layout)."""
        try:
            px = self.view_box.viewPixelSize()[0]
        except Exception:  # noqa: BLE001 (pyqtgraph raises on a zero-size view)
            return None
        return float(px) if px and math.isfinite(px) else None

    def zoom_factor(self) -> float:
        """Screen pixels per image pixel along the columns (1.0 = one to one)."""
        mm = self.mm_per_screen_px()
        col_mm = self._spacing()[1]
        return col_mm / mm if mm else 1.0

    def render_now(self) -> None:
        """Repaint synchronously (benchmarks and screenshots)."""
        self.graphics.viewport().repaint()

    # ---------------------------------------------------------------------------- overlays
    def orientation_labels(self) -> dict[str, str]:
        """Edge letters (left/right/top/bottom), empty when unknown."""
        return self._labels

    def corner_texts(self) -> dict[str, str]:
        """The four corner texts as drawn."""
        v = self._volume
        w, c = self._width_hu, self._center_hu
        wl = f"W {w:.0f}  L {c:.0f}" + ("  inverted" if self._inverted else "")
        zoom = f"Zoom {self.zoom_factor():.2f}×"
        if v is None:
            if self._preview_shape is None:
                return {}
            return {"top_left": self._preview_text or "Loading…", "bottom_left": f"{wl}\n{zoom}"}
        m = v.metadata
        top_left = "\n".join(
            t
            for t in (
                format_person_name(m.patient_name),
                f"ID {m.patient_id}" if m.patient_id else "",
                format_da(m.study_date),
                m.study_description,
            )
            if t
        )
        series = f"Se {m.series_number}" if m.series_number is not None else "Se —"
        desc = m.series_description
        thickness = v.slice_thickness_mm[self._index] if self._index < len(v.slice_thickness_mm) else None
        pos = v.positions_mm[self._index] if self._index < len(v.positions_mm) else None
        top_right_lines = [
            f"{series}  {desc}".strip(),
            f"Im {self._index + 1} / {v.n_slices}",
            f"Pos {pos:.1f} mm" if pos is not None else "",
            f"Thk {format_mm(thickness)}",
        ]
        if v.tilt_deg:
            top_right_lines.append(f"Tilt {v.tilt_deg:.1f}°")
        bottom_left = "\n".join(t for t in (self._cursor_text, wl, zoom) if t)
        rows, cols = v.hu.shape[1:]
        row_mm, col_mm = v.pixel_spacing_mm
        bottom_right = f"{cols}×{rows}  {col_mm:.3g}×{row_mm:.3g} mm"
        return {
            "top_left": top_left,
            "top_right": "\n".join(t for t in top_right_lines if t),
            "bottom_left": bottom_left,
            "bottom_right": bottom_right,
        }

    def has_image(self) -> bool:
        """Whether a slice (or a loading preview) is shown."""
        return self._volume is not None or self._preview_shape is not None

    def cursor_info(self) -> str:
        return self._cursor_text

    # ---------------------------------------------------------------------------- internals
    # Hooks: what one position of this view shows. A SliceView shows the stack's own slices; a
    # reformatted plane (mpr_view.PlaneView) overrides them.
    def count(self) -> int:
        """How many positions (slices) the view can show."""
        return self._volume.n_slices if self._volume is not None else 0

    def default_index(self) -> int:
        return self.count() // 2

    def image_rect(self) -> QtCore.QRectF:
        """The shown image's rect in scene millimetres."""
        assert self._volume is not None
        rows, cols = self._volume.hu.shape[1:]
        row_mm, col_mm = self._volume.pixel_spacing_mm
        return QtCore.QRectF(0, 0, cols * col_mm, rows * row_mm)

    def plane_image(self) -> np.ndarray:
        """The HU image of the current position (rows, cols)."""
        assert self._volume is not None
        return self._volume.hu[self._index]

    def _volume_set(self) -> None:
        """A new volume was given (before the index is chosen)."""

    def _orientation_labels(self) -> dict[str, str]:
        assert self._volume is not None
        return screen_orientation_labels(self._volume.direction)

    def _spacing(self) -> tuple[float, float]:
        if self._volume is not None:
            return self._volume.pixel_spacing_mm
        return self._preview_spacing

    def _show_slice(self) -> None:
        assert self._volume is not None
        self.image_item.setImage(self.plane_image(), levels=self._levels, autoLevels=False)

    def _on_resized(self, *_args: object) -> None:
        self.overlay.set_rect(QtCore.QRectF(self.graphics.viewport().rect()))
        if self._fitted:
            self.fit()

    def _on_range_changed(self, *_args: object) -> None:
        self._refresh_cursor()  # zoom / pan moved another pixel under a still mouse
        self.overlay.update()
        self.zoom_changed.emit(self.zoom_factor())

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.overlay.set_rect(QtCore.QRectF(self.graphics.viewport().rect()))

    def _on_wheel(self, ev: QtWidgets.QGraphicsSceneWheelEvent) -> None:
        """Wheel: ±1 slice (down = next); Shift ±10; Ctrl zooms around the cursor."""
        delta = ev.delta()
        ev.accept()
        mods = ev.modifiers()
        if mods & QtCore.Qt.KeyboardModifier.ControlModifier:
            factor = 1.0015 ** delta
            center = self.view_box.mapSceneToView(ev.scenePos())
            self.zoom_by(factor, center)
            return
        self._wheel_accum += delta
        notches = int(self._wheel_accum / _WHEEL_NOTCH)
        if notches == 0:
            return
        self._wheel_accum -= notches * _WHEEL_NOTCH
        step = 10 if mods & QtCore.Qt.KeyboardModifier.ShiftModifier else 1
        self.step(-notches * step)

    def _button_name(self, button: QtCore.Qt.MouseButton) -> str:
        if button == QtCore.Qt.MouseButton.LeftButton:
            return "left"
        if button == QtCore.Qt.MouseButton.MiddleButton:
            return "middle"
        if button == QtCore.Qt.MouseButton.RightButton:
            return "right"
        return ""

    def _on_drag(self, ev: object) -> None:
        """A drag does what the mouse mapping gives its button: window, pan or zoom."""
        ev.accept()  # type: ignore[attr-defined]
        name = self._button_name(ev.button())  # type: ignore[attr-defined]
        action = self.mouse_mapping.action_for(name) if name else NONE
        if action == NONE:
            return
        screen = ev.screenPos()  # type: ignore[attr-defined]
        if ev.isStart():  # type: ignore[attr-defined]
            press_view = self.view_box.mapSceneToView(ev.buttonDownScenePos())  # type: ignore[attr-defined]
            self._drag_start = (action, self._width_hu, self._center_hu, press_view)
        if self._drag_start is None or self._drag_start[0] != action:
            return
        _, w0, c0, press_view = self._drag_start
        down = ev.buttonDownScreenPos()  # type: ignore[attr-defined]
        dx, dy = screen.x() - down.x(), screen.y() - down.y()
        if action == WINDOW:
            s = self.wl_sensitivity_hu_per_px
            self.set_window(w0 + dx * s, c0 + dy * s)
        elif action == PAN:
            last = self.view_box.mapSceneToView(ev.lastScenePos())  # type: ignore[attr-defined]
            now = self.view_box.mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
            self.pan_by_mm(now.x() - last.x(), now.y() - last.y())
        elif action == ZOOM:
            last = ev.lastScreenPos()  # type: ignore[attr-defined]
            step_dy = screen.y() - last.y()
            self.zoom_by(1.01 ** (-step_dy), press_view)
        if ev.isFinish():  # type: ignore[attr-defined]
            self._drag_start = None

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        if event.type() == QtCore.QEvent.Type.Leave and watched is self.graphics.viewport():
            self._mouse_scene_pos = None
            self._refresh_cursor()
        return False

    def _refresh_cursor(self) -> None:
        """The readout of the pixel under a still mouse, after the image under it changed."""
        if self._mouse_scene_pos is not None or self._cursor_text:
            self._update_cursor_text()

    def _on_mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        self._mouse_scene_pos = QtCore.QPointF(scene_pos)
        self._update_cursor_text()

    def cursor_text_at(self, view_pos: QtCore.QPointF) -> str:
        """The readout at a point in scene millimetres ('' outside the image)."""
        row_mm, col_mm = self._spacing()
        c, r = int(math.floor(view_pos.x() / col_mm)), int(math.floor(view_pos.y() / row_mm))
        image = self.plane_image()
        rows, cols = image.shape
        if 0 <= r < rows and 0 <= c < cols:
            return f"x {c}  y {r}   {int(image[r, c])} HU"
        return ""

    def _update_cursor_text(self) -> None:
        text = ""
        scene_pos = self._mouse_scene_pos
        if self._volume is not None and scene_pos is not None and self.view_box.sceneBoundingRect().contains(scene_pos):
            text = self.cursor_text_at(self.view_box.mapSceneToView(scene_pos))
        if text != self._cursor_text:
            self._cursor_text = text
            self.overlay.update()
            self.cursor_info_changed.emit(text)
