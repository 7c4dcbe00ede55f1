"""One report per study of one patient: split findings by (patient, study) and name their files.

A report never covers more than one study of one patient (its header says whose it is, its verdict
is that study's). `split_by_study` groups analysed and refused stacks by (PatientID, StudyInstanceUID);
files the scan skipped belong to no study and are listed only when there is a single study.
`report_path` turns the user's output argument into one file per study: a file name (one study
only), an existing folder (default name), or a pattern with `{patient_id}`, `{study_date}`,
`{accession}`, `{study_uid}` fields.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from viewer.core.volume import StudyMetadata
from viewer.report.findings import NotAnalysed, StackFindings, StudyFindings

__all__ = ["StudyKey", "split_by_study", "report_path", "is_pattern", "PATTERN_FIELDS", "DEFAULT_NAME"]

StudyKey = tuple[str, str]  # (patient ID, study instance UID)
PATTERN_FIELDS = ("patient_id", "study_date", "accession", "study_uid")
DEFAULT_NAME = "ichview_{patient_id}_{study_date}_{accession}"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def split_by_study(
    study: StudyFindings,
    refused_keys: dict[str, StudyKey] | None = None,
) -> list[StudyFindings]:
    """The findings of each (patient, study), in first-seen order. `refused_keys` maps a refused
    stack's stack_id to its (patient, study) key (NotAnalysed carries no patient data)."""
    refused_keys = refused_keys or {}
    order: list[StudyKey] = []
    stacks: dict[StudyKey, list[StackFindings]] = {}
    metas: dict[StudyKey, StudyMetadata] = {}
    for s in study.stacks:
        key = (s.metadata.patient_id, s.metadata.study_uid)
        if key not in stacks:
            order.append(key)
            stacks[key] = []
            metas[key] = s.metadata
        stacks[key].append(s)
    refused: dict[StudyKey, list[NotAnalysed]] = {}
    loose: list[NotAnalysed] = []
    for n in study.not_analysed:
        key = refused_keys.get(n.stack_id or n.series_uid) if n.series_uid else None
        if key is None:
            loose.append(n)
            continue
        if key not in stacks:
            order.append(key)
            stacks[key] = []
        refused.setdefault(key, []).append(n)
    for meta in study.studies:
        metas.setdefault((meta.patient_id, meta.study_uid), meta)
    if not order:
        return [study]
    out = []
    for key in order:
        extra = loose if len(order) == 1 else []
        meta = metas.get(key, StudyMetadata(patient_id=key[0], study_uid=key[1]))
        out.append(replace(
            study,
            stacks=tuple(stacks[key]),
            not_analysed=tuple(refused.get(key, [])) + tuple(extra),
            studies=(meta,),
        ))
    return out


def is_pattern(arg: Path) -> bool:
    """Whether an output argument is a name pattern (holds a `{field}`)."""
    return "{" in str(arg)


def _safe(text: str, fallback: str) -> str:
    cleaned = _UNSAFE.sub("_", text).strip("._")
    return cleaned[:64] or fallback


def report_path(arg: Path, study: StudyFindings, suffix: str) -> Path:
    """Where the report of one study goes for the user's output argument `arg` (see module docstring)."""
    meta = study.studies[0] if study.studies else StudyMetadata()
    fields = {
        "patient_id": _safe(meta.patient_id, "no-id"),
        "study_date": _safe(meta.study_date, "no-date"),
        "accession": _safe(meta.accession_number, "no-accession"),
        "study_uid": _safe(meta.study_uid, "no-uid"),
    }
    if is_pattern(arg):
        name = str(arg).format(**fields)
        path = Path(name)
        return path if path.suffix else path.with_suffix(suffix)
    if arg.is_dir():
        tag = hashlib.sha256(meta.study_uid.encode()).hexdigest()[:6]
        return arg / (DEFAULT_NAME.format(**fields) + f"_{tag}{suffix}")
    return arg


def check_pattern(arg: Path) -> str:
    """'' when a pattern names only known fields, else the problem in words."""
    try:
        str(arg).format(**{f: "x" for f in PATTERN_FIELDS})
    except (KeyError, IndexError, ValueError) as exc:
        return f"{arg}: unknown or malformed field {exc} (use {', '.join('{' + f + '}' for f in PATTERN_FIELDS)})"
    return ""


def unique_paths(paths: Sequence[Path]) -> bool:
    """True when no two studies would write the same file."""
    resolved = [p.resolve() for p in paths]
    return len(set(resolved)) == len(resolved)
