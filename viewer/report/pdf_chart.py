"""The per-slice probability chart of the findings PDF (any + subtypes, operating threshold) and the
heatmap colour bar: reportlab drawings, no Qt."""
from __future__ import annotations

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Group, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth

from inference.labels import LABELS
from viewer.report.findings import LABEL_NAMES, StackFindings
from viewer.report.images import HEATMAP_LUT
from viewer.report.fonts import register_fonts
from viewer.report.pdf_page import INK, MUTED

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


def chart(stack: StackFindings, width: float, height: float) -> Drawing:
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


def colour_bar(height: float, st: dict[str, ParagraphStyle]) -> Drawing:
    width = 30
    bar_w = 7
    d = Drawing(width, height)
    regular, _ = register_fonts()
    steps = 64
    top, bottom = height - 6, 12
    for i in range(steps):
        r, g, b = (int(c) for c in HEATMAP_LUT[int(round(i * 255 / (steps - 1)))])
        y0 = bottom + (top - bottom) * i / steps
        d.add(Rect(0, y0, bar_w, (top - bottom) / steps + 0.3, fillColor=colors.Color(r / 255, g / 255, b / 255), strokeColor=None))
    d.add(Rect(0, bottom, bar_w, top - bottom, fillColor=None, strokeColor=MUTED, strokeWidth=0.4))
    for v in (0.0, 0.5, 1.0):
        y = bottom + (top - bottom) * v
        d.add(Line(bar_w, y, bar_w + 2, y, strokeColor=MUTED, strokeWidth=0.4))
        d.add(String(bar_w + 3, y - 2.3, f"{v:.1f}", fontName=regular, fontSize=6, fillColor=INK))
    d.add(String(0, 2, "CAM", fontName=regular, fontSize=6, fillColor=MUTED))
    return d
