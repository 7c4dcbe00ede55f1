"""A fast reader for the header of a DICOM Part-10 file, up to its pixel data, in pure Python.

`read_raw_header` walks the data elements of the common case with `struct` on the file's first
bytes and returns exactly the raw elements that `pydicom.dcmread(stop_before_pixels=True)` would
hold for the tags the caller asks for (same tag, VR, length, value bytes and offset), plus where
the pixel data element starts. Every other element's value is skipped without being decoded or
even read; undefined-length sequences are walked item by item, the way pydicom walks them.

It handles only what it can reproduce exactly and returns None for everything else, so that the
caller parses the file with pydicom instead: no 128-byte preamble + "DICM", file meta that is not
explicit VR little endian, big endian, deflated or private transfer syntaxes, a command set, an
encoding that does not match the transfer syntax, unknown VRs, undefined-length values that are not
sequences, items or delimiters out of place, nesting deeper than `_MAX_DEPTH`, a tag in
`give_up_on` (e.g. sequences the caller needs parsed), no pixel data, pixel data that runs past the
end of the file (or whose end marker is not the file's last 8 bytes), any read error. It never
raises on a bad file.

Measured (bench/load.py's synthetic and real CT series, 2 shared cores): 0.1-0.2 ms of CPU per file
against 0.8-1.4 ms for pydicom's header parse and value access.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from struct import Struct

import pydicom.config
import pydicom.uid
from pydicom.dataelem import RawDataElement, empty_value_for_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

try:  # the lookup pydicom's reader itself uses for undefined-length implicit VR elements
    from pydicom.datadict import _dictionary_vr_fast as _dictionary_vr
except ImportError:  # pragma: no cover - older / newer pydicom
    from pydicom.datadict import dictionary_VR as _dictionary_vr

CHUNK_BYTES = 16384  # first read; headers of CT files are 1-6 KiB
MAX_VALUE_BYTES = 16 << 20  # a kept value longer than this: pydicom's (bounded) path decides
PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})  # where pydicom's stop_before_pixels stops
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
_NOT_WALKED = frozenset({
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
})
_MAX_DEPTH = 16
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_SEQUENCE_END_BYTES = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_PIXEL_VRS = frozenset({"OB", "OW", "OF", "OD", "UN", "OL", "OV"})  # scan.py checks these lengths
# Explicit VRs as written in the file -> (VR, 4-byte length); pydicom's two-letter VRs only.
_LONG_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_VRS: dict[bytes, tuple[str, bool]] = {
    code.encode(): (code, code in _LONG_VRS)
    for code in (
        "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN "
        "UR US UT UV"
    ).split()
}
_TAG = Struct("<HH")
_U16 = Struct("<H")
_U32 = Struct("<I")
_TAG_LENGTH = Struct("<HHI")
_EXPLICIT = Struct("<HH2sH")


# One element as read: (VR or None in implicit VR, value bytes (b"" when empty), offset of the value
# in the file). A plain tuple: the reader makes one per kept element.
RawValue = tuple[str | None, bytes, int]


@dataclass(frozen=True)
class RawHeader:
    """The raw elements of one file's header, as pydicom's reader would hold them."""

    file_meta: dict[int, RawValue]  # every group 0002 element
    elements: dict[int, RawValue]  # the asked-for data set elements that are present
    is_implicit_vr: bool  # the data set's encoding (always little endian)
    transfer_syntax_uid: str
    pixel_offset: int  # byte offset of the pixel data element's tag in the file
    pixel_value_start: int = 0  # byte offset of the pixel data value
    pixel_length: int | None = None  # its declared length; None when encapsulated (undefined)
    file_size: int = 0

    def dataset(self) -> Dataset:
        """A pydicom Dataset (with `file_meta` and original encoding) holding these elements."""
        ds = Dataset({BaseTag(t): _raw_element(t, e, self.is_implicit_vr) for t, e in self.elements.items()})
        ds.file_meta = FileMetaDataset({BaseTag(t): _raw_element(t, e, False) for t, e in self.file_meta.items()})
        ds.file_meta.set_original_encoding(False, True, "iso8859")
        ds.set_original_encoding(self.is_implicit_vr, True)
        return ds


def _raw_element(tag: int, entry: RawValue, implicit: bool) -> RawDataElement:
    vr, value, value_tell = entry
    raw_value = value if value else empty_value_for_VR(vr, raw=True)  # what pydicom stores for 0 bytes
    return RawDataElement(BaseTag(tag), vr, len(value), raw_value, value_tell, implicit, True)  # type: ignore[arg-type]


class _Unsupported(Exception):
    """Internal: the file needs pydicom's full reader."""


class _Walker:
    """Absolute file positions over a buffer that is refilled (by seeking) when a walk leaves it."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self.start = 0
        self.data = b""

    def window(self, pos: int, n: int) -> tuple[bytes, int]:
        """(buffer, index of `pos` in it) with at least `n` bytes from `pos`; _Unsupported at EOF."""
        rel = pos - self.start
        if rel < 0 or rel + n > len(self.data):
            if pos + n > self.size or n > MAX_VALUE_BYTES:
                raise _Unsupported("end of file")
            self.data = os.pread(self.fd, max(n, CHUNK_BYTES), pos)
            self.start = pos
            rel = 0
            if len(self.data) < n:
                raise _Unsupported("short read")
        return self.data, rel

    # -------------------------------------------------------------------------- one element
    def element(self, pos: int, implicit: bool) -> tuple[int, str | None, int, int]:
        """(tag, VR or None, value length, value position) of the element at `pos`."""
        data, rel = self.window(pos, 8)
        group, elem = _TAG.unpack_from(data, rel)
        if implicit:
            return group << 16 | elem, None, _U32.unpack_from(data, rel + 4)[0], pos + 8
        code = data[rel + 4:rel + 6]
        known = _VRS.get(code)
        if known is None:
            if group == 0xFFFE:  # item / delimiter tags carry no VR: their length follows the tag
                return group << 16 | elem, None, _U32.unpack_from(data, rel + 4)[0], pos + 8
            raise _Unsupported("unknown VR")
        vr, long = known
        if long:
            data, rel = self.window(pos, 12)
            return group << 16 | elem, vr, _U32.unpack_from(data, rel + 8)[0], pos + 12
        return group << 16 | elem, vr, _U16.unpack_from(data, rel + 6)[0], pos + 8

    def looks_implicit(self, pos: int) -> bool:
        """pydicom's test of a data set's first element: its bytes 4-5 are not two capitals."""
        if pos + 6 > self.size:
            raise _Unsupported("end of file")
        data, rel = self.window(pos, 6)
        return not (0x40 < data[rel + 4] < 0x5B and 0x40 < data[rel + 5] < 0x5B)

    # -------------------------------------------------------------------------- sequences
    def sequence_vr(self, tag: int, vr: str | None, pos: int) -> None:
        """Raise unless an undefined-length element is a sequence for pydicom (PS3.5 6.2.2)."""
        if vr == "SQ":
            return
        if vr == "UN":
            if pydicom.config.settings.infer_sq_for_un_vr:
                return
            raise _Unsupported("undefined-length UN")
        if vr is not None:
            raise _Unsupported("undefined-length non-sequence value")
        try:
            known = _dictionary_vr(tag)
        except KeyError:
            data, rel = self.window(pos, 4)
            if _TAG.unpack_from(data, rel) == (0xFFFE, 0xE000):
                return
            raise _Unsupported("undefined-length value that is not a sequence") from None
        if known != "SQ":
            raise _Unsupported("undefined-length non-sequence value")

    def skip_sequence(self, pos: int, implicit: bool, depth: int) -> int:
        """Position after an undefined-length sequence whose value starts at `pos`."""
        if depth > _MAX_DEPTH:
            raise _Unsupported("nested too deep")
        while True:
            data, rel = self.window(pos, 8)
            group, elem, length = _TAG_LENGTH.unpack_from(data, rel)
            tag = group << 16 | elem
            pos += 8
            if tag == _SEQUENCE_END:
                return pos
            if tag != _ITEM:
                raise _Unsupported("not an item in a sequence")
            if length == _UNDEFINED:
                pos = self.skip_item(pos, implicit, None, depth)
            else:
                end = pos + length
                if end > self.size or self.skip_item(pos, implicit, end, depth) != end:
                    raise _Unsupported("item length does not match its elements")
                pos = end

    def skip_item(self, pos: int, implicit: bool, end: int | None, depth: int) -> int:
        """Position after an item's data set (to `end`, or through its item delimiter)."""
        if end is not None and end == pos:
            return pos
        if not implicit and self.looks_implicit(pos):
            implicit = True  # pydicom reads a sequence item written in implicit VR as such
        while end is None or pos < end:
            tag, vr, length, value_pos = self.element(pos, implicit)
            if tag == _ITEM_END:
                return value_pos
            if tag >> 16 == 0xFFFE:
                raise _Unsupported("item tag inside an item")
            if length == _UNDEFINED:
                self.sequence_vr(tag, vr, value_pos)
                pos = self.skip_sequence(value_pos, implicit, depth + 1)
            else:
                pos = value_pos + length
        return pos


def read_raw_header(
    path: Path | str,
    *,
    keep: frozenset[int],
    give_up_on: frozenset[int] = frozenset(),
) -> RawHeader | None:
    """The raw elements `keep` of `path`'s data set up to its pixel data, or None when the file
    is not one this reader handles (see the module docstring): parse it with pydicom then.

    A tag in `give_up_on` met at the top level of the data set gives None as well."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO never blocks here
    except Exception:  # noqa: BLE001 - missing, unreadable...: pydicom's path words it
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        return _read(_Walker(fd, info.st_size), keep, give_up_on)
    except Exception:  # noqa: BLE001 - _Unsupported, read errors, and anything unforeseen: pydicom decides
        return None
    finally:
        os.close(fd)


def _read(walker: _Walker, keep: frozenset[int], give_up_on: frozenset[int]) -> RawHeader:
    size = walker.size
    if size < 132 + 12:
        raise _Unsupported("too short")
    data, _ = walker.window(0, 132)
    if data[128:132] != b"DICM":
        raise _Unsupported("no preamble")

    # File meta: explicit VR little endian, every group 0002 element.
    pos = 132
    if walker.looks_implicit(pos):
        raise _Unsupported("implicit VR file meta")
    file_meta: dict[int, RawValue] = {}
    while True:
        data, rel = walker.window(pos, 8)
        if data[rel:rel + 2] != b"\x02\x00":  # pydicom stops at the first tag not in group 0002
            break
        tag, vr, length, value_pos = walker.element(pos, False)
        if length == _UNDEFINED:
            raise _Unsupported("undefined length in the file meta")
        data, rel = walker.window(value_pos, length)
        file_meta[tag] = (vr, data[rel:rel + length], value_pos)
        pos = value_pos + length
    syntax = file_meta.get(0x00020010)
    if syntax is None or syntax[0] != "UI" or not syntax[1]:
        raise _Unsupported("no transfer syntax")
    ts = syntax[1].decode("iso8859").rstrip("\0 ").rstrip(" \x00")  # as pydicom's UI conversion
    if "\\" in ts:
        raise _Unsupported("several transfer syntaxes")
    ts = ts.strip()  # as pydicom's UID class
    if not ts or ts in _NOT_WALKED or ts in pydicom.uid.PrivateTransferSyntaxes:
        raise _Unsupported("transfer syntax")
    implicit = ts == IMPLICIT_VR_LE
    data, rel = walker.window(pos, 8)
    if data[rel:rel + 2] == b"\x00\x00":
        raise _Unsupported("command set")
    if walker.looks_implicit(pos) != implicit:
        raise _Unsupported("data set encoding does not match the transfer syntax")

    # The data set, to the pixel data (the hot loop: one element per turn, values of the tags
    # not kept are never sliced out of the buffer).
    elements: dict[int, RawValue] = {}
    stop = PIXEL_TAGS | give_up_on
    vrs = _VRS
    unpack_explicit = _EXPLICIT.unpack_from
    unpack_implicit = _TAG_LENGTH.unpack_from
    unpack_u32 = _U32.unpack_from
    data = walker.data
    start = walker.start
    n = len(data)
    while True:
        rel = pos - start
        if rel < 0 or rel + 12 > n:
            data, rel = walker.window(pos, 12)
            start = walker.start
            n = len(data)
        if implicit:
            group, elem, length = unpack_implicit(data, rel)
            vr = None
            header = 8
        else:
            group, elem, code, length = unpack_explicit(data, rel)
            known = vrs.get(code)
            if known is None:
                raise _Unsupported("unknown VR")
            vr, long = known
            if long:
                length = unpack_u32(data, rel + 8)[0]
                header = 12
            else:
                header = 8
        tag = group << 16 | elem
        if tag in stop:
            if tag in PIXEL_TAGS:
                return _pixel_header(walker, file_meta, elements, implicit, ts, vr, length, pos, pos + header)
            raise _Unsupported("a tag the caller gives up on")
        if group == 0xFFFE:
            raise _Unsupported("delimiter at the top level")
        value_pos = pos + header
        if length == _UNDEFINED:
            if tag in keep:
                raise _Unsupported("an asked-for element of undefined length")
            walker.sequence_vr(tag, vr, value_pos)
            pos = walker.skip_sequence(value_pos, implicit, 1)
            continue
        pos = value_pos + length
        if tag in keep:
            if pos - start > n:
                data, rel = walker.window(value_pos, length)
                start = walker.start
                n = len(data)
            elements[tag] = (vr, data[value_pos - start:pos - start], value_pos)


def _pixel_header(
    walker: _Walker,
    file_meta: dict[int, RawValue],
    elements: dict[int, RawValue],
    implicit: bool,
    ts: str,
    vr: str | None,
    length: int,
    pos: int,
    value_pos: int,
) -> RawHeader:
    size = walker.size
    if not implicit and vr not in _PIXEL_VRS:
        raise _Unsupported("pixel data VR")
    if length == _UNDEFINED:
        # Encapsulated: the sequence delimiter must be the file's last 8 bytes (else pydicom's
        # path searches further and words the problem).
        if size - value_pos < 8:
            raise _Unsupported("no room for the end marker")
        data, rel = walker.window(size - 8, 8)
        if data[rel:rel + 8] != _SEQUENCE_END_BYTES:
            raise _Unsupported("end marker not at the end")
    elif value_pos + length > size:
        raise _Unsupported("pixel data cut off")
    return RawHeader(
        file_meta=file_meta,
        elements=elements,
        is_implicit_vr=implicit,
        transfer_syntax_uid=ts,
        pixel_offset=pos,
        pixel_value_start=value_pos,
        pixel_length=None if length == _UNDEFINED else length,
        file_size=size,
    )
