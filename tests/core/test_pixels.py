"""Stored values -> HU: every transfer syntax, rescale, sign, BitsStored, padding, MONOCHROME1."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from inference.synth.dicom_writer import SeriesSpec, build_slice
from viewer.core.errors import PixelDecodeError
from viewer.core.pixels import decode_hu, hu_params, read_dataset, stored_frames
from viewer.core.volume import AIR_HU, HU_DTYPE

TRANSFER_SYNTAXES = {
    "1.2.840.10008.1.2.1",  # explicit VR little endian
    "1.2.840.10008.1.2",  # implicit VR little endian
    "1.2.840.10008.1.2.2",  # explicit VR big endian
    "1.2.840.10008.1.2.5",  # RLE lossless
    "1.2.840.10008.1.2.4.57",  # JPEG lossless
    "1.2.840.10008.1.2.4.70",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless (lossless here)
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
}


def test_every_transfer_syntax_decodes_identically(real_data: Path) -> None:
    files = sorted((real_data / "transfer_syntaxes").glob("*.dcm"))
    assert len(files) == 9
    syntaxes = [str(pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID) for f in files]
    assert len(set(syntaxes)) >= 7  # two JPEG lossless and two JPEG-LS variants
    reference = decode_hu(files[0])
    assert reference.dtype == HU_DTYPE and reference.shape == (384, 384)
    assert reference.max() > 1000 and np.count_nonzero(reference) > 10000  # a real image, not blank
    for f, ts in zip(files, syntaxes):
        hu = decode_hu(f)
        assert hu.dtype == HU_DTYPE, ts
        np.testing.assert_array_equal(hu, reference, err_msg=f"{f.name} ({ts})")


def _write(tmp_path: Path, name: str, stored: np.ndarray, **attrs: object) -> Path:
    """A CT slice file whose PixelData holds exactly `stored` (uint16 or int16) and `attrs`."""
    spec = SeriesSpec(pixel_signed=stored.dtype == np.int16)
    ds = build_slice(
        np.zeros(stored.shape), spec, position_mm=(0.0, 0.0, 0.0), instance_number=1,
        sop_instance_uid="1.2.826.0.1.3680043.10.1146.99." + str(abs(hash(name)) % 10**8),
    )
    ds.PixelData = stored.astype(stored.dtype.newbyteorder("<")).tobytes()
    for key, value in attrs.items():
        setattr(ds, key, value)
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    return path


def test_rescale_slope_and_intercept(tmp_path: Path) -> None:
    stored = np.array([[0, 1000, 2000], [2048, 4000, 4095]], dtype=np.uint16)
    path = _write(tmp_path, "slope.dcm", stored, RescaleSlope="0.5", RescaleIntercept="-1000", BitsStored=12)
    expected = np.maximum(np.rint(stored * 0.5 - 1000), AIR_HU).astype(np.int16)
    np.testing.assert_array_equal(decode_hu(path), expected)
    path = _write(tmp_path, "int.dcm", stored, RescaleSlope="1", RescaleIntercept="-1024")
    np.testing.assert_array_equal(decode_hu(path), stored.astype(np.int32) - 1024)


def test_missing_rescale_means_identity(tmp_path: Path) -> None:
    stored = np.array([[0, 40, 1000]], dtype=np.int16)
    path = _write(tmp_path, "identity.dcm", stored)
    ds = pydicom.dcmread(path)
    del ds.RescaleSlope
    del ds.RescaleIntercept
    ds.save_as(path)
    np.testing.assert_array_equal(decode_hu(path), stored)


def test_signed_and_unsigned_give_the_same_hu(tmp_path: Path) -> None:
    hu = np.array([[-1024, -1000, 0, 40, 80, 1500, 3071]], dtype=np.int16)
    unsigned = _write(tmp_path, "u.dcm", (hu + 1024).astype(np.uint16), RescaleIntercept="-1024")
    signed = _write(tmp_path, "s.dcm", hu.astype(np.int16), RescaleIntercept="0")
    assert hu_params(pydicom.dcmread(signed)).signed and not hu_params(pydicom.dcmread(unsigned)).signed
    np.testing.assert_array_equal(decode_hu(unsigned), hu)
    np.testing.assert_array_equal(decode_hu(signed), hu)


def test_bits_stored_ignores_garbage_high_bits(tmp_path: Path) -> None:
    values = np.array([[0, 1, 1024, 1064, 2047, 4095]], dtype=np.uint16)  # 12-bit unsigned
    garbage = values | np.array([[0xF000, 0x5000, 0xA000, 0x1000, 0xF000, 0x3000]], dtype=np.uint16)
    path = _write(tmp_path, "u12.dcm", garbage, BitsStored=12, HighBit=11, RescaleIntercept="-1024")
    np.testing.assert_array_equal(decode_hu(path), np.maximum(values.astype(np.int32) - 1024, AIR_HU))
    # 12-bit signed: bit 11 is the sign; bits 12-15 are garbage and must not flip the sign.
    signed_values = np.array([[-2048, -1024, -1, 0, 40, 2047]], dtype=np.int16)
    raw = (signed_values.view(np.uint16) & 0x0FFF) | np.uint16(0x6000)  # garbage above bit 11
    path = _write(tmp_path, "s12.dcm", raw.view(np.int16), BitsStored=12, HighBit=11, RescaleIntercept="0")
    np.testing.assert_array_equal(decode_hu(path), np.maximum(signed_values, AIR_HU))


def test_padding_and_outside_fov_become_air(tmp_path: Path) -> None:
    # GE style: signed, PixelPaddingValue -2000 stored; Siemens style: -3024 HU outside the FOV.
    stored = np.array([[-2000, -3024, -1500, -1024, 40, 2000]], dtype=np.int16)
    path = _write(tmp_path, "pad.dcm", stored, PixelPaddingValue=-2000, RescaleIntercept="0")
    np.testing.assert_array_equal(decode_hu(path), [[-1024, -1024, -1024, -1024, 40, 2000]])
    # Padding whose HU would look like tissue (unsigned 0 with intercept 0) still becomes air.
    stored = np.array([[0, 0, 1064, 1000]], dtype=np.uint16)
    path = _write(tmp_path, "pad0.dcm", stored, PixelPaddingValue=0, RescaleIntercept="0")
    np.testing.assert_array_equal(decode_hu(path), [[-1024, -1024, 1064, 1000]])
    # A padding range (PixelPaddingValue .. PixelPaddingRangeLimit).
    stored = np.array([[1, 5, 9, 10, 11]], dtype=np.uint16)
    path = _write(tmp_path, "range.dcm", stored, PixelPaddingValue=1, PixelPaddingRangeLimit=10, RescaleIntercept="0")
    np.testing.assert_array_equal(decode_hu(path), [[-1024, -1024, -1024, -1024, 11]])


def test_monochrome1_is_inverted_to_read_like_monochrome2(tmp_path: Path) -> None:
    hu = np.array([[-1000, 0, 40, 80, 1000]], dtype=np.int16)
    stored = (hu + 1024).astype(np.uint16)
    mono2 = _write(tmp_path, "m2.dcm", stored, BitsStored=12, HighBit=11, RescaleIntercept="-1024")
    mono1 = _write(
        tmp_path, "m1.dcm", (4095 - stored).astype(np.uint16),
        BitsStored=12, HighBit=11, RescaleIntercept="-1024", PhotometricInterpretation="MONOCHROME1",
    )
    np.testing.assert_array_equal(decode_hu(mono2), hu)
    np.testing.assert_array_equal(decode_hu(mono1), hu)


def test_enhanced_ct_per_frame_rescale(tmp_path: Path) -> None:
    source = Path(get_testdata_file("eCT_Supplemental.dcm"))
    ds = pydicom.dcmread(source)
    assert int(ds.NumberOfFrames) == 2
    raw = stored_frames(ds, source)
    expected_shared = np.maximum(raw.astype(np.int32) - 1024, AIR_HU)
    for frame in range(2):
        np.testing.assert_array_equal(decode_hu(source, frame), expected_shared[frame])
    # Per-frame Pixel Value Transformation overrides the shared one, frame by frame.
    for frame, intercept in ((0, "-1000"), (1, "-900")):
        item = Dataset()
        item.RescaleSlope = "1"
        item.RescaleIntercept = intercept
        item.RescaleType = "HU"
        ds.PerFrameFunctionalGroupsSequence[frame].PixelValueTransformationSequence = [item]
    edited = tmp_path / "eCT_per_frame.dcm"
    ds.save_as(edited)
    np.testing.assert_array_equal(decode_hu(edited, 0), np.maximum(raw[0].astype(np.int32) - 1000, AIR_HU))
    np.testing.assert_array_equal(decode_hu(edited, 1), np.maximum(raw[1].astype(np.int32) - 900, AIR_HU))


def test_undecodable_slice_names_the_file_and_the_fix(real_data: Path, tmp_path: Path) -> None:
    source = real_data / "transfer_syntaxes" / "5.dcm"  # JPEG lossless
    ds = pydicom.dcmread(source)
    assert ds.file_meta.TransferSyntaxUID.is_compressed
    from pydicom.encaps import encapsulate, generate_frames

    fragment = next(generate_frames(ds.PixelData, number_of_frames=1))
    garbage = np.random.default_rng(0).integers(0, 256, len(fragment) // 2, dtype=np.uint8).tobytes()
    ds.PixelData = encapsulate([fragment[:2] + garbage])  # a JPEG start marker, then noise
    broken = tmp_path / "broken_jpeg.dcm"
    ds.save_as(broken)
    with pytest.raises(PixelDecodeError) as info:
        decode_hu(broken)
    message = str(info.value)
    assert str(broken) in message and "pylibjpeg" in message
    assert info.value.path == broken


def test_truncated_native_pixel_data(tmp_path: Path) -> None:
    path = _write(tmp_path, "short.dcm", np.zeros((4, 4), dtype=np.uint16))
    ds = read_dataset(path)
    ds.PixelData = ds.PixelData[:10]
    ds.save_as(path)
    with pytest.raises(PixelDecodeError, match="truncated"):
        decode_hu(path)


@pytest.mark.parametrize("decoder", ["gdcm", "libjpeg"])
def test_jpeg_lossless_decoders_agree_on_signed_ct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decoder: str) -> None:
    """Signed 16-bit CT (GE style, -2000 outside the FOV) as JPEG Lossless SV1, through both decoders."""
    import SimpleITK as sitk

    from viewer.core import pixels

    rng = np.random.default_rng(1)
    hu = rng.integers(-1100, 2500, size=(64, 48)).astype(np.int16)
    hu[:5] = -2000
    writer = sitk.ImageFileWriter()
    writer.SetImageIO("GDCMImageIO")
    writer.SetUseCompression(True)
    writer.SetCompressor("JPEG")
    encoded_path = tmp_path / "gdcm.dcm"
    writer.SetFileName(str(encoded_path))
    writer.Execute(sitk.GetImageFromArray(hu[None]))
    encoded = pydicom.dcmread(encoded_path)
    assert encoded.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.70"
    path = _write(tmp_path, "signed_jpeg.dcm", hu, RescaleIntercept="0")
    ds = pydicom.dcmread(path)
    ds.PixelData = encoded.PixelData
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = encoded.file_meta.TransferSyntaxUID
    ds.save_as(path, enforce_file_format=True)
    if decoder == "libjpeg":
        monkeypatch.setattr(pixels, "_gdcm_module", lambda: None)
    else:
        assert pixels._gdcm_module() is not None, "python-gdcm is a dependency (pyproject.toml)"
    np.testing.assert_array_equal(decode_hu(path), np.maximum(hu, AIR_HU))


def test_native_fast_path_reads_only_what_it_verified(tmp_path: Path) -> None:
    """The loader's shortcut (pixels read from the file's end, layout from the scanned header) gives
    the full reader's values, and declines a file whose Pixel Data is not the last element."""
    from viewer.core.pixels import native_tail_from_meta, read_native_tail, stored_to_hu
    from viewer.core.scan import scan_paths

    stored = np.arange(-600, 600, dtype=np.int16).reshape(30, 40)
    path = _write(tmp_path, "fast.dcm", stored, PixelPaddingValue=-600, RescaleIntercept="-24")
    (header,) = scan_paths([path]).slices
    tail, params = native_tail_from_meta(
        header.meta, transfer_syntax_uid=header.transfer_syntax_uid, photometric=header.photometric,
        rows=header.rows, cols=header.columns, frame=header.frame,
    )
    raw = read_native_tail(path, tail)
    assert raw is not None
    np.testing.assert_array_equal(stored_to_hu(raw, params), decode_hu(path))
    ds = pydicom.dcmread(path)
    ds.DataSetTrailingPadding = b"\0" * 8  # (FFFC,FFFC) after the pixels
    ds.save_as(path)
    assert read_native_tail(path, tail) is None
