"""Qt test set-up: settings and logs in a temporary folder, and helpers that drive the main window."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6 import QtCore

# pytest puts tests/ on sys.path, where tests/inference (a folder without __init__.py) would be found
# as a namespace package `inference` and hide the real one when running `.venv/bin/pytest`; with the
# repository root anywhere on sys.path the real (regular) package wins.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.append(_REPO_ROOT)



@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Tests never read or write the user's real settings or log: both go to a temporary folder."""
    root = tmp_path_factory.mktemp("user")
    QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, str(root / "settings"))
    QtCore.QSettings.setPath(QtCore.QSettings.Format.NativeFormat, QtCore.QSettings.Scope.UserScope, str(root / "settings"))
    monkeypatch.setenv("ICHVIEW_STATE_DIR", str(root / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "config"))
    yield root


@pytest.fixture
def main_window(qtbot, isolated_settings: Path):  # noqa: ANN001, ANN201 (pytest-qt fixture)
    """The real main window with default settings, shown; its worker threads joined at the end."""
    from viewer.qt.app import configure_pyqtgraph
    from viewer.qt.main_window import MainWindow
    from viewer.settings import Settings

    configure_pyqtgraph()
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    window.slice_view.setFocus()
    yield window
    assert window.shutdown_jobs(20.0), "a worker thread did not end"
    window.close()
