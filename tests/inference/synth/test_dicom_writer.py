"""The synthetic DICOM writer: files pydicom reads back, with valid UIDs and the CT IOD's attributes."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless

from inference.synth.dicom_writer import (
    ISO_IR_192,
    UID_ROOT,
    SeriesSpec,
    encoder_available,
    slice_normal,
    write_series,
)

UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")

# CT Image IOD (PS3.3 A.3): type 1 and 2 attributes of its mandatory modules, plus SOP Common.
CT_REQUIRED = [
    # Patient (type 2)
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex",
    # General Study
    "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
    # General Series (PatientPosition is 2C: required for CT)
    "Modality", "SeriesInstanceUID", "SeriesNumber", "PatientPosition",
    # Frame of Reference
    "FrameOfReferenceUID", "PositionReferenceIndicator",
    # General Equipment
    "Manufacturer",
    # General Image
    "InstanceNumber",
    # Image Plane
    "PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient", "SliceThickness",
    # Image Pixel
    "SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated", "BitsStored",
    "HighBit", "PixelRepresentation", "PixelData",
    # CT Image
    "ImageType", "RescaleIntercept", "RescaleSlope", "KVP", "AcquisitionNumber",
    # SOP Common
    "SOPClassUID", "SOPInstanceUID",
]


def _hu_ramp(n: int = 4, rows: int = 48, cols: int = 40) -> np.ndarray:
    r, c = np.mgrid[0:rows, 0:cols]
    base = np.where((r - rows / 2) ** 2 + (c - cols / 2) ** 2 < (rows / 3) ** 2, 35.0, -1000.0)
    base[5, 3] = 1500.0  # an asymmetric bright pixel
    return np.stack([base + 10 * k for k in range(n)]).astype(np.float32)


def _hu(ds: pydicom.Dataset) -> np.ndarray:
    return ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def test_series_reads_back_with_required_attributes_and_pixels(tmp_path: Path) -> None:
    hu = _hu_ramp()
    spec = SeriesSpec(slice_step_mm=2.5, slice_thickness_mm=2.5, pixel_spacing_mm=(0.7, 0.6))
    paths = write_series(hu, tmp_path, spec)
    assert [p.name for p in paths] == ["IM0001.dcm", "IM0002.dcm", "IM0003.dcm", "IM0004.dcm"]
    sop_uids = set()
    for i, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        missing = [k for k in CT_REQUIRED if k not in ds]
        assert not missing, f"{path.name} lacks {missing}"
        assert ds.SOPClassUID == pydicom.uid.CTImageStorage
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.FrameOfReferenceUID):
            assert UID_RE.match(uid) and len(uid) <= 64, uid
            assert uid.startswith(UID_ROOT)
        sop_uids.add(ds.SOPInstanceUID)
        assert str(ds.PatientName).startswith("SYNTHETIC^")
        assert list(ds.ImageType)[0] == "DERIVED"
        assert "SYNTHETIC" in ds.SeriesDescription
        assert ds.InstanceNumber == i + 1
        assert [float(v) for v in ds.PixelSpacing] == [0.7, 0.6]
        assert float(ds.ImagePositionPatient[2]) == pytest.approx(2.5 * i)
        np.testing.assert_array_equal(_hu(ds), np.rint(hu[i]))
    assert len(sop_uids) == 4


def test_same_seed_same_uids_other_seed_other_uids(tmp_path: Path) -> None:
    hu = _hu_ramp(1)
    a = pydicom.dcmread(write_series(hu, tmp_path / "a", SeriesSpec(uid_seed="x"))[0])
    b = pydicom.dcmread(write_series(hu, tmp_path / "b", SeriesSpec(uid_seed="x"))[0])
    c = pydicom.dcmread(write_series(hu, tmp_path / "c", SeriesSpec(uid_seed="y"))[0])
    assert a.SOPInstanceUID == b.SOPInstanceUID and a.SeriesInstanceUID == b.SeriesInstanceUID
    assert c.StudyInstanceUID != a.StudyInstanceUID and c.SOPInstanceUID != a.SOPInstanceUID


@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless, JPEGLSLossless, JPEG2000Lossless]
)
@pytest.mark.parametrize("signed", [False, True])
def test_transfer_syntaxes_decode_to_the_same_hu(tmp_path: Path, syntax: str, signed: bool) -> None:
    assert encoder_available(syntax), f"no encoder for {syntax} (pyproject lists the pylibjpeg plugins)"
    hu = _hu_ramp(2)
    spec = SeriesSpec(transfer_syntax=syntax, pixel_signed=signed, rescale_intercept=0.0 if signed else -1024.0)
    ds = pydicom.dcmread(write_series(hu, tmp_path, spec)[1])
    assert ds.file_meta.TransferSyntaxUID == syntax
    assert ds.PixelRepresentation == int(signed)
    np.testing.assert_array_equal(_hu(ds), np.rint(hu[1]))


def test_non_latin_name_in_utf8(tmp_path: Path) -> None:
    spec = SeriesSpec(patient_name="SYNTHETIC^山田^太郎", specific_character_set=ISO_IR_192)
    path = write_series(_hu_ramp(1), tmp_path, spec)[0]
    ds = pydicom.dcmread(path)
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "SYNTHETIC^山田^太郎"
    assert "山田".encode("utf-8") in path.read_bytes()


def test_tilt_shears_positions_with_and_without_the_tag(tmp_path: Path) -> None:
    hu = _hu_ramp(3)
    for tag in (True, False):
        spec = SeriesSpec(gantry_tilt_deg=20.0, write_tilt_tag=tag, slice_step_mm=5.0)
        dss = [pydicom.dcmread(p) for p in write_series(hu, tmp_path / str(tag), spec)]
        assert ("GantryDetectorTilt" in dss[0]) is tag
        if tag:
            assert float(dss[0].GantryDetectorTilt) == 20.0
        iop = [float(v) for v in dss[0].ImageOrientationPatient]
        assert iop[4] == pytest.approx(np.cos(np.deg2rad(20))) and iop[5] == pytest.approx(-np.sin(np.deg2rad(20)))
        ipp = np.array([[float(v) for v in d.ImagePositionPatient] for d in dss])
        step = ipp[1] - ipp[0]
        np.testing.assert_allclose(step, [0, 0, 5.0], atol=1e-6)  # the table moves along z
        n = slice_normal(iop)
        assert np.dot(step, n) == pytest.approx(5.0 * np.cos(np.deg2rad(20)), abs=1e-4)
        assert np.linalg.norm(step - np.dot(step, n) * n) > 1.0  # sheared against the normal


def test_names_instance_numbers_and_per_slice_overrides(tmp_path: Path) -> None:
    hu = _hu_ramp(3)
    spec = SeriesSpec(contrast_agent="IOHEXOL", window_center_hu=(40.0, 600.0), window_width_hu=(80.0, 2800.0))
    paths = write_series(
        hu,
        tmp_path,
        spec,
        file_names=["c", "a", "sub/b"],
        instance_numbers=[3, None, 1],
        slice_overrides={2: {"ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"], "ConvolutionKernel": None}},
    )
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["c", "a", "sub/b"]
    d0, d1, d2 = (pydicom.dcmread(p) for p in paths)
    assert d0.InstanceNumber == 3 and "InstanceNumber" not in d1 and d2.InstanceNumber == 1
    assert list(d2.ImageType)[2] == "LOCALIZER" and "ConvolutionKernel" not in d2
    assert d0.ConvolutionKernel == "SYNTH_SOFT"
    assert d0.ContrastBolusAgent == "IOHEXOL"
    assert [float(v) for v in d0.WindowCenter] == [40.0, 600.0]
    assert not list(tmp_path.glob("**/.tmp-*")), "temporary files left behind"
