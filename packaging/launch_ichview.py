"""Entry script of the frozen (PyInstaller) ichview: the same `ichview` command as the pip install.

`multiprocessing.freeze_support()` must run first: the decode pool starts worker processes with
forkserver/spawn from the GUI, and in a frozen app those re-run this executable.

ICHVIEW_SMOKE_EXIT_AFTER_LOAD_S=<seconds> (for the packaging test only, ignored otherwise): the
viewer quits by itself once the first opened series is fully shown (exit 0), when loading fails
(exit 3) or after <seconds> (exit 4), printing one `ichview-smoke:` line (with a digest of the HU
array and the codecs found, so a test can compare them). ICHVIEW_SMOKE_SCREENSHOT=<file.png> also
saves the window before quitting; ICHVIEW_SMOKE_WAIT_FOR_AI=1 waits until the AI assist has analysed
that series (exit 5 when the assist is not attached, e.g. torch failed to load). viewer/qt/app.py has no
such option, so this launcher adds it by wrapping MainWindow.__init__ before the app starts.
"""
from __future__ import annotations

import multiprocessing
import os
import sys

SMOKE_ENV = "ICHVIEW_SMOKE_EXIT_AFTER_LOAD_S"
SCREENSHOT_ENV = "ICHVIEW_SMOKE_SCREENSHOT"  # with SMOKE_ENV: save the window as PNG before quitting
WAIT_AI_ENV = "ICHVIEW_SMOKE_WAIT_FOR_AI"  # with SMOKE_ENV, "1": quit once the AI assist has finished


def codec_report() -> str:
    """Which DICOM codec modules import, and the transfer syntaxes pylibjpeg finds by entry point."""
    import importlib

    modules = []
    for name in ("gdcm", "libjpeg", "openjpeg", "rle", "jpeg_ls"):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        modules.append(name)
    try:
        import imagecodecs

        if imagecodecs.JPEG8.available:  # the loader's JPEG Lossless fast path (libjpeg-turbo 3)
            modules.append("imagecodecs.jpeg8")
    except (ImportError, AttributeError):
        pass
    try:
        from pylibjpeg.utils import get_pixel_data_decoders

        syntaxes = sorted(get_pixel_data_decoders())
    except ImportError:
        syntaxes = []
    return f"codecs={','.join(modules) or '-'} pylibjpeg_syntaxes={','.join(syntaxes) or '-'}"


def install_smoke_exit(timeout_s: float) -> None:
    """Make the next MainWindow quit the app after its first fully loaded series (see module doc)."""
    from PySide6 import QtCore, QtWidgets

    from viewer.qt import main_window

    original_init = main_window.MainWindow.__init__

    def init(self: main_window.MainWindow, *args: object, **kwargs: object) -> None:
        original_init(self, *args, **kwargs)

        done = {"loaded": False}

        def finish(line: str) -> None:
            print(line, flush=True)
            shot = os.environ.get(SCREENSHOT_ENV)
            if shot:
                QtWidgets.QApplication.processEvents()
                if not self.grab().save(shot):
                    print(f"ichview-smoke: could not save the screenshot {shot}", file=sys.stderr, flush=True)
            QtCore.QTimer.singleShot(0, self.close)  # closeEvent stops jobs and saves settings
            QtCore.QTimer.singleShot(50, lambda: QtWidgets.QApplication.exit(0))

        def loaded(volume: object) -> None:
            import hashlib

            import numpy as np

            if done["loaded"]:
                return
            done["loaded"] = True
            hu = np.ascontiguousarray(volume.hu)  # type: ignore[attr-defined]
            digest = hashlib.sha256(hu.tobytes()).hexdigest()[:16]
            line = (
                f"ichview-smoke: loaded slices={hu.shape[0]} shape={'x'.join(map(str, hu.shape))} "
                f"dtype={hu.dtype} hu_min={float(hu.min()):g} hu_max={float(hu.max()):g} hu_sha256={digest} "
                f"{codec_report()}"
            )
            if os.environ.get(WAIT_AI_ENV) != "1":
                finish(line + " ai=not-waited")
                return
            assist = getattr(self, "ai_assist", None)  # set by viewer.qt.app.attach_ai
            if assist is None:
                print("ichview-smoke: the AI assist is not attached (see the log)", file=sys.stderr, flush=True)
                QtWidgets.QApplication.exit(5)
                return
            assist.inference_finished.connect(lambda stack_id: finish(line + " ai=finished"))

        def failed(message: str) -> None:
            print(f"ichview-smoke: load failed: {message}", file=sys.stderr, flush=True)
            QtWidgets.QApplication.exit(3)

        def timed_out() -> None:
            print(f"ichview-smoke: nothing loaded within {timeout_s:g} s", file=sys.stderr, flush=True)
            QtWidgets.QApplication.exit(4)

        self.volume_loaded.connect(loaded)
        self.load_failed.connect(failed)
        QtCore.QTimer.singleShot(int(timeout_s * 1000), timed_out)

    main_window.MainWindow.__init__ = init  # type: ignore[method-assign]


def run() -> int:
    """Run the `ichview` command line (GUI by default)."""
    smoke = os.environ.get(SMOKE_ENV)
    if smoke:
        install_smoke_exit(float(smoke))
    from viewer.__main__ import main

    return main()


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(run())
