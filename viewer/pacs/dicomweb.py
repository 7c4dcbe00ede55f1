"""The DICOMweb client: QIDO-RS as JSON and WADO-RS as a stream of Part-10 instances.

The standard library's urllib is enough (no new dependency): QIDO is one GET of JSON, and WADO-RS
answers multipart/related, which `iter_multipart` splits as the bytes arrive, so the caller gets
each instance (and can report progress or cancel) without holding the whole study in memory.
"""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any, BinaryIO

from viewer.pacs.errors import PacsTimeoutError, PacsUnreachableError, QueryFailedError, RetrieveFailedError
from viewer.pacs.nodes import PacsNode

CHUNK = 1 << 20
WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def _url(node: PacsNode, path: str, params: dict[str, str] | None = None) -> str:
    base = node.dicomweb_url.rstrip("/")
    query = ("?" + urllib.parse.urlencode(params, safe="*?,^", quote_via=urllib.parse.quote)) if params else ""
    return f"{base}/{path.lstrip('/')}{query}"


def _open(node: PacsNode, url: str, accept: str, doing: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        return urllib.request.urlopen(request, timeout=node.timeout_s)
    except urllib.error.HTTPError as exc:
        raise (QueryFailedError if doing.startswith("query") else RetrieveFailedError)(
            f"{node.name} DICOMweb answered HTTP {exc.code} ({exc.reason}) while {doing}; check dicomweb_url"
        ) from exc
    except (socket.timeout, TimeoutError) as exc:
        raise PacsTimeoutError(f"{node.name} DICOMweb did not answer within {node.timeout_s:g} s while {doing}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PacsUnreachableError(
            f"cannot reach {node.name} DICOMweb at {node.dicomweb_url} while {doing} ({reason}); is it running?"
        ) from exc


def qido_json(node: PacsNode, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """GET a QIDO-RS resource; the list of DICOM JSON objects (empty on 204)."""
    with _open(node, _url(node, path, params), "application/dicom+json", "querying") as response:
        body = response.read()
    if not body:
        return []
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise QueryFailedError(f"{node.name} DICOMweb answered something that is not JSON") from exc
    if not isinstance(data, list):
        raise QueryFailedError(f"{node.name} DICOMweb answered JSON that is not a list")
    return data


def _boundary(content_type: str) -> bytes:
    for part in content_type.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "boundary":
            return value.strip().strip('"').encode("ascii")
    raise RetrieveFailedError(f"WADO-RS answer without a multipart boundary ({content_type!r})")


def iter_multipart(stream: BinaryIO, boundary: bytes, *, chunk: int = CHUNK) -> Iterator[bytes]:
    """The bodies of a multipart/related stream, one at a time, as they complete.

    Raises RetrieveFailedError when the stream ends before the closing delimiter (a cut connection).
    """
    delim = b"\r\n--" + boundary
    buf = bytearray(b"\r\n")  # so the first delimiter looks like every other
    pos = 0
    eof = False

    def fill() -> None:
        nonlocal eof
        data = stream.read(chunk)
        if not data:
            eof = True
        buf.extend(data)

    # Find the first delimiter.
    while True:
        i = buf.find(delim)
        if i >= 0:
            pos = i + len(delim)
            break
        if eof:
            raise RetrieveFailedError("WADO-RS answer holds no multipart part")
        fill()
    while True:
        while len(buf) < pos + 2 and not eof:
            fill()
        if buf[pos : pos + 2] == b"--":
            return
        head_end = -1
        while True:
            head_end = buf.find(b"\r\n\r\n", pos)
            if head_end >= 0 or eof:
                break
            fill()
        if head_end < 0:
            raise RetrieveFailedError("the WADO-RS stream ended inside a part header (connection cut)")
        headers = bytes(buf[pos:head_end]).decode("latin-1").lower()
        start = head_end + 4
        length = None
        for line in headers.split("\r\n"):
            if line.startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        if length is not None:
            while len(buf) < start + length + len(delim) and not eof:
                fill()
            end = start + length
            if buf[end : end + len(delim)] != delim:
                raise RetrieveFailedError("the WADO-RS stream ended inside an instance (connection cut)")
        else:
            search = start
            while True:
                end = buf.find(delim, search)
                if end >= 0:
                    break
                if eof:
                    raise RetrieveFailedError("the WADO-RS stream ended inside an instance (connection cut)")
                search = max(start, len(buf) - len(delim))
                fill()
        yield bytes(buf[start:end])
        del buf[:end]
        pos = len(delim)


def wado_study(node: PacsNode, study_uid: str) -> tuple[Any, bytes]:
    """Open WADO-RS for a whole study: (the response to read, its multipart boundary)."""
    response = _open(node, _url(node, f"studies/{study_uid}"), WADO_ACCEPT, "retrieving")
    return response, _boundary(response.headers.get("Content-Type", ""))
