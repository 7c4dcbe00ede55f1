"""The findings report as JSON: the PDF's content plus every slice's six probabilities.

The document validates against viewer/schemas/findings.schema.json (`SCHEMA_PATH`). Slice `index`
is 0-based in display order; `slice_number` is the 1-based number the PDF and the viewer show.
Holds patient data: never log it. Written atomically (viewer.core.atomic).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from inference.labels import LABELS
from inference.results import ModelInfo
from viewer.core.atomic import write_atomic
from viewer.report.findings import (
    KeySlice,
    LabelFinding,
    LesionFindings,
    NotAnalysed,
    SliceRange,
    StackFindings,
    StudyFindings,
)
from viewer.report.verdict import DEFAULT_RULE, SECOND_READER, VerdictRule
from viewer.core.volume import StudyMetadata

SCHEMA_VERSION = "1.1.0"  # 1.1: the second reader (lesions) and the combined verdict
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "findings.schema.json"


def _num(value: float, digits: int = 6) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"non-finite number {v!r} in findings")
    return round(v, digits)


def _range(r: SliceRange) -> dict[str, Any]:
    return {
        "first_index": r.first_index,
        "last_index": r.last_index,
        "first_slice_number": r.first_slice,
        "last_slice_number": r.last_slice,
        "first_position_mm": _num(r.first_position_mm, 3),
        "last_position_mm": _num(r.last_position_mm, 3),
        "max_probability": _num(r.max_probability),
    }


def _label(f: LabelFinding) -> dict[str, Any]:
    return {
        "label": f.label,
        "name": f.name,
        "max_probability": _num(f.max_probability),
        "max_index": f.max_index,
        "max_slice_number": f.max_slice,
        "above_threshold": f.above_threshold,
        "ranges": [_range(r) for r in f.ranges],
    }


def _key(k: KeySlice) -> dict[str, Any]:
    return {
        "index": k.index,
        "slice_number": k.slice_number,
        "position_mm": _num(k.position_mm, 3),
        "sop_instance_uid": k.sop_instance_uid,
        "probability_any": _num(k.probability_any),
    }


def _lesions(les: LesionFindings | None) -> dict[str, Any] | None:
    if les is None:
        return None
    return {
        "reader": SECOND_READER,
        "citation": les.citation,
        "analysed": les.analysed,
        "reason": les.reason,
        "volumes_ml": {c: _num(v, 3) for c, v in les.volumes_ml.items()},
        "blood_ml": _num(les.blood_ml, 3),
        "min_component_ml": _num(les.min_component_ml, 3),
        "components": [
            {
                "class": c.label,
                "volume_ml": _num(c.volume_ml, 3),
                "first_index": c.first_slice,
                "last_index": c.last_slice,
                "first_slice_number": c.first_slice + 1,
                "last_slice_number": c.last_slice + 1,
                "centroid_index": [_num(v, 2) for v in c.centroid_index],
            }
            for c in les.components
        ],
        "slice_area_mm2": [[_num(a, 2) for a in row] for row in les.slice_area_mm2.tolist()],
        "models": list(les.models),
        "weights_sha256": list(les.weights_sha256),
        "device": les.device,
        "seconds": _num(les.seconds, 3),
        "notes": list(les.notes),
    }


def _verdict_extra(s: StackFindings, rule: VerdictRule) -> dict[str, Any]:
    v = s.verdict
    if v is None:
        return {}
    return {
        "readers": list(v.by),
        "provisional": v.provisional,
        "first_reader_positive": v.first_reader_positive,
        "second_reader_positive": v.second_reader_positive,
        "disagreement": v.disagreement,
        "basis": v.basis,
        "rule": {
            "second_min_ml": _num(rule.second_min_ml),
            "first_alone_threshold": _num(rule.first_alone_threshold),
            "source": rule.source,
        },
    }


def _study(m: StudyMetadata) -> dict[str, Any]:
    return {
        "patient_name": m.patient_name,
        "patient_id": m.patient_id,
        "patient_birth_date": m.patient_birth_date,
        "patient_sex": m.patient_sex,
        "study_uid": m.study_uid,
        "study_date": m.study_date,
        "study_time": m.study_time,
        "study_description": m.study_description,
        "accession_number": m.accession_number,
        "institution": m.institution,
        "specific_character_set": m.specific_character_set,
    }


def _series(s: StackFindings, rule: VerdictRule = DEFAULT_RULE) -> dict[str, Any]:
    probs = s.probabilities
    slices = [
        {
            "index": i,
            "slice_number": i + 1,
            "sop_instance_uid": s.sop_instance_uids[i],
            "position_mm": _num(s.positions_mm[i], 3),
            "probabilities": {label: _num(probs[i, k]) for k, label in enumerate(LABELS)},
        }
        for i in range(s.n_slices)
    ]
    return {
        "series_uid": s.series_uid,
        "stack_id": s.stack_id,
        "patient_id": s.patient_id,
        "study_uid": s.metadata.study_uid,
        "series_number": s.metadata.series_number,
        "series_description": s.metadata.series_description,
        "modality": s.metadata.modality,
        "orientation": s.orientation,
        "n_slices": s.n_slices,
        "warnings": [w.to_json() for w in s.warnings],
        "device": s.device,
        "seconds": _num(s.seconds, 3),
        "verdict": {
            "ich_suspected": bool(s.ich_suspected),
            "text": s.verdict_text,
            "max_any": _num(s.max_any if s.max_any is not None else 0.0),
            "max_any_index": s.max_any_index,
            "max_any_slice_number": s.max_any_slice,
            "threshold": _num(s.threshold if s.threshold is not None else 0.0),
            **_verdict_extra(s, rule),
        },
        "lesions": _lesions(s.lesions),
        "findings": [_label(f) for f in ([s.any_finding] if s.any_finding else []) + list(s.subtypes)],
        "key_slices": [_key(k) for k in s.key_slices],
        "slices": slices,
    }


def _skipped(n: NotAnalysed) -> dict[str, Any]:
    out: dict[str, Any] = {"reason": n.reason}
    if n.series_uid:
        out.update(series_uid=n.series_uid, stack_id=n.stack_id or n.series_uid)
        if n.modality:
            out["modality"] = n.modality
        if n.description:
            out["series_description"] = n.description
        if n.n_slices:
            out["n_slices"] = n.n_slices
    else:
        out["path"] = n.path
    return out


def _model(m: ModelInfo | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "name": m.name,
        "version": m.version,
        "sha256": m.sha256,
        "threshold": _num(m.threshold),
        "trained_on": m.trained_on,
    }


def findings_to_json(findings: StudyFindings) -> dict[str, Any]:
    """The findings as a JSON-ready dict (schema: viewer/schemas/findings.schema.json)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": "ichview",
        "ichview_version": findings.ichview_version,
        "generated_at": findings.generated_at.isoformat(timespec="seconds"),
        "honest_use": findings.honest_use,
        "verdict": {
            "ich_suspected": findings.ich_suspected,
            "text": findings.verdict_text,
            "threshold": None if findings.threshold is None else _num(findings.threshold),
        },
        "labels": list(LABELS),
        "studies": [_study(m) for m in findings.studies],
        "series": [_series(s, findings.rule) for s in findings.stacks],
        "skipped": [_skipped(n) for n in findings.not_analysed],
        "model": _model(findings.model),
        "device": findings.device,
        "seconds": _num(findings.seconds, 3),
    }


def findings_json_bytes(findings: StudyFindings) -> bytes:
    """UTF-8 JSON text (non-ASCII names kept as characters), ending with a newline."""
    text = json.dumps(findings_to_json(findings), ensure_ascii=False, indent=2, allow_nan=False)
    return (text + "\n").encode("utf-8")


def write_findings_json(path: Path | str, findings: StudyFindings) -> Path:
    """Write the findings JSON to `path` atomically; raises ExportError (nothing left behind) on failure."""
    return write_atomic(path, lambda handle: handle.write(findings_json_bytes(findings)))


def load_schema() -> dict[str, Any]:
    """The JSON Schema the report follows."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
