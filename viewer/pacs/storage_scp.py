"""A storage SCP that receives pushed CT studies into the cache and says when each is complete.

Only calling AE titles in `allowed_callers` may associate (others are rejected at association);
only CT image SOP classes are accepted (others are refused at negotiation). A study counts as
complete when no instance of it arrived for `quiet_period_s` (DICOM has no "end of study" signal):
its `.partial` folder under `<cache>/incoming/` is then renamed and `ReceivedStudy` is handed out
by `completed()`. Folder names are hashes of the StudyInstanceUID (no patient data).
"""
from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viewer.pacs.cache import PARTIAL, StudyCache, study_key
from viewer.pacs.connect import make_ae
from viewer.pacs.errors import NodeConfigError, PacsUnreachableError
from viewer.pacs.nodes import LocalAE
from viewer.pacs.sop_classes import CT_CLASSES, TRANSFER_SYNTAXES

_SEQ = itertools.count(1)


@dataclass(frozen=True)
class ReceivedStudy:
    """A complete pushed study in the cache."""

    study_uid: str
    folder: Path
    n_instances: int
    calling_ae: str
    key: str  # hash of the study UID: how logs name it


@dataclass
class _Arrival:
    study_uid: str
    folder: Path
    calling_ae: str
    count: int = 0
    last: float = 0.0


class StorageSCP:
    """Start with `start()` (or `with`); poll `completed()`; `stop()` ends it."""

    def __init__(self, local: LocalAE, allowed_callers: tuple[str, ...], cache: StudyCache, *,
                 quiet_period_s: float = 10.0, timeout_s: float = 30.0) -> None:
        if not allowed_callers:
            raise NodeConfigError("no calling AE title is allowed to push: set listen.allowed_callers "
                                  "(or --allow AE) to the scanner's or PACS's AE title")
        self.local = local
        self.allowed = tuple(allowed_callers)
        self.cache = cache
        self.quiet_period_s = float(quiet_period_s)
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._arrivals: dict[str, _Arrival] = {}
        self._server: Any = None
        self.refused = 0  # instances refused (not CT, or a write error)

    def start(self) -> StorageSCP:
        from pynetdicom import evt

        ae = make_ae(self.local, self.timeout_s)
        for uid in CT_CLASSES:
            ae.add_supported_context(uid, list(TRANSFER_SYNTAXES))
        ae.add_supported_context("1.2.840.10008.1.1")  # Verification: a PACS can test the connection
        ae.require_calling_aet = list(self.allowed)
        shutil.rmtree(self.cache.incoming, ignore_errors=True)  # half studies of an earlier run
        self.cache.incoming.mkdir(parents=True, exist_ok=True)
        try:
            self._server = ae.start_server((self.local.host, self.local.port), block=False,
                                           evt_handlers=[(evt.EVT_C_STORE, self._on_c_store)])
        except OSError as exc:
            raise PacsUnreachableError(
                f"cannot listen on {self.local.host}:{self.local.port} ({exc.strerror}); another program "
                "uses the port: stop it or choose another port"
            ) from exc
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> StorageSCP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_c_store(self, event: Any) -> int:
        try:
            ds = event.dataset
            if str(ds.get("Modality", "")) != "CT":
                self.refused += 1
                return 0xA900  # data set does not match SOP class: we analyse CT only
            study_uid = str(ds.StudyInstanceUID)
            data = event.encoded_dataset(include_meta=True)
            sop = str(event.request.AffectedSOPInstanceUID)
            calling = event.assoc.requestor.ae_title
            with self._lock:
                arrival = self._arrivals.get(study_uid)
                if arrival is None:
                    name = f"{study_key(study_uid)}-{next(_SEQ)}{PARTIAL}"
                    folder = self.cache.incoming / name
                    folder.mkdir(parents=True)
                    arrival = self._arrivals[study_uid] = _Arrival(study_uid, folder, str(calling).strip())
                stem = sop if all(c.isdigit() or c == "." for c in sop) else f"i{arrival.count:06d}"
                (arrival.folder / f"{stem}.dcm").write_bytes(data)
                arrival.count += 1
                arrival.last = time.monotonic()
        except Exception:  # noqa: BLE001 - the pusher is told, the log gets no patient data
            self.refused += 1
            return 0xA700
        return 0x0000

    def completed(self, now: float | None = None) -> list[ReceivedStudy]:
        """Studies quiet for the quiet period, moved out of `.partial` (each handed out once)."""
        now = time.monotonic() if now is None else now
        out = []
        with self._lock:
            for uid, arrival in list(self._arrivals.items()):
                if now - arrival.last < self.quiet_period_s:
                    continue
                final = arrival.folder.with_name(arrival.folder.name[: -len(PARTIAL)])
                os.replace(arrival.folder, final)
                del self._arrivals[uid]
                out.append(ReceivedStudy(uid, final, arrival.count, arrival.calling_ae, study_key(uid)))
        return out

    def discard(self, study: ReceivedStudy) -> None:
        """Remove a received study once it has been dealt with (patient images do not pile up)."""
        if study.folder.parent == self.cache.incoming:
            shutil.rmtree(study.folder, ignore_errors=True)
