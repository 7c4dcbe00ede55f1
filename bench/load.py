"""Load benchmark: ichview vs SimpleITK's ImageSeriesReader (GDCM) vs a plain pydicom loop.

    .venv/bin/python bench/load.py [--data DIR] [--repeat N] [--skip-300] [--only SUBSTRING] [--headers]

Series: synthetic 40 x 5 mm and 300 x 0.625 mm, 512x512 (uncompressed, and JPEG Lossless SV1
re-encoded through GDCM and checked lossless), and the real GE tilted series. Every loader runs in
its own subprocess (peak memory never falls inside one process) after the file cache is dropped
(`/proc/sys/vm/drop_caches` as root; otherwise POSIX_FADV_DONTNEED on every file, said in the output).
Each loader's times include finding and ordering the files (header scan) and decoding to HU.

Peak memory: VmHWM of the loader process above its VmHWM right before the load (imports done),
with the whole volume touched, against the volume's int16 size. ichview's worker processes (used for
large or compressed series) hold their own interpreter; their private memory at the end of the load
is printed separately ("workers MB").

--headers: also the header scan's CPU time per file (time.process_time, warm file cache, best of
--repeat x 5 passes over the series, both readers in one process, interleaved): pydicom's full
parse (`scan._read_file(path, fast=False)`, the reader before header_reader) against the fast path.
CPU time, unlike wall time, is not stretched by other processes on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REAL_GE = (REPO / ".." / "shared" / "data" / "real" / "ge_head_ct_tilted").resolve()
LOADERS = ("ichview", "sitk", "pydicom")


# ------------------------------------------------------------------ memory and cache helpers
def _status_kb(field: str, pid: str = "self") -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _private_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return sum(int(line.split()[1]) for line in fh if line.startswith(("Private_Clean:", "Private_Dirty:")))
    except OSError:
        return 0


def _cpu_s() -> float:
    """CPU seconds of this process and of its reaped children (ichview's decode workers)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def drop_file_cache(files: list[Path]) -> str:
    """Drop the page cache: globally when permitted, else per file. Returns how."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return "drop_caches"
    except OSError:
        pass
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return "fadvise (drop_caches not permitted)"


# ------------------------------------------------------------------ the loaders (child side)
def _load_ichview(folder: Path) -> dict:
    from viewer.core import decode_pool
    from viewer.core.loading import FirstSlice, iter_load_stack, open_paths
    from viewer.core.pixels import decode_hu
    from viewer.core.volume import Volume

    base = _status_kb("VmHWM")
    c0 = _cpu_s()
    t0 = time.perf_counter()
    stack = max(open_paths([folder]).stacks(), key=lambda s: s.n_slices)
    t_scan = time.perf_counter() - t0
    t_first = None
    volume = None
    for event in iter_load_stack(stack):
        if isinstance(event, FirstSlice):
            t_first = time.perf_counter() - t0
        elif isinstance(event, Volume):
            volume = event
    t_total = time.perf_counter() - t0
    assert volume is not None
    checksum = int(volume.hu.sum(dtype=np.int64))  # touch every page of the volume
    peak = _status_kb("VmHWM") - base
    workers_kb = 0
    pool = decode_pool._PROCESS_POOL
    if pool is not None:
        workers_kb = sum(_private_kb(pid) for pid in list(pool._processes))  # type: ignore[attr-defined]
    decode_pool.shutdown_pool()  # reap the workers: their CPU time joins RUSAGE_CHILDREN
    cpu = _cpu_s() - c0
    # One cold single-slice decode, for "header scan + two decodes".
    other = stack.slices[1].path
    drop_file_cache([other])
    t1 = time.perf_counter()
    decode_hu(other)
    t_decode = time.perf_counter() - t1
    return {
        "cpu": cpu, "t_scan": t_scan, "t_first": t_first, "t_total": t_total, "t_decode": t_decode,
        "peak_kb": peak, "workers_kb": workers_kb, "volume_kb": volume.hu.nbytes / 1024,
        "shape": list(volume.hu.shape), "checksum": checksum,
    }


def _load_sitk(folder: Path) -> dict:
    import SimpleITK as sitk

    base = _status_kb("VmHWM")
    c0 = _cpu_s()
    t0 = time.perf_counter()
    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(str(folder))
    reader.SetFileNames(files)
    reader.SetOutputPixelType(sitk.sitkInt16)  # HU as int16, like ichview (default would be int32)
    image = reader.Execute()
    array = sitk.GetArrayViewFromImage(image)
    t_total = time.perf_counter() - t0
    cpu = _cpu_s() - c0
    checksum = int(array.sum(dtype=np.int64))
    return {"cpu": cpu, "t_total": t_total, "peak_kb": _status_kb("VmHWM") - base, "volume_kb": array.nbytes / 1024,
            "shape": list(array.shape), "checksum": checksum}


def _load_pydicom(folder: Path) -> dict:
    import pydicom

    base = _status_kb("VmHWM")
    c0 = _cpu_s()
    t0 = time.perf_counter()
    slices = []
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        ds = pydicom.dcmread(f)
        hu = ds.pixel_array * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
        slices.append((float(ds.ImagePositionPatient[2]), hu))
    slices.sort(key=lambda s: s[0])
    volume = np.stack([s[1] for s in slices])
    t_total = time.perf_counter() - t0
    cpu = _cpu_s() - c0
    checksum = int(volume.sum())
    return {"cpu": cpu, "t_total": t_total, "peak_kb": _status_kb("VmHWM") - base, "volume_kb": volume.size * 2 / 1024,
            "shape": list(volume.shape), "checksum": checksum}


def _header_cpu(folder: Path, repeat: int) -> dict:
    """CPU ms per file of the scan's full pydicom parse and of its fast path (same files, one
    process, interleaved passes, best pass of each)."""
    from viewer.core import header_values, scan

    scan._quiet_pydicom()
    files = sorted(p for p in folder.iterdir() if p.is_file())
    best = {"full": float("inf"), "fast": float("inf")}
    fast_taken = sum(1 for f in files if scan._fast_slice_headers(f) is not None)
    for _ in range(max(1, repeat) * 5):
        for label, fast in (("full", False), ("fast", True)):
            header_values._VALUE_CACHE.clear()  # as at the start of a scan: each distinct value converted once per pass
            t = time.process_time()
            for f in files:
                scan._read_file(f, fast=fast)
            best[label] = min(best[label], time.process_time() - t)
    return {"full_ms": best["full"] * 1000 / len(files), "fast_ms": best["fast"] * 1000 / len(files),
            "files": len(files), "fast_taken": fast_taken}


def _preload_codecs() -> None:
    """Import every decoder before the baseline: their libraries are a fixed cost, not the load's
    (paid once per process; the GUI pays them at start-up, not per series)."""
    import gdcm  # noqa: F401
    import imagecodecs  # noqa: F401
    import libjpeg  # noqa: F401
    import openjpeg  # noqa: F401
    import pydicom.pixels.decoders.pylibjpeg  # noqa: F401
    import numpy.ma  # noqa: F401 - numpy imports it lazily on the first np.median (geometry.py): ~15-40 ms once per process
    import SimpleITK  # noqa: F401

    import viewer.core.decode_pool  # noqa: F401


def child(loader: str, folder: Path, repeat: int = 2) -> None:
    _preload_codecs()
    if loader == "headers":
        result = _header_cpu(folder, repeat)
    else:
        result = {"ichview": _load_ichview, "sitk": _load_sitk, "pydicom": _load_pydicom}[loader](folder)
    print(json.dumps(result))


# ------------------------------------------------------------------ synthetic series
def _write_synthetic(out: Path, n_slices: int, step_mm: float, z0_mm: float, seed: int) -> Path:
    from inference.synth import variants
    from inference.synth.anatomy import head_sampler
    from inference.synth.dicom_writer import SeriesSpec, write_series

    grid = variants.Grid(n_slices=n_slices, rows=512, cols=512, row_spacing_mm=0.5, col_spacing_mm=0.5,
                         step_mm=step_mm, z0_mm=z0_mm)
    hu, ipp = variants.render_canonical_axial(head_sampler(seed), grid, seed=seed, noise_hu=5.0)
    spec = SeriesSpec(
        uid_seed=f"bench-{n_slices}-{step_mm}", series_description=f"SYNTHETIC BENCH {n_slices}x{step_mm}mm",
        pixel_spacing_mm=(0.5, 0.5), slice_thickness_mm=step_mm, slice_step_mm=step_mm,
        image_positions_mm=tuple(map(tuple, ipp)),
    )
    write_series(hu, out, spec)
    return out


def _jpeg_lossless_copy(src: Path, out: Path) -> Path:
    """Re-encode every file as JPEG Lossless SV1 (.70) through GDCM (SimpleITK), checked lossless."""
    import pydicom
    import SimpleITK as sitk
    from pydicom.uid import JPEGLosslessSV1

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".encode.dcm"
    writer = sitk.ImageFileWriter()
    writer.SetImageIO("GDCMImageIO")
    writer.SetUseCompression(True)
    writer.SetCompressor("JPEG")  # GDCM: lossless JPEG process 14 SV1 for 16-bit data
    writer.SetFileName(str(tmp))
    for f in sorted(src.iterdir()):
        ds = pydicom.dcmread(f)
        stored = ds.pixel_array
        writer.Execute(sitk.GetImageFromArray(stored[None]))
        encoded = pydicom.dcmread(tmp)
        if encoded.file_meta.TransferSyntaxUID != JPEGLosslessSV1:
            raise RuntimeError(f"GDCM wrote {encoded.file_meta.TransferSyntaxUID.name}, not JPEG Lossless SV1")
        if not np.array_equal(encoded.pixel_array, stored):
            raise RuntimeError(f"{f.name}: GDCM's JPEG round trip is not lossless")
        ds.PixelData = encoded.PixelData
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
        ds.save_as(out / f.name, enforce_file_format=True)
    tmp.unlink()
    return out


def make_data(root: Path, skip_300: bool) -> dict[str, Path]:
    series: dict[str, Path] = {}
    done = root / ".complete"
    specs = [("syn 40x5mm", 40, 5.0, 0.0)] + ([] if skip_300 else [("syn 300x0.625mm", 300, 0.625, -60.0)])
    for name, n, step, z0 in specs:
        plain = root / f"plain_{n}"
        jpeg = root / f"jpegll_{n}"
        if not done.exists():
            t = time.perf_counter()
            shutil.rmtree(plain, ignore_errors=True)
            shutil.rmtree(jpeg, ignore_errors=True)
            _write_synthetic(plain, n, step, z0, seed=n)
            _jpeg_lossless_copy(plain, jpeg)
            print(f"  wrote {name} (plain + JPEG lossless) in {time.perf_counter() - t:.0f} s", flush=True)
        series[f"{name} plain"] = plain
        series[f"{name} JPEG-LL"] = jpeg
    done.touch()
    series["GE tilted 28 (real)"] = REAL_GE
    return series


# ------------------------------------------------------------------ the parent
def run_child(loader: str, folder: Path, repeat: int = 2) -> tuple[dict, str]:
    files = [p for p in folder.iterdir() if p.is_file()]
    how = drop_file_cache(files)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", loader, str(folder), "--repeat", str(repeat)],
        capture_output=True, text=True, env=env, cwd=str(REPO), timeout=300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{loader} on {folder} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), how


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="keep the synthetic series here (reused when complete)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per loader and series; the fastest is shown")
    parser.add_argument("--skip-300", action="store_true", help="leave out the 300-slice series")
    parser.add_argument("--only", metavar="SUBSTRING", help="only the series whose name contains this")
    parser.add_argument("--headers", action="store_true",
                        help="also time the header scan per file (CPU): pydicom's full parse vs the fast path")
    parser.add_argument("--child", nargs=2, metavar=("LOADER", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.repeat)
        return

    t_start = time.perf_counter()
    tmp = None
    root = args.data
    if root is None:
        tmp = tempfile.mkdtemp(prefix="ichview-bench-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None)
        root = Path(tmp)
    root.mkdir(parents=True, exist_ok=True)
    print(f"cores: {len(os.sched_getaffinity(0))}; load average at start {os.getloadavg()[0]:.1f}; data in {root}", flush=True)
    try:
        series = make_data(root, args.skip_300)
        if args.only:
            series = {name: folder for name, folder in series.items() if args.only in name}
        rows = []
        cache_how = set()
        for name, folder in series.items():
            best: dict[str, dict] = {}
            for loader in LOADERS:
                for _ in range(args.repeat):
                    result, how = run_child(loader, folder)
                    cache_how.add(how)
                    if loader not in best or result["t_total"] < best[loader]["t_total"]:
                        best[loader] = result
            ref = best["ichview"]
            for loader in ("sitk", "pydicom"):
                if best[loader]["shape"] != ref["shape"]:
                    print(f"  note: {loader} shape {best[loader]['shape']} vs ichview {ref['shape']} on {name}")
            rows.append((name, best))
            print(f"  measured {name}", flush=True)
        print()
        print(f"file cache dropped before every run via: {', '.join(sorted(cache_how))}; best of {args.repeat}")
        header = (f"{'series':24} {'ichview s':>9} {'(scan)':>6} {'(decode)':>8} {'SITK s':>7} {'pydicom s':>9} "
                  f"{'ich/SITK':>8} {'ich/pyd':>7} | {'CPU s: ich':>10} {'SITK':>6} {'pyd':>6}")
        print(header)
        print("-" * len(header))
        for name, best in rows:
            i, s, p = best["ichview"], best["sitk"], best["pydicom"]
            print(
                f"{name:24} {i['t_total']:9.3f} {i['t_scan']:6.3f} {i['t_total'] - i['t_scan']:8.3f} "
                f"{s['t_total']:7.3f} {p['t_total']:9.3f} {i['t_total'] / s['t_total']:8.2f} "
                f"{i['t_total'] / p['t_total']:7.2f} | {i['cpu']:10.2f} {s['cpu']:6.2f} {p['cpu']:6.2f}"
            )
        print()
        header = (f"{'series':24} {'first s':>7} {'scan+2dec':>9} {'vol MB':>7} {'peak/vol':>8} {'workers MB':>10} "
                  f"{'SITK pk/vol':>11} {'pyd pk/vol':>10}")
        print(header)
        print("-" * len(header))
        for name, best in rows:
            i, s, p = best["ichview"], best["sitk"], best["pydicom"]
            first_ref = i["t_scan"] + 2 * i["t_decode"]
            print(
                f"{name:24} {i['t_first']:7.3f} {first_ref:9.3f} {i['volume_kb'] / 1024:7.1f} "
                f"{i['peak_kb'] / i['volume_kb']:8.2f} {i['workers_kb'] / 1024:10.1f} "
                f"{s['peak_kb'] / s['volume_kb']:11.2f} {p['peak_kb'] / p['volume_kb']:10.2f}"
            )
        if args.headers:
            print()
            header = (f"{'series':24} {'files':>5} {'fast':>5} {'pydicom ms/file':>15} {'fast ms/file':>12} "
                      f"{'speed-up':>8}   (header scan CPU per file, warm cache)")
            print(header)
            print("-" * len(header))
            for name, folder in series.items():
                h, _ = run_child("headers", folder, args.repeat)
                print(f"{name:24} {h['files']:5d} {h['fast_taken']:5d} {h['full_ms']:15.3f} {h['fast_ms']:12.3f} "
                      f"{h['full_ms'] / h['fast_ms']:8.1f}")
        print()
        print("ich/SITK, ich/pyd: ichview's full-load wall time over the reference's (goal <= 1.0 and <= 0.5).")
        print("CPU s: CPU seconds of the whole load (ichview: its process + its decode workers), which other")
        print("processes on the machine do not change; on a busy machine parallel workers gain little wall time.")
        print("first s: header scan + decode of the shown (middle) slice; scan+2dec: header scan + 2 cold")
        print("single-slice decodes (goal: first <= scan+2dec). peak/vol: ichview's peak RSS above baseline over")
        print("the int16 volume size (goal < 1.3); workers MB: private memory of its decode processes.")
        print("(scan): ichview's header scan + grouping (scan.py / series.py); (decode): the rest of its load.")
        print(f"total bench time {time.perf_counter() - t_start:.0f} s; load average at end {os.getloadavg()[0]:.1f} "
              "(other processes on the machine slow every loader, the parallel ones most)")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
