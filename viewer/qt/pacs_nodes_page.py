"""Preferences > PACS: the nodes we talk to, our own AE title and port, and the retrieve cache.

The page edits a copy of the PACS settings file (viewer.pacs.nodes: one JSON file shared with the
command line) and writes it when the Preferences dialog is accepted (`save()`). "Verify" runs a
C-ECHO to the selected node in a worker (`workers.Job`) and shows "ok, N ms" or the error's sentence
in the node's row and below the table; every verify carries a request number, so an answer for a
node since edited or removed is dropped. The cache's size is measured in a worker too, and "Clear
cache" empties it there. The pushed-study listener is not run inside the viewer (`ichview listen`
does that); the page says so.
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from viewer.pacs.cache import StudyCache
from viewer.pacs.errors import NodeConfigError, PacsError
from viewer.pacs.nodes import (
    DEFAULT_TIMEOUT_S,
    LocalAE,
    PacsConfig,
    PacsNode,
    default_cache_dir,
    default_config_path,
    load_config,
    save_config,
)
from viewer.qt.workers import Job, JobSlot

CACHE_STATEMENT = (
    "The cache holds patient data: every study retrieved from a PACS is stored there, in your user "
    "folder, until it is evicted (least recently used first, above the limit) or you clear it."
)
LISTEN_NOTE = (
    "Receiving pushed studies is done by 'ichview listen' (a separate program run as a service), "
    "not inside the viewer."
)
NODE_COLUMNS = ("Name", "AE title", "Host", "Port", "DICOMweb URL", "Verify")
_REQUESTS = itertools.count(1)


def read_config() -> tuple[PacsConfig, str]:
    """The PACS settings and '' — or the defaults and the reason the file could not be used."""
    try:
        return load_config(), ""
    except NodeConfigError as exc:
        return PacsConfig(), str(exc)


def study_cache(config: PacsConfig) -> StudyCache:
    """The retrieve cache the settings name (their folder, or the per-user default)."""
    root = Path(config.cache_folder) if config.cache_folder else default_cache_dir()
    return StudyCache(root, config.cache_limit_mb * 1_000_000)


def format_bytes(n: int) -> str:
    if n < 1_000_000:
        return f"{n / 1000:.0f} kB"
    if n < 1_000_000_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1_000_000_000:.2f} GB"


@dataclass(frozen=True)
class VerifyOutcome:
    """The answer to one Verify: `request` says which click it answers."""

    request: int
    node: str
    ok: bool
    text: str  # "ok, 12 ms" or the error's sentence


def verify_node(request: int, node: PacsNode, local: LocalAE) -> Iterator[VerifyOutcome]:
    """Worker side: one C-ECHO; a PacsError becomes an outcome (its sentence), not a failure."""
    from viewer.pacs.echo import echo

    try:
        result = echo(node, local)
    except PacsError as exc:
        yield VerifyOutcome(request, node.name, False, str(exc))
        return
    yield VerifyOutcome(request, node.name, True, f"ok, {result.seconds * 1000:.0f} ms round trip")


def measure_cache(cache: StudyCache, clear: bool, cancel: threading.Event) -> Iterator[tuple[bool, int, int]]:
    """Worker side: (cleared, bytes freed, bytes now in the cache)."""
    freed = cache.clear() if clear else 0
    yield clear, freed, cache.size_bytes()


class NodeDialog(QtWidgets.QDialog):
    """Add or edit one node; OK checks every field (the node's own checks) and says what is wrong."""

    def __init__(self, node: PacsNode | None, taken: set[str], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit PACS node" if node else "Add PACS node")
        self._taken = taken
        self._timeout = node.timeout_s if node else DEFAULT_TIMEOUT_S
        self.node: PacsNode | None = None
        self.name = QtWidgets.QLineEdit(node.name if node else "")
        self.ae_title = QtWidgets.QLineEdit(node.ae_title if node else "")
        self.ae_title.setMaxLength(16)
        self.host = QtWidgets.QLineEdit(node.host if node else "")
        self.port = QtWidgets.QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(node.port if node else 104)
        self.dicomweb_url = QtWidgets.QLineEdit(node.dicomweb_url if node else "")
        self.dicomweb_url.setPlaceholderText("optional, e.g. http://pacs:8042/dicom-web")
        self.timeout = QtWidgets.QDoubleSpinBox()
        self.timeout.setRange(1.0, 600.0)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(self._timeout)
        form = QtWidgets.QFormLayout()
        form.addRow("Name:", self.name)
        form.addRow("AE title:", self.ae_title)
        form.addRow("Host:", self.host)
        form.addRow("Port:", self.port)
        form.addRow("DICOMweb URL:", self.dicomweb_url)
        form.addRow("Timeout:", self.timeout)
        self.error = QtWidgets.QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("QLabel { color: #b00000; }")
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def accept(self) -> None:
        name = self.name.text().strip()
        if name in self._taken:
            self.error.setText(f"A node named {name!r} exists already; names must be unique.")
            return
        try:
            self.node = PacsNode(
                name, self.ae_title.text(), self.host.text().strip(), self.port.value(),
                dicomweb_url=self.dicomweb_url.text().strip(), timeout_s=self.timeout.value(),
            )
        except NodeConfigError as exc:
            self.error.setText(str(exc))
            return
        super().accept()


class PacsPage(QtWidgets.QWidget):
    """The PACS page of Preferences (see the module docstring)."""

    verified = QtCore.Signal(object)  # VerifyOutcome shown
    cache_measured = QtCore.Signal(int)  # bytes in the cache

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.config, problem = read_config()
        self._nodes: list[PacsNode] = list(self.config.nodes)
        self._verify: dict[str, str] = {}  # node name -> last verify text
        self._pending: dict[int, str] = {}  # verify request -> node name
        self._verify_slot = JobSlot(self)
        self._cache_slot = JobSlot(self)
        self.node_dialog: NodeDialog | None = None

        # --- nodes
        self.table = QtWidgets.QTableWidget(0, len(NODE_COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(NODE_COLUMNS))
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _item: self.edit_node())
        self.add_button = QtWidgets.QPushButton("Add…")
        self.edit_button = QtWidgets.QPushButton("Edit…")
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.verify_button = QtWidgets.QPushButton("Verify")
        self.verify_button.setToolTip("C-ECHO: is the node there, and does it accept our AE title?")
        self.add_button.clicked.connect(lambda: self.add_node())
        self.edit_button.clicked.connect(lambda: self.edit_node())
        self.remove_button.clicked.connect(self.remove_node)
        self.verify_button.clicked.connect(lambda: self.verify())
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.add_button, self.edit_button, self.remove_button, self.verify_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.verify_label = QtWidgets.QLabel("")
        self.verify_label.setWordWrap(True)
        self.verify_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        nodes_box = QtWidgets.QGroupBox("PACS nodes")
        nb = QtWidgets.QVBoxLayout(nodes_box)
        nb.addWidget(self.table)
        nb.addLayout(buttons)
        nb.addWidget(self.verify_label)

        # --- our own AE
        self.ae_title = QtWidgets.QLineEdit(self.config.local.ae_title)
        self.ae_title.setMaxLength(16)
        self.ae_title.setToolTip("The AE title we call with; the PACS must know it (with our host and port for C-MOVE)")
        self.port = QtWidgets.QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(self.config.local.port)
        self.port.setToolTip("Where C-MOVE sends the images to us (our storage port)")
        local_box = QtWidgets.QGroupBox("This viewer")
        lf = QtWidgets.QFormLayout(local_box)
        lf.addRow("Our AE title:", self.ae_title)
        lf.addRow("Our port (C-MOVE destination):", self.port)
        listen = QtWidgets.QLabel(LISTEN_NOTE)
        listen.setWordWrap(True)
        lf.addRow("Pushed studies:", listen)

        # --- cache
        self.cache_folder = QtWidgets.QLineEdit(self.config.cache_folder)
        self.cache_folder.setPlaceholderText(str(default_cache_dir()))
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse_cache)
        folder_row = QtWidgets.QHBoxLayout()
        folder_row.addWidget(self.cache_folder, 1)
        folder_row.addWidget(browse)
        self.cache_limit = QtWidgets.QSpinBox()
        self.cache_limit.setRange(1, 10_000_000)
        self.cache_limit.setSuffix(" MB")
        self.cache_limit.setValue(self.config.cache_limit_mb)
        self.cache_size = QtWidgets.QLabel("measuring…")
        self.clear_button = QtWidgets.QPushButton("Clear cache")
        self.clear_button.setToolTip("Delete every retrieved study from this computer's cache")
        self.clear_button.clicked.connect(lambda: self.clear_cache())
        size_row = QtWidgets.QHBoxLayout()
        size_row.addWidget(self.cache_size, 1)
        size_row.addWidget(self.clear_button)
        statement = QtWidgets.QLabel(CACHE_STATEMENT)
        statement.setWordWrap(True)
        statement.setStyleSheet("QLabel { color: #8a5a00; }")
        cache_box = QtWidgets.QGroupBox("Retrieve cache")
        cf = QtWidgets.QFormLayout(cache_box)
        cf.addRow("Folder:", folder_row)
        cf.addRow("Size limit:", self.cache_limit)
        cf.addRow("In the cache now:", size_row)
        cf.addRow(statement)

        self.problem_label = QtWidgets.QLabel(
            f"The PACS settings file could not be read and is shown with the defaults: {problem}" if problem else ""
        )
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("QLabel { color: #b00000; }")
        self.problem_label.setVisible(bool(problem))
        where = QtWidgets.QLabel(f"Stored in {default_config_path()} (shared with the command line).")
        where.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.problem_label)
        layout.addWidget(nodes_box, 1)
        layout.addWidget(local_box)
        layout.addWidget(cache_box)
        layout.addWidget(where)
        self._fill_table()
        self.measure_cache()

    # ---------------------------------------------------------------------------- nodes
    @property
    def nodes(self) -> tuple[PacsNode, ...]:
        return tuple(self._nodes)

    def selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else (0 if len(self._nodes) == 1 else -1)

    def add_node(self) -> NodeDialog:
        """Add…: the node dialog (not blocking); OK adds the node and selects it."""
        d = NodeDialog(None, {n.name for n in self._nodes}, self)
        d.accepted.connect(lambda: self._put_node(-1, d.node))
        self.node_dialog = d
        d.open()
        return d

    def edit_node(self) -> NodeDialog | None:
        row = self.selected_row()
        if row < 0:
            return None
        old = self._nodes[row]
        d = NodeDialog(old, {n.name for n in self._nodes} - {old.name}, self)
        d.accepted.connect(lambda: self._put_node(row, d.node))
        self.node_dialog = d
        d.open()
        return d

    def remove_node(self) -> None:
        row = self.selected_row()
        if row >= 0:
            name = self._nodes.pop(row).name
            self._verify.pop(name, None)
            self._fill_table()

    def _put_node(self, row: int, node: PacsNode | None) -> None:
        if node is None:
            return
        if row < 0:
            self._nodes.append(node)
            row = len(self._nodes) - 1
        else:
            self._verify.pop(self._nodes[row].name, None)
            self._nodes[row] = node
        self._verify.pop(node.name, None)
        self._fill_table()
        self.table.selectRow(row)

    def _fill_table(self) -> None:
        self.table.setRowCount(len(self._nodes))
        for r, n in enumerate(self._nodes):
            values = (n.name, n.ae_title, n.host, str(n.port), n.dicomweb_url, self._verify.get(n.name, ""))
            for c, value in enumerate(values):
                item = QtWidgets.QTableWidgetItem(value)
                item.setToolTip(value)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.selected_row() >= 0
        for b in (self.edit_button, self.remove_button, self.verify_button):
            b.setEnabled(has)

    # ---------------------------------------------------------------------------- verify
    def local_ae(self) -> LocalAE:
        """Our identity as edited (NodeConfigError when the AE title is not valid)."""
        return LocalAE(self.ae_title.text(), self.port.value(), self.config.local.host)

    def verify(self, row: int | None = None) -> Job | None:
        """Verify: a C-ECHO to the node in a worker; the answer lands in its row and below."""
        row = self.selected_row() if row is None else row
        if not 0 <= row < len(self._nodes):
            return None
        node = self._nodes[row]
        try:
            local = self.local_ae()
        except NodeConfigError as exc:
            self._show_verify(VerifyOutcome(0, node.name, False, str(exc)))
            return None
        request = next(_REQUESTS)
        self._pending = {request: node.name}
        self._verify[node.name] = "verifying…"
        self.verify_label.setText(f"Verifying {node.describe()}…")
        self._fill_table()
        self.table.selectRow(row)
        job = Job("pacs-verify", node.name, lambda _c, r=request, n=node, lo=local: verify_node(r, n, lo), self)
        job.item_ready.connect(self._on_verified)
        job.failed.connect(lambda exc, r=request, n=node.name: self._on_verified(VerifyOutcome(r, n, False, str(exc))))
        return self._verify_slot.replace(job)

    def _on_verified(self, outcome: object) -> None:
        assert isinstance(outcome, VerifyOutcome)
        if self._pending.get(outcome.request) != outcome.node or outcome.node not in {n.name for n in self._nodes}:
            return  # a late answer (another Verify since, or the node was edited or removed)
        self._pending.pop(outcome.request, None)
        self._show_verify(outcome)

    def _show_verify(self, outcome: VerifyOutcome) -> None:
        self._verify[outcome.node] = outcome.text
        self.verify_label.setText(f"{outcome.node}: {outcome.text}")
        self.verify_label.setStyleSheet("QLabel { color: %s; }" % ("#007000" if outcome.ok else "#b00000"))
        selected = self.selected_row()
        self._fill_table()
        if selected >= 0:
            self.table.selectRow(selected)
        self.verified.emit(outcome)

    # ---------------------------------------------------------------------------- cache
    def _cache(self) -> StudyCache:
        folder = self.cache_folder.text().strip()
        return StudyCache(Path(folder) if folder else default_cache_dir(), self.cache_limit.value() * 1_000_000)

    def _browse_cache(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "PACS cache folder", self.cache_folder.text() or str(Path.home()))
        if folder:
            self.cache_folder.setText(folder)
            self.measure_cache()

    def measure_cache(self, *, clear: bool = False) -> Job:
        """Measure (or clear, then measure) the cache in a worker."""
        cache = self._cache()
        self.cache_size.setText("clearing…" if clear else "measuring…")
        job = Job("pacs-cache", str(cache.root), lambda cancel, c=cache, x=clear: measure_cache(c, x, cancel), self)
        job.item_ready.connect(lambda item, c=cache: self._on_cache(c, item))
        job.failed.connect(lambda exc: self.cache_size.setText(f"cannot read the cache: {exc}"))
        return self._cache_slot.replace(job)

    def clear_cache(self, *, confirm: bool = True) -> Job | None:
        """Clear cache: asks first (patient images are deleted from this computer)."""
        if confirm:
            answer = QtWidgets.QMessageBox.question(
                self, "Clear the PACS cache",
                "Delete every study retrieved from a PACS from this computer's cache?\n"
                "They stay on the PACS and can be retrieved again.",
            )
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                return None
        return self.measure_cache(clear=True)

    def _on_cache(self, cache: StudyCache, item: object) -> None:
        cleared, freed, size = item  # type: ignore[misc]
        limit = self.cache_limit.value() * 1_000_000
        text = f"{format_bytes(size)} of {format_bytes(limit)} ({cache.root})"
        if cleared:
            text = f"cleared ({format_bytes(freed)} freed); " + text
        self.cache_size.setText(text)
        self.cache_measured.emit(size)

    # ---------------------------------------------------------------------------- result
    def result_config(self) -> PacsConfig:
        """The settings as edited (NodeConfigError naming what is wrong)."""
        config = replace(
            self.config,
            local=self.local_ae(),
            nodes=tuple(self._nodes),
            cache_folder=self.cache_folder.text().strip(),
            cache_limit_mb=self.cache_limit.value(),
        )
        if config.listen.send_to and config.listen.send_to not in {n.name for n in self._nodes}:
            config = replace(config, listen=replace(config.listen, send_to=""))
        return config

    def save(self) -> Path:
        """Write the settings file (NodeConfigError or OSError when it cannot be)."""
        path = save_config(self.result_config())
        self.config = load_config(path)
        return path

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Cancel and join the page's workers."""
        ok = self._verify_slot.shutdown(timeout_s)
        return self._cache_slot.shutdown(timeout_s) and ok
