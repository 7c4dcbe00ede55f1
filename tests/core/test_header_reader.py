"""header_reader, the scan's fast header path: on every file it takes, exactly what the scan's full
pydicom parse gives (headers, metadata, pixel offsets, skip reasons); every other file goes to the
full parse (`read_raw_header` gives None); it never raises, whatever the bytes."""
from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGLosslessSV1

from inference.synth import variants
from inference.synth.dicom_writer import ISO_IR_192, SeriesSpec, encoder_available, write_series
from viewer.core import header_values, scan
from viewer.core.header_reader import CHUNK_BYTES, read_raw_header

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


# ----------------------------------------------------------------------------------- helpers


def _summary(outcome: scan._FileOutcome) -> tuple:
    """Everything a file's scan outcome says, including the fields SliceHeader's == leaves out."""
    slices = tuple((h, h.meta, h.pixel_offset) for h in outcome.slices)
    reason = outcome.skipped.reason if outcome.skipped is not None else None
    return slices, reason, outcome.referenced


def _fast_taken(path: Path) -> bool:
    """Whether the scan used header_reader's result for `path` (a header or a skip reason)."""
    try:
        return scan._fast_slice_headers(path) is not None
    except scan._Skip:
        return True


def _assert_same(path: Path) -> bool:
    """The fast and the full scan of `path` agree; returns whether the fast path was taken."""
    full = _summary(scan._read_file(path, fast=False))
    fast = _summary(scan._read_file(path))
    assert fast == full, f"{path}: the fast header path differs from pydicom's"
    return _fast_taken(path)


def _files_under(*roots: Path) -> list[Path]:
    found = []
    for root in roots:
        for dirpath, _, names in os.walk(root):
            found += [Path(dirpath) / n for n in names if not n.endswith((".py", ".pyc", ".json", ".txt"))]
    return sorted(found)


def _keep_tags() -> tuple[frozenset[int], frozenset[int]]:
    return scan._fast_tags()


def _read(path: Path):
    keep, give_up_on = _keep_tags()
    return read_raw_header(path, keep=keep, give_up_on=give_up_on)


# A hand-made Part-10 file, byte by byte, for what pydicom's writer will not produce (odd lengths,
# a header past the first chunk in one element, implicit sequences in explicit files, ...).
_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}


def _el(tag: int, vr: str, value: bytes, *, implicit: bool = False, length: int | None = None) -> bytes:
    group, elem = tag >> 16, tag & 0xFFFF
    n = len(value) if length is None else length
    if implicit:
        return struct.pack("<HHI", group, elem, n) + value
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", group, elem, vr.encode(), 0, n) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), n) + value


def _item(body: bytes, *, undefined: bool) -> bytes:
    if undefined:
        return struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + body + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body


def _undefined_sequence(tag: int, vr: str, items: list[bytes], *, implicit: bool = False) -> bytes:
    head = _el(tag, vr, b"", implicit=implicit, length=0xFFFFFFFF)
    return head + b"".join(items) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def _ui(uid: str) -> bytes:
    raw = uid.encode()
    return raw + b"\0" if len(raw) % 2 else raw


def _part10(body: bytes, *, ts: str = ExplicitVRLittleEndian, preamble: bool = True) -> bytes:
    meta = (
        _el(0x00020001, "OB", b"\x00\x01")
        + _el(0x00020002, "UI", _ui(CT_IMAGE_STORAGE))
        + _el(0x00020003, "UI", _ui("1.2.3.4.5.6.7"))
        + _el(0x00020010, "UI", _ui(ts))
        + _el(0x00020012, "UI", _ui("1.2.3.4"))
    )
    meta = _el(0x00020000, "UL", struct.pack("<I", len(meta))) + meta
    return (b"\0" * 128 + b"DICM" if preamble else b"") + meta + body


def _ct_body(*, implicit: bool = False, extra: bytes = b"", after_extra: bytes = b"", rows: int = 4) -> bytes:
    """A small CT image data set; `extra` goes after (0008,0060), `after_extra` before the pixels."""
    e = lambda tag, vr, value: _el(tag, vr, value, implicit=implicit)  # noqa: E731
    us = lambda v: struct.pack("<H", v)  # noqa: E731
    return (
        e(0x00080008, "CS", b"ORIGINAL\\PRIMARY\\AXIAL ")
        + e(0x00080016, "UI", _ui(CT_IMAGE_STORAGE))
        + e(0x00080018, "UI", _ui("1.2.3.4.5.6.7"))
        + e(0x00080060, "CS", b"CT")
        + extra
        + e(0x00100010, "PN", b"DOE^JOHN")
        + e(0x00100020, "LO", b"P123")
        + e(0x00180050, "DS", b"5 ")
        + e(0x0020000D, "UI", _ui("1.2.3.4.1"))
        + e(0x0020000E, "UI", _ui("1.2.3.4.2"))
        + e(0x00200013, "IS", b"7 ")
        + e(0x00200032, "DS", b"-100\\-100\\42.5")
        + e(0x00200037, "DS", b"1\\0\\0\\0\\1\\0 ")
        + e(0x00280002, "US", us(1))
        + e(0x00280004, "CS", b"MONOCHROME2 ")
        + e(0x00280010, "US", us(rows))
        + e(0x00280011, "US", us(4))
        + e(0x00280030, "DS", b"0.5\\0.5 ")
        + e(0x00280100, "US", us(16))
        + e(0x00280101, "US", us(16))
        + e(0x00280102, "US", us(15))
        + e(0x00280103, "US", us(1))
        + e(0x00281050, "DS", b"40")
        + e(0x00281051, "DS", b"80")
        + e(0x00281052, "DS", b"-1024 ")
        + e(0x00281053, "DS", b"1 ")
        + after_extra
        + e(0x7FE00010, "OW", bytes(range(2 * 4 * rows)))
    )


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ----------------------------------------------------------------------------------- every file we have


def test_every_pydicom_data_file_scans_identically() -> None:
    import data_store  # pydicom-data's files

    roots = [Path(pydicom.data.__file__).parent, Path(data_store.__file__).parent / "data"]
    files = _files_under(*roots)
    assert len(files) > 250
    taken = [path for path in files if _assert_same(path)]
    # pydicom's little-endian images with a preamble take the fast path (the other files are
    # non-images, big endian, deflated, enhanced multi-frame, damaged on purpose, ...).
    assert len(taken) > 100
    names = {p.name for p in taken}
    assert {"CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "SC_rgb.dcm", "693_J2KR.dcm"} <= names
    assert "rtdose.dcm" not in names  # multi-frame: its frames are read by pydicom
    assert "eCT_Supplemental.dcm" not in names  # enhanced multi-frame: functional groups need pydicom
    assert "MR_small_bigendian.dcm" not in names and "image_dfl.dcm" not in names


def test_every_real_file_scans_identically_and_ct_series_take_the_fast_path(real_data: Path) -> None:
    files = _files_under(real_data)
    assert len(files) > 250
    slow = [path for path in files if not _assert_same(path)]
    # Only the Philips DICOMDIR (DIRFILE), the big-endian sample and the text files go to pydicom.
    assert sorted(p.relative_to(real_data).as_posix() for p in slow) == [
        "LICENSE-dcm_qa", "README.md", "philips_head_phantom_5mm/DIRFILE", "transfer_syntaxes/3.dcm",
    ]


def test_synthetic_variants_scan_identically(tmp_path: Path) -> None:
    grid = variants.Grid(n_slices=3, rows=16, cols=16)
    written = [
        variants.write_plain(tmp_path / "plain", grid=grid),
        variants.write_tilted(tmp_path / "tilted", grid=grid),
        variants.write_coronal(tmp_path / "coronal", n_slices=3, size=16),
        variants.write_with_scout(tmp_path / "scout", grid=grid),
    ]
    paths = [p for w in written for p in w.paths]
    name = "Ωμέγα^Δοκιμή"
    for ts in (ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGLosslessSV1):
        if ts == JPEGLosslessSV1 and not encoder_available(ts):
            continue
        out = tmp_path / f"ts_{ts}"
        spec = SeriesSpec(patient_name=name, specific_character_set=ISO_IR_192, transfer_syntax=ts)
        paths += write_series(np.zeros((2, 16, 16)), out, spec)
    assert len(paths) > 12
    for path in paths:
        assert _assert_same(path), f"{path}: the fast path was not taken"
    utf8 = scan._read_file(tmp_path / f"ts_{ImplicitVRLittleEndian}" / sorted(os.listdir(tmp_path / f"ts_{ImplicitVRLittleEndian}"))[0])
    assert utf8.slices[0].meta["PatientName"] == name


def test_non_latin_names_decode_exactly_as_pydicom_does(tmp_path: Path) -> None:
    """Each of pydicom's character-set samples' names and character set, put into a CT image."""
    charset_dir = Path(pydicom.data.__file__).parent / "charset_files"
    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    done = 0
    for sample in sorted(charset_dir.glob("*.dcm")):
        source = pydicom.dcmread(sample)
        if "PatientName" not in source or "SpecificCharacterSet" not in source:
            continue
        ds = base.copy()
        for keyword in ("SpecificCharacterSet", "PatientName", "InstitutionName", "StudyDescription"):
            if keyword in source:
                ds[keyword] = source[keyword]  # the raw element: bytes as the sample encodes them
            elif keyword in ds:
                del ds[keyword]
        path = tmp_path / sample.name
        ds.save_as(path, enforce_file_format=True)
        assert _assert_same(path), f"{sample.name}: the fast path was not taken"
        expected = str(pydicom.dcmread(path).PatientName)
        assert scan._read_file(path).slices[0].meta.get("PatientName", "") == expected.strip()
        done += 1
    assert done >= 12


# ----------------------------------------------------------------------------------- layouts


def test_hand_made_explicit_and_implicit_files_are_read(tmp_path: Path) -> None:
    explicit = _write(tmp_path, "explicit.dcm", _part10(_ct_body()))
    implicit = _write(tmp_path, "implicit.dcm", _part10(_ct_body(implicit=True), ts=ImplicitVRLittleEndian))
    for path in (explicit, implicit):
        assert _assert_same(path)
        (header,) = scan._read_file(path).slices
        assert header.position_mm == (-100.0, -100.0, 42.5) and header.instance_number == 7
        assert header.window_center_hu == 40.0 and header.meta["RescaleIntercept"] == "-1024"
        raw = _read(path)
        assert raw is not None and raw.is_implicit_vr == (path is implicit)
        assert path.read_bytes()[raw.pixel_offset:raw.pixel_offset + 4] == b"\xe0\x7f\x10\x00"


@pytest.mark.parametrize("implicit", [False, True])
def test_header_larger_than_the_first_chunk(tmp_path: Path, implicit: bool) -> None:
    """A private value around the first read's size, with kept elements straddling its end."""
    ts = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    creator = _el(0x00090010, "LO", b"ICHVIEW TEST", implicit=implicit)
    for size in [*range(CHUNK_BYTES - 700, CHUNK_BYTES - 300, 38), 3 * CHUNK_BYTES + 2]:
        extra = creator + _el(0x00091001, "OB", bytes(size), implicit=implicit)
        path = _write(tmp_path, f"big_{size}.dcm", _part10(_ct_body(implicit=implicit, extra=extra), ts=ts))
        assert _assert_same(path)
        assert scan._read_file(path).slices[0].meta["PatientName"] == "DOE^JOHN"


@pytest.mark.parametrize("implicit", [False, True])
def test_undefined_length_sequences_before_the_pixels_are_skipped(tmp_path: Path, implicit: bool) -> None:
    ts = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    e = lambda tag, vr, value: _el(tag, vr, value, implicit=implicit)  # noqa: E731
    ref = e(0x00081150, "UI", _ui("1.2.840.10008.5.1.4.1.1.2")) + e(0x00081155, "UI", _ui("1.2.3"))
    nested = _undefined_sequence(0x00081140, "SQ", [_item(ref, undefined=True)], implicit=implicit)
    sequence = _undefined_sequence(
        0x00081140, "SQ",
        [_item(ref, undefined=True), _item(ref + nested, undefined=False), _item(b"", undefined=True)],
        implicit=implicit,
    )
    # A private sequence: pydicom looks ahead for an item (implicit) or reads it as SQ / UN as SQ.
    private = e(0x00090010, "LO", b"ICHVIEW TEST") + _undefined_sequence(
        0x00091002, "SQ" if not implicit else "UN", [_item(ref, undefined=True)], implicit=implicit
    )
    extra = sequence + private
    path = _write(tmp_path, "sequences.dcm", _part10(_ct_body(implicit=implicit, extra=extra), ts=ts))
    assert _assert_same(path)
    assert scan._read_file(path).slices[0].patient_id == "P123"


def test_explicit_file_with_an_implicit_vr_un_sequence(tmp_path: Path) -> None:
    """UN of undefined length holds an implicit VR sequence (PS3.5 6.2.2): walked as pydicom does."""
    ref = _el(0x00081150, "UI", _ui("1.2.3"), implicit=True)
    un = _el(0x00090010, "LO", b"ICHVIEW TEST") + _undefined_sequence(
        0x00091002, "UN", [_item(ref, undefined=True), _item(ref, undefined=False)]
    )
    path = _write(tmp_path, "un.dcm", _part10(_ct_body(extra=un)))
    assert _assert_same(path)


def test_odd_lengths_are_read_as_pydicom_reads_them(tmp_path: Path) -> None:
    odd = _el(0x00081030, "LO", b"HEAD") + _el(0x00081090, "LO", b"ODD")  # 3 bytes: non-conformant
    after = _el(0x00281054, "LO", b"HU ")
    path = _write(tmp_path, "odd.dcm", _part10(_ct_body(extra=odd, after_extra=after)))
    assert _assert_same(path)
    assert scan._read_file(path).slices[0].meta["ManufacturerModelName"] == "ODD"


def test_files_without_preamble_go_to_pydicom(tmp_path: Path) -> None:
    written = variants.write_plain(tmp_path / "series", grid=variants.Grid(n_slices=2, rows=8, cols=8))
    path = _write(tmp_path, "no_preamble.dcm", written.paths[0].read_bytes()[132:])
    assert _read(path) is None
    assert not _assert_same(path)
    assert scan._read_file(path).slices  # still read, by pydicom


def test_big_endian_deflated_and_enhanced_files_go_to_pydicom() -> None:
    for name in ("MR_small_bigendian.dcm", "image_dfl.dcm", "eCT_Supplemental.dcm", "DICOMDIR"):
        path = Path(get_testdata_file(name))
        assert _read(path) is None or not _fast_taken(path), name
        _assert_same(path)


def test_encapsulated_pixel_data_end_marker(tmp_path: Path) -> None:
    """The end marker as the last 8 bytes: fast; anything after it: pydicom decides."""
    jpeg = Path(get_testdata_file("JPEG2000.dcm"))
    assert _read(jpeg) is not None and _assert_same(jpeg)
    data = jpeg.read_bytes()
    padded = _write(tmp_path, "padded.dcm", data + _el(0xFFFCFFFC, "OB", bytes(6)))
    assert _read(padded) is None
    _assert_same(padded)


# ----------------------------------------------------------------------------------- bad bytes


def test_every_truncation_of_a_file_is_none_or_identical(tmp_path: Path) -> None:
    plain = _part10(_ct_body(extra=_undefined_sequence(0x00081140, "SQ", [_item(b"", undefined=True)])))
    implicit = _part10(_ct_body(implicit=True), ts=ImplicitVRLittleEndian)
    jpeg = Path(get_testdata_file("JPEG2000.dcm")).read_bytes()
    for label, data, cuts in (
        ("plain", plain, range(0, len(plain))),
        ("implicit", implicit, range(0, len(implicit), 3)),
        ("jpeg", jpeg, [*range(0, 2000, 7), len(jpeg) - 9, len(jpeg) - 8, len(jpeg) - 1]),
    ):
        for cut in cuts:
            path = _write(tmp_path, f"{label}_{cut}.dcm", data[:cut])
            assert _read(path) is None, f"{label} cut at {cut}: a truncated file was taken"
            _assert_same(path)
            path.unlink()


def test_random_bytes_are_never_taken(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    for i in range(60):
        body = rng.integers(0, 256, int(rng.integers(0, 3000)), dtype=np.uint8).tobytes()
        for name, data in ((f"raw_{i}", body), (f"dicm_{i}", b"\0" * 128 + b"DICM" + body)):
            path = _write(tmp_path, name, data)
            assert _read(path) is None
            _assert_same(path)


def test_corrupted_headers_are_none_or_identical(tmp_path: Path) -> None:
    """Bytes of a valid header overwritten at random: the fast path never raises and never
    disagrees with pydicom's parse (it gives up instead)."""
    rng = np.random.default_rng(11)
    sequence = _undefined_sequence(
        0x00081140, "SQ", [_item(_el(0x00081155, "UI", _ui("1.2.3")), undefined=True)]
    )
    sources = [
        _part10(_ct_body(extra=sequence)),
        _part10(_ct_body(implicit=True), ts=ImplicitVRLittleEndian),
        Path(get_testdata_file("CT_small.dcm")).read_bytes(),
    ]
    for i in range(400):
        data = bytearray(sources[i % len(sources)])
        header_end = data.find(b"\xe0\x7f\x10\x00")
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(128, header_end + 12))
            data[at] = int(rng.integers(0, 256))
        path = _write(tmp_path, f"corrupt_{i}.dcm", bytes(data))
        _assert_same(path)
        path.unlink()


def test_unreadable_and_missing_files_go_to_pydicom(tmp_path: Path) -> None:
    written = variants.write_plain(tmp_path / "series", grid=variants.Grid(n_slices=2, rows=8, cols=8))
    missing = tmp_path / "missing.dcm"
    assert _read(missing) is None
    assert _read(tmp_path) is None  # a folder
    _assert_same(missing)
    locked = tmp_path / "locked.dcm"
    shutil.copy(written.paths[0], locked)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):  # root reads anyway: the file is then simply read
            assert _assert_same(locked)
        else:
            assert _read(locked) is None
            _assert_same(locked)
    finally:
        locked.chmod(0o644)


def test_a_fifo_is_declined_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    assert _read(fifo) is None


def test_kept_tags_cover_what_the_scan_reads(tmp_path: Path) -> None:
    """A keyword the scan asks for that the reader did not keep sends the file to pydicom (so a
    new field can never be silently empty on the fast path)."""
    path = _write(tmp_path, "ct.dcm", _part10(_ct_body()))
    keep, _ = _keep_tags()
    fields = header_values._RawFields(_read(path), keep)
    assert fields.get("Modality") == "CT" and not fields.strayed
    assert fields.get("ReferencedImageSequence") is None and fields.strayed


def test_sequence_with_bad_item_tag_goes_to_pydicom(tmp_path: Path) -> None:
    bad = _el(0x00081140, "SQ", b"", length=0xFFFFFFFF) + struct.pack("<HHI", 0x0008, 0x1150, 4) + b"1.2\0"
    path = _write(tmp_path, "bad_item.dcm", _part10(_ct_body(extra=bad)))
    assert _read(path) is None
    _assert_same(path)


def test_value_cache_never_mixes_files(tmp_path: Path) -> None:
    """The value cache is keyed on tag, VR, bytes and character set: files that differ in one
    value, or only in their character set, get their own values."""
    a = _part10(_ct_body())
    b = a.replace(_ui("1.2.3.4.2"), _ui("1.2.3.4.9"))
    latin1 = _ct_body(extra=_el(0x00080005, "CS", b"ISO_IR 100")).replace(b"DOE^JOHN", "DÖE^JÖHN".encode("latin-1"))
    utf8 = _ct_body(extra=_el(0x00080005, "CS", b"ISO_IR 192")).replace(b"DOE^JOHN", "DÖE^JÖHN".encode("latin-1"))
    paths = [_write(tmp_path, f"{i}.dcm", d) for i, d in enumerate((a, b, _part10(latin1), _part10(utf8)))]
    for path in paths:
        assert _assert_same(path)
    assert scan._read_file(paths[0]).slices[0].series_uid == "1.2.3.4.2"
    assert scan._read_file(paths[1]).slices[0].series_uid == "1.2.3.4.9"
    assert scan._read_file(paths[2]).slices[0].meta["PatientName"] == "DÖE^JÖHN"
    assert scan._read_file(paths[3]).slices[0].meta["PatientName"] != "DÖE^JÖHN"  # not UTF-8 bytes
