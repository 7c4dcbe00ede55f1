"""The AI assist attached to the main window: run the hemorrhage model, show and export what it saw.

`AiAssist(window)` adds to a `MainWindow` (through its public extension points only):

* docks: the per-slice probability strip (bottom, with the verdict in words and the current slice's
  probability above it) and the findings panel (right);
* the Grad-CAM heatmap over the slice view, with its colour bar;
* an "AI" toolbar and menu: Run AI, heatmap on/off (H), the label shown (any or a subtype), heatmap
  opacity and display threshold sliders, N / Shift+N (next / previous slice at or above the model's
  operating threshold); File > Export findings… (PDF and/or JSON, written off the GUI thread,
  atomically);
* a status-bar line with the verdict and the honest-use reminder, and an inference progress bar;
* the second reader (BLAST-CT, `ai_second`): run after the first finishes a stack, its lesions drawn
  over the slice (`lesion_overlay`, L), its blood slices marked on the strip, its volumes in the
  panel, its progress in the status bar; the verdict is provisional until it has read the stack.

When a stack becomes the shown Volume, inference starts in a worker (`viewer.qt.workers`, job kind
"ai") unless the preference `auto_run_ai` is off. The engine is loaded once, in a worker, with torch
threads capped to leave the GUI a core. Results stream per slice into the strip, the heatmap and the
status line; at the end the findings panel shows the stack's verdict (the model's stored operating
threshold decides, never the display threshold). Switching stacks or closing cancels the run;
results that arrive for a stack no longer shown are dropped and counted (`dropped_results`).
Finished stacks are remembered for the study, so coming back to one shows its results at once, and
the export covers every analysed stack (the others are listed as not analysed, with the reason).

This module is the coordinator (state per stack, reacting to the window, the words on screen); the
pieces it uses: `ai_controls` (docks, menu and toolbar), `ai_run` (readers and worker side, results
per stack), `ai_second` (the second reader's run and display), `ai_status` (verdict and readout
text), `ai_export` (export targets and writing).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from inference.labels import LABELS
from inference.results import Acceptance, SliceResult, StackAnalysis
from viewer.core.series import Stack, StudyTree
from viewer.core.volume import Volume
from viewer.qt.ai_controls import AiControlsMixin
from viewer.qt.ai_export import EXPORT_FILTERS, export_error, export_problem, export_targets, suggested_name, write_export
from viewer.qt.ai_run import (
    BATCH_SIZE,
    JOB_KIND,
    WARMUP_KIND,
    EngineHost,
    EngineReady,
    SecondReaderHost,
    StackChecked,
    StackRun,
    default_threads,
    verdict_rule,
)
from viewer.qt.ai_run import stack_findings as build_stack_findings
from viewer.qt.ai_second import AiSecondMixin
from viewer.qt.ai_status import SHORT_HONEST_USE, readout_text, verdict_now
from viewer.qt.workers import Job, JobSlot
from viewer.qt.series_browser import slices_text
from viewer.report.findings import (
    HONEST_USE,
    LABEL_NAMES,
    NotAnalysed,
    StackFindings,
    StudyFindings,
    summarize_study,
)

NOT_OPENED_REASON = "not analysed in this session (select the series in the viewer to run the AI)"


class AiAssist(AiSecondMixin, AiControlsMixin, QtCore.QObject):
    """The AI features of the viewer, attached to a MainWindow (see the module docstring).

    Signals: `inference_started(stack_id)`, `result_shown(stack_id, index)` (one slice's result is on
    screen), `inference_finished(stack_id)` (all slices done, or the stack refused: findings shown),
    `second_started(stack_id)`, `second_progressed(stack_id, done, total)`, `second_finished(stack_id)`
    (the second reading is shown, or the reader failed), `export_finished(list[str])`,
    `export_failed(str)`.

    `second_loader`: a callable returning the second reader (default: BLAST-CT's `SecondReader.load`
    on the same device and threads as the first reader).
    """

    inference_started = QtCore.Signal(str)
    result_shown = QtCore.Signal(str, int)
    inference_finished = QtCore.Signal(str)
    second_started = QtCore.Signal(str)
    second_progressed = QtCore.Signal(str, int, int)
    second_finished = QtCore.Signal(str)
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
        second_loader: Any = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.view = window.slice_view  # type: ignore[attr-defined]
        self._host = EngineHost(weights, device, default_threads() if threads is None else int(threads), int(batch_size))
        self._second_host = SecondReaderHost(device, self._host.threads, self._host.compute_lock, second_loader)
        self._last_failure = ""
        self._stale_results = 0  # arrived for a stack no longer shown (GUI side)
        self._stale_second = 0  # second-reader items that arrived for a stack no longer shown
        self._jobs: list[Job] = []
        self._runs: dict[str, StackRun] = {}
        self._current: StackRun | None = None
        self._tree: StudyTree | None = getattr(window, "tree", None)
        self._pending_jump: tuple[str, int] | None = None
        self._strip_wheel = 0
        # Own job slots, not the window's: the window's "is loading" (and its Cancel button) stay
        # about loading images, and a long AI run never holds up what waits for a study to load.
        self._slot = JobSlot(self)
        self._second_slot = JobSlot(self)
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
        return self._host.engine

    @property
    def worker_torch_threads(self) -> int:
        """Torch CPU threads seen by the last inference worker."""
        return self._host.worker_torch_threads

    @property
    def threads(self) -> int:
        """The torch CPU threads the model runs on (all cores but one by default)."""
        return self._host.threads

    @property
    def dropped_results(self) -> int:
        """Results (per-slice, second-reader progress and readings) that belonged to a stack no longer
        shown, or came after a cancel, and were dropped."""
        return (
            self._host.late_results + self._second_host.late_items + self._stale_results + self._stale_second
            + sum(job.dropped for job in self._jobs)
        )

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

    def _study_key(self, stack_id: str) -> tuple[str, str] | None:
        """(PatientID, StudyInstanceUID) of a stack of the opened tree (None when unknown)."""
        tree = self._tree
        if tree is None:
            return None
        for stack in tree.stacks():
            if stack.stack_id == stack_id:
                return stack.patient_id, stack.study_uid
        return None

    def study_findings(self, stack_id: str | None = None) -> StudyFindings | None:
        """The findings of one study of one patient: the study of `stack_id` (default: the series on
        screen): its finished stacks, and its stacks not analysed with the reason. Never a mix of
        studies; files the scan skipped are listed only when the opened folder holds one study."""
        sid = stack_id if stack_id is not None else getattr(self.window, "current_stack_id", "")
        if not sid and self._current is not None:
            sid = self._current.stack_id
        key = self._study_key(sid) if sid else None
        if key is None and self._tree is not None and sid:
            return None

        def ours(other: str) -> bool:
            return key is None or self._study_key(other) == key

        done = [r.findings for r in self._runs.values() if r.findings is not None and ours(r.stack_id)]
        if not done:
            return None
        not_analysed: list[NotAnalysed] = []
        tree = self._tree
        if tree is not None:
            keys = {(st.patient_id, st.study_uid) for st in tree.stacks()}
            for stack in tree.stacks():
                if not ours(stack.stack_id):
                    continue
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
            if len(keys) <= 1:
                not_analysed += [NotAnalysed(reason=s.reason, path=str(s.path)) for s in tree.skipped]
        engine = self._host.engine
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
        """Stop both readers on the shown stack (their late results are dropped)."""
        self._slot.cancel()
        self.cancel_second()

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
        suggested = str(Path(start) / suggested_name(study))
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Export AI findings", suggested, ";;".join(EXPORT_FILTERS), EXPORT_FILTERS[0]
        )
        if not path:
            return None
        targets = export_targets(Path(path), chosen)
        problem = export_problem(self._tree, targets)
        if problem:
            self.window.report_error(export_error(targets[0], problem), context="export")  # type: ignore[attr-defined]
            self.export_failed.emit(problem)
            return None
        self._last_export_dir = str(Path(path).parent)
        job = Job("export", "", lambda _cancel, s=study, t=tuple(targets): write_export(s, t), self)
        job.item_ready.connect(self._on_exported)
        job.failed.connect(self._on_export_failed)
        self.window.statusBar().showMessage("Exporting findings…")
        return self._export_slot.replace(job)

    def shutdown(self, timeout_s: float = 20.0) -> bool:
        """Cancel inference, let a running export finish, and join every thread of this controller."""
        ok = self._export_slot.job is None or self._export_slot.job.wait(timeout_s)
        for slot in (self._slot, self._second_slot, self._warm_slot, self._export_slot):
            ok = slot.shutdown(timeout_s) and ok
        return ok

    def is_warming_up(self) -> bool:
        """Whether the engine is still being loaded in the background."""
        return self._warm_slot.is_busy()

    def _start_warm_up(self) -> None:
        """Load the engine in the background so the first study's results come sooner."""
        job = Job(WARMUP_KIND, "", self._host.warm_up, self)
        self._jobs.append(job)
        self._warm_slot.replace(job)

    # ============================================================================ running
    def _start(self, volume: Volume, resume: StackRun | None = None) -> Job:
        """Run the first reader on `volume`; with `resume` (its unfinished run), only the slices it
        has not analysed yet, keeping and showing the ones it has."""
        self.cancel_second()
        if resume is not None and resume.resumable_for(volume):
            run = resume
            run.started_s = time.perf_counter()
            self._current = run
            self._show_partial(run)
            done = run.done.copy() if run.done is not None else None
        else:
            run = StackRun.new(volume)
            self._runs[volume.stack_id] = run
            self._current = run
            self.overlay.set_slice_cams({})
            self.lesions.set_labels(None)
            threshold = self._host.engine.threshold if self._host.engine is not None else 0.5
            self.strip.reset(volume.n_slices, threshold)
            self.strip.set_current(self.view.index)
            done = None
        self.panel.clear(f"Analysing {slices_text(volume.n_slices)}…" if done is None
                         else f"Analysing… {run.n_done} / {run.n_slices} slices (resumed)")
        self.progress.setRange(0, volume.n_slices)
        self.progress.setValue(run.n_done)
        self.progress.setVisible(True)
        self._update_status()
        self._update_readout()
        job = Job(JOB_KIND, volume.stack_id, lambda cancel, v=volume, d=done: self._host.generate(v, cancel, d), self)
        job.item_ready.connect(lambda item, sid=volume.stack_id: self._on_item(sid, item))
        job.failed.connect(lambda exc, sid=volume.stack_id: self._on_failed(sid, exc))
        job.finished.connect(lambda cancelled, sid=volume.stack_id: self._on_finished(sid, cancelled))
        self._jobs.append(job)
        self._slot.replace(job)
        self.inference_started.emit(volume.stack_id)
        return job

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
        engine = self._host.engine
        run.seconds = run.seconds_before + time.perf_counter() - run.started_s
        acceptance = run.acceptance or Acceptance(False, "the engine gave no answer")
        if acceptance.accepted and run.n_done < run.n_slices:
            self._on_failed(stack_id, RuntimeError(f"the AI stopped after {run.n_done} of {run.n_slices} slices"))
            return
        run.analysis = StackAnalysis(
            series_uid=volume.series_uid,
            stack_id=stack_id,
            acceptance=acceptance,
            model=None if engine is None else engine.info,
            device="" if engine is None else engine.device,
            seconds=run.seconds,
            probabilities=run.probabilities if acceptance.accepted else np.zeros((0, len(LABELS)), np.float32),
            cams=run.cams.get("any") if acceptance.accepted else None,
        )
        findings = build_stack_findings(volume, run, verdict_rule(engine))
        run.findings = findings
        self._after_first_reader(volume, run)
        study = self.study_findings()
        if study is not None:
            self.panel.set_findings(study, self._second_states())
            if run.second_status():
                self.panel.set_status(run.second_status())
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
        run = self._current
        if run is not None and not run.complete and self.is_running():
            run.seconds_before += time.perf_counter() - run.started_s  # resumed when shown again
        self.cancel()
        self._current = None
        self.progress.setVisible(False)
        self.overlay.set_slice_cams({})
        self.lesions.set_labels(None)
        self.strip.reset(0, self.strip.threshold)
        self._show_idle("AI: waiting for the series to load")
        self._update_readout()

    def _on_volume_loaded(self, volume: Volume) -> None:
        run = self._runs.get(volume.stack_id)
        if run is not None and run.complete and run.n_slices == volume.n_slices:
            self._show_run(run)
            self._resume_second(volume, run)
        elif run is not None and run.resumable_for(volume):
            self._start(volume, resume=run)  # interrupted by a series switch: go on from there
        elif self.window.settings.auto_run_ai:  # type: ignore[attr-defined]
            self._start(volume)
        else:
            self._current = None
            self.strip.reset(volume.n_slices, self.strip.threshold)
            self._show_idle("AI: not run on this series (Run AI, Ctrl+R)")
        study = self.study_findings(volume.stack_id)
        self.export_action.setEnabled(study is not None)
        if study is None and self._current is None:
            self.panel.clear("No AI analysis of this study yet.")
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
        self._show_lesions(run)
        study = self.study_findings()
        if study is not None:
            self.panel.set_findings(study, self._second_states())
        elif run.findings is not None and not run.findings.analysed:
            self.panel.clear(f"Not analysed: {run.findings.reason}")
        self._update_status()
        self._update_readout()

    def _show_partial(self, run: StackRun) -> None:
        """The slices an unfinished run has analysed, on the strip and the heatmap."""
        threshold = self._host.engine.threshold if self._host.engine is not None else self.strip.threshold
        self.strip.reset(run.n_slices, threshold)
        for i in np.nonzero(run.done)[0] if run.done is not None else ():
            self.strip.update_slice(int(i), dict(zip(LABELS, (float(v) for v in run.probabilities[i]))))
        self.strip.flush()
        self.strip.set_current(self.view.index)
        self._restore_overlay()
        self.lesions.set_labels(None)

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
        self.view.setFocus()  # the keys go on moving slices from there
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
        return verdict_now(self._current, self.strip.threshold)

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
        self.readout_label.setText(readout_text(run, self.view.index, self._label, self.strip.threshold))

    # ============================================================================ export
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
        elif event.type() == QtCore.QEvent.Type.Wheel and watched is self.strip.plot_widget.viewport():
            self._strip_wheel += event.angleDelta().y()  # type: ignore[attr-defined]
            notches = int(self._strip_wheel / 120)
            if notches:
                self._strip_wheel -= notches * 120
                self.view.step(-notches)  # like the image: wheel down = next slice
            return True
        return False


def _pre_reason(stack: Stack) -> str:
    """Why a stack is never given to the engine ('' when it is): see acceptance.header_rejection."""
    from inference.acceptance import header_rejection

    return header_rejection(stack.modality, stack.is_localizer)
