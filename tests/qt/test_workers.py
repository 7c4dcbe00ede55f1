"""The worker job: items reach the GUI thread in order, cancel drops late items, threads end."""
from __future__ import annotations

import threading
import time

import pytest
from PySide6 import QtCore

from viewer.core.errors import PixelDecodeError
from viewer.qt.workers import Job, JobSlot


def test_items_arrive_in_the_gui_thread_in_order(qtbot) -> None:  # noqa: ANN001
    got: list[tuple[int, bool]] = []
    gui = threading.current_thread()
    job = Job("count", "stack-a", lambda cancel: iter(range(5)))
    job.item_ready.connect(lambda i: got.append((i, threading.current_thread() is gui)))
    with qtbot.waitSignal(job.finished, timeout=5000) as done:
        job.start()
    assert done.args == [False]
    assert got == [(i, True) for i in range(5)]
    assert job.wait(5.0) and not job.is_running()
    assert job.key == "stack-a"


def test_cancel_stops_the_generator_and_drops_items_in_flight(qtbot) -> None:  # noqa: ANN001
    started = threading.Event()
    seen_cancel = threading.Event()

    def slow(cancel: threading.Event):  # noqa: ANN202
        for i in range(1000):
            started.set()
            if cancel.is_set():
                seen_cancel.set()
                return
            time.sleep(0.002)
            yield i

    got: list[int] = []
    job = Job("slow", "stack-a", slow)
    job.item_ready.connect(got.append)
    finished: list[bool] = []
    job.finished.connect(finished.append)
    job.start()
    assert started.wait(5.0)
    time.sleep(0.05)  # items queue up while the GUI thread is not processing events
    job.cancel()
    n_at_cancel = len(got)
    assert job.wait(5.0), "the worker thread did not end after cancel"
    qtbot.wait(50)  # deliver whatever was queued: it must be dropped
    assert len(got) == n_at_cancel
    assert job.dropped > 0
    assert finished == []  # nothing of a cancelled job reaches the GUI, not even `finished`
    assert seen_cancel.is_set() or not job.is_running()


def test_a_failure_reaches_the_gui_as_the_exception(qtbot) -> None:  # noqa: ANN001
    def broken(cancel: threading.Event):  # noqa: ANN202
        yield 1
        raise PixelDecodeError("/data/x.dcm", "truncated", "re-export the series")

    job = Job("broken", "s", broken)
    errors: list[object] = []
    job.failed.connect(errors.append)
    with qtbot.waitSignal(job.finished, timeout=5000):
        job.start()
    assert len(errors) == 1 and isinstance(errors[0], PixelDecodeError)
    assert "re-export the series" in str(errors[0])
    job.wait(5.0)


def test_job_slot_cancels_the_previous_job_of_its_kind(qtbot) -> None:  # noqa: ANN001
    def forever(cancel: threading.Event):  # noqa: ANN202
        while not cancel.is_set():
            time.sleep(0.005)
            yield "old"

    slot = JobSlot()
    first = slot.replace(Job("a", "old", forever))
    new_items: list[str] = []
    second = Job("b", "new", lambda cancel: iter(["new"]))
    second.item_ready.connect(new_items.append)
    with qtbot.waitSignal(second.finished, timeout=5000):
        slot.replace(second)
    assert first.cancelled and not second.cancelled
    assert slot.shutdown(5.0)
    assert not first.is_running() and not second.is_running()
    assert new_items == ["new"]


def test_start_twice_is_refused() -> None:
    job = Job("once", "s", lambda cancel: iter(()))
    job.start()
    with pytest.raises(RuntimeError):
        job.start()
    assert job.wait(5.0)
    QtCore.QCoreApplication.processEvents()
