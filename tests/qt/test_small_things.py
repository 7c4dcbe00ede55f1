"""The small things a radiologist noticed, each driven as a user would: a single slice's strip axis,
Help > Shortcuts, the loading progress and its words, F5 keeping the slice, where Open starts, the
heatmap's label words, its colours (the PDF's table) and its smooth core."""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets
from window_driver import block_pattern_volume, open_and_wait, write_study


def test_single_slice_series_strip_axis_is_whole_numbers(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    from viewer.qt.ai_assist import AiAssist

    main_window.apply_settings(main_window.settings.with_changes(auto_run_ai=False))
    ai = AiAssist(main_window, warm_up=False)
    try:
        open_and_wait(qtbot, main_window, [write_study(tmp_path / "one", block_pattern_volume(1), seed="one")])
        axis = ai.strip.plot_item.getAxis("bottom")
        assert axis._tickLevels == [[(1.0, "1")]]  # the ticks drawn (pyqtgraph keeps set ticks there)
    finally:
        assert ai.shutdown(10.0)


def test_help_shortcuts_lists_key_sequences_only(qtbot, main_window) -> None:  # noqa: ANN001
    qtbot.keyClick(main_window.slice_view.graphics, QtCore.Qt.Key.Key_F1)
    dialogs = [w for w in QtWidgets.QApplication.topLevelWidgets() if w.isVisible() and w.windowTitle().lower().startswith("keyboard")]
    from viewer.qt.dialogs import shortcuts_html

    html = shortcuts_html(main_window.shortcut_actions(), main_window.settings.mouse)
    assert "<b>F5</b>" in html and "Refresh" not in html.split("Reload")[0].split("<tr>")[-1]
    assert "or Refresh" not in html and "or Zoom In" not in html and "or Zoom Out" not in html
    for d in dialogs:
        d.close()


def test_loading_progress_and_status_text_agree_and_f5_keeps_the_slice(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    folder = write_study(tmp_path / "s", block_pattern_volume(40), seed="progress")
    seen: list[tuple[int, int, str]] = []
    bar = main_window.progress
    bar.valueChanged.connect(lambda v: seen.append((v, bar.maximum(), main_window.statusBar().currentMessage())))
    open_and_wait(qtbot, main_window, [folder])
    loading = [(v, m, text) for v, m, text in seen if m == 40]
    assert loading, seen
    for v, m, text in loading:
        assert text == f"Loading slices: {v} / {m}…", (v, m, text)
    view = main_window.slice_view
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_End)
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_Up)
    assert view.index == 38
    with qtbot.waitSignal(main_window.volume_loaded, timeout=30000):
        qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_F5)
    assert view.index == 38


def test_open_dialogs_start_beside_the_last_opened_folder(qtbot, main_window, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    asked: list[str] = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: asked.append(a[2]) or ""))
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: (asked.append(a[2]), "")[1:] + ("",)))
    from pathlib import Path

    main_window.settings = main_window.settings.with_changes(recent_paths=())
    main_window.open_folder_action.trigger()
    assert asked[-1] == str(Path.home())
    study = tmp_path / "studies" / "one"
    study.mkdir(parents=True)
    main_window.settings = main_window.settings.with_recent(str(study))
    main_window.open_folder_action.trigger()
    assert asked[-1] == str(tmp_path / "studies")
    main_window.open_files_action.trigger()
    assert asked[-1] == str(tmp_path / "studies")


def test_heatmap_label_words_match_the_toolbar_and_its_colours_the_pdf(qtbot, main_window) -> None:  # noqa: ANN001
    from viewer.qt.ai_assist import AiAssist
    from viewer.qt.dialogs import PreferencesDialog
    from viewer.qt.heatmap_overlay import colormap_lut
    from viewer.report.images import HEATMAP_LUT

    ai = AiAssist(main_window, warm_up=False)
    try:
        prefs = PreferencesDialog(main_window.settings.with_changes(heatmap_label="subdural"), main_window)
        words = [prefs.heatmap_label.itemText(i) for i in range(prefs.heatmap_label.count())]
        toolbar = [ai.label_combo.itemText(i) for i in range(ai.label_combo.count())]
        assert words == toolbar and prefs.heatmap_label.currentText() == "Subdural"
        assert prefs.result_settings().heatmap_label == "subdural"
        prefs.close()
    finally:
        assert ai.shutdown(10.0)
    np.testing.assert_array_equal(colormap_lut("CET-L17"), HEATMAP_LUT)


def test_heatmap_core_over_a_large_bleed_is_smooth(qtbot) -> None:  # noqa: ANN001
    from viewer.qt.heatmap_overlay import UPSAMPLE, smooth_cam

    cam = np.zeros((12, 12), np.float32)
    cam[3:9, 4:9] = 1.0  # a large bleed: 6 x 5 saturated cells
    out = smooth_cam(cam)
    f = UPSAMPLE

    def at(y: float, x: float) -> float:  # model cell coordinates
        return float(out[int(round((y + 0.5) * f - 0.5)), int(round((x + 0.5) * f - 0.5))])

    assert abs(out.max() - 1.0) < 1e-6
    assert at(5.5, 6.0) > at(3.0, 6.0) > at(3.0, 4.0)  # centre > edge > corner: a rounded, graded core
    single = np.zeros((12, 12), np.float32)
    single[6, 6] = 0.8
    assert abs(smooth_cam(single).max() - 0.8) < 1e-6  # a small hot spot keeps its value
