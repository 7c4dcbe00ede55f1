"""Render resources/icons/ichview.svg to the hicolor PNG sizes (run after editing the SVG).

    .venv/bin/python packaging/render_icons.py

Writes resources/icons/hicolor/<N>x<N>/apps/ichview.png for N in SIZES, with Qt offscreen (no
display needed) and QSvgRenderer; each file is written atomically.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

SIZES: tuple[int, ...] = (16, 32, 48, 64, 128, 256, 512)
ICONS_DIR = Path(__file__).resolve().parents[1] / "resources" / "icons"
SVG_PATH = ICONS_DIR / "ichview.svg"


def png_path(size_px: int, icons_dir: Path = ICONS_DIR) -> Path:
    """Where the PNG of one size lives (the hicolor theme layout)."""
    return icons_dir / "hicolor" / f"{size_px}x{size_px}" / "apps" / "ichview.png"


def render_icons(svg_path: Path = SVG_PATH, icons_dir: Path = ICONS_DIR) -> list[Path]:
    """Render every size; return the written paths."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtGui, QtSvg

    _app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication([sys.argv[0]])
    renderer = QtSvg.QSvgRenderer(str(svg_path))
    if not renderer.isValid():
        raise ValueError(f"{svg_path}: not a valid SVG (fix the file and run again)")
    written = []
    for size in SIZES:
        image = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(QtCore.Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(image)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter, QtCore.QRectF(0, 0, size, size))
        painter.end()
        target = png_path(size, icons_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        if not image.save(str(tmp), "PNG"):
            raise OSError(f"{target}: could not write the PNG (check the folder's permissions)")
        os.replace(tmp, target)
        written.append(target)
    return written


if __name__ == "__main__":
    for path in render_icons():
        print(path.relative_to(ICONS_DIR.parents[1]))
