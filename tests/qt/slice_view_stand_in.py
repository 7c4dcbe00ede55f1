"""A minimal stand-in for viewer.qt.slice_view.SliceView (same contract) and a Volume factory.

Used by the measurement and heatmap tests until the real SliceView lands; it sets the view up
exactly as the contract says: an aspect-locked, y-inverted ViewBox holding an ImageItem drawn in
millimetre scene coordinates.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from viewer.core.volume import StudyMetadata, Volume
from viewer.core.windowing import window_levels

pg.setConfigOptions(imageAxisOrder="row-major")


class StandInSliceView(QtWidgets.QWidget):
    """Same public contract as SliceView: view_box, image_item, volume, index, set_* and signals."""

    index_changed = QtCore.Signal(int)
    volume_changed = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsView(self)
        self.graphics.setBackground("k")
        self.view_box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.graphics.setCentralItem(self.view_box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self._volume: Volume | None = None
        self._index = 0
        self._levels = window_levels(80.0, 40.0)

    @property
    def volume(self) -> Volume | None:
        return self._volume

    @property
    def index(self) -> int:
        return self._index

    def set_volume(self, volume: Volume | None) -> None:
        self._volume = volume
        self._index = 0
        if volume is not None:
            rows, cols = volume.hu.shape[1:]
            row_mm, col_mm = volume.pixel_spacing_mm
            self._show()
            self.image_item.setRect(0, 0, cols * col_mm, rows * row_mm)
            self.view_box.autoRange(padding=0)
        self.volume_changed.emit(volume)
        self.index_changed.emit(self._index)

    def set_index(self, index: int) -> None:
        if self._volume is None:
            return
        index = int(np.clip(index, 0, self._volume.n_slices - 1))
        if index == self._index:
            return
        self._index = index
        self._show()
        self.index_changed.emit(index)

    def set_window(self, width_hu: float, center_hu: float) -> None:
        self._levels = window_levels(width_hu, center_hu)
        self._show()

    def _show(self) -> None:
        if self._volume is not None:
            self.image_item.setImage(self._volume.hu[self._index], levels=self._levels, autoLevels=False)


def make_volume(
    hu: np.ndarray,
    *,
    pixel_spacing_mm: tuple[float, float] = (1.0, 1.0),
    stack_id: str = "1.2.3",
) -> Volume:
    """A Volume around an HU array (n, rows, cols) with the given in-plane spacing."""
    n = hu.shape[0]
    return Volume(
        hu=hu.astype(np.int16),
        spacing_mm=(5.0, float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1])),
        origin_mm=(0.0, 0.0, 0.0),
        direction=np.eye(3),
        positions_mm=tuple(5.0 * k for k in range(n)),
        sop_instance_uids=tuple(f"{stack_id}.{k}" for k in range(n)),
        instance_numbers=tuple(range(1, n + 1)),
        slice_thickness_mm=(5.0,) * n,
        source_paths=tuple(Path(f"/nonexistent/{k}.dcm") for k in range(n)),
        series_uid=stack_id.split("#")[0],
        stack_id=stack_id,
        metadata=StudyMetadata(),
    )
