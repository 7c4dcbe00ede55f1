"""Opening studies in the main window: scanning paths and loading stacks in worker jobs, the
volume cache, the loading preview, background thumbnails and the busy / idle status bar.
`StudyLoadingMixin` is mixed into `MainWindow`, which owns the widgets and signals used here."""
from __future__ import annotations

import threading
from collections import OrderedDict
from types import SimpleNamespace
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from viewer.app_logging import get_logger
from viewer.core.loading import FirstSlice, LoadProgress, iter_load_stack, open_paths
from viewer.core.series import Stack, StudyTree
from viewer.core.volume import Volume
from viewer.core.windowing import window_for
from viewer.qt.slice_view import DEFAULT_WINDOW
from viewer.qt.workers import Job
from viewer.settings import Settings

_log = get_logger("main_window")
CACHE_VOLUMES = 3
SCAN_JOB, LOAD_JOB, THUMBNAILS_JOB = "scan", "load", "thumbnails"
OPEN_HINT = (
    "Open a study: File > Open folder… (Ctrl+O), Open files… (Ctrl+Shift+O),\n"
    "or drop a folder or DICOM files here.   Keys and mouse: Help > Shortcuts (F1)"
)


class StudyLoadingMixin:
    """Opening and loading of `MainWindow` (its methods, split out by job)."""

    settings: Settings
    tree: StudyTree | None
    slice_view: Any  # SliceView
    slider: QtWidgets.QSlider
    series_browser: Any  # SeriesBrowser
    progress: QtWidgets.QProgressBar
    _stacks: dict[str, Stack]
    _cache: OrderedDict[str, Volume]
    _last_index: dict[str, int]
    _first_index: dict[str, int]
    _thumbnailed: set[str]
    _series_windows: dict[str, tuple[float, float]]
    _current_stack_id: str

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
        self.start_job(SCAN_JOB, job)

    def show_stack(self, stack_id: str) -> None:
        """Make a stack current: shown at once when decoded before, else loaded in a worker."""
        stack = self._stacks.get(stack_id)
        if stack is None or stack_id == self._current_stack_id:
            return
        if self._current_stack_id and self.slice_view.volume is not None:
            self._last_index[self._current_stack_id] = self.slice_view.index
        self.stop_cine()
        for kind in list(self._jobs):
            if kind != SCAN_JOB:
                self._jobs[kind].cancel()
        self._current_stack_id = stack_id
        self.slice_view.set_window(*self.series_window(stack_id))
        self.series_browser.select_stack(stack_id)
        self._show_warnings(stack)
        self.stack_changed.emit(stack_id)
        cached = self._cache.get(stack_id)
        if cached is not None:
            self._cache.move_to_end(stack_id)
            self._display_volume(cached)
            return
        self.slider.setEnabled(False)
        self._set_busy(f"Loading slices: 0 / {stack.n_slices}…", stack.n_slices)
        job = Job("load", stack_id, lambda cancel, s=stack: iter_load_stack(s, cancel=cancel), self)
        job.item_ready.connect(self._on_load_item)
        job.failed.connect(self._on_job_failed)
        job.finished.connect(lambda _c, j=job: self._on_job_finished(j))
        self.start_job(LOAD_JOB, job)

    def default_window(self, stack_id: str) -> tuple[float, float]:
        """(width, centre) a series opens in: bone kernel -> bone, scout -> its header window, else
        brain (viewer.core.windowing.window_for)."""
        stack = self._stacks.get(stack_id)
        if stack is None or not stack.slices:
            return DEFAULT_WINDOW
        first = stack.slices[0]
        header = SimpleNamespace(
            convolution_kernel=first.meta.get("ConvolutionKernel", ""), image_type=tuple(first.image_type)
        )
        preset = window_for(
            header, center_hu=first.window_center_hu, width_hu=first.window_width_hu, is_localizer=stack.is_localizer
        )
        return preset.width_hu, preset.center_hu

    def series_window(self, stack_id: str) -> tuple[float, float]:
        """The window a series is shown in: the user's last one for it in this session, else its default."""
        return self._series_windows.get(stack_id) or self.default_window(stack_id)

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
        if self.slice_view.volume is not None and self.slice_view.volume.stack_id == stack_id:
            self._last_index[stack_id] = self.slice_view.index  # the slice shown stays shown
        self._cache.pop(stack_id, None)
        self._current_stack_id = ""
        self.show_stack(stack_id)

    # ===================================================================== internals: loading
    def _on_tree(self, tree: StudyTree) -> None:
        self.tree = tree
        self._stacks = {st.stack_id: st for st in tree.stacks()}
        self._cache.clear()
        self._last_index.clear()
        self._first_index.clear()
        self._thumbnailed.clear()
        self._series_windows.clear()
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
                # The status text says what the bar shows.
                self.statusBar().showMessage(f"Loading slices: {item.done} / {item.total}…")
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
        job = Job(THUMBNAILS_JOB, "", lambda cancel, m=missing: iter_thumbnails(m, cancel), self)
        job.item_ready.connect(self._on_thumbnail)
        self.start_job(THUMBNAILS_JOB, job)

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

    def _set_busy(self, message: str, total: int | None) -> None:
        self.statusBar().showMessage(message)
        if total is None:
            self.progress.setRange(0, 0)
            self.progress.setFormat("")
        else:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(0)
            self.progress.setFormat("%v / %m")
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)

    def _set_idle(self, message: str | None) -> None:
        if message is not None:
            self.statusBar().showMessage(message, 5000)
        elif self.statusBar().currentMessage().startswith(("Loading", "Reading")):
            self.statusBar().clearMessage()
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)


def iter_thumbnails(stacks: Sequence[Stack], cancel: threading.Event) -> Iterator[FirstSlice]:
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
