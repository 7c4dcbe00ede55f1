"""The AI's worker side: the readers loaded once, their results streamed from worker jobs.

`EngineHost` loads the first reader's engine (once, under a lock) and yields, for one Volume,
`EngineReady`, then `StackChecked`, then one `SliceResult` per slice (each carrying the stack id and
series UID, so the GUI side drops results that belong to a stack no longer shown).
`SecondReaderHost` does the same for the second reader (BLAST-CT): `SecondReaderReady`, then
`SecondReadProgress` items, then one `SecondReadResult` (both carry stack id and series UID). The two
share one compute lock, so a run started for a new series waits for at most one batch or tile of a
cancelled one. `StackRun` collects one stack's results (both readers) in the GUI thread;
`stack_findings` turns them into the report's findings. The threads themselves are
`viewer.qt.workers` jobs; this module only guards the shared readers with locks.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from inference.labels import LABELS
from inference.readers.blast_ct.results import SecondReadProgress, SecondReadResult
from inference.results import Acceptance, ModelInfo, SliceResult, StackAnalysis
from viewer.app_logging import get_logger
from viewer.core.volume import Volume
from viewer.report.findings import StackFindings, attach_cam_affines, summarize_stack
from viewer.report.verdict import DEFAULT_RULE, VerdictRule

_log = get_logger("ai_assist")

JOB_KIND = "ai"
WARMUP_KIND = "ai-load"
SECOND_JOB_KIND = "ai-second"
SECOND_READER_TASK = "Lesion segmentation (BLAST-CT)"
# The second reader's state on a stack (StackRun.second_state).
SECOND_NONE, SECOND_RUNNING, SECOND_DONE, SECOND_OFF, SECOND_STOPPED, SECOND_FAILED = (
    "", "running", "done", "off", "stopped", "failed"
)
BATCH_SIZE = 4  # small batches: the first result shows early and a cancel takes effect soon


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
    seconds_before: float = 0.0  # spent before the run was interrupted (a series switch) and resumed
    findings: StackFindings | None = None  # set when complete (or refused)
    analysis: StackAnalysis | None = None  # the first reader's, set when complete
    # The second reader (BLAST-CT) on this stack: its state, progress and result.
    second_state: str = SECOND_NONE
    second_done: int = 0
    second_total: int = 0
    second_note: str = ""  # why it failed or was not run
    second: SecondReadResult | None = None

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

    def resumable_for(self, volume: Volume) -> bool:
        """Whether this unfinished run belongs to `volume` and can go on from where it stopped."""
        return (
            self.findings is None
            and self.stack_id == volume.stack_id
            and self.series_uid == volume.series_uid
            and self.n_slices == volume.n_slices
            and self.done is not None
            and bool(self.done.any())
            and (self.acceptance is None or self.acceptance.accepted)
        )

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

    @property
    def lesions_read(self) -> bool:
        """Whether the second reader read this stack (a label map to draw)."""
        return self.second is not None and bool(self.second.acceptance.accepted)

    def second_status(self) -> str:
        """The second reader's state on this stack in words ('' when it has nothing to say)."""
        if self.second_state == SECOND_RUNNING:
            if self.second_total:
                return f"{SECOND_READER_TASK} {self.second_done}/{self.second_total}"
            return f"{SECOND_READER_TASK}: starting…"
        if self.second_state == SECOND_OFF:
            return f"{SECOND_READER_TASK} is off (Preferences)"
        if self.second_state == SECOND_STOPPED:
            return f"{SECOND_READER_TASK} stopped (Run AI to read again)"
        if self.second_state == SECOND_FAILED:
            return f"{SECOND_READER_TASK} did not run: {self.second_note}"
        if self.second_state == SECOND_DONE and self.second is not None and not self.second.acceptance.accepted:
            return f"{SECOND_READER_TASK} did not read this series: {self.second.acceptance.reason}"
        return ""


def stack_findings(volume: Volume, run: StackRun, rule: VerdictRule = DEFAULT_RULE) -> StackFindings:
    """The report's findings of a stack from both readers' results (the second when it has read);
    key slices carry their CAM placement. `run.analysis` must be set."""
    assert run.analysis is not None
    second = run.second if run.second is not None and run.second.n_slices == volume.n_slices else None
    findings = summarize_stack(volume, run.analysis, second=second, rule=rule)
    if findings.analysed and run.affines is not None:
        affines = {k.index: run.affines[k.index] for k in findings.key_slices if run.affine(k.index) is not None}
        findings = attach_cam_affines(findings, affines)
    return findings


def verdict_rule(engine: Any) -> VerdictRule:
    """The combination rule stored with the first reader's weights (defaults without an engine)."""
    metadata = getattr(engine, "metadata", None)
    return VerdictRule.from_metadata(getattr(metadata, "extra", None)) if metadata is not None else DEFAULT_RULE


def with_cam_affine(engine: Any, volume: Volume, result: SliceResult) -> SliceResult:
    """The result with its CAM placement filled in when the engine left it out (None)."""
    if result.cam is None or result.to_image is not None:
        return result
    from inference.preprocess import make_inputs
    from viewer.report.images import cam_cell_affine

    config = engine.config
    prepared = make_inputs(volume.hu, volume.positions_mm, volume.pixel_spacing_mm, config, indices=[result.index])
    affine = cam_cell_affine(prepared.to_image[0], config.image_size, tuple(np.shape(result.cam)))
    return replace(result, to_image=affine)


class EngineHost:
    """The inference engine shared by every AI job: loaded once, one batch computed at a time."""

    def __init__(
        self, weights: Path | str | None, device: str | None, threads: int, batch_size: int
    ) -> None:
        self._weights = weights
        self._device = device
        self.threads = threads
        self._batch_size = batch_size
        self.engine: Any = None
        self.worker_torch_threads = 0  # torch CPU threads seen by the last inference worker
        self._engine_lock = threading.Lock()
        self.compute_lock = threading.Lock()  # one batch (or second-reader tile) at a time, whichever job asks
        self._late_lock = threading.Lock()
        self._late_results = 0  # computed for a cancelled run, never sent (worker side)

    @property
    def late_results(self) -> int:
        """Results computed for a cancelled run and never sent."""
        with self._late_lock:
            return self._late_results

    def load(self) -> Any:
        """The engine, loaded on first use (any thread)."""
        with self._engine_lock:
            if self.engine is None:
                from inference.predict import Engine

                self.engine = Engine.load(self._weights, device=self._device, threads=self.threads)
                _log.info("model loaded on %s", self.engine.device)
            return self.engine

    def warm_up(self, _cancel: threading.Event) -> Iterator[object]:
        """Worker side: load the engine in the background so the first results come sooner."""
        try:
            self.load()
        except Exception as exc:  # noqa: BLE001 (reported when the user runs the AI)
            _log.warning("model not loaded at start: %s", type(exc).__name__)
        return iter(())

    def generate(
        self, volume: Volume, cancel: threading.Event, done: np.ndarray | None = None
    ) -> Iterator[object]:
        """Worker side: load the engine, check the stack, stream per-slice results.

        `done`: (n,) bool of slices already analysed (a resumed run): only the others are sent, and
        the slices before the first missing one are computed only as far as its context needs.
        """
        engine = self.load()
        # torch's CPU thread count is per calling thread once torch is initialised: cap it here, in
        # the thread that runs the model, so the GUI keeps its core.
        import torch

        from inference.device import set_threads

        set_threads(self.threads)
        self.worker_torch_threads = torch.get_num_threads()
        yield EngineReady(engine.info, engine.device)
        acceptance = engine.check(volume)
        yield StackChecked(volume.stack_id, acceptance)
        if not acceptance.accepted or cancel.is_set():
            return
        if done is not None and np.asarray(done).any():
            results = resumed_results(engine, volume, np.asarray(done, bool), self._batch_size, cancel)
        else:
            results = engine.iter_predict(
                volume, cams=True, cam_labels=LABELS, batch_size=self._batch_size, cancel=cancel
            )
        while True:
            with self.compute_lock:
                result = next(results, None)
                if result is not None and not cancel.is_set():
                    result = with_cam_affine(engine, volume, result)
            if result is None:
                return
            if cancel.is_set():
                # Computed for a stack no longer shown: never sent, counted. The rest of this batch
                # is drained (already computed); the engine stops before the next batch.
                with self._late_lock:
                    self._late_results += 1
                continue
            yield result


def resume_start(positions_mm: Any, done: np.ndarray, config: Any) -> tuple[int, int]:
    """(first slice to compute, first slice to send) for a run resumed after `done` slices.

    The model's input for a slice depends on the slices within its context (slabs `context_mm`
    apart, `slab_mm` thick, a neighbour fallback up to `context_mm` further) and on the median slice
    step of the positions it is given: the slab from the first computed slice on gives the same
    inputs as the whole stack when it holds that context and keeps the median step; else (0, first).
    """
    missing = np.nonzero(~done)[0]
    if missing.size == 0:
        return len(done), len(done)
    first = int(missing[0])
    pos = np.asarray(positions_mm, np.float64)
    steps = np.diff(np.sort(pos))
    steps = steps[steps > 1e-6]
    step = float(np.median(steps)) if steps.size else 0.0
    offsets = np.abs(np.asarray(config.slab_offsets_mm, np.float64))
    reach = float(offsets.max(initial=0.0)) + config.slab_mm / 2.0 + step + config.context_mm + 1e-3
    start = next((i for i in range(first) if abs(pos[i] - pos[first]) <= reach), first)
    sub = np.diff(np.sort(pos[start:]))
    sub = sub[sub > 1e-6]
    if start > 0 and (not sub.size or abs(float(np.median(sub)) - step) > 1e-6):
        start = 0
    return start, first


def resumed_results(
    engine: Any, volume: Volume, done: np.ndarray, batch_size: int, cancel: threading.Event
) -> Iterator[SliceResult]:
    """SliceResults of the slices not `done`, computed from the slab that gives the same inputs."""
    start, first = resume_start(volume.positions_mm, done, engine.config)
    for k, p, c, affine in engine.predict_arrays(
        volume.hu[start:], volume.positions_mm[start:], volume.pixel_spacing_mm,
        cam_labels=LABELS, batch_size=batch_size, cancel=cancel, with_affines=True,
    ):
        index = start + int(k)
        if index < first or done[index]:
            continue
        maps = {} if c is None else {lab: c[i] for i, lab in enumerate(LABELS)}
        yield SliceResult(
            series_uid=volume.series_uid,
            stack_id=volume.stack_id,
            index=index,
            probabilities={lab: float(p[i]) for i, lab in enumerate(LABELS)},
            cam=maps.pop("any", None),
            subtype_cams=maps,
            to_image=affine,
        )


# ------------------------------------------------------------------------------ second reader
@dataclass(frozen=True)
class SecondReaderReady:
    """The second reader is loaded (first item of every second-reader run)."""

    stack_id: str
    models: tuple[str, ...]
    device: str


class SecondReaderHost:
    """The second reader (BLAST-CT), loaded once on the first reader's device and threads.

    `load` is a callable returning a reader with `iter_segment(volume, cancel)` (tests give their
    own); by default `SecondReader.load(device=..., threads=...)`. A failed load is remembered and
    raised again (with the same message) instead of retried for every series.
    """

    def __init__(
        self, device: str | None, threads: int, compute_lock: threading.Lock, load: Any = None
    ) -> None:
        self._device = device
        self.threads = threads
        self._load = load
        self._compute_lock = compute_lock
        self._lock = threading.Lock()
        self.reader: Any = None
        self._error: BaseException | None = None
        self._late_items = 0

    @property
    def load_error(self) -> BaseException | None:
        """Why the reader could not be loaded (None while loaded or not tried)."""
        with self._lock:
            return self._error

    @property
    def late_items(self) -> int:
        """Items computed for a cancelled run and never sent."""
        with self._lock:
            return self._late_items

    def get(self) -> Any:
        """The reader, loaded on first use (any thread)."""
        with self._lock:
            if self._error is not None:
                raise self._error
            if self.reader is None:
                try:
                    if self._load is not None:
                        self.reader = self._load()
                    else:
                        from inference.readers.blast_ct.segment import SecondReader

                        self.reader = SecondReader.load(device=self._device, threads=self.threads)
                        _log.info("second reader loaded on %s", self.reader.device)
                except Exception as exc:  # noqa: BLE001 (remembered, reported by the GUI)
                    self._error = exc
                    raise
            return self.reader

    def generate(self, volume: Volume, cancel: threading.Event) -> Iterator[object]:
        """Worker side: load the reader, then stream its progress and its one result."""
        reader = self.get()
        if self._load is None:  # the real reader: cap torch's threads in this thread (see EngineHost)
            from inference.device import set_threads

            set_threads(self.threads)
        yield SecondReaderReady(
            volume.stack_id, tuple(getattr(reader, "model_names", ())), str(getattr(reader, "device", ""))
        )
        items = reader.iter_segment(volume, cancel=cancel)
        try:
            while not cancel.is_set():
                with self._compute_lock:
                    item = next(items, None)
                if item is None:
                    return
                if cancel.is_set():  # computed for a stack no longer shown: never sent, counted
                    with self._lock:
                        self._late_items += 1
                    return
                if isinstance(item, (SecondReadProgress, SecondReadResult)):
                    yield item
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
