"""The main window: opening studies, the series browser, the image, menus, toolbar and status bar.

Public pieces other features build on (the AI integration among them):
- `slice_view` (SliceView): `view_box` for overlay items in mm scene coordinates (z:
  `slice_view.HEATMAP_Z` for heatmaps, 20+ measurements, the screen-fixed text overlay at 1000),
  `image_item`, `volume`, `index`, `window`; signals `index_changed(int)`, `volume_changed(object)`,
  `window_changed(float, float)`, `inverted_changed(bool)`, `zoom_changed(float)`.
- Signals of the window: `study_opened(StudyTree)`, `stack_changed(str)` (a stack became current,
  maybe still loading), `first_slice_shown(str, int)` (its first decoded slice is on screen),
  `volume_loaded(Volume)` (the current stack's Volume is shown, fully decoded), `load_failed(str)`,
  `error_reported(str)`.
- `add_dock(title, widget, area)` adds a dock with a View > Panels entry; `add_action(menu_name,
  action, toolbar=False)` puts an action in a menu (and the toolbar; `toolbar` is the QToolBar);
  `start_job(kind, job)` runs a `workers.Job` in a slot of that kind (a new job of a kind cancels
  the previous one; switching stacks cancels every kind but "scan"); `shutdown_jobs()` joins them;
  `report_error(exc)` is the one error handler (message box + log, never a traceback).
- `show_stack(stack_id)`, `reload_series()`, `open_paths(paths)`, `current_volume`,
  `current_stack_id`, `tree`, `settings` (viewer.settings.Settings), `shortcut_actions()`.
- `mpr` (mpr_view.MprController): the layout (1 view / 1+2 / 2x2, Alt+1/2/3), the coronal and
  sagittal planes and the linked crosshair; `views_area` holds the views.
- `view_image(options)`, `export_view(path, options)`, `copy_view()`: what is seen, as PNG or on the
  clipboard (view_export; corner text off by default); `open_worklist(folder)`: a triage worklist
  (worklist_view); `series_window(stack_id)`: the window a series is shown in.

This module holds the layout (image, slider, docks, status bar), the extension points, errors,
settings, cine, windowing, dialogs and drag and drop; `main_loading` opens studies and loads stacks,
`main_actions` builds the actions, menus and toolbar (both mixed into `MainWindow`).
"""
from __future__ import annotations

import traceback
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from viewer.app_logging import get_logger, log_file_path
from viewer.core.errors import IchviewError
from viewer.core.series import Stack, StudyTree
from viewer.core.volume import Volume
from viewer.core.warnings import StackWarning
from viewer.core.windowing import PRESETS
from viewer.qt import dialogs
from viewer.qt.main_actions import CUSTOM_ITEM, HEADER_ITEM, MainActionsMixin
from viewer.qt.main_loading import OPEN_HINT, THUMBNAILS_JOB, StudyLoadingMixin
from viewer.qt.mpr_view import MprController
from viewer.qt.view_export import ExportViewDialog, ViewExportOptions, render_views, save_png
from viewer.qt.series_browser import WARNING_WORDS, SeriesBrowser
from viewer.qt.settings_store import load_settings, save_settings, settings_file_path
from viewer.qt.slice_view import DEFAULT_WINDOW, SliceView
from viewer.qt.workers import Job, JobSlot
from viewer.settings import Settings

_log = get_logger("main_window")


def default_window_size() -> tuple[int, int]:
    """1400 x 900, or less on a smaller screen (a 1366 x 768 laptop gets its whole work area)."""
    screen = QtGui.QGuiApplication.primaryScreen()
    if screen is None:
        return 1400, 900
    area = screen.availableGeometry()
    return min(1400, max(800, area.width())), min(900, max(600, area.height()))


class MainWindow(StudyLoadingMixin, MainActionsMixin, QtWidgets.QMainWindow):
    """ichview's main window (loading in `StudyLoadingMixin`, actions and menus in `MainActionsMixin`)."""

    study_opened = QtCore.Signal(object)  # StudyTree
    stack_changed = QtCore.Signal(str)  # stack id made current
    volume_loaded = QtCore.Signal(object)  # Volume shown, fully decoded
    first_slice_shown = QtCore.Signal(str, int)  # stack id, slice index: the preview while loading
    load_failed = QtCore.Signal(str)
    error_reported = QtCore.Signal(str)

    def __init__(self, settings: Settings | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("ichview")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else load_settings()
        self.tree: StudyTree | None = None
        self._stacks: dict[str, Stack] = {}
        self._cache: OrderedDict[str, Volume] = OrderedDict()
        self._last_index: dict[str, int] = {}
        self._current_stack_id = ""
        self._first_index: dict[str, int] = {}
        self._thumbnailed: set[str] = set()
        self._series_windows: dict[str, tuple[float, float]] = {}  # the user's last window per series
        self._jobs: dict[str, JobSlot] = {}
        self._dialogs: list[QtWidgets.QWidget] = []
        self.last_error_text = ""
        self._view_export_options = ViewExportOptions()
        self.worklist_panel = None
        self.worklist_dock: QtWidgets.QDockWidget | None = None
        self._pending_study_uid = ""
        self.last_notice = ""
        self._last_view_export_dir = ""
        self.skipped_dialog: dialogs.SkippedFilesDialog | None = None

        # --- central: the image and a vertical slice slider
        self.slice_view = SliceView(self)
        self.slice_view.empty_text = OPEN_HINT
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Vertical, self)
        self.slider.setAccessibleName("Slice slider")
        self.slider.setToolTip("Slice (bottom = first)")
        self.slider.setEnabled(False)
        # A click on the slider (or the series list, or the AI strip) leaves the keyboard with the
        # image: Up/Down/Home/End keep moving slices. The series list is reached by Ctrl+2 or Tab.
        self.slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.slider.valueChanged.connect(self.slice_view.set_index)
        central = QtWidgets.QWidget(self)
        row = QtWidgets.QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.views_area = QtWidgets.QWidget(central)
        views_grid = QtWidgets.QGridLayout(self.views_area)
        views_grid.setContentsMargins(0, 0, 0, 0)
        views_grid.setSpacing(2)
        row.addWidget(self.views_area, 1)
        row.addWidget(self.slider)
        self.setCentralWidget(central)
        self.slice_view.setParent(self.views_area)
        self.mpr = MprController(self, views_grid)
        self.slice_view.graphics.setAcceptDrops(False)
        self.slice_view.graphics.viewport().setAcceptDrops(False)

        # --- docks
        self._docks_menu_actions: list[QtGui.QAction] = []
        self.series_browser = SeriesBrowser(self)
        self.series_browser.stack_selected.connect(self.show_stack)
        self.series_browser.tree.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
        self.series_dock = self.add_dock("Series", self.series_browser, QtCore.Qt.DockWidgetArea.LeftDockWidgetArea)
        self.measurements = None
        self.tag_browser = None
        self.tag_dock: QtWidgets.QDockWidget | None = None
        self._make_optional_widgets()

        # --- status bar
        self.progress = QtWidgets.QProgressBar(self)
        self.progress.setMaximumWidth(220)
        self.progress.setVisible(False)
        self.cancel_button = QtWidgets.QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop loading")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_loading)
        self.skipped_button = QtWidgets.QPushButton("", self)
        self.skipped_button.setFlat(True)
        self.skipped_button.setVisible(False)
        self.skipped_button.clicked.connect(self.show_skipped)
        self.warning_label = QtWidgets.QLabel("", self)
        self.warning_label.setStyleSheet("QLabel { color: #b07000; font-weight: bold; }")
        self.warning_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.warning_label.linkActivated.connect(lambda _link: self.show_warnings())
        self._warning_messages: list[str] = []
        self.cursor_label = QtWidgets.QLabel("", self)
        self.cursor_label.setMinimumWidth(180)
        sb = self.statusBar()
        sb.addWidget(self.warning_label, 1)
        sb.addPermanentWidget(self.cursor_label)
        sb.addPermanentWidget(self.skipped_button)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        self.slice_view.cursor_info_changed.connect(self.cursor_label.setText)

        # --- cine
        self.study_opened.connect(self._select_pending_study)
        self.cine_timer = QtCore.QTimer(self)
        self.cine_timer.timeout.connect(self._cine_step)

        self._build_actions()
        self._build_menus_and_toolbar()
        self.slice_view.index_changed.connect(self._on_index_changed)
        self.slice_view.window_changed.connect(self._on_window_changed)
        self.slice_view.inverted_changed.connect(self.invert_action.setChecked)
        self.apply_settings(self.settings)
        self.resize(*default_window_size())
        self.resizeDocks([self.series_dock], [340], QtCore.Qt.Orientation.Horizontal)
        self._arranged = False
        self.slice_view.setFocus()

    @property
    def current_volume(self) -> Volume | None:
        return self.slice_view.volume

    @property
    def current_stack_id(self) -> str:
        return self._current_stack_id

    # ===================================================================== public: extension
    def add_dock(
        self,
        title: str,
        widget: QtWidgets.QWidget,
        area: QtCore.Qt.DockWidgetArea = QtCore.Qt.DockWidgetArea.RightDockWidgetArea,
    ) -> QtWidgets.QDockWidget:
        """Add a dock holding `widget`; its toggle goes to View > Panels."""
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower().replace(' ', '_')}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        action = dock.toggleViewAction()
        self._docks_menu_actions.append(action)
        if hasattr(self, "panels_menu"):
            self.panels_menu.addAction(action)
        return dock

    def add_action(self, menu_name: str, action: QtGui.QAction, *, toolbar: bool = False) -> None:
        """Put an action into a menu ("File", "View", "Window", "Tools", "Help"; others are created)."""
        menu = self._menus.get(menu_name)
        if menu is None:
            menu = self.menuBar().addMenu(menu_name)
            self._menus[menu_name] = menu
        menu.addAction(action)
        self.addAction(action)
        if toolbar:
            self.toolbar.addAction(action)

    def start_job(self, kind: str, job: Job) -> Job:
        """Run a worker job; a previous job of the same kind is cancelled first."""
        slot = self._jobs.get(kind)
        if slot is None:
            slot = self._jobs[kind] = JobSlot(self)
        return slot.replace(job)

    def job(self, kind: str) -> Job | None:
        """The current job of a kind (None when none)."""
        slot = self._jobs.get(kind)
        return slot.job if slot is not None else None

    def cancel_all(self) -> None:
        """Cancel every job."""
        for slot in self._jobs.values():
            slot.cancel()

    def shutdown_jobs(self, timeout_s: float = 10.0) -> bool:
        """Cancel every job and join its thread (closing, tests)."""
        ok = True
        for slot in self._jobs.values():
            ok = slot.shutdown(timeout_s) and ok
        return ok

    def is_loading(self) -> bool:
        """Whether a scan or a load (not a background thumbnail) is running."""
        return any(slot.is_busy() for kind, slot in self._jobs.items() if kind != THUMBNAILS_JOB)

    # ===================================================================== public: errors
    def report_error(self, exc: BaseException, *, context: str = "") -> None:
        """The one place errors reach the user: an actionable message, details in the log."""
        if isinstance(exc, IchviewError):
            text = str(exc)
            _log.warning("%s: %s", context or "error", type(exc).__name__)
        else:
            text = (
                f"Something went wrong ({type(exc).__name__}). The study was not changed.\n"
                f"Try again; if it keeps happening, send the log file to support:\n{log_file_path()}"
            )
            _log.error(
                "%s: unexpected %s\n%s",
                context or "error",
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
        self.last_error_text = text
        self.statusBar().showMessage(text.splitlines()[0], 10000)
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "ichview", text, parent=self)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()
        self.error_reported.emit(text)

    # ===================================================================== public: settings
    def apply_settings(self, settings: Settings) -> None:
        """Use new settings (mouse mapping, cine speed, corner text, recent list)."""
        self.settings = settings.validated()
        sv = self.slice_view
        sv.mouse_mapping = self.settings.mouse
        sv.wl_sensitivity_hu_per_px = self.settings.wl_sensitivity_hu_per_px
        sv.set_corner_text_visible(self.settings.show_corner_text)
        self.mpr.set_corner_text_visible(self.settings.show_corner_text)
        self.mpr.apply_mouse(self.settings.mouse, self.settings.wl_sensitivity_hu_per_px)
        self.corner_text_action.setChecked(self.settings.show_corner_text)
        self.fps_spin.setValue(self.settings.cine_fps)
        if self.cine_timer.isActive():
            self.cine_timer.setInterval(int(1000 / self.settings.cine_fps))
        self._rebuild_recent_menu()

    def clear_recent(self) -> None:
        """Forget the recent files."""
        self.settings = self.settings.cleared_recent()
        self._save_settings()
        self._rebuild_recent_menu()

    # ===================================================================== cine
    def toggle_cine(self) -> None:
        """Play / pause (Space)."""
        if self.cine_timer.isActive():
            self.stop_cine()
        elif self.slice_view.volume is not None:
            self.cine_timer.start(int(1000 / max(self.fps_spin.value(), 1.0)))
            self.cine_action.setChecked(True)

    def stop_cine(self) -> None:
        self.cine_timer.stop()
        self.cine_action.setChecked(False)

    def _cine_step(self) -> None:
        v = self.slice_view.volume
        if v is None:
            self.stop_cine()
            return
        nxt = self.slice_view.index + 1
        self.slice_view.set_index(0 if nxt >= v.n_slices else nxt)

    def _on_fps_changed(self, fps: float) -> None:
        if self.cine_timer.isActive():
            self.cine_timer.setInterval(int(1000 / max(fps, 1.0)))
        if fps != self.settings.cine_fps:
            self.settings = self.settings.with_changes(cine_fps=float(fps))

    # ===================================================================== windowing
    def apply_preset(self, number: int) -> None:
        """Keys 1–5: the core's presets in order."""
        preset = PRESETS[number - 1]
        self.slice_view.set_window(preset.width_hu, preset.center_hu)

    def apply_header_window(self) -> None:
        """Key 0: the window stored in the series' header."""
        v = self.slice_view.volume
        if v is None or v.window_width_hu is None or v.window_center_hu is None:
            self.statusBar().showMessage("This series stores no window in its header", 5000)
            return
        self.slice_view.set_window(v.window_width_hu, v.window_center_hu)

    def reset_view(self) -> None:
        """R: fit, the series' default window, not inverted."""
        self._series_windows.pop(self._current_stack_id, None)
        self.slice_view.set_window(*(self.default_window(self._current_stack_id) if self._current_stack_id else DEFAULT_WINDOW))
        self.slice_view.set_inverted(False)
        self.slice_view.fit()

    def _on_window_changed(self, width_hu: float, center_hu: float) -> None:
        if self._current_stack_id:
            if (width_hu, center_hu) == self.default_window(self._current_stack_id):
                self._series_windows.pop(self._current_stack_id, None)
            else:
                self._series_windows[self._current_stack_id] = (width_hu, center_hu)
        text = CUSTOM_ITEM
        for p in PRESETS:
            if abs(p.width_hu - width_hu) < 0.5 and abs(p.center_hu - center_hu) < 0.5:
                text = p.name
                break
        else:
            v = self.slice_view.volume
            if (
                v is not None
                and v.window_width_hu is not None
                and v.window_center_hu is not None
                and abs(v.window_width_hu - width_hu) < 0.5
                and abs(v.window_center_hu - center_hu) < 0.5
            ):
                text = HEADER_ITEM
        blocker = QtCore.QSignalBlocker(self.preset_combo)
        self.preset_combo.setCurrentText(text)
        del blocker

    def _on_preset_combo(self, index: int) -> None:
        if index < len(PRESETS):
            self.apply_preset(index + 1)
        elif self.preset_combo.itemText(index) == HEADER_ITEM:
            self.apply_header_window()

    # ===================================================================== dialogs
    def show_skipped(self) -> dialogs.SkippedFilesDialog:
        """The skipped-files dialog (non-modal)."""
        skipped = self.tree.skipped if self.tree is not None else ()
        if self.skipped_dialog is not None:
            self.skipped_dialog.close()
        self.skipped_dialog = dialogs.SkippedFilesDialog(skipped, self)
        self.skipped_dialog.show()
        return self.skipped_dialog

    def show_about(self) -> None:
        QtWidgets.QMessageBox.about(self, "About ichview", dialogs.about_html(str(log_file_path()), settings_file_path()))

    def show_shortcuts(self) -> dialogs.ShortcutsDialog:
        d = dialogs.ShortcutsDialog(dialogs.shortcuts_html(self.shortcut_actions(), self.settings.mouse), self)
        d.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        d.show()
        return d

    def show_preferences(self) -> dialogs.PreferencesDialog:
        d = dialogs.PreferencesDialog(self.settings, self)
        d.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        d.clear_recent_requested.connect(self.clear_recent)

        def accepted() -> None:
            new = d.result_settings().with_changes(recent_paths=self.settings.recent_paths)
            if not new.remember_recent:
                new = new.cleared_recent()
            self.apply_settings(new)
            self._save_settings()

        d.accepted.connect(accepted)
        d.open()
        return d

    def open_dialog_start(self) -> str:
        """Where the Open dialogs start: the parent of the last opened folder (or of the last file's
        folder), else the home folder; never the working directory."""
        for recent in self.settings.recent_paths:
            path = Path(recent)
            folder = path if path.is_dir() else path.parent
            start = folder.parent
            if start.is_dir():
                return str(start)
        return str(Path.home())

    def open_folder_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a study folder", self.open_dialog_start())
        if folder:
            self.open_paths([folder])

    def open_files_dialog(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(
            self, "Open DICOM files or a DICOMDIR", self.open_dialog_start(), "All files (*)"
        )
        if files:
            self.open_paths(files)

    # ===================================================================== layout
    def arrange_docks(self) -> None:
        """Give the image most of the window: below 1600 px wide the right-hand panels (the AI
        findings) share a tabbed column with the series list; the docks get a share of the window
        (series list wide enough for its columns, the strip low). Done once when first shown."""
        width, height = self.width(), self.height()
        left = QtCore.Qt.DockWidgetArea.LeftDockWidgetArea
        right = QtCore.Qt.DockWidgetArea.RightDockWidgetArea
        bottom = QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
        docks = [d for d in self.findChildren(QtWidgets.QDockWidget) if not d.isFloating()]
        if width < 1600 and self.dockWidgetArea(self.series_dock) == left:
            for dock in docks:
                if self.dockWidgetArea(dock) == right and dock.isVisible():
                    self.tabifyDockWidget(self.series_dock, dock)
            self.series_dock.raise_()
        side = int(np.clip(0.24 * width, 300, 380))
        self.resizeDocks([self.series_dock], [side], QtCore.Qt.Orientation.Horizontal)
        rights = [d for d in docks if self.dockWidgetArea(d) == right and d.isVisible()]
        if rights:
            self.resizeDocks(rights, [int(np.clip(0.2 * width, 300, 420))] * len(rights), QtCore.Qt.Orientation.Horizontal)
        bottoms = [d for d in docks if self.dockWidgetArea(d) == bottom and d.isVisible()]
        if bottoms:
            self.resizeDocks(bottoms, [int(np.clip(0.15 * height, 120, 170))] * len(bottoms), QtCore.Qt.Orientation.Vertical)

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._arranged:
            self._arranged = True
            self.arrange_docks()

    # ===================================================================== triage worklist
    def open_worklist(self, folder: str | Path) -> Any:
        """Show a triage run's worklist (its output folder) in the Worklist dock; returns the panel."""
        from viewer.qt.worklist_view import WorklistPanel

        if self.worklist_panel is None:
            self.worklist_panel = WorklistPanel(self)
            self.worklist_panel.open_requested.connect(self._open_worklist_study)
            self.worklist_dock = self.add_dock("Worklist", self.worklist_panel, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)
        try:
            self.worklist_panel.load(folder)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.report_error(IchviewError(f"Cannot read the worklist in {folder}: {exc}"), context="worklist")
            return self.worklist_panel
        self.worklist_dock.show()
        self.worklist_dock.raise_()
        return self.worklist_panel

    def open_worklist_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self, "Open a triage worklist (the folder 'ichview triage --out' wrote)", self.open_dialog_start()
        )
        if folder:
            self.open_worklist(folder)

    def _open_worklist_study(self, entry: Any) -> None:
        """Open a worklist row's images from the folders triage read them from; when those are gone
        (another machine, a moved archive), ask for the folder."""
        dirs = [d for d in getattr(entry, "source_dirs", ()) if Path(d).is_dir()]
        if dirs and len(dirs) == len(entry.source_dirs):
            self._pending_study_uid = entry.study_uid
            self.open_paths(dirs)
            return
        who = " ".join(t for t in (entry.patient_id, entry.study_date, entry.accession) if t)
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self, f"Open the images of study {who}", self.open_dialog_start()
        )
        if not folder:
            return
        self._pending_study_uid = entry.study_uid
        self.open_paths([folder])

    def _select_pending_study(self, tree: StudyTree) -> None:
        uid, self._pending_study_uid = self._pending_study_uid, ""
        if not uid:
            return
        stacks = [st for st in tree.stacks() if st.study_uid == uid]
        if not stacks:
            self.last_notice = (
                "This folder does not hold the worklist's study (no series with its StudyInstanceUID); "
                "its own series are shown."
            )
            box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Information, "Worklist", self.last_notice, parent=self)
            box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
            box.setModal(False)
            box.show()
            return
        target = next((st for st in stacks if not st.is_localizer), stacks[0]).stack_id
        QtCore.QTimer.singleShot(0, lambda: self.show_stack(target))

    # ===================================================================== export the view
    def view_image(self, options: ViewExportOptions | None = None) -> QtGui.QImage:
        """The image views as shown (every view of the layout), drawn with the export's options."""
        return render_views(self.views_area, self.mpr.visible_views(), options or ViewExportOptions())

    def export_view(self, path: str | Path, options: ViewExportOptions | None = None) -> Path:
        """Save the views as a PNG file (atomically); returns the path written."""
        target = Path(path)
        if target.suffix.lower() != ".png":
            target = target.with_suffix(".png")
        save_png(self.view_image(options), target)
        self._last_view_export_dir = str(target.parent)
        self.statusBar().showMessage(f"Saved the view as {target.name}", 6000)
        return target

    def export_view_dialog(self) -> Path | None:
        """File > Export the view as PNG…: what to include, then where."""
        if not self.slice_view.has_image():
            self.statusBar().showMessage("Nothing to export: open a study first", 5000)
            return None
        dialog = ExportViewDialog(self._view_export_options, self)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return None
        self._view_export_options = dialog.options()
        start = Path(self._last_view_export_dir or Path.home()) / "ichview-view.png"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export the view", str(start), "PNG image (*.png)")
        if not path:
            return None
        try:
            return self.export_view(path, self._view_export_options)
        except Exception as exc:  # noqa: BLE001 (the one error handler says it)
            self.report_error(exc, context="export view")
            return None

    def copy_view(self) -> QtGui.QImage | None:
        """Edit > Copy the view: onto the clipboard, with the last export options (no corner text
        unless chosen there)."""
        if not self.slice_view.has_image():
            self.statusBar().showMessage("Nothing to copy: open a study first", 5000)
            return None
        image = self.view_image(self._view_export_options)
        QtWidgets.QApplication.clipboard().setImage(image)
        self.statusBar().showMessage("Copied the view to the clipboard", 4000)
        return image

    # ===================================================================== drag and drop
    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QtGui.QDragMoveEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        self.stop_cine()
        self.shutdown_jobs()
        self._save_settings()
        super().closeEvent(event)

    # ===================================================================== status bar and internals
    def _show_warnings(self, stack: Stack) -> None:
        self._set_warnings(stack.warnings)

    def _show_volume_warnings(self, volume: Volume) -> None:
        self._set_warnings(volume.warnings)

    def _set_warnings(self, warnings: Sequence[StackWarning]) -> None:
        """Short words in the status bar (a link opens the full messages; so does the menu entry)."""
        unique = list(dict.fromkeys(warnings))
        self._warning_messages = [w.message for w in unique]
        words = list(dict.fromkeys(WARNING_WORDS.get(w.code, w.code.replace("_", " ")) for w in unique))
        if unique:
            self.warning_label.setText(
                f"⚠ Series warnings: {', '.join(words)} — <a href=\"details\">details…</a>"
            )
            self.warning_label.setToolTip("\n".join(f"• {m}" for m in self._warning_messages))
        else:
            self.warning_label.setText("")
            self.warning_label.setToolTip("")
        self.warnings_action.setEnabled(bool(unique))

    def show_warnings(self) -> None:
        """The current series' warnings in full."""
        if not self._warning_messages:
            self.statusBar().showMessage("This series has no warnings", 4000)
            return
        box = QtWidgets.QMessageBox(
            QtWidgets.QMessageBox.Icon.Information,
            "Series warnings",
            "\n\n".join(self._warning_messages),
            parent=self,
        )
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()

    def _on_index_changed(self, index: int) -> None:
        blocker = QtCore.QSignalBlocker(self.slider)
        self.slider.setValue(index)
        del blocker

    def _save_settings(self) -> None:
        try:
            save_settings(self.settings)
        except Exception as exc:  # noqa: BLE001 (settings are not worth an error dialog)
            _log.warning("settings not saved: %s", type(exc).__name__)

    def _make_optional_widgets(self) -> None:
        """Wire in the measurement tools and the tag browser."""
        from viewer.qt.measurements import Measurements

        self.measurements = Measurements(self.slice_view)
        try:
            from viewer.qt.tag_browser import TagBrowser
        except ImportError:  # pragma: no cover (built in parallel)
            return
        self.tag_browser = TagBrowser(self)
        self.tag_dock = self.add_dock("DICOM tags", self.tag_browser, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)
        self.tag_dock.hide()
        self.tag_dock.toggleViewAction().setText("DICOM &tags of this slice")
        # Ctrl+T: shown in front (raised over the panel it shares a tab with); pressed again while
        # in front it hides; pressed while it is behind another tab it comes to the front.
        self.tags_action = QtGui.QAction("DICOM &tags of this slice", self)
        self.tags_action.setShortcut(QtGui.QKeySequence("Ctrl+T"))
        self.tags_action.setCheckable(True)
        self.tags_action.triggered.connect(lambda _checked=False: self.toggle_tags())
        self.tag_dock.visibilityChanged.connect(lambda _v: self.tags_action.setChecked(self.tags_in_front()))
        self.tag_dock.visibilityChanged.connect(lambda _v: self._update_tags())
        self.tag_dock.visibilityChanged.connect(self._widen_tag_dock)
        self.slice_view.index_changed.connect(lambda _i: self._update_tags())
        self.slice_view.volume_changed.connect(lambda _v: self._update_tags())

    def tags_in_front(self) -> bool:
        """Whether the tag browser is shown and not hidden behind another panel's tab."""
        dock = self.tag_dock
        return dock is not None and dock.isVisible() and not dock.visibleRegion().isEmpty()

    def toggle_tags(self) -> None:
        """Ctrl+T: the tag browser in front, or hidden when it already was in front."""
        dock = self.tag_dock
        if dock is None:
            return
        if self.tags_in_front():
            dock.hide()
        else:
            dock.show()
            dock.raise_()
            if not dock.isFloating() and dock.width() < 440:
                self.resizeDocks([dock], [440], QtCore.Qt.Orientation.Horizontal)
        self.tags_action.setChecked(self.tags_in_front() or (dock.isVisible() and not dock.isHidden()))

    def _widen_tag_dock(self, visible: bool) -> None:
        """Shown: wide enough for the value column beside tag, keyword and VR."""
        dock = self.tag_dock
        if visible and dock is not None and not dock.isFloating() and dock.width() < 440:
            QtCore.QTimer.singleShot(0, lambda: self.resizeDocks([dock], [440], QtCore.Qt.Orientation.Horizontal))

    def _update_tags(self) -> None:
        if self.tag_browser is None or self.tag_dock is None or not self.tag_dock.isVisible():
            return
        v = self.slice_view.volume
        if v is None:
            return
        i = self.slice_view.index
        frame = None
        stack = self._stacks.get(v.stack_id)
        if stack is not None and i < len(stack.slices):
            frame = stack.slices[i].frame
        self.tag_browser.show_file(v.source_paths[i], frame)
