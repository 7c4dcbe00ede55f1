"""Scroll speed of the real main window against a bare pyqtgraph ImageItem, in the same run.

Opens a 300-slice 512x512 synthetic series (written with inference.synth) in the main window,
offscreen, through the same path as File > Open; steps through every slice timing each change until
the frame is rendered (synchronous repaint: windowing, overlays and corner text included); does the
same with a bare ImageItem (setImage with levels + repaint). Prints median / p95 per slice and the
ratio, and the memory held (RSS above the baseline before opening) against the volume's size.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/scroll.py [--slices 300] [--size 512]

Goals (issue 3): median < 8 ms, <= 2x bare, p95 < 16 ms, memory <= volume + 25 %. MPR: a coronal
view scrolled through its positions (a reformat per frame), median within 2x the axial view's in
the same 2 x 2 layout and run.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.append(str(Path(__file__).resolve().parents[1]))


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def write_series(folder: Path, n_slices: int, size: int) -> None:
    """A head-like synthetic series: a skull ring, brain, noise; different on every slice."""
    from inference.synth.dicom_writer import SeriesSpec, write_series as write

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot((yy - size / 2) / (size * 0.42), (xx - size / 2) / (size * 0.36))
    base = np.where(r < 0.92, 35.0, np.where(r < 1.0, 1200.0, -1000.0)).astype(np.float32)
    rng = np.random.default_rng(0)
    chunk = 50
    for start in range(0, n_slices, chunk):
        n = min(chunk, n_slices - start)
        hu = base[None] + rng.normal(0, 6, (n, size, size)).astype(np.float32)
        hu[:, :, : size // 8] += np.arange(start, start + n, dtype=np.float32)[:, None, None]
        spec = SeriesSpec(
            uid_seed="bench-scroll",
            pixel_spacing_mm=(0.45, 0.45),
            first_position_mm=(-115.0, -115.0, start * 1.0),
            slice_step_mm=1.0,
            slice_thickness_mm=1.0,
        )
        names = [f"IM{start + i:04d}.dcm" for i in range(n)]
        write(np.rint(hu).astype(np.int16), folder, spec, file_names=names,
              instance_numbers=list(range(start + 1, start + n + 1)),
              sop_instance_uids=[f"1.2.826.0.1.3680043.10.1146.77.{start + i + 1}" for i in range(n)])


def stats_ms(samples: list[float]) -> tuple[float, float]:
    a = np.asarray(samples) * 1000.0
    return float(np.median(a)), float(np.percentile(a, 95))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--passes", type=int, default=2, help="passes through the series (the last is timed)")
    args = parser.parse_args(argv)

    from PySide6 import QtCore, QtGui, QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    import pyqtgraph as pg

    from viewer.qt.app import configure_pyqtgraph
    from viewer.qt.main_window import MainWindow
    from viewer.settings import Settings

    configure_pyqtgraph()
    with tempfile.TemporaryDirectory(prefix="ichview-bench-") as tmp:
        settings_dir = Path(tmp) / "settings"
        QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, str(settings_dir))
        os.environ["ICHVIEW_STATE_DIR"] = str(Path(tmp) / "state")
        folder = Path(tmp) / "series"
        t0 = time.perf_counter()
        write_series(folder, args.slices, args.size)
        print(f"wrote {args.slices} slices of {args.size}x{args.size} in {time.perf_counter() - t0:.1f} s")

        window = MainWindow(Settings(remember_recent=False))
        window.resize(1400, 900)
        window.show()
        for _ in range(5):
            app.processEvents()
        baseline = rss_bytes()
        t0 = time.perf_counter()
        window.open_paths([folder])
        while window.current_volume is None or window.is_loading():
            app.processEvents()
            time.sleep(0.002)
            if window.last_error_text:
                print("error:", window.last_error_text)
                return 1
        load_s = time.perf_counter() - t0
        volume = window.current_volume
        for _ in range(5):
            app.processEvents()
        view = window.slice_view
        n = volume.n_slices

        # The bare reference: one ImageItem in a ViewBox of the same size, same data and levels.
        gv = pg.GraphicsView(background="k")
        vb = pg.ViewBox(lockAspect=True, invertY=True)
        gv.setCentralItem(vb)
        item = pg.ImageItem(axisOrder="row-major")
        vb.addItem(item)
        gv.resize(view.graphics.size())
        gv.show()
        item.setImage(volume.hu[0], levels=(0, 80), autoLevels=False)
        vb.autoRange(padding=0)
        for _ in range(5):
            app.processEvents()

        def one_pass() -> tuple[list[float], list[float], list[float]]:
            """Interleaved, so that every path sees the same machine load: for each slice, the
            window (even slices: RGB32 table path, odd: pyqtgraph's levels path), then the bare item."""
            table, pg_path, bare = [], [], []
            for i in range(n):
                view.image_item.fast = i % 2 == 0
                t = time.perf_counter()
                view.set_index(i)
                view.render_now()
                (table if i % 2 == 0 else pg_path).append(time.perf_counter() - t)
                t = time.perf_counter()
                item.setImage(volume.hu[i], levels=(0, 80), autoLevels=False)
                gv.viewport().repaint()
                bare.append(time.perf_counter() - t)
            view.image_item.fast = True
            return table, pg_path, bare

        smooth_hint = QtGui.QPainter.RenderHint.SmoothPixmapTransform
        results: dict[str, tuple[float, float]] = {}
        for smooth in (True, False):
            view.graphics.setRenderHint(smooth_hint, smooth)
            gv.setRenderHint(smooth_hint, smooth)
            tag = "smooth" if smooth else "nearest"
            for _ in range(args.passes - 1):
                one_pass()
            table, pg_path, bare = one_pass()
            results[f"window, RGB32 table path, {tag}"] = stats_ms(table)
            results[f"window, pyqtgraph levels path, {tag}"] = stats_ms(pg_path)
            results[f"bare ImageItem, {tag}"] = stats_ms(bare)
        view.graphics.setRenderHint(smooth_hint, True)
        held = rss_bytes() - baseline

        view_size = (view.graphics.width(), view.graphics.height())  # the single-view layout measured above
        # MPR: the 2 x 2 layout (views of equal size); the coronal plane scrolled position by position
        # (each frame a new reformat: viewer.core.mpr + windowing + repaint), interleaved with the
        # axial view's slice changes in the same layout.
        window.mpr.set_layout("2x2")
        for _ in range(5):
            app.processEvents()
        coronal = window.mpr.coronal
        n_cor = coronal.count()
        mpr_axial, mpr_coronal = [], []
        for rep in range(2):
            mpr_axial, mpr_coronal = [], []
            for j in range(n_cor):
                t = time.perf_counter()
                coronal.set_index(j)
                coronal.render_now()
                mpr_coronal.append(time.perf_counter() - t)
                t = time.perf_counter()
                view.set_index(j % n)
                view.render_now()
                mpr_axial.append(time.perf_counter() - t)
        results_mpr = {"axial (2x2 layout)": stats_ms(mpr_axial), "coronal reformat (2x2 layout)": stats_ms(mpr_coronal)}
        cor_shape = coronal.plane_image().shape

        vol_bytes = volume.hu.nbytes
        print(f"load (open to volume shown): {load_s:.2f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"view size: {view_size[0]}x{view_size[1]} px, {n} slices, per slice change + repaint:")
        for name, (med, p95) in results.items():
            print(f"  {name:<42} median {med:6.2f} ms  p95 {p95:6.2f} ms")
        w_med, w_p95 = results["window, RGB32 table path, smooth"]
        b_med, b_p95 = results["bare ImageItem, smooth"]
        print(f"ratio window / bare (both smooth, the viewer's default): median {w_med / b_med:.2f}x  p95 {w_p95 / b_p95:.2f}x")
        nw_med, _ = results["window, RGB32 table path, nearest"]
        nb_med, _ = results["bare ImageItem, nearest"]
        print(f"ratio window / bare (both nearest): median {nw_med / nb_med:.2f}x")
        print(
            f"memory held after open + scroll: {held / 2**20:.1f} MiB for a {vol_bytes / 2**20:.1f} MiB volume "
            f"({held / vol_bytes:.2f}x the volume)"
        )
        print(f"MPR, 2x2 layout, view {coronal.graphics.width()}x{coronal.graphics.height()} px, coronal image "
              f"{cor_shape[1]}x{cor_shape[0]} ({n_cor} positions), per position change + repaint:")
        for name, (med, p95) in results_mpr.items():
            print(f"  {name:<42} median {med:6.2f} ms  p95 {p95:6.2f} ms")
        a_med, _ = results_mpr["axial (2x2 layout)"]
        c_med, _ = results_mpr["coronal reformat (2x2 layout)"]
        print(f"ratio coronal / axial: median {c_med / a_med:.2f}x")
        goals = [
            ("median < 8 ms", w_med < 8.0),
            ("<= 2x bare", w_med <= 2.0 * b_med),
            ("p95 < 16 ms", w_p95 < 16.0),
            ("memory <= volume + 25 %", held <= 1.25 * vol_bytes),
            ("coronal <= 2x axial", c_med <= 2.0 * a_med),
        ]
        print("goals: " + ", ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in goals))
        window.shutdown_jobs()
        window.close()
        gv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
