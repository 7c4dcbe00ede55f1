"""Second reader (BLAST-CT) speed and memory: ours against the blast-ct 2.1.0 package's pipeline.

    .venv/bin/python bench/second_read.py                      # CPU, 2 threads, everything
    .venv/bin/python bench/second_read.py --skip-reference     # ours only (the package takes 5+ min)
    .venv/bin/python bench/second_read.py --device cuda --models 1 12

Studies: the real GE scan (`../shared/data/real/ge_head_ct_tilted`, 28 slices, 512x512), and two
synthetic studies from `inference.synth.study.make_study` (512x512, a random bleed): 40 x 5 mm and
300 x 0.625 mm (cached as .npy under the temp folder). Each configuration runs in its own process
so that its peak RSS (`ru_maxrss`) is its own; a run's time is `SecondReader.segment` (resampling,
tiles, mapping back and measuring included; weight loading reported apart). The reference is
`blast_ct.inference.run_inference` with the original pickles on a NIfTI written from the same
Volume (slice frame; time includes its NIfTI reading and writing), member 1 only: its ensemble
reloads every member for every batch and takes minutes per member here. Ratios are against the
reference in the same run; nothing is asserted.

Goals (the brief): ours <= 0.3x the reference; with the CPU default a 40 x 5 mm study <= 90 s and
300 x 0.625 mm <= 4 min; peak memory <= 2.5 GB.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CACHE = Path(tempfile.gettempdir()) / "ichview-bench-second-read"
REAL = (REPO / ".." / "shared" / "data" / "real").resolve()
PICKLES = (REPO / ".." / "shared" / "models" / "blast-ct-v1").resolve()
STUDIES = {"ge_real": None, "synth_40x5": (40, 5.0), "synth_300x0.625": (300, 0.625)}


def load_study(name: str):  # noqa: ANN201
    """The Volume of a named study (real DICOM, or a cached synthetic one)."""
    from viewer.core.volume import StudyMetadata, Volume

    if name == "ge_real":
        from viewer.core.loading import load_stack, open_paths

        return load_stack(max(open_paths([REAL / "ge_head_ct_tilted"]).stacks(), key=lambda s: s.n_slices))
    n, step = STUDIES[name]
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.npz"
    if not path.is_file():
        from inference.synth.study import make_study

        z_lo = -80.0
        study = make_study(3, slice_thickness_mm=step, lesions="random", z_range_mm=(z_lo, z_lo + step * (n - 1) + 1e-3))
        col, row = np.array(study.iop[:3]), np.array(study.iop[3:])
        normal = np.cross(col, row)
        np.savez(path, hu=study.hu[:n], spacing=np.array(study.spacing_mm),
                 positions=np.array([p @ normal for p in study.positions_mm[:n]]),
                 direction=np.stack([col, row, normal], axis=1), origin=np.array(study.positions_mm[0]))
    d = np.load(path)
    k = d["hu"].shape[0]
    return Volume(
        hu=d["hu"], spacing_mm=tuple(float(v) for v in d["spacing"]), origin_mm=tuple(float(v) for v in d["origin"]),
        direction=d["direction"], positions_mm=tuple(float(p) for p in d["positions"]),
        sop_instance_uids=tuple(f"2.25.{i}" for i in range(k)), instance_numbers=tuple(range(1, k + 1)),
        slice_thickness_mm=(step,) * k, source_paths=tuple(Path(f"{i}.dcm") for i in range(k)),
        series_uid=f"bench.{name}", stack_id=f"bench.{name}#0",
        metadata=StudyMetadata(modality="CT", convolution_kernel="H30s"),
    )


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def run_ours(study: str, models: int | None, device: str, threads: int) -> dict:
    """One configuration of our reader (in this process)."""
    import torch

    from inference.readers.blast_ct.segment import SecondReader

    volume = load_study(study)
    rss_before = _peak_rss_gb()
    t0 = time.perf_counter()
    reader = SecondReader.load(models=models, device=device, threads=threads)
    load_s = time.perf_counter() - t0
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = reader.segment(volume)
    out = {
        "study": study, "shape": list(volume.hu.shape), "members": len(reader.members), "device": device,
        "threads": threads, "load_s": round(load_s, 2), "seconds": round(result.seconds, 2),
        "peak_rss_gb": round(_peak_rss_gb(), 2), "rss_before_run_gb": round(rss_before, 2),
        "accepted": result.acceptance.accepted,
        "volumes_ml": {k: round(v, 2) for k, v in result.volumes_ml.items()},
        "blood_components_ge_1ml": [(c.label, round(c.volume_ml, 2)) for c in result.blood_components()],
    }
    if device == "cuda":
        out["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
    return out


def run_reference(study: str, threads: int) -> dict:
    """The package's run_inference with member 1's pickle (CPU)."""
    import torch

    torch.set_num_threads(threads)
    from blast_ct.inference import run_inference

    sys.path.insert(0, str(REPO / "tests" / "inference" / "readers"))
    from blast_ct_inputs import write_nifti

    volume = load_study(study)
    work = Path(tempfile.mkdtemp(prefix="bct-ref-"))
    t0 = time.perf_counter()
    write_nifti(volume, work / "image.nii.gz")
    (work / "test.csv").write_text(f"id,image\ncase,{work / 'image.nii.gz'}\n")
    run_inference(job_dir=str(work / "job"), test_csv_path=str(work / "test.csv"),
                  config_file=str(PICKLES / "config.json"), device="cpu",
                  saved_model_paths=str(PICKLES / "model_1.pt"), write_prob_maps=False, do_localisation=False,
                  save_atlas_and_brain_mask_native_space=False, num_reg_runs=1, overwrite=True, native_space=True)
    seconds = time.perf_counter() - t0
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    return {"study": study, "members": 1, "device": "cpu", "threads": threads, "seconds": round(seconds, 2),
            "peak_rss_gb": round(_peak_rss_gb(), 2), "peak_rss_loader_worker_gb": round(children, 2),
            "reference": True}


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{args}: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", type=int, nargs="*", default=None, help="member counts (default: 1 and the default)")
    parser.add_argument("--studies", nargs="*", default=list(STUDIES), choices=list(STUDIES))
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--one", nargs=3, metavar=("KIND", "STUDY", "MODELS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, study, models = args.one
        row = (run_reference(study, args.threads) if kind == "ref"
               else run_ours(study, None if models == "default" else int(models), args.device, args.threads))
        print(json.dumps(row))
        return 0
    counts = [str(m) for m in args.models] if args.models else ["1", "default"]
    common = ["--device", args.device, "--threads", str(args.threads)]
    rows = []
    ref_s = None
    if not args.skip_reference and "ge_real" in args.studies:
        row = _child(["--one", "ref", "ge_real", "1", *common])
        ref_s = row["seconds"]
        rows.append(row)
        print(f"reference  ge_real      1 member : {row['seconds']:7.1f} s  peak RSS {row['peak_rss_gb']:.2f} GB "
              f"(+ loader worker {row['peak_rss_loader_worker_gb']:.2f} GB)", flush=True)
    for study in args.studies:
        for m in counts:
            row = _child(["--one", "ours", study, m, *common])
            rows.append(row)
            ratio = f"  {row['seconds'] / ref_s:.2f}x reference" if ref_s and study == "ge_real" and row["members"] == 1 else ""
            gpu = f"  GPU peak {row['peak_gpu_gb']:.2f} GB" if "peak_gpu_gb" in row else ""
            print(f"ours       {study:15s} {row['members']:2d} members: {row['seconds']:7.1f} s (load {row['load_s']:.1f} s)"
                  f"  peak RSS {row['peak_rss_gb']:.2f} GB{gpu}{ratio}  blood >= 1 mL: {row['blood_components_ge_1ml']}",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
