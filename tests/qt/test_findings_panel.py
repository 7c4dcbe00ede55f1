"""The findings panel says the verdict in words, the subtype maxima and ranges, and the disclaimer."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtGui
from volume_factory import make_volume

from inference.labels import LABELS
from inference.results import Acceptance, ModelInfo, StackAnalysis
from viewer.report.findings import HONEST_USE, VERDICT_NEGATIVE, VERDICT_POSITIVE, NotAnalysed, summarize_stack
from viewer.core.warnings import GANTRY_TILT, StackWarning
from viewer.qt.findings_panel import FindingsPanel

MODEL = ModelInfo("ichnet-synth", "0.3.1", "ab" * 32, 0.4, "synthetic head CT only (not clinically validated)")


def _stack(stack_id: str, bleed: tuple[int, ...], *, n: int = 20, accepted: bool = True, reason: str = ""):
    volume = make_volume(np.zeros((n, 16, 16), np.int16), stack_id=stack_id)
    probs = np.full((n, len(LABELS)), 0.03, np.float32)
    for i in bleed:
        probs[i, 0] = 0.92
        probs[i, LABELS.index("subdural")] = 0.85
    analysis = StackAnalysis(
        series_uid=volume.series_uid, stack_id=stack_id, acceptance=Acceptance(accepted, reason),
        model=MODEL, device="cpu", seconds=3.25, probabilities=probs if accepted else np.zeros((0, 6), np.float32),
    )
    return summarize_stack(volume, analysis)


@pytest.fixture
def panel(qtbot):
    p = FindingsPanel()
    qtbot.addWidget(p)
    p.resize(460, 700)
    p.show()
    qtbot.waitExposed(p)
    return p


def _text(panel) -> str:
    return " ".join(panel.plain_text().split())


def test_positive_stack_and_refused_stack(panel, artifacts_dir):
    positive = _stack("1.1", bleed=(11, 12, 13))
    refused = _stack("1.2", bleed=(), accepted=False, reason="the stack is not axial (sagittal)")
    junk = NotAnalysed(reason="not a DICOM file", path="/study/readme.txt")
    panel.set_stacks([positive, refused], [junk])
    text = _text(panel)
    assert VERDICT_POSITIVE in text
    assert " ".join(HONEST_USE.split()) in text
    assert "0.92 at slice 12" in text
    assert "Subdural 0.85 slices 12–14" in text  # subtype: max probability and slice range
    assert "Epidural 0.03 —" in text
    assert "ichnet-synth 0.3.1" in text and "device cpu" in text and "3.2 s" in text
    assert "not analysed: the stack is not axial (sagittal)" in text
    assert "/study/readme.txt — not analysed: not a DICOM file" in text
    panel.grab().save(str(artifacts_dir / "findings_panel_positive.png"))


def test_negative_study_words_and_rendered_text(panel):
    blank = panel.grab().toImage()
    panel.set_stacks([_stack("2.1", bleed=())])
    text = _text(panel)
    assert VERDICT_NEGATIVE in text and VERDICT_POSITIVE not in text
    assert "does not exclude hemorrhage" in text
    assert "not clinically validated" in text and "not a diagnosis" in text
    # Something was drawn: the panel's pixels changed from the empty state.
    img = panel.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    blank = blank.convertToFormat(QtGui.QImage.Format.Format_RGB32)
    a = np.frombuffer(img.constBits(), np.uint8)
    b = np.frombuffer(blank.constBits(), np.uint8)
    assert a.shape == b.shape and np.count_nonzero(a != b) > 1000


def test_stack_warnings_and_clear(panel):
    s = _stack("3.1", bleed=(4,))
    tilted = type(s)(**{**s.__dict__, "warnings": (StackWarning(GANTRY_TILT, "Gantry tilt of 18.5° detected."),)})
    panel.set_stacks([tilted])
    assert "Gantry tilt of 18.5° detected." in _text(panel)
    panel.clear("Analysing…")
    assert VERDICT_POSITIVE not in _text(panel) and "Analysing…" in _text(panel)
    assert " ".join(HONEST_USE.split()) in _text(panel)


def test_clicking_a_key_slice_link_emits_the_slice(panel, qtbot):
    from PySide6 import QtCore
    from PySide6.QtTest import QTest

    stack = _stack("1.9#2", bleed=(7, 8))
    panel.set_stacks([stack])
    assert "Key slices: slice 8 (0.92)" in _text(panel)
    cursor = panel.browser.document().find("Key slices: slice 8")
    assert not cursor.isNull()
    cursor.setPosition(cursor.position() - 2)  # inside the link text
    panel.browser.setTextCursor(cursor)
    rect = panel.browser.cursorRect(cursor)
    with qtbot.waitSignal(panel.slice_activated) as blocker:
        QTest.mouseClick(panel.browser.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == ["1.9#2", 7]
