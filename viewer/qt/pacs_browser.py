"""File > Open from PACS…: find a study on a node, see its series, retrieve it into the cache and open it.

Every network step runs in a worker (`workers.Job` wrapping the plain generators of viewer.pacs):
the study query (C-FIND, or QIDO-RS when the node has a DICOMweb URL), the series of the selected
study, and the retrieve (C-GET, C-MOVE to our own port, or WADO-RS), which reports each instance
as it arrives and stops at Cancel. Each result carries the request it answers (a counter, and the
study UID for series), so an answer to an older search or another study is dropped. Errors (node
down, association refused, timeout) are shown in the dialog in words and the viewer stays usable.
Only a complete retrieve (`RetrieveDone`: the cache renamed the study's `.partial` folder) is
opened, through `study_retrieved(folder, study_uid)`, which the main window connects to
`open_paths`; a cancelled or failed retrieve left nothing in the cache and opens nothing.
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore, QtWidgets

from viewer.pacs.errors import PacsError, RetrieveCancelled
from viewer.pacs.nodes import PacsConfig, PacsNode
from viewer.pacs.query import SeriesMatch, StudyMatch, StudyQuery, find_series, find_studies
from viewer.pacs.retrieve import RetrieveDone, RetrieveProgress, retrieve_study
from viewer.qt.pacs_nodes_page import read_config, study_cache
from viewer.qt.workers import Job, JobSlot

STUDY_COLUMNS = ("Patient", "Patient ID", "Date", "Modalities", "Accession", "Description", "Series", "Images")
SERIES_COLUMNS = ("#", "Modality", "Description", "Images")
METHOD_NAMES = {"cget": "C-GET", "cmove": "C-MOVE", "wado": "WADO-RS"}
MODALITIES = ("", "CT", "MR", "CR", "DX", "SR", "OT")
_REQUESTS = itertools.count(1)


@dataclass(frozen=True)
class Answer:
    """A worker's answer: which request, and what came back (a list of matches)."""

    request: int
    key: str  # "" for a study search, the study UID for its series
    rows: list[Any]


def search_studies(request: int, node: PacsNode, config: PacsConfig, query: StudyQuery, via: str) -> Iterator[Answer]:
    yield Answer(request, "", find_studies(node, config.local, query, via=via))


def search_series(request: int, node: PacsNode, config: PacsConfig, study_uid: str, via: str) -> Iterator[Answer]:
    yield Answer(request, study_uid, find_series(node, config.local, study_uid, via=via))


def retrieve_events(node: PacsNode, config: PacsConfig, study_uid: str, method: str,
                    cancel: threading.Event) -> Iterator[Any]:
    """Worker side of Retrieve: the cache's events (progress per instance, then done)."""
    return retrieve_study(node, config.local, study_uid, study_cache(config), method=method, cancel=cancel)


def _date(text: str) -> str:
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


class OpenFromPacsDialog(QtWidgets.QDialog):
    """The dialog (see the module docstring). Signals: `study_retrieved(str folder, str study_uid)`,
    `searched(int n)`, `series_shown(int n)`, `failed(str)`, `retrieve_ended(str outcome)` with
    outcome "done", "cancelled" or "failed"."""

    study_retrieved = QtCore.Signal(str, str)
    searched = QtCore.Signal(int)
    series_shown = QtCore.Signal(int)
    failed = QtCore.Signal(str)
    retrieve_ended = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None, config: PacsConfig | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        problem = ""
        if config is None:
            config, problem = read_config()
        self.config = config
        self._studies: list[StudyMatch] = []
        self._series: list[SeriesMatch] = []
        self._search_request = 0
        self._series_request = 0
        self._retrieving = ""  # study UID while a retrieve runs
        self._search_slot = JobSlot(self)
        self._series_slot = JobSlot(self)
        self._retrieve_slot = JobSlot(self)

        # --- where and what
        self.node_combo = QtWidgets.QComboBox()
        for n in config.nodes:
            self.node_combo.addItem(n.describe(), n.name)
        self.node_combo.currentIndexChanged.connect(self._on_node_changed)
        self.via_combo = QtWidgets.QComboBox()
        self.via_combo.setToolTip("How to search: DICOM C-FIND, or QIDO-RS when the node has a DICOMweb URL")
        self.patient_name = QtWidgets.QLineEdit()
        self.patient_name.setPlaceholderText("e.g. DOE^J*  (* and ? match anything)")
        self.patient_id = QtWidgets.QLineEdit()
        self.accession = QtWidgets.QLineEdit()
        self.description = QtWidgets.QLineEdit()
        self.description.setPlaceholderText("e.g. *HEAD*")
        self.modality = QtWidgets.QComboBox()
        self.modality.setEditable(True)
        self.modality.addItems(list(MODALITIES))
        self.modality.setCurrentText("CT")
        self.use_dates = QtWidgets.QCheckBox("Between")
        today = QtCore.QDate.currentDate()
        self.date_from = QtWidgets.QDateEdit(today.addDays(-7))
        self.date_to = QtWidgets.QDateEdit(today)
        for d in (self.date_from, self.date_to):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
            d.setEnabled(False)
        self.use_dates.toggled.connect(self.date_from.setEnabled)
        self.use_dates.toggled.connect(self.date_to.setEnabled)
        dates = QtWidgets.QHBoxLayout()
        dates.addWidget(self.use_dates)
        dates.addWidget(self.date_from)
        dates.addWidget(QtWidgets.QLabel("and"))
        dates.addWidget(self.date_to)
        dates.addStretch(1)
        for edit in (self.patient_name, self.patient_id, self.accession, self.description):
            edit.returnPressed.connect(self.search)
        self.search_button = QtWidgets.QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        grid = QtWidgets.QGridLayout()
        grid.addWidget(QtWidgets.QLabel("PACS node:"), 0, 0)
        grid.addWidget(self.node_combo, 0, 1)
        grid.addWidget(QtWidgets.QLabel("Search by:"), 0, 2)
        grid.addWidget(self.via_combo, 0, 3)
        grid.addWidget(QtWidgets.QLabel("Patient name:"), 1, 0)
        grid.addWidget(self.patient_name, 1, 1)
        grid.addWidget(QtWidgets.QLabel("Patient ID:"), 1, 2)
        grid.addWidget(self.patient_id, 1, 3)
        grid.addWidget(QtWidgets.QLabel("Accession:"), 2, 0)
        grid.addWidget(self.accession, 2, 1)
        grid.addWidget(QtWidgets.QLabel("Modality:"), 2, 2)
        grid.addWidget(self.modality, 2, 3)
        grid.addWidget(QtWidgets.QLabel("Description:"), 3, 0)
        grid.addWidget(self.description, 3, 1)
        grid.addWidget(QtWidgets.QLabel("Study date:"), 3, 2)
        grid.addLayout(dates, 3, 3)
        grid.addWidget(self.search_button, 4, 3, QtCore.Qt.AlignmentFlag.AlignRight)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)

        # --- results
        self.study_table = self._table(STUDY_COLUMNS, stretch=STUDY_COLUMNS.index("Description"))
        self.study_table.itemSelectionChanged.connect(self._on_study_selected)
        self.study_table.itemDoubleClicked.connect(lambda _i: self.retrieve())
        self.series_table = self._table(SERIES_COLUMNS, stretch=SERIES_COLUMNS.index("Description"))
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        split.addWidget(self.study_table)
        split.addWidget(self.series_table)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)

        # --- retrieve
        self.method_combo = QtWidgets.QComboBox()
        self.method_combo.setToolTip(
            "C-GET: images come back on the same connection (simplest). C-MOVE: the PACS sends them to our "
            "port (it must know our AE title, host and port). WADO-RS: over HTTP (DICOMweb URL needed)."
        )
        self.retrieve_button = QtWidgets.QPushButton("Retrieve and open")
        self.retrieve_button.clicked.connect(lambda: self.retrieve())
        self.cancel_button = QtWidgets.QPushButton("Cancel retrieve")
        self.cancel_button.clicked.connect(self.cancel_retrieve)
        self.cancel_button.setEnabled(False)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setFormat("%v / %m images")
        self.progress.setVisible(False)
        self.close_button = QtWidgets.QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        bottom = QtWidgets.QHBoxLayout()
        bottom.addWidget(QtWidgets.QLabel("Retrieve by:"))
        bottom.addWidget(self.method_combo)
        bottom.addWidget(self.retrieve_button)
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.cancel_button)
        bottom.addStretch(0)
        bottom.addWidget(self.close_button)
        self.status = QtWidgets.QLabel(problem or ("" if config.nodes else
                                       "No PACS node is configured: add one in Edit > Preferences > PACS."))
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        note = QtWidgets.QLabel("Retrieved studies are kept in the PACS cache (patient data; see Preferences > PACS).")
        note.setStyleSheet("QLabel { color: #666; }")

        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        layout.addLayout(bottom)
        layout.addWidget(note)
        self.resize(980, 640)
        self._on_node_changed()
        self._update_buttons()

    @staticmethod
    def _table(columns: tuple[str, ...], *, stretch: int) -> QtWidgets.QTableWidget:
        t = QtWidgets.QTableWidget(0, len(columns))
        t.setHorizontalHeaderLabels(list(columns))
        t.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        t.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        t.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        t.verticalHeader().setVisible(False)
        header = t.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(stretch, QtWidgets.QHeaderView.ResizeMode.Stretch)
        return t

    # ---------------------------------------------------------------------------- state
    def node(self) -> PacsNode | None:
        name = self.node_combo.currentData()
        return next((n for n in self.config.nodes if n.name == name), None)

    def selected_study(self) -> StudyMatch | None:
        rows = self.study_table.selectionModel().selectedRows()
        return self._studies[rows[0].row()] if rows and rows[0].row() < len(self._studies) else None

    def is_retrieving(self) -> bool:
        return bool(self._retrieving)

    def _on_node_changed(self) -> None:
        node = self.node()
        web = bool(node is not None and node.dicomweb_url)
        self.via_combo.clear()
        if web:
            self.via_combo.addItem("QIDO-RS (DICOMweb)", "dicomweb")
        self.via_combo.addItem("C-FIND", "dimse")
        current = self.method_combo.currentData()
        self.method_combo.clear()
        for method in ("cget", "cmove") + (("wado",) if web else ()):
            self.method_combo.addItem(METHOD_NAMES[method], method)
        if current is not None:
            self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(current)))
        self._update_buttons()

    def _update_buttons(self) -> None:
        busy = self.is_retrieving()
        self.search_button.setEnabled(self.node() is not None)
        self.retrieve_button.setEnabled(not busy and self.selected_study() is not None)
        self.cancel_button.setEnabled(busy)
        self.node_combo.setEnabled(not busy)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("QLabel { color: #b00000; }" if error else "")
        if error:
            self.failed.emit(text)

    # ---------------------------------------------------------------------------- search
    def query(self) -> StudyQuery:
        dates = ("", "")
        if self.use_dates.isChecked():
            dates = (self.date_from.date().toString("yyyyMMdd"), self.date_to.date().toString("yyyyMMdd"))
        return StudyQuery(
            patient_name=self.patient_name.text().strip(),
            patient_id=self.patient_id.text().strip(),
            date_from=dates[0],
            date_to=dates[1],
            modality=self.modality.currentText().strip().upper(),
            accession=self.accession.text().strip(),
            description=self.description.text().strip(),
        )

    def search(self) -> Job | None:
        """Search: the matching studies in a worker; a newer search drops an older one's answer."""
        node = self.node()
        if node is None:
            self._say("No PACS node is configured: add one in Edit > Preferences > PACS.", error=True)
            return None
        request = self._search_request = next(_REQUESTS)
        via = self.via_combo.currentData() or "dimse"
        self._say(f"Searching {node.describe()}…")
        job = Job("pacs-find", str(request),
                  lambda _c, r=request, n=node, q=self.query(), v=via: search_studies(r, n, self.config, q, v), self)
        job.item_ready.connect(self._on_studies)
        job.failed.connect(lambda exc, r=request: self._on_search_failed(r, exc))
        return self._search_slot.replace(job)

    def _on_search_failed(self, request: int, exc: object) -> None:
        if request == self._search_request:
            self._say(self._words(exc, "The search failed"), error=True)

    def _on_studies(self, answer: object) -> None:
        assert isinstance(answer, Answer)
        if answer.request != self._search_request:
            return
        self._studies = list(answer.rows)
        self._series = []
        self.series_table.setRowCount(0)
        t = self.study_table
        blocker = QtCore.QSignalBlocker(t)
        t.clearSelection()
        t.setRowCount(len(self._studies))
        for r, s in enumerate(self._studies):
            values = (s.patient_name, s.patient_id, _date(s.study_date), ", ".join(s.modalities), s.accession,
                      s.description, "" if s.n_series is None else str(s.n_series),
                      "" if s.n_instances is None else str(s.n_instances))
            for c, v in enumerate(values):
                t.setItem(r, c, QtWidgets.QTableWidgetItem(v))
        del blocker
        n = len(self._studies)
        self._say({0: "No study found", 1: "1 study found"}.get(n, f"{n} studies found; select one to see its series"))
        if n == 1:
            t.selectRow(0)
        self._update_buttons()
        self.searched.emit(n)

    # ---------------------------------------------------------------------------- series
    def _on_study_selected(self) -> None:
        self._update_buttons()
        study = self.selected_study()
        node = self.node()
        self.series_table.setRowCount(0)
        if study is None or node is None:
            return
        request = self._series_request = next(_REQUESTS)
        via = self.via_combo.currentData() or "dimse"
        job = Job("pacs-series", study.study_uid,
                  lambda _c, r=request, n=node, u=study.study_uid, v=via: search_series(r, n, self.config, u, v), self)
        job.item_ready.connect(self._on_series)
        job.failed.connect(lambda exc, r=request: self._on_series_failed(r, exc))
        self._series_slot.replace(job)

    def _on_series_failed(self, request: int, exc: object) -> None:
        if request == self._series_request:
            self._say(self._words(exc, "The series query failed"), error=True)

    def _on_series(self, answer: object) -> None:
        assert isinstance(answer, Answer)
        study = self.selected_study()
        if answer.request != self._series_request or study is None or answer.key != study.study_uid:
            return
        self._series = sorted(answer.rows, key=lambda s: (s.series_number is None, s.series_number or 0))
        t = self.series_table
        t.setRowCount(len(self._series))
        for r, s in enumerate(self._series):
            values = ("" if s.series_number is None else str(s.series_number), s.modality, s.description,
                      "" if s.n_instances is None else str(s.n_instances))
            for c, v in enumerate(values):
                t.setItem(r, c, QtWidgets.QTableWidgetItem(v))
        self.series_shown.emit(len(self._series))

    # ---------------------------------------------------------------------------- retrieve
    def retrieve(self) -> Job | None:
        """Retrieve the selected study into the cache (worker), with per-image progress; open it when complete."""
        study, node = self.selected_study(), self.node()
        if study is None or node is None or self.is_retrieving():
            return None
        method = self.method_combo.currentData() or "cget"
        self._retrieving = study.study_uid
        self.progress.setRange(0, study.n_instances or 0)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self._say(f"Retrieving by {METHOD_NAMES[method]} from {node.describe()}…")
        job = Job("pacs-retrieve", study.study_uid,
                  lambda cancel, n=node, u=study.study_uid, m=method: retrieve_events(n, self.config, u, m, cancel), self)
        job.item_ready.connect(lambda item, u=study.study_uid: self._on_retrieve_item(u, item))
        job.failed.connect(lambda exc, u=study.study_uid: self._on_retrieve_failed(u, exc))
        self._retrieve_slot.replace(job)
        self._update_buttons()
        return job

    def cancel_retrieve(self) -> None:
        """Cancel: the worker stops at the next image; the partial study is removed, nothing opens."""
        if not self.is_retrieving():
            return
        self._retrieve_slot.cancel()  # from here no item of that job reaches a slot
        self._retrieving = ""
        self.progress.setVisible(False)
        self._say("Retrieve cancelled; nothing was kept or opened.")
        self._update_buttons()
        self.retrieve_ended.emit("cancelled")

    def _on_retrieve_item(self, study_uid: str, item: object) -> None:
        if study_uid != self._retrieving:
            return
        if isinstance(item, RetrieveProgress):
            if item.total:
                self.progress.setMaximum(item.total)
            self.progress.setValue(min(item.done, self.progress.maximum()) if self.progress.maximum() else item.done)
            return
        if isinstance(item, RetrieveDone):
            self._retrieving = ""
            self.progress.setVisible(False)
            how = "from the cache" if item.from_cache else f"in {item.seconds:.1f} s by {METHOD_NAMES[item.method]}"
            self._say(f"Retrieved {item.n_instances} images {how}; opening…")
            self._update_buttons()
            self.retrieve_ended.emit("done")
            self.study_retrieved.emit(str(item.folder), study_uid)

    def _on_retrieve_failed(self, study_uid: str, exc: object) -> None:
        if study_uid != self._retrieving:
            return
        self._retrieving = ""
        self.progress.setVisible(False)
        self._say(self._words(exc, "The retrieve failed"), error=True)
        self._update_buttons()
        self.retrieve_ended.emit("cancelled" if isinstance(exc, RetrieveCancelled) else "failed")

    @staticmethod
    def _words(exc: object, what: str) -> str:
        if isinstance(exc, PacsError):
            return str(exc)
        return f"{what} ({type(exc).__name__}); see the log file (Help > About)."

    # ---------------------------------------------------------------------------- closing
    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Cancel every worker of the dialog and join them (a retrieve discards its partial study)."""
        self._retrieving = ""
        ok = True
        for slot in (self._search_slot, self._series_slot, self._retrieve_slot):
            ok = slot.shutdown(timeout_s) and ok
        return ok

    def done(self, result: int) -> None:
        if self.is_retrieving():
            self.cancel_retrieve()
        for slot in (self._search_slot, self._series_slot):
            slot.cancel()
        super().done(result)


def open_from_pacs(window: Any) -> OpenFromPacsDialog:
    """File > Open from PACS…: the dialog (one at a time, not modal), wired to the window's open_paths."""
    existing = getattr(window, "pacs_dialog", None)
    if existing is not None and existing.isVisible():
        existing.raise_()
        existing.activateWindow()
        return existing
    dialog = OpenFromPacsDialog(window)

    def opened(folder: str, _study_uid: str) -> None:
        window.open_paths([folder])  # the cache folder holds that one study, complete
        dialog.accept()

    dialog.study_retrieved.connect(opened)
    dialog.close_watcher = _CloseWatcher(dialog)  # a child of the dialog: gone (and uninstalled) with it
    window.installEventFilter(dialog.close_watcher)
    window.pacs_dialog = dialog
    dialog.show()
    return dialog


class _CloseWatcher(QtCore.QObject):
    """Closing the main window cancels the dialog's workers (a retrieve discards its partial study)."""

    def __init__(self, dialog: OpenFromPacsDialog) -> None:
        super().__init__(dialog)
        self._dialog = dialog

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        if event.type() == QtCore.QEvent.Type.Close:
            self._dialog.shutdown(2.0)
        return False
