"""AI > Send findings to PACS…: the study on screen's AI findings as a DICOM SR and key images,
C-STOREd to a chosen node, in a worker; progress and the result in the status bar.

The findings are the AI assist's (`AiAssist.study_findings()`: the finished series of the study on
screen). The worker builds the SR and key images (viewer.report.sr, as `ichview analyze --sr` does,
from the headers of the analysed slices), writes them into a temporary folder (removed after) and
sends them in one association (viewer.pacs.send). Every item carries the StudyInstanceUID it is
about; a new send replaces (cancels) a running one. Nothing names the patient in the status bar.
"""
from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from viewer.core.errors import IchviewError
from viewer.pacs.nodes import LocalAE, PacsConfig, PacsNode
from viewer.qt.pacs_nodes_page import read_config
from viewer.qt.workers import Job, JobSlot
from viewer.report.findings import StudyFindings


@dataclass(frozen=True)
class SendState:
    """Where a send is: `stage` "building", "sending" or "sent"."""

    study_uid: str
    node: str
    stage: str
    done: int = 0
    total: int = 0


def source_paths(study: StudyFindings, paths_by_uid: Mapping[str, str | Path]) -> list[Path]:
    """The files of the analysed slices (IchviewError when some are not in the opened study)."""
    uids = [uid for s in study.stacks for uid in s.sop_instance_uids]
    missing = [u for u in uids if u not in paths_by_uid]
    if missing:
        raise IchviewError(f"{len(missing)} analysed slices have no file to reference in the SR; reopen the study")
    return sorted({Path(paths_by_uid[u]) for u in uids})


def build_and_send(study: StudyFindings, study_uid: str, sources: list[Path], node: PacsNode, local: LocalAE,
                   cancel: threading.Event) -> Iterator[SendState]:
    """Worker side: build the SR and key images, write them to a temporary folder, C-STORE them."""
    from viewer.pacs.send import send_files
    from viewer.report.sr import build_dicom_results, read_sources, result_file_name

    yield SendState(study_uid, node.name, "building")
    results = build_dicom_results(study, read_sources(sources))
    with tempfile.TemporaryDirectory(prefix="ichview-sr-") as tmp:
        files = []
        for ds in results.datasets():
            target = Path(tmp) / result_file_name(ds)
            ds.save_as(target, enforce_file_format=True)
            files.append(target)
        total = len(files)
        yield SendState(study_uid, node.name, "sending", 0, total)
        for progress in send_files(node, local, files, cancel=cancel):
            yield SendState(study_uid, node.name, "sending", progress.done, total)
    yield SendState(study_uid, node.name, "sent", total, total)


class SendFindingsDialog(QtWidgets.QDialog):
    """Choose the node; Send starts the worker (through `send_requested(node_name)`)."""

    send_requested = QtCore.Signal(str)

    def __init__(self, config: PacsConfig, summary: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send findings to PACS")
        self.node_combo = QtWidgets.QComboBox()
        for n in config.nodes:
            self.node_combo.addItem(n.describe(), n.name)
        text = QtWidgets.QLabel(summary)
        text.setWordWrap(True)
        form = QtWidgets.QFormLayout()
        form.addRow("Send to:", self.node_combo)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Cancel, self)
        self.send_button = buttons.addButton("Send", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.send_button.setEnabled(bool(config.nodes))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.accepted.connect(lambda: self.send_requested.emit(self.node_combo.currentData() or ""))
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(text)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(520, 180)


class PacsSender(QtCore.QObject):
    """The window's sender: one send at a time; `sent(str node, int n_files)` or `send_failed(str)`."""

    sent = QtCore.Signal(str, int)
    send_failed = QtCore.Signal(str)

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self._slot = JobSlot(self)
        self.dialog: SendFindingsDialog | None = None
        window.installEventFilter(self)

    def _status(self, text: str, ms: int = 0) -> None:
        self.window.statusBar().showMessage(text, ms)

    def start(self) -> SendFindingsDialog | None:
        """AI > Send findings to PACS…: check there is something to send and somewhere to send it, then ask where."""
        assist = getattr(self.window, "ai_assist", None)
        study = assist.study_findings() if assist is not None else None
        if study is None or not study.stacks:
            self._status("Nothing to send: the AI has not finished a series of the study on screen", 6000)
            return None
        config, problem = read_config()
        if problem or not config.nodes:
            self.window.report_error(IchviewError(
                problem or "No PACS node is configured: add one in Edit > Preferences > PACS, then send again."
            ), context="send findings")
            return None
        n = len(study.stacks)
        summary = (
            f"The AI findings of {n} analysed series of the study on screen go to the node as a DICOM "
            "Structured Report and key images, in new series of the same study. They are marked as a "
            "research aid, not a diagnosis."
        )
        dialog = SendFindingsDialog(config, summary, self.window)
        dialog.send_requested.connect(lambda name, s=study, c=config: self.send(s, c.node(name), c.local))
        self.dialog = dialog
        dialog.open()
        return dialog

    def send(self, study: StudyFindings, node: PacsNode, local: LocalAE) -> Job | None:
        """Build and send in a worker (a send already running is cancelled)."""
        tree = getattr(self.window, "tree", None)
        paths = {h.sop_instance_uid: h.path for st in tree.stacks() for h in st.slices} if tree is not None else {}
        try:
            sources = source_paths(study, paths)
        except IchviewError as exc:
            self.window.report_error(exc, context="send findings")
            return None
        study_uid = study.studies[0].study_uid if study.studies else ""
        job = Job("pacs-send", study_uid,
                  lambda cancel, s=study, u=study_uid, p=sources: build_and_send(s, u, p, node, local, cancel), self)
        job.item_ready.connect(self._on_state)
        job.failed.connect(self._on_failed)
        self._status(f"Sending findings to {node.name}…")
        return self._slot.replace(job)

    def _on_state(self, state: object) -> None:
        assert isinstance(state, SendState)
        if state.stage == "building":
            self._status(f"Sending findings to {state.node}: building the SR and key images…")
        elif state.stage == "sending":
            self._status(f"Sending findings to {state.node}: {state.done} / {state.total} files…")
        else:
            self._status(f"Sent the AI findings to {state.node}: {state.total} DICOM files (SR and key images)", 15000)
            self.sent.emit(state.node, state.total)

    def _on_failed(self, exc: object) -> None:
        self.window.statusBar().clearMessage()
        if isinstance(exc, BaseException):
            self.window.report_error(exc, context="send findings")
            self._status(f"Sending the findings failed: {str(exc).splitlines()[0] if isinstance(exc, IchviewError) else type(exc).__name__}", 15000)
        self.send_failed.emit(str(exc))

    def is_busy(self) -> bool:
        return self._slot.is_busy()

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        return self._slot.shutdown(timeout_s)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        if watched is self.window and event.type() == QtCore.QEvent.Type.Close:
            self.shutdown(2.0)
        return False


def send_findings(window: Any) -> SendFindingsDialog | None:
    """The window's sender (made once), started."""
    sender = getattr(window, "pacs_sender", None)
    if sender is None:
        sender = window.pacs_sender = PacsSender(window)
    return sender.start()
