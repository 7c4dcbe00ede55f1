"""End to end: open a 40-slice head CT in the main window with the AI attached, offscreen, on CPU.

Measures, from File > Open's path (`open_paths`) on a 40-slice 512x512 synthetic head CT
(inference.synth, written once and cached under the temp folder):
  * open -> first slice's probability on screen (the strip drawn with it),
  * open -> whole study done (findings panel filled),
  * scroll frame times while inference runs: a timer presses Down on the image every 40 ms (Up at
    the ends) and each press is timed until the new slice is rendered (synchronous repaint,
    heatmap and overlays included);
and, as references in the same run: the same scroll with no inference running, and the bare engine
(`Engine.analyze` on the same Volume, same threads) without the GUI.

The engine is the shipped model when present (else a randomly initialised model of the same
architecture and input grid: the same work per slice). It is loaded in the background when the
window starts (as in the app), so the figures below start with the engine loaded; its load time is
printed separately.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/e2e.py [--slices 40] [--threads N]

Goals (issue 5): first result < 2 s, whole study < 12 s, scroll median < 16 ms during inference.
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

CACHE = Path(tempfile.gettempdir()) / "ichview-bench-e2e"


def study_folder(n_slices: int) -> Path:
    """A cached synthetic 512x512 head CT with `n_slices` slices over the whole head and a bleed."""
    from inference.synth.study import make_study, write_study

    folder = CACHE / f"study-{n_slices}"
    dicom = folder / "dicom"
    if dicom.is_dir() and len(list(dicom.glob("*.dcm"))) == n_slices:
        return dicom
    lo, hi = -78.0, 70.0
    step = (hi - lo) / (n_slices - 0.5)
    t0 = time.perf_counter()
    study = make_study(7, matrix=512, slice_thickness_mm=step, lesions=["intraparenchymal"], lesion_size="medium",
                       z_range_mm=(lo, hi))
    assert study.n_slices == n_slices, study.n_slices
    out = write_study(study, folder)
    print(f"wrote a {n_slices}-slice 512x512 study in {time.perf_counter() - t0:.1f} s ({out})")
    return out


def weights_file(tmp: Path) -> tuple[Path, str]:
    from inference.weights import default_weights_path

    try:
        path = default_weights_path()
        if path.is_file():
            return path, "shipped model"
    except Exception:  # noqa: BLE001
        pass
    import torch

    from inference.model import ArchConfig, build_model
    from inference.preprocess import PreprocessConfig
    from inference.weights import ModelMetadata, save_weights

    torch.manual_seed(0)
    arch = ArchConfig()
    meta = ModelMetadata(name="bench-random", version="0", arch=arch.to_dict(), preprocess=PreprocessConfig(),
                         threshold=0.5, trained_on="random (bench only)", cam_scale=1.0)
    path = tmp / "bench.safetensors"
    save_weights(path, build_model(arch).eval(), meta)
    return path, "random model, shipped architecture and grid (no shipped weights found)"


def ms(samples: list[float]) -> tuple[float, float, int]:
    a = np.asarray(samples) * 1000.0
    return float(np.median(a)), float(np.percentile(a, 95)), len(a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores but one)")
    parser.add_argument("--interval-ms", type=int, default=40, help="Down key every N ms while measuring")
    parser.add_argument("--no-second", action="store_true", help="do not wait for the second reader (BLAST-CT)")
    args = parser.parse_args(argv)

    from PySide6 import QtCore, QtWidgets
    from PySide6.QtTest import QTest

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from viewer.qt.ai_assist import AiAssist
    from viewer.qt.ai_run import default_threads
    from viewer.qt.app import configure_pyqtgraph
    from viewer.qt.main_window import MainWindow
    from viewer.settings import Settings

    configure_pyqtgraph()
    folder = study_folder(args.slices)
    threads = args.threads or default_threads()
    with tempfile.TemporaryDirectory(prefix="ichview-bench-") as tmp_name:
        tmp = Path(tmp_name)
        QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, str(tmp / "settings"))
        os.environ["ICHVIEW_STATE_DIR"] = str(tmp / "state")
        weights, weights_kind = weights_file(tmp)

        window = MainWindow(Settings(remember_recent=False))
        window.resize(1500, 950)
        window.show()
        t0 = time.perf_counter()
        ai = AiAssist(window, weights=weights, device="cpu", threads=threads)
        while ai.is_warming_up():  # the engine is loaded in the background at start
            app.processEvents()
            time.sleep(0.002)
        load_engine_s = time.perf_counter() - t0
        if ai.engine is None:
            print("the engine did not load")
            return 1

        view = window.slice_view
        marks: dict[str, float] = {}
        frames: list[float] = []
        direction = [1]

        def on_result(_stack: str, _index: int) -> None:
            if "first" not in marks:
                ai.strip.flush()  # the point is drawn now, not at the next batched redraw
                marks["first"] = time.perf_counter()

        def on_finished(_stack: str) -> None:
            marks.setdefault("done", time.perf_counter())

        def press() -> None:
            v = view.volume
            if v is None:
                return
            if view.index >= v.n_slices - 1:
                direction[0] = -1
            elif view.index <= 0:
                direction[0] = 1
            key = QtCore.Qt.Key.Key_Down if direction[0] > 0 else QtCore.Qt.Key.Key_Up
            before = view.index
            t = time.perf_counter()
            QTest.keyClick(view.graphics, key)
            view.render_now()
            dt = time.perf_counter() - t
            if view.index != before and ai.is_running() and "first" in marks:
                frames.append(dt)

        second_frames: list[float] = []

        def press_second() -> None:
            v = view.volume
            if v is None:
                return
            key = QtCore.Qt.Key.Key_Down if view.index < v.n_slices - 1 else QtCore.Qt.Key.Key_Home
            t = time.perf_counter()
            QTest.keyClick(view.graphics, key)
            view.render_now()
            if ai.is_second_running():
                second_frames.append(time.perf_counter() - t)

        window.volume_loaded.connect(lambda _v: marks.setdefault("image", time.perf_counter()))
        ai.result_shown.connect(on_result)
        ai.inference_finished.connect(on_finished)
        ai.second_finished.connect(lambda _s: marks.setdefault("second_done", time.perf_counter()))
        timer = QtCore.QTimer()
        timer.setInterval(args.interval_ms)
        timer.timeout.connect(press)
        view.graphics.setFocus()

        t_open = time.perf_counter()
        window.open_paths([folder])
        timer.start()
        while "done" not in marks and time.perf_counter() - t_open < 300:
            app.processEvents()
            time.sleep(0.001)
        timer.stop()
        if "done" not in marks:
            print("inference did not finish in 300 s:", window.last_error_text)
            return 1
        volume = window.current_volume
        first_s = marks["first"] - t_open
        done_s = marks["done"] - t_open

        # The second reader (BLAST-CT) runs after the first, in the same worker module: keep scrolling.
        second_s = None
        if not args.no_second:
            timer2 = QtCore.QTimer()
            timer2.setInterval(args.interval_ms)
            timer2.timeout.connect(press_second)
            timer2.start()
            while "second_done" not in marks and time.perf_counter() - t_open < 900:
                app.processEvents()
                time.sleep(0.001)
            timer2.stop()
            if "second_done" in marks:
                second_s = marks["second_done"] - t_open

        # Reference 1: the same scroll with nothing running.
        idle: list[float] = []
        for _ in range(2 * volume.n_slices):
            v = view
            key = QtCore.Qt.Key.Key_Down if v.index < volume.n_slices - 1 else QtCore.Qt.Key.Key_Home
            t = time.perf_counter()
            QTest.keyClick(v.graphics, key)
            v.render_now()
            idle.append(time.perf_counter() - t)
            app.processEvents()

        # Reference 2: the bare engine on the same Volume, no GUI.
        import torch

        from inference.device import set_threads

        set_threads(threads)
        t = time.perf_counter()
        analysis = ai.engine.analyze(volume, cam_labels=("any",), batch_size=4)
        engine_s = time.perf_counter() - t

        busy_med, busy_p95, busy_n = ms(frames)
        idle_med, idle_p95, _ = ms(idle)
        print(f"model: {weights_kind}; engine load (in the background at start): {load_engine_s:.2f} s")
        print(f"study: {volume.n_slices} slices {volume.hu.shape[2]}x{volume.hu.shape[1]}; device cpu, "
              f"torch threads in the inference worker {ai.worker_torch_threads} of {os.cpu_count()} cores")
        print(f"open -> image shown (scan + decode): {marks['image'] - t_open:.2f} s")
        print(f"open -> first slice's probability on screen: {first_s:.2f} s")
        print(f"open -> whole study done (findings shown):   {done_s:.2f} s  "
              f"({volume.n_slices / max(done_s, 1e-9):.1f} slices/s)")
        print(f"bare engine on the same volume (no GUI, no scrolling, any-CAM only): {engine_s:.2f} s "
              f"-> viewer / bare {done_s / engine_s:.2f}x")
        print(f"scroll during inference: median {busy_med:.2f} ms, p95 {busy_p95:.2f} ms over {busy_n} frames")
        print(f"scroll idle (reference): median {idle_med:.2f} ms, p95 {idle_p95:.2f} ms "
              f"-> during / idle median {busy_med / idle_med:.2f}x")
        if second_s is not None:
            sec_med, sec_p95, sec_n = ms(second_frames)
            print(f"open -> second reader (BLAST-CT) done: {second_s:.1f} s; scroll while it runs: median {sec_med:.2f} ms, "
                  f"p95 {sec_p95:.2f} ms over {sec_n} frames -> during / idle median {sec_med / idle_med:.2f}x "
                  f"(goal <= 2x)")
        print(f"verdict: {ai.stack_findings(volume.stack_id).verdict_text}; max P(any) "
              f"{float(analysis.probabilities[:, 0].max()):.2f}")
        goals = [
            ("first result < 2 s", first_s < 2.0),
            ("whole study < 12 s", done_s < 12.0),
            ("scroll median < 16 ms during inference", busy_med < 16.0),
        ]
        print("goals: " + ", ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in goals))
        ai.shutdown()
        window.shutdown_jobs()
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
