"""The AI assist driven as a user drives it: open a study, watch the results stream in, jump to the
bleed, see the heatmap on the rendered image, export the report, switch series mid-run.

The model is the shipped one (resources/model/ichview-ich.safetensors). The verdict tests need it:
they assert that the trained model finds the synthetic bleed and calls the clean head negative.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from ai_inputs import bleed_slices, make_ct, model_weights, write_ct
from PySide6 import QtCore, QtGui, QtWidgets
from window_driver import open_and_wait, viewport_image

from inference.labels import LABELS
from viewer.report.findings import HONEST_USE, VERDICT_NEGATIVE, VERDICT_POSITIVE
from viewer.qt.ai_assist import AiAssist
from viewer.qt.ai_export import EXPORT_FILTERS
from viewer.qt.ai_run import default_threads
from tests.model_shortfall import KNOWN_SHORTFALL, expect_model

TIMEOUT_MS = 120_000


# ------------------------------------------------------------------------------------ inputs
@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_weights(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def bleed_study(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """(DICOM folder, SyntheticStudy): a bleed on 2-3 slices; calcifications and dense falx elsewhere."""
    study = make_ct(1, bleed=True, patient_name="DOE^JANE")
    return write_ct(tmp_path_factory.mktemp("bleed"), study), study


@pytest.fixture(scope="module")
def clean_study(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A head without a bleed (same hard negatives), with a Japanese patient name (ISO_IR 192)."""
    study = make_ct(2, bleed=False, patient_name="山田^花子")
    return write_ct(tmp_path_factory.mktemp("clean"), study), study


@pytest.fixture(scope="module")
def long_series(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two long 2.5 mm series of one patient (series 1 and 2): a run on either lasts many batches."""
    folders = []
    for number in (1, 2):
        study = make_ct(
            10 + number, bleed=False, matrix=128, slice_mm=2.5, z_range_mm=(-75.0, 70.0),
            series_number=number, description=f"LONG {number}", uid_seed=f"ai-long-{number}",
        )
        folders.append(write_ct(tmp_path_factory.mktemp(f"long{number}"), study))
    return folders[0], folders[1]


@pytest.fixture(scope="module")
def bone_kernel_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short series reconstructed with a bone kernel: the engine refuses it."""
    study = make_ct(4, bleed=False, matrix=128, z_range_mm=(0.0, 20.0), kernel_name="BONE")
    return write_ct(tmp_path_factory.mktemp("bone"), study)


def controller(window, weights: Path) -> AiAssist:  # noqa: ANN001
    """The window's own AI assist when the main window creates one, else one attached here."""
    existing = getattr(window, "ai_assist", None)
    if existing is not None:
        return existing
    # These tests are about the first reader; the second (BLAST-CT, ~25 s a tiny study on a CPU)
    # has its own tests (test_second_reader.py) and would only slow these down in the background.
    window.apply_settings(window.settings.with_changes(second_reader=False))
    return AiAssist(window, weights=weights, device="cpu")  # default threads: all cores but one


@pytest.fixture
def assisted(main_window, weights: Path):  # noqa: ANN001, ANN201
    """The real main window with the AI attached; every thread joined after."""
    ai = controller(main_window, weights)
    yield main_window, ai
    assert ai.shutdown(30.0), "an AI thread did not end"
    assert main_window.shutdown_jobs(30.0), "a worker thread did not end"
    assert not ai.is_running()


# ----------------------------------------------------------------------------------- helpers
def open_and_analyse(qtbot, window, ai: AiAssist, folder: Path):  # noqa: ANN001, ANN201
    """File > Open's path, then wait for the inference-finished signal of the shown stack."""
    with qtbot.waitSignal(ai.inference_finished, timeout=TIMEOUT_MS) as finished:
        volume = open_and_wait(qtbot, window, [folder])
    assert finished.args[0] == volume.stack_id
    return volume


def _rgb(image: QtGui.QImage) -> np.ndarray:
    img = image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    return arr[:, : img.width(), 2::-1].astype(int)


def heat_pixels(window) -> int:  # noqa: ANN001
    """Coloured (non-grey) pixels rendered over the central part of the image, where the head is."""
    view = window.slice_view
    image = viewport_image(window)
    rgb = _rgb(image)
    v = view.volume
    rows, cols = v.hu.shape[1:]
    row_mm, col_mm = v.pixel_spacing_mm
    dpr = image.devicePixelRatio()

    def to_px(x_mm: float, y_mm: float) -> tuple[int, int]:
        p = view.graphics.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(x_mm, y_mm)))
        return int(p.x() * dpr), int(p.y() * dpr)

    x0, y0 = to_px(0.15 * cols * col_mm, 0.15 * rows * row_mm)
    x1, y1 = to_px(0.85 * cols * col_mm, 0.85 * rows * row_mm)
    box = rgb[y0:y1, x0:x1]
    chroma = box.max(axis=-1) - box.min(axis=-1)
    return int((chroma > 40).sum())


def calcified_clean_slice(hu: np.ndarray, bleed: list[int]) -> int:
    """A slice well below the bleed with the most calcium (130-1000 HU) in the middle of the head
    (pineal, choroid plexus, basal ganglia): a hard negative."""
    rows = hu.shape[1]
    a, b = int(rows * 0.35), int(rows * 0.65)
    centre = hu[:, a:b, a:b]
    counts = ((centre > 130) & (centre < 1000)).sum(axis=(1, 2))
    candidates = [i for i in range(bleed[0] - 3)]
    best = max(candidates, key=lambda i: int(counts[i]))
    assert counts[best] > 10, "the clean slices should hold calcifications"
    return best


def coloured_fraction(window, mask: np.ndarray) -> float:  # noqa: ANN001
    """The fraction of a mask's image pixels (rows, cols of the shown slice) rendered coloured."""
    view = window.slice_view
    image = viewport_image(window)
    rgb = _rgb(image)
    chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
    row_mm, col_mm = view.volume.pixel_spacing_mm
    dpr = image.devicePixelRatio()
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return 0.0
    # Image pixel centres -> screen pixels through the view's own mapping (affine: two points do).
    o = view.graphics.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(0.0, 0.0)))
    e = view.graphics.mapFromScene(view.view_box.mapViewToScene(QtCore.QPointF(100.0 * col_mm, 100.0 * row_mm)))
    xs = (o.x() + (cols + 0.5) * (e.x() - o.x()) / 100.0) * dpr
    ys = (o.y() + (rows + 0.5) * (e.y() - o.y()) / 100.0) * dpr
    inside = (xs >= 0) & (ys >= 0) & (xs < chroma.shape[1]) & (ys < chroma.shape[0])
    hits = chroma[ys[inside].astype(int), xs[inside].astype(int)] > 40
    return float(hits.sum()) / rows.size


def pdf_pages(path: Path) -> list[tuple[str, int]]:
    """(text, number of embedded images) per page."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        out = []
        for page in pdf:
            text = page.get_textpage().get_text_range()
            images = len(list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4)))
            out.append((" ".join(text.split()), images))
        return out
    finally:
        pdf.close()


def export_via_menu(qtbot, window, ai: AiAssist, monkeypatch, target: Path, chosen: str = EXPORT_FILTERS[0]):  # noqa: ANN001, ANN201
    """File > Export findings… with the file dialog answering `target` (the only thing patched)."""
    monkeypatch.setattr(
        QtWidgets.QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), chosen))
    )
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "File")
    action = next(a for a in file_menu.actions() if a.text().replace("&", "").startswith("Export findings"))
    assert action is ai.export_action and action.isEnabled()
    action.trigger()


def key(qtbot, window, key_code: QtCore.Qt.Key, modifier=QtCore.Qt.KeyboardModifier.NoModifier) -> None:  # noqa: ANN001
    target = window.slice_view.graphics
    target.setFocus()
    qtbot.keyClick(target, key_code, modifier)


# ------------------------------------------------------------------------------------- tests
@KNOWN_SHORTFALL
def test_bleed_study_end_to_end(qtbot, assisted, bleed_study, tmp_path, monkeypatch, artifacts_dir) -> None:  # noqa: ANN001
    window, ai = assisted
    folder, study = bleed_study
    volume = open_and_analyse(qtbot, window, ai, folder)
    n = volume.n_slices
    assert ai.strip.n_points() == n  # one point per slice
    assert ai.worker_torch_threads == default_threads() == max(1, (os.cpu_count() or 1) - 1)
    bleed = bleed_slices(study)

    # The verdict, in words, with the honest-use statement, wherever it is shown.
    findings = ai.stack_findings(volume.stack_id)
    assert findings is not None and findings.ich_suspected is True
    assert VERDICT_POSITIVE in ai.panel.plain_text() and HONEST_USE in ai.panel.plain_text()
    assert VERDICT_POSITIVE in ai.verdict_label.text() and "not a diagnosis" in ai.verdict_label.text()
    assert "not a diagnosis" in ai.status_label.text()

    # The rendered image: heatmap colours on the bleed slice, none on a clean slice with calcifications.
    inside = max(bleed, key=lambda i: ai.strip.probabilities("any")[i])
    window.slice_view.set_index(inside)
    assert f"Slice {inside + 1} / {n}" in ai.readout_label.text()
    assert heat_pixels(window) > 50
    # ... over the bleed: its pixels are far more often drawn coloured than the rest of the head's.
    on_bleed = study.masks["intraparenchymal"][inside]
    head = (volume.hu[inside] > -200) & ~on_bleed
    bleed_fraction, head_fraction = coloured_fraction(window, on_bleed), coloured_fraction(window, head)
    assert bleed_fraction >= 0.1 and bleed_fraction >= 5 * head_fraction, (bleed_fraction, head_fraction)
    viewport_image(window).save(str(artifacts_dir / "ai_bleed_slice.png"))
    window.grab().save(str(artifacts_dir / "ai_window_bleed.png"))
    calcified = calcified_clean_slice(volume.hu, bleed)
    window.slice_view.set_index(calcified)
    assert heat_pixels(window) == 0
    # H hides the heatmap on the bleed slice and brings it back.
    window.slice_view.set_index(inside)
    key(qtbot, window, QtCore.Qt.Key.Key_H)
    assert heat_pixels(window) == 0 and not ai.heatmap_action.isChecked()
    key(qtbot, window, QtCore.Qt.Key.Key_H)
    assert heat_pixels(window) > 50

    # File > Export findings… -> PDF and JSON.
    target = tmp_path / "findings.pdf"
    with qtbot.waitSignal(ai.export_finished, timeout=TIMEOUT_MS) as done:
        export_via_menu(qtbot, window, ai, monkeypatch, target)
    assert sorted(done.args[0]) == sorted([str(target), str(target.with_suffix(".json"))])
    pages = pdf_pages(target)
    assert len(pages) == 3  # summary, per-slice chart, key images
    assert "DOE, JANE" in pages[0][0] and VERDICT_POSITIVE in pages[0][0]
    assert pages[2][1] >= 2 * len(findings.key_slices) >= 2  # each key slice plain and with heatmap
    import json

    data = json.loads(target.with_suffix(".json").read_text(encoding="utf-8"))
    assert data["series"][0]["verdict"]["ich_suspected"] is True
    assert len(data["series"][0]["slices"]) == n
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.json", "findings.pdf"]

    # The headless `ichview analyze` on the same study writes the same verdict and probabilities.
    from viewer.cli.analyze import main as analyze

    headless = tmp_path / "headless" / "h.json"
    headless.parent.mkdir()
    assert analyze([str(folder), "--json", str(headless), "--weights", str(ai.engine.path), "--device", "cpu",
                    "--threads", "1", "--quiet", "--second-reader", "off"]) == 0  # as the GUI here
    cli = json.loads(headless.read_text(encoding="utf-8"))["series"][0]
    assert cli["verdict"]["ich_suspected"] is True
    gui_any = [s["probabilities"]["any"] for s in data["series"][0]["slices"]]
    cli_any = [s["probabilities"]["any"] for s in cli["slices"]]
    np.testing.assert_allclose(gui_any, cli_any, atol=1e-4)

    # N from the first slice jumps into the bleed (no clean slice on the way reaches the threshold),
    # Shift+N from the last slice too.
    # N always lands on the first slice at or above the operating threshold (the viewer's part)...
    key(qtbot, window, QtCore.Qt.Key.Key_Home)
    key(qtbot, window, QtCore.Qt.Key.Key_N)
    probs = np.round(ai.strip.probabilities("any"), 2).tolist()
    above = [i for i, p in enumerate(ai.strip.probabilities("any")) if p >= ai.engine.threshold]
    assert window.slice_view.index == min(i for i in above if i > 0)
    # ... and that slice is in the bleed only if the model leaves the clean slices below it.
    expect_model(window.slice_view.index in bleed, (
        f"N went to slice {window.slice_view.index}, the bleed is on {bleed}; P(any) per slice {probs}, "
        f"threshold {ai.engine.threshold:.3f}"))
    key(qtbot, window, QtCore.Qt.Key.Key_End)
    key(qtbot, window, QtCore.Qt.Key.Key_N, QtCore.Qt.KeyboardModifier.ShiftModifier)
    expect_model(window.slice_view.index in bleed, f"Shift+N went to slice {window.slice_view.index}")


@KNOWN_SHORTFALL
def test_clean_study_negative_with_non_latin_name_in_pdf(qtbot, assisted, clean_study, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    window, ai = assisted
    folder, _study = clean_study
    volume = open_and_analyse(qtbot, window, ai, folder)
    assert ai.strip.n_points() == volume.n_slices
    findings = ai.stack_findings(volume.stack_id)
    assert findings is not None

    target = tmp_path / "clean.pdf"
    with qtbot.waitSignal(ai.export_finished, timeout=TIMEOUT_MS):
        export_via_menu(qtbot, window, ai, monkeypatch, target, EXPORT_FILTERS[1])
    assert [p.name for p in tmp_path.iterdir()] == ["clean.pdf"]  # PDF only, as chosen
    pages = pdf_pages(target)
    assert len(pages) == 3
    assert "山田" in pages[0][0] and "花子" in pages[0][0]  # the report's own name formatting
    assert findings.verdict_text in pages[0][0]  # the verdict the viewer shows

    # A head without a bleed (calcifications, dense falx): negative, in words; N finds nothing.
    probs = np.round(ai.strip.probabilities("any"), 2).tolist()
    expect_model(findings.ich_suspected is False, f"P(any) per slice {probs}, threshold {ai.engine.threshold:.3f}")
    assert VERDICT_NEGATIVE in ai.panel.plain_text() and VERDICT_NEGATIVE in pages[0][0]
    assert VERDICT_NEGATIVE in ai.verdict_label.text()
    before = window.slice_view.index
    key(qtbot, window, QtCore.Qt.Key.Key_N)
    assert window.slice_view.index == before
    assert "No later slice" in window.statusBar().currentMessage()
    assert heat_pixels(window) == 0


def test_switch_series_mid_run_drops_late_results(qtbot, assisted, long_series, weights) -> None:  # noqa: ANN001
    window, ai = assisted
    first, second = long_series
    with qtbot.waitSignal(ai.result_shown, timeout=TIMEOUT_MS):
        window.open_paths([str(first), str(second)])  # what File > Open does
    volume_a = window.current_volume
    assert volume_a is not None and volume_a.metadata.series_number == 1
    job_a = ai.job()
    assert job_a is not None and job_a.key == volume_a.stack_id
    assert job_a.is_running(), "inference on series 1 must still be running when switching"
    run_a = ai.current_run
    done_a = run_a.n_done
    assert done_a < volume_a.n_slices

    # Page Down: the next series, while series 1 is still being analysed.
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS) as loaded:
        qtbot.keyClick(window, QtCore.Qt.Key.Key_PageDown)
        assert ai.current_run is None and ai.overlay.cam is None and ai.strip.n_points() == 0
    volume_b = loaded.args[0]
    assert volume_b.stack_id != volume_a.stack_id
    assert job_a.wait(30.0)
    qtbot.wait(50)
    assert ai.dropped_results > 0
    run_b = ai.current_run
    assert run_b is None or run_b.stack_id == volume_b.stack_id

    # Down moves the slice while series 2 is still being analysed.
    job_b = ai.job()
    assert job_b is not None and job_b.key == volume_b.stack_id and job_b.is_running()
    index = window.slice_view.index
    key(qtbot, window, QtCore.Qt.Key.Key_Down)
    assert window.slice_view.index == index + 1
    assert job_b.is_running()
    qtbot.waitUntil(lambda: ai.stack_findings(volume_b.stack_id) is not None, timeout=TIMEOUT_MS)
    assert ai.stack_findings(volume_a.stack_id) is None  # series 1 was never finished

    # Nothing of series 1 reached series 2: the strip and the heatmap hold exactly series 2's results.
    from inference.predict import Engine

    reference = Engine.load(weights, device="cpu", threads=1).analyze(volume_b)
    np.testing.assert_allclose(ai.strip.probabilities("any"), reference.probabilities[:, 0], atol=1e-4)
    i = window.slice_view.index
    np.testing.assert_allclose(
        ai.overlay.cam.astype(np.float32), reference.cams[i].astype(np.float32), atol=2e-3
    )
    assert ai.strip.n_points() == volume_b.n_slices

    # Back to series 1: it was never finished, so it resumes where it stopped (the slices it had
    # analysed are shown at once, never computed again) and ends with the whole series' results.
    kept = run_a.n_done
    assert kept >= done_a and ai.stack_findings(volume_a.stack_id) is None
    sent: list[int] = []
    ai.result_shown.connect(lambda sid, i: sent.append(i) if sid == volume_a.stack_id else None)
    with qtbot.waitSignal(ai.inference_finished, timeout=TIMEOUT_MS) as finished:
        with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
            qtbot.keyClick(window, QtCore.Qt.Key.Key_PageUp)
        assert ai.current_run is run_a and ai.strip.n_points() >= kept
    assert finished.args[0] == volume_a.stack_id
    assert sorted(sent) == list(range(kept, volume_a.n_slices)), "only the missing slices were computed"
    reference_a = Engine.load(weights, device="cpu", threads=1).analyze(volume_a)
    np.testing.assert_allclose(ai.strip.probabilities("any"), reference_a.probabilities[:, 0], atol=1e-4)
    np.testing.assert_allclose(run_a.cams["any"].astype(np.float32), reference_a.cams.astype(np.float32), atol=2e-3)
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        qtbot.keyClick(window, QtCore.Qt.Key.Key_PageDown)
    assert ai.job() is None  # no new run: the finished results are shown again
    assert ai.current_run.stack_id == volume_b.stack_id and ai.strip.n_points() == volume_b.n_slices
    np.testing.assert_allclose(ai.strip.probabilities("any"), reference.probabilities[:, 0], atol=1e-4)


def test_refused_stack_shows_not_analysed_and_auto_run_off_waits_for_run_ai(qtbot, main_window, weights, bone_kernel_study) -> None:  # noqa: ANN001
    window = main_window
    window.apply_settings(window.settings.with_changes(auto_run_ai=False))
    ai = controller(window, weights)
    try:
        open_and_wait(qtbot, window, [bone_kernel_study])
        qtbot.wait(100)
        assert ai.job() is None and ai.current_run is None  # the preference is respected
        assert "not run" in ai.status_label.text()
        with qtbot.waitSignal(ai.inference_finished, timeout=TIMEOUT_MS):
            ai.run_action.trigger()
        text = ai.panel.plain_text()
        assert "Not analysed" in text and "kernel" in text.lower()
        assert "Not analysed" in ai.verdict_label.text()
        assert ai.strip.n_points() == 0
        key(qtbot, window, QtCore.Qt.Key.Key_Down)  # scrolling a refused stack never reads "pending"
        assert ai.readout_label.text().endswith(": not analysed"), ai.readout_label.text()
    finally:
        assert ai.shutdown(30.0)


def test_export_failure_midway_leaves_nothing_and_tells_the_user(qtbot, assisted, clean_study, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    window, ai = assisted
    open_and_analyse(qtbot, window, ai, clean_study[0])
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").mkdir()  # the JSON cannot be written: the PDF goes first and succeeds
    with qtbot.waitSignal(window.error_reported, timeout=TIMEOUT_MS) as error:
        export_via_menu(qtbot, window, ai, monkeypatch, out / "report.pdf")
    assert "report.json" in error.args[0]
    assert [p.name for p in out.iterdir()] == ["report.json"]  # no PDF, no temp file
    assert not any((out / "report.json").iterdir())
    boxes = [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, QtWidgets.QMessageBox) and w.isVisible()]
    assert any("report.json" in b.text() for b in boxes)

    # A report is never written into the study folder: refused before anything is written.
    before = sorted(p.name for p in clean_study[0].iterdir())
    with qtbot.waitSignal(window.error_reported, timeout=TIMEOUT_MS) as error:
        export_via_menu(qtbot, window, ai, monkeypatch, clean_study[0] / "inside.pdf")
    assert "study folder" in error.args[0]
    assert sorted(p.name for p in clean_study[0].iterdir()) == before


def test_closing_the_window_mid_run_stops_inference(qtbot, assisted, long_series) -> None:  # noqa: ANN001
    window, ai = assisted
    with qtbot.waitSignal(ai.result_shown, timeout=TIMEOUT_MS):
        window.open_paths([str(long_series[0])])
    job = ai.job()
    assert job is not None and job.is_running()
    window.close()
    assert job.wait(30.0) and job.cancelled
    assert ai.stack_findings(job.key) is None


def test_label_opacity_threshold_controls(qtbot, assisted, bleed_study) -> None:  # noqa: ANN001
    window, ai = assisted
    open_and_analyse(qtbot, window, ai, bleed_study[0])
    ai.label_combo.setCurrentIndex(LABELS.index("intraparenchymal"))
    assert ai.strip.label == "intraparenchymal"
    assert "P(intraparenchymal)" in ai.readout_label.text()
    ai.opacity_slider.setValue(20)
    assert ai.overlay.opacity == pytest.approx(0.2)
    ai.threshold_slider.setValue(70)
    assert ai.overlay.display_threshold == pytest.approx(0.7)
    # The display threshold changes the picture only: the verdict keeps the model's threshold.
    findings = ai.stack_findings(window.current_volume.stack_id)
    assert findings.threshold == pytest.approx(ai.engine.threshold)
    assert window.settings.heatmap_label == "intraparenchymal" and window.settings.heatmap_threshold == pytest.approx(0.7)

    # A click on the strip at slice 3 shows slice 3 (1-based on the axis, index 2).
    strip = ai.strip
    vb = strip.plot_item.getViewBox()
    scene_pos = vb.mapViewToScene(QtCore.QPointF(3.0, 0.5))
    pos = strip.plot_widget.mapFromScene(scene_pos)
    qtbot.mouseClick(strip.plot_widget.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)
    assert window.slice_view.index == 2
    assert "Slice 3 /" in ai.readout_label.text()
    qtbot.waitUntil(lambda: strip.current == 2, timeout=2000)  # the marker follows


def test_heatmap_placement_follows_the_model_grid(qtbot, assisted, bleed_study) -> None:  # noqa: ANN001
    """Each CAM shown carries the affine of the engine's head-centred grid (CAM cell -> image pixel),
    the same one the report uses (inference.preprocess + viewer.report.images)."""
    from inference.preprocess import make_inputs
    from viewer.report.images import cam_cell_affine

    window, ai = assisted
    volume = open_and_analyse(qtbot, window, ai, bleed_study[0])
    run = ai.current_run
    config = ai.engine.config
    prepared = make_inputs(volume.hu, volume.positions_mm, volume.pixel_spacing_mm, config)
    cam_shape = run.cams["any"].shape[1:]
    for i in range(volume.n_slices):
        expected = cam_cell_affine(prepared.to_image[i], config.image_size, cam_shape)
        np.testing.assert_allclose(run.affine(i), expected, rtol=1e-6, atol=1e-6)
    i = window.slice_view.index
    np.testing.assert_allclose(ai.overlay.cam.astype(np.float32), run.cams["any"][i].astype(np.float32))


def test_resume_start_keeps_the_context_and_the_median_step() -> None:
    """A resumed run computes from the slab that gives the first missing slice the same inputs."""
    from inference.preprocess import PreprocessConfig
    from viewer.qt.ai_run import resume_start

    config = PreprocessConfig()  # slabs 5 mm apart, 5 mm thick
    done = np.zeros(40, bool)
    done[:20] = True
    start, first = resume_start([2.5 * k for k in range(40)], done, config)
    assert first == 20 and 0 < start < 20 and 2.5 * (first - start) >= 5.0 + 2.5 + 5.0
    # Uneven steps that the slab's median would change: the whole stack again.
    uneven = [1.0 * k for k in range(20)] + [20.0 + 5.0 * k for k in range(20)]
    assert resume_start(uneven, done, config) == (0, 20)
    assert resume_start([2.5 * k for k in range(40)], np.ones(40, bool), config) == (40, 40)
