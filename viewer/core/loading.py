"""Load a stack's pixels into a Volume: a generator that reports progress and can be cancelled.

Contract (fixed; other modules rely on it). Implementation: see `iter_load_stack`.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from viewer.core.load_events import FirstSlice, LoadEvent, LoadProgress
from viewer.core.series import Stack, StudyTree
from viewer.core.volume import Volume


def open_paths(paths: Sequence[Path | str], *, workers: int | None = None) -> StudyTree:
    """Scan and group: the one call that turns a user's folder / DICOMDIR / files into a StudyTree.

    Never raises on a bad file (see `StudyTree.skipped`); an empty tree means nothing usable.
    """
    from viewer.core.scan import scan_paths
    from viewer.core.series import group_slices

    return group_slices(scan_paths(paths, workers=workers))


def iter_load_stack(
    stack: Stack,
    *,
    workers: int | None = None,
    cancel: threading.Event | None = None,
    parallel: str = "auto",
    max_volume_bytes: int | None = None,
) -> Iterator[LoadEvent]:
    """Decode a stack: yields FirstSlice once, LoadProgress repeatedly, and the Volume last.

    The first slice decoded is the middle one (`n_slices // 2`): the slice the viewer shows first.
    It is decoded in the calling thread and yielded before anything else is decoded. The rest is
    decoded in parallel (see viewer/core/decode_pool.py): worker processes writing straight into
    the shared output array when there is enough work to pay for them (compressed series, large
    series), serially otherwise; `parallel` forces "processes", "threads" or "serial". The output
    (int16, canonical orientation, see volume.py) is allocated once.

    A slice that cannot be decoded does not stop the load: it becomes a gap (its pixels AIR_HU,
    its index in `Volume.missing_slices`, a DECODE_FAILED warning naming the file and why).

    Raises LoadCancelled at the next slice after `cancel` is set; PixelDecodeError naming the file
    and the fix when no slice at all can be decoded; VolumeTooLargeError, before anything is
    allocated, when the volume would need more than `max_volume_bytes` (default: limits.py, 2 GiB
    or $ICHVIEW_MAX_VOLUME_BYTES).
    """
    from viewer.core import decode_pool

    return decode_pool.iter_load(
        stack, workers=workers, cancel=cancel, parallel=parallel, max_volume_bytes=max_volume_bytes
    )


def load_stack(stack: Stack, *, workers: int | None = None) -> Volume:
    """Decode a whole stack and return its Volume."""
    volume = None
    for event in iter_load_stack(stack, workers=workers):
        if isinstance(event, Volume):
            volume = event
    assert volume is not None
    return volume
