"""Header values as the scan uses them: tolerant number parsing, and the fast raw-bytes conversion
of the few elements the scan reads (`_Fields` for pydicom datasets, `_RawFields` for header_reader's
raw elements), with a value cache that the scan empties when it ends (patient data is not kept).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pydicom
import pydicom.config
from pydicom.dataelem import RawDataElement



def parse_number(value: Any) -> float | None:
    """First numeric value of a DS/IS/number element, robust to multi-values, zero padding
    ("00040"), stray spaces and backslash-joined strings; None when absent or unparsable."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace("\x00", "").split("\\")]
        value = next((p for p in parts if p), None)
        if value is None:
            return None
    elif isinstance(value, Iterable):
        items = list(value)
        return parse_number(items[0]) if items else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None  # NaN, inf -> None


def _int_or_none(value: Any) -> int | None:
    number = parse_number(value)
    return int(round(number)) if number is not None else None


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        items = list(value) if not isinstance(value, (str, bytes)) else str(value).split("\\")
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _get(ds: Any, keyword: str) -> Any:
    try:
        return ds.get(keyword)
    except Exception:  # noqa: BLE001 - a malformed value is treated as absent
        return None


def _first_item(ds: Any, keyword: str) -> Any:
    seq = _get(ds, keyword)
    try:
        return seq[0] if seq else None
    except Exception:  # noqa: BLE001
        return None


# --------------------------------------------------------------------------------------------
# Fast value access
# --------------------------------------------------------------------------------------------
# pydicom's conversion of a raw element (Dataset.get -> DataElement -> valuerep classes) costs more
# than parsing the file: profiled on the GE series, value access was ~65 % of a file's scan time.
# `_Fields` converts the few elements the scan reads straight from their raw bytes, for the simple
# cases only (plain ASCII text, one US/SS number), giving exactly what the consumers here would make
# of pydicom's value (str for one value, list of str for several; numbers as their stripped text);
# anything else (sequences, empty values, non-ASCII text, numbers that do not parse) goes through
# pydicom as before.

_FALLBACK = object()
# pydicom converter per VR: how it splits and strips (see pydicom/values.py).
_RSTRIP_THEN_SPLIT = frozenset({"AS", "CS", "DA", "DT", "TM", "UI"})  # multi_string
_SPLIT_THEN_RSTRIP = frozenset({"SH", "LO", "UC", "PN"})  # convert_text / convert_PN
_SINGLE_TEXT = frozenset({"LT", "ST", "UT"})  # convert_single_string
_TAG_VR: dict[str, tuple[int, str] | None] = {}
_EMPTY_IS_TEXT = _RSTRIP_THEN_SPLIT | _SPLIT_THEN_RSTRIP | _SINGLE_TEXT | {"AE", "UR"}


def _tag_and_vr(keyword: str) -> tuple[int, str] | None:
    known = _TAG_VR.get(keyword, _FALLBACK)
    if known is _FALLBACK:
        from pydicom.datadict import dictionary_VR, tag_for_keyword

        tag = tag_for_keyword(keyword)
        known = (tag, str(dictionary_VR(tag))) if tag is not None else None
        _TAG_VR[keyword] = known  # type: ignore[assignment]
    return known  # type: ignore[return-value]


def _fast_value(raw: RawDataElement, vr: str, little: bool) -> Any:
    data = raw.value
    if not isinstance(data, bytes):
        return _FALLBACK
    if not data:  # pydicom's empty value: '' for text VRs (by default), None / [] otherwise
        if vr in _EMPTY_IS_TEXT and not pydicom.config.use_none_as_empty_text_VR_value:
            return ""
        return _FALLBACK
    return _fast_value_bytes(data, vr, little)


def _fast_value_bytes(data: bytes, vr: str, little: bool) -> Any:
    """pydicom's value of non-empty raw bytes `data` for the simple cases, else _FALLBACK."""
    if vr in ("US", "SS"):
        if len(data) != 2:
            return _FALLBACK
        return int.from_bytes(data, "little" if little else "big", signed=vr == "SS")
    if not data.isascii() or b"\x1b" in data:
        return _FALLBACK  # character sets: pydicom decodes
    text = data.decode("ascii")
    if vr in _RSTRIP_THEN_SPLIT:
        parts = text.rstrip(" \x00").split("\\")
    elif vr in _SPLIT_THEN_RSTRIP:
        if vr == "PN":
            text = text.rstrip("\x00 ")
        parts = [v.rstrip("\x00 ") for v in text.split("\\")]
    elif vr in _SINGLE_TEXT:
        return text.rstrip("\x00 ")
    elif vr == "DS" or vr == "IS":
        parts = [v.strip() for v in (text.strip() if vr == "DS" else text.rstrip(" \x00")).split("\\")]
        try:
            for v in parts:
                number = float(v) if vr == "DS" else int(v)
                if number != number or number in (float("inf"), float("-inf")):
                    return _FALLBACK
        except ValueError:
            return _FALLBACK
    else:
        return _FALLBACK
    return parts[0] if len(parts) == 1 else parts


class _Fields:
    """`get(keyword)` over a freshly read dataset, converting simple elements from raw bytes."""

    def __init__(self, ds: pydicom.Dataset) -> None:
        self.ds = ds
        self._elements = ds._dict  # noqa: SLF001 - the raw elements, before conversion
        self._little = _is_little_endian(ds)

    def get(self, keyword: str) -> Any:
        known = _tag_and_vr(keyword)
        if known is None:
            return _get(self.ds, keyword)
        tag, dict_vr = known
        raw = self._elements.get(tag)
        if raw is None:
            return None
        if isinstance(raw, RawDataElement):
            vr = raw.VR if raw.VR is not None else dict_vr
            value = _fast_value(raw, str(vr), self._little)
            if value is not _FALLBACK:
                return value
        return _get(self.ds, keyword)

    def file_meta_get(self, keyword: str) -> Any:
        return _get(getattr(self.ds, "file_meta", {}), keyword)


# Values converted for header_reader's partial reads, shared by all files: a series repeats most of
# its header (names, dates, rescale, window, equipment), so pydicom converts each distinct value
# once. The key holds everything the conversion depends on: the tag (so the dictionary VR), the VR
# read, the value bytes and the data set's Specific Character Set bytes (little endian always).
_VALUE_CACHE: dict[tuple[int, str | None, bytes, bytes | None], Any] = {}
_VALUE_CACHE_MAX = 10_000  # entries; emptied when full and after each scan_paths
_MISSING = object()


class _RawFields:
    """`get(keyword)` over header_reader's RawHeader, with exactly pydicom's values (converted
    from raw bytes for simple cases, by pydicom through a Dataset built on first need otherwise,
    both cached in `_VALUE_CACHE`). Asking for a keyword the reader did not keep sets `strayed`."""

    def __init__(self, raw: Any, kept: frozenset[int]) -> None:
        self.raw = raw
        self._elements = raw.elements
        self._kept = kept
        charset = raw.elements.get(0x00080005)
        self._charset = charset[1] if charset is not None else None
        self._ds: pydicom.Dataset | None = None
        self.strayed = False

    @property
    def ds(self) -> pydicom.Dataset:
        if self._ds is None:
            self._ds = self.raw.dataset()
        return self._ds

    def get(self, keyword: str) -> Any:
        known = _TAG_VR.get(keyword) or _tag_and_vr(keyword)
        if known is None or known[0] not in self._kept:
            self.strayed = True
            return None
        tag = known[0]
        entry = self._elements.get(tag)
        if entry is None:
            return None
        key = (tag, entry[0], entry[1], self._charset)
        value = _VALUE_CACHE.get(key, _MISSING)
        if value is _MISSING:
            value = self._convert(keyword, known[1], entry)
            if len(_VALUE_CACHE) >= _VALUE_CACHE_MAX:
                _VALUE_CACHE.clear()
            _VALUE_CACHE[key] = value
        return value

    def _convert(self, keyword: str, dict_vr: str, entry: tuple[str | None, bytes, int]) -> Any:
        vr, data, _ = entry
        value = _fast_value_bytes(data, vr or dict_vr, True) if data else _FALLBACK
        if value is _FALLBACK:  # (pydicom's empty values depend on VR and settings: it says)
            value = _get(self.ds, keyword)
        return value

    def file_meta_get(self, keyword: str) -> Any:
        if keyword == "TransferSyntaxUID":
            return self.raw.transfer_syntax_uid  # exactly what pydicom makes of it (header_reader)
        return _get(self.ds.file_meta, keyword)


def _is_little_endian(ds: pydicom.Dataset) -> bool:
    encoding = getattr(ds, "original_encoding", None)
    if encoding and encoding[1] is not None:
        return bool(encoding[1])
    return str(_get(ds.file_meta, "TransferSyntaxUID") or "") != "1.2.840.10008.1.2.2"
