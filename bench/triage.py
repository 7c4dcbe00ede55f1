"""Triage throughput: studies per hour for one process, local worker processes and a local Ray cluster,
in one run, with each study's cost split into decode, first reader, second reader and reports.

    python bench/triage.py [--studies 4] [--slices 20] [--modes single local ray] [--device cpu|cuda]
                           [--workers N] [--second-models N]

Synthetic head CT studies (inference.synth, 512 x 512, 5 mm slices: a realistic matrix; `--slices`
sets the coverage, since the second reader's time grows with the head volume) are written to a temp
folder; each mode triages the same studies into its own output folder. Ratios are against the
single-process run of the same run. Prints the arithmetic for 25,000 studies from the measured
per-study figures.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ARCHIVE_STUDIES = 25_000


def _write_studies(root: Path, n: int, slices: int) -> None:
    from inference.synth.dicom_writer import SeriesSpec
    from inference.synth.study import make_study, write_study

    half = slices * 5.0 / 2
    for i in range(n):
        spec = SeriesSpec(patient_name=f"SYNTHETIC^BENCH{i}", patient_id=f"BENCH-{i}", uid_seed=f"bench-triage-{i}")
        study = make_study(100 + i, matrix=512, slice_thickness_mm=5.0, lesions=["subdural"] if i % 2 == 0 else None,
                           lesion_size="medium", z_range_mm=(10.0 - half, 10.0 + half), series=spec)
        write_study(study, root / f"study{i}")


def _run(mode: str, studies, out: Path, config, workers: int) -> tuple[float, list]:
    from viewer.analysis.batch import run_batch

    t0 = time.perf_counter()
    if mode == "ray":
        import ray

        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        try:
            for ev in run_batch(studies, out, config, ray_address="auto"):
                pass
        finally:
            ray.shutdown()
    else:
        for ev in run_batch(studies, out, config, workers=workers if mode == "local" else 1):
            pass
    return time.perf_counter() - t0, list(ev.entries)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", type=int, default=4)
    ap.add_argument("--slices", type=int, default=20)
    ap.add_argument("--modes", nargs="+", default=["single", "local", "ray"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--second-models", type=int, default=None)
    args = ap.parse_args(argv)

    from viewer.analysis.studies import find_studies
    from viewer.analysis.triage import ReaderConfig

    with tempfile.TemporaryDirectory(prefix="ichview-bench-triage-") as tmp:
        root = Path(tmp)
        _write_studies(root / "archive", args.studies, args.slices)
        studies, _ = find_studies([root / "archive"])
        print(f"{len(studies)} synthetic studies, {args.slices} x 5 mm slices of 512^2 each; device {args.device}; "
              f"{os.cpu_count()} cores", flush=True)
        rows = {}
        for mode in args.modes:
            threads = None if mode == "single" else max(1, (os.cpu_count() or 1) // args.workers)
            config = ReaderConfig(device=args.device, threads=threads, second_models=args.second_models)
            seconds, entries = _run(mode, studies, root / f"out-{mode}", config, args.workers)
            per = {k: sum(e.seconds.get(k, 0.0) for e in entries) / len(entries)
                   for k in ("decode", "first_reader", "second_reader", "reports")}
            rows[mode] = (seconds, per)
            print(f"{mode:7s}: {seconds:7.1f} s wall, {3600 * len(entries) / seconds:6.1f} studies/h; per study "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in per.items()), flush=True)
        if "single" in rows:
            base = rows["single"][0]
            for mode, (seconds, _) in rows.items():
                print(f"{mode:7s}: {base / seconds:.2f}x the single-process throughput")
        best_mode = min(rows, key=lambda m: rows[m][0])
        per_hour = 3600 * len(studies) / rows[best_mode][0]
        hours = ARCHIVE_STUDIES / per_hour
        print(f"25,000 studies at the best mode here ({best_mode}, {per_hour:.0f} studies/h): {hours:.0f} h on this machine; "
              f"on N such nodes about {hours:.0f}/N h (Ray scales per study: no shared state but the output folder)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
