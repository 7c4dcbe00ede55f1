"""Typed PACS errors: each names the problem (node by name and address, never patient data) and the fix."""
from __future__ import annotations

from viewer.core.errors import IchviewError


class PacsError(IchviewError):
    """Base class of every DICOM networking problem."""


class NodeConfigError(PacsError):
    """The PACS settings file or a node in it is invalid (the message names the field and the fix)."""


class PacsUnreachableError(PacsError):
    """No association could be made: nothing listens at host:port, or the connection timed out."""


class AssociationRejectedError(PacsError):
    """The remote node refused us (usually: our AE title is not configured there)."""


class PacsTimeoutError(PacsError):
    """The remote node stopped answering within the timeout."""


class QueryFailedError(PacsError):
    """A C-FIND or QIDO-RS query failed (status or HTTP error given)."""


class RetrieveFailedError(PacsError):
    """A retrieve did not complete; the partial study was discarded (nothing complete-looking left)."""


class RetrieveCancelled(PacsError):
    """The user cancelled a retrieve; the partial study was discarded."""


class SendFailedError(PacsError):
    """A C-STORE to a node failed for one or more instances."""


class CacheError(PacsError):
    """The retrieve cache cannot be used (not writable, or the study does not fit the size limit)."""
