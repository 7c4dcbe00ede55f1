"""The findings as DICOM (viewer/report/sr.py): a TID 1500 Comprehensive 3D SR and AI key images,
built from a synthetic study on disk with both readers' results, read back by highdicom and checked
by dcmtk's dsrdump and dicom3tools' dciodvfy (Debian packages dcmtk and dicom3tools)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from report_inputs import analysis_for, bleed_labels, second_reading_for
from tests.cli.analyze_inputs import write_ct_study
from viewer.core.loading import load_stack, open_paths
from viewer.report.findings import HONEST_USE, summarize_stack, summarize_study
from viewer.report.sr import (
    KEY_SERIES_DESCRIPTION,
    SrBuildError,
    build_dicom_results,
    read_sources,
    result_file_name,
)


def _tool(name: str, package: str) -> str:
    """A Debian tool; installed with apt-get when missing and running as root, else a failure."""
    import os

    found = shutil.which(name)
    if found:
        return found
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, capture_output=True)
        found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: install the Debian package {package}")
    return found


@pytest.fixture(scope="module")
def study_on_disk(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = write_ct_study(tmp_path_factory.mktemp("sr"), bleed=True, patient_name="SYNTHETIC^SR", seed=5,
                            patient_id="SR-5")
    stack = open_paths([folder]).stacks()[0]
    return stack, load_stack(stack)


def _results(study_on_disk, *, second: bool = True):  # type: ignore[no-untyped-def]
    stack, volume = study_on_disk
    reading = second_reading_for(volume, bleed_labels(volume, label=2)) if second else None
    findings = summarize_study([summarize_stack(volume, analysis_for(volume), second=reading)])
    return stack, volume, findings, build_dicom_results(findings, read_sources([s.path for s in stack.slices]))


def _save(results, folder: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    folder.mkdir(exist_ok=True)
    paths = []
    for ds in results.datasets():
        path = folder / result_file_name(ds)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _texts(ds: pydicom.Dataset) -> list[str]:
    out = []
    for item in ds.get("ContentSequence", []):
        if item.ValueType == "TEXT":
            out.append(str(item.TextValue))
        out += _texts(item)
    return out


def _images(ds: pydicom.Dataset) -> set[str]:
    out = set()
    for item in ds.get("ContentSequence", []):
        if item.ValueType == "IMAGE":
            out.add(str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID))
        out |= _images(item)
    return out


def test_sr_holds_verdict_volumes_references_readers_and_the_statement(study_on_disk, tmp_path: Path) -> None:
    import highdicom as hd

    stack, volume, findings, results = _results(study_on_disk)
    sr_path = _save(results, tmp_path)[0]
    sr = hd.sr.srread(sr_path)
    assert sr.StudyInstanceUID == stack.study_uid and sr.SeriesInstanceUID != stack.series_uid
    assert sr.PatientID == "SR-5" and sr.CompletionFlag == "COMPLETE" and sr.VerificationFlag == "UNVERIFIED"
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    # highdicom parses the document back as TID 1500 with its TID 1501 groups.
    report = hd.sr.MeasurementReport.from_sequence([sr])
    groups = report.get_image_measurement_groups()
    by_track = {g.tracking_identifier: g for g in groups}
    assert {"verdict", "IPH", "EAH", "oedema", "IVH", "first reader any"} <= set(by_track)
    ich = by_track["verdict"].get_qualitative_evaluations()[0]
    assert ich.name.value == "1386000" and ich.value.meaning == "Present"
    eah = by_track["EAH"].get_measurements()[0]
    assert eah.name.meaning == "Volume" and eah.unit.value == "ml"
    root = sr
    # The verdict: Intracranial hemorrhage = Present, and in words.
    verdict = findings.stacks[0]
    assert verdict.ich_suspected is True
    texts = _texts(root)
    assert f"Study verdict: {findings.verdict_text}" in texts
    assert HONEST_USE in texts
    # Volumes per class (mL) from the second reader, equal to the findings'.
    nums = {}
    for group in root.ContentSequence[-2].ContentSequence:  # Imaging Measurements
        track = next(str(i.TextValue) for i in group.ContentSequence if i.ConceptNameCodeSequence[0].CodeMeaning == "Tracking Identifier")
        for item in group.ContentSequence:
            if item.ValueType == "NUM" and item.ConceptNameCodeSequence[0].CodeMeaning == "Volume":
                nums[track] = float(item.MeasuredValueSequence[0].NumericValue)
                assert item.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue == "ml"
    lesions = verdict.lesions
    assert lesions is not None
    assert set(nums) == {"IPH", "EAH", "oedema", "IVH"}
    for name, value in nums.items():
        assert value == pytest.approx(lesions.volumes_ml[name], abs=1e-3)
    assert nums["EAH"] > 1.0
    # Every image reference names an analysed instance of the study.
    refs = _images(root)
    assert refs and refs <= set(volume.sop_instance_uids)
    eah_slices = {volume.sop_instance_uids[i] for i in np.flatnonzero(lesions.slice_area_mm2[:, 1] > 0)}
    assert eah_slices <= refs
    # The readers: names, versions and weights hashes.
    joined = "\n".join(texts)
    assert "BLAST-CT" in joined and "blast-ct-v1/model_1" in joined and "cd" * 32 in joined
    assert "ichnet-test" in joined and "0.0-test" in joined and "ab" * 32 in joined
    # Evidence lists the analysed instances in the same study.
    evidence = {str(r.ReferencedSOPInstanceUID) for s in sr.CurrentRequestedProcedureEvidenceSequence
                for se in s.ReferencedSeriesSequence for r in se.ReferencedSOPSequence}
    assert evidence == set(volume.sop_instance_uids)


def test_key_images_are_derived_ai_secondary_captures_in_a_new_series(study_on_disk, tmp_path: Path) -> None:
    stack, volume, findings, results = _results(study_on_disk)
    assert results.key_images
    series = {str(k.SeriesInstanceUID) for k in results.key_images}
    assert len(series) == 1 and series.isdisjoint({stack.series_uid, str(results.sr.SeriesInstanceUID)})
    for key, ks in zip(results.key_images, sorted(findings.stacks[0].key_slices, key=lambda k: k.index)):
        assert key.StudyInstanceUID == stack.study_uid and key.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
        assert list(key.ImageType)[:2] == ["DERIVED", "SECONDARY"] and key.BurnedInAnnotation == "YES"
        assert "AI-generated" in key.DerivationDescription and key.SeriesDescription == KEY_SERIES_DESCRIPTION
        assert key.SourceImageSequence[0].ReferencedSOPInstanceUID == ks.sop_instance_uid
        rgb = key.pixel_array
        assert rgb.shape == (*volume.hu.shape[1:], 3)
        coloured = (rgb.max(axis=2).astype(int) - rgb.min(axis=2)) > 30
        assert coloured.sum() > 50  # heat map and outlines are burnt in


def test_second_reader_off_says_so_and_has_no_volumes(study_on_disk) -> None:
    _, _, _, results = _results(study_on_disk, second=False)
    texts = "\n".join(_texts(results.sr))
    assert "second reader (BLAST-CT) not run" in texts
    assert "provisional" in texts


def test_dsrdump_and_dciodvfy_accept_the_files(study_on_disk, tmp_path: Path) -> None:
    dsrdump = _tool("dsrdump", "dcmtk")
    dciodvfy = _tool("dciodvfy", "dicom3tools")
    _, _, _, results = _results(study_on_disk)
    paths = _save(results, tmp_path)
    run = subprocess.run([dsrdump, str(paths[0])], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "E:" not in run.stderr and "Imaging Measurement Report" in run.stdout
    for path in paths:
        check = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True)
        errors = [line for line in (check.stdout + check.stderr).splitlines() if line.startswith("Error")]
        assert errors == [], f"{path.name}: {errors}"


def test_a_study_without_analysed_stacks_is_refused(study_on_disk) -> None:
    with pytest.raises(SrBuildError, match="nothing to write"):
        build_dicom_results(summarize_study([]), {})
