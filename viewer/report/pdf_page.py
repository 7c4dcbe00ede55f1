"""The findings PDF's page: sizes, colours, paragraph styles, value formatting, tables, and the
furniture on every page (patient header, honest-use footer, "Page n of N")."""
from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Paragraph, Table, TableStyle

from viewer.report.findings import StackFindings, StudyFindings
from viewer.report.fonts import MAX_FIELD_CHARS, MONO, clip_text, markup, person_name, register_fonts
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
def page_styles() -> dict[str, ParagraphStyle]:
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


def fmt_date(da: str) -> str:
    """DICOM DA 'YYYYMMDD' -> 'YYYY-MM-DD'; anything else as stored; '' -> em dash."""
    da = da.strip()
    if len(da) == 8 and da.isdigit():
        return f"{da[:4]}-{da[4:6]}-{da[6:]}"
    return da or "\u2014"


def fmt_time(tm: str) -> str:
    tm = tm.strip()
    if len(tm) >= 4 and tm[:4].isdigit():
        return f"{tm[:2]}:{tm[2:4]}"
    return tm


def or_dash(value: str) -> str:
    return value.strip() or "\u2014"


def fmt_sex(code: str) -> str:
    return {"M": "Male", "F": "Female", "O": "Other"}.get(code.strip().upper(), or_dash(code))


def fmt_prob(p: float | None) -> str:
    return "\u2014" if p is None else f"{p:.2f}"


def fmt_mm(v: float) -> str:
    return f"{v:.1f} mm".replace("-", "\u2212")


def series_title(stack: StackFindings) -> str:
    number = stack.metadata.series_number
    label = f"Series {number}" if number is not None else "Series"
    if stack.description:
        label += f" \u00b7 {stack.description}"
    return label


def stack_suffix(stack: StackFindings) -> str:
    return f" (part {stack.stack_id.rsplit('#', 1)[1]})" if "#" in stack.stack_id else ""


# ---------------------------------------------------------------------------------- page furniture


class NumberedCanvas(Canvas):
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


class PageFurniture:
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


def escape_text(text: str, *, limit: int = MAX_FIELD_CHARS) -> str:
    """Escape plain text (no CJK handling) for a Paragraph: control characters removed, cut at
    `limit` characters with a visible mark so no value can overflow a page."""
    return escape(clip_text(text, limit))


def table(rows: list[list[object]], widths: Sequence[float], *, header: bool = True, extra: Sequence[tuple] = ()) -> Table:
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
