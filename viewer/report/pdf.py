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
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Group, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
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

from inference.labels import LABELS
from viewer.core.atomic import write_atomic
from viewer.report.findings import (
    LABEL_NAMES,
    KeySlice,
    LabelFinding,
    StackFindings,
    StudyFindings,
    VERDICT_NEGATIVE,
    VERDICT_POSITIVE,
)
from viewer.report.fonts import MONO, markup, person_name, register_fonts
from viewer.report.images import BRAIN, INFERNO, brain_window_image, heatmap_overlay_image
from viewer.core.volume import StudyMetadata

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 15 * mm
HEADER_H = 11 * mm
FOOTER_H = 17 * mm
CONTENT_W = PAGE_WIDTH - 2 * MARGIN

INK = colors.HexColor("#1a1a1a")
MUTED = colors.HexColor("#5a5a5a")
RULE = colors.HexColor("#b8b8b8")
HEAD_BG = colors.HexColor("#eef1f4")
POSITIVE_BG = colors.HexColor("#fdf0e3")
POSITIVE_EDGE = colors.HexColor("#b34700")
NEGATIVE_BG = colors.HexColor("#edf3f8")
NEGATIVE_EDGE = colors.HexColor("#2b5d84")
NEUTRAL_EDGE = colors.HexColor("#707070")
# Okabe-Ito (colour-blind safe), with distinct dash patterns as a second cue.
LINE_STYLES: dict[str, tuple[colors.Color, float, tuple[float, ...] | None]] = {
    "any": (colors.black, 1.8, None),
    "epidural": (colors.HexColor("#E69F00"), 1.0, (4, 2)),
    "intraparenchymal": (colors.HexColor("#0072B2"), 1.0, None),
    "intraventricular": (colors.HexColor("#009E73"), 1.0, (1, 1.5)),
    "subarachnoid": (colors.HexColor("#CC79A7"), 1.0, (6, 2, 1, 2)),
    "subdural": (colors.HexColor("#56B4E9"), 1.0, (3, 3)),
}
THRESHOLD_COLOUR = colors.HexColor("#D55E00")


def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = register_fonts()
    base = ParagraphStyle("base", fontName=regular, fontSize=8.5, leading=11, textColor=INK)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5),
        "muted": ParagraphStyle("muted", parent=base, fontSize=7.5, leading=9.5, textColor=MUTED),
        "label": ParagraphStyle("label", parent=base, fontSize=7.5, leading=10, textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10),
        "cell_bold": ParagraphStyle("cell_bold", parent=base, fontName=bold, fontSize=8, leading=10),
        "cell_right": ParagraphStyle("cell_right", parent=base, fontSize=8, leading=10, alignment=TA_RIGHT),
        "mono": ParagraphStyle("mono", parent=base, fontName=MONO, fontSize=7, leading=8.5),
        "title": ParagraphStyle("title", parent=base, fontName=bold, fontSize=15, leading=19),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=9, leading=12, textColor=MUTED),
        "h2": ParagraphStyle("h2", parent=base, fontName=bold, fontSize=10.5, leading=14, spaceBefore=8, spaceAfter=3),
        "h3": ParagraphStyle("h3", parent=base, fontName=bold, fontSize=9, leading=12, spaceBefore=4, spaceAfter=2),
        "verdict_label": ParagraphStyle("verdict_label", parent=base, fontName=bold, fontSize=7.5, leading=10, textColor=MUTED),
        "verdict": ParagraphStyle("verdict", parent=base, fontName=bold, fontSize=15.5, leading=19),
        "header_left": ParagraphStyle("header_left", parent=base, fontName=bold, fontSize=8, leading=10),
        "header_right": ParagraphStyle("header_right", parent=base, fontSize=8, leading=10, alignment=TA_RIGHT),
        "footer": ParagraphStyle("footer", parent=base, fontSize=7, leading=8.6, textColor=INK, alignment=TA_LEFT),
    }


# --------------------------------------------------------------------------------------- formatting


def _date(da: str) -> str:
    """DICOM DA 'YYYYMMDD' -> 'YYYY-MM-DD'; anything else as stored; '' -> em dash."""
    da = da.strip()
    if len(da) == 8 and da.isdigit():
        return f"{da[:4]}-{da[4:6]}-{da[6:]}"
    return da or "\u2014"


def _time(tm: str) -> str:
    tm = tm.strip()
    if len(tm) >= 4 and tm[:4].isdigit():
        return f"{tm[:2]}:{tm[2:4]}"
    return tm


def _or_dash(value: str) -> str:
    return value.strip() or "\u2014"


def _sex(code: str) -> str:
    return {"M": "Male", "F": "Female", "O": "Other"}.get(code.strip().upper(), _or_dash(code))


def _prob(p: float | None) -> str:
    return "\u2014" if p is None else f"{p:.2f}"


def _mm(v: float) -> str:
    return f"{v:.1f} mm".replace("-", "\u2212")


def _series_title(stack: StackFindings) -> str:
    number = stack.metadata.series_number
    label = f"Series {number}" if number is not None else "Series"
    if stack.description:
        label += f" \u00b7 {stack.description}"
    return label


def _stack_suffix(stack: StackFindings) -> str:
    return f" (part {stack.stack_id.rsplit('#', 1)[1]})" if "#" in stack.stack_id else ""


# ---------------------------------------------------------------------------------- page furniture


class _NumberedCanvas(Canvas):
    """Defers pages so the footer can say 'Page n of N'."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._saved_pages: list[dict[str, object]] = []

    def showPage(self) -> None:  # noqa: N802 (reportlab API)
        self._saved_pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._saved_pages)
        regular, _ = register_fonts()
        for number, state in enumerate(self._saved_pages, start=1):
            self.__dict__.update(state)
            self.setFont(regular, 7)
            self.setFillColor(INK)
            self.drawRightString(PAGE_WIDTH - MARGIN, MARGIN - 1, f"Page {number} of {total}")
            Canvas.showPage(self)
        Canvas.save(self)


class _Furniture:
    """Header (patient) and footer (honest use, time, version) drawn on every page."""

    def __init__(self, findings: StudyFindings, styles: dict[str, ParagraphStyle]) -> None:
        self.styles = styles
        meta = findings.studies[0] if findings.studies else StudyMetadata()
        who = person_name(meta.patient_name) or "(no patient name)"
        if len({(m.patient_id, m.patient_name) for m in findings.studies}) > 1:
            who += " (and other patients)"
        id_part = f" \u00b7 ID {meta.patient_id}" if meta.patient_id else ""
        self.header_right = markup(who) + escape_text(id_part)
        generated = findings.generated_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        model = findings.model
        model_part = f" \u00b7 model {model.name} {model.version}" if model else ""
        self.footer_meta = f"Generated {generated} \u00b7 ichview {findings.ichview_version}{model_part}"
        self.honest_use = findings.honest_use

    def __call__(self, canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        top = PAGE_HEIGHT - MARGIN
        left = Paragraph("ichview \u00b7 AI findings, intracranial hemorrhage", self.styles["header_left"])
        right = Paragraph(self.header_right, self.styles["header_right"])
        _, h = left.wrap(CONTENT_W * 0.45, HEADER_H)
        left.drawOn(canvas, MARGIN, top - h)
        _, h = right.wrap(CONTENT_W * 0.55, HEADER_H)
        right.drawOn(canvas, MARGIN + CONTENT_W * 0.45, top - h)
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.6)
        canvas.line(MARGIN, top - HEADER_H + 3 * mm, PAGE_WIDTH - MARGIN, top - HEADER_H + 3 * mm)

        rule_y = MARGIN + FOOTER_H - 3 * mm
        canvas.line(MARGIN, rule_y, PAGE_WIDTH - MARGIN, rule_y)
        honest = Paragraph(f"<b>{escape_text(self.honest_use)}</b>", self.styles["footer"])
        _, h = honest.wrap(CONTENT_W, FOOTER_H)
        honest.drawOn(canvas, MARGIN, rule_y - 1.2 * mm - h)
        regular, _ = register_fonts()
        canvas.setFont(regular, 7)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, MARGIN - 1, self.footer_meta)
        canvas.restoreState()


def escape_text(text: str) -> str:
    """Escape plain text (no CJK handling) for a Paragraph."""
    return escape(text)


# ------------------------------------------------------------------------------------------ tables


def _table(rows: list[list[object]], widths: Sequence[float], *, header: bool = True, extra: Sequence[tuple] = ()) -> Table:
    table = Table(rows, colWidths=list(widths), hAlign="LEFT", repeatRows=1 if header else 0)
    style: list[tuple] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LINEBELOW", (0, -1), (-1, -1), 0.6, RULE),
    ]
    if header:
        style += [
            ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
            ("LINEABOVE", (0, 0), (-1, 0), 0.6, RULE),
        ]
    table.setStyle(TableStyle(style + list(extra)))
    return table


def _patient_block(meta: StudyMetadata, st: dict[str, ParagraphStyle]) -> Table:
    def lab(text: str) -> Paragraph:
        return Paragraph(escape_text(text), st["label"])

    def val(text: str, bold: bool = False) -> Paragraph:
        return Paragraph(markup(text), st["cell_bold" if bold else "cell"])

    when = _date(meta.study_date)
    if meta.study_time.strip():
        when += f" {_time(meta.study_time)}"
    rows = [
        [lab("Patient name"), val(person_name(meta.patient_name) or "\u2014", bold=True), lab("Study date"), val(when)],
        [lab("Patient ID"), val(_or_dash(meta.patient_id)), lab("Study description"), val(_or_dash(meta.study_description))],
        [lab("Birth date"), val(_date(meta.patient_birth_date)), lab("Accession number"), val(_or_dash(meta.accession_number))],
        [lab("Sex"), val(_sex(meta.patient_sex)), lab("Institution"), val(_or_dash(meta.institution))],
    ]
    w = CONTENT_W
    return _table(
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
        where = f"{_series_title(top)}{_stack_suffix(top)}, slice {top.max_any_slice} of {top.n_slices}"
        if top.max_any_index is not None:
            where += f" ({_mm(top.positions_mm[top.max_any_index])})"
        relation = "at or above" if top.ich_suspected else "below"
        lines.append(
            Paragraph(
                f"Highest probability of any hemorrhage <b>{_prob(top.max_any)}</b> on {markup(where)}; "
                f"{relation} the model's operating threshold <b>{_prob(findings.threshold)}</b>.",
                st["base"],
            )
        )
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
                Paragraph(markup(_series_title(s) + _stack_suffix(s)), st["cell"]),
                Paragraph(str(s.n_slices), st["cell_right"]),
                Paragraph(escape_text(s.verdict_text), verdict_style),
                Paragraph(_prob(s.max_any), st["cell_right"]),
                Paragraph(str(s.max_any_slice or "\u2014"), st["cell_right"]),
                Paragraph(escape_text(", ".join(f.name for f in s.subtypes if f.above_threshold) or "\u2014"), st["cell"]),
                Paragraph(markup(warn), st["small"]),
            ]
        )
    w = CONTENT_W
    return _table(rows, [0.2 * w, 0.07 * w, 0.19 * w, 0.09 * w, 0.07 * w, 0.17 * w, 0.21 * w])


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
    return _table(rows, [0.22 * w, 0.15 * w, 0.1 * w, 0.53 * w], extra=extra)


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
    return _table(rows, [0.5 * w, 0.5 * w])


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
    return _table(rows, [0.17 * w, 0.43 * w, 0.16 * w, 0.24 * w], header=False,
                  extra=[("LINEABOVE", (0, 0), (-1, 0), 0.6, RULE)])


# ------------------------------------------------------------------------------------------- chart


def _chart(stack: StackFindings, width: float, height: float) -> Drawing:
    n = stack.n_slices
    d = Drawing(width, height)
    plot = LinePlot()
    plot.x, plot.y = 34, 40
    plot.width, plot.height = width - plot.x - 10, height - plot.y - 12
    xs = list(range(1, n + 1))
    data = [list(zip(xs, (float(v) for v in stack.label_probabilities(label)))) for label in LABELS]
    threshold = float(stack.threshold or 0.0)
    x_lo, x_hi = (0.5, 1.5) if n == 1 else (1, n)
    data.append([(x_lo, threshold), (x_hi, threshold)])
    plot.data = data
    for k, label in enumerate(LABELS):
        colour, line_w, dash = LINE_STYLES[label]
        plot.lines[k].strokeColor = colour
        plot.lines[k].strokeWidth = line_w
        if dash:
            plot.lines[k].strokeDashArray = list(dash)
    plot.lines[len(LABELS)].strokeColor = THRESHOLD_COLOUR
    plot.lines[len(LABELS)].strokeWidth = 1.0
    plot.lines[len(LABELS)].strokeDashArray = [5, 3]
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = x_lo, x_hi
    step = max(1, int(round(n / 12.0)))
    if step > 2:
        step = int(round(step / 5.0)) * 5 or step
    plot.xValueAxis.valueSteps = [1] + [v for v in range(step, n + 1, step) if v - 1 >= step / 2] if step > 1 else xs
    plot.xValueAxis.labelTextFormat = "%d"
    plot.xValueAxis.labels.fontSize = 7
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = 0.0, 1.0
    plot.yValueAxis.valueSteps = [0.0, 0.25, 0.5, 0.75, 1.0]
    plot.yValueAxis.labelTextFormat = "%.2f"
    plot.yValueAxis.labels.fontSize = 7
    plot.yValueAxis.visibleGrid = True
    plot.yValueAxis.gridStrokeColor = colors.HexColor("#e3e3e3")
    plot.yValueAxis.gridStrokeWidth = 0.4
    regular, _ = register_fonts()
    plot.xValueAxis.labels.fontName = regular
    plot.yValueAxis.labels.fontName = regular

    def x_of(v: float) -> float:
        return plot.x + (v - x_lo) / (x_hi - x_lo) * plot.width

    # Key slices: light vertical markers, numbered as on the key-image page (drawn under the lines).
    for i, key in enumerate(stack.key_slices, start=1):
        x = x_of(key.slice_number)
        d.add(Line(x, plot.y, x, plot.y + plot.height, strokeColor=colors.HexColor("#c9c9c9"), strokeWidth=0.6, strokeDashArray=[1, 2]))
        d.add(String(x, plot.y + plot.height + 3, f"K{i}", fontName=regular, fontSize=6.5, fillColor=MUTED, textAnchor="middle"))
    d.add(plot)
    d.add(String(plot.x + plot.width, plot.y + plot.height * threshold + 2.5, f"threshold {threshold:.2f}",
                 fontName=regular, fontSize=6.5, fillColor=THRESHOLD_COLOUR, textAnchor="end"))
    d.add(String(plot.x + plot.width / 2, plot.y - 21, "slice number (1 = most inferior)", fontName=regular, fontSize=7,
                 fillColor=MUTED, textAnchor="middle"))
    d.add(Group(String(0, 0, "probability", fontName=regular, fontSize=7, fillColor=MUTED, textAnchor="middle"),
                transform=(0, 1, -1, 0, 9, plot.y + plot.height / 2)))
    # Legend, one row under the axis title.
    x = plot.x
    y = 2
    for label_key in (*LABELS, "threshold"):
        if label_key == "threshold":
            colour, line_w, dash, text = THRESHOLD_COLOUR, 1.0, (5, 3), "threshold"
        else:
            colour, line_w, dash = LINE_STYLES[label_key]
            text = LABEL_NAMES[label_key] if label_key != "any" else "Any"
        d.add(Line(x, y + 3, x + 16, y + 3, strokeColor=colour, strokeWidth=line_w, strokeDashArray=list(dash) if dash else None))
        d.add(String(x + 19, y, text, fontName=regular, fontSize=7, fillColor=INK))
        x += 19 + stringWidth(text, regular, 7) + 7
    return d


def _colour_bar(height: float, st: dict[str, ParagraphStyle]) -> Drawing:
    width = 30
    bar_w = 7
    d = Drawing(width, height)
    regular, _ = register_fonts()
    steps = 64
    top, bottom = height - 6, 12
    for i in range(steps):
        r, g, b = (int(c) for c in INFERNO[int(round(i * 255 / (steps - 1)))])
        y0 = bottom + (top - bottom) * i / steps
        d.add(Rect(0, y0, bar_w, (top - bottom) / steps + 0.3, fillColor=colors.Color(r / 255, g / 255, b / 255), strokeColor=None))
    d.add(Rect(0, bottom, bar_w, top - bottom, fillColor=None, strokeColor=MUTED, strokeWidth=0.4))
    for v in (0.0, 0.5, 1.0):
        y = bottom + (top - bottom) * v
        d.add(Line(bar_w, y, bar_w + 2, y, strokeColor=MUTED, strokeWidth=0.4))
        d.add(String(bar_w + 3, y - 2.3, f"{v:.1f}", fontName=regular, fontSize=6, fillColor=INK))
    d.add(String(0, 2, "CAM", fontName=regular, fontSize=6, fillColor=MUTED))
    return d


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
        if key.cam is not None:
            overlay = heatmap_overlay_image(key.hu, key.cam, to_image=key.cam_to_image)
            cells.append(Image(_png(overlay), width=w, height=h))
            cells.append(_colour_bar(h, st))
        else:
            cells.append(Paragraph("Heat map not computed for this analysis.", st["muted"]))
            cells.append("")
    else:
        cells += [Paragraph("Pixels not available.", st["muted"]), "", ""]
    threshold = stack.threshold or 0.0
    relation = "at or above" if key.probability_any >= threshold else "below"
    info = [
        Paragraph(f"<b>K{number} \u00b7 slice {key.slice_number} of {stack.n_slices}</b>", st["base"]),
        Paragraph(f"Position {_mm(key.position_mm)}", st["cell"]),
        Paragraph(f"P(any) <b>{key.probability_any:.2f}</b>, {relation} threshold {threshold:.2f}", st["cell"]),
        Paragraph(_subtypes_at(stack, key.index), st["small"]),
        Spacer(1, 3),
        Paragraph(f"Window W{BRAIN.width_hu:.0f} / L{BRAIN.center_hu:.0f} (brain)", st["small"]),
        Paragraph("Heat map: Grad-CAM of P(any) on the 40\u2013100 HU pixels inside the skull, scaled by the "
                  "probability; inferno colour map, transparent below 0.1"
                  + ("." if key.cam_to_image is not None or key.cam is None else "; position approximate (stretched over the image)."),
                  st["muted"]),
        Spacer(1, 3),
        Paragraph("SOPInstanceUID", st["label"]),
        Paragraph(escape_text(key.sop_instance_uid), st["mono"]),
    ]
    cells.append(info)
    table = Table([cells], colWidths=[box + 2 * mm, box + 2 * mm, 11 * mm, CONTENT_W - 2 * box - 15 * mm], hAlign="LEFT")
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
            note = f"\u25b2 reaches the operating threshold {_prob(findings.threshold)}. "
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
        name = f"{_series_title(s)}{_stack_suffix(s)}"
        if several_patients:
            name += " \u00b7 patient ID " + (s.patient_id or "\u2014")
        heading = markup(f"{name} \u2014 per-slice probabilities")
        sub = (
            f"{s.n_slices} slices \u00b7 {s.orientation} \u00b7 verdict: {s.verdict_text} \u00b7 "
            f"max P(any) {_prob(s.max_any)} on slice {s.max_any_slice}"
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
            Paragraph(f"\u25b2 reaches the operating threshold {_prob(s.threshold)}.", st["muted"]),
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
    st = _styles()
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
    furniture = _Furniture(findings, st)
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=furniture)])
    doc.build(_story(findings, st), canvasmaker=_NumberedCanvas)


def write_findings_pdf(path: Path | str, findings: StudyFindings) -> Path:
    """Write the findings PDF to `path` atomically; raises ExportError (nothing left behind) on failure."""
    return write_atomic(path, lambda handle: build_findings_pdf(findings, handle))


__all__ = ["build_findings_pdf", "write_findings_pdf", "VERDICT_POSITIVE", "VERDICT_NEGATIVE"]
