"""The second reader (BLAST-CT) in the viewer: run after the first reader finishes a stack, shown and
kept per stack (methods of `AiAssist`, mixed in like `AiControlsMixin`).

When the first reader has finished a stack it accepted, and the preference `second_reader` is on,
`SecondReaderHost.generate` runs in a `viewer.qt.workers` job (kind "ai-second") on the first
reader's device and threads. Its progress shows in the status bar ("Lesion segmentation (BLAST-CT)
3/12") and in the findings panel, where the verdict says "provisional" until the reading is in.
Its result carries the stack id and series UID: a result for a stack no longer shown is dropped
(and counted); switching series or Stop AI cancels the job (it stops before its next tile). A
finished reading is kept with its stack's `StackRun`, so coming back to a series shows its lesions
at once (never another series'); a reading stopped by a switch runs again when the series is shown
again. A reader that cannot load (e.g. its weights are not installed) is said in the panel and the
status line, once per session, without a message box: the first reader's verdict stays, provisional.
"""
from __future__ import annotations

from typing import Any

from PySide6 import QtWidgets

from inference.readers.blast_ct.results import SecondReadProgress, SecondReadResult
from viewer.app_logging import get_logger
from viewer.core.volume import Volume
from viewer.qt.ai_run import (
    SECOND_DONE,
    SECOND_FAILED,
    SECOND_JOB_KIND,
    SECOND_NONE,
    SECOND_OFF,
    SECOND_RUNNING,
    SECOND_STOPPED,
    SecondReaderReady,
    StackRun,
    stack_findings,
    verdict_rule,
)
from viewer.qt.workers import Job

_log = get_logger("ai_assist")


class AiSecondMixin:
    """The second reader's side of `AiAssist` (see the module docstring)."""

    window: QtWidgets.QMainWindow
    view: Any
    _runs: dict[str, StackRun]
    _current: StackRun | None
    _jobs: list[Job]

    # ================================================================================ public
    def second_job(self) -> Job | None:
        """The running second-reader job, if any."""
        return self._second_slot.job  # type: ignore[attr-defined]

    def is_second_running(self) -> bool:
        job = self.second_job()
        return job is not None and job.is_running()

    def cancel_second(self) -> None:
        """Stop the second reader (it stops before its next tile; its late items are dropped)."""
        job = self.second_job()
        if job is not None:
            run = self._runs.get(job.key)
            if run is not None and run.second_state == SECOND_RUNNING:
                run.second_state = SECOND_STOPPED
                if run is self._current:
                    self._refresh_second_views(run)
        self._second_slot.cancel()  # type: ignore[attr-defined]
        self.second_progress.setVisible(False)  # type: ignore[attr-defined]

    def set_lesions_visible(self, visible: bool) -> None:
        """Lesion outlines on or off (L)."""
        self.lesions.set_visible(visible)  # type: ignore[attr-defined]
        action = self.lesion_action  # type: ignore[attr-defined]
        if action.isChecked() != bool(visible):
            action.blockSignals(True)
            action.setChecked(bool(visible))
            action.blockSignals(False)
        self._remember(lesion_visible=bool(visible))  # type: ignore[attr-defined]

    def set_lesion_opacity(self, opacity: float) -> None:
        """Lesion outline opacity 0..1 (its own, not the heatmap's)."""
        self.lesions.set_opacity(opacity)  # type: ignore[attr-defined]
        slider = self.lesion_opacity_slider  # type: ignore[attr-defined]
        slider.blockSignals(True)
        slider.setValue(int(round(opacity * 100)))
        slider.blockSignals(False)
        self._remember(lesion_opacity=float(opacity))  # type: ignore[attr-defined]

    def set_lesion_style(self, style: str) -> None:
        """"outline" or "fill"."""
        self.lesions.set_style(style)  # type: ignore[attr-defined]
        action = self.lesion_style_actions.get(style)  # type: ignore[attr-defined]
        if action is not None and not action.isChecked():
            action.setChecked(True)
        self._remember(lesion_style=style)  # type: ignore[attr-defined]

    # ============================================================================== running
    def _second_wanted(self) -> bool:
        return bool(getattr(self.window.settings, "second_reader", True))  # type: ignore[attr-defined]

    def _after_first_reader(self, volume: Volume, run: StackRun) -> None:
        """The first reader finished `run` (shown): start the second, or say why it does not run."""
        if run.findings is None or not run.findings.analysed:
            return
        if not self._second_wanted():
            run.second_state = SECOND_OFF
            return
        error = self._second_host.load_error  # type: ignore[attr-defined]
        if error is not None:  # said once (logged when it failed); not tried again for every series
            run.second_state, run.second_note = SECOND_FAILED, str(error) or type(error).__name__
            return
        self._start_second(volume, run)

    def _start_second(self, volume: Volume, run: StackRun) -> Job:
        self._second_slot.cancel()  # type: ignore[attr-defined]
        run.second, run.second_state, run.second_done, run.second_total, run.second_note = None, SECOND_RUNNING, 0, 0, ""
        host = self._second_host  # type: ignore[attr-defined]
        job = Job(SECOND_JOB_KIND, volume.stack_id, lambda cancel, v=volume: host.generate(v, cancel), self)  # type: ignore[arg-type]
        job.item_ready.connect(lambda item, sid=volume.stack_id: self._on_second_item(sid, item))
        job.failed.connect(lambda exc, sid=volume.stack_id: self._on_second_failed(sid, exc))
        job.finished.connect(lambda cancelled, sid=volume.stack_id: self._on_second_finished(sid, cancelled))
        self._jobs.append(job)
        bar = self.second_progress  # type: ignore[attr-defined]
        bar.setRange(0, 0)  # busy until the reader says how much work there is
        bar.setVisible(True)
        self._second_slot.replace(job)  # type: ignore[attr-defined]
        self.second_started.emit(volume.stack_id)  # type: ignore[attr-defined]
        return job

    def _second_target(self, stack_id: str, item: object) -> tuple[StackRun, Volume] | None:
        """The shown run and volume an item belongs to, or None (stale: counted, dropped)."""
        run = self._runs.get(stack_id)
        volume = self.view.volume
        ok = run is not None and run is self._current and volume is not None and volume.stack_id == stack_id
        if ok and isinstance(item, (SecondReadProgress, SecondReadResult)):
            ok = item.stack_id == stack_id and item.series_uid == volume.series_uid
        if not ok:
            if isinstance(item, (SecondReadProgress, SecondReadResult)):
                self._stale_second += 1  # type: ignore[attr-defined]
            return None
        assert run is not None and volume is not None
        return run, volume

    def _on_second_item(self, stack_id: str, item: object) -> None:
        target = self._second_target(stack_id, item)
        if target is None or isinstance(item, SecondReaderReady):
            return
        run, volume = target
        if isinstance(item, SecondReadProgress):
            run.second_done, run.second_total = int(item.done), int(item.total)
            bar = self.second_progress  # type: ignore[attr-defined]
            bar.setRange(0, max(run.second_total, 1))
            bar.setValue(run.second_done)
            self.panel.set_status(run.second_status())  # type: ignore[attr-defined]
            self.second_progressed.emit(stack_id, run.second_done, run.second_total)  # type: ignore[attr-defined]
            return
        if not isinstance(item, SecondReadResult):
            return
        if item.n_slices != volume.n_slices:
            run.second_state, run.second_note = SECOND_FAILED, "its label map does not match the series"
        else:
            run.second, run.second_state = item, SECOND_DONE
            if run.analysis is not None:
                run.findings = stack_findings(volume, run, verdict_rule(self._host.engine))  # type: ignore[attr-defined]
        self.second_progress.setVisible(False)  # type: ignore[attr-defined]
        self._refresh_second_views(run)
        self.second_finished.emit(stack_id)  # type: ignore[attr-defined]

    def _on_second_failed(self, stack_id: str, exc: object) -> None:
        run = self._runs.get(stack_id)
        if run is None:
            return
        run.second_state = SECOND_FAILED
        run.second_note = str(exc) or type(exc).__name__
        _log.warning("second reader failed: %s", type(exc).__name__)
        if run is self._current:
            self.second_progress.setVisible(False)  # type: ignore[attr-defined]
            self._refresh_second_views(run)
        self.second_finished.emit(stack_id)  # type: ignore[attr-defined]

    def _on_second_finished(self, stack_id: str, cancelled: bool) -> None:
        run = self._runs.get(stack_id)
        if cancelled or run is None or run.second_state != SECOND_RUNNING:
            return
        # The reader ended without a result and without an error (a reader that stopped early).
        self._on_second_failed(stack_id, RuntimeError("the second reader ended without a result"))

    def _resume_second(self, volume: Volume, run: StackRun) -> None:
        """Coming back to a finished stack: run the second reader again if it was stopped."""
        if run.second is None and run.second_state in (SECOND_NONE, SECOND_STOPPED, SECOND_OFF):
            self._after_first_reader(volume, run)

    # ============================================================================== showing
    def _show_lesions(self, run: StackRun | None) -> None:
        """The lesion overlay and the strip's band for the shown run (cleared without a reading)."""
        if run is not None and run.lesions_read:
            assert run.second is not None
            self.lesions.set_labels(run.second.labels, run.stack_id)  # type: ignore[attr-defined]
            self.strip.set_lesion_areas(run.second.slice_area_mm2)  # type: ignore[attr-defined]
        else:
            self.lesions.set_labels(None)  # type: ignore[attr-defined]
            self.strip.set_lesion_areas(None)  # type: ignore[attr-defined]

    def _second_states(self) -> dict[str, str]:
        return {sid: r.second_status() for sid, r in self._runs.items()}

    def _refresh_second_views(self, run: StackRun) -> None:
        self._show_lesions(run)
        self._refresh_panel()
        self.panel.set_status(run.second_status() or self.panel.status_label.text())  # type: ignore[attr-defined]
        self._update_status()  # type: ignore[attr-defined]

    def _refresh_panel(self) -> None:
        study = self.study_findings()  # type: ignore[attr-defined]
        if study is not None:
            self.panel.set_findings(study, self._second_states())  # type: ignore[attr-defined]
