"""`ichview [PATH...]` / `ichview view [PATH...]`: start the Qt application and the main window."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType

NO_DISPLAY_MESSAGE = (
    "ichview: no display found (neither DISPLAY nor WAYLAND_DISPLAY is set), so the viewer cannot open.\n"
    "To analyse a study without a display, run:\n"
    "    ichview analyze PATH --pdf out.pdf\n"
    "or start the viewer inside a desktop session (or set QT_QPA_PLATFORM, e.g. offscreen)."
)
USAGE = (
    "usage: ichview [--no-ai] [PATH ...]   open the viewer on folders, DICOM files or a DICOMDIR\n"
    "  --no-ai   start without the hemorrhage AI (no model is loaded)"
)


def has_display(environ: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """Whether Qt can open a window: always on Windows/macOS; on Linux a display or a chosen platform."""
    env = os.environ if environ is None else environ
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or env.get("QT_QPA_PLATFORM"))


def _icon_path() -> Path | None:
    """The application icon in resources/ (source tree) or in a PyInstaller bundle."""
    roots = [Path(getattr(sys, "_MEIPASS", "")) / "resources"] if getattr(sys, "_MEIPASS", None) else []
    roots.append(Path(__file__).resolve().parents[2] / "resources")
    for root in roots:
        candidate = root / "icons" / "hicolor" / "256x256" / "apps" / "ichview.png"
        if candidate.is_file():
            return candidate
    return None


def main(argv: list[str] | None = None) -> int:
    """Open the viewer on the given paths; 2 when there is no display or on bad arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    with_ai = "--no-ai" not in args
    args = [a for a in args if a != "--no-ai"]
    unknown = [a for a in args if a.startswith("-")]
    if unknown:
        print(f"ichview: unknown option {unknown[0]}\n{USAGE}", file=sys.stderr)
        return 2
    if not has_display():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 2

    from PySide6 import QtCore, QtGui, QtWidgets

    from viewer import __version__
    from viewer.app_logging import get_logger, setup_logging

    setup_logging()
    log = get_logger("app")
    QtGui.QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        QtCore.Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0] if sys.argv else "ichview"])
    app.setApplicationName("ichview")
    app.setOrganizationName("ichview")
    app.setApplicationVersion(__version__)
    # Links the window to ichview.desktop (its icon on Wayland, grouping in task bars).
    QtGui.QGuiApplication.setDesktopFileName("ichview")
    icon_path = _icon_path()
    if icon_path is not None:
        app.setWindowIcon(QtGui.QIcon(str(icon_path)))
    configure_pyqtgraph()

    from viewer.qt.main_window import MainWindow

    window = MainWindow()
    if with_ai:
        attach_ai(window)
    previous_hook = sys.excepthook

    def excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            previous_hook(exc_type, exc, tb)
            return
        window.report_error(exc.with_traceback(tb), context="unhandled")

    sys.excepthook = excepthook
    log.info("ichview %s started", __version__)
    window.show()
    if args:
        window.open_paths(args)
    try:
        code = app.exec()
    finally:
        sys.excepthook = previous_hook
    log.info("ichview exited (%d)", code)
    return int(code)


def attach_ai(window: object) -> object | None:
    """Add the AI assist to the window; without it (torch or weights missing) the viewer still runs."""
    from viewer.app_logging import get_logger

    try:
        from viewer.qt.ai_assist import AiAssist

        assist = AiAssist(window)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 (the viewer is useful without the AI)
        get_logger("app").warning("AI assist not available: %s", type(exc).__name__)
        window.statusBar().showMessage(  # type: ignore[attr-defined]
            f"The AI assist is not available ({type(exc).__name__}); the viewer works without it. "
            "See Help > About for the log file.",
            15000,
        )
        return None
    window.ai_assist = assist  # type: ignore[attr-defined]
    return assist


_configured = False


def configure_pyqtgraph() -> None:
    """pyqtgraph options, set once: row-major images (hu[row, col])."""
    global _configured
    if _configured:
        return
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major")
    _configured = True
