"""The findings report as PDF (reportlab; no Qt, no display needed).

Layout (A4 portrait):
- page 1: patient and study, the verdict in words, stacks analysed (with their warnings in short; the
  full text goes with the stack's chart), a subtype
  table per stack, what was not analysed and why, the model (name, version, SHA-256, threshold),
  device and time;
- per analysed stack, two pages: the per-slice probability chart (any + subtypes, with the operating
  threshold) with the subtype slice ranges, then the key images (brain window W80/C40, plain and with
  the heat map, colour bar, slice number, position, SOPInstanceUID, W/L and threshold).
Every page carries a header with the patient, and a footer with the honest-use statement, the time
of generation, the ichview version and "Page n of N".

The file is written atomically (viewer.core.atomic): a failure leaves nothing behind.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    Image,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

import numpy as np

from inference.labels import LABELS
from inference.readers.blast_ct.results import LESION_CLASSES
from viewer.core.atomic import write_atomic
from viewer.report.findings import (
    LABEL_NAMES,
    LESION_NAMES,
    describe_component,
    KeySlice,
    LabelFinding,
    StackFindings,
    StudyFindings,
    VERDICT_NEGATIVE,
    VERDICT_POSITIVE,
)
from viewer.report.fonts import MONO, markup, person_name
from viewer.report.images import (
    BRAIN,
    LESION_COLOURS,
    brain_window_image,
    heatmap_overlay_image,
    lesion_outline_image,
)
from viewer.report.pdf_chart import chart as _chart
from viewer.report.pdf_chart import colour_bar
from viewer.report.pdf_page import (
    CONTENT_W,
    FOOTER_H,
    HEADER_H,
    MARGIN,
    NEGATIVE_BG,
    NEGATIVE_EDGE,
    NEUTRAL_EDGE,
    POSITIVE_BG,
    POSITIVE_EDGE,
    RULE,
    NumberedCanvas,
    PageFurniture,
    escape_text,
    fmt_date,
    fmt_mm,
    fmt_prob,
    fmt_sex,
    fmt_time,
    or_dash,
    page_styles,
    series_title,
    stack_suffix,
    table,
)
from viewer.core.volume import StudyMetadata

# ------------------------------------------------------------------------------------------ tables


def _patient_block(meta: StudyMetadata, st: dict[str, ParagraphStyle]) -> Table:
    def lab(text: str) -> Paragraph:
        return Paragraph(escape_text(text), st["label"])

    def val(text: str, bold: bool = False) -> Paragraph:
        return Paragraph(markup(text), st["cell_bold" if bold else "cell"])

    when = fmt_date(meta.study_date)
    if meta.study_time.strip():
        when += f" {fmt_time(meta.study_time)}"
    rows = [
        [lab("Patient name"), val(person_name(meta.patient_name) or "\u2014", bold=True), lab("Study date"), val(when)],
        [lab("Patient ID"), val(or_dash(meta.patient_id)), lab("Study description"), val(or_dash(meta.study_description))],
        [lab("Birth date"), val(fmt_date(meta.patient_birth_date)), lab("Accession number"), val(or_dash(meta.accession_number))],
        [lab("Sex"), val(fmt_sex(meta.patient_sex)), lab("Institution"), val(or_dash(meta.institution))],
    ]
    w = CONTENT_W
    return table(
        rows,
        [0.14 * w, 0.36 * w, 0.17 * w, 0.33 * w],
        header=False,
        extra=[("LINEABOVE", (0, 0), (-1, 0), 0.6, RULE), ("BACKGROUND", (0, 0), (-1, -1), colors.white)],
    )


def _verdict_box(findings: StudyFindings, st: dict[str, ParagraphStyle]) -> Table:
    suspected = findings.ich_suspected
    edge, bg = (
        (POSITIVE_EDGE, POSITIVE_BG) if suspected else (NEGATIVE_EDGE, NEGATIVE_BG) if suspected is False else (NEUTRAL_EDGE, colors.white)
    )
    lines: list[object] = [
        Paragraph("AI RESULT (RESEARCH AND TRIAGE AID, NOT A DIAGNOSIS)", st["verdict_label"]),
        Paragraph(escape_text(findings.verdict_text), st["verdict"]),
    ]
    if findings.stacks:
        top = max(findings.stacks, key=lambda s: s.max_any or 0.0)
        where = f"{series_title(top)}{stack_suffix(top)}, slice {top.max_any_slice} of {top.n_slices}"
        if top.max_any_index is not None:
            where += f" ({fmt_mm(top.positions_mm[top.max_any_index])})"
        relation = "at or above" if top.ich_suspected else "below"
        lines.append(
            Paragraph(
                f"Highest probability of any hemorrhage <b>{fmt_prob(top.max_any)}</b> on {markup(where)}; "
                f"{relation} the model's operating threshold <b>{fmt_prob(findings.threshold)}</b>.",
                st["base"],
            )
        )
        for s in findings.stacks:
            v = s.verdict
            if v is None:
                continue
            prefix = f"{series_title(s)}{stack_suffix(s)}: " if len(findings.stacks) > 1 else ""
            text = "Decided by: " + (" and ".join(v.by) if v.by else "neither reader found hemorrhage") + f" \u2014 {v.basis}."
            if v.provisional:
                text += " Provisional: the lesion segmenter (BLAST-CT) did not read this stack."
            lines.append(Paragraph(markup(prefix) + escape_text(text, limit=1200), st["base"]))
            if v.disagreement:
                lines.append(Paragraph("<b>Readers disagree:</b> " + escape_text(v.disagreement, limit=1200) + ".", st["base"]))
        if len(findings.stacks) > 1:
            n_pos = sum(1 for s in findings.stacks if s.ich_suspected)
            lines.append(Paragraph(f"{n_pos} of {len(findings.stacks)} analysed stacks suspected.", st["base"]))
        if suspected is False:
            lines.append(
                Paragraph(
                    "A negative result does not exclude hemorrhage: small, thin or atypical bleeds can be missed.",
                    st["muted"],
                )
            )
    else:
        lines.append(Paragraph("No image stack could be analysed; the reasons are listed below.", st["base"]))
    box = Table([[lines]], colWidths=[CONTENT_W], hAlign="LEFT")
    box.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.4, edge),
                ("LINEBEFORE", (0, 0), (0, -1), 5, edge),
                ("BACKGROUND", (0, 0), (-1, -1), bg),
                ("LEFTPADDING", (0, 0), (-1, -1), 10),
                ("RIGHTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
            ]
        )
    )
    return box


def _warning_headline(message: str, *, max_chars: int = 48) -> str:
    """The part of a warning before its first colon ("Gantry tilt 18.5\u00b0"), for the summary table;
    the full text is printed with the stack's own findings."""
    head = message.split(":", 1)[0].strip().rstrip(".")
    return head if len(head) <= max_chars else head[: max_chars - 1].rstrip() + "\u2026"


def _stacks_table(findings: StudyFindings, st: dict[str, ParagraphStyle]) -> Table:
    head = ["Series", "Slices", "Verdict", "Max P(any)", "At slice", "Types at or above threshold", "Warnings"]
    rows: list[list[object]] = [[Paragraph(h, st["cell_bold"]) for h in head]]
    for s in findings.stacks:
        warn = "; ".join(_warning_headline(w.message) for w in s.warnings)
        warn = f"{warn} (details with the stack's chart)" if warn else "none"
        verdict_style = st["cell_bold"] if s.ich_suspected else st["cell"]
        rows.append(
            [
                Paragraph(markup(series_title(s) + stack_suffix(s)), st["cell"]),
                Paragraph(str(s.n_slices), st["cell_right"]),
                Paragraph(escape_text(s.verdict_text), verdict_style),
                Paragraph(fmt_prob(s.max_any), st["cell_right"]),
                Paragraph(str(s.max_any_slice or "\u2014"), st["cell_right"]),
                Paragraph(escape_text(", ".join(f.name for f in s.subtypes if f.above_threshold) or "\u2014"), st["cell"]),
                Paragraph(markup(warn), st["small"]),
            ]
        )
    w = CONTENT_W
    return table(rows, [0.2 * w, 0.07 * w, 0.19 * w, 0.09 * w, 0.07 * w, 0.17 * w, 0.21 * w])


def _subtype_table(stack: StackFindings, st: dict[str, ParagraphStyle]) -> Table:
    head = ["Finding", "Max probability", "At slice", "Slices at or above threshold (1-based, position)"]
    rows: list[list[object]] = [[Paragraph(h, st["cell_bold"]) for h in head]]
    findings: list[LabelFinding] = ([stack.any_finding] if stack.any_finding else []) + list(stack.subtypes)
    extra: list[tuple] = []
    for i, f in enumerate(findings, start=1):
        name_style = st["cell_bold"] if f.label == "any" else st["cell"]
        mark = "  \u25b2" if f.above_threshold else ""
        rows.append(
            [
                Paragraph(escape_text(f.name), name_style),
                Paragraph(f"{f.max_probability:.2f}{mark}", st["cell_right"]),
                Paragraph(str(f.max_slice), st["cell_right"]),
                Paragraph(escape_text(f.describe_ranges()).replace("-", "\u2212"), st["cell"]),
            ]
        )
        if f.label == "any":
            extra.append(("LINEBELOW", (0, i), (-1, i), 0.4, RULE))
    w = CONTENT_W
    return table(rows, [0.22 * w, 0.15 * w, 0.1 * w, 0.53 * w], extra=extra)


def _not_analysed_table(findings: StudyFindings, st: dict[str, ParagraphStyle], *, limit: int = 20) -> Table:
    """Stacks one per row; files the scan skipped grouped by reason (every one is in the JSON)."""
    rows: list[list[object]] = [[Paragraph("Series or files", st["cell_bold"]), Paragraph("Reason", st["cell_bold"])]]
    stacks = [n for n in findings.not_analysed if n.series_uid]
    files: dict[str, list[str]] = {}
    for n in findings.not_analysed:
        if not n.series_uid:
            files.setdefault(n.reason, []).append(n.path)
    for n in stacks[:limit]:
        what = " \u00b7 ".join(x for x in (n.modality, n.description) if x) or "Series"
        if n.n_slices:
            what += f" ({n.n_slices} image{'s' if n.n_slices != 1 else ''})"
        uid = escape_text(n.stack_id or n.series_uid)
        rows.append([Paragraph(f"{markup(what)}<br/><font name='{MONO}' size='6.5'>{uid}</font>", st["cell"]),
                     Paragraph(markup(n.reason), st["cell"])])
    if len(stacks) > limit:
        rows.append([Paragraph(f"\u2026 and {len(stacks) - limit} more stacks (listed in the JSON report)", st["muted"]), ""])
    for reason, paths in files.items():
        names = ", ".join(Path(p).name for p in paths[:3]) + (", \u2026" if len(paths) > 3 else "")
        count = f"{len(paths)} file{'s' if len(paths) != 1 else ''}"
        rows.append([Paragraph(f"{count}: {markup(names)}", st["cell"]), Paragraph(markup(reason), st["cell"])])
    w = CONTENT_W
    return table(rows, [0.5 * w, 0.5 * w])


def _model_table(findings: StudyFindings, st: dict[str, ParagraphStyle]) -> Table:
    m = findings.model

    def lab(text: str) -> Paragraph:
        return Paragraph(text, st["label"])

    def val(text: str) -> Paragraph:
        return Paragraph(escape_text(text), st["cell"])

    generated = findings.generated_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    n_slices = sum(s.n_slices for s in findings.stacks)
    rows: list[list[object]] = [
        [lab("Model"), val(f"{m.name} {m.version}" if m else "not loaded"), lab("Device"), val(findings.device or "\u2014")],
        [lab("Operating threshold"), val(f"{m.threshold:.2f} on P(any)" if m else "\u2014"),
         lab("Analysis time"), val(f"{findings.seconds:.1f} s for {n_slices} slices")],
        [lab("Trained on"), val(m.trained_on if m else "\u2014"), lab("Report generated"), val(generated)],
        [lab("Weights SHA-256"), Paragraph(m.sha256 if m else "\u2014", st["mono"]), lab("ichview version"),
         val(findings.ichview_version)],
    ]
    w = CONTENT_W
    return table(rows, [0.17 * w, 0.43 * w, 0.16 * w, 0.24 * w], header=False,
                  extra=[("LINEABOVE", (0, 0), (-1, 0), 0.6, RULE)])


def _lesion_table(stack: StackFindings, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The second reader's volumes by class and its components, with the citation."""
    les = stack.lesions
    if les is None:
        return [Paragraph("Lesion segmentation (BLAST-CT) was not run for this stack.", st["muted"])]
    if not les.analysed:
        return [Paragraph(escape_text(f"Lesion segmentation (BLAST-CT) did not read this stack: {les.reason}"), st["muted"])]
    head = [Paragraph(t, st["label"]) for t in ("Class (BLAST-CT)", "Volume", "Components \u2265 "
                                               f"{les.min_component_ml:g} mL (slices)")]
    rows: list[list[object]] = [head]
    for cls, name in LESION_NAMES.items():
        comps = [c for c in les.components if c.label == cls]
        where = "; ".join(describe_component(c).split(", ", 1)[1] + f" ({c.volume_ml:.1f} mL)" for c in comps[:4])
        if len(comps) > 4:
            where += f"; {len(comps) - 4} more"
        rows.append([Paragraph(escape_text(name), st["cell"]), Paragraph(f"{les.volumes_ml.get(cls, 0.0):.1f} mL", st["cell"]),
                     Paragraph(escape_text(where or "\u2014"), st["cell"])])
    w = CONTENT_W
    models = f"{len(les.models)} model{'s' if len(les.models) != 1 else ''}"
    return [
        table(rows, [0.42 * w, 0.13 * w, 0.45 * w]),
        Paragraph(escape_text(
            f"Second reader: {les.citation}; {models} on {les.device or 'cpu'}, {les.seconds:.0f} s. Trained on "
            "184 real head CTs with traumatic lesions; volumes under about 1 mL are within its run-to-run noise. "
            "Oedema is not blood and never decides the verdict." + (" " + " ".join(les.notes) if les.notes else "")),
            st["muted"]),
    ]


# ------------------------------------------------------------------------------------------ images


def _png(image: PILImage.Image) -> io.BytesIO:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    buf.seek(0)
    return buf


def _fit(stack: StackFindings, shape: tuple[int, int], box: float) -> tuple[float, float]:
    rows, cols = shape
    h_mm = rows * stack.pixel_spacing_mm[0]
    w_mm = cols * stack.pixel_spacing_mm[1]
    scale = box / max(h_mm, w_mm, 1e-6)
    return w_mm * scale, h_mm * scale


def _key_image_row(stack: StackFindings, number: int, key: KeySlice, st: dict[str, ParagraphStyle]) -> Table:
    box = 48 * mm
    cells: list[object] = []
    if key.hu is not None:
        w, h = _fit(stack, key.hu.shape, box)
        cells.append(Image(_png(brain_window_image(key.hu)), width=w, height=h))
        if key.lesion_labels is not None and key.lesion_labels.any():
            cells.append(Image(_png(lesion_outline_image(key.hu, key.lesion_labels)), width=w, height=h))
            cells.append(_lesion_legend(key.lesion_labels, st))
        elif key.cam is not None:
            overlay = heatmap_overlay_image(key.hu, key.cam, to_image=key.cam_to_image)
            cells.append(Image(_png(overlay), width=w, height=h))
            cells.append(colour_bar(h, st))
        else:
            cells.append(Paragraph("Heat map not computed for this analysis.", st["muted"]))
            cells.append("")
    else:
        cells += [Paragraph("Pixels not available.", st["muted"]), "", ""]
    threshold = stack.threshold or 0.0
    relation = "at or above" if key.probability_any >= threshold else "below"
    info = [
        Paragraph(f"<b>K{number} \u00b7 slice {key.slice_number} of {stack.n_slices}</b>", st["base"]),
        Paragraph(f"Position {fmt_mm(key.position_mm)}", st["cell"]),
        Paragraph(f"P(any) <b>{key.probability_any:.2f}</b>, {relation} threshold {threshold:.2f}", st["cell"]),
        Paragraph(_subtypes_at(stack, key.index), st["small"]),
        Paragraph(escape_text(_lesions_at(stack, key.index)), st["small"]),
        Spacer(1, 3),
        Paragraph(f"Window W{BRAIN.width_hu:.0f} / L{BRAIN.center_hu:.0f} (brain)", st["small"]),
        Paragraph(
            "Outlines: lesions segmented by BLAST-CT (Monteiro et al. 2020), coloured by class."
            if key.lesion_labels is not None and key.lesion_labels.any() else
            "Heat map: Grad-CAM of P(any) on the 40\u2013100 HU pixels inside the skull, scaled by the "
            "probability; CET-L17 colour map (as in the viewer), transparent below 0.1"
            + ("." if key.cam_to_image is not None or key.cam is None else "; position approximate (stretched over the image)."),
            st["muted"]),
        Spacer(1, 3),
        Paragraph("SOPInstanceUID", st["label"]),
        Paragraph(escape_text(key.sop_instance_uid), st["mono"]),
    ]
    cells.append(info)
    table = Table([cells], colWidths=[box + 2 * mm, box + 2 * mm, 15 * mm, CONTENT_W - 2 * box - 19 * mm], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
                ("LEFTPADDING", (3, 0), (3, 0), 5),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
            ]
        )
    )
    return table


def _lesion_legend(labels: np.ndarray, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    """Colour swatches of the classes present on this slice."""
    out: list[Flowable] = []
    for value, cls in enumerate(LESION_CLASSES, start=1):
        if (labels == value).any():
            r, g, b = LESION_COLOURS[value]
            out.append(Paragraph(f'<font color="#{r:02x}{g:02x}{b:02x}">\u25a0</font> {cls}', st["small"]))
    return out


def _lesions_at(stack: StackFindings, index: int) -> str:
    les = stack.lesions
    if les is None or not les.analysed or index >= les.slice_area_mm2.shape[0]:
        return ""
    areas = [f"{cls} {les.slice_area_mm2[index, k]:.0f} mm\u00b2" for k, cls in enumerate(LESION_CLASSES)
             if les.slice_area_mm2[index, k] > 0]
    return ("BLAST-CT on this slice: " + ", ".join(areas)) if areas else "BLAST-CT: no lesion on this slice"


def _subtypes_at(stack: StackFindings, index: int) -> str:
    parts = []
    for label in LABELS[1:]:
        p = float(stack.probabilities[index, LABELS.index(label)])
        text = f"{LABEL_NAMES[label]} {p:.2f}"
        parts.append(f"<b>{text}</b>" if stack.threshold is not None and p >= stack.threshold else text)
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------- story


def _story(findings: StudyFindings, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [
        Paragraph("Head CT \u2014 intracranial hemorrhage: AI findings", st["title"]),
        Paragraph("Automated analysis for research and triage. Not a diagnosis; not clinically validated.", st["subtitle"]),
        Spacer(1, 5 * mm),
    ]
    for meta in findings.studies or (StudyMetadata(),):
        story += [_patient_block(meta, st), Spacer(1, 3 * mm)]
    story += [Spacer(1, 2 * mm), _verdict_box(findings, st)]
    if findings.stacks:
        story += [Paragraph("Stacks analysed", st["h2"]), _stacks_table(findings, st)]
        if len(findings.stacks) == 1:
            story.append(KeepTogether([Paragraph("Findings by type", st["h3"]), _subtype_table(findings.stacks[0], st)]))
            note = f"\u25b2 reaches the operating threshold {fmt_prob(findings.threshold)}. "
        else:
            note = "Each stack's findings by type follow on its own page. "
        story.append(Paragraph(
            note + "Slice numbers are 1-based in display order (1 = most inferior); positions are along the slice "
            "normal.", st["muted"]))
    if findings.not_analysed:
        story += [Paragraph("Not analysed", st["h2"]), _not_analysed_table(findings, st)]
    story += [KeepTogether([Paragraph("Model and analysis", st["h2"]), _model_table(findings, st)])]

    several_patients = len({m.patient_id for m in findings.studies}) > 1
    for s in findings.stacks:
        name = f"{series_title(s)}{stack_suffix(s)}"
        if several_patients:
            name += " \u00b7 patient ID " + (s.patient_id or "\u2014")
        heading = markup(f"{name} \u2014 per-slice probabilities")
        sub = (
            f"{s.n_slices} slices \u00b7 {s.orientation} \u00b7 verdict: {s.verdict_text} \u00b7 "
            f"max P(any) {fmt_prob(s.max_any)} on slice {s.max_any_slice}"
        )
        story += [
            PageBreak(),
            Paragraph(heading, st["h2"]),
            Paragraph(escape_text(sub), st["muted"]),
            Spacer(1, 2 * mm),
            _chart(s, CONTENT_W, 92 * mm),
            Spacer(1, 2 * mm),
            Paragraph("K1\u2026K4 mark the key slices shown on the next page.", st["muted"]),
            Paragraph("Findings by type", st["h3"]),
            _subtype_table(s, st),
            Paragraph(f"\u25b2 reaches the operating threshold {fmt_prob(s.threshold)}.", st["muted"]),
            Paragraph("Lesions and volumes (second reader)", st["h3"]),
            *_lesion_table(s, st),
        ]
        if s.warnings:
            story.append(Paragraph("Warnings for this stack", st["h3"]))
            story += [Paragraph("\u2022 " + markup(w.message), st["cell"]) for w in s.warnings]
        story += [
            PageBreak(),
            Paragraph(markup(f"{name} \u2014 key images"), st["h2"]),
            Paragraph(
                "Left: brain window (W80 / L40). Right: the same image with the model's heat map blended over it "
                "(the image underneath stays visible). The heat map colours the blood-density pixels (40\u2013100 HU) "
                "where the model looked; it is not a segmentation of the bleed, and a bleed outside that range "
                "(older, isodense) is not coloured.",
                st["muted"],
            ),
            Spacer(1, 2 * mm),
        ]
        story += [_key_image_row(s, i, key, st) for i, key in enumerate(s.key_slices, start=1)]
        if not s.key_slices:
            story.append(Paragraph("No key slices.", st["muted"]))
    return story


def build_findings_pdf(findings: StudyFindings, out: BinaryIO) -> None:
    """Write the report PDF to an open binary file."""
    st = page_styles()
    doc = BaseDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + HEADER_H,
        bottomMargin=MARGIN + FOOTER_H,
        title="ichview AI findings (intracranial hemorrhage)",
        author=f"ichview {findings.ichview_version}",
        subject="Research and triage aid; not a diagnosis",
        creator="ichview",
        invariant=False,
    )
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body", leftPadding=0, rightPadding=0,
                  topPadding=0, bottomPadding=0)
    furniture = PageFurniture(findings, st)
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=furniture)])
    doc.build(_story(findings, st), canvasmaker=NumberedCanvas)


def write_findings_pdf(path: Path | str, findings: StudyFindings) -> Path:
    """Write the findings PDF to `path` atomically; raises ExportError (nothing left behind) on failure."""
    return write_atomic(path, lambda handle: build_findings_pdf(findings, handle))


__all__ = ["build_findings_pdf", "write_findings_pdf", "VERDICT_POSITIVE", "VERDICT_NEGATIVE"]
