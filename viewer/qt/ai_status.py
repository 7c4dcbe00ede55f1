"""The AI's words for the shown stack: the verdict line (status bar and strip header) and the
current slice's probability readout, computed from a `StackRun` (no widgets here)."""
from __future__ import annotations

import numpy as np

from inference.labels import LABELS
from viewer.qt.ai_run import StackRun
from viewer.report.findings import VERDICT_POSITIVE

SHORT_HONEST_USE = "research and triage aid — not a diagnosis"


def verdict_now(run: StackRun | None, threshold: float) -> tuple[str, bool | None]:
    """(text, suspected) for the shown stack; suspected None while undecided or not analysed."""
    if run is None:
        return "", None
    if run.findings is not None and not run.findings.analysed:
        return f"Not analysed: {run.findings.reason}", None
    if run.acceptance is not None and not run.acceptance.accepted:
        return f"Not analysed: {run.acceptance.reason}", None
    best = run.max_any()
    if run.findings is not None:
        text = run.findings.verdict_text
        if run.findings.provisional:
            text += " (provisional: first reader only)"
        return text, run.findings.ich_suspected
    if best is not None and best >= threshold:
        return f"{VERDICT_POSITIVE} (analysing {run.n_done} / {run.n_slices})", True
    return f"Analysing {run.n_done} / {run.n_slices} slices…", None


def readout_text(run: StackRun, index: int, label: str, threshold: float) -> str:
    """The shown slice's probability of `label` against the operating threshold, in words."""
    i = index
    if run.acceptance is not None and not run.acceptance.accepted:
        return f"Slice {i + 1} / {run.n_slices}: not analysed"
    k = LABELS.index(label)
    value = run.probabilities[i, k] if 0 <= i < run.n_slices else np.nan
    name = f"P({label})"
    if not np.isfinite(value):
        return f"Slice {i + 1} / {run.n_slices}: {name} pending"
    mark = "≥" if value >= threshold else "<"
    return f"Slice {i + 1} / {run.n_slices}: {name} {value:.2f} ({mark} operating threshold {threshold:.2f})"
