"""The one place where long work runs off the GUI thread.

A `Job` runs a plain generator in a Python thread and hands each item to the GUI thread through a
queued signal. Cancelling sets a `threading.Event` the generator receives (the core checks it at
its next item) and, from that moment, drops every item still in flight: after `cancel()` returns no
item of that job reaches a slot. Every job carries the `key` (stack id) its results belong to, and
`Job.dropped` counts the items dropped. Workers never touch widgets and never call processEvents.

    job = Job("load", stack.stack_id, lambda cancel: iter_load_stack(stack, cancel=cancel))
    job.item_ready.connect(on_item); job.failed.connect(on_error); job.finished.connect(on_done)
    job.start()
    ...
    job.cancel(); job.wait(5.0)
"""
from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from PySide6 import QtCore

from viewer.app_logging import get_logger
from viewer.core.errors import LoadCancelled

GeneratorFactory = Callable[[threading.Event], Iterator[Any]]

_log = get_logger("workers")
_ITEM, _FAILED, _FINISHED = "item", "failed", "finished"


class Job(QtCore.QObject):
    """A generator run in a worker thread; its items arrive in the GUI thread via signals.

    Signals (always delivered in the GUI thread, never after `cancel()`):
    `item_ready(object)` each yielded item; `failed(object)` the exception that ended the run;
    `finished(bool)` once at the end, with whether the job was cancelled (not sent after cancel).
    """

    item_ready = QtCore.Signal(object)
    failed = QtCore.Signal(object)
    finished = QtCore.Signal(bool)
    _relay = QtCore.Signal(str, object)

    def __init__(self, name: str, key: str, make: GeneratorFactory, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.key = key
        self._make = make
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self.dropped = 0  # items that arrived after cancel() and were dropped
        self.delivered = 0
        self._relay.connect(self._on_relay, QtCore.Qt.ConnectionType.QueuedConnection)

    # ----------------------------------------------------------------------------- control
    def start(self) -> None:
        """Start the worker thread (once)."""
        if self._thread is not None:
            raise RuntimeError(f"job {self.name} already started")
        self._thread = threading.Thread(target=self._run, name=f"ichview-{self.name}", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the generator to stop at its next item; drop everything not yet delivered."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def is_running(self) -> bool:
        """Whether the worker thread is still alive."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Join the worker thread; True when it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # ---------------------------------------------------------------------------- internals
    def _run(self) -> None:
        generator: Iterator[Any] | None = None
        try:
            generator = self._make(self._cancel)
            for item in generator:
                if self._cancel.is_set():
                    break
                self._relay.emit(_ITEM, item)
            self._relay.emit(_FINISHED, self._cancel.is_set())
        except LoadCancelled:
            self._relay.emit(_FINISHED, True)
        except BaseException as exc:  # noqa: BLE001 (reported to the GUI, which shows and logs it)
            if self._cancel.is_set():
                self._relay.emit(_FINISHED, True)
            else:
                _log.error("job %s failed: %s\n%s", self.name, type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
                self._relay.emit(_FAILED, exc)
                self._relay.emit(_FINISHED, False)
        finally:
            close = getattr(generator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001
                    pass
            self._done.set()

    @QtCore.Slot(str, object)
    def _on_relay(self, kind: str, payload: object) -> None:
        if self._cancel.is_set():
            if kind == _ITEM:
                self.dropped += 1
            return
        if kind == _ITEM:
            self.delivered += 1
            self.item_ready.emit(payload)
        elif kind == _FAILED:
            self.failed.emit(payload)
        else:
            self.finished.emit(bool(payload))


class JobSlot(QtCore.QObject):
    """Holds at most one job of a kind: starting a new one cancels the previous one."""

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.job: Job | None = None
        self._old: list[Job] = []

    def replace(self, job: Job) -> Job:
        """Cancel the current job (it ends in the background) and start `job`."""
        self.cancel()
        self.job = job
        job.start()
        return job

    def cancel(self) -> None:
        """Cancel the current job, if any (its thread is joined by `shutdown` / reaped later)."""
        if self.job is not None:
            self.job.cancel()
            self._old.append(self.job)
            self.job = None
        self._old = [j for j in self._old if j.is_running()]

    def is_busy(self) -> bool:
        return self.job is not None and self.job.is_running()

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Cancel everything and join every thread; True when all ended."""
        self.cancel()
        ok = True
        for job in self._old:
            ok = job.wait(timeout_s) and ok
        self._old = [j for j in self._old if j.is_running()]
        return ok
