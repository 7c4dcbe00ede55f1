"""The series browser lists patient -> study -> stacks, shows thumbnails and warning badges."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui
from PySide6.QtTest import QTest

from viewer.core import warnings as W
from viewer.core.scan import SliceHeader
from viewer.core.series import Patient, Series, Stack, StackGeometry, Study, StudyTree
from viewer.core.warnings import StackWarning
from viewer.qt.series_browser import COL_DESCRIPTION, COL_SLICES, COL_THICKNESS, COL_WARNINGS, SeriesBrowser


def _stack(stack_id: str, description: str, n: int, *, thickness: float = 5.0, warnings=(), rows=64, cols=64, spacing=(0.5, 0.5)):
    series_uid = stack_id.split("#")[0]
    slices = tuple(
        SliceHeader(
            path=Path(f"/nonexistent/{stack_id}/{k}.dcm"), frame=None, sop_instance_uid=f"{series_uid}.{k}",
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2", series_uid=series_uid, study_uid="9.9", patient_id="PID1",
            modality="CT", rows=rows, columns=cols, pixel_spacing_mm=spacing, slice_thickness_mm=thickness,
        )
        for k in range(n)
    )
    geometry = StackGeometry((0.0, 0.0, 1.0), tuple(k * thickness for k in range(n)), thickness, thickness, thickness, 0.0)
    return Stack(stack_id, series_uid, "9.9", "PID1", "CT", description, slices, geometry, tuple(warnings))


TILT = StackWarning(W.GANTRY_TILT, "Gantry tilt of 15.0° detected: slices are sheared.")
GAPS = StackWarning(W.MISSING_SLICES, "2 slices appear to be missing between 40 mm and 55 mm.")


def _tree() -> StudyTree:
    brain = _stack("1.1", "Head 5mm", 30)
    bone = _stack("1.2", "Head bone", 120, thickness=1.25, warnings=(TILT, GAPS))
    split_a = _stack("1.3#1", "Mixed", 10)
    split_b = _stack("1.3#2", "Mixed", 4, rows=32, cols=64, spacing=(0.4, 0.8))
    study = Study(
        "9.9", "CT HEAD WO", "20260101",
        (
            Series("1.1", 2, "Head 5mm", "CT", (brain,)),
            Series("1.2", 3, "Head bone", "CT", (bone,)),
            Series("1.3", 4, "Mixed", "CT", (split_a, split_b)),
        ),
    )
    return StudyTree((Patient("PID1", "Doe^Jane", (study,)),), ())


@pytest.fixture
def browser(qtbot):
    b = SeriesBrowser()
    qtbot.addWidget(b)
    b.resize(520, 420)
    b.set_tree(_tree())
    b.show()
    qtbot.waitExposed(b)
    return b


def test_rows_show_description_count_thickness_and_patient(browser):
    assert browser.stack_ids == ["1.1", "1.2", "1.3#1", "1.3#2"]
    item = browser.item_for("1.2")
    assert "Head bone" in item.text(COL_DESCRIPTION)
    assert item.text(COL_SLICES) == "120"
    assert item.text(COL_THICKNESS) == "1.25 mm"
    assert browser.item_for("1.1").text(COL_THICKNESS) == "5 mm"
    top = browser.tree.topLevelItem(0)
    assert "Doe, Jane" in top.text(0) and "PID1" in top.text(0)
    assert "2026-01-01" in top.child(0).text(0)
    assert "stack 2 of 2" in browser.item_for("1.3#2").text(COL_DESCRIPTION)


def test_warning_badge_has_icon_words_and_tooltip(browser):
    item = browser.item_for("1.2")
    assert item.text(COL_WARNINGS) == "tilt, gaps"
    assert not item.icon(COL_WARNINGS).isNull()
    tooltip = item.toolTip(COL_WARNINGS)
    assert TILT.message in tooltip and GAPS.message in tooltip
    clean = browser.item_for("1.1")
    assert clean.text(COL_WARNINGS) == "" and clean.icon(COL_WARNINGS).isNull()


def test_thumbnail_rendered_in_brain_window_with_aspect(browser, artifacts_dir):
    # Brain window W80/L40: 0 HU -> black, 40 HU -> mid grey, 80 HU -> white.
    hu = np.zeros((32, 64), np.int16)
    hu[:, 21:42] = 40
    hu[:, 42:] = 80
    browser.set_thumbnail("1.3#2", hu)  # 32 x 64 pixels of 0.4 x 0.8 mm: 12.8 mm tall, 51.2 mm wide
    img = browser.item_for("1.3#2").icon(COL_DESCRIPTION).pixmap(64, 64).toImage()
    img = img.convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    arr = np.array([[img.pixelColor(x, y).red() for x in range(img.width())] for y in range(img.height())])
    mid_row = arr[arr.shape[0] // 2]
    assert mid_row[5] < 10 and abs(int(mid_row[32]) - 128) <= 6 and mid_row[58] > 245
    lit_rows = np.nonzero((arr > 100).any(axis=1))[0]
    assert len(lit_rows) == pytest.approx(16, abs=1)  # 64 px wide -> 16 px tall (aspect 1:4 in mm)
    browser.set_thumbnail("1.1", np.full((64, 64), 40, np.int16))
    browser.grab().save(str(artifacts_dir / "series_browser.png"))


def test_click_and_keyboard_select_stacks(browser, qtbot):
    tree = browser.tree
    rect = tree.visualItemRect(browser.item_for("1.2"))
    with qtbot.waitSignal(browser.stack_selected) as blocker:
        QTest.mouseClick(tree.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == ["1.2"]
    tree.setFocus()
    with qtbot.waitSignal(browser.stack_selected) as blocker:
        QTest.keyClick(tree, QtCore.Qt.Key.Key_Down)  # skips the split series' header row
    assert blocker.args == ["1.3#1"]
    with qtbot.waitSignal(browser.stack_selected) as blocker:
        QTest.keyClick(tree, QtCore.Qt.Key.Key_PageUp)
    assert blocker.args == ["1.2"]
    assert browser.current_stack_id == "1.2"


def test_select_next_previous_and_select_stack(browser, qtbot):
    seen: list[str] = []
    browser.stack_selected.connect(seen.append)
    browser.select_stack("1.1")
    assert browser.select_next() and browser.select_next() and browser.select_next()
    assert not browser.select_next()  # at the end: stays
    assert browser.select_previous()
    assert seen == ["1.1", "1.2", "1.3#1", "1.3#2", "1.3#1"]
    browser.select_stack("1.3#1")  # already current: no signal
    assert seen[-1] == "1.3#1" and len(seen) == 5


def test_real_tilted_ge_series_shows_its_warnings(qtbot, real_data, artifacts_dir):
    from viewer.core.loading import open_paths

    tree = open_paths([real_data / "ge_head_ct_tilted", real_data / "philips_head_phantom_5mm"], workers=1)
    b = SeriesBrowser()
    qtbot.addWidget(b)
    b.resize(560, 360)
    b.set_tree(tree)
    b.show()
    qtbot.waitExposed(b)
    badges = {sid: b.item_for(sid).text(COL_WARNINGS) for sid in b.stack_ids}
    tilted = [sid for sid, text in badges.items() if "tilt" in text]
    assert tilted, badges
    item = b.item_for(tilted[0])
    assert "tilt" in item.toolTip(COL_WARNINGS).lower()
    assert int(item.text(COL_SLICES)) >= 2
    b.grab().save(str(artifacts_dir / "series_browser_real.png"))


def test_thickness_of_a_mixed_series_is_its_range_and_one_slice_is_singular() -> None:
    from types import SimpleNamespace

    from viewer.qt.series_browser import slices_text, stack_thickness_text

    def stack(*thicknesses):  # noqa: ANN002, ANN202
        return SimpleNamespace(
            slices=[SimpleNamespace(slice_thickness_mm=t) for t in thicknesses],
            geometry=SimpleNamespace(slice_spacing_median_mm=None),
        )

    assert stack_thickness_text(stack(4.0, 7.0, 5.0, 4.0)) == "4\u20137 mm"
    assert stack_thickness_text(stack(5.0, 5.0)) == "5 mm"
    assert stack_thickness_text(stack(None)) == "\u2014"
    assert slices_text(1) == "1 slice" and slices_text(28) == "28 slices"
