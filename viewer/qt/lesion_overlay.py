"""The second reader's lesions (BLAST-CT label map) drawn over a SliceView's image, with a legend.

The label map lies on the Volume's own grid (`labels[k]` matches `volume.hu[k]` pixel for pixel), so
each slice's labels are drawn as an image in the same millimetre rect as the slice, nearest-
neighbour (a label never bleeds into its neighbour by smoothing). Two styles: "outline" (default:
the class's border pixels, the pixels inside stay the original image) and "fill" (a translucent fill
with the border on top). Colours are from the Okabe-Ito palette (colour-blind safe) and avoid the
heatmap's warm and violet hues; the legend names every class, so nothing rests on colour alone. The
overlay follows the shown slice and is removed when the series changes (a label map is only ever
drawn over the stack it belongs to).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from inference.readers.blast_ct.results import LESION_CLASSES
from viewer.report.images import LESION_COLOURS

LESION_Z = 12.0  # above the heatmap (slice_view.HEATMAP_Z = 10), below measurements (20+)
STYLES = ("outline", "fill")
# The report's table (Okabe-Ito yellow, blue, bluish green, sky blue), so the PDF's outlines match.
LESION_COLORS: dict[str, tuple[int, int, int]] = {
    name: LESION_COLOURS[value] for value, name in enumerate(LESION_CLASSES, start=1)
}
LESION_LEGEND_NAMES: dict[str, str] = {"IPH": "IPH", "EAH": "EAH", "oedema": "oedema", "IVH": "IVH"}
FILL_ALPHA = 0.45  # a fill's alpha at opacity 1 (its border is drawn at the full opacity)


def class_colors() -> np.ndarray:
    """(5, 3) uint8: colour of each label value (0 = background, black)."""
    out = np.zeros((len(LESION_CLASSES) + 1, 3), np.uint8)
    for i, name in enumerate(LESION_CLASSES, start=1):
        out[i] = LESION_COLORS[name]
    return out


def label_borders(labels2d: np.ndarray) -> np.ndarray:
    """(rows, cols) bool: labelled pixels with a 4-neighbour of another value (or the image edge)."""
    lab = np.asarray(labels2d)
    padded = np.pad(lab, 1, mode="constant", constant_values=0)
    centre = padded[1:-1, 1:-1]
    differs = (
        (padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre)
        | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre)
    )
    return (lab > 0) & differs


def labels_to_rgba(labels2d: np.ndarray, *, style: str = "outline", opacity: float = 0.9) -> np.ndarray:
    """(rows, cols, 4) uint8: the picture of one slice's labels (transparent where nothing is drawn)."""
    lab = np.asarray(labels2d, dtype=np.uint8)
    lab = np.where(lab <= len(LESION_CLASSES), lab, 0).astype(np.uint8)
    a = float(np.clip(opacity, 0.0, 1.0))
    rgba = np.zeros((*lab.shape, 4), np.uint8)
    rgba[..., :3] = class_colors()[lab]
    border = label_borders(lab)
    if style == "fill":
        rgba[..., 3] = np.where(lab > 0, np.uint8(round(255 * a * FILL_ALPHA)), 0)
    rgba[border, 3] = np.uint8(round(255 * a))
    return rgba


class _NearestImageItem(pg.ImageItem):
    """An ImageItem drawn without smoothing whatever the view's render hints: label pixels stay sharp."""

    def paint(self, p: QtGui.QPainter, *args: object) -> None:
        p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, False)
        super().paint(p, *args)


class LesionLegend(pg.GraphicsObject):
    """The classes' colours and names (and the reader's name), fixed at the view's left edge."""

    ROW = 15
    SWATCH = 11

    def __init__(self) -> None:
        super().__init__()
        self._style = "outline"
        self._present: set[str] = set()
        self.setZValue(1000)

    def set_style(self, style: str) -> None:
        self._style = style
        self.update()

    def set_present(self, present: set[str]) -> None:
        """Classes found on the stack (their names are drawn bold, the others plain)."""
        self._present = set(present)
        self.update()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt's name)
        return QtCore.QRectF(-6, -18, 92, 22 + self.ROW * len(LESION_CLASSES))

    def paint(self, painter: QtGui.QPainter, *_args: object) -> None:
        painter.fillRect(self.boundingRect(), QtGui.QColor(0, 0, 0, 160))
        font = painter.font()
        font.setPointSizeF(8)
        painter.setFont(font)
        painter.setPen(QtGui.QPen(QtGui.QColor(230, 230, 230)))
        painter.drawText(QtCore.QPointF(-2, -5), "BLAST-CT")
        for i, name in enumerate(LESION_CLASSES):
            y = i * self.ROW
            colour = QtGui.QColor(*LESION_COLORS[name])
            rect = QtCore.QRectF(0, y + 1, self.SWATCH, self.SWATCH)
            if self._style == "fill":
                painter.fillRect(rect, colour)
            else:
                painter.setPen(QtGui.QPen(colour, 2))
                painter.drawRect(rect.adjusted(1, 1, -1, -1))
            bold = QtGui.QFont(font)
            bold.setBold(name in self._present)
            painter.setFont(bold)
            painter.setPen(QtGui.QPen(QtGui.QColor(235, 235, 235)))
            painter.drawText(QtCore.QPointF(self.SWATCH + 6, y + self.SWATCH), LESION_LEGEND_NAMES[name])
            painter.setFont(font)


class LesionOverlay(QtCore.QObject):
    """A label-map ImageItem above a SliceView's image (and heatmap), in the same millimetre rect.

    `set_labels(labels, stack_id)` gives the whole stack's label map; the slice shown is drawn and
    the overlay follows scrolling. It shows only while the view shows that stack.
    """

    visibility_changed = QtCore.Signal(bool)
    changed = QtCore.Signal()  # the label map or how it is drawn changed (MPR planes follow)

    def __init__(self, slice_view: QtWidgets.QWidget) -> None:
        super().__init__(slice_view)
        self._view = slice_view
        self.image_item = _NearestImageItem(axisOrder="row-major")
        self.image_item.setZValue(LESION_Z)
        self.image_item.setAutoDownsample(False)
        slice_view.view_box.addItem(self.image_item, ignoreBounds=True)
        self.legend = LesionLegend()
        self.legend.setParentItem(slice_view.view_box)
        slice_view.view_box.sigResized.connect(self._place_legend)
        self._labels: np.ndarray | None = None
        self._stack_id = ""
        self._visible = True
        self._opacity = 0.9
        self._style = "outline"
        self._drawn: np.ndarray | None = None
        slice_view.index_changed.connect(self._apply)
        slice_view.volume_changed.connect(self._on_volume_changed)
        self._apply()
        self._place_legend()

    # ---------------------------------------------------------------------------------- public
    @property
    def visible(self) -> bool:
        return self._visible

    @property
    def opacity(self) -> float:
        return self._opacity

    @property
    def style(self) -> str:
        return self._style

    @property
    def stack_id(self) -> str:
        """The stack whose label map is held ('' when none)."""
        return self._stack_id

    def has_labels(self) -> bool:
        return self._labels is not None

    def set_labels(self, labels: np.ndarray | None, stack_id: str = "") -> None:
        """The label map (n_slices, rows, cols) of stack `stack_id`; None removes it."""
        if labels is None:
            self._labels, self._stack_id = None, ""
            self.legend.set_present(set())
        else:
            self._labels = np.asarray(labels, dtype=np.uint8)
            self._stack_id = stack_id
            present = {name for i, name in enumerate(LESION_CLASSES, start=1) if np.any(self._labels == i)}
            self.legend.set_present(present)
        self._apply()
        self.changed.emit()

    def labels(self) -> np.ndarray | None:
        """The label map held when it belongs to the shown stack (None otherwise)."""
        return self._labels if self._matches() else None

    def set_visible(self, visible: bool) -> None:
        """Lesions (and their legend) on or off (key L in the main window)."""
        self._visible = bool(visible)
        self._apply()
        self.visibility_changed.emit(self._visible)
        self.changed.emit()

    def toggle_visible(self) -> None:
        self.set_visible(not self._visible)

    def set_opacity(self, opacity: float) -> None:
        """0..1: the outline's alpha (a fill's is FILL_ALPHA of it)."""
        self._opacity = float(np.clip(opacity, 0.0, 1.0))
        self._apply()
        self.changed.emit()

    def set_style(self, style: str) -> None:
        """"outline" (default) or "fill"."""
        if style not in STYLES:
            raise ValueError(f"unknown lesion style {style!r}: use one of {', '.join(STYLES)}")
        self._style = style
        self.legend.set_style(style)
        self._apply()
        self.changed.emit()

    def rgba(self) -> np.ndarray | None:
        """The RGBA picture drawn over the shown slice, None when nothing is drawn."""
        return self._drawn

    # ------------------------------------------------------------------------------- internals
    def _matches(self) -> bool:
        volume = self._view.volume
        return (
            self._labels is not None and volume is not None and volume.stack_id == self._stack_id
            and self._labels.shape == tuple(np.shape(volume.hu))
        )

    @QtCore.Slot()
    def _apply(self, *_args: object) -> None:
        shown = self._visible and self._matches()
        self._drawn = None
        if shown:
            assert self._labels is not None
            volume = self._view.volume
            k = int(self._view.index)
            rgba = labels_to_rgba(self._labels[k], style=self._style, opacity=self._opacity)
            self.image_item.setImage(rgba, autoLevels=False, levels=(0, 255))
            rows, cols = volume.hu.shape[1:]
            row_mm, col_mm = volume.pixel_spacing_mm
            self.image_item.setRect(0, 0, cols * col_mm, rows * row_mm)
            self._drawn = rgba
        self.image_item.setVisible(shown)
        self.legend.setVisible(shown)

    @QtCore.Slot(object)
    def _on_volume_changed(self, volume: object) -> None:
        if volume is None or getattr(volume, "stack_id", "") != self._stack_id:
            self._labels, self._stack_id = None, ""
        self._apply()
        self.changed.emit()

    @QtCore.Slot()
    def _place_legend(self, *_args: object) -> None:
        # Left edge, below the mid-left orientation label (the heatmap's colour bar is above it).
        rect = self._view.view_box.boundingRect()
        bar = self.legend.boundingRect()
        top = rect.top() + rect.height() / 2.0 + 30.0
        self.legend.setPos(rect.left() - bar.left() + 6, top - bar.top())
