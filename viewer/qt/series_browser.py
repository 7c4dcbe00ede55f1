"""The series browser: patient -> study -> series / stack, with thumbnails and warning badges."""
from __future__ import annotations

import statistics

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from viewer.core import warnings as W
from viewer.core.series import Patient, Series, Stack, Study, StudyTree
from viewer.core.windowing import PRESETS_BY_KEY, apply_window

STACK_ID_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
THUMBNAIL_PX = 64

COL_DESCRIPTION, COL_SLICES, COL_THICKNESS, COL_WARNINGS = range(4)
HEADERS = ("Series", "Slices", "Thickness", "Warnings")

# Short words for the badge; the tooltip carries the full messages.
WARNING_WORDS: dict[str, str] = {
    W.GANTRY_TILT: "tilt",
    W.UNEVEN_SPACING: "uneven spacing",
    W.MISSING_SLICES: "gaps",
    W.DUPLICATE_POSITION: "duplicates",
    W.MIXED_THICKNESS: "mixed thickness",
    W.NO_POSITION: "no position",
    W.SINGLE_SLICE: "single slice",
    W.PIXEL_PADDING: "padding",
    W.DECODE_FAILED: "decode failed",
}


def format_person_name(name: str) -> str:
    """DICOM PN 'Family^Given^Middle' as 'Family, Given Middle'."""
    parts = [p for p in name.split("=")[0].split("^")]
    family, rest = (parts[0], [p for p in parts[1:] if p]) if parts else ("", [])
    return f"{family}, {' '.join(rest)}" if rest else family


def format_da(date: str) -> str:
    """DICOM DA YYYYMMDD as YYYY-MM-DD (other strings unchanged)."""
    d = date.strip()
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if len(d) == 8 and d.isdigit() else d


def stack_thickness_mm(stack: Stack) -> float | None:
    """Median SliceThickness of a stack, else its median slice spacing, else None."""
    values = [s.slice_thickness_mm for s in stack.slices if s.slice_thickness_mm]
    if values:
        return float(statistics.median(values))
    return stack.geometry.slice_spacing_median_mm


def slices_text(n: int) -> str:
    """'1 slice', '28 slices'."""
    return f"{n} slice" if n == 1 else f"{n} slices"


def stack_thickness_text(stack: Stack) -> str:
    """The stack's slice thickness in words: one value ('5 mm'), a range when its slices differ
    ('4–7 mm'), or '—' when unknown."""
    values = [float(s.slice_thickness_mm) for s in stack.slices if s.slice_thickness_mm]
    if values and max(values) - min(values) > 0.01:
        return f"{_mm_number(min(values))}–{_mm_number(max(values))} mm"
    thickness = stack_thickness_mm(stack)
    return f"{_mm_number(thickness)} mm" if thickness else "—"


def _mm_number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def badge_text(stack: Stack) -> str:
    """Words for a stack's warnings ('tilt, gaps'); empty when it has none."""
    words: list[str] = []
    for w in stack.warnings:
        word = WARNING_WORDS.get(w.code, w.code.replace("_", " "))
        if word not in words:
            words.append(word)
    return ", ".join(words)


def hu_to_thumbnail(hu2d: np.ndarray, *, aspect_row_over_col: float = 1.0, size_px: int = THUMBNAIL_PX) -> QtGui.QPixmap:
    """A square pixmap of a slice in brain window, physical aspect kept, centred on black."""
    brain = PRESETS_BY_KEY["brain"]
    grey = np.ascontiguousarray(apply_window(np.asarray(hu2d), width_hu=brain.width_hu, center_hu=brain.center_hu))
    rows, cols = grey.shape
    image = QtGui.QImage(grey.data, cols, rows, cols, QtGui.QImage.Format.Format_Grayscale8).copy()
    height_mm, width_mm = rows * aspect_row_over_col, cols
    scale = size_px / max(height_mm, width_mm)
    w, h = max(1, round(width_mm * scale)), max(1, round(height_mm * scale))
    scaled = image.scaled(w, h, QtCore.Qt.AspectRatioMode.IgnoreAspectRatio, QtCore.Qt.TransformationMode.SmoothTransformation)
    pixmap = QtGui.QPixmap(size_px, size_px)
    pixmap.fill(QtGui.QColor("black"))
    painter = QtGui.QPainter(pixmap)
    painter.drawImage((size_px - w) // 2, (size_px - h) // 2, scaled)
    painter.end()
    return pixmap


class SeriesBrowser(QtWidgets.QWidget):
    """A tree of the opened study: one selectable row per stack.

    `stack_selected(stack_id)` is emitted whenever the current stack changes, by a click, the
    keyboard (Up/Down in the tree) or `select_stack` / `select_next` / `select_previous`.
    """

    stack_selected = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.tree = QtWidgets.QTreeWidget(self)
        self.tree.setColumnCount(len(HEADERS))
        self.tree.setHeaderLabels(list(HEADERS))
        self.tree.setIconSize(QtCore.QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.tree.setUniformRowHeights(False)
        self.tree.setWordWrap(True)  # long warning badges wrap inside the tall thumbnail rows
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setAccessibleName("Series browser")
        header = self.tree.header()
        # Every column visible without sideways scrolling: the description takes what is left.
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(24)
        header.setSectionResizeMode(COL_DESCRIPTION, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_SLICES, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_THICKNESS, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_WARNINGS, QtWidgets.QHeaderView.ResizeMode.Fixed)
        header.resizeSection(COL_WARNINGS, 84)
        self.tree.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.setIndentation(12)  # room for the description beside the thumbnail
        self.tree.setTextElideMode(QtCore.Qt.TextElideMode.ElideRight)
        self.setMinimumWidth(THUMBNAIL_PX + 200)
        self.tree.currentItemChanged.connect(self._on_current_changed)
        self.tree.installEventFilter(self)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        self.setFocusProxy(self.tree)
        self._items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        self._stacks: dict[str, Stack] = {}
        self._order: list[str] = []
        self._current = ""
        # A pixmap-backed icon is never scaled up to the 64 px thumbnail size.
        warning_pixmap = self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(18, 18)
        self._warning_icon = QtGui.QIcon(warning_pixmap)

    # ---------------------------------------------------------------------------------- public
    @property
    def stack_ids(self) -> list[str]:
        """The stacks in tree order."""
        return list(self._order)

    @property
    def current_stack_id(self) -> str:
        """The selected stack, "" when none."""
        return self._current

    def item_for(self, stack_id: str) -> QtWidgets.QTreeWidgetItem:
        """The tree row of a stack (KeyError when unknown)."""
        return self._items[stack_id]

    def set_tree(self, tree: StudyTree) -> None:
        """Show a study tree (replaces what was shown; selects nothing)."""
        blocker = QtCore.QSignalBlocker(self.tree)
        self.tree.clear()
        self._items.clear()
        self._stacks.clear()
        self._order.clear()
        self._current = ""
        for patient in tree.patients:
            p_item = self._add_patient(patient)
            for study in patient.studies:
                s_item = self._add_study(p_item, study)
                for series in study.series:
                    self._add_series(s_item, series)
        self.tree.expandAll()
        for col in (COL_DESCRIPTION, COL_SLICES, COL_THICKNESS):
            self.tree.resizeColumnToContents(col)
        del blocker

    def set_thumbnail(self, stack_id: str, hu2d: np.ndarray) -> None:
        """Show a slice (HU) as the stack's thumbnail, in brain window with its physical aspect."""
        item = self._items.get(stack_id)
        if item is None:
            return
        aspect = 1.0
        stack = self._stacks[stack_id]
        first = stack.slices[0] if stack.slices else None
        if first is not None and first.pixel_spacing_mm:
            row_mm, col_mm = first.pixel_spacing_mm
            if hu2d.shape[:2] == (first.columns, first.rows) and first.rows != first.columns:
                row_mm, col_mm = col_mm, row_mm  # canonical orientation transposed the plane
            aspect = row_mm / col_mm if col_mm else 1.0
        item.setIcon(COL_DESCRIPTION, QtGui.QIcon(hu_to_thumbnail(hu2d, aspect_row_over_col=aspect)))

    def select_stack(self, stack_id: str) -> None:
        """Make a stack current (emits stack_selected if it was not)."""
        item = self._items.get(stack_id)
        if item is not None:
            self.tree.setCurrentItem(item)
            self.tree.scrollToItem(item)

    def select_next(self) -> bool:
        """Select the next stack in tree order (Page Down); False at the end."""
        return self._step(+1)

    def select_previous(self) -> bool:
        """Select the previous stack in tree order (Page Up); False at the start."""
        return self._step(-1)

    # ------------------------------------------------------------------------------- internals
    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt's name)
        """Up/Down and Page Up/Down step through stacks (skipping patient and study rows)."""
        if obj is self.tree and event.type() == QtCore.QEvent.Type.KeyPress and self._order:
            key = event.key()
            if event.modifiers() & ~QtCore.Qt.KeyboardModifier.KeypadModifier:
                return False
            if key in (QtCore.Qt.Key.Key_Down, QtCore.Qt.Key.Key_PageDown):
                self.select_next()
                return True
            if key in (QtCore.Qt.Key.Key_Up, QtCore.Qt.Key.Key_PageUp):
                self.select_previous()
                return True
            if key == QtCore.Qt.Key.Key_Home:
                self.select_stack(self._order[0])
                return True
            if key == QtCore.Qt.Key.Key_End:
                self.select_stack(self._order[-1])
                return True
        return super().eventFilter(obj, event)

    def _step(self, delta: int) -> bool:
        if not self._order:
            return False
        if self._current not in self._order:
            self.select_stack(self._order[0 if delta > 0 else -1])
            return True
        i = self._order.index(self._current) + delta
        if not 0 <= i < len(self._order):
            return False
        self.select_stack(self._order[i])
        return True

    def _add_patient(self, patient: Patient) -> QtWidgets.QTreeWidgetItem:
        name = format_person_name(patient.name) or "(no name)"
        item = QtWidgets.QTreeWidgetItem(self.tree, [f"{name}  ·  ID {patient.patient_id or '—'}"])
        item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
        font = item.font(0)
        font.setBold(True)
        item.setFont(0, font)
        item.setFirstColumnSpanned(True)
        return item

    def _add_study(self, parent: QtWidgets.QTreeWidgetItem, study: Study) -> QtWidgets.QTreeWidgetItem:
        text = "  ".join(t for t in (format_da(study.date), study.description or "(no study description)") if t)
        item = QtWidgets.QTreeWidgetItem(parent, [text])
        item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
        item.setFirstColumnSpanned(True)
        return item

    def _add_series(self, parent: QtWidgets.QTreeWidgetItem, series: Series) -> None:
        number = f"#{series.series_number} " if series.series_number is not None else ""
        if len(series.stacks) == 1:
            self._add_stack(parent, series.stacks[0], f"{number}{series.description or series.stacks[0].description}")
            return
        item = QtWidgets.QTreeWidgetItem(parent, [f"{number}{series.description or '(no description)'}"])
        item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
        item.setText(COL_SLICES, str(sum(st.n_slices for st in series.stacks)))
        item.setToolTip(0, f"This series holds {len(series.stacks)} stacks that cannot be shown as one volume.")
        item.setFirstColumnSpanned(False)
        for i, stack in enumerate(series.stacks, start=1):
            self._add_stack(item, stack, f"stack {i} of {len(series.stacks)}")

    def _add_stack(self, parent: QtWidgets.QTreeWidgetItem, stack: Stack, title: str) -> None:
        title = title.strip() or "(no description)"
        if stack.is_localizer:
            title += " (localizer)"
        item = QtWidgets.QTreeWidgetItem(parent)
        item.setText(COL_DESCRIPTION, title)
        item.setText(COL_SLICES, str(stack.n_slices))
        item.setText(COL_THICKNESS, stack_thickness_text(stack))
        item.setTextAlignment(COL_SLICES, QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        item.setData(COL_DESCRIPTION, STACK_ID_ROLE, stack.stack_id)
        item.setToolTip(COL_DESCRIPTION, f"{title}\n{stack.modality} · {slices_text(stack.n_slices)}")
        placeholder = QtGui.QPixmap(THUMBNAIL_PX, THUMBNAIL_PX)
        placeholder.fill(QtGui.QColor(40, 40, 40))
        item.setIcon(COL_DESCRIPTION, QtGui.QIcon(placeholder))
        words = badge_text(stack)
        if words:
            item.setIcon(COL_WARNINGS, self._warning_icon)
            item.setText(COL_WARNINGS, words)  # the icon says "warning"; the tooltip says what
            tooltip = "\n".join(f"• {w.message}" for w in stack.warnings)
            item.setToolTip(COL_WARNINGS, tooltip)
            item.setToolTip(COL_DESCRIPTION, item.toolTip(COL_DESCRIPTION) + "\n" + tooltip)
        item.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled | QtCore.Qt.ItemFlag.ItemIsSelectable)
        self._items[stack.stack_id] = item
        self._stacks[stack.stack_id] = stack
        self._order.append(stack.stack_id)

    @QtCore.Slot(object, object)
    def _on_current_changed(self, current: QtWidgets.QTreeWidgetItem | None, _previous: object) -> None:
        if current is None:
            return
        stack_id = current.data(COL_DESCRIPTION, STACK_ID_ROLE)
        if not stack_id:
            return  # a patient / study / split-series row: keep the current stack
        if stack_id != self._current:
            self._current = stack_id
            self.stack_selected.emit(stack_id)
