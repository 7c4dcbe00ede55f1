"""Exporting the AI findings: file names and targets, the study-folder guard, and the worker side
that renders every file in memory and writes them atomically (PDF and/or JSON)."""
from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from viewer.core.series import StudyTree
from viewer.report.findings import StudyFindings

EXPORT_FILTERS = ("PDF report and JSON (*.pdf *.json)", "PDF report (*.pdf)", "JSON findings (*.json)")


def export_problem(tree: StudyTree | None, targets: Sequence[Path]) -> str:
    """Why the export may not write `targets` ('' when it may): never into a study folder."""
    study_dirs: set[Path] = set()
    if tree is not None:
        for stack in tree.stacks():
            for sl in stack.slices[:1]:
                study_dirs.add(Path(sl.path).resolve().parent)
    for target in targets:
        resolved = target.resolve()
        for folder in study_dirs:
            if resolved == folder or folder in resolved.parents:
                return "it lies inside the study folder; ichview never writes into a study folder (choose another folder)"
    return ""


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(text: str, fallback: str) -> str:
    """A file-name part: anything but letters, digits, '.', '_' and '-' becomes '_' (as the CLI's)."""
    cleaned = _UNSAFE.sub("_", text).strip("._")
    return cleaned[:64] or fallback


def suggested_name(study: StudyFindings) -> str:
    """The file name the save dialog suggests: the study's, as `ichview analyze` names a report
    (viewer.report.study_split.DEFAULT_NAME: patient ID, study date, accession; sanitised)."""
    from viewer.report.study_split import DEFAULT_NAME

    meta = study.studies[0] if study.studies else None
    fields = {
        "patient_id": _safe(meta.patient_id if meta else "", "no-id"),
        "study_date": _safe(meta.study_date if meta else "", "no-date"),
        "accession": _safe(meta.accession_number if meta else "", "no-accession"),
        "study_uid": _safe(meta.study_uid if meta else "", "no-uid"),
    }
    return DEFAULT_NAME.format(**fields) + ".pdf"


def export_targets(path: Path, chosen_filter: str) -> list[Path]:
    """The files to write for a chosen name and filter: PDF, JSON or both (same stem)."""
    suffix = path.suffix.lower()
    if chosen_filter == EXPORT_FILTERS[2] or (suffix == ".json" and chosen_filter != EXPORT_FILTERS[0]):
        return [path.with_suffix(".json") if suffix != ".json" else path]
    pdf = path.with_suffix(".pdf") if suffix not in (".pdf",) else path
    if chosen_filter == EXPORT_FILTERS[1]:
        return [pdf]
    return [pdf, pdf.with_suffix(".json")]


def export_error(path: Path, reason: str) -> Exception:
    """The error the one error handler shows for a refused export target."""
    from viewer.core.atomic import ExportError

    return ExportError(path, reason)


def write_export(study: StudyFindings, targets: Sequence[Path]) -> Iterator[list[str]]:
    """Worker side: render every file in memory, then write each atomically; on a failure remove
    the files this export already wrote, so nothing partial is left behind."""
    from viewer.core.atomic import write_files_atomic
    from viewer.report.json_report import findings_json_bytes
    from viewer.report.pdf import build_findings_pdf

    rendered: list[tuple[Path, bytes]] = []
    for target in targets:
        if target.suffix.lower() == ".json":
            rendered.append((target, findings_json_bytes(study)))
        else:
            buf = io.BytesIO()
            build_findings_pdf(study, buf)
            rendered.append((target, buf.getvalue()))
    write_files_atomic(rendered)
    yield [str(t) for t in targets]
