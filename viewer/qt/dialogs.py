"""Dialogs of the main window: About, Shortcuts, Preferences and the skipped-files list."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from viewer import __version__
from viewer.core.scan import SkippedFile
from viewer.report.findings import LABEL_NAMES
from viewer.settings import HEATMAP_LABELS, MOUSE_ACTION_NAMES, MOUSE_ACTIONS, MouseMapping, Settings

MOUSE_HELP = (
    ("Mouse wheel", "next / previous slice (wheel towards you = next)"),
    ("Shift + wheel", "10 slices at a time"),
    ("Ctrl + wheel", "zoom around the cursor"),
    ("Window/level drag", "right = wider window (less contrast), left = narrower; "
     "down = higher level (darker image), up = lower level (brighter)"),
    ("Zoom drag", "up = zoom in, down = zoom out"),
    ("Pan drag", "moves the image with the mouse"),
)


def _typeable(sequence: QtGui.QKeySequence) -> bool:
    """Whether a key sequence is typed on an ordinary keyboard: multimedia keys that some platforms
    bind to standard actions (Refresh, Zoom In, ...) are left out of the list."""
    if sequence.isEmpty():
        return False
    key = sequence[0].key()
    value = int(key.value) if hasattr(key, "value") else int(key)
    return value < int(QtCore.Qt.Key.Key_Back.value)


def shortcuts_html(actions: Sequence[QtGui.QAction], mouse: MouseMapping) -> str:
    """The Help > Shortcuts text: every action with a shortcut, and the mouse mapping."""
    rows = []
    for action in actions:
        keys = [k.toString(QtGui.QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts() if _typeable(k)]
        keys = list(dict.fromkeys(k for k in keys if k))
        if keys:
            rows.append(f"<tr><td><b>{' or '.join(keys)}</b></td><td>{action.text().replace('&', '')}</td></tr>")
    mapping = "".join(
        f"<tr><td><b>{button.capitalize()} button drag</b></td><td>{MOUSE_ACTION_NAMES[getattr(mouse, button)]}</td></tr>"
        for button in ("left", "middle", "right")
    )
    mouse_rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in MOUSE_HELP)
    return (
        "<h3>Keyboard</h3><table cellspacing=4>" + "".join(rows) + "</table>"
        "<h3>Mouse (change in Edit &gt; Preferences)</h3><table cellspacing=4>" + mapping + mouse_rows + "</table>"
        "<p>When a measurement tool is armed, the next left-drag draws it.</p>"
    )


class ShortcutsDialog(QtWidgets.QDialog):
    """Help > Shortcuts: keys and mouse mapping."""

    def __init__(self, html: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard and mouse shortcuts")
        self.text = QtWidgets.QTextBrowser(self)
        self.text.setHtml(html)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(640, 640)


def about_html(log_path: str, settings_path: str) -> str:
    """Help > About text: version, the honest-use statement, where the log and settings live."""
    return (
        f"<h2>ichview {__version__}</h2>"
        "<p>Head CT viewer with an AI assist for intracranial hemorrhage.</p>"
        "<p><b>Research and triage aid only. Not a diagnosis; not clinically validated.</b></p>"
        f"<p>Log file (no patient names or IDs are logged):<br><code>{log_path}</code></p>"
        f"<p>Settings file:<br><code>{settings_path}</code></p>"
        f"<p>Qt {QtCore.qVersion()}</p>"
    )


class SkippedFilesDialog(QtWidgets.QDialog):
    """The files the scan could not use, each with its reason."""

    def __init__(self, skipped: Sequence[SkippedFile], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Skipped files ({len(skipped)})")
        self.table = QtWidgets.QTableWidget(len(skipped), 2, self)
        self.table.setHorizontalHeaderLabels(["File", "Why it was skipped"])
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, item in enumerate(skipped):
            path_item = QtWidgets.QTableWidgetItem(str(item.path))
            path_item.setToolTip(str(item.path))
            reason_item = QtWidgets.QTableWidgetItem(item.reason)
            reason_item.setToolTip(item.reason)
            self.table.setItem(row, 0, path_item)
            self.table.setItem(row, 1, reason_item)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.resizeColumnToContents(0)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        copy = buttons.addButton("Copy list", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(self._copy)
        note = QtWidgets.QLabel(
            "These files were not opened. Nothing in the folder was changed." if skipped else "No files were skipped."
        )
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(900, 400)
        self._skipped = tuple(skipped)

    def reasons(self) -> list[str]:
        """The reasons shown, row by row."""
        return [self.table.item(r, 1).text() for r in range(self.table.rowCount())]

    def _copy(self) -> None:
        QtWidgets.QApplication.clipboard().setText("\n".join(f"{s.path}\t{s.reason}" for s in self._skipped))


class PreferencesDialog(QtWidgets.QDialog):
    """Edit > Preferences: recent files, mouse mapping, cine speed, AI and heatmap defaults (General),
    and the PACS nodes, our AE and the retrieve cache (PACS: `pacs_nodes_page.PacsPage`, saved to the
    PACS settings file when OK is pressed)."""

    clear_recent_requested = QtCore.Signal()

    def __init__(self, settings: Settings, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self._settings = settings
        form = QtWidgets.QFormLayout()

        self.remember_recent = QtWidgets.QCheckBox("Remember recently opened folders and files")
        self.remember_recent.setChecked(settings.remember_recent)
        self.remember_recent.setToolTip("Paths often hold patient names: turn this off to keep no list.")
        clear = QtWidgets.QPushButton("Clear the list now")
        clear.clicked.connect(self.clear_recent_requested)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.remember_recent)
        row.addWidget(clear)
        form.addRow("Recent files:", row)

        self.mouse_combos: dict[str, QtWidgets.QComboBox] = {}
        for button in ("left", "middle", "right"):
            combo = QtWidgets.QComboBox()
            for action in MOUSE_ACTIONS:
                combo.addItem(MOUSE_ACTION_NAMES[action], action)
            combo.setCurrentIndex(MOUSE_ACTIONS.index(getattr(settings.mouse, button)))
            self.mouse_combos[button] = combo
            form.addRow(f"{button.capitalize()} button drag:", combo)

        self.wl_sensitivity = QtWidgets.QDoubleSpinBox()
        self.wl_sensitivity.setRange(0.1, 50.0)
        self.wl_sensitivity.setSingleStep(0.5)
        self.wl_sensitivity.setSuffix(" HU per pixel")
        self.wl_sensitivity.setValue(settings.wl_sensitivity_hu_per_px)
        form.addRow("Window drag speed:", self.wl_sensitivity)

        self.cine_fps = QtWidgets.QDoubleSpinBox()
        self.cine_fps.setRange(1.0, 60.0)
        self.cine_fps.setSuffix(" frames/s")
        self.cine_fps.setValue(settings.cine_fps)
        form.addRow("Cine speed:", self.cine_fps)

        self.auto_run_ai = QtWidgets.QCheckBox("Run the hemorrhage AI when a series opens")
        self.auto_run_ai.setChecked(settings.auto_run_ai)
        form.addRow("AI:", self.auto_run_ai)
        self.second_reader = QtWidgets.QCheckBox("Then run the second reader (BLAST-CT lesion segmentation; slow on a CPU)")
        self.second_reader.setChecked(settings.second_reader)
        form.addRow("Second reader:", self.second_reader)

        self.heatmap_visible = QtWidgets.QCheckBox("Show the heatmap")
        self.heatmap_visible.setChecked(settings.heatmap_visible)
        self.heatmap_opacity = QtWidgets.QDoubleSpinBox()
        self.heatmap_opacity.setRange(0.0, 1.0)
        self.heatmap_opacity.setSingleStep(0.05)
        self.heatmap_opacity.setValue(settings.heatmap_opacity)
        self.heatmap_threshold = QtWidgets.QDoubleSpinBox()
        self.heatmap_threshold.setRange(0.0, 1.0)
        self.heatmap_threshold.setSingleStep(0.05)
        self.heatmap_threshold.setValue(settings.heatmap_threshold)
        self.heatmap_label = QtWidgets.QComboBox()
        for label in HEATMAP_LABELS:  # the same words as the AI toolbar's label box
            self.heatmap_label.addItem(LABEL_NAMES.get(label, label), label)
        self.heatmap_label.setCurrentIndex(max(0, self.heatmap_label.findData(settings.heatmap_label)))
        form.addRow("Heatmap:", self.heatmap_visible)
        form.addRow("Heatmap opacity:", self.heatmap_opacity)
        form.addRow("Heatmap display threshold:", self.heatmap_threshold)
        form.addRow("Heatmap label:", self.heatmap_label)

        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok
            | QtWidgets.QDialogButtonBox.StandardButton.Cancel
            | QtWidgets.QDialogButtonBox.StandardButton.RestoreDefaults,
            self,
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QtWidgets.QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self._defaults)
        from viewer.qt.pacs_nodes_page import PacsPage

        general = QtWidgets.QWidget()
        general.setLayout(form)
        self.pacs_page = PacsPage()
        self.tabs = QtWidgets.QTabWidget(self)
        self.tabs.addTab(general, "General")
        self.tabs.addTab(self.pacs_page, "PACS")
        self.pacs_error = QtWidgets.QLabel("")
        self.pacs_error.setWordWrap(True)
        self.pacs_error.setStyleSheet("QLabel { color: #b00000; }")
        self.pacs_error.setVisible(False)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.pacs_error)
        layout.addWidget(buttons)

    def accept(self) -> None:
        """OK: the PACS settings are written first; when they cannot be, say why and stay open."""
        from viewer.pacs.errors import NodeConfigError

        try:
            self.pacs_page.save()
        except (NodeConfigError, OSError) as exc:
            self.pacs_error.setText(f"The PACS settings were not saved: {exc}")
            self.pacs_error.setVisible(True)
            self.tabs.setCurrentWidget(self.pacs_page)
            return
        super().accept()

    def done(self, result: int) -> None:
        self.pacs_page.shutdown(0.0)  # a Verify still waiting for a node ends in the background
        super().done(result)

    def result_settings(self) -> Settings:
        """The settings as edited (recent paths kept as they were)."""
        mouse = MouseMapping(**{b: c.currentData() for b, c in self.mouse_combos.items()})
        return self._settings.with_changes(
            remember_recent=self.remember_recent.isChecked(),
            mouse=mouse,
            wl_sensitivity_hu_per_px=self.wl_sensitivity.value(),
            cine_fps=self.cine_fps.value(),
            auto_run_ai=self.auto_run_ai.isChecked(),
            second_reader=self.second_reader.isChecked(),
            heatmap_visible=self.heatmap_visible.isChecked(),
            heatmap_opacity=self.heatmap_opacity.value(),
            heatmap_threshold=self.heatmap_threshold.value(),
            heatmap_label=self.heatmap_label.currentData(),
        ).validated()

    def _defaults(self) -> None:
        d = Settings()
        self.remember_recent.setChecked(d.remember_recent)
        for button, combo in self.mouse_combos.items():
            combo.setCurrentIndex(MOUSE_ACTIONS.index(getattr(d.mouse, button)))
        self.wl_sensitivity.setValue(d.wl_sensitivity_hu_per_px)
        self.cine_fps.setValue(d.cine_fps)
        self.auto_run_ai.setChecked(d.auto_run_ai)
        self.second_reader.setChecked(d.second_reader)
        self.heatmap_visible.setChecked(d.heatmap_visible)
        self.heatmap_opacity.setValue(d.heatmap_opacity)
        self.heatmap_threshold.setValue(d.heatmap_threshold)
        self.heatmap_label.setCurrentIndex(max(0, self.heatmap_label.findData(d.heatmap_label)))
