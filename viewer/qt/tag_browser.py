"""The DICOM tag browser: one file's header as a searchable tree (pixel data never read)."""
from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID
from PySide6 import QtCore, QtWidgets

COL_TAG, COL_KEYWORD, COL_VR, COL_VALUE = range(4)
HEADERS = ("Tag", "Keyword", "VR", "Value")
MAX_VALUE_CHARS = 160
MAX_MULTI_VALUES = 16
# Bulk data never shown (pixel data, overlays, waveforms, ...).
_BULK_KEYWORDS = {"PixelData", "FloatPixelData", "DoubleFloatPixelData", "EncapsulatedDocument", "WaveformData"}
_BYTE_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}
_SEARCH_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1


def format_tag(tag: int) -> str:
    """A tag as DICOM writes it: (gggg,eeee), upper-case hex."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def format_value(elem: DataElement, *, max_chars: int = MAX_VALUE_CHARS) -> str:
    """A readable, truncated value of a non-sequence element."""
    value = elem.value
    if elem.VR in _BYTE_VRS or isinstance(value, (bytes, bytearray)):
        n = len(value) if value is not None else 0
        return f"<{n} bytes>"
    if value is None or value == "":
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        items = list(value)
        text = "\\".join(str(v) for v in items[:MAX_MULTI_VALUES])
        if len(items) > MAX_MULTI_VALUES:
            text += f"\\… ({len(items)} values)"
    else:
        text = str(value)
        if elem.VR == "UI":
            name = UID(text).name
            if name and name != text:
                text = f"{text} ({name})"
    text = text.replace("\r", " ").replace("\n", " ")
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


class TagBrowser(QtWidgets.QWidget):
    """Shows the header of one DICOM file; the search box filters on tag, keyword or value."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.search_box = QtWidgets.QLineEdit(self)
        self.search_box.setPlaceholderText("Search tag, keyword or value (e.g. 0010,0010 or PatientName)")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setAccessibleName("Search tags")
        self.search_box.textChanged.connect(self.set_filter)
        self.path_label = QtWidgets.QLabel(self)
        self.path_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setWordWrap(True)
        self.tree = QtWidgets.QTreeWidget(self)
        self.tree.setColumnCount(len(HEADERS))
        self.tree.setHeaderLabels(list(HEADERS))
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setAccessibleName("DICOM tags")
        # The value column always gets the room that is left (long values are elided, the full
        # text is in the tooltip); the keyword column is capped so it never pushes it out of view.
        header = self.tree.header()
        header.setStretchLastSection(True)
        self.tree.setTextElideMode(QtCore.Qt.TextElideMode.ElideRight)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search_box)
        layout.addWidget(self.path_label)
        layout.addWidget(self.tree)
        self._path: Path | None = None

    @property
    def path(self) -> Path | None:
        """The file shown, None when none (or it could not be read)."""
        return self._path

    def show_file(self, path: Path | str, frame: int | None = None) -> bool:
        """Read a file's header (never its pixels) and show it; False, with the reason shown, on failure.

        For a multi-frame file, `frame` (0-based) keeps only that frame's item of the
        Per-frame Functional Groups Sequence.
        """
        path = Path(path)
        self.tree.clear()
        self._path = None
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
            self.path_label.setText(f"Cannot read the header of {path.name}: {exc}")
            return False
        self._path = path
        frame_text = f"  ·  frame {frame + 1}" if frame is not None else ""
        self.path_label.setText(f"{path.name}{frame_text}")
        self.path_label.setToolTip(str(path))
        self.tree.setUpdatesEnabled(False)
        try:
            if getattr(ds, "file_meta", None) is not None and len(ds.file_meta):
                meta = QtWidgets.QTreeWidgetItem(self.tree, ["File meta information"])
                meta.setFirstColumnSpanned(True)
                self._add_dataset(meta, ds.file_meta, frame=None)
            self._add_dataset(self.tree.invisibleRootItem(), ds, frame=frame)
            self.tree.expandToDepth(0)
            for col in (COL_TAG, COL_KEYWORD, COL_VR):
                self.tree.resizeColumnToContents(col)
            caps = {COL_TAG: 96, COL_KEYWORD: 150, COL_VR: 40}
            for col, cap in caps.items():
                self.tree.setColumnWidth(col, min(self.tree.columnWidth(col), cap))
        finally:
            self.tree.setUpdatesEnabled(True)
        self.set_filter(self.search_box.text())
        return True

    def set_filter(self, text: str) -> None:
        """Show only rows whose tag, keyword or value contains `text` (with their parents)."""
        needle = _normalise(text)
        root = self.tree.invisibleRootItem()
        for i in range(root.childCount()):
            self._filter(root.child(i), needle, ancestor_matched=False)

    def visible_rows(self) -> list[tuple[str, str, str, str]]:
        """(tag, keyword, VR, value) of every row not hidden by the filter, in tree order."""
        rows: list[tuple[str, str, str, str]] = []

        def walk(item: QtWidgets.QTreeWidgetItem) -> None:
            for i in range(item.childCount()):
                child = item.child(i)
                if not child.isHidden():
                    rows.append(tuple(child.text(c) for c in range(4)))  # type: ignore[arg-type]
                    walk(child)

        walk(self.tree.invisibleRootItem())
        return rows

    # ---------------------------------------------------------------------------- internals
    def _add_dataset(self, parent: QtWidgets.QTreeWidgetItem, ds: Dataset, *, frame: int | None) -> None:
        for elem in ds:
            if _is_bulk(elem):
                continue
            tag = format_tag(elem.tag)
            keyword = elem.keyword or ("(private)" if elem.tag.is_private else "")
            if elem.tag.is_private and elem.name and elem.name != "Private tag data":
                keyword = f"{elem.name}"
            if elem.VR == "SQ":
                items = list(elem.value or [])
                shown = list(enumerate(items))
                note = f"{len(items)} item(s)"
                if frame is not None and elem.keyword == "PerFrameFunctionalGroupsSequence" and 0 <= frame < len(items):
                    shown = [(frame, items[frame])]
                    note = f"frame {frame + 1} of {len(items)}"
                seq_item = self._row(parent, tag, keyword, "SQ", note)
                for i, item_ds in shown:
                    child = QtWidgets.QTreeWidgetItem(seq_item, [f"Item {i + 1}"])
                    child.setData(COL_TAG, _SEARCH_ROLE, "")
                    self._add_dataset(child, item_ds, frame=None)
            else:
                try:
                    value = format_value(elem)
                except Exception as exc:  # a malformed value must not hide the rest of the header
                    value = f"<unreadable: {type(exc).__name__}>"
                self._row(parent, tag, keyword, str(elem.VR), value)

    def _row(self, parent: QtWidgets.QTreeWidgetItem, tag: str, keyword: str, vr: str, value: str) -> QtWidgets.QTreeWidgetItem:
        item = QtWidgets.QTreeWidgetItem(parent, [tag, keyword, vr, value])
        item.setToolTip(COL_VALUE, value)
        item.setData(COL_TAG, _SEARCH_ROLE, _normalise(" ".join((tag, tag.replace(",", ""), keyword, value))))
        return item

    def _filter(self, item: QtWidgets.QTreeWidgetItem, needle: str, *, ancestor_matched: bool) -> bool:
        """Hide non-matching rows; returns whether this row or a descendant matches."""
        own = bool(needle) and needle in (item.data(COL_TAG, _SEARCH_ROLE) or "")
        any_child = False
        for i in range(item.childCount()):
            any_child |= self._filter(item.child(i), needle, ancestor_matched=ancestor_matched or own)
        visible = not needle or own or any_child or ancestor_matched
        item.setHidden(not visible)
        if needle and any_child:
            item.setExpanded(True)
        return own or any_child


def _is_bulk(elem: DataElement) -> bool:
    """Pixel data and overlay data are never shown."""
    is_overlay_data = 0x6000 <= (elem.tag >> 16) <= 0x601E and (elem.tag & 0xFFFF) == 0x3000
    return elem.keyword in _BULK_KEYWORDS or is_overlay_data


def _normalise(text: str) -> str:
    return text.strip().lower()
