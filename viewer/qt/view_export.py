"""Export what you see: the image views as shown (every view of the layout), as a PNG file or on the
clipboard, with or without the overlays (AI heatmap, lesion outlines, measurements, crosshair) and
with or without the corner text. The corner text holds patient data (name, ID, dates), so it is off
by default when exporting; the orientation letters and the scale bar always stay.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets


@dataclass(frozen=True)
class ViewExportOptions:
    overlays: bool = True
    corner_text: bool = False  # patient data: off unless asked for


@contextmanager
def _shown_as(views: Sequence[QtWidgets.QWidget], options: ViewExportOptions) -> Iterator[None]:
    """Views temporarily drawn with the export's options (restored after)."""
    restore: list[tuple[QtWidgets.QGraphicsItem, bool]] = []
    corner: list[tuple[object, bool]] = []
    for view in views:
        corner.append((view, view.corner_text_visible))  # type: ignore[attr-defined]
        view.set_corner_text_visible(options.corner_text)  # type: ignore[attr-defined]
        if not options.overlays:
            vb = view.view_box  # type: ignore[attr-defined]
            items = [it for it in vb.childGroup.childItems() if it is not view.image_item]  # type: ignore[attr-defined]
            items += [it for it in vb.childItems() if it is not vb.childGroup]
            for item in items:
                restore.append((item, item.isVisible()))
                item.setVisible(False)
    try:
        yield
    finally:
        for item, visible in restore:
            item.setVisible(visible)
        for view, visible in corner:
            view.set_corner_text_visible(visible)  # type: ignore[attr-defined]


def render_views(area: QtWidgets.QWidget, views: Sequence[QtWidgets.QWidget], options: ViewExportOptions) -> QtGui.QImage:
    """The views' area as drawn with `options` (device pixels)."""
    with _shown_as(views, options):
        for view in views:
            view.render_now()  # type: ignore[attr-defined]
        image = area.grab().toImage()
    for view in views:
        view.graphics.viewport().update()  # type: ignore[attr-defined]
    return image


class ExportViewDialog(QtWidgets.QDialog):
    """What to include: overlays (on) and corner text (off: it holds patient data)."""

    def __init__(self, options: ViewExportOptions, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export the view")
        self.overlays_box = QtWidgets.QCheckBox("Overlays (AI heatmap, lesion outlines, measurements, crosshair)")
        self.overlays_box.setChecked(options.overlays)
        self.corner_box = QtWidgets.QCheckBox("Corner text (holds patient name, ID and dates)")
        self.corner_box.setChecked(options.corner_text)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.overlays_box)
        layout.addWidget(self.corner_box)
        layout.addWidget(buttons)

    def options(self) -> ViewExportOptions:
        return ViewExportOptions(overlays=self.overlays_box.isChecked(), corner_text=self.corner_box.isChecked())


def save_png(image: QtGui.QImage, path: Path) -> None:
    """Write the image as PNG (to a temporary name first, then moved into place)."""
    from viewer.core.atomic import write_files_atomic

    data = QtCore.QByteArray()
    buffer = QtCore.QBuffer(data)
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError("the image could not be encoded as PNG")
    buffer.close()
    write_files_atomic([(Path(path), bytes(data.data()))])
