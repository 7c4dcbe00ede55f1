"""The per-slice probability strip: one point per slice along the slice axis, streamed as it comes.

The x axis shows 1-based slice numbers (slice n of N, as the viewer shows them); the public API
speaks 0-based indices in display order, like the Volume. Slices at or above the operating threshold
are drawn as filled, larger points and slices below as small hollow ones, so the difference does not
rest on colour alone.

The second reader's findings show as a band under the curve: one bar per slice where BLAST-CT marked
blood (IPH, EAH or IVH), coloured by the class with the largest area on that slice (the lesion
overlay's colours); the x axis title names the band and its classes.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from inference.labels import LABELS
from inference.readers.blast_ct.results import BLOOD_CLASSES, LESION_CLASSES
from viewer.qt.lesion_overlay import LESION_COLORS

_CURVE_PEN = pg.mkPen((120, 170, 255), width=1.5)
_ABOVE_BRUSH = pg.mkBrush(255, 170, 0)
_ABOVE_PEN = pg.mkPen((255, 240, 200), width=1)
_BELOW_PEN = pg.mkPen((120, 170, 255), width=1.2)
_THRESHOLD_PEN = pg.mkPen((255, 255, 255), width=1, style=QtCore.Qt.PenStyle.DashLine)
_CURRENT_PEN = pg.mkPen((0, 230, 160), width=2)
REDRAW_MS = 40
LESION_BAND = (-0.24, -0.07)  # y extent of the second reader's band, below P = 0
LESION_LEGEND = "BLAST-CT blood"


class ProbabilityStrip(QtWidgets.QWidget):
    """A small plot of one label's probability per slice, with threshold and current-slice lines."""

    slice_clicked = QtCore.Signal(int)  # 0-based slice index

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget(self, background=(20, 20, 24))
        self.plot_widget.setMinimumHeight(90)
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.setMenuEnabled(False)
        self.plot_item.hideButtons()
        self.plot_item.setMouseEnabled(x=False, y=False)
        self.plot_item.showGrid(x=False, y=True, alpha=0.2)
        self.plot_item.setLabel("bottom", "Slice")
        self.plot_item.setLabel("left", "P(any)")
        self.plot_item.setYRange(LESION_BAND[0] - 0.02, 1.06, padding=0.0)
        self.plot_item.getAxis("left").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")]])
        self.curve = pg.PlotDataItem(pen=_CURVE_PEN, connect="finite")
        # Two scatter items with one style each: restyling 300 single spots per streamed slice is slow.
        self.points_above = pg.ScatterPlotItem(pxMode=True, size=9, symbol="o", brush=_ABOVE_BRUSH, pen=_ABOVE_PEN)
        self.points_below = pg.ScatterPlotItem(
            pxMode=True, size=6, symbol="o", brush=pg.mkBrush(0, 0, 0, 0), pen=_BELOW_PEN
        )
        self.threshold_line = pg.InfiniteLine(angle=0, movable=False, pen=_THRESHOLD_PEN)
        self.current_line = pg.InfiniteLine(angle=90, movable=False, pen=_CURRENT_PEN)
        self.lesion_bars = pg.BarGraphItem(x=[], height=[], width=0.9, y0=LESION_BAND[0], pen=pg.mkPen(None), brush=(0, 0, 0, 0))
        for item in (self.curve, self.threshold_line, self.lesion_bars, self.points_below, self.points_above, self.current_line):
            self.plot_item.addItem(item)
        self.current_line.setVisible(False)
        self.plot_widget.scene().sigMouseClicked.connect(self._on_scene_clicked)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        self.setToolTip("Per-slice probability; click a point to go to that slice (N / Shift+N: next / previous above threshold)")
        self._n = 0
        self._threshold = 0.5
        self._label = "any"
        self._current: int | None = None
        self._probs: dict[str, np.ndarray] = {}
        self._lesion_class = np.zeros(0, np.int8)  # per slice: -1 none, else the LESION_CLASSES index
        # Streamed updates are drawn together, at most every REDRAW_MS, not one redraw per slice.
        self._dirty = False
        self._redraw_timer = QtCore.QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self.flush)
        self.reset(0, 0.5)

    # ---------------------------------------------------------------------------------- public
    @property
    def n_slices(self) -> int:
        return self._n

    @property
    def threshold(self) -> float:
        """The operating threshold drawn (the model's, on `any`)."""
        return self._threshold

    @property
    def label(self) -> str:
        return self._label

    @property
    def current(self) -> int | None:
        return self._current

    def probabilities(self, label: str | None = None) -> np.ndarray:
        """(n_slices,) float probabilities of a label (NaN where not computed yet)."""
        return self._probs[label or self._label].copy()

    def n_points(self) -> int:
        """How many slices have a point on the strip (as drawn, pending updates included)."""
        self.flush()
        return len(self.points_above.data) + len(self.points_below.data)

    def reset(self, n_slices: int, threshold: float) -> None:
        """Start a new stack of `n_slices` with the model's operating threshold; no points yet."""
        self._n = max(int(n_slices), 0)
        self._threshold = float(threshold)
        self._probs = {label: np.full(self._n, np.nan, np.float32) for label in LABELS}
        self._lesion_class = np.full(self._n, -1, np.int8)
        self._draw_lesions()
        self.threshold_line.setPos(self._threshold)
        self.threshold_line.setToolTip(f"Operating threshold {self._threshold:.2f}")
        self.plot_item.setXRange(0.5, max(self._n, 1) + 0.5, padding=0.01)
        # Slices are whole numbers: a short series gets one tick per slice (a single slice: "1",
        # never 0.8 / 1.0 / 1.2); a long one pyqtgraph's own ticks, which fall on whole numbers.
        axis = self.plot_item.getAxis("bottom")
        if 0 < self._n <= 30:
            axis.setTicks([[(float(i), str(i)) for i in range(1, self._n + 1)]])
        else:
            axis.setTicks(None)
        if self._current is not None and self._current >= self._n:
            self._current = None
            self.current_line.setVisible(False)
        self._redraw()

    def update_slice(self, index: int, probabilities: dict[str, float]) -> None:
        """Add or replace one slice's probabilities (keys: LABELS; missing keys are left as they were)."""
        index = int(index)
        if not 0 <= index < self._n:
            return
        for label, value in probabilities.items():
            if label in self._probs:
                self._probs[label][index] = float(value)
        self._dirty = True
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def flush(self) -> None:
        """Draw pending streamed updates now (they are otherwise drawn within REDRAW_MS)."""
        if self._dirty:
            self._redraw()

    def set_label(self, label: str) -> None:
        """Show 'any' or a subtype."""
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}: use one of {', '.join(LABELS)}")
        self._label = label
        self.plot_item.setLabel("left", f"P({label})")
        self._redraw()

    def set_lesion_areas(self, slice_area_mm2: np.ndarray | None) -> None:
        """The second reader's per-slice class areas ((n_slices, 4) mm^2, LESION_CLASSES order);
        slices with blood get a bar in the band under the curve. None removes the band."""
        self._lesion_class = np.full(self._n, -1, np.int8)
        if slice_area_mm2 is not None:
            areas = np.asarray(slice_area_mm2, dtype=np.float64)
            if areas.shape == (self._n, len(LESION_CLASSES)):
                blood = [LESION_CLASSES.index(c) for c in BLOOD_CLASSES]
                sub = areas[:, blood]
                has = sub.sum(axis=1) > 0
                self._lesion_class[has] = np.asarray(blood)[np.argmax(sub[has], axis=1)]
        self._draw_lesions()

    def lesion_indices(self) -> np.ndarray:
        """0-based slices marked as holding blood by the second reader."""
        return np.nonzero(self._lesion_class >= 0)[0]

    def set_current(self, index: int | None) -> None:
        """Move the current-slice marker (None hides it)."""
        self._current = None if index is None else int(index)
        self.current_line.setVisible(self._current is not None)
        if self._current is not None:
            self.current_line.setPos(self._current + 1)

    def indices_above(self, label: str = "any") -> np.ndarray:
        """0-based slices whose `label` probability is at or above the operating threshold."""
        values = self._probs[label]
        return np.nonzero(np.isfinite(values) & (values >= self._threshold))[0]

    def next_above(self, index: int, label: str = "any") -> int | None:
        """The first slice after `index` at or above the operating threshold (N), else None."""
        later = self.indices_above(label)
        later = later[later > int(index)]
        return int(later[0]) if later.size else None

    def previous_above(self, index: int, label: str = "any") -> int | None:
        """The last slice before `index` at or above the operating threshold (Shift+N), else None."""
        earlier = self.indices_above(label)
        earlier = earlier[earlier < int(index)]
        return int(earlier[-1]) if earlier.size else None

    def slice_at(self, x_view: float) -> int | None:
        """The 0-based slice nearest to an x position in plot coordinates, None outside the stack."""
        index = int(np.floor(x_view + 0.5)) - 1
        return index if 0 <= index < self._n else None

    # ------------------------------------------------------------------------------- internals
    def _draw_lesions(self) -> None:
        idx = self.lesion_indices()
        names = [LESION_CLASSES[int(self._lesion_class[i])] for i in idx]
        brushes = [pg.mkBrush(*LESION_COLORS[n]) for n in names]
        self.lesion_bars.setOpts(
            x=(idx + 1).astype(np.float64), height=np.full(idx.size, LESION_BAND[1] - LESION_BAND[0]),
            width=0.9, y0=LESION_BAND[0], brushes=brushes if idx.size else None, pens=None, pen=pg.mkPen(None),
        )
        title = "Slice"
        if idx.size:
            keys = " ".join(
                f"<span style='color:#{r:02x}{g:02x}{b:02x};'>&#9632;</span>&nbsp;{name}"
                for name in dict.fromkeys(names) for r, g, b in (LESION_COLORS[name],)
            )
            title = f"Slice &nbsp;&nbsp;&nbsp; band: {LESION_LEGEND} {keys}"
            self.lesion_bars.setToolTip(
                f"{LESION_LEGEND} on slices " + ", ".join(str(i + 1) for i in idx[:40]) + ("…" if idx.size > 40 else "")
            )
        self.plot_item.setLabel("bottom", title)

    def _redraw(self) -> None:
        self._dirty = False
        self._redraw_timer.stop()
        values = self._probs.get(self._label, np.zeros(0, np.float32))
        x = np.arange(1, self._n + 1, dtype=np.float64)
        self.curve.setData(x, values.astype(np.float64))
        finite = np.isfinite(values)
        above = finite & (values >= self._threshold)
        below = finite & ~above
        self.points_above.setData(x=x[above], y=values[above].astype(np.float64))
        self.points_below.setData(x=x[below], y=values[below].astype(np.float64))

    @QtCore.Slot(object)
    def _on_scene_clicked(self, event: object) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        vb = self.plot_item.getViewBox()
        scene_pos = event.scenePos()  # type: ignore[attr-defined]
        if not vb.sceneBoundingRect().contains(scene_pos):
            return
        index = self.slice_at(vb.mapSceneToView(scene_pos).x())
        if index is not None:
            self.slice_clicked.emit(index)
