"""`ichview analyze PATH... --pdf OUT.pdf --json OUT.json [--device cpu|cuda] [--weights FILE] [--threads N]
[--second-reader on|off] [--second-models N]`

Headless (no display, no Qt): every image stack found in PATH (what `ichview info` takes: folders,
DICOMDIR files, single files) is either analysed by the AI or listed as not analysed with the
reason (not CT, localizer, refused by the engine's acceptance check, pixels that cannot be decoded).
Each analysed stack is read by both readers: the fast slice classifier first, then the lesion
segmenter BLAST-CT (minutes per study on a CPU; `--second-reader off` skips it and the verdict is
then the first reader's alone, marked provisional). The verdict combines both (viewer.report.verdict).
Files the scan skipped are listed too. A progress bar goes to stderr; a short summary without
patient data goes to stdout. Both reports are rendered in memory, then written atomically.

Exit codes:
  0  reports written; at least one stack was analysed (whatever the verdict)
  1  failure while analysing or writing (model file missing or bad, device unavailable, export
     failed); no partial file is left behind
  2  bad input: wrong arguments, no DICOM image series in PATH, an output inside a study folder
     or in a folder that does not exist
  3  reports written, but no stack could be analysed (each is listed with its reason)
  130 interrupted (Ctrl-C or SIGTERM); nothing written, existing files untouched
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from viewer.analysis.pipeline import analyze_tree, study_keys, work_slices
from viewer.cli.no_series import no_series_reason
from viewer.core.errors import IchviewError
from viewer.report.findings import StudyFindings


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NOTHING_ANALYSED = 3
EXIT_INTERRUPTED = 130


class TerminalProgress:
    """A one-line progress bar on a terminal; on a pipe, a line at each stack and every 25 %."""

    def __init__(self, total: int, stream: TextIO, *, width: int = 28, enabled: bool = True) -> None:
        self.total = max(int(total), 1)
        self.done = 0
        self.stream = stream
        self.width = width
        self.enabled = enabled
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self._last_quarter = -1
        self._last_draw = 0.0
        self.label = ""

    def set_label(self, label: str) -> None:
        self.label = label
        if self.enabled and not self.tty:
            self._line(f"{label}")
        self._draw(force=True)

    def advance(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        self._draw()

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        frac = self.done / self.total
        if self.tty:
            now = time.perf_counter()
            if not force and now - self._last_draw < 0.05 and self.done < self.total:
                return
            self._last_draw = now
            filled = int(round(frac * self.width))
            bar = "#" * filled + "." * (self.width - filled)
            rate = self.done / max(now - self.t0, 1e-6)
            text = f"\r[{bar}] {frac * 100:5.1f}% {self.done}/{self.total} slices {rate:5.1f}/s  {self.label}"
            self.stream.write(text[:160].ljust(100))
            self.stream.flush()
        else:
            quarter = int(frac * 4)
            if quarter > self._last_quarter:
                self._last_quarter = quarter
                self._line(f"progress {frac * 100:.0f}% ({self.done}/{self.total} slices)")

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ichview analyze",
        description=(
            "Run the hemorrhage AI on every CT image stack in PATH (no display needed) and write a findings "
            "PDF and/or JSON. Research and triage aid only: trained on synthetic data, not clinically "
            "validated, not a diagnosis."
        ),
        epilog=(
            "exit codes: 0 reports written and at least one stack analysed; 1 failure while analysing or "
            "writing (nothing partial left behind); 2 bad input (arguments, no DICOM image series, output "
            "inside a study folder); 3 reports written but no stack could be analysed; 130 interrupted."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="folder (searched recursively), DICOMDIR or file")
    parser.add_argument(
        "--pdf", type=Path, metavar="OUT",
        help="write the findings report as PDF, one per study of one patient: a file name (PATH holds one "
             "study), an existing folder (ichview_<patient_id>_<study_date>_<accession>_<uid tag>.pdf), or a "
             "pattern with {patient_id}, {study_date}, {accession}, {study_uid} (e.g. 'out/{patient_id}_{study_date}.pdf')",
    )
    parser.add_argument(
        "--json", type=Path, metavar="OUT",
        help="write the findings as JSON (every slice), one per study: a file, a folder or a pattern as for --pdf",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: CUDA when present, else CPU")
    parser.add_argument("--weights", type=Path, metavar="FILE", help="model file (default: the shipped model)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads for the model")
    parser.add_argument("--no-cams", action="store_true", help="skip heat maps (faster; key images without overlay)")
    parser.add_argument(
        "--second-reader", choices=("on", "off"), default="on",
        help="the lesion segmenter BLAST-CT after the slice classifier (default on; off: provisional verdict)",
    )
    parser.add_argument(
        "--second-models", type=int, metavar="N",
        help="BLAST-CT ensemble members to run (default: 1 on a CPU, all shipped on CUDA)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--sr", type=Path, metavar="DIR", help="also write a DICOM SR and key images per study into DIR")
    parser.add_argument("--send", metavar="NODE", help="C-STORE the DICOM SR and key images to this PACS node (PACS settings)")
    return parser


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
    except ValueError:
        return False
    return True


def _holds_dicom(folder: Path, *, limit: int = 500) -> bool:
    """Whether `folder` itself (not below) holds a DICOM file: a DICOMDIR, or a file with the Part-10
    'DICM' marker among its first `limit` entries (bounded: never reads more than 132 bytes a file)."""
    try:
        entries = os.scandir(folder)
    except OSError:
        return False
    with entries:
        for n, entry in enumerate(entries):
            if n >= limit:
                break
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                if entry.name.upper() == "DICOMDIR":
                    return True
                if entry.stat().st_size < 132:
                    continue
                with open(entry.path, "rb") as fh:
                    fh.seek(128)
                    if fh.read(4) == b"DICM":
                        return True
            except OSError:
                continue
    return False


def _check_outputs(args: argparse.Namespace) -> str:
    """'' when the outputs are acceptable, else the reason (exit 2)."""
    outputs = [p for p in (args.pdf, args.json) if p is not None]
    if args.threads is not None and args.threads < 1:
        return "--threads must be at least 1"
    if args.second_models is not None and args.second_models < 1:
        return "--second-models must be at least 1"
    if args.pdf is not None and args.json is not None and args.pdf.resolve() == args.json.resolve():
        return "--pdf and --json name the same file"
    study_dirs = []
    for raw in args.paths:
        p = Path(raw).resolve()
        study_dirs.append(p if p.is_dir() else p.parent)
    for out in outputs:
        from viewer.report.study_split import check_pattern, is_pattern

        if is_pattern(out):
            problem = check_pattern(out)
            if problem:
                return problem
            target = Path(str(out).split("{", 1)[0] + "x").resolve()
        else:
            target = out.resolve()
        if not is_pattern(out) and target.is_dir():
            target = target / "x"
        if not target.parent.is_dir():
            return f"{out}: the folder {target.parent} does not exist (create it first)"
        for study in study_dirs:
            if _inside(target, study):
                return f"{out}: inside the study folder {study}; ichview never writes into a study folder (choose another folder)"
        if _holds_dicom(target.parent):
            return (f"{out}: the folder {target.parent} holds DICOM files of a study; ichview never writes reports "
                    "beside patient images (choose another folder)")
    return ""


def _summary(study: StudyFindings, out: TextIO, *, several: bool = False) -> None:
    """Verdicts without patient data (a study is named by its position, never by patient)."""
    for s in study.stacks:
        number = s.metadata.series_number
        label = f"series {number}" if number is not None else "series"
        where = f"max P(any) {s.max_any:.2f} on slice {s.max_any_slice}/{s.n_slices}"
        print(f"{s.stack_id} ({label}): {s.verdict_text} ({where}, threshold {s.threshold:.2f})", file=out)
        if s.lesions is not None and s.lesions.analysed:
            vols = ", ".join(f"{c} {v:.1f} mL" for c, v in s.lesions.volumes_ml.items())
            print(f"  BLAST-CT ({len(s.lesions.models)} model{'s' if len(s.lesions.models) != 1 else ''}, "
                  f"{s.lesions.seconds:.0f} s): {vols}", file=out)
        elif s.lesions is not None:
            print(f"  BLAST-CT: not read: {s.lesions.reason}", file=out)
        if s.verdict is not None:
            print(f"  verdict: {s.verdict.basis}" + (" (provisional: one reader)" if s.verdict.provisional else ""), file=out)
            if s.verdict.disagreement:
                print(f"  readers disagree: {s.verdict.disagreement}", file=out)
    for n in study.not_analysed:
        if n.series_uid:
            print(f"{n.stack_id or n.series_uid}: not analysed: {n.reason}", file=out)
    n_files = sum(1 for n in study.not_analysed if not n.series_uid)
    if n_files:
        print(f"{n_files} file{'s' if n_files != 1 else ''} skipped by the scan (listed in the reports)", file=out)
    print(f"Study: {study.verdict_text}", file=out)
    if several:
        print("", file=out)
    print("Research and triage aid only, not a diagnosis and not clinically validated. Lesion segmentation: "
          "BLAST-CT, Monteiro et al., Lancet Digital Health 2020.", file=out)


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run `ichview analyze`; returns the exit code (see the module docstring). SIGTERM is handled as
    Ctrl-C: the run stops, and nothing is left half-written (temp files removed, targets restored)."""
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    for stream in (sys.stdout, sys.stderr):  # an ASCII-only terminal must not crash on an em dash
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    problem = _check_outputs(args)
    if problem:
        print(f"ichview analyze: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        from viewer.core.loading import open_paths

        if not args.quiet:
            print("Reading headers...", file=sys.stderr, flush=True)
        tree = open_paths(args.paths)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except IchviewError as exc:
        print(f"ichview analyze: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not tree.stacks():
        print(no_series_reason(tree, args.paths, command="analyze"), file=sys.stderr)
        return EXIT_BAD_INPUT

    try:
        from inference.predict import Engine

        from viewer.report.verdict import VerdictRule

        engine = Engine.load(args.weights, device=args.device, threads=args.threads)
        rule = VerdictRule.from_metadata(engine.metadata.extra)
        if not args.quiet:
            print(f"Model {engine.info.name} {engine.info.version} on {engine.device}", file=sys.stderr, flush=True)
        second = None
        if args.second_reader == "on":
            from inference.readers.blast_ct.segment import SecondReader

            second = SecondReader.load(args.second_models, device=args.device, threads=args.threads)
            if not args.quiet:
                print(f"Second reader BLAST-CT, {len(second.members)} model(s) on {second.device}", file=sys.stderr, flush=True)
        progress = TerminalProgress(work_slices(tree, second is not None), sys.stderr, enabled=not args.quiet)
        try:
            study = analyze_tree(tree, engine, cams=not args.no_cams, progress=progress, second=second, rule=rule)
        finally:
            progress.close()
        from viewer.report.study_split import is_pattern, report_path, split_by_study, unique_paths

        per_study = split_by_study(study, study_keys(tree))
        for out in (args.pdf, args.json):
            if out is not None and len(per_study) > 1 and not (is_pattern(out) or out.is_dir()):
                print(
                    f"ichview analyze: {out}: PATH holds {len(per_study)} studies and a report covers one study of one "
                    "patient; give a folder or a pattern with {patient_id}, {study_date}, {accession} or {study_uid}",
                    file=sys.stderr,
                )
                return EXIT_BAD_INPUT
        outputs: list[tuple[Path, bytes]] = []
        for one in per_study:
            if args.json is not None:
                from viewer.report.json_report import findings_json_bytes

                outputs.append((report_path(args.json, one, ".json"), findings_json_bytes(one)))
            if args.pdf is not None:
                from viewer.report.pdf import build_findings_pdf

                buf = io.BytesIO()
                build_findings_pdf(one, buf)
                outputs.append((report_path(args.pdf, one, ".pdf"), buf.getvalue()))
        if not unique_paths([p for p, _ in outputs]):
            print("ichview analyze: two studies would write the same file: add {study_uid} to the pattern", file=sys.stderr)
            return EXIT_BAD_INPUT
        from viewer.core.atomic import write_files_atomic

        write_files_atomic(outputs)
        if args.sr is not None or args.send is not None:  # DICOM results (viewer/cli/dicom_out.py)
            from viewer.cli.dicom_out import sr_and_send

            for line in sr_and_send(per_study, tree, sr_dir=args.sr, send=args.send):
                print(line, file=sys.stderr)
    except KeyboardInterrupt:
        print("ichview analyze: interrupted; nothing written (files already there are as they were)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (IchviewError, RuntimeError, ValueError, OSError) as exc:
        print(f"ichview analyze: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path, _ in outputs:
        print(f"Wrote {path}", file=sys.stderr)
    for one in per_study:
        _summary(one, sys.stdout, several=len(per_study) > 1)
    return EXIT_OK if study.stacks else EXIT_NOTHING_ANALYSED


if __name__ == "__main__":
    sys.exit(main())
