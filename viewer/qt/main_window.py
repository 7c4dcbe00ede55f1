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
"""
from __future__ import annotations

import threading
import traceback
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from viewer.app_logging import get_logger, log_file_path
from viewer.core.errors import IchviewError
from viewer.core.loading import FirstSlice, LoadProgress, iter_load_stack, open_paths
from viewer.core.series import Stack, StudyTree
from viewer.core.volume import Volume
from viewer.core.warnings import StackWarning
from viewer.core.windowing import PRESETS
from viewer.qt import dialogs
from viewer.qt.series_browser import WARNING_WORDS, SeriesBrowser
from viewer.qt.settings_store import load_settings, save_settings, settings_file_path
from viewer.qt.slice_view import DEFAULT_WINDOW, SliceView
from viewer.qt.workers import Job, JobSlot
from viewer.settings import Settings

_log = get_logger("main_window")
CACHE_VOLUMES = 3
HEADER_ITEM = "Header"
CUSTOM_ITEM = "Custom"
_SCAN, _LOAD, _THUMBNAILS = "scan", "load", "thumbnails"
OPEN_HINT = (
    "Open a study: File > Open folder… (Ctrl+O), Open files… (Ctrl+Shift+O),\n"
    "or drop a folder or DICOM files here.   Keys and mouse: Help > Shortcuts (F1)"
)


class MainWindow(QtWidgets.QMainWindow):
    """ichview's main window."""

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
        self._jobs: dict[str, JobSlot] = {}
        self._dialogs: list[QtWidgets.QWidget] = []
        self.last_error_text = ""
        self.skipped_dialog: dialogs.SkippedFilesDialog | None = None

        # --- central: the image and a vertical slice slider
        self.slice_view = SliceView(self)
        self.slice_view.empty_text = OPEN_HINT
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Vertical, self)
        self.slider.setAccessibleName("Slice slider")
        self.slider.setToolTip("Slice (bottom = first)")
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self.slice_view.set_index)
        central = QtWidgets.QWidget(self)
        row = QtWidgets.QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.slice_view, 1)
        row.addWidget(self.slider)
        self.setCentralWidget(central)
        self.slice_view.graphics.setAcceptDrops(False)
        self.slice_view.graphics.viewport().setAcceptDrops(False)

        # --- docks
        self._docks_menu_actions: list[QtGui.QAction] = []
        self.series_browser = SeriesBrowser(self)
        self.series_browser.stack_selected.connect(self.show_stack)
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
        self.cine_timer = QtCore.QTimer(self)
        self.cine_timer.timeout.connect(self._cine_step)

        self._build_actions()
        self._build_menus_and_toolbar()
        self.slice_view.index_changed.connect(self._on_index_changed)
        self.slice_view.window_changed.connect(self._on_window_changed)
        self.slice_view.inverted_changed.connect(self.invert_action.setChecked)
        self.apply_settings(self.settings)
        self.resize(1400, 900)
        self.resizeDocks([self.series_dock], [360], QtCore.Qt.Orientation.Horizontal)
        self.slice_view.setFocus()

    # ================================================================== public: opening studies
    def open_paths(self, paths: Sequence[str | Path]) -> None:
        """Open folders / files / DICOMDIRs: scan in a worker, then show the first image stack.

        Cancels whatever was loading. Nothing is ever written into the given paths.
        """
        paths = [str(Path(p)) for p in paths if str(p)]
        if not paths:
            return
        self.cancel_all()
        for path in paths:
            self.settings = self.settings.with_recent(path)
        self._save_settings()
        self._rebuild_recent_menu()
        _log.info("opening %d path(s)", len(paths))
        self._set_busy("Reading headers…", None)
        job = Job("scan", "", lambda _cancel, p=tuple(paths): iter([open_paths(p)]), self)
        job.item_ready.connect(self._on_tree)
        job.failed.connect(self._on_job_failed)
        job.finished.connect(lambda _c, j=job: self._on_job_finished(j))
        self.start_job(_SCAN, job)

    def show_stack(self, stack_id: str) -> None:
        """Make a stack current: shown at once when decoded before, else loaded in a worker."""
        stack = self._stacks.get(stack_id)
        if stack is None or stack_id == self._current_stack_id:
            return
        if self._current_stack_id and self.slice_view.volume is not None:
            self._last_index[self._current_stack_id] = self.slice_view.index
        self.stop_cine()
        for kind in list(self._jobs):
            if kind != _SCAN:
                self._jobs[kind].cancel()
        self._current_stack_id = stack_id
        self.series_browser.select_stack(stack_id)
        self._show_warnings(stack)
        self.stack_changed.emit(stack_id)
        cached = self._cache.get(stack_id)
        if cached is not None:
            self._cache.move_to_end(stack_id)
            self._display_volume(cached)
            return
        self.slider.setEnabled(False)
        self._set_busy(f"Loading {stack.n_slices} slices…", stack.n_slices)
        job = Job("load", stack_id, lambda cancel, s=stack: iter_load_stack(s, cancel=cancel), self)
        job.item_ready.connect(self._on_load_item)
        job.failed.connect(self._on_job_failed)
        job.finished.connect(lambda _c, j=job: self._on_job_finished(j))
        self.start_job(_LOAD, job)

    def cancel_loading(self) -> None:
        """Stop scanning / loading (the Cancel button)."""
        self.cancel_all()
        self._set_idle("Loading cancelled")
        if self._current_stack_id and self.slice_view.volume is None:
            self.slice_view.set_preview_text("Loading cancelled — press F5 to load this series")

    def reload_series(self) -> None:
        """Load the current stack again (F5), e.g. after Cancel."""
        stack_id = self._current_stack_id
        if not stack_id:
            return
        self._cache.pop(stack_id, None)
        self._current_stack_id = ""
        self.show_stack(stack_id)

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
        return any(slot.is_busy() for kind, slot in self._jobs.items() if kind != _THUMBNAILS)

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
        """R: fit, default window, not inverted."""
        self.slice_view.set_window(*DEFAULT_WINDOW)
        self.slice_view.set_inverted(False)
        self.slice_view.fit()

    def _on_window_changed(self, width_hu: float, center_hu: float) -> None:
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

    def shortcut_actions(self) -> list[QtGui.QAction]:
        """Every action with a key, this window's and those others added (e.g. the AI's menu)."""
        found: list[QtGui.QAction] = list(self._all_actions)

        def walk(menu: QtWidgets.QMenu) -> None:
            for action in menu.actions():
                if action.menu() is not None:
                    walk(action.menu())
                elif action not in found:
                    found.append(action)

        for top in self.menuBar().actions():
            if top.menu() is not None:
                walk(top.menu())
        return found

    def open_folder_dialog(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a study folder")
        if folder:
            self.open_paths([folder])

    def open_files_dialog(self) -> None:
        files, _ = QtWidgets.QFileDialog.getOpenFileNames(self, "Open DICOM files or a DICOMDIR", "", "All files (*)")
        if files:
            self.open_paths(files)

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

    # ===================================================================== internals: loading
    def _on_tree(self, tree: StudyTree) -> None:
        self.tree = tree
        self._stacks = {st.stack_id: st for st in tree.stacks()}
        self._cache.clear()
        self._last_index.clear()
        self._first_index.clear()
        self._thumbnailed.clear()
        self._current_stack_id = ""
        self.slice_view.set_volume(None)
        self.slider.setEnabled(False)
        self.series_browser.set_tree(tree)
        n_skipped = len(tree.skipped)
        self.skipped_button.setText(f"{n_skipped} file{'s' if n_skipped != 1 else ''} skipped")
        self.skipped_button.setToolTip("Show the files that were not opened and why")
        self.skipped_button.setVisible(n_skipped > 0)
        self.study_opened.emit(tree)
        candidates = [st for st in tree.stacks() if not st.is_localizer] or tree.stacks()
        if not candidates:
            self._set_idle("No image series found")
            self.warning_label.setText("No image series found in what was opened" + (
                f": {n_skipped} file(s) skipped — see the list" if n_skipped else ""))
            self._warning_messages = []
            self.slice_view.empty_text = (
                "No image series found in what was opened"
                + (f" ({n_skipped} file(s) skipped: File > Show skipped files…)" if n_skipped else "")
                + ".\n" + OPEN_HINT
            )
            self.slice_view.overlay.update()
            if n_skipped:
                self.show_skipped()
            return
        self.slice_view.empty_text = OPEN_HINT
        self.slice_view.set_window(*DEFAULT_WINDOW)
        self.slice_view.set_inverted(False)
        self.slice_view.fit()
        self._set_idle(f"{len(self._stacks)} stack(s) found")
        self.show_stack(candidates[0].stack_id)

    def _on_load_item(self, item: object) -> None:
        if isinstance(item, FirstSlice):
            if item.stack_id != self._current_stack_id:
                return
            self._first_index[item.stack_id] = item.index
            self._set_thumbnail(item.stack_id, item.hu)
            self.slice_view.show_preview(item.hu, item.pixel_spacing_mm, f"Loading… slice {item.index + 1} / {item.n_slices}")
            self.first_slice_shown.emit(item.stack_id, item.index)
        elif isinstance(item, LoadProgress):
            if item.stack_id == self._current_stack_id:
                self.progress.setRange(0, max(item.total, 1))
                self.progress.setValue(item.done)
        elif isinstance(item, Volume):
            self._cache[item.stack_id] = item
            self._cache.move_to_end(item.stack_id)
            while len(self._cache) > CACHE_VOLUMES:
                self._cache.popitem(last=False)
            if item.stack_id == self._current_stack_id:
                self._set_idle("")
                self._display_volume(item)
                self._start_thumbnails()

    def _set_thumbnail(self, stack_id: str, hu2d: object) -> None:
        self._thumbnailed.add(stack_id)
        self.series_browser.set_thumbnail(stack_id, hu2d)  # type: ignore[arg-type]

    def _start_thumbnails(self) -> None:
        """Decode the middle slice of every stack without a thumbnail, one after the other,
        after the shown stack has loaded (switching stacks cancels it; it restarts after)."""
        missing = tuple(st for st in self._stacks.values() if st.stack_id not in self._thumbnailed)
        if not missing:
            return
        job = Job(_THUMBNAILS, "", lambda cancel, m=missing: _iter_thumbnails(m, cancel), self)
        job.item_ready.connect(self._on_thumbnail)
        self.start_job(_THUMBNAILS, job)

    def _on_thumbnail(self, first: FirstSlice) -> None:
        if first.stack_id in self._stacks and first.stack_id not in self._thumbnailed:
            self._set_thumbnail(first.stack_id, first.hu)

    def _display_volume(self, volume: Volume) -> None:
        index = self._last_index.get(volume.stack_id, self._first_index.get(volume.stack_id))
        self.slice_view.set_volume(volume, index=index)
        if volume.stack_id not in self._thumbnailed:
            self._set_thumbnail(volume.stack_id, volume.hu[volume.n_slices // 2])
        blocker = QtCore.QSignalBlocker(self.slider)
        self.slider.setRange(0, volume.n_slices - 1)
        self.slider.setValue(self.slice_view.index)
        del blocker
        self.slider.setEnabled(volume.n_slices > 1)
        self._show_volume_warnings(volume)
        self._on_window_changed(*self.slice_view.window)
        self.setWindowTitle(f"ichview — {volume.metadata.series_description or 'series'}")
        self.volume_loaded.emit(volume)

    def _on_job_failed(self, exc: object) -> None:
        self._set_idle("Loading failed")
        if isinstance(exc, BaseException):
            self.report_error(exc, context="worker")
        self.load_failed.emit(str(exc))

    def _on_job_finished(self, job: Job) -> None:
        if not self.is_loading():
            self._set_idle(None)

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

    def _set_busy(self, message: str, total: int | None) -> None:
        self.statusBar().showMessage(message)
        if total is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)

    def _set_idle(self, message: str | None) -> None:
        if message is not None:
            self.statusBar().showMessage(message, 5000)
        elif self.statusBar().currentMessage().startswith(("Loading", "Reading")):
            self.statusBar().clearMessage()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)

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
        self.tag_dock.toggleViewAction().setShortcut(QtGui.QKeySequence("Ctrl+T"))
        self.tag_dock.toggleViewAction().setText("DICOM &tags of this slice")
        self.tag_dock.visibilityChanged.connect(lambda _v: self._update_tags())
        self.slice_view.index_changed.connect(lambda _i: self._update_tags())
        self.slice_view.volume_changed.connect(lambda _v: self._update_tags())

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

    # ===================================================================== actions and menus
    def _act(
        self,
        text: str,
        slot: object,
        shortcuts: Sequence[str | QtGui.QKeySequence | QtCore.Qt.Key] = (),
        *,
        checkable: bool = False,
        view_only: bool = False,
        tip: str = "",
        icon: QtWidgets.QStyle.StandardPixmap | None = None,
    ) -> QtGui.QAction:
        """An action; `view_only` ones (arrows, Home/End) work while the image has the focus."""
        action = QtGui.QAction(text, self)
        if shortcuts:
            sequences: list[QtGui.QKeySequence] = []
            for item in shortcuts:
                if isinstance(item, QtGui.QKeySequence.StandardKey):
                    candidates = QtGui.QKeySequence.keyBindings(item)
                else:
                    candidates = [QtGui.QKeySequence(item)]
                for seq in candidates:
                    if not seq.isEmpty() and seq not in sequences:  # a repeated key would be ambiguous
                        sequences.append(seq)
            action.setShortcuts(sequences)
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.triggered.connect(slot)  # type: ignore[arg-type]
        if view_only:
            action.setShortcutContext(QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.slice_view.addAction(action)
        else:
            self.addAction(action)
        self._all_actions.append(action)
        return action

    def _build_actions(self) -> None:
        self._all_actions: list[QtGui.QAction] = []
        K = QtCore.Qt.Key
        M = QtCore.Qt.KeyboardModifier
        sv = self.slice_view
        SP = QtWidgets.QStyle.StandardPixmap
        self.open_folder_action = self._act("Open &folder…", self.open_folder_dialog, ["Ctrl+O"], icon=SP.SP_DirOpenIcon)
        self.open_files_action = self._act("Open f&iles…", self.open_files_dialog, ["Ctrl+Shift+O"], icon=SP.SP_FileIcon)
        self.skipped_action = self._act("Show &skipped files…", self.show_skipped)
        self.warnings_action = self._act("Show series &warnings…", self.show_warnings)
        self.reload_action = self._act("Re&load series", self.reload_series, [QtGui.QKeySequence.StandardKey.Refresh, "F5"])
        self.prefs_action = self._act("&Preferences…", self.show_preferences, [QtGui.QKeySequence.StandardKey.Preferences, "Ctrl+,"])
        self.quit_action = self._act("&Quit", self.close, ["Ctrl+Q"])
        self.next_action = self._act("Next slice", lambda: sv.step(1), [K.Key_Down], view_only=True)
        self.prev_action = self._act("Previous slice", lambda: sv.step(-1), [K.Key_Up], view_only=True)
        self.next10_action = self._act("10 slices forward", lambda: sv.step(10), [QtGui.QKeySequence(M.ShiftModifier | K.Key_Down)], view_only=True)
        self.prev10_action = self._act("10 slices back", lambda: sv.step(-10), [QtGui.QKeySequence(M.ShiftModifier | K.Key_Up)], view_only=True)
        self.first_action = self._act("First slice", lambda: sv.set_index(0), [K.Key_Home], view_only=True)
        self.last_action = self._act("Last slice", self._go_last, [K.Key_End], view_only=True)
        self.next_series_action = self._act("Next series", self.series_browser.select_next, [K.Key_PageDown])
        self.prev_series_action = self._act("Previous series", self.series_browser.select_previous, [K.Key_PageUp])
        self.cine_action = self._act("Play / pause cine", self.toggle_cine, [K.Key_Space], checkable=True, icon=SP.SP_MediaPlay)
        self.faster_action = self._act("Cine faster", lambda: self.fps_spin.stepUp(), ["]"])
        self.slower_action = self._act("Cine slower", lambda: self.fps_spin.stepDown(), ["["])
        self.fit_action = self._act("&Fit to window", sv.fit, ["F"])
        self.reset_action = self._act("&Reset view and window", self.reset_view, ["R"])
        self.zoom_in_action = self._act("Zoom in", lambda: sv.zoom_by(1.25), [QtGui.QKeySequence.StandardKey.ZoomIn, "Ctrl+="])
        self.zoom_out_action = self._act("Zoom out", lambda: sv.zoom_by(0.8), [QtGui.QKeySequence.StandardKey.ZoomOut])
        self.pan_actions = [
            self._act(f"Pan {name}", lambda _=False, d=d: sv.pan_by_mm(*d), [QtGui.QKeySequence(M.ControlModifier | key)], view_only=True)
            for name, key, d in (
                ("left", K.Key_Left, (-10.0, 0.0)),
                ("right", K.Key_Right, (10.0, 0.0)),
                ("up", K.Key_Up, (0.0, -10.0)),
                ("down", K.Key_Down, (0.0, 10.0)),
            )
        ]
        self.corner_text_action = self._act("Corner &text", self._toggle_corner_text, ["T"], checkable=True)
        self.preset_actions = [
            self._act(f"{p.name} window (W {p.width_hu:g} / L {p.center_hu:g})", lambda _=False, n=n: self.apply_preset(n), [str(n)])
            for n, p in enumerate(PRESETS, start=1)
        ]
        self.header_window_action = self._act("Header window", self.apply_header_window, ["0"])
        self.invert_action = self._act("&Invert", lambda: sv.set_inverted(not sv.inverted), ["I"], checkable=True)
        wl = [
            ("Window wider", lambda: sv.set_window(sv.window[0] + 20, sv.window[1]), "Alt+Right"),
            ("Window narrower", lambda: sv.set_window(sv.window[0] - 20, sv.window[1]), "Alt+Left"),
            ("Level up", lambda: sv.set_window(sv.window[0], sv.window[1] + 10), "Alt+Up"),
            ("Level down", lambda: sv.set_window(sv.window[0], sv.window[1] - 10), "Alt+Down"),
        ]
        self.wl_actions = [self._act(t, f, [k]) for t, f, k in wl]
        self.ruler_action = self._act("Distance &ruler", lambda: self.measurements.start_ruler(), ["M"])
        self.ellipse_action = self._act("&Ellipse ROI", lambda: self.measurements.start_ellipse(), ["E"])
        self.delete_measurement_action = self._act("Delete selected measurement\tDel", lambda: self.measurements.delete_selected())
        self.clear_measurements_action = self._act("Clear all measurements", lambda: self.measurements.clear())
        # Esc itself is the Measurements widget's own shortcut (a second one would be ambiguous).
        self.cancel_tool_action = self._act("Disarm the measurement tool\tEsc", lambda: self.measurements.cancel_tool())
        self.focus_image_action = self._act("Focus the image", lambda: sv.setFocus(), ["Ctrl+1"])
        self.focus_series_action = self._act("Focus the series list", self._focus_series, ["Ctrl+2"])
        self.shortcuts_action = self._act("&Keyboard and mouse shortcuts", self.show_shortcuts, ["F1"])
        self.about_action = self._act("&About ichview", self.show_about)

    def _go_last(self) -> None:
        v = self.slice_view.volume
        if v is not None:
            self.slice_view.set_index(v.n_slices - 1)

    def _focus_series(self) -> None:
        self.series_dock.show()
        self.series_browser.setFocus()

    def _toggle_corner_text(self) -> None:
        visible = not self.slice_view.corner_text_visible
        self.slice_view.set_corner_text_visible(visible)
        self.corner_text_action.setChecked(visible)
        self.settings = self.settings.with_changes(show_corner_text=visible)

    def _build_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        self._menus: dict[str, QtWidgets.QMenu] = {}
        file_menu = bar.addMenu("&File")
        self._menus["File"] = file_menu
        file_menu.addActions([self.open_folder_action, self.open_files_action])
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addAction(self.skipped_action)
        file_menu.addAction(self.warnings_action)
        file_menu.addAction(self.reload_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        self._menus["Edit"] = edit_menu
        edit_menu.addAction(self.prefs_action)
        view_menu = bar.addMenu("&View")
        self._menus["View"] = view_menu
        view_menu.addActions([self.next_action, self.prev_action, self.next10_action, self.prev10_action,
                              self.first_action, self.last_action])
        view_menu.addSeparator()
        view_menu.addActions([self.next_series_action, self.prev_series_action])
        view_menu.addSeparator()
        view_menu.addActions([self.cine_action, self.faster_action, self.slower_action])
        view_menu.addSeparator()
        view_menu.addActions([self.fit_action, self.reset_action, self.zoom_in_action, self.zoom_out_action])
        view_menu.addActions(self.pan_actions)
        view_menu.addSeparator()
        view_menu.addAction(self.corner_text_action)
        view_menu.addActions([self.focus_image_action, self.focus_series_action])
        self.panels_menu = view_menu.addMenu("&Panels")
        self.panels_menu.addActions(self._docks_menu_actions)
        window_menu = bar.addMenu("&Window")
        self._menus["Window"] = window_menu
        window_menu.addActions(self.preset_actions)
        window_menu.addAction(self.header_window_action)
        window_menu.addAction(self.invert_action)
        window_menu.addSeparator()
        window_menu.addActions(self.wl_actions)
        tools_menu = bar.addMenu("&Tools")
        self._menus["Tools"] = tools_menu
        tools_menu.addActions([self.ruler_action, self.ellipse_action, self.cancel_tool_action,
                               self.delete_measurement_action, self.clear_measurements_action])
        if self.tag_dock is not None:
            tools_menu.addSeparator()
            tools_menu.addAction(self.tag_dock.toggleViewAction())
            self.addAction(self.tag_dock.toggleViewAction())
            self._all_actions.append(self.tag_dock.toggleViewAction())
        help_menu = bar.addMenu("&Help")
        self._menus["Help"] = help_menu
        help_menu.addActions([self.shortcuts_action, self.about_action])

        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        self.toolbar = tb
        tb.addAction(self.open_folder_action)
        tb.addSeparator()
        tb.addWidget(QtWidgets.QLabel(" Window "))
        self.preset_combo = QtWidgets.QComboBox(self)
        self.preset_combo.setAccessibleName("Window preset")
        for n, p in enumerate(PRESETS, start=1):
            self.preset_combo.addItem(p.name)
            self.preset_combo.setItemData(n - 1, f"Key {n}: W {p.width_hu:g} / L {p.center_hu:g}", QtCore.Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.addItem(HEADER_ITEM)
        self.preset_combo.addItem(CUSTOM_ITEM)
        self.preset_combo.activated.connect(self._on_preset_combo)
        self.preset_combo.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
        tb.addWidget(self.preset_combo)
        tb.addAction(self.invert_action)
        tb.addSeparator()
        tb.addAction(self.fit_action)
        tb.addAction(self.reset_action)
        tb.addAction(self.corner_text_action)
        tb.addSeparator()
        tb.addAction(self.cine_action)
        self.fps_spin = QtWidgets.QDoubleSpinBox(self)
        self.fps_spin.setRange(1.0, 60.0)
        self.fps_spin.setSingleStep(1.0)
        self.fps_spin.setDecimals(0)
        self.fps_spin.setSuffix(" fps")
        self.fps_spin.setAccessibleName("Cine frames per second")
        self.fps_spin.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
        self.fps_spin.valueChanged.connect(self._on_fps_changed)
        tb.addWidget(self.fps_spin)
        tb.addSeparator()
        tb.addAction(self.ruler_action)
        tb.addAction(self.ellipse_action)

    def _rebuild_recent_menu(self) -> None:
        if not hasattr(self, "recent_menu"):
            return
        menu = self.recent_menu
        menu.clear()
        for n, path in enumerate(self.settings.recent_paths, start=1):
            action = menu.addAction(f"&{n % 10} {path}" if n <= 10 else path)
            action.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        if not self.settings.recent_paths:
            empty = menu.addAction("(none)" if self.settings.remember_recent else "(not remembered — see Preferences)")
            empty.setEnabled(False)
        menu.addSeparator()
        clear = menu.addAction("Clear the list")
        clear.triggered.connect(self.clear_recent)
        clear.setEnabled(bool(self.settings.recent_paths))


def _iter_thumbnails(stacks: Sequence[Stack], cancel: threading.Event) -> Iterator[FirstSlice]:
    """The middle slice of each stack (decoded alone; a stack that fails is left without one)."""
    for stack in stacks:
        if cancel.is_set():
            return
        events = iter_load_stack(stack, cancel=cancel, parallel="serial")
        try:
            first = next(events, None)
        except Exception as exc:  # noqa: BLE001 (a thumbnail is not worth an error dialog)
            _log.info("no thumbnail for a stack: %s", type(exc).__name__)
            continue
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        if isinstance(first, FirstSlice):
            yield first
