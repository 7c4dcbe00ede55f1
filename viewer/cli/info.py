"""`ichview info PATH... [--json]`: list patients, studies, series and stacks, and skipped files.

Exit code 0 when at least one image series was found, 2 when none (with a one-line reason on
stderr). Imports neither torch nor Qt.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from viewer.core.geometry import plane_of
from viewer.core.loading import open_paths
from viewer.core.series import Stack, StudyTree
from viewer.cli.no_series import no_series_reason

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "info.schema.json"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


# ---------------------------------------------------------------- safe output
# C0 / C1 control characters (ESC starts ANSI sequences; CR / LF can forge lines), DEL, and the
# bidirectional overrides / isolates that reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def safe_text(value: object) -> str:
    """Text that is valid UTF-8: a file name's undecodable bytes (os.fsdecode's surrogateescape)
    become backslash escapes (b'\\xff' -> '\\xff'), as do any other lone surrogates."""
    text = str(value)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def term_text(value: object) -> str:
    """`safe_text` for a terminal: control characters shown as escapes (\\x1b, \\n), never sent."""
    return _CONTROL.sub(lambda m: repr(m.group(0))[1:-1] if m.group(0) not in "\u2028\u2029" else f"\\u{ord(m.group(0)):04x}", safe_text(value))


def json_safe(value: Any, where: str = "$", notes: list[str] | None = None) -> Any:
    """A copy of `value` that json.dumps(allow_nan=False) accepts and that is valid UTF-8: NaN and
    infinities become null (each noted in `notes` with where it was), text goes through safe_text."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        if notes is not None:
            notes.append(where)
        return None
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_text(k): json_safe(v, f"{where}.{k}", notes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, f"{where}[{i}]", notes) for i, v in enumerate(value)]
    return value


def _thickness_range(stack: Stack) -> tuple[float, float] | None:
    values = [s.slice_thickness_mm for s in stack.slices if s.slice_thickness_mm is not None]
    return (min(values), max(values)) if values else None


def stack_to_json(stack: Stack) -> dict[str, Any]:
    """One stack as the `series` entry of the info JSON (see viewer/schemas/info.schema.json)."""
    first = stack.slices[0]
    geometry = stack.geometry
    thickness = _thickness_range(stack)
    return {
        "series_uid": stack.series_uid,
        "stack_id": stack.stack_id,
        "study_uid": stack.study_uid,
        "patient_id": stack.patient_id,
        "modality": stack.modality,
        "description": stack.description,
        "series_number": first.series_number,
        "is_localizer": stack.is_localizer,
        "n_slices": stack.n_slices,
        "rows": first.rows,
        "columns": first.columns,
        "pixel_spacing_mm": list(first.pixel_spacing_mm) if first.pixel_spacing_mm else None,
        "slice_spacing_mm": {
            "median": _round(geometry.slice_spacing_median_mm),
            "min": _round(geometry.slice_spacing_min_mm),
            "max": _round(geometry.slice_spacing_max_mm),
        },
        "slice_thickness_mm": (
            {"min": _round(thickness[0]), "max": _round(thickness[1])} if thickness else None
        ),
        "tilt_deg": _round(geometry.tilt_deg, 2),
        "orientation": plane_of(first.orientation),
        "normal": [_round(v, 6) for v in geometry.normal],
        "transfer_syntax_uid": first.transfer_syntax_uid,
        "warnings": [w.to_json() for w in stack.warnings],
    }


def tree_to_json(tree: StudyTree) -> dict[str, Any]:
    """The whole info output as a JSON-ready dict (stable; `schema_version` bumps on change)."""
    patients = []
    for patient in tree.patients:
        studies = []
        for study in patient.studies:
            studies.append(
                {
                    "study_uid": study.study_uid,
                    "date": study.date,
                    "description": study.description,
                    "series": [
                        {
                            "series_uid": se.series_uid,
                            "series_number": se.series_number,
                            "modality": se.modality,
                            "description": se.description,
                            "stack_ids": [st.stack_id for st in se.stacks],
                        }
                        for se in study.series
                    ],
                }
            )
        patients.append({"patient_id": patient.patient_id, "name": patient.name, "studies": studies})
    return {
        "schema_version": SCHEMA_VERSION,
        "patients": patients,
        "series": [stack_to_json(stack) for stack in tree.stacks()],
        "skipped": [{"path": safe_text(s.path), "reason": s.reason} for s in tree.skipped],
    }


def dumps_json(tree: StudyTree) -> tuple[str, list[str]]:
    """(the info JSON text, where non-finite numbers were replaced by null)."""
    notes: list[str] = []
    data = json_safe(tree_to_json(tree), notes=notes)
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False), notes


def _mm(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _date(da: str) -> str:
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}" if len(da) == 8 and da.isdigit() else (da or "no date")


def _stack_line(stack: Stack) -> str:
    first = stack.slices[0]
    g = stack.geometry
    parts = [f"{stack.n_slices} slice{'s' if stack.n_slices != 1 else ''}"]
    parts.append("localizer" if stack.is_localizer else plane_of(first.orientation))
    parts.append(f"{first.columns}x{first.rows}")
    if first.pixel_spacing_mm:
        parts.append(f"pixel {first.pixel_spacing_mm[0]:.3f}x{first.pixel_spacing_mm[1]:.3f} mm")
    if g.slice_spacing_median_mm is not None:
        spacing = f"spacing {_mm(g.slice_spacing_median_mm)} mm"
        if (g.slice_spacing_max_mm or 0) - (g.slice_spacing_min_mm or 0) > 0.01:
            spacing += f" (min {_mm(g.slice_spacing_min_mm)}, max {_mm(g.slice_spacing_max_mm)})"
        parts.append(spacing)
    thickness = _thickness_range(stack)
    if thickness:
        low, high = thickness
        parts.append(f"thickness {low:g} mm" if abs(high - low) < 0.01 else f"thickness {low:g}-{high:g} mm")
    parts.append(f"tilt {g.tilt_deg:.1f}°")
    return f"Stack {stack.stack_id}: " + ", ".join(parts)


def write_text(tree: StudyTree, out: TextIO) -> None:
    """Human-readable tree: patients -> studies -> series -> stacks, then skipped files. Every
    line goes through term_text: header values and file names cannot send control characters."""

    class _Out:
        def write(self, text: str) -> None:
            # print() writes each line, then its end: only that end is a real newline.
            out.write(text if text == "\n" else term_text(text))

    _write_text(tree, _Out())  # type: ignore[arg-type]


def _write_text(tree: StudyTree, out: TextIO) -> None:
    for patient in tree.patients:
        print(f"Patient {patient.name or '(no name)'}  (ID {patient.patient_id or '-'})", file=out)
        for study in patient.studies:
            desc = f"  {study.description}" if study.description else ""
            print(f"  Study {_date(study.date)}{desc}  [{study.study_uid}]", file=out)
            for series in study.series:
                number = f" {series.series_number}" if series.series_number is not None else ""
                desc = f"  \"{series.description}\"" if series.description else ""
                print(f"    Series{number}  {series.modality or '?'}{desc}  [{series.series_uid}]", file=out)
                for stack in series.stacks:
                    print(f"      {_stack_line(stack)}", file=out)
                    for warning in stack.warnings:
                        print(f"        warning [{warning.code}] {warning.message}", file=out)
    if tree.skipped:
        n = len(tree.skipped)
        print(f"Skipped {n} file{'s' if n != 1 else ''}:", file=out)
        for skipped in tree.skipped:
            print(f"  {skipped.path}: {skipped.reason}", file=out)


def _quiet_pydicom_messages() -> None:
    """pydicom warns (and logs) about odd encodings while parsing; every file that cannot be used
    is already listed with its reason, and such messages may quote header values or paths."""
    warnings.filterwarnings("ignore", module=r"pydicom(\..*)?$")
    logging.getLogger("pydicom").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `ichview info`; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="ichview info",
        description="List patients, studies, series and stacks found in folders, DICOMDIRs or files, "
        "with slice geometry, warnings and every skipped file with its reason.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="folder (searched recursively), DICOMDIR or file")
    parser.add_argument("--json", action="store_true", help="print a stable JSON object instead of text")
    parser.add_argument("--workers", type=int, default=None, help="header-reading threads")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))

    _quiet_pydicom_messages()
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:  # a non-UTF-8 terminal gets escapes, never an encoding error
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
    tree = open_paths(args.paths, workers=args.workers)
    if args.json:
        text, notes = dumps_json(tree)
        _write_utf8(text + "\n")
        if notes:
            print(
                f"ichview info: warning: {len(notes)} value{'s' if len(notes) != 1 else ''} not a finite "
                f"number, written as null ({', '.join(notes[:5])}{', ...' if len(notes) > 5 else ''})",
                file=sys.stderr,
            )
    else:
        write_text(tree, sys.stdout)
    if not tree.stacks():
        print(term_text(no_series_reason(tree, [safe_text(p) for p in args.paths], command="info")), file=sys.stderr)
        return 2
    return 0


def _write_utf8(text: str) -> None:
    """JSON is UTF-8 whatever the locale says."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    buffer.write(text.encode("utf-8"))
    buffer.flush()


if __name__ == "__main__":
    sys.exit(main())
