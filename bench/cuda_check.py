"""CUDA against the CPU on one real scan: both readers' outputs compared, and their times.

    python bench/cuda_check.py [FOLDER | VOLUME.pkl.gz] [--members 1 12]

FOLDER is a DICOM series (default ../shared/data/real/ge_head_ct_tilted); a `.pkl.gz` is a Volume
saved by `--save` (for a machine that has no copy of the DICOM files). Prints, for the first
reader, the largest difference of any probability between CPU and CUDA and the times; for the
second reader, the voxels whose label differs and the per-class volumes on each device, and the
times for each ensemble size asked for. Needs a CUDA build of torch and a GPU.
"""
from __future__ import annotations

import argparse
import gzip
import pickle
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load_volume(source: Path):
    """A Volume from a DICOM folder, or from a gzip pickle this script wrote (our own file only)."""
    if source.suffix == ".gz":
        with gzip.open(source, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - a file this script wrote, never user input
    from viewer.core.loading import load_stack, open_paths

    return load_stack(max(open_paths([source]).stacks(), key=lambda s: s.n_slices))


def _timed(fn):
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source", nargs="?", type=Path, default=REPO.parent / "shared" / "data" / "real" / "ge_head_ct_tilted")
    ap.add_argument("--members", type=int, nargs="+", default=[1, 12])
    ap.add_argument("--cpu-threads", type=int, default=None)
    ap.add_argument("--save", type=Path, help="write the loaded Volume as a .pkl.gz and stop")
    ap.add_argument("--skip-cpu-second", action="store_true", help="do not run the second reader on the CPU")
    args = ap.parse_args(argv)
    volume = load_volume(args.source)
    if args.save:
        with gzip.open(args.save, "wb", compresslevel=6) as fh:
            pickle.dump(volume, fh, protocol=pickle.HIGHEST_PROTOCOL)
        print(f"saved {volume.hu.shape} to {args.save} ({args.save.stat().st_size / 1e6:.1f} MB)")
        return 0

    import torch

    from inference.predict import Engine
    from inference.readers.blast_ct.results import LESION_CLASSES
    from inference.readers.blast_ct.segment import SecondReader

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to compare")
        return 2
    print(f"volume {volume.hu.shape}, spacing {volume.spacing_mm}; torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    cpu = Engine.load(device="cpu", threads=args.cpu_threads)
    gpu = Engine.load(device="cuda")
    gpu.analyze(volume)  # warm-up (cuDNN autotune)
    a_cpu, t_cpu = _timed(lambda: cpu.analyze(volume))
    a_gpu, t_gpu = _timed(lambda: gpu.analyze(volume))
    diff = float(np.abs(a_cpu.probabilities - a_gpu.probabilities).max())
    print(f"first reader: max |P_cpu - P_cuda| {diff:.4f} (CUDA autocast bf16); verdict-relevant max P(any) "
          f"{a_cpu.probabilities[:, 0].max():.3f} vs {a_gpu.probabilities[:, 0].max():.3f}; "
          f"{t_cpu:.2f} s CPU vs {t_gpu:.2f} s CUDA ({volume.n_slices} slices, heatmaps included)")
    for n in args.members:
        reader = SecondReader.load(n, device="cuda")
        reader.segment(volume)  # warm-up
        r_gpu, t_g = _timed(lambda: reader.segment(volume))
        peak = torch.cuda.max_memory_allocated() / 2**30
        line = f"second reader, {n} member(s): CUDA {t_g:.1f} s (peak GPU memory {peak:.1f} GiB), volumes " + \
            ", ".join(f"{c} {r_gpu.volumes_ml[c]:.2f}" for c in LESION_CLASSES)
        if not args.skip_cpu_second and n == min(args.members):
            r_cpu, t_c = _timed(lambda: SecondReader.load(n, device="cpu", threads=args.cpu_threads).segment(volume))
            changed = int((r_cpu.labels != r_gpu.labels).sum())
            line += (f"; CPU {t_c:.1f} s ({torch.get_num_threads()} threads), labels differing in {changed} of "
                     f"{r_cpu.labels.size} voxels, CPU volumes " + ", ".join(f"{c} {r_cpu.volumes_ml[c]:.2f}" for c in LESION_CLASSES))
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
