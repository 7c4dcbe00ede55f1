"""The viewer's PACS side driven as a user drives it, against the real Orthanc of tests/pacs (its
fixtures are reused here): Preferences > PACS (add a node, Verify ok / a wrong port's error), File >
Open from PACS… (search by patient ID, see the series, retrieve by C-GET and the study opens; Cancel
mid-retrieve opens nothing and keeps nothing), AI > Send findings to PACS… (a C-FIND finds the SR).
Screenshots: test-artifacts/pacs_prefs.png, pacs_open.png."""
from __future__ import annotations

import threading
from pathlib import Path

import pydicom
import pytest
from PySide6 import QtWidgets

from tests.pacs.conftest import ct_study, local, node, orthanc, ports, send_ct, stored_study  # noqa: F401 (fixtures)
from tests.pacs.orthanc_server import ORTHANC_AET, free_port
from viewer.pacs.nodes import LocalAE, PacsConfig, PacsNode, load_config, save_config
from viewer.pacs.query import find_series

TIMEOUT_MS = 30_000


@pytest.fixture
def pacs_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node: PacsNode, local: LocalAE) -> Path:  # noqa: F811
    """A PACS settings file naming the test Orthanc, with a cache of this test's own."""
    path = tmp_path / "pacs.json"
    monkeypatch.setenv("ICHVIEW_PACS_CONFIG", str(path))
    save_config(PacsConfig(local=local, nodes=(node,), cache_folder=str(tmp_path / "cache"), cache_limit_mb=500), path)
    return path


def test_preferences_add_a_node_verify_ok_and_a_wrong_port_says_why(
    qtbot, main_window, orthanc, local, tmp_path, monkeypatch, artifacts_dir,  # noqa: ANN001, F811
) -> None:
    monkeypatch.setenv("ICHVIEW_PACS_CONFIG", str(tmp_path / "pacs.json"))
    monkeypatch.setenv("ICHVIEW_CACHE_DIR", str(tmp_path / "cache"))
    prefs = main_window.show_preferences()
    page = prefs.pacs_page
    prefs.tabs.setCurrentWidget(page)
    page.ae_title.setText(local.ae_title)

    def add(name: str, port: int) -> None:
        d = page.add_node()
        d.name.setText(name)
        d.ae_title.setText(ORTHANC_AET)
        d.host.setText("127.0.0.1")
        d.port.setValue(port)
        d.timeout.setValue(3)
        d.findChild(QtWidgets.QDialogButtonBox).button(QtWidgets.QDialogButtonBox.StandardButton.Ok).click()
        assert d.result() == QtWidgets.QDialog.DialogCode.Accepted, d.error.text()

    add("orthanc", orthanc.dicom_port)
    assert [n.name for n in page.nodes] == ["orthanc"]
    with qtbot.waitSignal(page.verified, timeout=TIMEOUT_MS) as got:
        page.verify_button.click()
    assert got.args[0].ok and page.table.item(0, 5).text().startswith("ok, ")
    assert "ms round trip" in page.verify_label.text()

    add("wrong-port", free_port())
    page.table.selectRow(1)
    with qtbot.waitSignal(page.verified, timeout=TIMEOUT_MS) as got:
        page.verify_button.click()
    assert not got.args[0].ok
    error = page.table.item(1, 5).text()
    assert error.startswith("cannot reach wrong-port (ORTHANC@127.0.0.1:") and "is the PACS running" in error
    assert error in page.verify_label.text()
    # the cache: its size measured in a worker, the patient-data statement shown
    qtbot.waitUntil(lambda: " of " in page.cache_size.text(), timeout=TIMEOUT_MS)
    assert "holds patient data" in " ".join(w.text() for w in page.findChildren(QtWidgets.QLabel))
    prefs.resize(900, 760)
    page.table.selectRow(1)
    prefs.grab().save(str(artifacts_dir / "pacs_prefs.png"))

    prefs.accept()
    saved = load_config(tmp_path / "pacs.json")
    assert [n.name for n in saved.nodes] == ["orthanc", "wrong-port"] and saved.local.ae_title == local.ae_title


def test_open_from_pacs_finds_by_patient_id_retrieves_by_c_get_and_opens(
    qtbot, main_window, pacs_settings, stored_study, ct_study, artifacts_dir,  # noqa: ANN001, F811
) -> None:
    main_window.open_pacs_action.trigger()
    dialog = main_window.pacs_dialog
    assert dialog.isVisible() and dialog.node() is not None
    dialog.via_combo.setCurrentIndex(dialog.via_combo.findData("dimse"))
    dialog.patient_id.setText("PACS-71")
    with qtbot.waitSignal(dialog.series_shown, timeout=TIMEOUT_MS):
        dialog.search_button.click()
    assert dialog.study_table.rowCount() == 1
    assert dialog.study_table.item(0, 1).text() == "PACS-71" and dialog.study_table.item(0, 0).text() == "SYNTHETIC^PACS"
    n = len(list(ct_study.glob("*.dcm")))
    assert dialog.series_table.rowCount() == 1 and dialog.series_table.item(0, 3).text() == str(n)
    dialog.grab().save(str(artifacts_dir / "pacs_open.png"))

    dialog.method_combo.setCurrentIndex(dialog.method_combo.findData("cget"))
    with qtbot.waitSignal(main_window.volume_loaded, timeout=TIMEOUT_MS) as loaded:
        dialog.retrieve_button.click()
    volume = loaded.args[0]
    assert volume.n_slices == n
    stacks = main_window.tree.stacks()
    assert [s.study_uid for s in stacks] == [stored_study]
    folder = Path(main_window.settings.recent_paths[0])
    assert folder.parent == pacs_settings.parent / "cache" / "studies" and not folder.name.endswith(".partial")
    assert not dialog.isVisible()
    assert dialog.shutdown(10.0)


def test_cancel_mid_retrieve_opens_nothing_and_keeps_nothing(
    qtbot, main_window, pacs_settings, stored_study, monkeypatch,  # noqa: ANN001, F811
) -> None:
    """The real C-GET, held after its first image until the user presses Cancel (so the cancel lands
    mid-retrieve on any machine)."""
    from viewer.qt import pacs_browser

    real = pacs_browser.retrieve_study
    first_seen = threading.Event()

    def held(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        gen = real(*args, **kwargs)
        yield next(gen)
        first_seen.set()
        kwargs["cancel"].wait(20)
        yield from gen

    monkeypatch.setattr(pacs_browser, "retrieve_study", held)
    opened: list[object] = []
    main_window.study_opened.connect(opened.append)
    main_window.open_pacs_action.trigger()
    dialog = main_window.pacs_dialog
    dialog.patient_id.setText("PACS-71")
    with qtbot.waitSignal(dialog.searched, timeout=TIMEOUT_MS):
        dialog.search_button.click()
    job = dialog.retrieve()
    assert job is not None and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.progress.value() >= 1, timeout=TIMEOUT_MS)
    assert first_seen.is_set()
    with qtbot.waitSignal(dialog.retrieve_ended, timeout=5000) as ended:
        dialog.cancel_button.click()
    assert ended.args == ["cancelled"]
    assert job.wait(20.0)
    qtbot.wait(300)  # anything late would arrive now
    assert opened == [] and main_window.tree is None and main_window.current_volume is None
    studies = pacs_settings.parent / "cache" / "studies"
    assert not studies.exists() or not any(studies.iterdir())  # no partial folder, no study
    assert "cancelled" in dialog.status.text() and dialog.retrieve_button.isEnabled()
    dialog.reject()
    assert dialog.shutdown(10.0)


def test_send_findings_stores_an_sr_that_a_c_find_finds(
    qtbot, main_window, pacs_settings, orthanc, node, local, tmp_path,  # noqa: ANN001, F811
) -> None:
    from tests.cli.analyze_inputs import write_ct_study, write_test_weights
    from viewer.qt.ai_assist import AiAssist
    from window_driver import open_and_wait

    dicom = write_ct_study(tmp_path / "ct", bleed=True, patient_name="SYNTHETIC^SEND", seed=74, patient_id="PACS-74")
    study_uid = send_ct(orthanc, dicom)
    assert str(pydicom.dcmread(next(dicom.glob("*.dcm")), stop_before_pixels=True).StudyInstanceUID) == study_uid
    main_window.apply_settings(main_window.settings.with_changes(second_reader=False))
    weights = write_test_weights(tmp_path / "w.safetensors", threshold=0.0)
    ai = AiAssist(main_window, weights=weights, device="cpu", threads=1, warm_up=False)
    main_window.ai_assist = ai
    try:
        with qtbot.waitSignal(ai.inference_finished, timeout=60_000):
            open_and_wait(qtbot, main_window, [dicom])
        ai_menu = next(a.menu() for a in main_window.menuBar().actions() if a.text().replace("&", "") == "AI")
        ai_menu.aboutToShow.emit()
        assert ai_menu.actions()[-1] is main_window.send_findings_action
        main_window.send_findings_action.trigger()
        sender = main_window.pacs_sender
        dialog = sender.dialog
        assert dialog is not None and dialog.node_combo.currentData() == "orthanc"
        with qtbot.waitSignal(sender.sent, timeout=TIMEOUT_MS) as sent:
            dialog.send_button.click()
        assert sent.args[0] == "orthanc" and sent.args[1] >= 2  # the SR and at least one key image
        assert "Sent the AI findings to orthanc" in main_window.statusBar().currentMessage()
        series = find_series(node, local, study_uid)
        assert sorted(s.modality for s in series) == ["CT", "OT", "SR"]
    finally:
        assert ai.shutdown(30.0)
        assert main_window.pacs_sender.shutdown(10.0) if hasattr(main_window, "pacs_sender") else True


def test_a_pacs_that_is_down_gives_a_clear_message_and_the_dialog_stays_usable(
    qtbot, main_window, tmp_path, monkeypatch, local,  # noqa: ANN001, F811
) -> None:
    path = tmp_path / "pacs.json"
    monkeypatch.setenv("ICHVIEW_PACS_CONFIG", str(path))
    down = PacsNode("down", "NOBODY", "127.0.0.1", free_port(), timeout_s=2)
    save_config(PacsConfig(local=local, nodes=(down,), cache_folder=str(tmp_path / "cache")), path)
    main_window.open_pacs_action.trigger()
    dialog = main_window.pacs_dialog
    assert dialog.via_combo.currentData() == "dimse"  # no DICOMweb URL: C-FIND only
    assert [dialog.method_combo.itemData(i) for i in range(dialog.method_combo.count())] == ["cget", "cmove"]
    with qtbot.waitSignal(dialog.failed, timeout=TIMEOUT_MS) as failed:
        dialog.search_button.click()
    assert failed.args[0].startswith("cannot reach down (NOBODY@127.0.0.1:") and "is the PACS running" in failed.args[0]
    assert dialog.status.text() == failed.args[0] and dialog.search_button.isEnabled()
    assert dialog.study_table.rowCount() == 0 and not dialog.retrieve_button.isEnabled()
    dialog.reject()
    assert dialog.shutdown(10.0) and main_window.tree is None
