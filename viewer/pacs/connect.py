"""One association to a node, with failures turned into typed errors, and pynetdicom kept quiet
about datasets (its identifiers hold patient names: they never reach a log)."""
from __future__ import annotations

import contextlib
import time
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from viewer.pacs.errors import AssociationRejectedError, PacsTimeoutError, PacsUnreachableError
from viewer.pacs.nodes import LocalAE, PacsNode

MAX_PDU = 0  # unlimited on our side: fewer, larger PDUs from the peer
_quieted = False


def quiet_pynetdicom() -> None:
    """No identifiers (patient names, IDs) in pynetdicom's log output, and only its warnings."""
    global _quieted
    if _quieted:
        return
    from pynetdicom import _config

    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False
    _config.LOG_HANDLER_LEVEL = "none"
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    _quieted = True


def make_ae(local: LocalAE, timeout_s: float) -> Any:
    """A pynetdicom AE with our title and the node's timeouts."""
    quiet_pynetdicom()
    from pynetdicom import AE

    ae = AE(ae_title=local.ae_title)
    ae.acse_timeout = timeout_s
    ae.dimse_timeout = timeout_s
    ae.network_timeout = timeout_s
    ae.connection_timeout = min(timeout_s, 10.0)
    ae.maximum_pdu_size = MAX_PDU
    return ae


@contextlib.contextmanager
def association(
    node: PacsNode,
    local: LocalAE,
    contexts: Sequence[Any],
    *,
    ext_neg: Sequence[Any] | None = None,
    evt_handlers: Sequence[tuple[Any, Callable[..., Any]]] | None = None,
    purpose: str = "",
) -> Iterator[Any]:
    """An established association to `node` (released, or aborted on an error, on exit).

    Raises PacsUnreachableError (nothing answers), AssociationRejectedError (the node refused our
    AE title or the services asked for) with the fix in words.
    """
    ae = make_ae(local, node.timeout_s)
    for ctx in contexts:
        ae.add_requested_context(ctx.abstract_syntax, ctx.transfer_syntax)
    started = time.monotonic()
    assoc = ae.associate(
        node.host, node.port, ae_title=node.ae_title, max_pdu=MAX_PDU,
        ext_neg=list(ext_neg) if ext_neg else None, evt_handlers=list(evt_handlers or []),
    )
    waited = time.monotonic() - started
    what = f" for {purpose}" if purpose else ""
    if assoc.is_rejected:
        raise AssociationRejectedError(
            f"{node.describe()} refused the association{what} (our AE title {local.ae_title!r}); add "
            f"{local.ae_title!r} to that node's known modalities, or check its AE title"
        )
    if not assoc.is_established:
        if waited < min(1.0, node.timeout_s / 2):  # answered at once: refused, not silent
            raise PacsUnreachableError(
                f"cannot reach {node.describe()}{what}: the connection was refused (nothing listens on that "
                "port: is the PACS running, and are host and port right?)"
            )
        raise PacsUnreachableError(
            f"cannot reach {node.describe()}{what}: no answer within {node.timeout_s:g} s "
            "(is the PACS running, and are host and port right?)"
        )
    try:
        yield assoc
    except BaseException:
        assoc.abort()
        raise
    else:
        if assoc.is_established:
            assoc.release()


def check_alive(assoc: Any, node: PacsNode, doing: str) -> None:
    """After a DIMSE exchange returned nothing: raise the reason (aborted or timed out)."""
    if assoc.is_aborted or not assoc.is_established:
        raise PacsUnreachableError(f"{node.describe()} closed the connection while {doing}")
    raise PacsTimeoutError(f"{node.describe()} did not answer within {node.timeout_s:g} s while {doing}")
