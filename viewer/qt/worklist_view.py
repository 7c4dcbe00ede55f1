"""File > Open worklist…: a triage run's worklist (`ichview triage --out DIR`) in a dock.

The rows are DIR/worklist.json's (viewer.analysis.worklist.read_worklist), most suspicious first;
every column sorts (rank, verdict, max P(any), blood and class volumes in mL, patient, date,
description, not analysed). Selecting a row shows that study's stored findings (its
studies/<id>/findings.json and key.png, written by the triage run) read-only: they are the run's
results, not a new analysis. The worklist does not hold where the study's DICOM files are, so a
double click (or "Open the study's images…") asks for the folder and opens it; when that folder
holds the study (same StudyInstanceUID) its series is shown, otherwise the viewer says so.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from inference.readers.blast_ct.results import LESION_CLASSES
from viewer.analysis.triage import STATUS_ANALYSED, STATUS_FAILED, TriageEntry
from viewer.analysis.worklist import read_worklist
from viewer.qt.slice_overlay import format_da

COLUMNS = ("Rank", "Verdict", "Max P(any)", "Blood (mL)", *(f"{c} (mL)" for c in LESION_CLASSES),
           "Patient", "Date", "Description", "Not analysed")
_SORT_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1


class _Item(QtWidgets.QTableWidgetItem):
    """A cell that sorts by its key (numbers as numbers; empty cells last)."""

    def __init__(self, text: str, key: object) -> None:
        super().__init__(text)
        self.setData(_SORT_ROLE, key)
        self.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled | QtCore.Qt.ItemFlag.ItemIsSelectable)

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:  # type: ignore[override]
        a, b = self.data(_SORT_ROLE), other.data(_SORT_ROLE)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return str(a) < str(b)


def _number(value: float | None, digits: int) -> tuple[str, float]:
    if value is None:
        return "—", float("-inf")
    return f"{value:.{digits}f}", float(value)


class WorklistPanel(QtWidgets.QWidget):
    """The worklist table, the selected study's stored findings, and a button to open its images."""

    open_requested = QtCore.Signal(object)  # TriageEntry

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder: Path | None = None
        self.entries: list[TriageEntry] = []
        self.title = QtWidgets.QLabel("No worklist open (File > Open worklist…)")
        self.title.setWordWrap(True)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setAccessibleName("Triage worklist")
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSortingEnabled(True)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.itemDoubleClicked.connect(lambda _item: self.request_open())
        self.thumbnail = QtWidgets.QLabel()
        self.thumbnail.setFixedSize(128, 128)
        self.thumbnail.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("QLabel { background: black; color: #aaa; }")
        self.findings = QtWidgets.QTextBrowser()
        self.findings.setAccessibleName("Stored findings (read-only)")
        self.findings.setOpenLinks(False)
        self.open_button = QtWidgets.QPushButton("Open the study's images…")
        self.open_button.setToolTip("The worklist does not record where the images are: point to the study's folder")
        self.open_button.setEnabled(False)
        self.open_button.clicked.connect(self.request_open)
        detail = QtWidgets.QHBoxLayout()
        side = QtWidgets.QVBoxLayout()
        side.addWidget(self.thumbnail)
        side.addWidget(self.open_button)
        side.addStretch(1)
        detail.addLayout(side)
        detail.addWidget(self.findings, 1)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical, self)
        top = QtWidgets.QWidget()
        top_layout = QtWidgets.QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.title)
        top_layout.addWidget(self.table, 1)
        bottom = QtWidgets.QWidget()
        bottom.setLayout(detail)
        split.addWidget(top)
        split.addWidget(bottom)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(split)

    # ------------------------------------------------------------------------------ public
    def load(self, folder: Path | str) -> list[TriageEntry]:
        """Read DIR/worklist.json and show its rows in worklist order."""
        folder = Path(folder)
        entries = read_worklist(folder)
        self.folder, self.entries = folder, entries
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(entries))
        for row, e in enumerate(entries):
            analysed = e.status == STATUS_ANALYSED
            max_any, max_key = _number(e.max_any, 2)
            blood, blood_key = _number(e.blood_ml if analysed else None, 1)
            if e.status == STATUS_FAILED:
                verdict = f"Failed: {e.reason}"
            elif not analysed:
                verdict = "Not analysed"
            else:
                verdict = e.verdict
            cells = [
                (str(row + 1), row + 1),
                (verdict, verdict),
                (max_any, max_key),
                (blood, blood_key),
                *(_number(e.volumes_ml.get(c) if analysed else None, 1) for c in LESION_CLASSES),
                (f"{e.patient_name} ({e.patient_id})" if e.patient_name else e.patient_id, e.patient_id),
                (format_da(e.study_date), e.study_date),
                (e.description, e.description),
                ("; ".join(e.not_analysed), len(e.not_analysed)),
            ]
            for col, (text, key) in enumerate(cells):
                item = _Item(text, key)
                if col == 0:
                    item.setData(QtCore.Qt.ItemDataRole.UserRole, row)  # the entry's index
                if e.suspected:
                    item.setForeground(QtGui.QBrush(QtGui.QColor(176, 74, 0)))
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        self.table.sortItems(0, QtCore.Qt.SortOrder.AscendingOrder)
        self.table.resizeColumnsToContents()
        self.title.setText(
            f"Triage worklist: {len(entries)} stud{'y' if len(entries) == 1 else 'ies'} from {folder} — stored results "
            "of the triage run (research and triage aid, not a diagnosis). Double-click a row to open its images."
        )
        if entries:
            self.table.selectRow(0)
        return entries

    def selected_entry(self) -> TriageEntry | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        index = self.table.item(rows[0].row(), 0).data(QtCore.Qt.ItemDataRole.UserRole)
        return self.entries[int(index)]

    def request_open(self) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self.open_requested.emit(entry)

    # --------------------------------------------------------------------------- internals
    def _on_selection(self) -> None:
        entry = self.selected_entry()
        self.open_button.setEnabled(entry is not None)
        if entry is None or self.folder is None:
            self.findings.clear()
            self.thumbnail.clear()
            return
        self._show_thumbnail(entry)
        self.findings.setHtml(stored_findings_html(entry, self.folder))

    def _show_thumbnail(self, entry: TriageEntry) -> None:
        rel = entry.files.get("thumbnail")
        pixmap = QtGui.QPixmap(str(self.folder / rel)) if rel and self.folder is not None else QtGui.QPixmap()
        if pixmap.isNull():
            self.thumbnail.setPixmap(QtGui.QPixmap())
            self.thumbnail.setText("no key image")
        else:
            self.thumbnail.setPixmap(pixmap.scaled(128, 128, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                                                   QtCore.Qt.TransformationMode.SmoothTransformation))


def stored_findings_html(entry: TriageEntry, folder: Path) -> str:
    """The stored findings of one worklist row (findings.json of the triage run), read-only."""
    esc = html.escape
    parts = [
        f"<p><b>{esc(entry.verdict or 'Not analysed')}</b></p>",
        "<p><i>Stored by the triage run; read-only. Research and triage aid only, not a diagnosis.</i></p>",
        f"<p>{esc(entry.patient_name)} ({esc(entry.patient_id)}) · {esc(format_da(entry.study_date))} · "
        f"accession {esc(entry.accession or '—')} · {esc(entry.description)}</p>",
    ]
    if entry.status == STATUS_FAILED:
        parts.append(f"<p>The triage run failed on this study: {esc(entry.reason)}</p>")
    if entry.disagreement:
        parts.append(f"<p>Readers disagree: {esc(entry.disagreement)}</p>")
    doc = _read_json(folder, entry.files.get("json"))
    if doc is None:
        parts.append("<p>No stored findings file for this study.</p>")
    else:
        for series in doc.get("series", []):
            parts.append(_series_html(series))
        skipped = doc.get("skipped", [])
        if skipped:
            items = "".join(
                f"<li>{esc(str(s.get('description') or s.get('path') or s.get('series_uid') or ''))}: {esc(str(s.get('reason', '')))}</li>"
                for s in skipped
            )
            parts.append(f"<p>Not analysed:</p><ul>{items}</ul>")
        if doc.get("honest_use"):
            parts.append(f"<p><i>{esc(str(doc['honest_use']))}</i></p>")
    return "".join(parts)


def _read_json(folder: Path, rel: str | None) -> dict[str, Any] | None:
    if not rel:
        return None
    try:
        return json.loads((folder / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _series_html(series: dict[str, Any]) -> str:
    esc = html.escape
    verdict = series.get("verdict") or {}
    title = f"Se {series.get('series_number', '—')} {series.get('series_description', '')} ({series.get('n_slices', '?')} slices)"
    lines = [f"<h4>{esc(title)}</h4>", f"<p>{esc(str(verdict.get('text', '')))}"]
    if verdict.get("max_any") is not None:
        lines.append(
            f" — max P(any) {float(verdict['max_any']):.2f} on slice {verdict.get('max_any_slice_number', '—')}"
        )
    lines.append("</p>")
    lesions = series.get("lesions") or {}
    volumes = lesions.get("volumes_ml") or {}
    if volumes:
        cells = ", ".join(f"{esc(k)} {float(v):.1f} mL" for k, v in volumes.items() if v is not None)
        lines.append(f"<p>BLAST-CT: {cells}</p>")
    keys = series.get("key_slices") or []
    if keys:
        lines.append("<p>Key slices: " + ", ".join(str(k.get("slice_number")) for k in keys) + "</p>")
    return "".join(lines)
