"""The AI assist attached to the main window: run the hemorrhage model, show and export what it saw.

`AiAssist(window)` adds to a `MainWindow` (through its public extension points only):

* docks: the per-slice probability strip (bottom, with the verdict in words and the current slice's
  probability above it) and the findings panel (right);
* the Grad-CAM heatmap over the slice view, with its colour bar;
* an "AI" toolbar and menu: Run AI, heatmap on/off (H), the label shown (any or a subtype), heatmap
  opacity and display threshold sliders, N / Shift+N (next / previous slice at or above the model's
  operating threshold); File > Export findings… (PDF and/or JSON, written off the GUI thread,
  atomically);
* a status-bar line with the verdict and the honest-use reminder, and an inference progress bar.

When a stack becomes the shown Volume, inference starts in a worker (`viewer.qt.workers`, job kind
"ai") unless the preference `auto_run_ai` is off. The engine is loaded once, in a worker, with torch
threads capped to leave the GUI a core. Results stream per slice into the strip, the heatmap and the
status line; at the end the findings panel shows the stack's verdict (the model's stored operating
threshold decides, never the display threshold). Switching stacks or closing cancels the run;
results that arrive for a stack no longer shown are dropped and counted (`dropped_results`).
Finished stacks are remembered for the study, so coming back to one shows its results at once, and
the export covers every analysed stack (the others are listed as not analysed, with the reason).
"""
from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from inference.labels import LABELS
from inference.results import Acceptance, ModelInfo, SliceResult, StackAnalysis
from viewer.app_logging import get_logger
from viewer.report.findings import (
    HONEST_USE,
    LABEL_NAMES,
    VERDICT_POSITIVE,
    NotAnalysed,
    StackFindings,
    StudyFindings,
    attach_cam_affines,
    summarize_stack,
    summarize_study,
)
from viewer.core.series import Stack, StudyTree
from viewer.core.volume import Volume
from viewer.qt.findings_panel import FindingsPanel
from viewer.qt.heatmap_overlay import COLORMAPS, HeatmapOverlay
from viewer.qt.probability_strip import ProbabilityStrip
from viewer.qt.workers import Job, JobSlot

_log = get_logger("ai_assist")

JOB_KIND = "ai"
WARMUP_KIND = "ai-load"
# The viewer's heat map colours: CET-L17 ends in a dark blue-violet, which stays visible over a bright
# (hyperdense) bleed in the brain window, where inferno's and cividis' light yellow ends fade into
# the white of the blood. All three are perceptually ordered and colour-blind safe.
DEFAULT_COLORMAP = "CET-L17"
COLORMAP_NAMES = {"CET-L17": "White-orange-violet (CET-L17)", "cividis": "Cividis", "inferno": "Inferno"}
MARKER_MS = 60  # the strip's current-slice marker follows scrolling at most this often
BATCH_SIZE = 4  # small batches: the first result shows early and a cancel takes effect soon
NOT_OPENED_REASON = "not analysed in this session (select the series in the viewer to run the AI)"
SHORT_HONEST_USE = "research and triage aid — not a diagnosis"
EXPORT_FILTERS = ("PDF report and JSON (*.pdf *.json)", "PDF report (*.pdf)", "JSON findings (*.json)")


def default_threads() -> int:
    """Torch CPU threads for the viewer: every core but one, which stays with the GUI."""
    return max(1, (os.cpu_count() or 1) - 1)


# ------------------------------------------------------------------------------ worker items
@dataclass(frozen=True)
class EngineReady:
    """The engine is loaded (first item of every run)."""

    info: ModelInfo
    device: str


@dataclass(frozen=True)
class StackChecked:
    """The engine's acceptance of the stack (second item of every run)."""

    stack_id: str
    acceptance: Acceptance


@dataclass(eq=False)
class StackRun:
    """One stack's streamed results, filled in the GUI thread."""

    stack_id: str
    series_uid: str
    n_slices: int
    probabilities: np.ndarray  # (n, 6) float32, NaN until computed
    cams: dict[str, np.ndarray] = field(default_factory=dict)  # label -> (n, h, w) float16
    affines: np.ndarray | None = None  # (n, 2, 3) CAM cell -> image pixel
    done: np.ndarray | None = None  # (n,) bool
    acceptance: Acceptance | None = None
    started_s: float = 0.0
    seconds: float = 0.0
    findings: StackFindings | None = None  # set when complete (or refused)

    @classmethod
    def new(cls, volume: Volume) -> StackRun:
        n = volume.n_slices
        return cls(
            stack_id=volume.stack_id,
            series_uid=volume.series_uid,
            n_slices=n,
            probabilities=np.full((n, len(LABELS)), np.nan, np.float32),
            done=np.zeros(n, bool),
            started_s=time.perf_counter(),
        )

    @property
    def n_done(self) -> int:
        return int(self.done.sum()) if self.done is not None else 0

    @property
    def complete(self) -> bool:
        return self.findings is not None

    def max_any(self) -> float | None:
        values = self.probabilities[:, 0]
        finite = values[np.isfinite(values)]
        return float(finite.max()) if finite.size else None

    def add(self, result: SliceResult) -> None:
        i = int(result.index)
        self.probabilities[i] = [result.probabilities[label] for label in LABELS]
        maps = dict(result.subtype_cams)
        if result.cam is not None:
            maps["any"] = result.cam
        for label, cam in maps.items():
            arr = self.cams.get(label)
            if arr is None:
                arr = self.cams[label] = np.zeros((self.n_slices, *np.shape(cam)), np.float16)
            arr[i] = cam
        if result.to_image is not None:
            if self.affines is None:
                self.affines = np.full((self.n_slices, 2, 3), np.nan)
            self.affines[i] = np.asarray(result.to_image, np.float64).reshape(2, 3)
        assert self.done is not None
        self.done[i] = True

    def affine(self, index: int) -> np.ndarray | None:
        if self.affines is None or not np.all(np.isfinite(self.affines[index])):
            return None
        return self.affines[index]


def _with_cam_affine(engine: Any, volume: Volume, result: SliceResult) -> SliceResult:
    """The result with its CAM placement filled in when the engine left it out (None)."""
    if result.cam is None or result.to_image is not None:
        return result
    from inference.preprocess import make_inputs
    from viewer.report.images import cam_cell_affine

    config = engine.config
    prepared = make_inputs(volume.hu, volume.positions_mm, volume.pixel_spacing_mm, config, indices=[result.index])
    affine = cam_cell_affine(prepared.to_image[0], config.image_size, tuple(np.shape(result.cam)))
    return replace(result, to_image=affine)


class AiAssist(QtCore.QObject):
    """The AI features of the viewer, attached to a MainWindow (see the module docstring).

    Signals: `inference_started(stack_id)`, `result_shown(stack_id, index)` (one slice's result is on
    screen), `inference_finished(stack_id)` (all slices done, or the stack refused: findings shown),
    `export_finished(list[str])`, `export_failed(str)`.
    """

    inference_started = QtCore.Signal(str)
    result_shown = QtCore.Signal(str, int)
    inference_finished = QtCore.Signal(str)
    export_finished = QtCore.Signal(list)
    export_failed = QtCore.Signal(str)

    def __init__(
        self,
        window: QtWidgets.QMainWindow,
        *,
        weights: Path | str | None = None,
        device: str | None = None,
        threads: int | None = None,
        batch_size: int = BATCH_SIZE,
        warm_up: bool = True,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.view = window.slice_view  # type: ignore[attr-defined]
        self._weights = weights
        self._device = device
        self._threads = default_threads() if threads is None else int(threads)
        self._batch_size = int(batch_size)
        self._engine: Any = None
        self.worker_torch_threads = 0  # torch CPU threads seen by the last inference worker
        self._last_failure = ""
        self._engine_lock = threading.Lock()
        self._compute_lock = threading.Lock()  # one batch at a time, whichever job asks
        self._late_lock = threading.Lock()
        self._late_results = 0  # computed for a cancelled run, never sent (worker side)
        self._stale_results = 0  # arrived for a stack no longer shown (GUI side)
        self._jobs: list[Job] = []
        self._runs: dict[str, StackRun] = {}
        self._current: StackRun | None = None
        self._tree: StudyTree | None = getattr(window, "tree", None)
        self._pending_jump: tuple[str, int] | None = None
        # Own job slots, not the window's: the window's "is loading" (and its Cancel button) stay
        # about loading images, and a long AI run never holds up what waits for a study to load.
        self._slot = JobSlot(self)
        self._warm_slot = JobSlot(self)
        self._export_slot = JobSlot(self)
        self._last_export_dir = ""
        settings = window.settings  # type: ignore[attr-defined]
        self._label = settings.heatmap_label if settings.heatmap_label in LABELS else "any"

        self._build_widgets(settings)
        self._build_actions(settings)
        window.installEventFilter(self)
        window.study_opened.connect(self._on_study_opened)  # type: ignore[attr-defined]
        window.stack_changed.connect(self._on_stack_changed)  # type: ignore[attr-defined]
        window.volume_loaded.connect(self._on_volume_loaded)  # type: ignore[attr-defined]
        self.view.index_changed.connect(self._on_index_changed)
        self.view.volume_changed.connect(self._on_view_volume_changed)
        if window.current_volume is not None:  # type: ignore[attr-defined]
            self._on_volume_loaded(window.current_volume)  # type: ignore[attr-defined]
        elif warm_up:
            self._start_warm_up()

    # =============================================================================== public
    @property
    def engine(self) -> Any:
        """The loaded inference engine (None until the first run or warm-up loaded it)."""
        return self._engine

    @property
    def threads(self) -> int:
        """The torch CPU threads the model runs on (all cores but one by default)."""
        return self._threads

    @property
    def dropped_results(self) -> int:
        """Per-slice results that belonged to a stack no longer shown and were dropped."""
        with self._late_lock:
            late = self._late_results
        return late + self._stale_results + sum(job.dropped for job in self._jobs)

    @property
    def current_run(self) -> StackRun | None:
        """The shown stack's results so far (None when the AI has not run on it)."""
        return self._current

    def job(self) -> Job | None:
        """The running inference job, if any."""
        return self._slot.job

    def is_running(self) -> bool:
        job = self.job()
        return job is not None and job.is_running()

    def stack_findings(self, stack_id: str) -> StackFindings | None:
        run = self._runs.get(stack_id)
        return None if run is None else run.findings

    def study_findings(self) -> StudyFindings | None:
        """Every finished stack of the study, and what was not analysed with the reason."""
        done = [r.findings for r in self._runs.values() if r.findings is not None]
        if not done:
            return None
        not_analysed: list[NotAnalysed] = []
        tree = self._tree
        if tree is not None:
            for stack in tree.stacks():
                if stack.stack_id in self._runs and self._runs[stack.stack_id].findings is not None:
                    continue
                not_analysed.append(
                    NotAnalysed(
                        reason=_pre_reason(stack) or NOT_OPENED_REASON,
                        series_uid=stack.series_uid,
                        stack_id=stack.stack_id,
                        description=stack.description,
                        modality=stack.modality,
                        n_slices=stack.n_slices,
                    )
                )
            not_analysed += [NotAnalysed(reason=s.reason, path=str(s.path)) for s in tree.skipped]
        engine = self._engine
        return summarize_study(
            done,
            not_analysed,
            model=engine.info if engine is not None else None,
            device=engine.device if engine is not None else "",
        )

    def run(self) -> Job | None:
        """Run the AI on the shown stack (Run AI); returns the job, None when nothing is shown."""
        volume = self.window.current_volume  # type: ignore[attr-defined]
        if volume is None:
            self.window.statusBar().showMessage("Open a series first, then run the AI", 5000)
            return None
        return self._start(volume)

    def cancel(self) -> None:
        """Stop the running inference (its late results are dropped)."""
        self._slot.cancel()

    def next_above(self) -> None:
        """N: the next slice at or above the operating threshold."""
        self._jump(self.strip.next_above(self.view.index, self._label), "later")

    def previous_above(self) -> None:
        """Shift+N: the previous slice at or above the operating threshold."""
        self._jump(self.strip.previous_above(self.view.index, self._label), "earlier")

    def set_label(self, label: str) -> None:
        """Show one label's probabilities and heatmap: "any" or a subtype."""
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}: use one of {', '.join(LABELS)}")
        self._label = label
        blocker = QtCore.QSignalBlocker(self.label_combo)
        self.label_combo.setCurrentIndex(LABELS.index(label))
        del blocker
        self.strip.set_label(label)
        self.overlay.set_label(label)
        self._restore_overlay()
        self._update_readout()
        self._remember(heatmap_label=label)

    def set_heatmap_visible(self, visible: bool) -> None:
        """Heatmap on or off (H)."""
        self.overlay.set_visible(visible)
        blocker = QtCore.QSignalBlocker(self.heatmap_action)
        self.heatmap_action.setChecked(bool(visible))
        del blocker
        self._remember(heatmap_visible=bool(visible))

    def set_opacity(self, opacity: float) -> None:
        """Heatmap opacity 0..1."""
        self.overlay.set_opacity(opacity)
        blocker = QtCore.QSignalBlocker(self.opacity_slider)
        self.opacity_slider.setValue(int(round(opacity * 100)))
        del blocker
        self._remember(heatmap_opacity=float(opacity))

    def set_display_threshold(self, threshold: float) -> None:
        """Hide heatmap values below this (picture only; the verdict keeps the model's threshold)."""
        self.overlay.set_display_threshold(threshold)
        blocker = QtCore.QSignalBlocker(self.threshold_slider)
        self.threshold_slider.setValue(int(round(threshold * 100)))
        del blocker
        self.threshold_value.setText(f"{threshold:.2f}")
        self._remember(heatmap_threshold=float(threshold))

    def export_findings(self) -> Job | None:
        """File > Export findings…: choose a file, then write PDF and/or JSON in a worker, atomically."""
        study = self.study_findings()
        if study is None:
            self.window.statusBar().showMessage("Nothing to export yet: the AI has not finished a series", 5000)
            return None
        start = self._last_export_dir or str(Path.home())
        suggested = str(Path(start) / _suggested_name(study))
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Export AI findings", suggested, ";;".join(EXPORT_FILTERS), EXPORT_FILTERS[0]
        )
        if not path:
            return None
        targets = _export_targets(Path(path), chosen)
        problem = self._export_problem(targets)
        if problem:
            self.window.report_error(_export_error(targets[0], problem), context="export")  # type: ignore[attr-defined]
            self.export_failed.emit(problem)
            return None
        self._last_export_dir = str(Path(path).parent)
        job = Job("export", "", lambda _cancel, s=study, t=tuple(targets): _export(s, t), self)
        job.item_ready.connect(self._on_exported)
        job.failed.connect(self._on_export_failed)
        self.window.statusBar().showMessage("Exporting findings…")
        return self._export_slot.replace(job)

    def shutdown(self, timeout_s: float = 20.0) -> bool:
        """Cancel inference, let a running export finish, and join every thread of this controller."""
        ok = self._export_slot.job is None or self._export_slot.job.wait(timeout_s)
        for slot in (self._slot, self._warm_slot, self._export_slot):
            ok = slot.shutdown(timeout_s) and ok
        return ok

    def is_warming_up(self) -> bool:
        """Whether the engine is still being loaded in the background."""
        return self._warm_slot.is_busy()

    # ============================================================================ building
    def _build_widgets(self, settings: Any) -> None:
        w = self.window
        self.overlay = HeatmapOverlay(self.view)
        self.overlay.set_opacity(settings.heatmap_opacity)
        self.overlay.set_display_threshold(settings.heatmap_threshold)
        self.overlay.set_visible(settings.heatmap_visible)
        self.overlay.set_label(self._label)
        self.overlay.set_colormap(DEFAULT_COLORMAP)

        self.strip = ProbabilityStrip()
        self.strip.set_label(self._label)
        self.strip.slice_clicked.connect(self.view.set_index)
        self.verdict_label = QtWidgets.QLabel("")
        self.verdict_label.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.verdict_label.setAccessibleName("AI verdict")
        font = self.verdict_label.font()
        font.setBold(True)
        self.verdict_label.setFont(font)
        self.readout_label = QtWidgets.QLabel("")
        self.readout_label.setAccessibleName("AI probability of this slice")
        self.readout_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        self.readout_label.setMinimumWidth(self.readout_label.fontMetrics().horizontalAdvance(
            "Slice 888 / 888: P(intraparenchymal) 0.00 (≥ operating threshold 0.00)") + 8)
        self._marker_timer = QtCore.QTimer(self)
        self._marker_timer.setSingleShot(True)
        self._marker_timer.setInterval(MARKER_MS)
        self._marker_timer.timeout.connect(self._move_marker)
        strip_box = QtWidgets.QWidget()
        box = QtWidgets.QVBoxLayout(strip_box)
        box.setContentsMargins(4, 2, 4, 2)
        box.setSpacing(2)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.verdict_label, 1)
        top.addWidget(self.readout_label)
        box.addLayout(top)
        box.addWidget(self.strip, 1)
        strip_box.setMinimumHeight(130)
        self.strip_dock = w.add_dock("AI probability", strip_box, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)  # type: ignore[attr-defined]
        self.panel = FindingsPanel()
        self.panel.setMinimumWidth(340)
        self.panel.slice_activated.connect(self._on_panel_slice)
        self.panel_dock = w.add_dock("AI findings", self.panel, QtCore.Qt.DockWidgetArea.RightDockWidgetArea)  # type: ignore[attr-defined]
        if getattr(w, "tag_dock", None) is not None:
            w.tabifyDockWidget(self.panel_dock, w.tag_dock)  # type: ignore[attr-defined]
            self.panel_dock.raise_()

        self.status_label = QtWidgets.QLabel("")
        self.status_label.setAccessibleName("AI status")
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setFormat("AI %v / %m")
        self.progress.setVisible(False)
        w.statusBar().addPermanentWidget(self.status_label)
        w.statusBar().addPermanentWidget(self.progress)
        self._show_idle("AI: no series analysed yet")

    def _build_actions(self, settings: Any) -> None:
        w = self.window
        self.run_action = QtGui.QAction("Run &AI", w)
        self.run_action.setToolTip("Run the hemorrhage AI on the shown series (research and triage aid, not a diagnosis)")
        self.run_action.setShortcut(QtGui.QKeySequence("Ctrl+R"))
        self.run_action.triggered.connect(self.run)
        self.heatmap_action = QtGui.QAction("&Heatmap", w)
        self.heatmap_action.setCheckable(True)
        self.heatmap_action.setChecked(settings.heatmap_visible)
        self.heatmap_action.setShortcut(QtGui.QKeySequence("H"))
        self.heatmap_action.setToolTip("Show where the model looked, on blood-density pixels (40-100 HU) inside the skull (H)")
        self.heatmap_action.toggled.connect(self.set_heatmap_visible)
        self.next_action = QtGui.QAction("&Next slice at or above threshold", w)
        self.next_action.setShortcut(QtGui.QKeySequence("N"))
        self.next_action.triggered.connect(self.next_above)
        self.prev_action = QtGui.QAction("&Previous slice at or above threshold", w)
        self.prev_action.setShortcut(QtGui.QKeySequence("Shift+N"))
        self.prev_action.triggered.connect(self.previous_above)
        self.export_action = QtGui.QAction("&Export findings…", w)
        self.export_action.setShortcut(QtGui.QKeySequence("Ctrl+E"))
        self.export_action.setToolTip("Write the AI findings as a PDF report and/or JSON")
        self.export_action.setEnabled(False)
        self.export_action.triggered.connect(self.export_findings)
        self.cancel_action = QtGui.QAction("&Stop AI", w)
        self.cancel_action.triggered.connect(self.cancel)

        for action in (self.run_action, self.cancel_action, self.heatmap_action, self.next_action, self.prev_action):
            w.add_action("&AI", action)  # type: ignore[attr-defined]
        self._move_menu_before("AI", "Help")
        ai_menu = self._menu("AI")
        if ai_menu is not None:
            colours = ai_menu.addMenu("Heatmap &colours")
            group = QtGui.QActionGroup(colours)
            self.colormap_actions: dict[str, QtGui.QAction] = {}
            for name in COLORMAPS:
                action = colours.addAction(COLORMAP_NAMES.get(name, name))
                action.setCheckable(True)
                action.setChecked(name == DEFAULT_COLORMAP)
                action.triggered.connect(lambda _=False, n=name: self.overlay.set_colormap(n))
                group.addAction(action)
                self.colormap_actions[name] = action
        file_menu = self._menu("File")
        if file_menu is not None:
            quit_action = getattr(w, "quit_action", None)
            anchor = _separator_before(file_menu, quit_action)
            file_menu.insertAction(anchor, self.export_action)
            w.addAction(self.export_action)
        else:
            w.add_action("File", self.export_action)  # type: ignore[attr-defined]

        tb = w.addToolBar("AI")
        tb.setObjectName("toolbar_ai")
        self.toolbar = tb
        tb.addAction(self.run_action)
        tb.addAction(self.heatmap_action)
        self.label_combo = QtWidgets.QComboBox()
        self.label_combo.setAccessibleName("Label shown")
        self.label_combo.setToolTip("Which probability the strip and the heatmap show")
        self.label_combo.addItems([LABEL_NAMES[label] for label in LABELS])
        self.label_combo.setCurrentIndex(LABELS.index(self._label))
        self.label_combo.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
        self.label_combo.currentIndexChanged.connect(lambda i: self.set_label(LABELS[i]))
        tb.addWidget(self.label_combo)
        tb.addWidget(QtWidgets.QLabel(" Opacity "))
        self.opacity_slider = _slider("Heatmap opacity", settings.heatmap_opacity)
        self.opacity_slider.valueChanged.connect(lambda v: self.set_opacity(v / 100.0))
        tb.addWidget(self.opacity_slider)
        tb.addWidget(QtWidgets.QLabel(" Show above "))
        self.threshold_slider = _slider(
            "Heatmap display threshold (picture only; the verdict uses the model's operating threshold)",
            settings.heatmap_threshold,
        )
        self.threshold_slider.valueChanged.connect(lambda v: self.set_display_threshold(v / 100.0))
        tb.addWidget(self.threshold_slider)
        self.threshold_value = QtWidgets.QLabel(f"{settings.heatmap_threshold:.2f}")
        self.threshold_value.setMinimumWidth(30)
        tb.addWidget(self.threshold_value)

    def _menu(self, name: str) -> QtWidgets.QMenu | None:
        for action in self.window.menuBar().actions():
            menu = action.menu()
            if menu is not None and action.text().replace("&", "") == name:
                return menu
        return None

    def _move_menu_before(self, name: str, before: str) -> None:
        bar = self.window.menuBar()
        moving = self._menu(name)
        anchor = self._menu(before)
        if moving is None or anchor is None:
            return
        bar.removeAction(moving.menuAction())
        bar.insertMenu(anchor.menuAction(), moving)

    def _start_warm_up(self) -> None:
        """Load the engine in the background so the first study's results come sooner."""

        def load(_cancel: threading.Event) -> Iterator[object]:
            try:
                self._load_engine()
            except Exception as exc:  # noqa: BLE001 (reported when the user runs the AI)
                _log.warning("model not loaded at start: %s", type(exc).__name__)
            return iter(())

        job = Job(WARMUP_KIND, "", load, self)
        self._jobs.append(job)
        self._warm_slot.replace(job)

    # ============================================================================ running
    def _load_engine(self) -> Any:
        with self._engine_lock:
            if self._engine is None:
                from inference.predict import Engine

                self._engine = Engine.load(self._weights, device=self._device, threads=self._threads)
                _log.info("model loaded on %s", self._engine.device)
            return self._engine

    def _start(self, volume: Volume) -> Job:
        run = StackRun.new(volume)
        self._runs[volume.stack_id] = run
        self._current = run
        self.overlay.set_slice_cams({})
        threshold = self._engine.threshold if self._engine is not None else 0.5
        self.strip.reset(volume.n_slices, threshold)
        self.strip.set_current(self.view.index)
        self.panel.clear(f"Analysing {volume.n_slices} slices…")
        self.progress.setRange(0, volume.n_slices)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self._update_status()
        self._update_readout()
        job = Job(JOB_KIND, volume.stack_id, lambda cancel, v=volume: self._generate(v, cancel), self)
        job.item_ready.connect(lambda item, sid=volume.stack_id: self._on_item(sid, item))
        job.failed.connect(lambda exc, sid=volume.stack_id: self._on_failed(sid, exc))
        job.finished.connect(lambda cancelled, sid=volume.stack_id: self._on_finished(sid, cancelled))
        self._jobs.append(job)
        self._slot.replace(job)
        self.inference_started.emit(volume.stack_id)
        return job

    def _generate(self, volume: Volume, cancel: threading.Event) -> Iterator[object]:
        """Worker side: load the engine, check the stack, stream per-slice results."""
        engine = self._load_engine()
        # torch's CPU thread count is per calling thread once torch is initialised: cap it here, in
        # the thread that runs the model, so the GUI keeps its core.
        import torch

        from inference.device import set_threads

        set_threads(self._threads)
        self.worker_torch_threads = torch.get_num_threads()
        yield EngineReady(engine.info, engine.device)
        acceptance = engine.check(volume)
        yield StackChecked(volume.stack_id, acceptance)
        if not acceptance.accepted or cancel.is_set():
            return
        results = engine.iter_predict(
            volume, cams=True, cam_labels=LABELS, batch_size=self._batch_size, cancel=cancel
        )
        while True:
            with self._compute_lock:
                result = next(results, None)
                if result is not None and not cancel.is_set():
                    result = _with_cam_affine(engine, volume, result)
            if result is None:
                return
            if cancel.is_set():
                # Computed for a stack no longer shown: never sent, counted. The rest of this batch
                # is drained (already computed); the engine stops before the next batch.
                with self._late_lock:
                    self._late_results += 1
                continue
            yield result

    def _on_item(self, stack_id: str, item: object) -> None:
        run = self._current
        if run is None or run.stack_id != stack_id or self._runs.get(stack_id) is not run:
            if isinstance(item, SliceResult):
                self._stale_results += 1
            return
        if isinstance(item, EngineReady):
            run.started_s = time.perf_counter()  # the time taken counts from a loaded model
            if abs(self.strip.threshold - item.info.threshold) > 1e-9:
                self.strip.reset(run.n_slices, item.info.threshold)
                self.strip.set_current(self.view.index)
            return
        if isinstance(item, StackChecked):
            run.acceptance = item.acceptance
            if not item.acceptance.accepted:
                self.panel.set_status(f"Not analysed: {item.acceptance.reason}")
            return
        if not isinstance(item, SliceResult):
            return
        volume = self.view.volume
        if item.stack_id != stack_id or volume is None or volume.stack_id != stack_id or item.series_uid != volume.series_uid:
            self._stale_results += 1
            return
        run.add(item)
        self.strip.update_slice(item.index, item.probabilities)
        cam = run.cams.get(self._label)
        if cam is not None:
            self.overlay.add_slice_cam(item.index, cam[item.index], to_image=run.affine(item.index))
        self.progress.setValue(run.n_done)
        self.panel.set_status(f"Analysing… {run.n_done} / {run.n_slices} slices")
        if item.index == self.view.index:
            self.strip.flush()
        self._update_status()
        self._update_readout()
        self.result_shown.emit(stack_id, int(item.index))

    def _on_failed(self, stack_id: str, exc: object) -> None:
        run = self._runs.get(stack_id)
        if run is not None and run.findings is None:
            del self._runs[stack_id]
        if self._current is run:
            self._current = None
        self.progress.setVisible(False)
        self.panel.clear(f"The AI could not run: {exc}")
        self._show_idle("AI: not run (error)")
        if isinstance(exc, BaseException):
            # The same failure again (e.g. a missing model file, each time a series opens) goes to
            # the panel and the status line only, not into another message box.
            if str(exc) != self._last_failure:
                self.window.report_error(exc, context="ai")  # type: ignore[attr-defined]
            self._last_failure = str(exc)

    def _on_finished(self, stack_id: str, cancelled: bool) -> None:
        run = self._runs.get(stack_id)
        if cancelled or run is None:
            return
        volume = self.view.volume
        self.progress.setVisible(False)
        if volume is None or volume.stack_id != stack_id:
            return
        engine = self._engine
        run.seconds = time.perf_counter() - run.started_s
        acceptance = run.acceptance or Acceptance(False, "the engine gave no answer")
        if acceptance.accepted and run.n_done < run.n_slices:
            self._on_failed(stack_id, RuntimeError(f"the AI stopped after {run.n_done} of {run.n_slices} slices"))
            return
        analysis = StackAnalysis(
            series_uid=volume.series_uid,
            stack_id=stack_id,
            acceptance=acceptance,
            model=None if engine is None else engine.info,
            device="" if engine is None else engine.device,
            seconds=run.seconds,
            probabilities=run.probabilities if acceptance.accepted else np.zeros((0, len(LABELS)), np.float32),
            cams=run.cams.get("any") if acceptance.accepted else None,
        )
        findings = summarize_stack(volume, analysis)
        if findings.analysed and run.affines is not None:
            affines = {k.index: run.affines[k.index] for k in findings.key_slices if run.affine(k.index) is not None}
            findings = attach_cam_affines(findings, affines)
        run.findings = findings
        study = self.study_findings()
        if study is not None:
            self.panel.set_findings(study)
        elif not findings.analysed:
            self.panel.clear(f"Not analysed: {findings.reason}")
        self.export_action.setEnabled(study is not None)
        self.strip.flush()
        self._update_status()
        self._update_readout()
        self.inference_finished.emit(stack_id)

    # ============================================================================ reacting
    def _on_study_opened(self, tree: StudyTree) -> None:
        self.cancel()
        self._tree = tree
        self._runs.clear()
        self._current = None
        self._pending_jump = None
        self.export_action.setEnabled(False)
        self.strip.reset(0, self.strip.threshold)
        self.panel.clear("No AI analysis yet.")
        self._show_idle("AI: waiting for the series to load")

    def _on_stack_changed(self, stack_id: str) -> None:
        self.cancel()
        self._current = None
        self.progress.setVisible(False)
        self.overlay.set_slice_cams({})
        self.strip.reset(0, self.strip.threshold)
        self._show_idle("AI: waiting for the series to load")
        self._update_readout()

    def _on_volume_loaded(self, volume: Volume) -> None:
        run = self._runs.get(volume.stack_id)
        if run is not None and run.complete and run.n_slices == volume.n_slices:
            self._show_run(run)
        elif self.window.settings.auto_run_ai:  # type: ignore[attr-defined]
            self._start(volume)
        else:
            self._current = None
            self.strip.reset(volume.n_slices, self.strip.threshold)
            self._show_idle("AI: not run on this series (Run AI, Ctrl+R)")
        if self._pending_jump is not None and self._pending_jump[0] == volume.stack_id:
            self.view.set_index(self._pending_jump[1])
            self._pending_jump = None

    def _show_run(self, run: StackRun) -> None:
        """Show a finished stack's results again (coming back to a series)."""
        self._current = run
        threshold = run.findings.threshold if run.findings is not None and run.findings.threshold is not None else self.strip.threshold
        self.strip.reset(run.n_slices, threshold)
        for i in np.nonzero(run.done)[0] if run.done is not None else ():
            self.strip.update_slice(int(i), dict(zip(LABELS, (float(v) for v in run.probabilities[i]))))
        self.strip.flush()
        self.strip.set_current(self.view.index)
        self._restore_overlay()
        study = self.study_findings()
        if study is not None:
            self.panel.set_findings(study)
        elif run.findings is not None and not run.findings.analysed:
            self.panel.clear(f"Not analysed: {run.findings.reason}")
        self._update_status()
        self._update_readout()

    def _restore_overlay(self) -> None:
        run = self._current
        if run is None or run.done is None:
            self.overlay.set_slice_cams({})
            return
        cams = run.cams.get(self._label)
        if cams is None:
            self.overlay.set_slice_cams({})
            return
        done = [int(i) for i in np.nonzero(run.done)[0]]
        self.overlay.set_slice_cams(
            {i: cams[i] for i in done}, {i: a for i in done if (a := run.affine(i)) is not None}
        )

    def _on_index_changed(self, index: int) -> None:
        self._update_readout()
        # The strip's marker follows at most every MARKER_MS: repainting the plot costs several ms,
        # which scrolling through a series should not pay on every slice.
        if not self._marker_timer.isActive():
            self._marker_timer.start()

    def _move_marker(self) -> None:
        self.strip.set_current(self.view.index if self.view.volume is not None else None)

    def _on_view_volume_changed(self, volume: object) -> None:
        if volume is None or (self._current is not None and getattr(volume, "stack_id", "") != self._current.stack_id):
            self._update_readout()

    def _on_panel_slice(self, stack_id: str, index: int) -> None:
        volume = self.view.volume
        if volume is not None and volume.stack_id == stack_id:
            self.view.set_index(index)
            return
        self._pending_jump = (stack_id, index)
        self.window.show_stack(stack_id)  # type: ignore[attr-defined]

    def _jump(self, index: int | None, where: str) -> None:
        if self._current is None:
            self.window.statusBar().showMessage("The AI has not run on this series", 4000)
            return
        if index is None:
            self.window.statusBar().showMessage(
                f"No {where} slice at or above the operating threshold ({LABEL_NAMES[self._label]})", 4000
            )
            return
        self.view.set_index(index)

    def _remember(self, **changes: object) -> None:
        w = self.window
        w.settings = w.settings.with_changes(**changes)  # type: ignore[attr-defined]

    # ============================================================================ words
    def _verdict_now(self) -> tuple[str, bool | None]:
        """(text, suspected) for the shown stack; suspected None while undecided or not analysed."""
        run = self._current
        if run is None:
            return "", None
        if run.findings is not None and not run.findings.analysed:
            return f"Not analysed: {run.findings.reason}", None
        if run.acceptance is not None and not run.acceptance.accepted:
            return f"Not analysed: {run.acceptance.reason}", None
        best = run.max_any()
        threshold = self.strip.threshold
        if run.findings is not None:
            return run.findings.verdict_text, run.findings.ich_suspected
        if best is not None and best >= threshold:
            return f"{VERDICT_POSITIVE} (analysing {run.n_done} / {run.n_slices})", True
        return f"Analysing {run.n_done} / {run.n_slices} slices…", None

    def _update_status(self) -> None:
        text, suspected = self._verdict_now()
        if not text:
            return
        symbol = "⚠ " if suspected else ("✓ " if suspected is False else "")
        self.verdict_label.setText(f"{symbol}{text} — {SHORT_HONEST_USE}")
        self.verdict_label.setToolTip(HONEST_USE)
        dark = self.verdict_label.palette().window().color().lightness() < 128
        positive, negative = ("#ffb347", "#9fd3ff") if dark else ("#b04a00", "#1f5f9f")
        colour = positive if suspected else (negative if suspected is False else "")
        self.verdict_label.setStyleSheet(f"QLabel {{ color: {colour}; }}" if colour else "")
        self.status_label.setText(f"AI: {symbol}{text.split(' (')[0] if suspected else text} · not a diagnosis")
        self.status_label.setToolTip(HONEST_USE)

    def _show_idle(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setToolTip(HONEST_USE)
        self.verdict_label.setText(f"{text.removeprefix('AI: ')} — {SHORT_HONEST_USE}")
        self.verdict_label.setStyleSheet("")

    def _update_readout(self) -> None:
        run = self._current
        volume = self.view.volume
        if run is None or volume is None or volume.stack_id != run.stack_id:
            self.readout_label.setText("")
            return
        i = self.view.index
        if run.acceptance is not None and not run.acceptance.accepted:
            self.readout_label.setText(f"Slice {i + 1} / {run.n_slices}: not analysed")
            return
        k = LABELS.index(self._label)
        value = run.probabilities[i, k] if 0 <= i < run.n_slices else np.nan
        name = f"P({self._label})"
        if not np.isfinite(value):
            self.readout_label.setText(f"Slice {i + 1} / {run.n_slices}: {name} pending")
            return
        mark = "≥" if value >= self.strip.threshold else "<"
        self.readout_label.setText(
            f"Slice {i + 1} / {run.n_slices}: {name} {value:.2f} ({mark} operating threshold {self.strip.threshold:.2f})"
        )

    # ============================================================================ export
    def _export_problem(self, targets: Sequence[Path]) -> str:
        study_dirs: set[Path] = set()
        tree = self._tree
        if tree is not None:
            for stack in tree.stacks():
                for sl in stack.slices[:1]:
                    study_dirs.add(Path(sl.path).resolve().parent)
        for target in targets:
            resolved = target.resolve()
            for folder in study_dirs:
                if resolved == folder or folder in resolved.parents:
                    return "it lies inside the study folder; ichview never writes into a study folder (choose another folder)"
        return ""

    def _on_exported(self, paths: object) -> None:
        names = [str(p) for p in paths]  # type: ignore[union-attr]
        self.window.statusBar().showMessage("Exported " + ", ".join(Path(n).name for n in names), 8000)
        self.export_finished.emit(names)

    def _on_export_failed(self, exc: object) -> None:
        self.window.statusBar().clearMessage()
        if isinstance(exc, BaseException):
            self.window.report_error(exc, context="export")  # type: ignore[attr-defined]
        self.export_failed.emit(str(exc))

    # ============================================================================ Qt
    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        if watched is self.window and event.type() == QtCore.QEvent.Type.Close:
            self.shutdown()
        return False


# ================================================================================= helpers
def _slider(tip: str, value: float) -> QtWidgets.QSlider:
    s = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
    s.setRange(0, 100)
    s.setValue(int(round(value * 100)))
    s.setMaximumWidth(110)
    s.setToolTip(tip)
    s.setAccessibleName(tip.split(" (")[0])
    s.setFocusPolicy(QtCore.Qt.FocusPolicy.TabFocus)
    return s


def _separator_before(menu: QtWidgets.QMenu, action: QtGui.QAction | None) -> QtGui.QAction | None:
    """The separator just above `action` in `menu` (or `action` itself), to insert before it."""
    actions = menu.actions()
    if action is None or action not in actions:
        return None
    i = actions.index(action)
    return actions[i - 1] if i > 0 and actions[i - 1].isSeparator() else action


def _pre_reason(stack: Stack) -> str:
    """Why a stack is never given to the engine ('' when it is): see acceptance.header_rejection."""
    from inference.acceptance import header_rejection

    return header_rejection(stack.modality, stack.is_localizer)


def _suggested_name(study: StudyFindings) -> str:
    meta = study.studies[0] if study.studies else None
    stamp = study.generated_at.strftime("%Y%m%d-%H%M")
    pid = "".join(ch for ch in (meta.patient_id if meta else "") if ch.isalnum() or ch in "-_")[:32]
    return f"ich-findings-{pid + '-' if pid else ''}{stamp}.pdf"


def _export_targets(path: Path, chosen_filter: str) -> list[Path]:
    """The files to write for a chosen name and filter: PDF, JSON or both (same stem)."""
    suffix = path.suffix.lower()
    if chosen_filter == EXPORT_FILTERS[2] or (suffix == ".json" and chosen_filter != EXPORT_FILTERS[0]):
        return [path.with_suffix(".json") if suffix != ".json" else path]
    pdf = path.with_suffix(".pdf") if suffix not in (".pdf",) else path
    if chosen_filter == EXPORT_FILTERS[1]:
        return [pdf]
    return [pdf, pdf.with_suffix(".json")]


def _export_error(path: Path, reason: str) -> Exception:
    from viewer.core.atomic import ExportError

    return ExportError(path, reason)


def _export(study: StudyFindings, targets: Sequence[Path]) -> Iterator[list[str]]:
    """Worker side: render every file in memory, then write each atomically; on a failure remove
    the files this export already wrote, so nothing partial is left behind."""
    from viewer.core.atomic import write_files_atomic
    from viewer.report.json_report import findings_json_bytes
    from viewer.report.pdf import build_findings_pdf

    rendered: list[tuple[Path, bytes]] = []
    for target in targets:
        if target.suffix.lower() == ".json":
            rendered.append((target, findings_json_bytes(study)))
        else:
            buf = io.BytesIO()
            build_findings_pdf(study, buf)
            rendered.append((target, buf.getvalue()))
    write_files_atomic(rendered)
    yield [str(t) for t in targets]
