"""The tag browser shows a header as a tree and its search box finds tags by keyword, tag or value."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from PySide6.QtTest import QTest

from viewer.qt.tag_browser import TagBrowser


def _write_dicom(path: Path) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "Testperson^Alma"
    ds.PatientID = "TB-0001"
    ds.Modality = "CT"
    ds.ImageComments = "x" * 1000
    code = Dataset()
    code.CodeValue = "T-A0100"
    code.CodeMeaning = "Brain structure"
    ds.AnatomicRegionSequence = Sequence([code])
    ds.Rows, ds.Columns = 4, 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = np.zeros((4, 4), np.int16).tobytes()
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


@pytest.fixture
def browser(qtbot):
    b = TagBrowser()
    qtbot.addWidget(b)
    b.resize(700, 500)
    b.show()
    qtbot.waitExposed(b)
    return b


def test_search_box_finds_patient_name(browser, tmp_path, artifacts_dir):
    assert browser.show_file(_write_dicom(tmp_path / "a.dcm"))
    browser.grab().save(str(artifacts_dir / "tag_browser_all.png"))
    QTest.keyClicks(browser.search_box, "PatientName")
    rows = browser.visible_rows()
    assert rows == [("(0010,0010)", "PatientName", "PN", "Testperson^Alma")]
    browser.grab().save(str(artifacts_dir / "tag_browser_search.png"))


def test_search_by_tag_and_by_value(browser, tmp_path):
    browser.show_file(_write_dicom(tmp_path / "a.dcm"))
    browser.search_box.setText("0010,0020")
    assert [r[1] for r in browser.visible_rows()] == ["PatientID"]
    browser.search_box.setText("brain struct")  # a value inside a sequence: shown with its parents
    rows = browser.visible_rows()
    assert rows[0][1] == "AnatomicRegionSequence" and rows[1][0] == "Item 1"
    assert ("(0008,0104)", "CodeMeaning", "LO", "Brain structure") in rows
    browser.search_box.clear()
    assert len(browser.visible_rows()) > 10


def test_pixel_data_omitted_and_long_values_truncated(browser, tmp_path):
    browser.show_file(_write_dicom(tmp_path / "a.dcm"))
    rows = browser.visible_rows()
    assert not any(r[1] == "PixelData" or r[0] == "(7FE0,0010)" for r in rows)
    [comment] = [r for r in rows if r[1] == "ImageComments"]
    assert len(comment[3]) <= 160 and comment[3].endswith("…")
    assert any(r[1] == "TransferSyntaxUID" for r in rows)  # file meta shown too


def test_real_file_and_unreadable_file(browser, real_data, tmp_path):
    path = sorted((real_data / "ge_head_ct_tilted").glob("*.dcm"))[0]
    assert browser.show_file(path)
    QTest.keyClicks(browser.search_box, "patientname")
    assert [r[1] for r in browser.visible_rows()] == ["PatientName"]
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    assert not browser.show_file(junk)
    assert "junk.dcm" in browser.path_label.text() and browser.visible_rows() == []


def test_multiframe_shows_only_the_asked_frame(browser, tmp_path):
    path = _write_dicom(tmp_path / "mf.dcm")
    ds = pydicom.dcmread(path)
    frames = []
    for k in range(3):
        position = Dataset()
        position.ImagePositionPatient = [0.0, 0.0, 5.0 * k]
        group = Dataset()
        group.PlanePositionSequence = Sequence([position])
        frames.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.NumberOfFrames = 3
    ds.save_as(path)
    assert browser.show_file(path, frame=1)
    assert "frame 2" in browser.path_label.text()
    browser.search_box.setText("ImagePositionPatient")
    rows = browser.visible_rows()
    values = [r[3] for r in rows if r[1] == "ImagePositionPatient"]
    assert values == ["0.0\\0.0\\5.0"]
    assert ("(5200,9230)", "PerFrameFunctionalGroupsSequence", "SQ", "frame 2 of 3") in rows
