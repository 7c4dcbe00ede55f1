"""The Grad-CAM heatmap drawn over a SliceView's image, with a colour bar.

The CAM arrives at model resolution with values in [0, 1] already scaled by the probability; it is
drawn at model resolution with bilinear smoothing by the painter (no per-slice resampling in
numpy, so scrolling stays fast) in the image's millimetre coordinates: stretched over the image's rect
by default, or, given the model grid's affine (`PreparedInputs.to_image` of inference.preprocess:
source [row, col] = to_image @ [y, x, 1] for model pixel (y, x)), placed exactly where the model
looked (the engine's grid is a fixed field of view centred on the head, not the image's rect). Colours come from a perceptually
uniform, colour-blind-safe map (inferno by default, never jet / rainbow), and an alpha ramp keeps
low values fully transparent and high values at most MAX_ALPHA opaque, so the image underneath
always shows through. The display threshold and opacity change the picture only; verdicts never
depend on them.
"""
from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

COLORMAPS = ("inferno", "cividis", "CET-L17")  # perceptually uniform and colour-blind safe
DEFAULT_COLORMAP = "inferno"
MAX_ALPHA = 0.8  # even at opacity 1 the image shows through the hottest spot
RAMP_WIDTH = 0.3  # alpha rises from 0 at the display threshold to full over this range of values
LOW_FLOOR = 0.05  # values below this are always transparent (a confident negative shows nothing)
COLORMAP_START = 0.12  # skip the near-black start of the map: faint heat never darkens the image
COLOR_BAR_TOP_PX = 92  # below four lines of corner text


def model_grid_transform(
    to_image: np.ndarray, pixel_spacing_mm: tuple[float, float], *, upsample: float = 1.0
) -> QtGui.QTransform:
    """Item transform placing a model-grid image (upsampled `upsample` times) in image millimetres.

    `to_image` (2, 3): source [row, col] = to_image @ [y, x, 1] for model pixel centres (y, x);
    source pixel (r, c) covers [c, c+1) x [r, r+1) pixels, i.e. its centre is at
    ((c + 0.5) * col_mm, (r + 0.5) * row_mm).
    """
    a = np.asarray(to_image, dtype=np.float64).reshape(2, 3)
    row_mm, col_mm = float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1])
    f = float(upsample)
    m11, m21 = col_mm * a[1, 1] / f, col_mm * a[1, 0] / f
    dx = col_mm * (a[1, 2] + 0.5 - 0.5 * (a[1, 0] + a[1, 1]))
    m12, m22 = row_mm * a[0, 1] / f, row_mm * a[0, 0] / f
    dy = row_mm * (a[0, 2] + 0.5 - 0.5 * (a[0, 0] + a[0, 1]))
    return QtGui.QTransform(m11, m12, m21, m22, dx, dy)


@functools.lru_cache(maxsize=16)
def colormap_lut(name: str, n: int = 256) -> np.ndarray:
    """(n, 3) uint8 colours for values 0..1 (the map from COLORMAP_START to its end); do not modify.

    CET-L17 (the default) is the report's own table (viewer.report.images.cet_l17_lut, from
    resources/colormaps/CET-L17.csv), so the viewer and the PDF draw one map."""
    if name == "CET-L17":
        from viewer.report.images import cet_l17_lut

        lut = cet_l17_lut(COLORMAP_START, n)
        lut.setflags(write=False)
        return lut
    lut = pg.colormap.get(name).getLookupTable(COLORMAP_START, 1.0, n, alpha=False).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def rgba_lut(*, colormap: str = DEFAULT_COLORMAP, opacity: float = 0.5, display_threshold: float = 0.0) -> np.ndarray:
    """(256, 4) uint8: the colour and alpha of each value bin i / 255."""
    values = np.arange(256, dtype=np.float32) / 255.0
    lut = np.empty((256, 4), np.uint8)
    lut[:, :3] = colormap_lut(colormap)
    t = max(float(np.clip(display_threshold, 0.0, 1.0)), LOW_FLOOR)
    ramp = np.clip((values - t) / RAMP_WIDTH, 0.0, 1.0)
    ramp[values <= t] = 0.0
    lut[:, 3] = np.rint(ramp * MAX_ALPHA * float(np.clip(opacity, 0.0, 1.0)) * 255.0).astype(np.uint8)
    return lut


def cam_to_rgba(
    cam: np.ndarray, *, colormap: str = DEFAULT_COLORMAP, opacity: float = 0.5, display_threshold: float = 0.0
) -> np.ndarray:
    """(rows, cols, 4) uint8: colour by value in [0, 1], alpha 0 below the threshold, ramping up."""
    values = np.clip(np.nan_to_num(np.asarray(cam, dtype=np.float32)), 0.0, 1.0)
    lut = rgba_lut(colormap=colormap, opacity=opacity, display_threshold=display_threshold)
    return lut[np.rint(values * 255.0).astype(np.uint8)]


UPSAMPLE = 4  # display pixels per model cell (the painter smooths further; 8 cost 4x per slice step)
SMOOTH_SIGMA_CELLS = 0.5  # isotropic smoothing at model resolution, in model cells (before upsampling)


def _gaussian_kernel(sigma_px: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3.0 * sigma_px)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (x / sigma_px) ** 2)
    return (k / k.sum()).astype(np.float32)


def _blur_axis(a: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    r = kernel.size // 2
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r, r)
    p = np.pad(a, pad, mode="edge")
    out = np.zeros_like(a)
    for i, w in enumerate(kernel):
        out += w * np.take(p, np.arange(i, i + a.shape[axis]), axis=axis)
    return out


def smooth_cam(cam: np.ndarray, upsample: int = UPSAMPLE, sigma_cells: float = SMOOTH_SIGMA_CELLS) -> np.ndarray:
    """The CAM as drawn: upsampled `upsample` times (bilinear; pixel j of the result stands for model
    x = (j + 0.5) / upsample - 0.5, as `model_grid_transform(..., upsample=)` places it) and smoothed
    isotropically, so a large saturated core is a rounded, graded patch instead of a rectangle of
    model cells. The maximum is kept (a small hot spot keeps its value)."""
    c = np.clip(np.nan_to_num(np.asarray(cam, np.float32)), 0.0, 1.0)
    peak = float(c.max()) if c.size else 0.0
    if sigma_cells > 0 and c.size:
        # Smoothed at model resolution, then upsampled bilinearly: the same rounded patch as
        # smoothing the upsampled picture, at 1/upsample^2 of the cost (scrolling stays fast).
        kernel = _gaussian_kernel(sigma_cells)
        c = _blur_axis(_blur_axis(c, kernel, 0), kernel, 1)
    h, w = c.shape
    f = int(upsample)
    ys = np.clip((np.arange(h * f) + 0.5) / f - 0.5, 0.0, h - 1.0)
    xs = np.clip((np.arange(w * f) + 0.5) / f - 0.5, 0.0, w - 1.0)
    y0 = np.minimum(np.floor(ys).astype(int), h - 1)
    x0 = np.minimum(np.floor(xs).astype(int), w - 1)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0).astype(np.float32)[:, None], (xs - x0).astype(np.float32)[None, :]
    rows = c[y0] * (1 - wy) + c[y1] * wy
    up = rows[:, x0] * (1 - wx) + rows[:, x1] * wx
    now = float(up.max()) if up.size else 0.0
    if now > 1e-6:
        up *= peak / now  # the maximum is kept (a small hot spot keeps its value)
    return np.clip(up, 0.0, 1.0)


class _SmoothImageItem(pg.ImageItem):
    """An ImageItem drawn with bilinear filtering whatever the view's render hints."""

    def paint(self, p: QtGui.QPainter, *args: object) -> None:
        p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, True)
        super().paint(p, *args)


class HeatmapColorBar(pg.GraphicsObject):
    """A small vertical colour bar with 0 / 0.5 / 1 ticks and a title, fixed in a view's corner."""

    WIDTH = 16

    def __init__(self, colormap: str = DEFAULT_COLORMAP, title: str = "P(any)") -> None:
        super().__init__()
        self.HEIGHT = 120
        self._colormap = colormap
        self._title = title
        self._threshold = 0.0
        self.setZValue(1000)

    def set_colormap(self, name: str) -> None:
        self._colormap = name
        self.update()

    def set_title(self, title: str) -> None:
        self._title = title
        self.update()

    def set_threshold(self, threshold: float) -> None:
        self._threshold = float(threshold)
        self.update()

    def set_height(self, height_px: int) -> None:
        """Height of the colour ramp in screen pixels."""
        self.prepareGeometryChange()
        self.HEIGHT = int(height_px)
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt's name)
        return QtCore.QRectF(-8, -24, self.WIDTH + 52, self.HEIGHT + 34)

    def paint(self, painter: QtGui.QPainter, *_args: object) -> None:
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        painter.fillRect(self.boundingRect(), QtGui.QColor(0, 0, 0, 150))
        lut = colormap_lut(self._colormap, self.HEIGHT)
        for y in range(self.HEIGHT):
            r, g, b = (int(v) for v in lut[self.HEIGHT - 1 - y])
            painter.fillRect(QtCore.QRectF(0, y, self.WIDTH, 1), QtGui.QColor(r, g, b))
        painter.setPen(QtGui.QPen(QtGui.QColor(230, 230, 230)))
        painter.drawRect(QtCore.QRectF(0, 0, self.WIDTH, self.HEIGHT))
        font = painter.font()
        font.setPointSizeF(8)
        painter.setFont(font)
        for value in (0.0, 0.5, 1.0):
            y = self.HEIGHT * (1 - value)
            painter.drawLine(QtCore.QPointF(self.WIDTH, y), QtCore.QPointF(self.WIDTH + 3, y))
            painter.drawText(QtCore.QPointF(self.WIDTH + 5, y + 4), f"{value:g}")
        if self._threshold > 0:
            y = self.HEIGHT * (1 - self._threshold)
            painter.setPen(QtGui.QPen(QtGui.QColor(255, 255, 255), 1, QtCore.Qt.PenStyle.DashLine))
            painter.drawLine(QtCore.QPointF(-3, y), QtCore.QPointF(self.WIDTH + 3, y))
        painter.setPen(QtGui.QPen(QtGui.QColor(230, 230, 230)))
        painter.drawText(QtCore.QPointF(-4, -9), self._title)


class HeatmapOverlay(QtCore.QObject):
    """A heatmap ImageItem above a SliceView's image, in the same millimetre rect.

    `set_cam(cam)` shows a CAM on the slice shown at the time of the call; it is removed when the
    slice or the series changes (unless `set_slice_cams` gave a CAM for the new slice), so a CAM never
    shows over a slice it does not belong to.
    """

    visibility_changed = QtCore.Signal(bool)
    changed = QtCore.Signal()  # the per-slice maps or how they are drawn changed (MPR planes follow)

    def __init__(self, slice_view: QtWidgets.QWidget) -> None:
        super().__init__(slice_view)
        self._view = slice_view
        self.image_item = _SmoothImageItem(axisOrder="row-major")
        self.image_item.setZValue(10)
        self.image_item.setAutoDownsample(False)
        slice_view.view_box.addItem(self.image_item, ignoreBounds=True)
        self.color_bar = HeatmapColorBar()
        self.color_bar.setParentItem(slice_view.view_box)
        slice_view.view_box.sigResized.connect(self._place_color_bar)
        self._cam: np.ndarray | None = None
        self._cam_index: int | None = None
        self._to_image: np.ndarray | None = None
        self._slice_cams: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        self._opacity = 0.5
        self._threshold = 0.0
        self._colormap = DEFAULT_COLORMAP
        self._visible = True
        self._color_bar_wanted = True
        slice_view.index_changed.connect(self._on_index_changed)
        slice_view.volume_changed.connect(self._on_volume_changed)
        self._apply()
        self._place_color_bar()

    # ---------------------------------------------------------------------------------- public
    @property
    def cam(self) -> np.ndarray | None:
        """The CAM on screen (model resolution), None when none."""
        return self._cam

    @property
    def opacity(self) -> float:
        return self._opacity

    @property
    def display_threshold(self) -> float:
        return self._threshold

    @property
    def visible(self) -> bool:
        return self._visible

    def set_cam(self, cam2d: np.ndarray | None, *, to_image: np.ndarray | None = None) -> None:
        """Show a CAM (values 0..1, model resolution) over the current slice; None removes it.

        Without `to_image` the CAM is stretched over the whole image; with the model grid's (2, 3)
        affine it is drawn exactly where the model looked.
        """
        if cam2d is None:
            self._cam, self._cam_index, self._to_image = None, None, None
        else:
            self._cam = np.asarray(cam2d, dtype=np.float32)
            self._cam_index = int(self._view.index)
            self._to_image = None if to_image is None else np.asarray(to_image, dtype=np.float64).reshape(2, 3)
        self._apply()

    def set_slice_cams(
        self, cams: dict[int, np.ndarray] | None, to_image: dict[int, np.ndarray] | None = None
    ) -> None:
        """CAMs (and optional affines) by slice index for the shown series; the overlay follows the slice."""
        affines = to_image or {}
        self._slice_cams = {int(k): (np.asarray(v, np.float32), affines.get(k)) for k, v in (cams or {}).items()}
        self._on_index_changed(int(self._view.index))
        self.changed.emit()

    def add_slice_cam(self, index: int, cam2d: np.ndarray, *, to_image: np.ndarray | None = None) -> None:
        """One streamed CAM for the shown series; shown at once when it is the current slice."""
        self._slice_cams[int(index)] = (np.asarray(cam2d, dtype=np.float32), to_image)
        if int(index) == int(self._view.index):
            self.set_cam(self._slice_cams[int(index)][0], to_image=to_image)
        self.changed.emit()

    def slice_cams(self) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
        """The shown series' maps by slice: (CAM at model resolution, its (2, 3) affine or None)."""
        return self._slice_cams

    @property
    def colormap(self) -> str:
        return self._colormap

    def set_opacity(self, opacity: float) -> None:
        """Overall opacity 0..1 (the hottest colour is at most MAX_ALPHA of it)."""
        self._opacity = float(np.clip(opacity, 0.0, 1.0))
        self._apply()
        self.changed.emit()

    def set_display_threshold(self, threshold: float) -> None:
        """Hide CAM values below `threshold` (0..1). Changes the picture only, never a verdict."""
        self._threshold = float(np.clip(threshold, 0.0, 1.0))
        self.color_bar.set_threshold(self._threshold)
        self._apply()
        self.changed.emit()

    def set_visible(self, visible: bool) -> None:
        """Heatmap (and its colour bar) on or off (key H in the main window)."""
        self._visible = bool(visible)
        self._apply()
        self.visibility_changed.emit(self._visible)
        self.changed.emit()

    def toggle_visible(self) -> None:
        self.set_visible(not self._visible)

    def set_colormap(self, name: str) -> None:
        """One of COLORMAPS."""
        if name not in COLORMAPS:
            raise ValueError(f"unknown colour map {name!r}: use one of {', '.join(COLORMAPS)}")
        self._colormap = name
        self.color_bar.set_colormap(name)
        self._apply()
        self.changed.emit()

    def set_label(self, label: str) -> None:
        """The label the CAM explains, shown as the colour bar's title (e.g. 'any', 'subdural')."""
        self.color_bar.set_title(f"P({label})")

    def set_color_bar_visible(self, visible: bool) -> None:
        """Show the colour bar in the view's top-right corner while a heatmap is shown."""
        self._color_bar_wanted = bool(visible)
        self._apply()

    def rgba(self) -> np.ndarray | None:
        """The RGBA picture drawn (display resolution), None when nothing is drawn."""
        return None if self._cam is None else self.image_item.image

    # ------------------------------------------------------------------------------- internals
    def _apply(self) -> None:
        volume = self._view.volume
        shown = self._visible and self._cam is not None and volume is not None
        if shown:
            assert self._cam is not None and volume is not None
            rgba = cam_to_rgba(
                smooth_cam(self._cam), colormap=self._colormap, opacity=self._opacity, display_threshold=self._threshold
            )
            self.image_item.setImage(rgba, autoLevels=False, levels=(0, 255))
            if self._to_image is not None:
                self.image_item.setTransform(
                    model_grid_transform(self._to_image, volume.pixel_spacing_mm, upsample=UPSAMPLE)
                )
            else:
                rows, cols = volume.hu.shape[1:]
                row_mm, col_mm = volume.pixel_spacing_mm
                self.image_item.setRect(0, 0, cols * col_mm, rows * row_mm)
        self.image_item.setVisible(shown)
        self.color_bar.setVisible(shown and self._color_bar_wanted)

    @QtCore.Slot()
    def _place_color_bar(self, *_args: object) -> None:
        # Left edge, below the top-left corner text and above the mid-left orientation label: the
        # other corners, the right edge (scale bar) and the edge centres are the SliceView's.
        rect = self._view.view_box.boundingRect()
        top = rect.top() + COLOR_BAR_TOP_PX
        available = rect.height() / 2.0 - 26.0 - top
        self.color_bar.set_height(int(np.clip(available - 34.0, 40.0, 120.0)))
        bar = self.color_bar.boundingRect()
        self.color_bar.setPos(rect.left() - bar.left() + 6, top - bar.top())

    @QtCore.Slot(int)
    def _on_index_changed(self, index: int) -> None:
        if int(index) in self._slice_cams:
            cam, to_image = self._slice_cams[int(index)]
            self._cam, self._cam_index = cam, int(index)
            self._to_image = None if to_image is None else np.asarray(to_image, np.float64).reshape(2, 3)
        elif self._cam_index is not None and self._cam_index != int(index):
            self._cam, self._cam_index, self._to_image = None, None, None
        self._apply()

    @QtCore.Slot(object)
    def _on_volume_changed(self, _volume: object) -> None:
        self._cam, self._cam_index, self._to_image = None, None, None
        self._slice_cams = {}
        self._apply()
        self.changed.emit()
