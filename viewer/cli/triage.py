"""`ichview triage PATH... --out DIR [--workers N | --ray auto|local|ADDRESS] [--second-reader on|off]`

Every study found under the paths (one study of one patient per entry, never merged) is read by both
readers; per study its findings PDF and JSON and a key-slice thumbnail go to DIR/studies/<id>/, and
the worklist, sorted by suspicion, to DIR/worklist.csv, .json and .html (a self-contained page).
A study already done with the same input and the same models is skipped, so a killed run resumes
where it stopped; a study that fails is listed with its reason and never stops the batch.

Exit codes: 0 worklist written (whatever the verdicts; failures are rows), 1 failure of the run
itself (models, output folder), 2 bad input (no DICOM image series, output inside a study folder),
130 interrupted (what was finished stays done).
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from viewer.cli.no_series import no_series_reason
from viewer.core.errors import IchviewError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ichview triage",
        description="Triage many head CT studies into a worklist sorted by suspicion (research and triage aid only, "
                    "not a diagnosis).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders (searched recursively), DICOMDIR or files")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created; never a study folder)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local worker processes (default: min(cores, free memory / 3 GB)); 1 runs in this process")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run on Ray: 'auto' (a running cluster), 'local' (start one here) or a cluster address")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: CUDA when present")
    p.add_argument("--second-reader", choices=("on", "off"), default="on", help="BLAST-CT after the slice classifier")
    p.add_argument("--second-models", type=int, metavar="N", help="BLAST-CT ensemble members (default by device)")
    p.add_argument("--weights", type=Path, metavar="FILE", help="first reader's model file (default: shipped)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def _progress_line(ev: object, stream) -> None:  # noqa: ANN001
    left = ev.seconds_left  # type: ignore[attr-defined]
    eta = f", about {left / 60:.0f} min left" if left is not None and left >= 60 else (
        f", about {left:.0f} s left" if left is not None else "")
    reused = f" ({ev.skipped_done} done before)" if ev.skipped_done else ""  # type: ignore[attr-defined]
    stream.write(f"\rstudies {ev.done}/{ev.total}{reused}, {ev.failed} failed{eta}   ")  # type: ignore[attr-defined]
    stream.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Run `ichview triage`; returns the exit code (module docstring)."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from viewer.analysis.batch import default_workers, run_batch
    from viewer.analysis.studies import find_studies
    from viewer.analysis.triage import ReaderConfig
    from viewer.analysis.worklist import WORKLIST_JSON, write_worklist

    out = args.out.resolve()
    for raw in args.paths:
        p = Path(raw).resolve()
        folder = p if p.is_dir() else p.parent
        if out == folder or folder in out.parents:
            print(f"ichview triage: {args.out}: inside the study folder {folder}; choose another folder", file=sys.stderr)
            return EXIT_BAD_INPUT
    try:
        if not args.quiet:
            print("Reading headers...", file=sys.stderr, flush=True)
        studies, skipped = find_studies(args.paths)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except IchviewError as exc:
        print(f"ichview triage: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not studies:
        from viewer.core.series import StudyTree

        print(no_series_reason(StudyTree((), tuple(skipped)), args.paths, command="triage"), file=sys.stderr)
        return EXIT_BAD_INPUT
    config = ReaderConfig(
        device=args.device, second_reader=args.second_reader == "on", second_models=args.second_models,
        weights=str(args.weights) if args.weights else None,
    )
    workers = args.workers or default_workers()
    if not args.quiet:
        where = f"Ray ({args.ray})" if args.ray else f"{workers} local worker{'s' if workers != 1 else ''}"
        print(f"{len(studies)} studies, {len(skipped)} files skipped by the scan; {where}", file=sys.stderr, flush=True)
    last = None
    t0 = time.perf_counter()
    try:
        for ev in run_batch(studies, out, config, workers=workers, ray_address=args.ray):
            last = ev
            if not args.quiet:
                _progress_line(ev, sys.stderr)
            write_worklist(ev.entries, out)  # the worklist is always current: a killed run leaves a valid one
    except KeyboardInterrupt:
        print("\nichview triage: interrupted; finished studies are kept and a rerun resumes", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (IchviewError, RuntimeError, OSError, ValueError) as exc:
        print(f"\nichview triage: {exc}", file=sys.stderr)
        return EXIT_FAILED
    assert last is not None
    if not args.quiet:
        sys.stderr.write("\n")
    n_pos = sum(1 for e in last.entries if e.suspected)
    print(f"{last.total} studies: {n_pos} suspected, {last.failed} failed, {last.skipped_done} reused from an earlier run "
          f"({time.perf_counter() - t0:.0f} s). Worklist: {out / WORKLIST_JSON} (.csv, .html)")
    print("Research and triage aid only, not a diagnosis.")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
