"""The loader's JPEG Lossless shortcut: fragments read from the scanned Pixel Data offset and decoded
by GDCM give the full reader's HU, and a file laid out otherwise falls back to the full reader."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from viewer.core.decode_pool import file_tasks
from viewer.core.loading import load_stack, open_paths
from viewer.core.pixels import decode_hu, jpeg_lossless_tail_from_meta, read_jpeg_lossless_tail, stored_to_hu
from viewer.core.scan import scan_paths

JPEG_LOSSLESS = {"1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70"}


def _jpeg_files(real_data: Path) -> list[Path]:
    result = scan_paths([real_data / "transfer_syntaxes"])
    files = [h.path for h in result.slices if h.transfer_syntax_uid in JPEG_LOSSLESS]
    assert files, "the real transfer-syntax set holds JPEG Lossless files"
    return files


def test_jpeg_lossless_shortcut_matches_the_full_reader(real_data: Path) -> None:
    for path in _jpeg_files(real_data):
        (header,) = scan_paths([path]).slices
        assert header.pixel_offset is not None
        found = jpeg_lossless_tail_from_meta(
            header.meta, transfer_syntax_uid=header.transfer_syntax_uid, photometric=header.photometric,
            rows=header.rows, cols=header.columns, frame=header.frame, pixel_offset=header.pixel_offset,
        )
        assert found is not None
        tail, params = found
        stored = read_jpeg_lossless_tail(path, tail)
        assert stored is not None
        np.testing.assert_array_equal(stored_to_hu(stored, params), decode_hu(path))


def test_jpeg_lossless_shortcut_declines_a_cut_or_misplaced_element(real_data: Path, tmp_path: Path) -> None:
    source = _jpeg_files(real_data)[0]
    (header,) = scan_paths([source]).slices
    tail, _ = jpeg_lossless_tail_from_meta(
        header.meta, transfer_syntax_uid=header.transfer_syntax_uid, photometric=header.photometric,
        rows=header.rows, cols=header.columns, frame=header.frame, pixel_offset=header.pixel_offset,
    )
    data = source.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:-8])  # the sequence delimiter is gone
    assert read_jpeg_lossless_tail(cut, tail) is None
    from dataclasses import replace

    assert read_jpeg_lossless_tail(source, replace(tail, offset=tail.offset + 2)) is None  # not the element


def test_jpeg_lossless_series_loads_through_the_shortcut(real_data: Path, tmp_path: Path) -> None:
    """A whole JPEG Lossless series (the same file as 5 slices) loads to the full reader's HU."""
    import pydicom
    from pydicom.uid import generate_uid

    source = _jpeg_files(real_data)[0]
    series_uid = generate_uid()
    for k in range(5):
        ds = pydicom.dcmread(source)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [0.0, 0.0, 5.0 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.save_as(tmp_path / f"{k}.dcm")
    (stack,) = open_paths([tmp_path]).stacks()
    assert all(t.jpeg is not None for t in file_tasks(stack))
    volume = load_stack(stack)
    reference = decode_hu(source)
    assert volume.hu.shape[0] == 5
    for k in range(5):
        assert np.array_equal(np.sort(volume.hu[k], axis=None), np.sort(reference, axis=None))
