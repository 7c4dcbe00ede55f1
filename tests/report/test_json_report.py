"""The JSON report: schema-valid, every slice's six probabilities, verdicts and skipped stacks."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from report_inputs import MODEL, analysis_for, head_volume

from inference.labels import LABELS
from viewer.core.atomic import ExportError
from viewer.report.findings import NotAnalysed, summarize_stack, summarize_study
from viewer.report.json_report import SCHEMA_VERSION, findings_to_json, load_schema, write_findings_json


def _validate(doc: dict) -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(doc)


def _study(tmp_name: str = "YAMADA^TARO=山田^太郎"):
    pos = head_volume(patient_name=tmp_name, series_uid="1.2.3.1")
    neg = head_volume(patient_name=tmp_name, series_uid="1.2.3.2", bleed=False)
    return summarize_study(
        [summarize_stack(pos, analysis_for(pos)), summarize_stack(neg, analysis_for(neg, bleed=False))],
        [
            NotAnalysed(reason="Modality MR: the model analyses CT only", series_uid="1.2.3.9", modality="MR"),
            NotAnalysed(reason="Not a DICOM file", path="/study/readme.txt"),
        ],
    ), pos


def test_written_json_is_schema_valid_with_every_slice(tmp_path: Path) -> None:
    study, pos = _study()
    out = write_findings_json(tmp_path / "findings.json", study)
    doc = json.loads(out.read_text(encoding="utf-8"))
    _validate(doc)
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["ichview_version"] and doc["generated_at"].endswith("+00:00")
    assert "山田^太郎" in out.read_text(encoding="utf-8")  # kept as characters, not \u escapes
    assert doc["studies"][0]["patient_name"] == "YAMADA^TARO=山田^太郎"
    assert doc["model"] == {
        "name": MODEL.name, "version": MODEL.version, "sha256": MODEL.sha256,
        "threshold": MODEL.threshold, "trained_on": MODEL.trained_on,
    }
    first, second = doc["series"]
    assert first["verdict"]["ich_suspected"] is True and second["verdict"]["ich_suspected"] is False
    assert first["verdict"]["max_any"] == pytest.approx(0.93) and first["verdict"]["threshold"] == 0.5
    assert first["verdict"]["max_any_index"] == 6 and first["verdict"]["max_any_slice_number"] == 7
    assert doc["verdict"]["ich_suspected"] is True and doc["verdict"]["text"] == "Hemorrhage suspected"
    slices = first["slices"]
    assert [s["index"] for s in slices] == list(range(pos.n_slices))
    assert [s["sop_instance_uid"] for s in slices] == list(pos.sop_instance_uids)
    assert [s["position_mm"] for s in slices] == pytest.approx(list(pos.positions_mm))
    probs = analysis_for(pos).probabilities
    for s in slices:
        assert list(s["probabilities"]) == list(LABELS)
        assert [s["probabilities"][k] for k in LABELS] == pytest.approx(probs[s["index"]].tolist(), abs=1e-6)
    iph = next(f for f in first["findings"] if f["label"] == "intraparenchymal")
    assert [(r["first_slice_number"], r["last_slice_number"]) for r in iph["ranges"]] == [(6, 8)]
    assert doc["skipped"] == [
        {"reason": "Modality MR: the model analyses CT only", "series_uid": "1.2.3.9", "stack_id": "1.2.3.9", "modality": "MR"},
        {"reason": "Not a DICOM file", "path": "/study/readme.txt"},
    ]


def test_schema_rejects_a_document_missing_slices_or_with_a_bad_probability() -> None:
    study, _ = _study()
    doc = findings_to_json(study)
    broken = json.loads(json.dumps(doc))
    del broken["series"][0]["slices"][0]["probabilities"]["subdural"]
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)
    broken = json.loads(json.dumps(doc))
    broken["series"][0]["slices"][0]["probabilities"]["any"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)
    broken = json.loads(json.dumps(doc))
    broken["skipped"].append({"reason": "no id"})
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)


def test_nothing_analysed_is_still_valid() -> None:
    study = summarize_study([], [NotAnalysed(reason="Modality MR", series_uid="1.2")], model=MODEL)
    doc = findings_to_json(study)
    _validate(doc)
    assert doc["verdict"] == {"ich_suspected": None, "text": "Not analysed", "threshold": 0.5}
    assert doc["series"] == []


def test_failed_json_export_leaves_the_folder_unchanged(tmp_path: Path) -> None:
    study, _ = _study()
    (tmp_path / "findings.json").write_text("previous\n")
    bad = summarize_study(study.stacks, study.not_analysed)
    bad.stacks[0].probabilities[2, 3] = float("nan")  # a broken analysis must not produce a file
    with pytest.raises(ExportError) as info:
        write_findings_json(tmp_path / "findings.json", bad)
    assert "findings.json" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["findings.json"]
    assert (tmp_path / "findings.json").read_text() == "previous\n"
