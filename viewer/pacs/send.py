"""C-STORE files to a node (our SR and key images, or any DICOM files): a plain generator."""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from viewer.pacs.connect import association, check_alive
from viewer.pacs.errors import RetrieveCancelled, SendFailedError
from viewer.pacs.nodes import LocalAE, PacsNode


@dataclass(frozen=True)
class SendProgress:
    done: int
    total: int
    failed: int


def _meta(path: Path) -> tuple[str, str]:
    from pydicom.filereader import read_file_meta_info

    try:
        meta = read_file_meta_info(path)
        return str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is refused the same way
        raise SendFailedError(f"{path.name}: not a DICOM Part-10 file, not sent ({type(exc).__name__})") from exc


def send_files(
    node: PacsNode, local: LocalAE, paths: Sequence[Path], *, cancel: threading.Event | None = None
) -> Iterator[SendProgress]:
    """Store each file on `node` in one association; yields progress after every file and raises
    SendFailedError at the end when any was refused (how many, and the first status)."""
    from pynetdicom import build_context

    files = [Path(p) for p in paths]
    if not files:
        return
    metas = [_meta(p) for p in files]
    by_class: dict[str, set[str]] = {}
    for sop_class, syntax in metas:
        by_class.setdefault(sop_class, set()).add(syntax)
    contexts = []
    for sop_class, syntaxes in by_class.items():
        contexts.append(build_context(sop_class, sorted(syntaxes)))
    failed: list[str] = []
    with association(node, local, contexts, purpose="sending results") as assoc:
        for n, path in enumerate(files, start=1):
            if cancel is not None and cancel.is_set():
                raise RetrieveCancelled(f"sending cancelled after {n - 1} of {len(files)} files")
            status = assoc.send_c_store(str(path))
            if not status:
                check_alive(assoc, node, "sending results")
            code = int(status.Status)
            if code not in (0x0000, 0xB000, 0xB007, 0xB006):
                failed.append(f"{path.name}: 0x{code:04X}")
            yield SendProgress(n, len(files), len(failed))
    if failed:
        raise SendFailedError(f"{node.describe()} refused {len(failed)} of {len(files)} files (first: {failed[0]})")
