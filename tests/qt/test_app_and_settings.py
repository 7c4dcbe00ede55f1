"""The entry point without a display, settings persistence, recent files, dialogs and the log."""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from viewer.app_logging import close_logging, get_logger, log_file_path, setup_logging
from viewer.qt import app as app_module
from viewer.qt.settings_store import load_settings, save_settings, settings_file_path
from viewer.settings import PAN, WINDOW, ZOOM, MouseMapping, Settings
from window_driver import block_pattern_volume, open_and_wait, send_drag, write_study


def test_no_display_exits_2_naming_the_headless_command(monkeypatch, capsys) -> None:  # noqa: ANN001
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(app_module.sys, "platform", "linux")
    assert app_module.main(["/some/study"]) == 2
    err = capsys.readouterr().err
    assert "ichview analyze PATH --pdf out.pdf" in err and "no display" in err


def test_settings_round_trip_through_qsettings(isolated_settings: Path) -> None:
    settings = Settings(
        recent_paths=("/a", "/b"),
        mouse=MouseMapping(left=PAN, middle=WINDOW, right=ZOOM),
        cine_fps=24.0,
        auto_run_ai=False,
        heatmap_opacity=0.7,
        heatmap_label="subdural",
    )
    save_settings(settings)
    assert str(isolated_settings) in settings_file_path()  # never the user's real settings
    assert load_settings() == settings.validated()


def test_recent_list_clear_and_turning_remembering_off(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    folder = write_study(tmp_path / "s", block_pattern_volume(3), seed="recent")
    open_and_wait(qtbot, main_window, [folder])
    assert load_settings().recent_paths == (str(folder),)
    texts = [a.text() for a in main_window.recent_menu.actions()]
    assert any(str(folder) in t for t in texts)
    main_window.clear_recent()
    assert load_settings().recent_paths == ()
    main_window.apply_settings(main_window.settings.with_changes(remember_recent=False))
    open_and_wait(qtbot, main_window, [folder])
    assert main_window.settings.recent_paths == ()
    assert load_settings().recent_paths == ()


def test_preferences_change_the_mouse_mapping(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    folder = write_study(tmp_path / "s", block_pattern_volume(3), seed="prefs")
    open_and_wait(qtbot, main_window, [folder])
    dialog = main_window.show_preferences()
    dialog.mouse_combos["left"].setCurrentIndex(dialog.mouse_combos["left"].findData(PAN))
    dialog.accept()
    assert main_window.slice_view.mouse_mapping.left == PAN
    assert load_settings().mouse.left == PAN
    view = main_window.slice_view
    viewport = view.graphics.viewport()
    centre = QtCore.QPointF(viewport.width() / 2, viewport.height() / 2)
    window_before, rect_before = view.window, view.view_box.viewRect()
    send_drag(viewport, centre, centre + QtCore.QPointF(50, 0))
    assert view.window == window_before  # the left drag pans now
    assert view.view_box.viewRect().left() < rect_before.left() - 1.0


def test_help_shortcuts_lists_keys_and_mouse_directions(qtbot, main_window) -> None:  # noqa: ANN001
    dialog = main_window.show_shortcuts()
    text = dialog.text.toPlainText()
    for expected in ("Next slice", "End", "Subdural", "Invert", "PgDown", "right = wider window", "Left button drag"):
        assert expected in text, expected
    dialog.close()


def test_about_names_the_log_file_and_the_log_holds_no_patient_data(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    from viewer.qt.dialogs import about_html

    path = setup_logging()
    try:
        assert str(path) in about_html(str(log_file_path()), settings_file_path())
        folder = write_study(tmp_path / "s", block_pattern_volume(3), seed="log", patient_name="DOE^JANE", patient_id="PID-4711")
        open_and_wait(qtbot, main_window, [folder])
        main_window.report_error(ValueError("boom"))
        get_logger().info("done")
        for handler in logging.getLogger("ichview").handlers:
            handler.flush()
        text = path.read_text()
        assert "ValueError" in text
        assert "DOE" not in text and "PID-4711" not in text and str(folder) not in text
    finally:
        close_logging()
    for box in QtWidgets.QApplication.topLevelWidgets():
        if isinstance(box, QtWidgets.QMessageBox):
            box.close()


def test_ichview_view_opens_the_given_path_and_exits_0_when_closed(qapp, tmp_path) -> None:  # noqa: ANN001
    from viewer.qt.main_window import MainWindow

    folder = write_study(tmp_path / "s", block_pattern_volume(3), seed="entry")
    seen: dict[str, int] = {}

    def poll() -> None:
        windows = [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if windows and windows[0].current_volume is not None and not windows[0].is_loading():
            seen["n_slices"] = windows[0].current_volume.n_slices
            windows[0].close()
        else:
            QtCore.QTimer.singleShot(50, poll)

    QtCore.QTimer.singleShot(50, poll)
    guard = QtCore.QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(qapp.quit)  # never hang the test run
    guard.start(60000)
    try:
        assert app_module.main(["--no-ai", str(folder)]) == 0
    finally:
        guard.stop()
        close_logging()
    assert seen == {"n_slices": 3}
