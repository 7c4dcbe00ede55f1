"""Many studies: resume, run on the local cores or on a Ray cluster, write outputs as they finish.

    studies, skipped = find_studies(paths)
    for event in run_batch(studies, out_dir, config, workers=2):   # BatchProgress items
        ...
    # then worklist.write_worklist(event.entries, out_dir)

Resume: after a study's files are written, `state/<study id>.json` records its row with the
input hash and the weights hashes. A later run skips a study whose record matches both (and whose
files are all still there); a killed run therefore resumes where it stopped, and its worklist
equals that of an uninterrupted run. Outputs are written by the driver (this process) only,
atomically, one study at a time.

Local parallelism: `workers` processes (forkserver), each loading both readers once and running
`torch` with `threads_per_worker` threads, so workers x threads never exceeds the cores. The
default number of workers is the smaller of the cores and what memory allows
(`WORKER_MEMORY_GB` per worker: the second reader's measured peak plus the first reader and a
decoded study).

Ray (`ray_address`): the same per-study task in Ray actors (`TriageActor`), one per CPU slot (or per
GPU when the cluster has GPUs), each loading the readers once; inputs are read by the actors from
paths every node must see; the driver writes the results.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

from viewer.analysis.studies import StudyInput
from viewer.analysis.triage import (
    STATUS_FAILED,
    ReaderConfig,
    Readers,
    StudyOutcome,
    TriageEntry,
    failed_entry,
    load_readers,
    run_study,
)
from viewer.core.atomic import write_bytes_atomic, write_files_atomic

__all__ = ["BatchProgress", "run_batch", "default_workers", "WORKER_MEMORY_GB", "STATE_DIR"]

STATE_DIR = "state"
WORKER_MEMORY_GB = 3.0  # second reader peak (~2.5 GB, MODEL_CARD) + first reader + a decoded study


@dataclass(frozen=True)
class BatchProgress:
    """After each study: how far the batch is (entries so far, in completion order)."""

    done: int
    total: int
    failed: int
    skipped_done: int  # studies reused from an earlier run
    seconds: float
    entries: tuple[TriageEntry, ...]
    last: TriageEntry | None

    @property
    def seconds_left(self) -> float | None:
        fresh = self.done - self.skipped_done
        if fresh <= 0:
            return None
        return self.seconds / fresh * (self.total - self.done)


def _available_memory_gb() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 8.0


def default_workers() -> int:
    """Local worker processes: min(cores, available memory / WORKER_MEMORY_GB), at least 1."""
    cores = os.cpu_count() or 1
    return max(1, min(cores, int(_available_memory_gb() // WORKER_MEMORY_GB)))


def _state_path(out_dir: Path, study: StudyInput) -> Path:
    return out_dir / STATE_DIR / f"{study.id}.json"


def _done_entry(out_dir: Path, study: StudyInput, models: tuple[str, ...]) -> TriageEntry | None:
    """The recorded row of `study` when it is still valid (same input, same models, files there)."""
    path = _state_path(out_dir, study)
    try:
        entry = TriageEntry.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if entry.input_sha256 != study.input_sha256 or tuple(entry.models_sha256) != tuple(models):
        return None
    if entry.status == STATUS_FAILED:
        return None  # a failure is tried again
    if not all((out_dir / rel).is_file() for rel in entry.files.values()):
        return None
    return entry


def _write(out_dir: Path, outcome: StudyOutcome, study: StudyInput) -> TriageEntry:
    entry = outcome.entry
    if outcome.files:
        for rel in outcome.files:
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        write_files_atomic([(out_dir / rel, data) for rel, data in outcome.files.items()])
    (out_dir / STATE_DIR).mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(_state_path(out_dir, study), json.dumps(entry.to_json(), ensure_ascii=False).encode("utf-8"))
    return entry


# ---------------------------------------------------------------- the three ways to run a study

_WORKER_READERS: Readers | None = None


def _worker_init(config: ReaderConfig) -> None:
    global _WORKER_READERS
    _WORKER_READERS = load_readers(config)


def _worker_run(study: StudyInput) -> StudyOutcome:
    assert _WORKER_READERS is not None
    return run_study(study, _WORKER_READERS)


def _models_of(config: ReaderConfig) -> tuple[str, ...]:
    """The weights hashes the readers would have, read from the files (for resume checks)."""
    from inference.readers.blast_ct.weights import member_files
    from inference.weights import default_weights_path, file_sha256

    first = Path(config.weights) if config.weights else default_weights_path()
    out = [file_sha256(first)]
    if config.second_reader:
        from inference.readers.blast_ct.segment import DEFAULT_MODELS_CPU, DEFAULT_MODELS_CUDA
        from inference.device import resolve_device

        files = member_files(None)
        dev = resolve_device(config.device)
        n = config.second_models or min(len(files), DEFAULT_MODELS_CUDA if dev.type == "cuda" else DEFAULT_MODELS_CPU)
        out += [file_sha256(p) for p in files[:n]]
    return tuple(out)


def _in_process(todo: Sequence[StudyInput], config: ReaderConfig) -> Iterator[tuple[StudyInput, StudyOutcome]]:
    readers = load_readers(config)
    for study in todo:
        yield study, run_study(study, readers)


def _local_pool(todo: Sequence[StudyInput], config: ReaderConfig, workers: int) -> Iterator[tuple[StudyInput, StudyOutcome]]:
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init, initargs=(config,)) as pool:
        pending = {pool.submit(_worker_run, s): s for s in todo}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                study = pending.pop(fut)
                try:
                    outcome = fut.result()
                except Exception as exc:  # noqa: BLE001 - a crashed worker fails its study, not the batch
                    outcome = StudyOutcome(failed_entry(study, (), f"worker failed: {type(exc).__name__}: {exc}"), {})
                yield study, outcome


def _ray(todo: Sequence[StudyInput], config: ReaderConfig, address: str) -> Iterator[tuple[StudyInput, StudyOutcome]]:
    from viewer.analysis.ray_actors import run_on_ray

    yield from run_on_ray(todo, config, address)


def run_batch(
    studies: Sequence[StudyInput],
    out_dir: Path,
    config: ReaderConfig,
    *,
    workers: int = 1,
    ray_address: str | None = None,
) -> Iterator[BatchProgress]:
    """Analyse every study not already done (see the module docstring), writing each one's outputs as
    it finishes; yields a BatchProgress after each study (first one for the reused ones)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    models = _models_of(config)
    entries: list[TriageEntry] = []
    todo: list[StudyInput] = []
    for study in studies:
        done = _done_entry(out_dir, study, models)
        if done is not None:
            entries.append(done)
        else:
            todo.append(study)
    reused = len(entries)
    failed = 0
    yield BatchProgress(len(entries), len(studies), 0, reused, 0.0, tuple(entries), None)
    if not todo:
        return
    if ray_address:
        source = _ray(todo, config, ray_address)
    elif workers > 1 and len(todo) > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        source = _local_pool(todo, replace(config, threads=threads), min(workers, len(todo)))
    else:
        source = _in_process(todo, config)
    for study, outcome in source:
        entry = _write(out_dir, outcome, study)
        entries.append(entry)
        failed += entry.status == STATUS_FAILED
        yield BatchProgress(len(entries), len(studies), failed, reused, time.perf_counter() - t0, tuple(entries), entry)
