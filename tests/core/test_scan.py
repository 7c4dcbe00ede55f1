"""Header scan: real folders, pydicom-data multi-frame / DICOMDIR / non-image objects, and every
kind of bad file skipped with the right reason while the rest still loads."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid

from inference.synth import variants
from inference.synth.dicom_writer import ISO_IR_192, SeriesSpec, write_series
from viewer.core.scan import parse_number, scan_paths


def _reasons(result) -> dict[str, str]:
    return {s.path.name: s.reason for s in result.skipped}


# ----------------------------------------------------------------------------------- real data


def test_ge_tilted_headers(real_data: Path) -> None:
    result = scan_paths([real_data / "ge_head_ct_tilted"])
    assert len(result.slices) == 28
    assert result.skipped == ()
    by_name = {s.path.name: s for s in result.slices}
    first = by_name["01.dcm"]
    assert (first.rows, first.columns) == (512, 512)
    assert first.modality == "CT"
    assert first.frame is None
    assert first.gantry_tilt_deg == pytest.approx(18.5)
    assert first.orientation == pytest.approx((1.0, 0.0, 0.0, 0.0, 0.9483237, -0.3173047))
    assert first.position_mm == pytest.approx((-125.0, -123.5404569, 5.8360586))
    assert first.pixel_spacing_mm == pytest.approx((0.4882812, 0.4882812))
    assert first.window_center_hu == 35.0
    assert first.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert first.slice_thickness_mm == 4.0 and by_name["15.dcm"].slice_thickness_mm == 7.0
    assert first.meta["SpecificCharacterSet"] == "ISO_IR 100"
    assert "RescaleIntercept" in first.meta and "BitsStored" in first.meta
    assert first.meta["Manufacturer"].upper().startswith("GE")


def test_philips_dirfile_skipped_with_reason(real_data: Path) -> None:
    result = scan_paths([real_data / "philips_head_phantom_5mm"])
    assert len(result.slices) == 28
    assert [s.path.name for s in result.skipped] == ["DIRFILE"]
    reason = result.skipped[0].reason
    assert "DICOMDIR" in reason and "do not resolve" in reason


def test_multi_valued_window_and_slice_header_from_real_file(real_data: Path) -> None:
    result = scan_paths([real_data / "philips_head_phantom_5mm" / "I10"])
    (header,) = result.slices
    assert header.window_center_hu == 40.0  # stored as [40, 40]
    assert header.instance_number == 1
    assert header.position_mm == pytest.approx((-115.5, -1.85, 696.21))


def test_all_transfer_syntaxes_are_scanned(real_data: Path) -> None:
    result = scan_paths([real_data / "transfer_syntaxes"])
    assert len(result.slices) == 9 and result.skipped == ()
    # Explicit/implicit LE, big endian, RLE, 2x JPEG lossless (.70), 2x JPEG-LS (.80), JPEG 2000.
    assert {s.transfer_syntax_uid for s in result.slices} == {
        "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.5",
        "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90",
    }


# ----------------------------------------------------------------------------------- pydicom-data


def test_enhanced_multiframe_ct_gives_one_header_per_frame() -> None:
    path = Path(get_testdata_file("eCT_Supplemental.dcm"))
    result = scan_paths([path])
    assert [s.frame for s in result.slices] == [0, 1]
    first, second = result.slices
    assert first.sop_instance_uid == second.sop_instance_uid
    assert first.position_mm == pytest.approx((99.5, -301.5, -159.0))
    assert second.position_mm == pytest.approx((99.5, -301.5, -149.0))
    assert first.orientation == pytest.approx((-1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
    assert first.pixel_spacing_mm == pytest.approx((0.388672, 0.388672))
    assert first.slice_thickness_mm == 10.0
    assert first.window_center_hu == 49.0 and first.window_width_hu == 102.0
    assert first.meta["RescaleIntercept"] == "-1024.00"
    assert first.modality == "CT" and first.rows > 0


def test_dicomdir_alone_adds_its_referenced_files() -> None:
    dicomdir = Path(get_testdata_file("DICOMDIR"))
    by_dicomdir = scan_paths([dicomdir])
    by_folder = scan_paths([dicomdir.parent / "77654033", dicomdir.parent / "98892001", dicomdir.parent / "98892003"])
    assert len(by_dicomdir.slices) > 0
    assert {s.path.resolve() for s in by_dicomdir.slices} == {s.path.resolve() for s in by_folder.slices}


def test_dicomdir_and_folder_never_double_count_and_never_limit(tmp_path: Path) -> None:
    tree = tmp_path / "cd"
    shutil.copytree(Path(get_testdata_file("DICOMDIR")).parent, tree)
    dicomdir_only = scan_paths([tree / "DICOMDIR"])
    extra = variants.write_plain(tree / "not_in_dicomdir")
    result = scan_paths([tree, tree / "DICOMDIR"])
    paths = [(s.path.resolve(), s.frame) for s in result.slices]
    assert len(paths) == len(set(paths)), "a file reached via folder and DICOMDIR was read twice"
    found = {p for p, _ in paths}
    assert {p.resolve() for p in extra.paths} <= found, "the DICOMDIR limited the folder scan"
    assert {s.path.resolve() for s in dicomdir_only.slices} <= found


def test_non_image_objects_are_skipped_as_not_images(tmp_path: Path) -> None:
    for name in ("test-SR.dcm", "rtstruct.dcm", "rtplan.dcm"):
        shutil.copy(get_testdata_file(name), tmp_path / name)
    plain = variants.write_plain(tmp_path / "ct")
    result = scan_paths([tmp_path])
    reasons = _reasons(result)
    assert len(result.slices) == len(plain.paths)
    assert reasons["test-SR.dcm"].startswith("not an image") and "SR" in reasons["test-SR.dcm"]
    assert reasons["rtstruct.dcm"].startswith("not an image") and "Structure Set" in reasons["rtstruct.dcm"]
    assert reasons["rtplan.dcm"].startswith("not an image")


# ----------------------------------------------------------------------------------- bad files


def test_bad_files_are_skipped_with_reasons_and_the_rest_loads(tmp_path: Path) -> None:
    written = variants.write_plain(tmp_path / "series")
    good = list(written.paths)
    rng = np.random.default_rng(0)
    (tmp_path / "random.dcm").write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    (tmp_path / "empty.dcm").write_bytes(b"")
    data = good[0].read_bytes()
    for n in (100, 300, 600, 1000):
        (tmp_path / f"header_cut_{n}.dcm").write_bytes(data[:n])
    (tmp_path / "pixels_cut.dcm").write_bytes(data[:-5000])
    (tmp_path / "broken_link.dcm").symlink_to(tmp_path / "does-not-exist.dcm")
    (tmp_path / "notes.txt").write_text("the radiologist's notes\n")

    result = scan_paths([tmp_path])
    reasons = _reasons(result)
    assert len(result.slices) == len(good)
    assert {s.path for s in result.slices} == set(good)
    assert reasons["random.dcm"] == "not a DICOM file"
    assert reasons["notes.txt"] == "not a DICOM file"
    assert reasons["empty.dcm"] == "empty file (0 bytes)"
    for n in (100, 300, 600, 1000):
        assert reasons[f"header_cut_{n}.dcm"].startswith("truncated"), (n, reasons[f"header_cut_{n}.dcm"])
    assert reasons["pixels_cut.dcm"].startswith("truncated: the pixel data is cut off")
    assert "broken link" in reasons["broken_link.dcm"]


def test_deflated_data_set_is_scanned() -> None:
    result = scan_paths([get_testdata_file("image_dfl.dcm")])
    assert result.skipped == ()
    (header,) = result.slices
    assert header.transfer_syntax_uid == "1.2.840.10008.1.2.1.99" and header.rows > 0


def test_truncated_compressed_file_is_skipped(tmp_path: Path) -> None:
    data = Path(get_testdata_file("JPEG2000.dcm")).read_bytes()
    (tmp_path / "j2k_cut.dcm").write_bytes(data[:-200])
    (tmp_path / "j2k.dcm").write_bytes(data)
    result = scan_paths([tmp_path])
    assert [s.path.name for s in result.slices] == ["j2k.dcm"]
    assert _reasons(result)["j2k_cut.dcm"].startswith("truncated: the compressed pixel data has no end marker")


def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    written = variants.write_plain(tmp_path / "series")
    locked = tmp_path / "locked.dcm"
    shutil.copy(written.paths[0], locked)
    # Make it a different image so it is not dropped as a copy of an existing one.
    ds = pydicom.dcmread(locked)
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(locked)
    locked_dir = tmp_path / "locked_dir"
    locked_dir.mkdir()
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(locked_dir / "inside.dcm")
    os.chmod(locked, 0)
    os.chmod(locked_dir, 0)
    try:
        result = scan_paths([tmp_path])
    finally:
        os.chmod(locked, 0o644)
        os.chmod(locked_dir, 0o755)
    reasons = _reasons(result)
    if os.geteuid() == 0:
        # root reads through chmod 000: the file and folder are simply used (the honest outcome
        # for root); the permission case is checked as an unprivileged user below.
        assert "locked.dcm" not in reasons and "locked_dir" not in reasons
        assert len(result.slices) == len(written.paths) + 2
        _check_permission_denied_as_nobody(written.paths[0])
    else:
        assert reasons["locked.dcm"].startswith("cannot be read: permission denied")
        assert reasons["locked_dir"].startswith("folder cannot be read")
        assert len(result.slices) == len(written.paths)


def _check_permission_denied_as_nobody(good_file: Path) -> None:
    """As root: scan in a child process that drops to uid/gid 65534 after importing."""
    work = Path(tempfile.mkdtemp(prefix="ichview-perm-"))  # under /tmp, reachable by nobody
    try:
        os.chmod(work, 0o755)
        shutil.copy(good_file, work / "ok.dcm")
        os.chmod(work / "ok.dcm", 0o644)
        shutil.copy(good_file, work / "locked.dcm")
        (work / "locked_dir").mkdir()
        os.chmod(work / "locked.dcm", 0)
        os.chmod(work / "locked_dir", 0)
        code = (
            "import os, sys\n"
            "from viewer.core.scan import scan_paths\n"
            "scan_paths([sys.argv[1] + '/ok.dcm'])\n"  # import every lazily loaded module first
            "os.setgid(65534); os.setuid(65534)\n"
            "r = scan_paths([sys.argv[1]])\n"
            "print(len(r.slices))\n"
            "for s in r.skipped: print(s.path.name + '|' + s.reason)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(work)], capture_output=True, text=True, timeout=120, check=True
        )
        lines = out.stdout.splitlines()
        assert lines[0] == "1"
        reasons = dict(line.split("|", 1) for line in lines[1:])
        assert reasons["locked.dcm"].startswith("cannot be read: permission denied")
        assert reasons["locked_dir"].startswith("folder cannot be read")
    finally:
        for p in (work / "locked.dcm", work / "locked_dir"):
            os.chmod(p, 0o755)
        shutil.rmtree(work)


def test_unsupported_transfer_syntax_is_skipped(tmp_path: Path) -> None:
    written = variants.write_plain(tmp_path / "series")
    ds = pydicom.dcmread(written.paths[0])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no decoder installed
    ds.PixelData = encapsulate([ds.PixelData])
    ds.SOPInstanceUID = generate_uid()
    odd = tmp_path / "mpeg2.dcm"
    ds.save_as(odd, enforce_file_format=True)
    result = scan_paths([tmp_path])
    assert _reasons(result)["mpeg2.dcm"].startswith("unsupported")
    assert len(result.slices) == len(written.paths)


def test_file_without_preamble_is_still_read(tmp_path: Path) -> None:
    written = variants.write_plain(tmp_path / "series")
    ds = pydicom.dcmread(written.paths[3])
    ds.SOPInstanceUID = generate_uid()
    bare = tmp_path / "bare"
    del ds.file_meta
    ds.preamble = None
    pydicom.dcmwrite(bare, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert bare.read_bytes()[128:132] != b"DICM"
    result = scan_paths([bare])
    assert result.skipped == ()
    (header,) = result.slices
    assert header.position_mm == pytest.approx(pydicom.dcmread(written.paths[3]).ImagePositionPatient)


def test_identical_copy_is_used_once(tmp_path: Path) -> None:
    written = variants.write_duplicated_slice(tmp_path, same_sop_uid=True)
    result = scan_paths([tmp_path])
    assert len(result.slices) == len(written.paths) - 1
    (skip,) = result.skipped
    assert "same SOP Instance UID" in skip.reason


# ----------------------------------------------------------------------------------- values


def test_window_values_parse_robustly(tmp_path: Path) -> None:
    assert parse_number("00040") == 40.0
    assert parse_number(["00040", "00080"]) == 40.0
    assert parse_number("-0100\\00200") == -100.0
    assert parse_number(" ") is None and parse_number(None) is None
    spec = SeriesSpec(window_center_hu=(40.0, 400.0), window_width_hu=(80.0, 2000.0))
    write_series(np.zeros((1, 8, 8)), tmp_path / "multi", spec)
    (header,) = scan_paths([tmp_path / "multi"]).slices
    assert (header.window_center_hu, header.window_width_hu) == (40.0, 80.0)
    # RSNA style: zero-padded, multi-valued strings.
    spec = SeriesSpec(uid_seed="rsna", extra={"WindowCenter": ["00036", "00036"], "WindowWidth": ["00080", "00080"]})
    write_series(np.zeros((1, 8, 8)), tmp_path / "rsna", spec)
    (header,) = scan_paths([tmp_path / "rsna"]).slices
    assert (header.window_center_hu, header.window_width_hu) == (36.0, 80.0)


def test_patient_name_decoded_with_character_set(tmp_path: Path) -> None:
    name = "Ωμέγα^Δοκιμή"
    spec = SeriesSpec(patient_name=name, specific_character_set=ISO_IR_192)
    write_series(np.zeros((2, 8, 8)), tmp_path, spec)
    headers = scan_paths([tmp_path]).slices
    assert headers[0].meta["PatientName"] == name
    assert headers[0].meta["SpecificCharacterSet"] == ISO_IR_192


def test_progress_reports_every_file(tmp_path: Path) -> None:
    written = variants.write_plain(tmp_path)
    (tmp_path / "junk.dcm").write_bytes(b"junk" * 100)
    calls: list[tuple[int, int]] = []
    result = scan_paths([tmp_path], workers=3, progress=lambda done, total: calls.append((done, total)))
    assert len(result.slices) == len(written.paths)
    assert [d for d, _ in calls] == list(range(1, len(written.paths) + 2))
    assert calls[-1] == (len(written.paths) + 1, len(written.paths) + 1)


def test_missing_path_is_reported_not_raised(tmp_path: Path) -> None:
    result = scan_paths([tmp_path / "nowhere"])
    assert result.slices == ()
    assert result.skipped[0].reason == "does not exist"


def test_linked_file_and_linked_folder_are_read_once(tmp_path: Path) -> None:
    """A file reached through a link, and a folder given through a linked path, count once."""
    written = variants.write_plain(tmp_path / "real" / "series", grid=variants.Grid(n_slices=3, rows=8, cols=8))
    (tmp_path / "real" / "link.dcm").symlink_to(written.paths[0])
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    result = scan_paths([tmp_path / "real", tmp_path / "alias" / "series"])
    assert sorted(s.path.resolve() for s in result.slices) == sorted(p.resolve() for p in written.paths)
    assert result.skipped == ()
