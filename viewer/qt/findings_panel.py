"""The findings panel: the AI's verdict per analysed stack and for the study, in words.

Renders viewer.report.findings (StudyFindings / StackFindings) as read-only rich text. The verdict is
always spelled out and marked with a symbol, never shown by colour alone, and the honest-use
statement is always shown. Each stack shows its combined verdict (viewer.report.verdict) with
"provisional" while only the first reader has read it, which reader found what, the readers'
disagreement when there is one, the second reader's (BLAST-CT) lesion volumes per class with their
slice ranges, and the BLAST-CT citation.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from urllib.parse import quote, unquote

from PySide6 import QtCore, QtWidgets

from inference.readers.blast_ct.results import LESION_CLASSES
from viewer.report.findings import (
    HONEST_USE,
    LESION_NAMES,
    VERDICT_NEGATIVE,
    VERDICT_NOT_ANALYSED,
    VERDICT_POSITIVE,
    LesionFindings,
    NotAnalysed,
    StackFindings,
    StudyFindings,
    summarize_study,
)
from viewer.report.verdict import SECOND_READER_CITATION
from viewer.qt.series_browser import slices_text

# Colour only reinforces the words and symbols; both themes keep a readable contrast.
_STYLES = {
    False: {"pos": "color:#b04a00; font-weight:bold;", "neg": "color:#1f5f9f; font-weight:bold;", "muted": "color:#606060;"},
    True: {"pos": "color:#ffb347; font-weight:bold;", "neg": "color:#9fd3ff; font-weight:bold;", "muted": "color:#a8a8a8;"},
}


def verdict_words(ich_suspected: bool | None) -> str:
    """The verdict sentence for a stack or study (None: not analysed)."""
    if ich_suspected is None:
        return VERDICT_NOT_ANALYSED
    return VERDICT_POSITIVE if ich_suspected else VERDICT_NEGATIVE


def _verdict_html(ich_suspected: bool | None, st: dict[str, str]) -> str:
    if ich_suspected is None:
        return f'<span style="{st["muted"]}">&#8212; {escape(VERDICT_NOT_ANALYSED)}</span>'
    if ich_suspected:
        return f'<span style="{st["pos"]}">&#9888; {escape(VERDICT_POSITIVE)}</span>'
    return f'<span style="{st["neg"]}">&#10003; {escape(VERDICT_NEGATIVE)}</span>'


def _stack_title(s: StackFindings | NotAnalysed) -> str:
    meta = getattr(s, "metadata", None)
    number = f"#{meta.series_number} " if meta is not None and meta.series_number is not None else ""
    description = (meta.series_description if meta is not None else getattr(s, "description", "")) or "(no description)"
    return f"{number}{description}"


SLICE_LINK_SCHEME = "ichview-slice"


def slice_link(stack_id: str, index: int, text: str) -> str:
    """An HTML link that makes the panel emit slice_activated(stack_id, index)."""
    return f'<a href="{SLICE_LINK_SCHEME}:{index}:{quote(stack_id, safe="")}">{escape(text)}</a>'


def parse_slice_link(url: str) -> tuple[str, int] | None:
    """(stack_id, index) of a link made by `slice_link`, else None."""
    prefix = SLICE_LINK_SCHEME + ":"
    if not url.startswith(prefix):
        return None
    index, _, stack = url[len(prefix) :].partition(":")
    try:
        return unquote(stack), int(index)
    except ValueError:
        return None


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _component_slices(stack_id: str, first: int, last: int) -> str:
    if first == last:
        return slice_link(stack_id, first, f"slice {first + 1}")
    return slice_link(stack_id, first, f"slices {first + 1}\u2013{last + 1}")


def verdict_details_html(s: StackFindings, second_status: str, st: dict[str, str]) -> str:
    """Provisional or not, who found what, the basis and any disagreement, in words."""
    v = s.verdict
    if v is None:
        return ""
    parts = []
    if v.provisional:
        why = second_status or "second reader not run"
        parts.append(f"<p><b>Provisional</b> (first reader only): {escape(why)}.</p>")
    if v.suspected and v.by:
        parts.append(f"<p>Found by: {escape(' and '.join(v.by))}</p>")
    if v.basis:
        parts.append(f"<p style='{st['muted']}'>Basis: {escape(v.basis)}</p>")
    if v.disagreement:
        parts.append(f"<p>&#9888; <b>The readers disagree:</b> {escape(v.disagreement)}.</p>")
    return "".join(parts)


def lesions_html(s: StackFindings, st: dict[str, str]) -> str:
    """The second reader's volumes per class (mL) with component slice ranges, and its citation."""
    les: LesionFindings | None = s.lesions
    if les is None:
        return ""
    parts = ["<p><b>Lesion segmentation (BLAST-CT)</b></p>"]
    if not les.analysed:
        parts.append(f"<p>Not read by BLAST-CT: {escape(les.reason)}</p>")
    else:
        rows = []
        for name in LESION_CLASSES:
            comps = [c for c in les.components if c.label == name]
            where = ", ".join(
                f"{_component_slices(s.stack_id, c.first_slice, c.last_slice)} ({c.volume_ml:.1f} mL)" for c in comps
            ) or "&#8212;"
            ml = les.volumes_ml.get(name, 0.0)
            rows.append(
                f"<tr><td>{escape(name)}</td><td align='right'>{ml:.1f}</td><td>{where}</td></tr>"
            )
        parts.append(
            "<table cellspacing='0' cellpadding='3' border='1' style='border-collapse:collapse;'>"
            "<tr><th align='left'>Class</th><th>Volume (mL)</th><th align='left'>Components (slices)</th></tr>"
            + "".join(rows) + "</table>"
        )
        legend = "; ".join(f"{k} = {LESION_NAMES[k].lower()}" for k in LESION_CLASSES)
        parts.append(
            f"<p style='{st['muted']}'>{escape(legend)}. Blood: {les.blood_ml:.1f} mL in total; components under "
            f"{les.min_component_ml:g} mL are not counted.</p>"
        )
        for note in les.notes:
            parts.append(f"<p style='{st['muted']}'>{escape(note)}</p>")
        parts.append(
            f"<p style='{st['muted']}'>{escape(', '.join(les.models) or 'BLAST-CT')} · device "
            f"{escape(les.device or 'unknown')} · {_seconds(les.seconds)}</p>"
        )
    parts.append(f"<p style='{st['muted']}'>{escape(les.citation or SECOND_READER_CITATION)}</p>")
    return "".join(parts)


def stack_html(s: StackFindings, *, dark: bool = False, second_status: str = "") -> str:
    """One analysed (or refused) stack as HTML (colours for a dark or light background);
    `second_status` says what the second reader is doing on it (e.g. 'Lesion segmentation
    (BLAST-CT) 3/12')."""
    st = _STYLES[dark]
    parts = [f"<h3>{escape(_stack_title(s))} <span style='{st['muted']}'>({slices_text(s.n_slices)})</span></h3>"]
    if not s.analysed:
        parts.append(f"<p>Not analysed: {escape(s.reason)}</p>")
        return "".join(parts)
    provisional = " <i>(provisional)</i>" if s.provisional else ""
    parts.append(f"<p>{_verdict_html(s.ich_suspected, st)}{provisional}</p>")
    parts.append(verdict_details_html(s, second_status, st))
    if s.max_any is not None and s.max_any_slice is not None:
        parts.append(
            f"<p>Maximum probability (any hemorrhage): <b>{s.max_any:.2f}</b> at "
            f"{slice_link(s.stack_id, s.max_any_index, f'slice {s.max_any_slice}')}"
            f" &nbsp;·&nbsp; operating threshold {s.threshold:.2f}</p>"
        )
    if s.key_slices:
        links = ", ".join(
            slice_link(s.stack_id, k.index, f"slice {k.slice_number}") + f" ({k.probability_any:.2f})"
            for k in s.key_slices
        )
        parts.append(f"<p>Key slices: {links}</p>")
    rows = []
    findings = ([s.any_finding] if s.any_finding is not None else []) + list(s.subtypes)
    for f in findings:
        marker = "&#9888; " if f.above_threshold else ""
        rows.append(
            f"<tr><td>{marker}{escape(f.name)}</td><td align='right'>{f.max_probability:.2f}</td>"
            f"<td>{escape(f.describe_ranges())}</td></tr>"
        )
    parts.append(
        "<table cellspacing='0' cellpadding='3' border='1' style='border-collapse:collapse;'>"
        "<tr><th align='left'>Label</th><th>Max P</th><th align='left'>Slices at or above threshold</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    if s.warnings:
        items = "".join(f"<li>{escape(w.message)}</li>" for w in s.warnings)
        parts.append(f"<p>Stack warnings:</p><ul>{items}</ul>")
    if s.model is not None:
        parts.append(
            f"<p style='{st['muted']}'>Model {escape(s.model.name)} {escape(s.model.version)} · "
            f"device {escape(s.device or 'unknown')} · {_seconds(s.seconds)}</p>"
        )
    parts.append(lesions_html(s, st))
    return "".join(parts)


def study_html(study: StudyFindings, *, dark: bool = False, second_status: Mapping[str, str] | None = None) -> str:
    """The whole panel as HTML: study summary, each stack, what was not analysed, honest use.
    `second_status` maps stack ids to what the second reader is doing on them."""
    st = _STYLES[dark]
    states = second_status or {}
    parts = ["<h2>AI findings</h2>"]
    provisional = " <i>(provisional)</i>" if any(s.provisional for s in study.stacks) else ""
    parts.append(f"<p><b>Study:</b> {_verdict_html(study.ich_suspected, st)}{provisional}</p>")
    if study.stacks:
        best = max(study.stacks, key=lambda s: s.max_any if s.max_any is not None else -1.0)
        if best.max_any is not None:
            parts.append(
                f"<p>Maximum probability (any hemorrhage): <b>{best.max_any:.2f}</b> in "
                f"{escape(_stack_title(best))}, "
                f"{slice_link(best.stack_id, best.max_any_index, f'slice {best.max_any_slice}')}</p>"
            )
        parts.append(f"<p>Stacks analysed: {len(study.stacks)}</p>")
    if study.model is not None:
        parts.append(
            f"<p>Model: {escape(study.model.name)} {escape(study.model.version)} · "
            f"device {escape(study.device or 'unknown')} · time {_seconds(study.seconds)} · "
            f"operating threshold {study.model.threshold:.2f}</p>"
        )
        if study.model.trained_on:
            parts.append(f"<p style='{st['muted']}'>Trained on: {escape(study.model.trained_on)}</p>")
    parts.append(f"<p><i>{escape(study.honest_use or HONEST_USE)}</i></p>")
    parts.append("<hr/>")
    for s in study.stacks:
        parts.append(stack_html(s, dark=dark, second_status=states.get(s.stack_id, "")))
    if study.not_analysed:
        parts.append("<h3>Not analysed</h3><ul>")
        for n in study.not_analysed:
            what = _stack_title(n) if (n.stack_id or n.description) else (n.path or n.series_uid or "(file)")
            parts.append(f"<li>{escape(what)} — not analysed: {escape(n.reason)}</li>")
        parts.append("</ul>")
    return "".join(parts)


class FindingsPanel(QtWidgets.QWidget):
    """Read-only findings: study summary first, then each stack, then what was not analysed.

    Slice numbers of maxima and key slices are links: a click emits slice_activated(stack_id, index).
    """

    slice_activated = QtCore.Signal(str, int)  # stack_id, 0-based index

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.status_label = QtWidgets.QLabel(self)
        self.status_label.setWordWrap(True)
        self.browser = QtWidgets.QTextBrowser(self)
        self.browser.setOpenLinks(False)
        self.browser.anchorClicked.connect(self._on_anchor)
        self.browser.setAccessibleName("AI findings")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status_label)
        layout.addWidget(self.browser)
        self._findings: StudyFindings | None = None
        self.clear()

    @property
    def findings(self) -> StudyFindings | None:
        return self._findings

    def clear(self, message: str = "No AI analysis yet.") -> None:
        """Show no findings, only a message and the honest-use statement."""
        self._findings = None
        self.status_label.setText(message)
        self.browser.setHtml(f"<p>{escape(message)}</p><p><i>{escape(HONEST_USE)}</i></p>")

    def set_status(self, text: str) -> None:
        """A one-line state above the findings (e.g. 'Analysing… 12 / 40 slices')."""
        self.status_label.setText(text)

    def set_findings(self, study: StudyFindings, second_status: Mapping[str, str] | None = None) -> None:
        """Show a study's findings (from viewer.report.findings.summarize_study); `second_status`
        maps stack ids to what the second reader is doing on them (shown with a provisional verdict)."""
        self._findings = study
        provisional = " (provisional)" if any(s.provisional for s in study.stacks) else ""
        self.status_label.setText(verdict_words(study.ich_suspected) + provisional)
        scroll = self.browser.verticalScrollBar().value()
        dark = self.browser.palette().base().color().lightness() < 128
        self.browser.setHtml(study_html(study, dark=dark, second_status=second_status))
        self.browser.verticalScrollBar().setValue(scroll)

    def set_stacks(self, stacks: Sequence[StackFindings], not_analysed: Sequence[NotAnalysed] = ()) -> None:
        """Convenience: summarise stacks into a study and show it."""
        self.set_findings(summarize_study(stacks, not_analysed))

    def plain_text(self) -> str:
        """Everything shown, as plain text."""
        return self.status_label.text() + "\n" + self.browser.toPlainText()

    @QtCore.Slot(QtCore.QUrl)
    def _on_anchor(self, url: QtCore.QUrl) -> None:
        target = parse_slice_link(url.toString())
        if target is not None:
            self.slice_activated.emit(*target)

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 (Qt's name)
        return QtCore.QSize(360, 480)
