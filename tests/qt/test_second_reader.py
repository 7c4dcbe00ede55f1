"""The second reader (BLAST-CT) in the viewer, driven as a user drives it: open a small study, watch
the second reading's progress and the provisional verdict, see its outlines on the rendered image,
toggle them with L, read the strip's blood marks and the findings panel's volumes and citation,
switch series mid-reading, stop it.

The first reader is the real engine (shipped model) on tiny synthetic heads (64 x 64, 7 slices). The
second reader is a stand-in with BLAST-CT's interface (`iter_segment(volume, cancel)` yielding
`SecondReadProgress` items, then one `SecondReadResult`) whose reading is a known synthetic mask,
measured with the real reader's own measuring code, so every pixel and number has a known answer.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from ai_inputs import make_ct, model_weights, write_ct
from PySide6 import QtCore, QtGui
from window_driver import open_and_wait, viewport_image

from inference.readers.blast_ct.grid import slice_extents_mm
from inference.readers.blast_ct.measure import class_volumes_ml, find_components, slice_areas_mm2
from inference.readers.blast_ct.results import SecondReadProgress, SecondReadResult
from inference.results import Acceptance
from viewer.qt.ai_assist import AiAssist
from viewer.qt.ai_export import write_export
from viewer.qt.ai_run import default_threads
from viewer.qt.lesion_overlay import LESION_COLORS, label_borders
from viewer.qt.probability_strip import LESION_BAND
from viewer.report.verdict import SECOND_READER_CITATION

TIMEOUT_MS = 60_000
IPH, EAH, IVH = 1, 2, 4


# ------------------------------------------------------------------------------------ inputs
def lesion_mask(shape: tuple[int, int, int], variant: str) -> np.ndarray:
    """A known label map: 'a' = IPH block on slices 2-3 and IVH on slice 4; 'b' = EAH on slices 1-2."""
    labels = np.zeros(shape, np.uint8)
    if variant == "a":
        labels[2:4, 24:34, 20:30] = IPH
        labels[4, 30:36, 36:42] = IVH
    else:
        labels[1:3, 14:20, 40:50] = EAH
    return labels


def reading(volume, labels: np.ndarray, seconds: float = 1.0) -> SecondReadResult:  # noqa: ANN001
    """A SecondReadResult of `labels`, measured with the real reader's measuring code."""
    spacing = (float(volume.spacing_mm[1]), float(volume.spacing_mm[2]))
    components = find_components(labels, slice_extents_mm(volume), spacing)
    return SecondReadResult(
        series_uid=volume.series_uid,
        stack_id=volume.stack_id,
        labels=labels,
        slice_area_mm2=slice_areas_mm2(labels, spacing),
        volumes_ml=class_volumes_ml(components),
        components=components,
        models=("blast-ct-v1/model_1 (test stand-in)",),
        weights_sha256=("0" * 64,),
        device="cpu",
        seconds=seconds,
        acceptance=Acceptance(True),
    )


class StandInReader:
    """BLAST-CT's interface with a known answer per series ('a' for series 1, 'b' otherwise).

    `gate`: the last step waits for it (a reading that lasts until the test releases it); `steps`,
    `delay_s`: how long a reading lasts otherwise; `obey_cancel` False: keeps computing after a
    cancel (a tile already under way), to prove its late result is dropped anyway.
    """

    model_names = ("blast-ct-v1/model_1 (test stand-in)",)
    device = "cpu"

    def __init__(self, steps: int = 4, delay_s: float = 0.01, gate: threading.Event | None = None,
                 obey_cancel: bool = True) -> None:
        self.steps, self.delay_s, self.gate, self.obey_cancel = steps, delay_s, gate, obey_cancel
        self.calls: list[str] = []
        self.cancelled: list[str] = []
        self.results: list[SecondReadResult] = []

    def variant(self, volume) -> str:  # noqa: ANN001
        return "a" if volume.metadata.series_number == 1 else "b"

    def iter_segment(self, volume, cancel: threading.Event | None = None):  # noqa: ANN001, ANN201
        self.calls.append(volume.stack_id)
        yield SecondReadProgress(volume.series_uid, volume.stack_id, 0, self.steps)
        for i in range(self.steps):
            time.sleep(self.delay_s)
            if cancel is not None and cancel.is_set() and self.obey_cancel:
                self.cancelled.append(volume.stack_id)
                return
            yield SecondReadProgress(volume.series_uid, volume.stack_id, i + 1, self.steps)
        if self.gate is not None:
            assert self.gate.wait(30.0)
        result = reading(volume, lesion_mask(np.shape(volume.hu), self.variant(volume)))
        self.results.append(result)
        yield result


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_weights(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def two_series(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny head series (64 x 64, 7 slices of 5 mm): series 1 and 2."""
    folders = []
    for number in (1, 2):
        study = make_ct(
            20 + number, bleed=False, matrix=64, z_range_mm=(10.0, 40.0), series_number=number,
            description=f"TINY {number}", uid_seed=f"second-reader-{number}",
        )
        folders.append(write_ct(tmp_path_factory.mktemp(f"tiny{number}"), study))
    return folders[0], folders[1]


def attach(window, weights: Path, reader: StandInReader) -> AiAssist:  # noqa: ANN001
    return AiAssist(window, weights=weights, device="cpu", warm_up=False, second_loader=lambda: reader)


# ----------------------------------------------------------------------------------- helpers
def _rgb(image: QtGui.QImage) -> np.ndarray:
    img = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    return arr[:, : img.width(), 2::-1].astype(int)


def rendered_at_pixels(window, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """(n, 3) rendered colours at the centres of image pixels (rows, cols) of the shown slice."""
    view = window.slice_view
    image = viewport_image(window)
    rgb = _rgb(image)
    row_mm, col_mm = view.volume.pixel_spacing_mm
    dpr = image.devicePixelRatio()
    out = []
    for r, c in zip(rows, cols):
        p = view.graphics.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF((c + 0.5) * col_mm, (r + 0.5) * row_mm)))
        out.append(rgb[int(p.y() * dpr), int(p.x() * dpr)])
    return np.array(out)


def key(qtbot, window, key_code: QtCore.Qt.Key) -> None:  # noqa: ANN001
    target = window.slice_view.graphics
    target.setFocus()
    qtbot.keyClick(target, key_code)


def go_to_slice(qtbot, window, index: int) -> None:  # noqa: ANN001
    """Up / Down arrows until slice `index` is shown."""
    for _ in range(window.slice_view.volume.n_slices):
        now = window.slice_view.index
        if now == index:
            return
        key(qtbot, window, QtCore.Qt.Key.Key_Down if now < index else QtCore.Qt.Key.Key_Up)
    assert window.slice_view.index == index


def strip_band_colours(ai: AiAssist, n: int) -> np.ndarray:
    """(n, 3) rendered colours of the strip's lesion band at each slice."""
    ai.strip.flush()
    widget = ai.strip.plot_widget
    image = widget.grab().toImage()
    image.save(str(Path(__file__).resolve().parents[2] / "test-artifacts" / "second_reader_strip.png"))
    rgb = _rgb(image)
    dpr = image.devicePixelRatio()
    vb = ai.strip.plot_item.getViewBox()
    y = 0.5 * (LESION_BAND[0] + LESION_BAND[1])
    out = []
    for k in range(n):
        p = widget.mapFromScene(vb.mapViewToScene(QtCore.QPointF(k + 1.25, y)))  # off the axis ticks
        out.append(rgb[int(p.y() * dpr), int(p.x() * dpr)])
    return np.array(out)


# ------------------------------------------------------------------------------------- tests
def test_second_reading_outlines_strip_panel_and_export(qtbot, main_window, weights, two_series, tmp_path, artifacts_dir) -> None:  # noqa: ANN001
    window = main_window
    reader = StandInReader(steps=4, delay_s=0.15)
    ai = attach(window, weights, reader)
    seen: list[tuple[str, str, str]] = []  # (status bar progress, panel, verdict line) while reading
    ai.second_progressed.connect(
        lambda _sid, done, total: seen.append((ai.second_progress.text(), ai.panel.plain_text(), ai.verdict_label.text()))
    )
    try:
        with qtbot.waitSignal(ai.second_finished, timeout=TIMEOUT_MS) as finished:
            volume = open_and_wait(qtbot, window, [two_series[0]])
        assert finished.args[0] == volume.stack_id
        assert ai._second_host.threads == ai.threads == default_threads()  # follows the first reader

        # While it read: the status bar's progress, and the verdict provisional.
        assert any(bar == "Lesion segmentation (BLAST-CT) 3/4" for bar, _, _ in seen), [s[0] for s in seen]
        assert all("provisional" in panel.lower() for _, panel, _ in seen[1:])
        assert all("provisional" in line for _, _, line in seen[1:])
        assert "Lesion segmentation (BLAST-CT) 2/4" in seen[2][1]

        # After: the panel shows the combined verdict, who found it, volumes and the citation.
        result = reader.results[-1]
        text = ai.panel.plain_text()
        assert "Hemorrhage suspected" in text and "provisional" not in text.lower()
        assert "Found by: BLAST-CT" in text
        assert SECOND_READER_CITATION in text
        iph, ivh = result.volumes_ml["IPH"], result.volumes_ml["IVH"]
        assert iph > 1.0 and ivh > 0.1
        compact = "".join(text.split())  # the volume table's cells, one after another
        assert f"IPH{iph:.1f}slices3\u20134" in compact and f"EAH0.0\u2014oedema0.0\u2014IVH{ivh:.1f}slice5" in compact
        assert f"slices 3\u20134 ({iph:.1f} mL)" in text and f"slice 5 ({ivh:.1f} mL)" in text
        assert "Research and triage aid only" in text
        assert not ai.second_progress.isVisible()

        # The strip marks the slices with blood (IPH on 2-3, IVH on 4), in the classes' colours.
        band = strip_band_colours(ai, volume.n_slices)
        for k in range(volume.n_slices):
            if k == window.slice_view.index:
                continue  # the current-slice marker crosses the band there
            want = LESION_COLORS["IPH"] if k in (2, 3) else LESION_COLORS["IVH"] if k == 4 else None
            if want is None:
                assert abs(band[k] - (20, 20, 24)).max() <= 30, (k, band[k])
            else:
                assert abs(band[k] - want).max() <= 12, (k, band[k], want)
        legend_text = ai.strip.plot_item.getAxis("bottom").label.toPlainText()
        assert "BLAST-CT blood" in legend_text and "IPH" in legend_text and "IVH" in legend_text
        assert "EAH" not in legend_text

        # Outlines on the original pixels: slice 3 (index 2), heatmap off (H), lesion opacity full.
        go_to_slice(qtbot, window, 2)
        key(qtbot, window, QtCore.Qt.Key.Key_H)
        ai.lesion_opacity_slider.setValue(100)
        labels = lesion_mask(np.shape(volume.hu), "a")[2]
        border = label_borders(labels)
        inner = (labels > 0) & ~border
        br, bc = np.nonzero(border)
        ir, ic = np.nonzero(inner)
        on_border = rendered_at_pixels(window, br, bc)
        assert (abs(on_border - LESION_COLORS["IPH"]).max(axis=1) <= 10).all()
        on_inner = rendered_at_pixels(window, ir, ic)
        assert ((on_inner.max(axis=1) - on_inner.min(axis=1)) <= 6).all(), "inside an outline: the original grey"
        outside = rendered_at_pixels(window, np.array([10, 50]), np.array([10, 50]))
        assert ((outside.max(axis=1) - outside.min(axis=1)) <= 6).all()
        window.grab().save(str(artifacts_dir / "second_reader_overlay.png"))

        # The overlay follows the slice: on slice 5 (index 4) the IVH outline, in its colour.
        key(qtbot, window, QtCore.Qt.Key.Key_Down)
        key(qtbot, window, QtCore.Qt.Key.Key_Down)
        ivh_border = label_borders(lesion_mask(np.shape(volume.hu), "a")[4])
        vr, vc = np.nonzero(ivh_border)
        assert (abs(rendered_at_pixels(window, vr, vc) - LESION_COLORS["IVH"]).max(axis=1) <= 10).all()
        go_to_slice(qtbot, window, 2)

        # L hides the outlines (the original grey again), L shows them again.
        key(qtbot, window, QtCore.Qt.Key.Key_L)
        hidden = rendered_at_pixels(window, br, bc)
        assert ((hidden.max(axis=1) - hidden.min(axis=1)) <= 6).all()
        assert not ai.lesion_action.isChecked()
        key(qtbot, window, QtCore.Qt.Key.Key_L)
        assert (abs(rendered_at_pixels(window, br, bc) - LESION_COLORS["IPH"]).max(axis=1) <= 10).all()

        # The export carries the second reading (JSON written the way File > Export writes it).
        target = tmp_path / "findings.json"
        list(write_export(ai.study_findings(), [target]))
        data = json.loads(target.read_text())
        assert str(round(iph, 1)) in json.dumps(data) or f"{iph:.2f}" in json.dumps(data)
        assert "BLAST-CT" in json.dumps(data)
    finally:
        assert ai.shutdown(30.0)


def test_series_switch_drops_the_stale_reading_and_keeps_each_series_own(qtbot, main_window, weights, two_series) -> None:  # noqa: ANN001
    window = main_window
    gate = threading.Event()
    reader = StandInReader(steps=2, gate=gate, obey_cancel=False)
    ai = attach(window, weights, reader)
    try:
        # Series 1's reading has done its tiles and is computing its result (held at the gate).
        with qtbot.waitSignal(ai.second_progressed, timeout=TIMEOUT_MS, check_params_cb=lambda _s, d, t: d == t) as step:
            window.open_paths([str(p) for p in two_series])
        volume_a = window.current_volume
        assert step.args[0] == volume_a.stack_id and volume_a.metadata.series_number == 1
        job_a = ai.second_job()
        assert job_a is not None and job_a.is_running()
        dropped = ai.dropped_results

        # Page Down while series 1 is being read: its reading finishes late and is dropped.
        with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS) as loaded:
            qtbot.keyClick(window, QtCore.Qt.Key.Key_PageDown)
        volume_b = loaded.args[0]
        gate.set()
        assert job_a.wait(30.0)
        qtbot.waitUntil(lambda: ai.stack_findings(volume_b.stack_id) is not None
                        and ai.stack_findings(volume_b.stack_id).lesions is not None, timeout=TIMEOUT_MS)
        assert reader.results and reader.results[0].stack_id == volume_a.stack_id  # computed for series 1...
        assert ai.dropped_results > dropped  # ...and dropped
        assert ai.lesions.stack_id == volume_b.stack_id
        assert list(ai.strip.lesion_indices()) == [1, 2]  # series 2's EAH only
        text = ai.panel.plain_text()
        compact = "".join(text.split())
        assert "EAH" in text and "IVH0.0" in compact and "IPH0.0" in compact
        assert ai.stack_findings(volume_a.stack_id).lesions is None  # series 1 has no reading

        # Back to series 1: its stopped reading runs again and shows series 1's lesions.
        with qtbot.waitSignal(ai.second_finished, timeout=TIMEOUT_MS) as finished:
            qtbot.keyClick(window, QtCore.Qt.Key.Key_PageUp)
        assert finished.args[0] == volume_a.stack_id
        assert list(ai.strip.lesion_indices()) == [2, 3, 4]
        assert ai.lesions.stack_id == volume_a.stack_id

        # And series 2 again: its finished reading is shown at once, not read again.
        calls = list(reader.calls)
        with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
            qtbot.keyClick(window, QtCore.Qt.Key.Key_PageDown)
        assert ai.second_job() is None and reader.calls == calls
        assert list(ai.strip.lesion_indices()) == [1, 2] and ai.lesions.stack_id == volume_b.stack_id
    finally:
        gate.set()
        assert ai.shutdown(30.0)


def test_stop_ai_stops_the_second_reader_and_preferences_turn_it_off(qtbot, main_window, weights, two_series) -> None:  # noqa: ANN001
    window = main_window
    reader = StandInReader(steps=400, delay_s=0.02)
    ai = attach(window, weights, reader)
    try:
        with qtbot.waitSignal(ai.second_progressed, timeout=TIMEOUT_MS, check_params_cb=lambda _s, done, _t: done >= 2):
            volume = open_and_wait(qtbot, window, [two_series[0]])
        job = ai.second_job()
        assert job is not None and job.is_running()
        ai.cancel_action.trigger()  # AI > Stop AI
        assert job.wait(10.0), "the second reader did not stop"
        assert reader.cancelled == [volume.stack_id] and not reader.results
        qtbot.wait(50)
        assert not ai.second_progress.isVisible()
        assert not ai.lesions.has_labels() and ai.strip.lesion_indices().size == 0
        text = ai.panel.plain_text()
        assert "stopped" in text and "provisional" in text.lower()

        # Preferences: second reader off. Run AI: the first reader only, said so in the panel.
        window.apply_settings(window.settings.with_changes(second_reader=False))
        with qtbot.waitSignal(ai.inference_finished, timeout=TIMEOUT_MS):
            ai.run_action.trigger()
        qtbot.wait(100)
        assert ai.second_job() is None and reader.calls == [volume.stack_id]
        assert "is off (Preferences)" in ai.panel.plain_text()
    finally:
        assert ai.shutdown(30.0)


def test_second_reader_setting_is_stored(qtbot) -> None:  # noqa: ANN001
    from viewer.qt.settings_store import load_settings, save_settings
    from viewer.settings import Settings

    assert Settings().second_reader is True and Settings().lesion_style == "outline"
    save_settings(Settings().with_changes(second_reader=False, lesion_opacity=0.4, lesion_style="fill", lesion_visible=False))
    s = load_settings()
    assert (s.second_reader, s.lesion_opacity, s.lesion_style, s.lesion_visible) == (False, 0.4, "fill", False)
    assert Settings(lesion_style="bogus", lesion_opacity=3.0).validated().lesion_style == "outline"


def test_a_second_reader_that_cannot_load_is_said_once_without_a_message_box(qtbot, main_window, weights, two_series) -> None:  # noqa: ANN001
    from PySide6 import QtWidgets

    window = main_window
    loads: list[int] = []

    def missing() -> StandInReader:
        loads.append(1)
        raise FileNotFoundError("BLAST-CT weights folder not found")

    ai = AiAssist(window, weights=weights, device="cpu", warm_up=False, second_loader=missing)
    try:
        with qtbot.waitSignal(ai.second_finished, timeout=TIMEOUT_MS):
            open_and_wait(qtbot, window, [two_series[0]])
        text = ai.panel.plain_text()
        assert "did not run: BLAST-CT weights folder not found" in text and "provisional" in text.lower()
        assert "provisional" in ai.verdict_label.text()
        boxes = [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, QtWidgets.QMessageBox) and w.isVisible()]
        assert not boxes
        with qtbot.waitSignal(ai.inference_finished, timeout=TIMEOUT_MS):
            ai.run_action.trigger()
        qtbot.wait(50)
        assert ai.second_job() is None and loads == [1]  # not tried again for every run
        assert "did not run" in ai.panel.plain_text()
    finally:
        assert ai.shutdown(30.0)


@pytest.mark.slow
def test_real_blast_ct_reads_a_small_study_end_to_end(qtbot, main_window, weights, two_series) -> None:  # noqa: ANN001
    """The shipped BLAST-CT reader (default ensemble for the CPU) on a tiny synthetic head: about
    25 s on one thread here. A clean head: no blood expected, and the verdict is no longer provisional."""
    window = main_window
    ai = AiAssist(window, weights=weights, device="cpu", warm_up=False)
    bars: list[str] = []
    ai.second_progressed.connect(lambda *_: bars.append(ai.second_progress.text()))
    try:
        with qtbot.waitSignal(ai.second_finished, timeout=300_000) as finished:
            volume = open_and_wait(qtbot, window, [two_series[0]])
        assert finished.args[0] == volume.stack_id
        findings = ai.stack_findings(volume.stack_id)
        assert findings is not None and findings.lesions is not None and findings.lesions.analysed
        assert not findings.provisional
        assert findings.lesions.models and findings.lesions.models[0].startswith("blast-ct")
        assert bars and bars[-1].startswith("Lesion segmentation (BLAST-CT) ") and "/" in bars[-1]
        text = ai.panel.plain_text()
        assert SECOND_READER_CITATION in text and "Lesion segmentation (BLAST-CT)" in text
        assert ai.lesions.stack_id == volume.stack_id
    finally:
        assert ai.shutdown(60.0)


def test_export_is_the_study_on_screen_named_after_it(qtbot, main_window, weights, two_series, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """Two patients opened together: File > Export findings… writes only the study shown, under its
    patient ID / study date / accession."""
    from PySide6 import QtWidgets

    window = main_window
    reader = StandInReader(steps=1)
    ai = attach(window, weights, reader)
    try:
        with qtbot.waitSignal(ai.second_finished, timeout=TIMEOUT_MS):
            window.open_paths([str(p) for p in two_series])
        first = window.current_volume
        with qtbot.waitSignal(ai.second_finished, timeout=TIMEOUT_MS):
            qtbot.keyClick(window, QtCore.Qt.Key.Key_PageDown)
        second = window.current_volume
        assert first.metadata.patient_id != second.metadata.patient_id
        asked: list[str] = []
        target = tmp_path / "out.json"

        def save_dialog(*args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
            asked.append(args[2])
            return str(target), "JSON findings (*.json)"

        monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", staticmethod(save_dialog))
        with qtbot.waitSignal(ai.export_finished, timeout=TIMEOUT_MS):
            ai.export_action.trigger()
        m = second.metadata
        assert Path(asked[0]).name == f"ichview_{m.patient_id}_{m.study_date}_{m.accession_number}.pdf"
        text = target.read_text()
        assert m.patient_id in text and first.metadata.patient_id not in text
        assert first.metadata.study_uid not in text and first.stack_id not in text
        assert first.metadata.patient_id not in ai.panel.plain_text()
        # Back to the first: its own study only.
        with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
            qtbot.keyClick(window, QtCore.Qt.Key.Key_PageUp)
        study = ai.study_findings()
        assert {s.metadata.patient_id for s in study.stacks} == {first.metadata.patient_id}
        assert [meta.patient_id for meta in study.studies] == [first.metadata.patient_id]
    finally:
        assert ai.shutdown(30.0)
