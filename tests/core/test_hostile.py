"""Hostile folders: one bad file or value costs that file (skipped with its reason) or is warned
about; never the folder, never a traceback, never an unbounded read or allocation."""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pydicom.config
import pytest

from viewer.core import decode_pool
from viewer.core.loading import load_stack, open_paths
from viewer.core.series import StudyTree

N_FILES = 5


@pytest.fixture(scope="module", autouse=True)
def _stop_worker_processes():
    yield
    decode_pool.shutdown_pool()


@pytest.fixture(autouse=True)
def _write_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let pydicom write the invalid values these tests need (NaN in a DS, ...)."""
    monkeypatch.setattr(pydicom.config.settings, "writing_validation_mode", pydicom.config.IGNORE)


def _copy(real_data: Path, folder: Path, n: int = N_FILES) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(1, n + 1):
        dst = folder / f"{i:02d}.dcm"
        shutil.copyfile(real_data / "ge_head_ct_tilted" / f"{10 + i:02d}.dcm", dst)
        out.append(dst)
    return out


def _edit(path: Path, change: Callable[[pydicom.Dataset], None]) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


def _set_raw(keyword: str, vr: str, value: str) -> Callable[[pydicom.Dataset], None]:
    def change(ds: pydicom.Dataset) -> None:
        tag = pydicom.datadict.tag_for_keyword(keyword)
        ds[tag] = pydicom.DataElement(tag, vr, value)

    return change


def _skipped(tree: StudyTree, path: Path) -> str:
    reasons = [s.reason for s in tree.skipped if s.path == path]
    assert reasons, f"{path.name} not skipped: {tree.skipped}"
    return reasons[0]


@pytest.mark.parametrize(
    "keyword, vr, value, words",
    [
        ("ImagePositionPatient", "DS", "nan\\-20\\30", "ImagePositionPatient is not a finite position"),
        ("ImagePositionPatient", "DS", "1\\inf\\3", "ImagePositionPatient is not a finite position"),
        ("ImagePositionPatient", "DS", "1\\2", "ImagePositionPatient is not 3 numbers"),
        ("ImageOrientationPatient", "DS", "1\\0\\0\\1\\0\\0", "ImageOrientationPatient is degenerate"),
        ("ImageOrientationPatient", "DS", "0\\0\\0\\0\\0\\0", "ImageOrientationPatient is degenerate"),
        ("ImageOrientationPatient", "DS", "1e-9\\0\\0\\0\\1e-9\\0", "ImageOrientationPatient is degenerate"),
        ("ImageOrientationPatient", "DS", "nan\\0\\0\\0\\1\\0", "ImageOrientationPatient is not finite"),
        ("PixelSpacing", "DS", "0\\0.5", "PixelSpacing is not a positive finite distance"),
        ("RescaleSlope", "DS", "0", "RescaleSlope is 0"),
        ("RescaleSlope", "DS", "nan", "NaN or infinite"),
        ("RescaleSlope", "DS", "inf", "NaN or infinite"),
        ("RescaleSlope", "DS", "1e30", "absurd"),
        ("RescaleIntercept", "DS", "-1e9", "absurd"),
        ("RescaleIntercept", "DS", "40000", "not the CT range"),
        ("BitsStored", "US", 40, "BitsStored 40 does not fit BitsAllocated 16"),
        ("PixelRepresentation", "US", 0, "not the CT range"),  # GE stores signed, intercept 0
        ("Rows", "US", 511, "more than the"),
        ("Rows", "US", 513, "the header declares"),
        ("BitsAllocated", "US", 8, "does not fit BitsAllocated 8"),
    ],
)
def test_one_bad_value_costs_its_file_only(real_data: Path, tmp_path: Path, keyword: str, vr: str, value: object, words: str) -> None:
    files = _copy(real_data, tmp_path / "series")
    _edit(files[2], _set_raw(keyword, vr, value))
    start = time.perf_counter()
    tree = open_paths([tmp_path / "series"])
    assert time.perf_counter() - start < 5
    assert words in _skipped(tree, files[2])
    (stack,) = tree.stacks()
    assert stack.n_slices == N_FILES - 1 and files[2] not in {h.path for h in stack.slices}
    assert not any(w.code in ("no_position", "inconsistent_values") for w in stack.warnings)


def test_good_slices_load_identically_beside_a_bad_one(real_data: Path, tmp_path: Path) -> None:
    clean_files = _copy(real_data, tmp_path / "clean")
    (clean,) = open_paths([tmp_path / "clean"]).stacks()
    clean_hu = {h.path.name: hu for h, hu in zip(clean.slices, load_stack(clean, workers=1).hu)}
    files = _copy(real_data, tmp_path / "series")
    _edit(files[1], _set_raw("ImagePositionPatient", "DS", "nan\\nan\\nan"))
    (stack,) = open_paths([tmp_path / "series"]).stacks()
    volume = load_stack(stack, workers=1)
    assert volume.n_slices == N_FILES - 1 and not volume.missing_slices
    for h, hu in zip(stack.slices, volume.hu):
        assert np.array_equal(hu, clean_hu[h.path.name])
    del clean_files


def test_a_slice_without_position_among_placed_ones_is_left_out_with_a_reason(real_data: Path, tmp_path: Path) -> None:
    files = _copy(real_data, tmp_path / "series")
    _edit(files[3], lambda ds: delattr(ds, "ImagePositionPatient"))
    tree = open_paths([tmp_path / "series"])
    assert "no ImagePositionPatient" in _skipped(tree, files[3])
    (stack,) = tree.stacks()
    assert stack.n_slices == N_FILES - 1 and not any(w.code == "no_position" for w in stack.warnings)


@pytest.mark.parametrize(
    "keyword, vr, value, words",
    [
        ("RescaleSlope", "DS", "2", "RescaleSlope / RescaleIntercept"),
        ("RescaleIntercept", "DS", "-1024", "RescaleSlope / RescaleIntercept"),
        ("PhotometricInterpretation", "CS", "MONOCHROME1", "PhotometricInterpretation"),
        ("BitsStored", "US", 12, "BitsStored"),
        ("PixelSpacing", "DS", "0.7\\0.7", "PixelSpacing"),
    ],
)
def test_a_slice_that_disagrees_with_its_stack_is_warned_about(
    real_data: Path, tmp_path: Path, keyword: str, vr: str, value: object, words: str
) -> None:
    files = _copy(real_data, tmp_path / "series")
    _edit(files[2], _set_raw(keyword, vr, value))
    (stack,) = open_paths([tmp_path / "series"]).stacks()
    assert stack.n_slices == N_FILES
    (warning,) = [w for w in stack.warnings if w.code == "inconsistent_values"]
    assert words in warning.message and warning.message.startswith("1 slice of this stack differs")
    volume = load_stack(stack, workers=1)
    assert any(w.code == "inconsistent_values" for w in volume.warnings)


def test_cerr_bits_stored_12_and_13_is_not_a_warning(real_data: Path) -> None:
    """Real data: unsigned 12- and 13-bit slices in one series hold the same HU range."""
    (stack,) = open_paths([real_data / "cerr_head_neck_ct"]).stacks()
    assert not any(w.code == "inconsistent_values" for w in stack.warnings)


@pytest.mark.parametrize("keyword", ["PatientID", "StudyInstanceUID"])
def test_another_patient_or_study_inside_a_series_is_split_never_merged(real_data: Path, tmp_path: Path, keyword: str) -> None:
    files = _copy(real_data, tmp_path / "series")
    _edit(files[1], lambda ds: setattr(ds, keyword, "1.2.3.999" if keyword != "PatientID" else "INTRUDER"))
    tree = open_paths([tmp_path / "series"])
    stacks = tree.stacks()
    assert sorted(s.n_slices for s in stacks) == [1, N_FILES - 1]
    assert len({s.stack_id for s in stacks}) == 2 and all("#" in s.stack_id for s in stacks)
    assert all(any(w.code == "mixed_patient" for w in s.warnings) for s in stacks)
    intruder = next(s for s in stacks if s.n_slices == 1)
    assert intruder.slices[0].path == files[1]
    if keyword == "PatientID":
        assert len(tree.patients) == 2 and "INTRUDER" in {p.patient_id for p in tree.patients}


def _refused_fast(folder: Path, path: Path, words: str) -> None:
    start = time.perf_counter()
    tree = open_paths([folder])
    elapsed = time.perf_counter() - start
    assert elapsed < 2, f"{elapsed:.1f} s"
    assert words in _skipped(tree, path)


def test_a_million_frame_header_is_refused_fast(real_data: Path, tmp_path: Path) -> None:
    (path,) = _copy(real_data, tmp_path / "f", n=1)
    _edit(path, lambda ds: setattr(ds, "NumberOfFrames", 10**6))
    _refused_fast(tmp_path / "f", path, "declares 1000000 frames")


def test_a_many_frame_compressed_header_is_refused_before_any_decode(real_data: Path, tmp_path: Path) -> None:
    path = next(
        p for p in sorted((real_data / "transfer_syntaxes").rglob("*"))
        if p.is_file() and pydicom.dcmread(p, stop_before_pixels=True, force=True).file_meta.get("TransferSyntaxUID", "").is_compressed
    )
    (tmp_path / "f").mkdir()
    dst = tmp_path / "f" / "a.dcm"
    shutil.copyfile(path, dst)
    _edit(dst, lambda ds: setattr(ds, "NumberOfFrames", 15_000))
    _refused_fast(tmp_path / "f", dst, "15000 frames of 384 x 384 pixels need 4.1 GiB decoded, over the 2.0 GiB limit")


def test_a_65535_square_header_is_refused_fast(real_data: Path, tmp_path: Path) -> None:
    files = _copy(real_data, tmp_path / "f", n=3)
    for path in files:
        _edit(path, lambda ds: (setattr(ds, "Rows", 65535), setattr(ds, "Columns", 65535)))
    start = time.perf_counter()
    tree = open_paths([tmp_path / "f"])
    assert time.perf_counter() - start < 2 and not tree.stacks()
    assert all("need 8.0 GiB decoded, over the 2.0 GiB limit" in _skipped(tree, p) for p in files)


@pytest.mark.parametrize("start", [b"", b"\0" * 128 + b"DICM", b"\0" * 128 + b"DICM\x02\x00\x00\x00UL\x04\x00\x00\x00\x00\x00"])
def test_a_sparse_20_gb_file_is_refused_fast(tmp_path: Path, start: bytes) -> None:
    (tmp_path / "f").mkdir()
    path = tmp_path / "f" / "sparse.dcm"
    path.write_bytes(start)
    os.truncate(path, 20 << 30)
    _refused_fast(tmp_path / "f", path, "")  # any reason: "not a DICOM file", "damaged header: ..."


def test_a_valid_slice_followed_by_8_gb_is_refused_fast(real_data: Path, tmp_path: Path) -> None:
    files = _copy(real_data, tmp_path / "f", n=3)
    os.truncate(files[0], 8 << 30)
    _refused_fast(tmp_path / "f", files[0], "8.0 GiB after its pixel data")
    (stack,) = open_paths([tmp_path / "f"]).stacks()
    assert stack.n_slices == 2


def test_the_volume_limit_is_settable(real_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (path,) = _copy(real_data, tmp_path / "f", n=1)
    monkeypatch.setenv("ICHVIEW_MAX_VOLUME_BYTES", "256K")
    _refused_fast(tmp_path / "f", path, "over the 256.0 KiB limit (set ICHVIEW_MAX_VOLUME_BYTES")
    monkeypatch.setenv("ICHVIEW_MAX_VOLUME_BYTES", "1M")
    assert open_paths([tmp_path / "f"]).stacks()
