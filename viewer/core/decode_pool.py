"""Decode a stack's files into one preallocated canonical HU array, in parallel.

Measured on the 2-core development machine (bench/load.py): pydicom's reader and the JPEG codecs
(pylibjpeg-libjpeg, pyjpegls, openjpeg) hold the GIL, so threads do not speed up compressed series;
worker processes do. The workers write straight into the output array, which lives in a shared
memory mapping (a file in /dev/shm, unlinked as soon as the load ends, so nothing is left behind
and the mapping is freed with the array). Small uncompressed loads decode serially in the calling
thread: starting worker processes would cost more than it saves, and threads gain little for the
GIL-bound reader (they remain available as parallel="threads").

Uncompressed single-frame files are read straight from their end (pixels.read_native_tail, layout
and rescale from the scanned header, checked before use); JPEG Lossless goes through GDCM;
multi-frame files are streamed a frame at a time, in chunks of frames spread over the workers.

The pool is started once per process and reused by later loads: with fork while the process runs a
single thread (a CLI, the benchmark: milliseconds), else with a forkserver preloading this module
(the GUI: Qt is never forked; ~0.5 s once, which `warm_up_pool` can take at start-up).
"""
from __future__ import annotations

import mmap
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from viewer.core.errors import IchviewError, LoadCancelled, PixelDecodeError, VolumeTooLargeError
from viewer.core.limits import human_bytes, max_volume_bytes
from viewer.core.orientation import CanonicalGeometry, InPlaneTransform, canonical_geometry
from viewer.core.pixels import (
    HuParams,
    JpegLosslessTail,
    NativeTail,
    check_matrix,
    hu_params,
    jpeg_lossless_tail_from_meta,
    native_tail_from_meta,
    iter_stored_frames,
    read_dataset,
    read_header,
    read_jpeg_lossless_tail,
    read_native_tail,
    stored_frames,
    stored_to_hu,
)
from viewer.core.load_events import FirstSlice, LoadEvent, LoadProgress
from viewer.core.series import Stack
from viewer.core.volume import AIR_HU, HU_DTYPE, Volume
from viewer.core.warnings import DECODE_FAILED, StackWarning
from viewer.core.volume_metadata import study_metadata


# Rough single-core decode cost of one 512x512 slice (ms), to decide whether processes pay off.
_COST_MS_NATIVE = 0.6  # read straight from the file's end (pixels.read_native_tail)
_COST_MS_COMPRESSED = 12.0
_PROCESS_START_MS = 600.0  # forkserver: interpreter + imports, paid once per session
_FORK_START_MS = 30.0  # fork from a single-threaded process
_NATIVE_TS = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", ""})
_FRAMES_PER_TASK = 8  # frames of one multi-frame file decoded per task
_CHUNK_FILES = 4  # files per process task: fewer round trips, progress still fine-grained


@dataclass(frozen=True)
class FileTask:
    """One file to decode and where its frames go: ((canonical slice index, frame or None), ...)."""

    path: str
    items: tuple[tuple[int, int | None], ...]
    # Single-frame native file: layout and HU parameters from the scanned header, so the pixels are
    # read straight from the file's end without parsing it again (checked; falls back when wrong).
    fast: tuple[NativeTail, HuParams] | None = None
    # Single-frame JPEG Lossless file: its fragments read from the scanned Pixel Data offset and
    # decoded by GDCM without parsing the file again (checked; falls back when wrong).
    jpeg: tuple[JpegLosslessTail, HuParams] | None = None


def decode_file_into(
    task: FileTask, out: np.ndarray, transform: InPlaneTransform, rows: int, cols: int
) -> Dataset | None:
    """Decode one file's frames into `out[k]` (canonical). Returns the dataset when it was read.

    Any failure is a PixelDecodeError naming the file (a malformed header value such as
    NumberOfFrames "1A" must not surface as a bare ValueError that aborts a whole study)."""
    try:
        return _decode_file_into(task, out, transform, rows, cols)
    except (IchviewError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom converts values lazily: any type may come from a damaged one
        raise PixelDecodeError(
            task.path, f"a header value is malformed ({type(exc).__name__}: {exc})", "re-export the series"
        ) from exc


def _decode_file_into(
    task: FileTask, out: np.ndarray, transform: InPlaneTransform, rows: int, cols: int
) -> Dataset | None:
    if task.fast is not None and len(task.items) == 1:
        stored = read_native_tail(task.path, task.fast[0])
        if stored is not None:
            stored_to_hu(transform.apply(stored), task.fast[1], out=out[task.items[0][0]])
            return None
    if task.jpeg is not None and len(task.items) == 1:
        stored = read_jpeg_lossless_tail(task.path, task.jpeg[0])
        if stored is not None:
            stored_to_hu(transform.apply(stored), task.jpeg[1], out=out[task.items[0][0]])
            return None
    if task.items[0][1] is not None:  # frames of a multi-frame file, streamed one at a time
        header = read_header(task.path)
        check_matrix(header, task.path, rows, cols)
        slice_of = {frame: k for k, frame in task.items}
        for frame, image in iter_stored_frames(header, task.path, list(slice_of)):
            stored_to_hu(transform.apply(image), hu_params(header, frame), out=out[slice_of[frame]])
        return header
    ds = read_dataset(task.path)
    check_matrix(ds, task.path, rows, cols)
    (k, _), = task.items
    stored_to_hu(transform.apply(stored_frames(ds, task.path)[0]), hu_params(ds), out=out[k])
    return ds


def _thread_decode(task: FileTask, out: np.ndarray, transform: InPlaneTransform, rows: int, cols: int) -> None:
    """Thread worker: returns nothing, so finished futures do not keep datasets (pixel data) alive."""
    decode_file_into(task, out, transform, rows, cols)


# ---------------------------------------------------------------- worker-process side
_MAPPED: dict[str, np.ndarray] = {}


def _worker_array(shm_path: str, shape: tuple[int, int, int]) -> np.ndarray:
    arr = _MAPPED.get(shm_path)
    if arr is None or arr.shape != shape:
        _MAPPED.clear()  # one load at a time per worker: drop older mappings
        with open(shm_path, "r+b") as fh:
            mm = mmap.mmap(fh.fileno(), int(np.prod(shape)) * np.dtype(HU_DTYPE).itemsize)
        arr = np.frombuffer(mm, dtype=HU_DTYPE).reshape(shape)
        _MAPPED[shm_path] = arr
    return arr


# A task that failed: (its canonical slice indices, path, reason, fix); plain values, because
# PixelDecodeError's __init__ signature does not survive pickling.
_Failure = tuple[tuple[int, ...], str, str, str]


def _failure(task: FileTask, exc: PixelDecodeError) -> _Failure:
    return (tuple(k for k, _ in task.items), str(exc.path), exc.reason, exc.fix)


def _process_decode(
    shm_path: str, shape: tuple[int, int, int], tasks: tuple[FileTask, ...], transform: InPlaneTransform, rows: int, cols: int
) -> tuple[int, list[_Failure]]:
    """Worker: decode `tasks` into the shared array; (slices done, the tasks that failed)."""
    out = _worker_array(shm_path, shape)
    failures: list[_Failure] = []
    for task in tasks:
        try:
            decode_file_into(task, out, transform, rows, cols)
        except PixelDecodeError as exc:
            failures.append(_failure(task, exc))
    return sum(len(t.items) for t in tasks), failures


def _noop() -> int:
    return os.getpid()


# ---------------------------------------------------------------- pools
_POOL_LOCK = threading.Lock()
_PROCESS_POOL: ProcessPoolExecutor | None = None
_PROCESS_POOL_SIZE = 0


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _start_method() -> str:
    """fork while this process runs a single thread (cheap: no re-import), else forkserver."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    # Linux only: on macOS system libraries are not fork-safe even in a single-threaded process.
    if sys.platform.startswith("linux") and "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def process_pool(workers: int) -> ProcessPoolExecutor:
    """The shared decode pool (created on first use, then reused).

    Started with fork when the calling process has a single thread (a CLI, the benchmark): workers
    exist within milliseconds and import nothing. Otherwise (the GUI, with Qt threads) with a
    forkserver preloading this module, so no Qt state is ever forked; that costs one interpreter
    start plus imports (~0.5 s) once per session, hidden by warming the pool up early.
    """
    global _PROCESS_POOL, _PROCESS_POOL_SIZE
    import multiprocessing

    with _POOL_LOCK:
        if _PROCESS_POOL is None or _PROCESS_POOL_SIZE != workers:
            if _PROCESS_POOL is not None:
                _PROCESS_POOL.shutdown(wait=False, cancel_futures=True)
            method = _start_method()
            ctx = multiprocessing.get_context(method)
            if method == "forkserver":
                ctx.set_forkserver_preload(["viewer.core.decode_pool"])
            _PROCESS_POOL = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
            _PROCESS_POOL_SIZE = workers
        return _PROCESS_POOL


def warm_up_pool(workers: int | None = None) -> None:
    """Start the worker processes now (e.g. while the user picks a series)."""
    n = workers or default_workers()
    pool = process_pool(n)
    for f in [pool.submit(_noop) for _ in range(n)]:
        f.result()


def shutdown_pool() -> None:
    """Stop the shared decode pool (it is restarted on the next load that needs it)."""
    global _PROCESS_POOL
    with _POOL_LOCK:
        if _PROCESS_POOL is not None:
            _PROCESS_POOL.shutdown(wait=True, cancel_futures=True)
            _PROCESS_POOL = None


# ---------------------------------------------------------------- shared output array
def _shared_memory_folder() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _shared_memory_has_room(nbytes: int) -> bool:
    """Whether the shared-memory folder can hold the volume with room to spare."""
    folder = _shared_memory_folder()
    if folder is None:
        return True  # a temp file on disk: the page cache backs it
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize > nbytes * 1.2 + (64 << 20)


class _SharedArray:
    """An int16 array in a /dev/shm file that worker processes map; unlinked by `release_name`."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        folder = _shared_memory_folder()
        fd, self.path = tempfile.mkstemp(prefix="ichview-volume-", suffix=".i16", dir=folder)
        nbytes = int(np.prod(shape)) * np.dtype(HU_DTYPE).itemsize
        try:
            os.ftruncate(fd, max(nbytes, 1))
            mm = mmap.mmap(fd, max(nbytes, 1))
        finally:
            os.close(fd)
        self.array = np.frombuffer(mm, dtype=HU_DTYPE, count=int(np.prod(shape))).reshape(shape)

    def release_name(self) -> None:
        """Unlink the file: the mapping stays valid for as long as the array lives."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------- the load
def file_tasks(stack: Stack) -> list[FileTask]:
    """The stack's files in slice order, each with its canonical slice indices and frames."""
    by_path: dict[str, list[tuple[int, int | None]]] = {}
    first_header = {}
    for k, header in enumerate(stack.slices):
        by_path.setdefault(str(header.path), []).append((k, header.frame))
        first_header.setdefault(str(header.path), header)
    tasks = []
    for path, items in by_path.items():
        h = first_header[path]
        if items[0][1] is not None:  # multi-frame: chunks of frames, so every worker gets some
            for i in range(0, len(items), _FRAMES_PER_TASK):
                tasks.append(FileTask(path, tuple(items[i : i + _FRAMES_PER_TASK])))
            continue
        fast = jpeg = None
        if len(items) == 1:
            fast = native_tail_from_meta(
                h.meta, transfer_syntax_uid=h.transfer_syntax_uid, photometric=h.photometric,
                rows=h.rows, cols=h.columns, frame=h.frame, pixel_offset=h.pixel_offset,
            )
            if fast is None:
                jpeg = jpeg_lossless_tail_from_meta(
                    h.meta, transfer_syntax_uid=h.transfer_syntax_uid, photometric=h.photometric,
                    rows=h.rows, cols=h.columns, frame=h.frame, pixel_offset=h.pixel_offset,
                )
        tasks.append(FileTask(path, tuple(items), fast, jpeg))
    return tasks


def _choose_parallel(stack: Stack, n_tasks: int, workers: int, parallel: str) -> str:
    if parallel != "auto":
        return parallel
    if workers <= 1 or n_tasks <= 2:
        return "serial"
    compressed = any(h.transfer_syntax_uid not in _NATIVE_TS for h in stack.slices[:1] + stack.slices[-1:])
    pixels = stack.slices[0].rows * stack.slices[0].columns / (512 * 512)
    cost_ms = stack.n_slices * pixels * (_COST_MS_COMPRESSED if compressed else _COST_MS_NATIVE)
    pool_ready = _PROCESS_POOL is not None and _PROCESS_POOL_SIZE == workers
    start_ms = 0.0 if pool_ready else (_FORK_START_MS if _start_method() == "fork" else _PROCESS_START_MS)
    saving_ms = cost_ms * (1 - 1 / workers)
    # Threads gain little (the reader and the codecs hold the GIL) and cost memory: below the
    # break-even of the processes, decode serially in the calling thread.
    return "processes" if saving_ms > start_ms else "serial"


def _prefetch(paths: Iterable[str]) -> None:
    """Ask the kernel to read the files ahead (asynchronously, into the page cache, not into this
    process): on a cold cache the disk then streams while the pixels are converted."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in dict.fromkeys(paths):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # the decode reports it
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def _check_stack(stack: Stack) -> None:
    if not stack.slices:
        raise ValueError(f"stack {stack.stack_id} has no slices")
    shapes = {(h.rows, h.columns) for h in stack.slices}
    if len(shapes) != 1:
        raise ValueError(
            f"stack {stack.stack_id} mixes matrix sizes {sorted(shapes)}: the grouper must split "
            "slices of different size into separate stacks (viewer/core/series.py)"
        )


def _geometry(stack: Stack) -> CanonicalGeometry:
    first, last = stack.slices[0], stack.slices[-1]
    return canonical_geometry(
        iop=first.orientation,
        first_position_mm=first.position_mm,
        last_position_mm=last.position_mm,
        rows=first.rows,
        cols=first.columns,
        pixel_spacing_mm=first.pixel_spacing_mm,
    )


def _slice_spacing_mm(stack: Stack) -> float:
    g = stack.geometry
    if g.slice_spacing_median_mm:
        return float(g.slice_spacing_median_mm)
    return float(stack.slices[0].slice_thickness_mm or 1.0)


def iter_load(
    stack: Stack,
    *,
    workers: int | None = None,
    cancel: threading.Event | None = None,
    parallel: str = "auto",
    max_volume_bytes: int | None = None,
) -> Iterator[LoadEvent]:
    """The implementation of loading.iter_load_stack (see there)."""

    _check_stack(stack)
    n = stack.n_slices
    rows, cols = stack.slices[0].rows, stack.slices[0].columns
    limit = _max_volume_bytes(max_volume_bytes)
    need = n * rows * cols * np.dtype(HU_DTYPE).itemsize
    if need > limit:
        raise VolumeTooLargeError(
            f"stack {stack.stack_id}: {n} slices of {rows} x {cols} need {human_bytes(need)}, over the "
            f"{human_bytes(limit)} limit (set ICHVIEW_MAX_VOLUME_BYTES to allow more, if the memory is there)"
        )
    geom = _geometry(stack)
    shape = (n, *geom.shape)
    workers = workers or default_workers()
    tasks = file_tasks(stack)
    mode = _choose_parallel(stack, len(tasks), workers, parallel)
    if mode not in ("processes", "threads", "serial"):
        raise ValueError(f"parallel must be auto, processes, threads or serial, not {parallel!r}")

    shared: _SharedArray | None = None
    if mode == "processes" and not _shared_memory_has_room(int(np.prod(shape)) * np.dtype(HU_DTYPE).itemsize):
        mode = "serial"  # a small /dev/shm (containers: 64 MB) would SIGBUS the workers
    if mode == "processes":
        shared = _SharedArray(shape)
        out = shared.array
    else:
        out = np.empty(shape, dtype=HU_DTYPE)

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise LoadCancelled(f"loading of series {stack.series_uid} was cancelled")

    pool_starter: threading.Thread | None = None
    fork_later = False
    if mode == "processes" and (_PROCESS_POOL is None or _PROCESS_POOL_SIZE != workers):
        if _start_method() == "fork":
            fork_later = True  # milliseconds; right after the first slice, before any thread starts
        else:  # start the workers while the first slice decodes in this thread
            pool_starter = threading.Thread(target=warm_up_pool, args=(workers,), daemon=True)
            pool_starter.start()
    try:
        check_cancel()
        first_k = n // 2
        first_task_index = next(i for i, t in enumerate(tasks) if any(k == first_k for k, _ in t.items))
        first_task = tasks[first_task_index]
        failures: list[_Failure] = []
        try:
            first_ds = decode_file_into(first_task, out, geom.transform, rows, cols)
        except PixelDecodeError as exc:
            first_ds = None
            failures.append(_failure(first_task, exc))
            _fill_air(out, failures[-1][0])
        yield FirstSlice(
            series_uid=stack.series_uid,
            stack_id=stack.stack_id,
            index=first_k,
            n_slices=n,
            hu=out[first_k].copy(),
            pixel_spacing_mm=geom.pixel_spacing_mm,
        )
        done = len(first_task.items)
        if fork_later:
            if _start_method() == "fork":
                warm_up_pool(workers)
            else:  # the consumer started threads meanwhile: never fork those
                pool_starter = threading.Thread(target=warm_up_pool, args=(workers,), daemon=True)
                pool_starter.start()
        yield LoadProgress(stack.series_uid, stack.stack_id, done, n)
        rest = tasks[:first_task_index] + tasks[first_task_index + 1 :]
        # Decode outward from the first slice, so neighbours of the shown slice come first.
        rest.sort(key=lambda t: abs(t.items[0][0] - first_k))
        _prefetch(t.path for t in rest)
        for done in _run(
            rest, mode, workers, out, geom.transform, rows, cols, shared, check_cancel, pool_starter, done, failures
        ):
            yield LoadProgress(stack.series_uid, stack.stack_id, done, n)
        missing = sorted({k for failure in failures for k in failure[0]})
        if len(missing) == n:  # nothing decoded: the stack cannot be shown at all
            _, path, reason, fix = failures[0]
            raise PixelDecodeError(path, reason, fix)
        for failure in failures:
            _fill_air(out, failure[0])
    except BaseException:
        if shared is not None:
            shared.release_name()
        raise
    if shared is not None:
        shared.release_name()

    first = stack.slices[0]
    metadata = study_metadata(
        first.meta,
        first_ds,
        study_uid=stack.study_uid,
        series_uid=stack.series_uid,
        modality=stack.modality,
        series_description=stack.description,
    )
    if first.image_type and not metadata.image_type:
        from dataclasses import replace

        metadata = replace(metadata, image_type=tuple(first.image_type))
    positions = tuple(float(p) for p in stack.geometry.positions_mm) if stack.geometry.positions_mm else tuple(
        float(k) * _slice_spacing_mm(stack) for k in range(n)
    )
    window_c, window_w = first.window_center_hu, first.window_width_hu
    yield Volume(
        hu=out,
        spacing_mm=(_slice_spacing_mm(stack), *geom.pixel_spacing_mm),
        origin_mm=geom.origin_mm,
        direction=geom.direction,
        positions_mm=positions,
        sop_instance_uids=tuple(h.sop_instance_uid for h in stack.slices),
        instance_numbers=tuple(h.instance_number for h in stack.slices),
        slice_thickness_mm=tuple(h.slice_thickness_mm for h in stack.slices),
        source_paths=tuple(Path(h.path) for h in stack.slices),
        series_uid=stack.series_uid,
        stack_id=stack.stack_id,
        metadata=metadata,
        orientation=geom.orientation,
        tilt_deg=float(stack.geometry.tilt_deg or 0.0),
        window_center_hu=window_c,
        window_width_hu=window_w,
        warnings=tuple(stack.warnings) + _decode_warnings(failures, n),
        missing_slices=tuple(missing),
        slice_origins_mm=_slice_origins(stack, geom.origin_mm),
    )


def _slice_origins(stack: Stack, origin_mm: Sequence[float]) -> tuple[tuple[float, float, float], ...]:
    """Each slice's canonical voxel [k, 0, 0] in LPS: its IPP moved like slice 0's to the origin."""
    ipps = [h.position_mm for h in stack.slices]
    if not ipps or any(p is None or len(p) != 3 for p in ipps):
        return ()
    ipp = np.asarray(ipps, dtype=np.float64)
    if not np.all(np.isfinite(ipp)):
        return ()
    origins = ipp + (np.asarray(origin_mm, np.float64) - ipp[0])
    return tuple((float(x), float(y), float(z)) for x, y, z in origins)


def _max_volume_bytes(override: int | None) -> int:
    return max_volume_bytes(override)


def _fill_air(out: np.ndarray, indices: Sequence[int]) -> None:
    for k in indices:
        out[k] = AIR_HU


def _decode_warnings(failures: Sequence[_Failure], n: int) -> tuple[StackWarning, ...]:
    """One DECODE_FAILED warning naming the slices that could not be decoded (shown as air)."""
    if not failures:
        return ()
    count = len({k for f in failures for k in f[0]})
    shown = "; ".join(f"{Path(path).name}: {reason}" for _, path, reason, _ in failures[:3])
    more = f"; and {len(failures) - 3} more files" if len(failures) > 3 else ""
    return (
        StackWarning(
            DECODE_FAILED,
            f"{count} of {n} slices could not be decoded and are shown as air (a gap in the stack): "
            f"{shown}{more}. Do not read or measure across the gap; re-export the series to fill it.",
        ),
    )


def _run(
    tasks: Sequence[FileTask],
    mode: str,
    workers: int,
    out: np.ndarray,
    transform: InPlaneTransform,
    rows: int,
    cols: int,
    shared: _SharedArray | None,
    check_cancel: Callable[[], None],
    pool_starter: threading.Thread | None,
    done: int,
    failures: list[_Failure],
) -> Iterator[int]:
    """Decode `tasks`; yield the running count of slices handled after each finished task. A task
    that cannot be decoded is added to `failures` (its slices become a gap); the rest go on."""
    if mode == "serial":
        for task in tasks:
            check_cancel()
            try:
                decode_file_into(task, out, transform, rows, cols)
            except PixelDecodeError as exc:
                failures.append(_failure(task, exc))
            done += len(task.items)
            yield done
        return
    task_of: dict[Future, FileTask] = {}
    if mode == "threads":
        executor: Executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ichview-decode")
        futures: dict[Future, int] = {}
        for t in tasks:
            f = executor.submit(_thread_decode, t, out, transform, rows, cols)
            futures[f] = len(t.items)
            task_of[f] = t
    else:
        assert shared is not None
        if pool_starter is not None:
            pool_starter.join()
        executor = process_pool(workers)
        chunk = max(1, min(_CHUNK_FILES, len(tasks) // (workers * 4) or 1))
        futures = {}
        for i in range(0, len(tasks), chunk):
            part = tuple(tasks[i : i + chunk])
            f = executor.submit(_process_decode, shared.path, out.shape, part, transform, rows, cols)
            futures[f] = sum(len(t.items) for t in part)
    pending = set(futures)
    try:
        while pending:
            check_cancel()
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for f in finished:
                try:
                    result = f.result()  # re-raises an error from a thread
                except PixelDecodeError as exc:
                    failures.append(_failure(task_of[f], exc))
                    result = None
                if isinstance(result, tuple):  # a worker process: (count, failures)
                    failures.extend(result[1])
                done += futures[f]
            if finished:
                yield done
    finally:
        for f in pending:
            f.cancel()
        if mode == "threads":
            executor.shutdown(wait=True, cancel_futures=True)
        elif pending:
            # Cancelled or failed: let running chunks finish before the file goes away.
            wait(pending, timeout=10)
