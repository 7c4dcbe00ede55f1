"""File > Open worklist…: a triage output folder's rows in a sortable table, a row's stored findings
shown read-only, and a double click opening the study's images from the folder the user points to."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets
from window_driver import block_pattern_volume, write_study

from viewer.analysis.triage import STATUS_ANALYSED, STATUS_NOT_ANALYSED, TriageEntry
from viewer.analysis.worklist import write_worklist
from viewer.core.loading import open_paths


def entry(study_id: str, *, suspected: bool | None, blood: float, max_any: float | None, study_uid: str, **kw) -> TriageEntry:  # noqa: ANN003
    fields = dict(
        study_id=study_id, patient_id=f"P-{study_id}", patient_name=f"SYNTHETIC^{study_id.upper()}", study_uid=study_uid,
        study_date="20260101", accession=f"ACC{study_id}", description="HEAD CT",
        status=STATUS_ANALYSED if suspected is not None else STATUS_NOT_ANALYSED,
        verdict={True: "Hemorrhage suspected", False: "No hemorrhage detected", None: ""}[suspected],
        suspected=suspected, max_any=max_any, max_any_slice=3 if max_any is not None else None, blood_ml=blood,
        volumes_ml={"IPH": blood, "EAH": 0.0, "oedema": 0.5, "IVH": 0.0}, second_reader=True, readers=(),
        disagreement="", not_analysed=() if suspected is not None else ("SCOUT: a localizer",), reason="",
        files={"json": f"studies/{study_id}/findings.json", "thumbnail": f"studies/{study_id}/key.png"},
        input_sha256="0" * 64, models_sha256=(), n_slices=6,
    )
    fields.update(kw)
    return TriageEntry(**fields)


def write_triage_output(out: Path, image_study_uid: str) -> list[TriageEntry]:
    entries = [
        entry("a", suspected=False, blood=0.0, max_any=0.12, study_uid="1.2.3.1"),
        entry("b", suspected=True, blood=12.5, max_any=0.91, study_uid=image_study_uid),
        entry("c", suspected=None, blood=0.0, max_any=None, study_uid="1.2.3.3"),
    ]
    for e in entries:
        folder = out / "studies" / e.study_id
        folder.mkdir(parents=True)
        doc = {"honest_use": "Research and triage aid only.", "series": [{
            "series_number": 2, "series_description": "AXIAL 5MM", "n_slices": 6,
            "verdict": {"text": e.verdict or "not analysed", "max_any": e.max_any, "max_any_slice_number": 4},
            "lesions": {"volumes_ml": e.volumes_ml}, "key_slices": [{"slice_number": 4}],
        }], "skipped": []}
        (folder / "findings.json").write_text(json.dumps(doc))
        image = QtGui.QImage(32, 32, QtGui.QImage.Format.Format_RGB32)
        image.fill(QtGui.QColor(200, 40, 40) if e.suspected else QtGui.QColor(40, 40, 200))
        image.save(str(folder / "key.png"))
    write_worklist(entries, out)
    return entries


def test_open_worklist_sort_read_findings_and_open_the_images(qtbot, main_window, tmp_path, monkeypatch, artifacts_dir) -> None:  # noqa: ANN001
    images = write_study(tmp_path / "images", block_pattern_volume(6), seed="worklist-images")
    image_study_uid = open_paths([images]).stacks()[0].study_uid
    out = tmp_path / "triage"
    write_triage_output(out, image_study_uid)
    answers = [str(out)]
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: answers.pop(0)))
    file_menu = next(a.menu() for a in main_window.menuBar().actions() if a.text().replace("&", "") == "File")
    next(a for a in file_menu.actions() if a.text().replace("&", "").startswith("Open worklist")).trigger()
    panel = main_window.worklist_panel
    table = panel.table
    assert main_window.worklist_dock.isVisible() and table.rowCount() == 3

    def column(name: str) -> list[str]:
        col = [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())].index(name)
        return [table.item(r, col).text() for r in range(table.rowCount())]

    # Worklist order: the suspected study first, then the negative, then the one not analysed.
    assert column("Patient") == ["SYNTHETIC^B (P-b)", "SYNTHETIC^A (P-a)", "SYNTHETIC^C (P-c)"]
    assert column("Blood (mL)") == ["12.5", "0.0", "—"] and column("Max P(any)") == ["0.91", "0.12", "—"]
    assert column("Verdict") == ["Hemorrhage suspected", "No hemorrhage detected", "Not analysed"]
    assert column("Not analysed")[2] == "SCOUT: a localizer"
    # A click on a header sorts by it (numbers as numbers).
    header = table.horizontalHeader()
    max_col = [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())].index("Max P(any)")
    qtbot.mouseClick(header.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     pos=QtCore.QPoint(header.sectionViewportPosition(max_col) + 5, header.height() // 2))
    first = column("Max P(any)")
    assert first in (["—", "0.12", "0.91"], ["0.91", "0.12", "—"])
    # Selecting the suspected row shows its stored findings, read-only, with its key image.
    row = column("Patient").index("SYNTHETIC^B (P-b)")
    table.selectRow(row)
    text = panel.findings.toPlainText()
    assert "Hemorrhage suspected" in text and "read-only" in text and "IPH 12.5 mL" in text and "Key slices: 4" in text
    assert panel.thumbnail.pixmap() is not None and not panel.thumbnail.pixmap().isNull()
    main_window.grab().save(str(artifacts_dir / "worklist.png"))
    # Double click: the user points to the images' folder; the study's series is shown.
    answers.append(str(images))
    rect = table.visualItemRect(table.item(row, 1))
    with qtbot.waitSignal(main_window.volume_loaded, timeout=30000):
        qtbot.mouseClick(table.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(table.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    assert main_window.current_volume.metadata.study_uid == image_study_uid
    # A folder without the study: said so.
    table.selectRow(column("Patient").index("SYNTHETIC^A (P-a)"))
    answers.append(str(images))
    with qtbot.waitSignal(main_window.study_opened, timeout=30000):
        panel.open_button.click()
    assert "does not hold the worklist's study" in main_window.last_notice
    for box in QtWidgets.QApplication.topLevelWidgets():
        if isinstance(box, QtWidgets.QMessageBox):
            box.close()
    qtbot.waitUntil(lambda: not main_window.is_loading(), timeout=30000)
    np.testing.assert_equal(main_window.worklist_panel.entries[0].study_id, "b")


def test_a_row_that_knows_its_folders_opens_its_images_without_asking(qtbot, main_window, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """Triage records the folders a study was read from: a double click opens them directly."""
    from viewer.analysis.worklist import write_worklist

    images = write_study(tmp_path / "images", block_pattern_volume(6), seed="worklist-direct")
    uid = open_paths([images]).stacks()[0].study_uid
    out = tmp_path / "triage"
    out.mkdir()
    write_worklist([entry("d", suspected=True, blood=3.0, max_any=0.8, study_uid=uid, source_dirs=(str(images),))], out)

    def never(*a, **k):  # noqa: ANN002, ANN003
        raise AssertionError("no folder dialog for a row that knows its folders")

    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory", staticmethod(never))
    main_window.open_worklist(out)
    table = main_window.worklist_panel.table
    rect = table.visualItemRect(table.item(0, 1))
    with qtbot.waitSignal(main_window.volume_loaded, timeout=30000):
        qtbot.mouseClick(table.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(table.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    assert main_window.current_volume.metadata.study_uid == uid
    qtbot.waitUntil(lambda: not main_window.is_loading(), timeout=30000)
