"""Retrieve a study into the cache: C-GET, C-MOVE (to our own storage SCP) or WADO-RS.

Each method is a plain generator: it yields `RetrieveProgress` as instances arrive and
`RetrieveDone` last. Instances are written into the cache's `.partial` folder for the study, which is
renamed to the study's folder only when every instance arrived and the node reported success; on a
failure, a cancel (`cancel` set, or the generator closed) or an interrupted connection the partial
folder is removed, so a half study never looks complete. Errors are PacsError subclasses naming
the node and the fix; nothing here logs patient data.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viewer.pacs.cache import StudyCache
from viewer.pacs.connect import association, check_alive, make_ae
from viewer.pacs.errors import (
    CacheError,
    PacsError,
    PacsTimeoutError,
    PacsUnreachableError,
    RetrieveCancelled,
    RetrieveFailedError,
)
from viewer.pacs.nodes import LocalAE, PacsNode
from viewer.pacs.sop_classes import STUDY_CLASSES, storage_contexts

METHODS = ("cget", "cmove", "wado")
_SAFE_UID = re.compile(r"^[0-9.]{1,64}$")


@dataclass(frozen=True)
class RetrieveProgress:
    study_uid: str
    done: int  # instances written
    total: int | None  # expected, when the node said
    method: str


@dataclass(frozen=True)
class RetrieveDone:
    study_uid: str
    folder: Path  # the complete study in the cache
    n_instances: int
    method: str
    seconds: float
    from_cache: bool = False


RetrieveEvent = RetrieveProgress | RetrieveDone


class _Sink:
    """Writes received instances into the partial folder (called from pynetdicom's threads)."""

    def __init__(self, folder: Path, cache: StudyCache) -> None:
        self.folder = folder
        self.cache = cache
        self.lock = threading.Lock()
        self.count = 0
        self.bytes = 0
        self.error: BaseException | None = None
        self.closed = False

    def name_for(self, sop_uid: str) -> Path:
        uid = str(sop_uid)
        stem = uid if _SAFE_UID.match(uid) else f"instance-{self.count:06d}"
        return self.folder / f"{stem}.dcm"

    def write(self, sop_uid: str, data: bytes) -> None:
        with self.lock:
            if self.closed:
                raise RetrieveCancelled("retrieve already stopped")
            path = self.name_for(sop_uid)
            path.write_bytes(data)
            self.count += 1
            self.bytes += len(data)
            self.cache.check_room(self.folder, self.bytes)

    def on_c_store(self, event: Any) -> int:
        try:
            self.write(event.request.AffectedSOPInstanceUID, event.encoded_dataset(include_meta=True))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller after the exchange
            self.error = self.error or exc
            return 0xA700  # out of resources: the node records a failed sub-operation
        return 0x0000

    def close(self) -> None:
        with self.lock:
            self.closed = True


def _counts(status: Any) -> tuple[int, int | None]:
    """(completed, total) from a C-GET / C-MOVE response, total None when not given."""
    values = [status.get(k) for k in (
        "NumberOfCompletedSuboperations", "NumberOfRemainingSuboperations",
        "NumberOfFailedSuboperations", "NumberOfWarningSuboperations",
    )]
    nums = [int(v) if v not in (None, "") else None for v in values]
    completed = nums[0] or 0
    total = None if nums[1] is None else sum(n or 0 for n in nums)
    return completed, total


def _identifier(study_uid: str) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study_uid
    return ds


def _run_dimse(
    responses: Iterator[tuple[Any, Any]],
    assoc: Any,
    node: PacsNode,
    study_uid: str,
    sink: _Sink,
    method: str,
    cancel: threading.Event | None,
) -> Iterator[RetrieveProgress]:
    """Follow C-GET / C-MOVE responses; yields progress; returns when the node reported success."""
    total: int | None = None
    doing = f"retrieving a study by {method}"
    for status, _ in responses:
        if cancel is not None and cancel.is_set():
            raise RetrieveCancelled("retrieve cancelled; the partial study was discarded")
        if not status:
            check_alive(assoc, node, doing)
        if sink.error is not None:
            raise sink.error
        code = int(status.Status)
        _, t = _counts(status)
        total = t if t is not None else total
        if code == 0xFF00:
            yield RetrieveProgress(study_uid, sink.count, total, method)
            continue
        if code == 0x0000:
            return
        raise RetrieveFailedError(
            f"{node.describe()} ended the {method} with status 0x{code:04X} after {sink.count} of "
            f"{total if total is not None else '?'} instances (failed sub-operations: "
            f"{status.get('NumberOfFailedSuboperations', '?')}); nothing was kept"
        )
    check_alive(assoc, node, doing)


def _cget(node: PacsNode, local: LocalAE, study_uid: str, sink: _Sink, cancel: threading.Event | None) -> Iterator[RetrieveProgress]:
    from pynetdicom import build_context, build_role, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as GET

    contexts = [build_context(GET)] + storage_contexts()
    roles = [build_role(uid, scp_role=True) for uid in STUDY_CLASSES]
    with association(node, local, contexts, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, sink.on_c_store)],
                     purpose="C-GET") as assoc:
        yield from _run_dimse(assoc.send_c_get(_identifier(study_uid), GET), assoc, node, study_uid, sink, "C-GET", cancel)


def _cmove(node: PacsNode, local: LocalAE, study_uid: str, sink: _Sink, cancel: threading.Event | None) -> Iterator[RetrieveProgress]:
    from pynetdicom import build_context, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove as MOVE

    scp = make_ae(local, node.timeout_s)
    for ctx in storage_contexts():
        scp.add_supported_context(ctx.abstract_syntax, ctx.transfer_syntax)
    scp.require_calling_aet = [node.ae_title]
    try:
        server = scp.start_server((local.host, local.port), block=False, evt_handlers=[(evt.EVT_C_STORE, sink.on_c_store)])
    except OSError as exc:
        raise PacsUnreachableError(
            f"cannot listen on port {local.port} for the C-MOVE ({exc.strerror}); another program (or "
            "`ichview listen`) uses it: stop it, or retrieve by C-GET"
        ) from exc
    try:
        with association(node, local, [build_context(MOVE)], purpose="C-MOVE") as assoc:
            responses = assoc.send_c_move(_identifier(study_uid), local.ae_title, MOVE)
            yield from _run_dimse(responses, assoc, node, study_uid, sink, "C-MOVE", cancel)
    finally:
        server.shutdown()


def _wado(node: PacsNode, study_uid: str, sink: _Sink, cancel: threading.Event | None) -> Iterator[RetrieveProgress]:
    import http.client
    import socket

    from viewer.pacs.dicomweb import iter_multipart, qido_json, wado_study

    rows = qido_json(node, "studies", {"StudyInstanceUID": study_uid, "includefield": "00201208"})
    total = None
    if rows:
        value = rows[0].get("00201208", {}).get("Value", [None])[0]
        total = int(value) if value is not None else None
    response, boundary = wado_study(node, study_uid)
    try:
        for n, part in enumerate(iter_multipart(response, boundary)):
            if cancel is not None and cancel.is_set():
                raise RetrieveCancelled("retrieve cancelled; the partial study was discarded")
            sink.write(_sop_uid(part) or f"x{n}", part)
            yield RetrieveProgress(study_uid, sink.count, total, "WADO-RS")
    except (socket.timeout, TimeoutError) as exc:
        raise PacsTimeoutError(f"{node.name} DICOMweb stopped sending within {node.timeout_s:g} s") from exc
    except (http.client.HTTPException, OSError) as exc:
        raise PacsUnreachableError(f"{node.name} DICOMweb closed the connection during the retrieve ({exc})") from exc
    finally:
        response.close()
    if total is not None and sink.count != total:
        raise RetrieveFailedError(
            f"{node.name} DICOMweb sent {sink.count} of {total} instances; nothing was kept (retry)"
        )


def _sop_uid(part: bytes) -> str:
    """The MediaStorageSOPInstanceUID from a Part-10 file's meta header ('' when not found)."""
    i = part.find(b"\x02\x00\x03\x00", 132, 4096)
    if i < 0 or part[i + 4 : i + 6] != b"UI":
        return ""
    length = int.from_bytes(part[i + 6 : i + 8], "little")
    return part[i + 8 : i + 8 + length].rstrip(b"\x00 ").decode("ascii", "replace")


def retrieve_study(
    node: PacsNode,
    local: LocalAE,
    study_uid: str,
    cache: StudyCache,
    *,
    method: str = "cget",
    cancel: threading.Event | None = None,
    refresh: bool = False,
) -> Iterator[RetrieveEvent]:
    """Bring one study into the cache; see the module docstring. A study already complete in the
    cache is returned at once unless `refresh`."""
    if method not in METHODS:
        raise ValueError(f"unknown retrieve method {method!r} (one of {', '.join(METHODS)})")
    t0 = time.perf_counter()
    if not refresh:
        cached = cache.complete(study_uid)
        if cached is not None:
            n = sum(1 for p in cached.iterdir() if p.is_file())
            yield RetrieveDone(study_uid, cached, n, method, 0.0, from_cache=True)
            return
    partial = cache.start(study_uid)
    sink = _Sink(partial, cache)
    runs: dict[str, Callable[[], Iterator[RetrieveProgress]]] = {
        "cget": lambda: _cget(node, local, study_uid, sink, cancel),
        "cmove": lambda: _cmove(node, local, study_uid, sink, cancel),
        "wado": lambda: _wado(node, study_uid, sink, cancel),
    }
    committed = False
    try:
        try:
            yield from runs[method]()
        except (RetrieveCancelled, CacheError):
            raise
        except RetrieveFailedError as exc:
            if str(exc).startswith(node.name):
                raise
            raise RetrieveFailedError(
                f"{node.name}: {exc} after {sink.count} instances; the partial study was discarded (retry)"
            ) from exc
        except PacsError as exc:
            raise RetrieveFailedError(
                f"{exc} (after {sink.count} instances); the partial study was discarded: retry when the node is back"
            ) from exc
        sink.close()
        if sink.error is not None:
            raise sink.error
        if sink.count == 0:
            raise RetrieveFailedError(f"{node.describe()} sent no instances for this study (is it still on the node?)")
        folder = cache.commit(study_uid, partial)
        committed = True
        yield RetrieveDone(study_uid, folder, sink.count, method, time.perf_counter() - t0)
    finally:
        sink.close()
        if not committed:
            cache.discard(partial)
