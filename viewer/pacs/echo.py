"""C-ECHO: is a node there and does it accept our AE title?"""
from __future__ import annotations

import time
from dataclasses import dataclass

from viewer.pacs.connect import association, check_alive
from viewer.pacs.errors import PacsError
from viewer.pacs.nodes import LocalAE, PacsNode


@dataclass(frozen=True)
class EchoResult:
    node: str
    seconds: float


def echo(node: PacsNode, local: LocalAE) -> EchoResult:
    """Verify the connection; raises a PacsError subclass saying what is wrong and what to do."""
    from pynetdicom import build_context
    from pynetdicom.sop_class import Verification

    t0 = time.perf_counter()
    with association(node, local, [build_context(Verification)], purpose="echo") as assoc:
        status = assoc.send_c_echo()
        if not status:
            check_alive(assoc, node, "echoing")
        if int(status.Status) != 0:
            raise PacsError(f"{node.describe()} answered the echo with status 0x{int(status.Status):04X}")
    return EchoResult(node.name, time.perf_counter() - t0)
