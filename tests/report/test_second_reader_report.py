"""Both readers in the findings, the verdict, the JSON and the PDF (the second reader's label map is
measured by its own code; its segmentation itself is tested in tests/inference/readers)."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pypdfium2 as pdfium
from report_inputs import analysis_for, bleed_labels, head_volume, second_reading_for

from viewer.report.images import LESION_COLOURS
from viewer.report.findings import VERDICT_NEGATIVE, VERDICT_POSITIVE, summarize_stack, summarize_study
from viewer.report.json_report import SCHEMA_VERSION, findings_to_json, load_schema
from viewer.report.pdf import write_findings_pdf
from viewer.report.verdict import FIRST_READER, SECOND_READER, VerdictRule, decide


def _validate(doc: dict) -> None:
    jsonschema.Draft202012Validator(load_schema()).validate(doc)


def test_rule_second_reader_blood_decides_and_oedema_does_not() -> None:
    common = dict(first_threshold=0.5, first_flagged="slices 6-8", second_largest="EAH 3.0 mL, slices 6-8")
    v = decide(first_max_any=0.2, second_ran=True, second_blood_ml=3.0, **common)
    assert v.suspected and v.by == (SECOND_READER,) and "stayed below" in v.disagreement
    v = decide(first_max_any=0.7, second_ran=True, second_blood_ml=0.4, **common)
    assert v.suspected is False and FIRST_READER in v.disagreement and "slices 6-8" in v.disagreement
    v = decide(first_max_any=0.95, second_ran=True, second_blood_ml=0.0, **common)
    assert v.suspected and v.by == (FIRST_READER,) and v.disagreement
    v = decide(first_max_any=0.7, second_ran=False, second_blood_ml=0.0, **common)
    assert v.suspected and v.provisional
    assert VerdictRule.from_metadata({"verdict_rule": {"second_min_ml": 2.0, "first_alone_threshold": 0.97}}) == \
        VerdictRule(2.0, 0.97, "weights metadata")
    assert VerdictRule.from_metadata({"verdict_rule": {"second_min_ml": -1, "first_alone_threshold": 3}}) == VerdictRule()


def test_first_reader_false_alarm_is_overruled_and_said(tmp_path: Path) -> None:
    """The shipped first reader flags real normal scans: with a clean second reading the verdict is
    negative, and the report says where the readers disagree."""
    vol = head_volume(size=96)
    clean = second_reading_for(vol, np.zeros(vol.hu.shape, np.uint8))
    rule = VerdictRule(1.0, 0.95)
    stack = summarize_stack(vol, analysis_for(vol), second=clean, rule=rule)
    assert stack.max_any is not None and stack.threshold <= stack.max_any < 0.95  # the first reader is positive
    assert stack.verdict_text == VERDICT_NEGATIVE and not stack.provisional
    assert "flagged slices 6\u20138" in stack.verdict.disagreement
    study = summarize_study([stack], rule=rule)
    doc = findings_to_json(study)
    _validate(doc)
    assert doc["series"][0]["verdict"]["rule"]["first_alone_threshold"] == 0.95
    assert doc["schema_version"] == SCHEMA_VERSION == "1.1.0"
    series = doc["series"][0]
    assert series["verdict"]["ich_suspected"] is False and series["verdict"]["first_reader_positive"] is True
    assert series["lesions"]["volumes_ml"] == {"IPH": 0.0, "EAH": 0.0, "oedema": 0.0, "IVH": 0.0}
    text = _pdf_text(write_findings_pdf(tmp_path / "r.pdf", study))
    assert "Readers disagree" in text and "BLAST-CT" in text and "Monteiro" in text


def test_second_reader_bleed_volume_key_image_outline_json_and_pdf(tmp_path: Path) -> None:
    vol = head_volume(size=96)
    labels = bleed_labels(vol, label=2, radius=0.2)  # EAH disc on slices 6-8, about 4 mL
    reading = second_reading_for(vol, labels)
    stack = summarize_stack(vol, analysis_for(vol, bleed=False), second=reading)
    # 3 slices x the disc area (0.5 mm pixels) x 5 mm slice extent each
    expected_ml = 3 * (labels[6] == 2).sum() * 0.25 * 5.0 / 1000.0
    assert abs(stack.lesions.volumes_ml["EAH"] - expected_ml) < 1e-6
    assert stack.verdict_text == VERDICT_POSITIVE and stack.verdict.by == (SECOND_READER,)
    assert "stayed below" in stack.verdict.disagreement  # the first reader saw nothing
    key = [k for k in stack.key_slices if k.lesion_labels is not None and k.lesion_labels.any()]
    assert key and key[0].index in (5, 6, 7)
    doc = findings_to_json(summarize_study([stack]))
    _validate(doc)
    comp = doc["series"][0]["lesions"]["components"][0]
    assert comp["class"] == "EAH" and (comp["first_slice_number"], comp["last_slice_number"]) == (6, 8)
    assert doc["series"][0]["lesions"]["slice_area_mm2"][6][1] > 0
    assert doc["series"][0]["verdict"]["readers"] == [SECOND_READER]
    bad = json.loads(json.dumps(doc))
    bad["series"][0]["lesions"]["components"][0]["class"] = "SDH"
    try:
        _validate(bad)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("a class outside IPH/EAH/oedema/IVH must not validate")
    path = write_findings_pdf(tmp_path / "bleed.pdf", summarize_study([stack]))
    text = _pdf_text(path)
    assert "Extra-axial haemorrhage" in text and f"{stack.lesions.volumes_ml['EAH']:.1f} mL" in text
    assert "slices 6\u20138" in text
    # The key image with outlines: EAH-coloured pixels on the rendered page (the viewer's colour too).
    assert _class_pixels(path, LESION_COLOURS[2]) > 20


def _pdf_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return " ".join(" ".join(p.get_textpage().get_text_range().split()) for p in pdf)
    finally:
        pdf.close()


def _class_pixels(path: Path, colour: tuple[int, int, int]) -> int:
    pdf = pdfium.PdfDocument(str(path))
    try:
        count = 0
        for page in pdf:
            img = np.asarray(page.render(scale=2).to_pil().convert("RGB")).astype(int)
            count += int((np.abs(img - np.array(colour)).sum(axis=2) < 40).sum())
        return count
    finally:
        pdf.close()
