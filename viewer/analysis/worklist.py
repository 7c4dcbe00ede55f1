"""The triage worklist: CSV, JSON and one self-contained HTML page, sorted by suspicion.

Rows are `TriageEntry`s (viewer.analysis.triage), sorted by `suspicion_order`. The HTML page
embeds each study's key-slice thumbnail (base64 PNG), so it can be mailed or opened offline; it
links each study's PDF and JSON by relative path. Every file holds patient data and says so; all are
written atomically, together.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path

from inference.readers.blast_ct.results import LESION_CLASSES
from viewer.analysis.triage import STATUS_FAILED, STATUS_NOT_ANALYSED, TriageEntry, suspicion_order
from viewer.core.atomic import write_files_atomic

__all__ = ["sorted_entries", "worklist_files", "write_worklist", "read_worklist", "WORKLIST_JSON"]

DASH = "\u2014"
WORKLIST_CSV = "worklist.csv"
WORKLIST_JSON = "worklist.json"
WORKLIST_HTML = "worklist.html"
NOTICE = (
    "ichview triage worklist. Research and triage aid only, not a diagnosis. Holds patient data: "
    "keep it where patient data may be kept."
)
CSV_COLUMNS = (
    "rank", "status", "verdict", "suspected", "max_any", "max_any_slice", "blood_ml",
    *(f"{c}_ml" for c in LESION_CLASSES), "patient_id", "patient_name", "study_date", "accession",
    "description", "study_uid", "not_analysed", "reason", "disagreement", "pdf", "json", "study_id",
)


def sorted_entries(entries: Sequence[TriageEntry]) -> list[TriageEntry]:
    """The worklist order (most suspicious first; deterministic)."""
    return sorted(entries, key=suspicion_order)


def _fmt(v: float | None, digits: int = 2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _csv(rows: list[TriageEntry]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for rank, e in enumerate(rows, start=1):
        w.writerow([
            rank, e.status, e.verdict, "" if e.suspected is None else int(e.suspected), _fmt(e.max_any, 4),
            e.max_any_slice or "", _fmt(e.blood_ml, 2), *(_fmt(e.volumes_ml.get(c), 2) for c in LESION_CLASSES),
            e.patient_id, e.patient_name, e.study_date, e.accession, e.description, e.study_uid,
            " | ".join(e.not_analysed), e.reason, e.disagreement, e.files.get("pdf", ""), e.files.get("json", ""),
            e.study_id,
        ])
    return buf.getvalue().encode("utf-8")


def _json(rows: list[TriageEntry]) -> bytes:
    doc = {"generator": "ichview triage", "notice": NOTICE, "studies": [e.to_json() for e in rows]}
    return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _thumb(out_dir: Path, e: TriageEntry) -> str:
    rel = e.files.get("thumbnail")
    if not rel:
        return '<div class="nothumb">no image</div>'
    try:
        data = (out_dir / rel).read_bytes()
    except OSError:
        return '<div class="nothumb">no image</div>'
    return f'<img alt="key slice" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _html(rows: list[TriageEntry], out_dir: Path) -> bytes:
    esc = html.escape
    body = []
    for rank, e in enumerate(rows, start=1):
        cls = "pos" if e.suspected else "neg" if e.suspected is False else "na"
        if e.status == STATUS_FAILED:
            cls = "fail"
        analysed = e.status not in (STATUS_FAILED, STATUS_NOT_ANALYSED)
        vols = ", ".join(f"{c} {e.volumes_ml.get(c, 0.0):.1f}" for c in LESION_CLASSES) if e.second_reader and analysed else "not read"
        blood = _fmt(e.blood_ml, 1) if e.second_reader and analysed else DASH
        why = "; ".join(e.not_analysed) + (f" Failed: {e.reason}" if e.reason else "") or DASH
        links = " ".join(f'<a href="{esc(e.files[k])}">{k.upper()}</a>' for k in ("pdf", "json") if k in e.files)
        body.append(
            f'<tr class="{cls}"><td>{rank}</td><td>{_thumb(out_dir, e)}</td>'
            f'<td class="verdict">{esc(e.verdict or e.status)}</td><td>{_fmt(e.max_any)}</td>'
            f"<td>{blood}</td><td>{esc(vols)}</td>"
            f"<td>{esc(e.patient_name)}<br><small>{esc(e.patient_id)}</small></td>"
            f"<td>{esc(e.study_date)}<br><small>{esc(e.accession)}</small></td><td>{esc(e.description)}</td>"
            f"<td><small>{esc(why)}</small></td><td>{links}</td></tr>"
        )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ichview triage worklist</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #1a1a1a; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
th {{ background: #eef1f4; position: sticky; top: 0; }}
tr.pos td.verdict {{ color: #b34700; font-weight: bold; }}
tr.neg td.verdict {{ color: #2b5d84; }}
tr.fail td.verdict {{ color: #707070; font-style: italic; }}
img {{ width: 120px; height: auto; display: block; }}
.nothumb {{ width: 120px; color: #707070; }}
.notice {{ background: #fdf0e3; border-left: 5px solid #b34700; padding: 6px 10px; }}
</style></head><body>
<h1>Head CT triage worklist</h1>
<p class="notice">{esc(NOTICE)} Sorted by suspicion: studies with a suspected hemorrhage first (largest
blood volume, then highest probability). Lesion segmentation: BLAST-CT (Monteiro et al., Lancet Digital
Health 2020).</p>
<p>{len(rows)} studies.</p>
<table id="worklist"><thead><tr><th>#</th><th>Key slice</th><th>Verdict</th><th>Max P(any)</th>
<th>Blood mL</th><th>Volumes mL (BLAST-CT)</th><th>Patient</th><th>Date / accession</th><th>Study</th>
<th>Not analysed</th><th>Reports</th></tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table></body></html>
"""
    return page.encode("utf-8")


def worklist_files(entries: Sequence[TriageEntry], out_dir: Path) -> list[tuple[Path, bytes]]:
    """The three worklist files for `entries`, in worklist order."""
    rows = sorted_entries(entries)
    return [
        (out_dir / WORKLIST_CSV, _csv(rows)),
        (out_dir / WORKLIST_JSON, _json(rows)),
        (out_dir / WORKLIST_HTML, _html(rows, out_dir)),
    ]


def write_worklist(entries: Sequence[TriageEntry], out_dir: Path) -> None:
    """Write worklist.csv, .json and .html into `out_dir`, all or nothing."""
    write_files_atomic(worklist_files(entries, out_dir))


def read_worklist(out_dir: Path) -> list[TriageEntry]:
    """The entries of a triage output folder's worklist.json, in worklist order."""
    doc = json.loads((Path(out_dir) / WORKLIST_JSON).read_text(encoding="utf-8"))
    return [TriageEntry.from_json(e) for e in doc.get("studies", [])]
