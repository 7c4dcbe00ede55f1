"""The main window driven as a user drives it: open, scroll, window, drop, junk, real data, pixels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from inference.synth.variants import Grid, write_feet_first, write_plain
from window_driver import (
    block_pattern_volume,
    expected_block_greys,
    open_and_wait,
    rendered_block_greys,
    rendered_grey,
    send_drag,
    send_wheel,
    viewport_image,
    write_study,
)

N_SLICES = 20


@pytest.fixture(scope="module")
def block_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """20 slices of 64x64 random flat blocks, 3 mm pixels (a 192 mm field)."""
    hu = block_pattern_volume(N_SLICES, seed=3)
    folder = write_study(tmp_path_factory.mktemp("blocks"), hu, pixel_spacing_mm=(3.0, 3.0), seed="blocks")
    return folder, hu


@pytest.fixture(scope="module")
def bands_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 slices with three flat vertical bands: HU -20, 80 and 180."""
    hu = np.zeros((3, 60, 60), np.int16)
    hu[:, :, :20], hu[:, :, 20:40], hu[:, :, 40:] = -20, 80, 180
    return write_study(tmp_path_factory.mktemp("bands"), hu, pixel_spacing_mm=(3.0, 3.0), seed="bands")


def _assert_shows_slice(window, hu: np.ndarray, index: int) -> None:  # noqa: ANN001
    width, center = window.slice_view.window
    got = rendered_block_greys(window, viewport_image(window))
    want = expected_block_greys(hu[index], width, center)
    # Leave out the top and bottom block rows, where the A/P orientation letters are drawn.
    np.testing.assert_allclose(got[1:-1], want[1:-1], atol=2)


def test_open_shows_middle_slice_then_wheel_moves_five_slices(qtbot, main_window, block_study) -> None:  # noqa: ANN001
    folder, hu = block_study
    volume = open_and_wait(qtbot, main_window, [folder])
    assert volume.n_slices == N_SLICES
    view = main_window.slice_view
    start = view.index
    assert start == N_SLICES // 2
    _assert_shows_slice(main_window, hu, start)
    viewport = view.graphics.viewport()
    centre = QtCore.QPointF(viewport.width() / 2, viewport.height() / 2)
    send_wheel(viewport, centre, -5)  # five notches towards the user: next slices
    assert view.index == start + 5
    _assert_shows_slice(main_window, hu, start + 5)
    assert main_window.slider.value() == start + 5
    send_wheel(viewport, centre, 1, QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert view.index == start + 5 - 10


def test_keys_end_home_arrows(qtbot, main_window, block_study) -> None:  # noqa: ANN001
    folder, hu = block_study
    open_and_wait(qtbot, main_window, [folder])
    view = main_window.slice_view
    target = view.graphics
    target.setFocus()
    qtbot.keyClick(target, QtCore.Qt.Key.Key_End)
    assert view.index == N_SLICES - 1
    _assert_shows_slice(main_window, hu, N_SLICES - 1)
    qtbot.keyClick(target, QtCore.Qt.Key.Key_Home)
    assert view.index == 0
    _assert_shows_slice(main_window, hu, 0)
    qtbot.keyClick(target, QtCore.Qt.Key.Key_Down)
    assert view.index == 1
    qtbot.keyClick(target, QtCore.Qt.Key.Key_Down, QtCore.Qt.KeyboardModifier.ShiftModifier)
    assert view.index == 11
    qtbot.keyClick(target, QtCore.Qt.Key.Key_Up)
    assert view.index == 10
    _assert_shows_slice(main_window, hu, 10)


def _band_greys(window) -> tuple[int, int, int]:  # noqa: ANN001
    image = viewport_image(window)
    y = 30 * 3.0
    return tuple(rendered_grey(window, image, x_px * 3.0, y) for x_px in (10, 30, 50))  # type: ignore[return-value]


def test_key_2_subdural_window_maps_minus20_80_180_to_0_128_255(qtbot, main_window, bands_study) -> None:  # noqa: ANN001
    open_and_wait(qtbot, main_window, [bands_study])
    qtbot.keyClick(main_window.slice_view.graphics, QtCore.Qt.Key.Key_2)
    low, mid, high = _band_greys(main_window)
    assert abs(low - 0) <= 1 and abs(mid - 128) <= 1 and abs(high - 255) <= 1, (low, mid, high)
    assert main_window.preset_combo.currentText() == "Subdural"
    qtbot.keyClick(main_window.slice_view.graphics, QtCore.Qt.Key.Key_I)
    inv = _band_greys(main_window)
    assert abs(inv[0] - 255) <= 1 and abs(inv[2] - 0) <= 1, inv


def test_window_drag_right_widens_and_left_narrows(qtbot, main_window, bands_study) -> None:  # noqa: ANN001
    open_and_wait(qtbot, main_window, [bands_study])
    key_5 = QtCore.Qt.Key.Key_5  # soft tissue, W 400 / L 40: no band is clipped
    qtbot.keyClick(main_window.slice_view.graphics, key_5)
    viewport = main_window.slice_view.graphics.viewport()
    centre = QtCore.QPointF(viewport.width() / 2, viewport.height() / 2)
    low0, mid0, high0 = _band_greys(main_window)
    contrast0 = high0 - low0

    send_drag(viewport, centre, centre + QtCore.QPointF(60, 0))  # left button: window/level
    low1, _, high1 = _band_greys(main_window)
    assert main_window.slice_view.window[0] > 400
    assert high1 - low1 < contrast0 - 10, "dragging right must widen the window (less contrast)"
    assert main_window.preset_combo.currentText() == "Custom"

    qtbot.keyClick(main_window.slice_view.graphics, key_5)
    send_drag(viewport, centre, centre - QtCore.QPointF(40, 0))
    low2, _, high2 = _band_greys(main_window)
    assert main_window.slice_view.window[0] < 400
    assert high2 - low2 > contrast0 + 10, "dragging left must narrow the window (more contrast)"

    qtbot.keyClick(main_window.slice_view.graphics, key_5)
    send_drag(viewport, centre, centre + QtCore.QPointF(0, 30))  # down: higher level, darker
    assert main_window.slice_view.window[1] > 40
    assert _band_greys(main_window)[1] < mid0 - 10


def test_right_drag_zooms_middle_drag_pans_f_fits(qtbot, main_window, bands_study) -> None:  # noqa: ANN001
    open_and_wait(qtbot, main_window, [bands_study])
    view = main_window.slice_view
    viewport = view.graphics.viewport()
    centre = QtCore.QPointF(viewport.width() / 2, viewport.height() / 2)
    zoom0 = view.zoom_factor()
    send_drag(viewport, centre, centre - QtCore.QPointF(0, 50), QtCore.Qt.MouseButton.RightButton)
    assert view.zoom_factor() > zoom0 * 1.2
    rect0 = view.view_box.viewRect()
    send_drag(viewport, centre, centre + QtCore.QPointF(40, 0), QtCore.Qt.MouseButton.MiddleButton)
    assert view.view_box.viewRect().left() < rect0.left() - 1.0  # image moved right with the mouse
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_F)
    assert abs(view.zoom_factor() - zoom0) < 1e-3


def test_drop_a_folder_opens_it(qtbot, main_window, block_study) -> None:  # noqa: ANN001
    folder, _ = block_study
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(folder))])
    pos = QtCore.QPointF(300, 300)
    actions = QtCore.Qt.DropAction.CopyAction
    enter = QtGui.QDragEnterEvent(pos.toPoint(), actions, mime, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(main_window, enter)
    assert enter.isAccepted()
    drop = QtGui.QDropEvent(pos, actions, mime, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(main_window.volume_loaded, timeout=30000):
        QtWidgets.QApplication.sendEvent(main_window, drop)
    assert main_window.current_volume.n_slices == N_SLICES
    assert str(folder) in main_window.settings.recent_paths


def test_junk_folder_lists_skip_reasons_and_app_stays_usable(qtbot, main_window, tmp_path, block_study) -> None:  # noqa: ANN001
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("not an image")
    (junk / "empty.dcm").write_bytes(b"")
    (junk / "random.bin").write_bytes(np.random.default_rng(0).bytes(3000))
    before = sorted(p.name for p in junk.iterdir())
    with qtbot.waitSignal(main_window.study_opened, timeout=30000):
        main_window.open_paths([junk])
    qtbot.waitUntil(lambda: main_window.skipped_dialog is not None and main_window.skipped_dialog.isVisible())
    reasons = main_window.skipped_dialog.reasons()
    assert len(reasons) == 3 and all(reasons)
    assert main_window.skipped_button.isVisible() and "3 files skipped" in main_window.skipped_button.text()
    assert "No image series" in main_window.warning_label.text()
    assert main_window.last_error_text == ""
    assert sorted(p.name for p in junk.iterdir()) == before  # nothing written into the folder
    main_window.skipped_dialog.close()
    folder, hu = block_study
    open_and_wait(qtbot, main_window, [folder])
    _assert_shows_slice(main_window, hu, main_window.slice_view.index)


def test_real_ge_tilted_loads_with_its_warnings_visible(qtbot, main_window, real_data) -> None:  # noqa: ANN001
    volume = open_and_wait(qtbot, main_window, [real_data / "ge_head_ct_tilted"])
    assert volume.n_slices == 28
    text = main_window.warning_label.text().lower()
    assert "tilt" in text and "spacing" in text
    item = main_window.series_browser.item_for(volume.stack_id)
    assert "tilt" in item.text(3)
    corners = main_window.slice_view.corner_texts()
    assert "Tilt 18.5°" in corners["top_right"]
    assert f"/ {volume.n_slices}" in corners["top_right"]
    labels = main_window.slice_view.orientation_labels()
    assert labels["left"] == "R" and labels["right"] == "L" and labels["top"].startswith("A")


def test_real_philips_loads_and_shows_its_skipped_file(qtbot, main_window, real_data) -> None:  # noqa: ANN001
    volume = open_and_wait(qtbot, main_window, [real_data / "philips_head_phantom_5mm"])
    assert volume.n_slices == 28
    assert main_window.skipped_button.isVisible() and "1 file skipped" in main_window.skipped_button.text()
    dialog = main_window.show_skipped()
    assert "directory file" in dialog.reasons()[0].lower()
    dialog.close()
    image = viewport_image(main_window)
    assert QtGui.QColor(image.pixel(image.width() // 2, image.height() // 2)).red() > 0  # the phantom shows


def test_feet_first_displays_like_head_first(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    grid = Grid(n_slices=6, rows=96, cols=96, row_spacing_mm=2.5, col_spacing_mm=2.5)
    write_plain(tmp_path / "hfs", grid=grid, seed=5)
    write_feet_first(tmp_path / "ffs", grid=grid, seed=5)
    main_window.slice_view.set_corner_text_visible(False)  # patient names differ; the image must not
    open_and_wait(qtbot, main_window, [tmp_path / "hfs"])
    head_first = viewport_image(main_window)
    labels_hfs = main_window.slice_view.orientation_labels()
    open_and_wait(qtbot, main_window, [tmp_path / "ffs"])
    feet_first = viewport_image(main_window)
    assert main_window.slice_view.orientation_labels() == labels_hfs == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert head_first == feet_first


def test_opening_another_study_while_loading_cancels_the_first(qtbot, main_window, tmp_path, block_study) -> None:  # noqa: ANN001
    big = write_study(tmp_path / "big", block_pattern_volume(80, rows=256, cols=256, seed=9), seed="big")
    folder, hu = block_study
    shown: list[str] = []
    main_window.volume_loaded.connect(lambda v: shown.append(v.stack_id))
    main_window.open_paths([big])
    qtbot.waitUntil(lambda: main_window.job("load") is not None, timeout=30000)
    first_job = main_window.job("load")
    open_and_wait(qtbot, main_window, [folder])
    assert first_job.cancelled
    assert first_job.wait(20.0)
    assert main_window.current_volume.n_slices == N_SLICES
    assert len(shown) == 1 and shown[0] == main_window.current_stack_id
    _assert_shows_slice(main_window, hu, main_window.slice_view.index)


def test_decode_error_shows_a_message_without_traceback(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    from viewer.core.loading import open_paths

    folder = write_study(tmp_path / "s", block_pattern_volume(4), seed="broken")
    tree = open_paths([folder])
    victim = tree.stacks()[0].slices[1].path
    victim.write_bytes(victim.read_bytes()[:600])  # truncated after the scan: decoding must fail
    # Since the loader makes an undecodable slice a gap (air, a decode_failed warning naming it), the
    # series still opens: the warning is on screen, and nothing shows a traceback.
    with qtbot.waitSignal(main_window.volume_loaded, timeout=30000) as blocker:
        main_window._on_tree(tree)  # the handler a finished scan calls
    volume = blocker.args[0]
    assert volume.missing_slices == (1,)
    assert "decode failed" in main_window.warning_label.text()
    assert main_window.isVisible()
    boxes = [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, QtWidgets.QMessageBox) and w.isVisible()]
    assert all("Traceback" not in box.text() for box in boxes)
    for box in boxes:
        box.close()


def test_page_down_switches_series(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    a = block_pattern_volume(5, seed=1)
    b = block_pattern_volume(7, seed=2)
    write_study(tmp_path / "study", a, seed="two", series_number=1)
    write_study(tmp_path / "study" / "b", b, seed="two", series_number=2, series_uid="1.2.826.0.1.3680043.10.1146.99.2")
    open_and_wait(qtbot, main_window, [tmp_path / "study"])
    first = main_window.current_stack_id
    assert main_window.current_volume.n_slices == 5
    with qtbot.waitSignal(main_window.volume_loaded, timeout=30000):
        qtbot.keyClick(main_window.slice_view.graphics, QtCore.Qt.Key.Key_PageDown)
    assert main_window.current_volume.n_slices == 7 and main_window.current_stack_id != first
    _assert_shows_slice(main_window, b, main_window.slice_view.index)
    qtbot.keyClick(main_window.slice_view.graphics, QtCore.Qt.Key.Key_PageUp)  # decoded before: at once
    assert main_window.current_volume.n_slices == 5
    _assert_shows_slice(main_window, a, main_window.slice_view.index)


def test_corner_text_key_and_cursor_hu(qtbot, main_window, bands_study) -> None:  # noqa: ANN001
    open_and_wait(qtbot, main_window, [bands_study])
    view = main_window.slice_view
    assert view.corner_text_visible
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_T)
    assert not view.corner_text_visible
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_T)
    assert view.corner_text_visible
    scene = view.view_box.mapViewToScene(QtCore.QPointF(50 * 3.0 + 1, 30 * 3.0 + 1))
    pos = view.graphics.mapFromScene(scene)
    qtbot.mouseMove(view.graphics.viewport(), pos)
    qtbot.waitUntil(lambda: "180 HU" in main_window.cursor_label.text())
    assert "x 50" in main_window.cursor_label.text() and "y 30" in main_window.cursor_label.text()


def test_screenshot_of_the_main_window(qtbot, main_window, real_data, artifacts_dir) -> None:  # noqa: ANN001
    open_and_wait(qtbot, main_window, [real_data / "ge_head_ct_tilted"])
    main_window.slice_view.render_now()
    path = artifacts_dir / "main_window_ge_tilted.png"
    assert main_window.grab().save(str(path))
    image = QtGui.QImage(str(path))
    assert image.width() >= 1000 and image.height() >= 600


def test_cine_plays_and_pauses_with_space(qtbot, main_window, block_study) -> None:  # noqa: ANN001
    folder, hu = block_study
    open_and_wait(qtbot, main_window, [folder])
    view = main_window.slice_view
    main_window.fps_spin.setValue(30)
    start = view.index
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_Space)
    assert main_window.cine_timer.isActive() and main_window.cine_action.isChecked()
    qtbot.waitUntil(lambda: view.index != start, timeout=3000)
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_Space)
    assert not main_window.cine_timer.isActive()
    stopped_at = view.index
    qtbot.wait(150)
    assert view.index == stopped_at
    _assert_shows_slice(main_window, hu, stopped_at)


def test_first_slice_is_on_screen_before_the_volume_is_decoded(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    hu = block_pattern_volume(40, rows=128, cols=128, seed=11)
    folder = write_study(tmp_path / "s", hu, pixel_spacing_mm=(1.5, 1.5), seed="preview")
    events: list[str] = []
    previews: list[np.ndarray] = []

    def on_first(_stack_id: str, index: int) -> None:
        events.append(f"first {index}")
        main_window.slice_view.render_now()
        image = main_window.slice_view.graphics.viewport().grab().toImage()
        v = main_window.slice_view
        row_mm, col_mm = 1.5, 1.5
        greys = np.zeros((16, 16), np.int32)
        for br in range(16):
            for bc in range(16):
                scene = v.view_box.mapViewToScene(QtCore.QPointF((bc + 0.5) * 8 * col_mm, (br + 0.5) * 8 * row_mm))
                p = v.graphics.mapFromScene(scene)
                greys[br, bc] = QtGui.QColor(image.pixel(p.x(), p.y())).red()
        previews.append(greys)

    main_window.first_slice_shown.connect(on_first)
    main_window.volume_loaded.connect(lambda v: events.append("volume"))
    open_and_wait(qtbot, main_window, [folder])
    assert events == ["first 20", "volume"]
    want = expected_block_greys(hu[20], 80.0, 40.0)
    np.testing.assert_allclose(previews[0][1:-1], want[1:-1], atol=2)


def test_every_series_gets_a_thumbnail(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    write_study(tmp_path / "study", block_pattern_volume(5, seed=1), seed="thumbs", series_number=1)
    write_study(tmp_path / "study" / "b", block_pattern_volume(7, seed=2), seed="thumbs", series_number=2,
                series_uid="1.2.826.0.1.3680043.10.1146.99.3")
    open_and_wait(qtbot, main_window, [tmp_path / "study"])
    browser = main_window.series_browser
    other = next(s for s in browser.stack_ids if s != main_window.current_stack_id)

    def thumbnail_has_image(stack_id: str) -> bool:
        pixmap = browser.item_for(stack_id).icon(0).pixmap(64, 64)
        image = pixmap.toImage()
        return any(QtGui.QColor(image.pixel(x, 32)).red() > 60 for x in range(image.width()))

    qtbot.waitUntil(lambda: thumbnail_has_image(other), timeout=20000)
    assert thumbnail_has_image(main_window.current_stack_id)


def test_cancel_button_stops_loading_and_the_app_stays_usable(qtbot, main_window, tmp_path, block_study) -> None:  # noqa: ANN001
    big = write_study(tmp_path / "big", block_pattern_volume(60, rows=256, cols=256, seed=4), seed="cancel-me")
    clicked: list[bool] = []

    def click_cancel(_stack_id: str, _index: int) -> None:
        assert main_window.cancel_button.isVisible() and main_window.progress.isVisible()
        qtbot.mouseClick(main_window.cancel_button, QtCore.Qt.MouseButton.LeftButton)
        clicked.append(True)

    main_window.first_slice_shown.connect(click_cancel)
    with qtbot.waitSignal(main_window.first_slice_shown, timeout=30000):
        main_window.open_paths([big])
    main_window.first_slice_shown.disconnect(click_cancel)
    job = main_window.job("load")
    assert clicked and job is None  # the slot let go of the cancelled job
    assert main_window.shutdown_jobs(20.0)
    qtbot.wait(100)  # anything still queued from the cancelled job is dropped
    assert main_window.current_volume is None
    assert not main_window.progress.isVisible() and not main_window.cancel_button.isVisible()
    assert "F5" in main_window.slice_view.corner_texts()["top_left"]
    with qtbot.waitSignal(main_window.volume_loaded, timeout=30000):
        qtbot.keyClick(main_window.slice_view.graphics, QtCore.Qt.Key.Key_F5)
    assert main_window.current_volume.n_slices == 60
    folder, hu = block_study
    open_and_wait(qtbot, main_window, [folder])
    _assert_shows_slice(main_window, hu, main_window.slice_view.index)


def _disk_study(folder: Path, n: int, base: int, seed: str, **spec: object) -> Path:
    """n slices of 40x40 (3 mm pixels): air around a disk of HU base + 10 k on slice k."""
    hu = np.full((n, 40, 40), -1000, np.int16)
    yy, xx = np.mgrid[:40, :40]
    disk = (yy - 20) ** 2 + (xx - 20) ** 2 <= 12**2
    for k in range(n):
        hu[k][disk] = base + 10 * k
    return write_study(folder, hu, pixel_spacing_mm=(3.0, 3.0), seed=seed, **spec)


def test_still_mouse_readout_follows_end_wheel_cine_and_series_switch(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    _disk_study(tmp_path / "study", 6, 100, "disks", series_number=1)
    _disk_study(tmp_path / "study" / "b", 4, 500, "disks", series_number=2,
                series_uid="1.2.826.0.1.3680043.10.1146.99.7")
    open_and_wait(qtbot, main_window, [tmp_path / "study"])
    view, label = main_window.slice_view, main_window.cursor_label
    assert main_window.current_volume.n_slices == 6
    pos = view.graphics.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(20 * 3.0 + 1, 20 * 3.0 + 1)))
    qtbot.mouseMove(view.graphics.viewport(), pos)
    qtbot.waitUntil(lambda: f"{100 + 10 * view.index} HU" in label.text())
    # The mouse stays where it is from here on.
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_End)
    assert view.index == 5 and label.text().endswith("150 HU"), label.text()
    send_wheel(view.graphics.viewport(), QtCore.QPointF(pos), 1)  # wheel up: previous slice
    assert view.index == 4 and label.text().endswith("140 HU"), label.text()
    qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_Home)
    assert label.text().endswith("100 HU")
    main_window._cine_step()  # one cine frame
    assert view.index == 1 and label.text().endswith("110 HU"), label.text()
    with qtbot.waitSignal(main_window.volume_loaded, timeout=30000):
        qtbot.keyClick(view.graphics, QtCore.Qt.Key.Key_PageDown)
    assert main_window.current_volume.n_slices == 4
    assert label.text().endswith(f"{500 + 10 * view.index} HU"), label.text()


def test_slice_keys_move_slices_after_a_click_on_the_series_list_or_the_strip(qtbot, main_window, tmp_path) -> None:  # noqa: ANN001
    from viewer.qt.ai_assist import AiAssist

    main_window.apply_settings(main_window.settings.with_changes(auto_run_ai=False))
    ai = AiAssist(main_window, warm_up=False)
    try:
        _disk_study(tmp_path / "study", 6, 100, "keys", series_number=1)
        _disk_study(tmp_path / "study" / "b", 5, 500, "keys", series_number=2,
                    series_uid="1.2.826.0.1.3680043.10.1146.99.8")
        open_and_wait(qtbot, main_window, [tmp_path / "study"])
        first = main_window.current_stack_id
        tree = main_window.series_browser.tree
        second = next(s for s in main_window.series_browser.stack_ids if s != first)
        rect = tree.visualItemRect(main_window.series_browser.item_for(second))
        with qtbot.waitSignal(main_window.volume_loaded, timeout=30000):
            qtbot.mouseClick(tree.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
        assert main_window.current_stack_id == second
        view = main_window.slice_view
        index = view.index
        focus = QtWidgets.QApplication.focusWidget() or main_window
        qtbot.keyClick(focus, QtCore.Qt.Key.Key_Down)
        assert main_window.current_stack_id == second and view.index == index + 1
        qtbot.keyClick(QtWidgets.QApplication.focusWidget() or main_window, QtCore.Qt.Key.Key_Home)
        assert view.index == 0 and main_window.current_stack_id == second

        # The AI strip: a click, then End; and its wheel moves the slices too.
        strip = ai.strip.plot_widget
        qtbot.mouseClick(strip.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=strip.viewport().rect().center())
        qtbot.keyClick(QtWidgets.QApplication.focusWidget() or main_window, QtCore.Qt.Key.Key_End)
        assert view.index == 4
        send_wheel(strip.viewport(), QtCore.QPointF(strip.viewport().rect().center()), 2)  # up: back 2
        assert view.index == 2
    finally:
        assert ai.shutdown(10.0)
