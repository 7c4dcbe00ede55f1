"""`ichview listen` without a face: receive pushed studies, analyse each once complete, send results.

A plain generator of events. What "analyse" means is given by the caller (`analyse(study) -> result
files`), so this layer needs neither the engine nor the report writers; the CLI passes the real
analysis. A failure of one study (analysis or sending) is reported as an event and the listener
carries on with the next.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from viewer.core.errors import IchviewError
from viewer.pacs.nodes import LocalAE, PacsNode
from viewer.pacs.send import send_files
from viewer.pacs.storage_scp import ReceivedStudy, StorageSCP


@dataclass(frozen=True)
class Listening:
    ae_title: str
    port: int


@dataclass(frozen=True)
class StudyReceived:
    study: ReceivedStudy


@dataclass(frozen=True)
class StudyAnalysed:
    study: ReceivedStudy
    results: tuple[Path, ...]


@dataclass(frozen=True)
class ResultsSent:
    study: ReceivedStudy
    node: str
    n_files: int


@dataclass(frozen=True)
class StudyFailed:
    study: ReceivedStudy
    stage: str  # "analysis" or "sending"
    message: str  # the error in words (no patient data)


ListenEvent = Listening | StudyReceived | StudyAnalysed | ResultsSent | StudyFailed


def listen(
    scp: StorageSCP,
    analyse: Callable[[ReceivedStudy], Sequence[Path]],
    *,
    local: LocalAE,
    send_to: PacsNode | None = None,
    stop: threading.Event | None = None,
    poll_s: float = 0.2,
    max_studies: int | None = None,
    keep_received: bool = False,
) -> Iterator[ListenEvent]:
    """Run the SCP until `stop` is set (or `max_studies` were handled); see the module docstring."""
    stop = stop or threading.Event()
    handled = 0
    with scp:
        yield Listening(scp.local.ae_title, scp.local.port)
        while not stop.is_set():
            for study in scp.completed():
                yield StudyReceived(study)
                try:
                    results = tuple(analyse(study))
                except IchviewError as exc:
                    yield StudyFailed(study, "analysis", str(exc))
                    results = ()
                else:
                    yield StudyAnalysed(study, results)
                if results and send_to is not None:
                    try:
                        for _ in send_files(send_to, local, results):
                            pass
                    except IchviewError as exc:
                        yield StudyFailed(study, "sending", str(exc))
                    else:
                        yield ResultsSent(study, send_to.name, len(results))
                if not keep_received:
                    scp.discard(study)
                handled += 1
                if max_studies is not None and handled >= max_studies:
                    return
            stop.wait(poll_s)
