"""The screen-fixed overlay over the slice view: corner text, orientation letters and the scale bar,
painted in one pass from cached text pixmaps, plus the small formatters it shows (DICOM names and
dates, patient-direction letters, a round scale-bar length)."""
from __future__ import annotations

import math
from typing import Protocol

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets


class OverlaySource(Protocol):
    """What the overlay reads from its view (`SliceView`)."""

    empty_text: str
    corner_text_visible: bool

    def has_image(self) -> bool: ...

    def corner_texts(self) -> dict[str, str]: ...

    def orientation_labels(self) -> dict[str, str]: ...

    def mm_per_screen_px(self) -> float | None: ...


def orientation_letters(vector: np.ndarray) -> str:
    """Patient-direction letters of an LPS vector, strongest first ('L', 'PS', ...)."""
    letters = []
    for axis in np.argsort(-np.abs(vector)):
        value = float(vector[axis])
        if abs(value) < 0.25:
            continue
        letters.append(("RL", "AP", "IS")[axis][1 if value > 0 else 0])
    return "".join(letters[:2])


def screen_orientation_labels(direction: np.ndarray) -> dict[str, str]:
    """Letters for the left, right, top and bottom edges of the screen from `Volume.direction`."""
    d = np.asarray(direction, dtype=float)
    col, row = d[:, 0], d[:, 1]
    return {
        "left": orientation_letters(-col),
        "right": orientation_letters(col),
        "top": orientation_letters(-row),
        "bottom": orientation_letters(row),
    }


def nice_scale_length_mm(max_mm: float) -> float:
    """The largest of 1, 2, 5 x 10^n not above `max_mm`."""
    if max_mm <= 0:
        return 0.0
    exponent = math.floor(math.log10(max_mm))
    for m in (5.0, 2.0, 1.0):
        if m * 10**exponent <= max_mm:
            return m * 10**exponent
    return 10 ** (exponent - 1) * 5.0


def format_person_name(name: str) -> str:
    """DICOM PN 'Family^Given^Middle' as 'Family, Given Middle'."""
    parts = name.split("=")[0].split("^")
    family, rest = parts[0], [p for p in parts[1:] if p]
    return f"{family}, {' '.join(rest)}" if rest else family


def format_da(date: str) -> str:
    """DICOM DA YYYYMMDD as YYYY-MM-DD."""
    d = date.strip()
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else d


def format_mm(value: float | None) -> str:
    """A length in mm without trailing zeros ("—" when unknown)."""
    if value is None:
        return "—"
    return f"{value:.2f}".rstrip("0").rstrip(".") + " mm"


class SliceOverlay(QtWidgets.QGraphicsObject):
    """Screen-fixed text and scale bar, painted in one pass over the whole view."""

    def __init__(self, owner: OverlaySource) -> None:
        super().__init__()
        self._owner = owner
        self._rect = QtCore.QRectF()
        self.setZValue(1000)
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)
        font = QtGui.QFont()
        font.setPointSizeF(max(9.0, font.pointSizeF()))
        self.font = font
        self.big_font = QtGui.QFont(font)
        self.big_font.setPointSizeF(font.pointSizeF() * 1.3)
        self.big_font.setBold(True)
        self._cache: dict[tuple[object, ...], QtGui.QPixmap] = {}
        self._dpr = 1.0

    def set_rect(self, rect: QtCore.QRectF) -> None:
        self.prepareGeometryChange()
        self._rect = QtCore.QRectF(rect)

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802
        return self._rect

    def paint(self, p: QtGui.QPainter, *_args: object) -> None:
        owner = self._owner
        r = self._rect.adjusted(8, 6, -8, -6)
        if r.width() < 50 or r.height() < 50:
            return
        device = p.device()
        self._dpr = device.devicePixelRatioF() if device is not None else 1.0
        if not owner.has_image():
            if owner.empty_text:
                lines = owner.empty_text.split("\n")
                pixmaps = [self._text_pixmap(line, self.font, (200, 200, 200)) for line in lines]
                line_h = max(pm.height() for pm in pixmaps) / self._dpr
                top = r.center().y() - line_h * len(lines) / 2
                for i, pm in enumerate(pixmaps):
                    p.drawPixmap(QtCore.QPointF(r.center().x() - pm.width() / self._dpr / 2, top + i * line_h), pm)
            return
        if owner.corner_text_visible:
            corners = owner.corner_texts()
            self._block(p, corners.get("top_left", ""), r.left(), r.top(), right=False, bottom=False)
            self._block(p, corners.get("top_right", ""), r.right(), r.top(), right=True, bottom=False)
            self._block(p, corners.get("bottom_left", ""), r.left(), r.bottom(), right=False, bottom=True)
            self._block(p, corners.get("bottom_right", ""), r.right(), r.bottom(), right=True, bottom=True)
        labels = owner.orientation_labels()
        if labels:
            gold = (255, 220, 120)
            anchors = {
                "left": (r.left(), r.center().y()),
                "right": (r.right(), r.center().y()),
                "top": (r.center().x(), r.top()),
                "bottom": (r.center().x(), r.bottom()),
            }
            for key, (x, y) in anchors.items():
                pix = self._text_pixmap(labels[key], self.big_font, gold)
                w, h = pix.width() / self._dpr, pix.height() / self._dpr
                px = x - w / 2 if key in ("top", "bottom") else (x - w if key == "right" else x)
                py = y - h / 2 if key in ("left", "right") else (y - h if key == "bottom" else y)
                p.drawPixmap(QtCore.QPointF(px, py), pix)
        self._scale_bar(p, r)

    def _block(self, p: QtGui.QPainter, text: str, x: float, y: float, *, right: bool, bottom: bool) -> None:
        """Lines of text anchored at a corner, each drawn from a cached pixmap."""
        if not text:
            return
        lines = text.split("\n")
        pixmaps = [self._text_pixmap(line, self.font, (235, 235, 235)) for line in lines]
        line_h = max(pm.height() for pm in pixmaps) / self._dpr
        top = y - line_h * len(lines) if bottom else y
        for i, pm in enumerate(pixmaps):
            w = pm.width() / self._dpr
            p.drawPixmap(QtCore.QPointF(x - w if right else x, top + i * line_h), pm)

    def _text_pixmap(self, text: str, font: QtGui.QFont, color: tuple[int, int, int]) -> QtGui.QPixmap:
        """`text` with a dark shadow, rendered once and kept (scrolling repeats the same lines)."""
        key = (text, font.key(), color, self._dpr)
        pix = self._cache.get(key)
        if pix is not None:
            return pix
        metrics = QtGui.QFontMetricsF(font)
        w = max(1.0, metrics.horizontalAdvance(text) + 2)
        h = metrics.height() + 1
        pix = QtGui.QPixmap(int(math.ceil(w * self._dpr)), int(math.ceil(h * self._dpr)))
        pix.setDevicePixelRatio(self._dpr)
        pix.fill(QtCore.Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(pix)
        painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing, True)
        painter.setFont(font)
        painter.setPen(QtGui.QColor(0, 0, 0, 230))
        painter.drawText(QtCore.QPointF(1, metrics.ascent() + 1), text)
        painter.setPen(QtGui.QColor(*color))
        painter.drawText(QtCore.QPointF(0, metrics.ascent()), text)
        painter.end()
        if len(self._cache) > 2000:
            self._cache.clear()
        self._cache[key] = pix
        return pix

    def _scale_bar(self, p: QtGui.QPainter, r: QtCore.QRectF) -> None:
        mm_per_px = self._owner.mm_per_screen_px()
        if mm_per_px is None or mm_per_px <= 0:
            return
        length_mm = nice_scale_length_mm(r.width() * 0.2 * mm_per_px)
        if length_mm <= 0:
            return
        length_px = length_mm / mm_per_px
        # A vertical bar on the right edge, centred, with end ticks (filled rectangles: cheap to draw).
        y = r.center().y()
        y0, y1 = y - length_px / 2.0, y + length_px / 2.0
        x = r.right() - 22
        dark, light = QtGui.QColor(0, 0, 0, 220), QtGui.QColor(235, 235, 235)
        for grow, color in ((1.0, dark), (0.0, light)):
            for rect in (
                QtCore.QRectF(x - 1, y0, 2, y1 - y0),
                QtCore.QRectF(x - 6, y0 - 1, 6, 2),
                QtCore.QRectF(x - 6, y1 - 1, 6, 2),
                QtCore.QRectF(x - 4, y - 1, 4, 2),
            ):
                p.fillRect(rect.adjusted(-grow, -grow, grow, grow), color)
        pix = self._text_pixmap(f"{length_mm:g} mm", self.font, (235, 235, 235))
        p.drawPixmap(QtCore.QPointF(x - pix.width() / self._dpr, y1 + 3), pix)
