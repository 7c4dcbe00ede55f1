"""The PDF report read back with pypdfium2: pages, key images, names in any script, verdict words."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from report_inputs import analysis_for, head_volume, tilted_warning

from viewer.report import fonts as report_fonts, pdf as report_pdf
from viewer.core.atomic import ExportError
from viewer.report.findings import HONEST_USE, NotAnalysed, summarize_stack, summarize_study
from viewer.report.pdf import write_findings_pdf


def _pages(path: Path) -> list[tuple[str, int]]:
    """(text, number of image objects) per page."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        out = []
        for page in pdf:
            text = page.get_textpage().get_text_range()
            images = len(list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4)))
            out.append((text, images))
        return out
    finally:
        pdf.close()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _one_stack_study(name: str, *, bleed: bool = True, cams: bool = True):
    vol = head_volume(patient_name=name, bleed=bleed, warnings=(tilted_warning(),), size=96)
    stack = summarize_stack(vol, analysis_for(vol, bleed=bleed, cams=cams))
    mr = NotAnalysed(reason="Modality MR: the model analyses CT only", series_uid="1.2.3.9", modality="MR")
    return summarize_study([stack], [mr]), stack


def test_positive_report_pages_images_name_verdict_disclaimer(tmp_path: Path, artifacts_dir: Path) -> None:
    study, stack = _one_stack_study("DOE^JANE")
    out = write_findings_pdf(tmp_path / "report.pdf", study)
    (artifacts_dir / "report_positive.pdf").write_bytes(out.read_bytes())
    pages = _pages(out)
    assert len(pages) == 3  # summary, chart, key images
    texts = [_flat(t) for t, _ in pages]
    assert "DOE, JANE" in texts[0] and "PID-0042" in texts[0]
    assert "Hemorrhage suspected" in texts[0]
    assert "Intraparenchymal" in texts[0] and "slices 6\u20138" in texts[0]
    assert "Synthetic General Hospital" in texts[0] and "ACC123" in texts[0] and "1960-02-29" in texts[0]
    assert "Gantry tilt" in texts[0]
    assert "Modality MR: the model analyses CT only" in texts[0]
    assert "ichnet-test" in texts[0] and "ab" * 32 in texts[0].replace(" ", "")
    for n, text in enumerate(texts, start=1):
        assert _flat(HONEST_USE) in text
        assert f"Page {n} of 3" in text
        assert "Generated " in text
    # Key images: one plain and one heat-mapped image per key slice, all on the last page.
    assert [images for _, images in pages] == [0, 0, 2 * len(stack.key_slices)]
    for key in stack.key_slices:
        assert key.sop_instance_uid in texts[2]
        assert f"slice {key.slice_number} of {stack.n_slices}" in texts[2]
    assert "W80 / L40" in texts[2] and "threshold 0.50" in texts[2]


def test_long_warnings_keep_the_model_block_on_page_one(tmp_path: Path) -> None:
    """A real tilted scan brings three long warnings; page 1 names them in short and still holds the
    model and analysis block, and the stack's page carries their full text."""
    from viewer.core.warnings import MIXED_THICKNESS, UNEVEN_SPACING, StackWarning

    long_tail = " Distances and 3D views across slices are approximate; check the source images." * 2
    warnings = (
        tilted_warning(),
        StackWarning(UNEVEN_SPACING, "Uneven slice spacing: 1.08 to 7.0 mm between neighbouring slices." + long_tail),
        StackWarning(MIXED_THICKNESS, "Slice thickness changes within this stack: 4.0 mm (14 slices), 7.0 mm." + long_tail),
    )
    vol = head_volume(patient_name="DOE^JANE", bleed=True, warnings=warnings, size=96)
    stack = summarize_stack(vol, analysis_for(vol, bleed=True))
    pages = _pages(write_findings_pdf(tmp_path / "r.pdf", summarize_study([stack], [])))
    texts = [_flat(t) for t, _ in pages]
    assert len(pages) == 3
    assert "Gantry tilt of 12.0\u00b0" in texts[0] and "Uneven slice spacing" in texts[0]
    assert "Model and analysis" in texts[0] and "ichnet-test" in texts[0]
    assert "check the source images" not in texts[0]
    assert "1.08 to 7.0 mm between neighbouring slices" in texts[1] and "check the source images" in texts[1]


def test_negative_report_says_it_does_not_exclude(tmp_path: Path) -> None:
    study, stack = _one_stack_study("DOE^JOHN", bleed=False)
    pages = _pages(write_findings_pdf(tmp_path / "neg.pdf", study))
    assert "No hemorrhage detected \u2014 does not exclude hemorrhage" in _flat(pages[0][0])
    assert "Hemorrhage suspected" not in _flat(pages[0][0])
    assert len(stack.key_slices) == 4 and pages[2][1] == 8


@pytest.mark.parametrize(
    "name, expect",
    [
        ("YAMADA^TARO=山田^太郎=やまだ^たろう", ["山田 太郎", "やまだ たろう", "YAMADA, TARO"]),
        ("Иванов^Иван^Иванович", ["Иванов, Иван Иванович"]),
        ("ΠΑΠΑΔΟΠΟΥΛΟΣ^ΓΙΏΡΓΟΣ", ["ΠΑΠΑΔΟΠΟΥΛΟΣ, ΓΙΏΡΓΟΣ"]),
        ("王^小明", ["王 小明"]),
        ("김^민준", ["김 민준"]),
    ],
)
@pytest.mark.parametrize("cjk_font", ["system", "none"], ids=["embedded-if-found", "cid-only"])
def test_non_latin_patient_names_are_real_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, expect: list[str], cjk_font: str
) -> None:
    if cjk_font == "none":  # a machine without a CJK TrueType font: reportlab's CID fonts only
        monkeypatch.setenv(report_fonts.CJK_FONT_ENV, "none")
    report_fonts.embedded_cjk_fonts.cache_clear()
    try:
        study, _ = _one_stack_study(name)
        pages = _pages(write_findings_pdf(tmp_path / "names.pdf", study))
    finally:
        monkeypatch.undo()
        report_fonts.embedded_cjk_fonts.cache_clear()
    for text, _ in pages:  # the header carries the name on every page
        for part in expect:
            assert part in text


def test_heat_map_is_drawn_in_colour_only_where_the_model_looked(tmp_path: Path) -> None:
    study, stack = _one_stack_study("DOE^JANE")
    pdf = pdfium.PdfDocument(str(write_findings_pdf(tmp_path / "r.pdf", study)))
    try:
        page = pdf[2]
        images = [obj for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4)]
        plain, heat = (np.asarray(obj.get_bitmap().to_pil().convert("RGB")).astype(int) for obj in images[:2])
    finally:
        pdf.close()
    chroma_heat = heat.max(axis=2) - heat.min(axis=2)
    chroma_plain = plain.max(axis=2) - plain.min(axis=2)
    assert chroma_plain.max() == 0  # the plain image is grey
    assert chroma_heat.max() > 60  # the overlay is coloured ...
    coloured = chroma_heat > 30
    rows, cols = np.nonzero(coloured)
    h, w = chroma_heat.shape
    assert abs(rows.mean() / h - 0.35) < 0.08 and abs(cols.mean() / w - 0.68) < 0.08  # ... where the CAM is
    assert coloured.mean() < 0.15
    # The anatomy stays visible under the overlay: the blended bleed region is not flat colour.
    assert np.ptp(heat[coloured].sum(axis=1)) > 40


def test_report_without_cams_still_has_plain_images(tmp_path: Path) -> None:
    study, stack = _one_stack_study("DOE^JANE", cams=False)
    pages = _pages(write_findings_pdf(tmp_path / "nocam.pdf", study))
    assert pages[2][1] == len(stack.key_slices)
    assert "Heat map not computed" in _flat(pages[2][0])


def test_failure_while_drawing_leaves_the_folder_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    study, _ = _one_stack_study("DOE^JANE")
    (tmp_path / "old.pdf").write_bytes(b"%PDF-1.4 old")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken_chart(*args: object, **kwargs: object) -> None:
        raise RuntimeError("chart drawing failed")

    monkeypatch.setattr(report_pdf, "_chart", broken_chart)
    for name in ("old.pdf", "new.pdf"):
        with pytest.raises(ExportError, match="chart drawing failed") as info:
            write_findings_pdf(tmp_path / name, study)
        assert name in str(info.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_unwritable_target_folder_says_why(tmp_path: Path) -> None:
    study, _ = _one_stack_study("DOE^JANE")
    with pytest.raises(ExportError, match="folder does not exist"):
        write_findings_pdf(tmp_path / "missing" / "r.pdf", study)
    assert list(tmp_path.iterdir()) == []


def test_two_patients_two_stacks_and_a_refused_one(tmp_path: Path) -> None:
    from dataclasses import replace

    from inference.results import Acceptance, StackAnalysis

    a = head_volume(patient_name="FIRST^PATIENT", series_uid="1.2.3.1")
    b = head_volume(patient_name="SECOND^PATIENT", series_uid="1.2.3.2", bleed=False)
    b = replace(b, metadata=replace(b.metadata, patient_id="PID-0077", study_uid="1.2.3.200"))
    c = head_volume(series_uid="1.2.3.3")
    refused = StackAnalysis(c.series_uid, c.stack_id, Acceptance(False, "Bone kernel (BONE): the model reads soft-tissue kernels only"), None)
    study = summarize_study([
        summarize_stack(a, analysis_for(a)),
        summarize_stack(b, analysis_for(b, bleed=False)),
        summarize_stack(c, refused),
    ])
    pages = _pages(write_findings_pdf(tmp_path / "two.pdf", study))
    assert len(pages) == 5  # summary + (chart, key images) per analysed stack
    first = _flat(pages[0][0])
    assert "FIRST, PATIENT" in first and "SECOND, PATIENT" in first and "and other patients" in first
    assert "1 of 2 analysed stacks suspected" in first
    assert "Bone kernel (BONE): the model reads soft-tissue kernels only" in first
    assert "patient ID PID-0077" in _flat(pages[3][0])


def test_any_text_length_and_control_characters_fit(tmp_path: Path) -> None:
    """A 2,000-character patient name, a 64 KB description and control characters: the PDF is written,
    long values are cut with a visible mark and no escape sequence reaches the page."""
    import dataclasses

    vol = head_volume(patient_name="LONG^" + "A" * 2000 + "\x1b[31m", size=64)
    meta = dataclasses.replace(vol.metadata, study_description="D" * 65536, series_description="S\nE\rR" * 5000)
    vol = dataclasses.replace(vol, metadata=meta)
    stack = summarize_stack(vol, analysis_for(vol))
    path = write_findings_pdf(tmp_path / "long.pdf", summarize_study([stack]))
    text = " ".join(t for t, _ in _pages(path))
    assert "more characters not shown" in text
    assert "\x1b" not in text and "[31m" not in text
    assert len(_pages(path)) <= 6
