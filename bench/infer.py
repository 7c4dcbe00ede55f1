"""Inference speed: slices/s with and without Grad-CAM on a 40-slice 5 mm and a 300-slice 0.625 mm study.

    .venv/bin/python bench/infer.py                 # CPU, 2 threads (+ CUDA when present)
    .venv/bin/python bench/infer.py --threads 1 --batch-sizes 4 8 16 --compile

Uses the shipped weights when present (resources/model/), else the default architecture with
random weights (speed does not depend on the weight values). Warm-up (first batch: allocator,
oneDNN primitive creation, CUDA context) and torch.compile time are reported separately and
excluded from the throughput figures, which are the median of `--repeats` timed runs. Ratios are
printed against the probabilities-only run of the same study in the same process.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from inference.acceptance import check_volume  # noqa: E402
from inference.model import build_model, count_parameters  # noqa: E402
from inference.predict import Engine  # noqa: E402
from inference.preprocess import make_inputs  # noqa: E402
from inference.weights import ModelMetadata, default_weights_path  # noqa: E402
from viewer.core.volume import StudyMetadata, Volume  # noqa: E402


def phantom_study(n_slices: int, step_mm: float, *, size: int = 512, pixel_mm: float = 0.49, seed: int = 0) -> Volume:
    """A head phantom study (inference.synth.phantom sampled on <= 40 planes, interpolated along z)."""
    from inference.synth.phantom import simple_head_hu

    z = 5.0 + step_mm * np.arange(n_slices)
    key_z = np.linspace(z[0], z[-1], num=min(n_slices, 40))
    c = (np.arange(size) - (size - 1) / 2) * pixel_mm
    yy, xx = np.meshgrid(c + 5.0, c, indexing="ij")
    planes = np.empty((key_z.size, size, size), np.float32)
    for k, zk in enumerate(key_z):
        pts = np.stack([xx, yy, np.full_like(xx, zk)], axis=-1)
        planes[k] = simple_head_hu(pts)
    if key_z.size == n_slices:
        hu = planes
    else:
        pos = np.interp(z, key_z, np.arange(key_z.size))
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, key_z.size - 1)
        f = (pos - i0)[:, None, None].astype(np.float32)
        hu = planes[i0] * (1 - f) + planes[i1] * f
    hu = hu + np.random.default_rng(seed).normal(0, 4.0, hu.shape).astype(np.float32)
    hu = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    return Volume(
        hu=hu, spacing_mm=(step_mm, pixel_mm, pixel_mm), origin_mm=(0.0, 0.0, float(z[0])), direction=np.eye(3),
        positions_mm=tuple(float(v) for v in z), sop_instance_uids=tuple(f"2.25.{k}" for k in range(n_slices)),
        instance_numbers=tuple(range(1, n_slices + 1)), slice_thickness_mm=(step_mm,) * n_slices,
        source_paths=tuple(Path(f"{k}.dcm") for k in range(n_slices)), series_uid=f"bench.{n_slices}",
        stack_id=f"bench.{n_slices}#0", metadata=StudyMetadata(modality="CT", convolution_kernel="H30s"),
    )


def synthetic_study(n_slices: int, step_mm: float, *, seed: int = 0) -> Volume:
    """A study from the synthetic generator (inference.synth.study) with exactly `n_slices` slices."""
    from inference.synth.study import make_study

    z_lo = -90.0
    study = make_study(seed, slice_thickness_mm=step_mm, lesions="random",
                       z_range_mm=(z_lo, z_lo + step_mm * (n_slices - 1) + 1e-3))
    hu = study.hu[:n_slices]
    col_dir, row_dir = np.array(study.iop[:3]), np.array(study.iop[3:])
    normal = np.cross(col_dir, row_dir)
    pos = tuple(float(p @ normal) for p in study.positions_mm[: hu.shape[0]])
    n = hu.shape[0]
    return Volume(
        hu=hu, spacing_mm=study.spacing_mm, origin_mm=tuple(float(v) for v in study.positions_mm[0]),
        direction=np.stack([col_dir, row_dir, normal], axis=1), positions_mm=pos,
        sop_instance_uids=tuple(f"2.25.{k}" for k in range(n)), instance_numbers=tuple(range(1, n + 1)),
        slice_thickness_mm=(step_mm,) * n, source_paths=tuple(Path(f"{k}.dcm") for k in range(n)),
        series_uid=f"synth.{n}", stack_id=f"synth.{n}#0",
        metadata=StudyMetadata(modality="CT", convolution_kernel="H30s"),
    )


def make_engine(device: str | None, threads: int | None) -> Engine:
    path = default_weights_path()
    if path.is_file():
        return Engine.load(path, device=device, threads=threads)
    model = build_model()
    meta = ModelMetadata(name="untrained-bench", version="0", arch=model.config.to_dict())
    return Engine.from_model(model, meta, device=device, threads=threads)


CPU_SECONDS: list[float] = []  # process CPU time of the last `timed` call's median run


def timed(fn, repeats: int) -> float:  # noqa: ANN001
    """Median wall time of `repeats` runs; the matching process CPU time goes to CPU_SECONDS.

    On a shared machine wall time is inflated by other processes; CPU time / threads estimates the
    wall time the same work takes on an idle machine.
    """
    times, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    CPU_SECONDS[:] = [statistics.median(cpus)]
    return statistics.median(times)


def run_device(device: str, threads: int | None, batch_sizes: list[int], repeats: int, studies: list[Volume],
               use_compile: bool) -> None:
    t0 = time.perf_counter()
    engine = make_engine(device, threads)
    print(f"\n== device {engine.device}, torch threads {torch.get_num_threads()}, model {engine.info.name} "
          f"({count_parameters(engine.model) / 1e6:.2f} M params), grid {engine.config.image_size}^2 @ "
          f"{engine.config.pixel_mm} mm, load {time.perf_counter() - t0:.2f} s")
    if use_compile:
        t0 = time.perf_counter()
        engine.model.features = torch.compile(engine.model.features)  # type: ignore[method-assign]
        list(engine.iter_predict(studies[0], batch_size=batch_sizes[0]))
        print(f"torch.compile + first study: {time.perf_counter() - t0:.2f} s (excluded below)")
    for vol in studies:
        n = vol.n_slices
        print(f"-- study {n} slices x {vol.spacing_mm[0]} mm, {vol.hu.shape[1]}x{vol.hu.shape[2]}")
        ta = timed(lambda: check_volume(vol), repeats)
        tp = timed(lambda: make_inputs(vol.hu, vol.positions_mm, vol.pixel_spacing_mm, engine.config), repeats)
        print(f"   acceptance {ta * 1000:.0f} ms; pre-processing alone {tp:.2f} s ({n / tp:.0f} slices/s; "
              f"CPU {CPU_SECONDS[0]:.2f} s)")
        for bs in batch_sizes:
            t0 = time.perf_counter()
            first = next(iter(engine.iter_predict(vol, batch_size=bs)))
            warm = time.perf_counter() - t0
            assert first.index == 0
            t_prob = timed(lambda: engine.analyze(vol, cams=False, batch_size=bs), repeats)
            c_prob = CPU_SECONDS[0]
            t_cam = timed(lambda: engine.analyze(vol, cams=True, batch_size=bs), repeats)
            c_cam = CPU_SECONDS[0]
            print(f"   batch {bs:3d}: warm-up first batch {warm:.2f} s | probabilities {t_prob:.2f} s "
                  f"({n / t_prob:.1f} slices/s; CPU {c_prob:.1f} s) | with Grad-CAM {t_cam:.2f} s "
                  f"({n / t_cam:.1f} slices/s; CPU {c_cam:.1f} s), x{t_cam / t_prob:.2f} wall / "
                  f"x{c_cam / max(c_prob, 1e-9):.2f} CPU of probabilities")


def main(argv: list[str] | None = None) -> int:
    """Build the studies, run the CPU (and CUDA) measurements, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="also try torch.compile on the feature extractor")
    ap.add_argument("--no-thin", action="store_true", help="skip the 300-slice 0.625 mm study")
    ap.add_argument("--phantom", action="store_true", help="simple analytic phantom instead of the generator")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    build = phantom_study if args.phantom else synthetic_study
    studies = [build(40, 5.0)]
    if not args.no_thin:
        studies.append(build(300, 0.625))
    print(f"{'phantom' if args.phantom else 'generator'} studies "
          f"{', '.join(f'{v.n_slices}x{v.spacing_mm[0]:g} mm' for v in studies)} built in {time.perf_counter() - t0:.1f} s")
    try:
        import os

        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
              "(wall times on a busy machine are inflated; CPU time / threads is the idle-machine estimate)")
    except OSError:
        pass
    run_device("cpu", args.threads, args.batch_sizes, args.repeats, studies, False)
    if args.compile:
        run_device("cpu", args.threads, args.batch_sizes[:1], args.repeats, studies[:1], True)
    if torch.cuda.is_available():
        run_device("cuda", None, [16, 32, 64], args.repeats, studies, args.compile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
