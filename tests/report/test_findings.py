"""Findings: verdict from the stored threshold only, maxima, ranges and key slices, in words."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from report_inputs import MODEL, analysis_for, head_volume

from inference.labels import LABELS, SUBTYPES
from inference.results import Acceptance, StackAnalysis
from viewer.report.findings import (
    HONEST_USE,
    VERDICT_NEGATIVE,
    VERDICT_NOT_ANALYSED,
    VERDICT_POSITIVE,
    NotAnalysed,
    contiguous_runs,
    pick_key_slices,
    summarize_stack,
    summarize_study,
)


def test_bleed_stack_is_suspected_with_max_slice_and_subtype_range() -> None:
    vol = head_volume()
    f = summarize_stack(vol, analysis_for(vol))
    assert f.analysed and f.ich_suspected is True
    assert f.verdict_text == "Hemorrhage suspected"
    assert f.max_any == pytest.approx(0.93)
    assert f.max_any_index == 6 and f.max_any_slice == 7
    assert f.threshold == MODEL.threshold
    iph = f.subtypes[SUBTYPES.index("intraparenchymal")]
    assert iph.max_probability == pytest.approx(0.88)
    assert [(r.first_slice, r.last_slice) for r in iph.ranges] == [(6, 8)]
    assert iph.ranges[0].first_position_mm == pytest.approx(vol.positions_mm[5])
    assert iph.ranges[0].last_position_mm == pytest.approx(vol.positions_mm[7])
    assert "slices 6\u20138" in iph.describe_ranges() and "mm" in iph.describe_ranges()
    ivh = f.subtypes[SUBTYPES.index("intraventricular")]
    assert [(r.first_slice, r.last_slice) for r in ivh.ranges] == [(7, 7)]
    assert ivh.describe_ranges().startswith("slice 7 (")
    edh = f.subtypes[SUBTYPES.index("epidural")]
    assert not edh.above_threshold and edh.describe_ranges() == "\u2014"
    assert [s.label for s in f.subtypes] == list(SUBTYPES)


def test_clean_stack_is_negative_with_honest_wording() -> None:
    vol = head_volume(bleed=False)
    f = summarize_stack(vol, analysis_for(vol, bleed=False))
    assert f.ich_suspected is False
    assert f.verdict_text == VERDICT_NEGATIVE == "No hemorrhage detected \u2014 does not exclude hemorrhage"
    assert all(not s.above_threshold for s in f.subtypes)
    assert f.max_any == pytest.approx(0.12)


def test_verdict_uses_the_stored_threshold_inclusively() -> None:
    vol = head_volume(bleed=False)
    a = analysis_for(vol, bleed=False)
    probs = a.probabilities.copy()
    probs[3, 0] = 0.5  # exactly the threshold
    at = dataclasses.replace(a, probabilities=probs)
    assert summarize_stack(vol, at).ich_suspected is True
    probs[3, 0] = np.nextafter(np.float32(0.5), np.float32(0))
    below = dataclasses.replace(a, probabilities=probs)
    assert summarize_stack(vol, below).ich_suspected is False
    # Another stored threshold moves the verdict; nothing else does.
    strict = dataclasses.replace(a, probabilities=probs, model=dataclasses.replace(MODEL, threshold=0.4))
    assert summarize_stack(vol, strict).ich_suspected is True


def test_key_slices_are_top_any_spread_and_inside_the_finding() -> None:
    vol = head_volume(n_slices=24)
    f = summarize_stack(vol, analysis_for(vol))
    idx = [k.index for k in f.key_slices]
    assert idx[0] == 6  # the maximum first
    assert all(f.probabilities[i, 0] >= 0.5 for i in idx)
    assert all(abs(a - b) >= 2 for a in idx for b in idx if a != b)
    assert len(idx) <= 4
    k0 = f.key_slices[0]
    assert k0.slice_number == 7 and k0.sop_instance_uid == vol.sop_instance_uids[6]
    assert k0.position_mm == pytest.approx(vol.positions_mm[6])
    # Key slices carry their own pixels and CAM so a report needs neither the volume nor the analysis.
    assert k0.hu is not None and np.array_equal(k0.hu, vol.hu[6])
    assert k0.cam is not None and k0.cam.shape == (32, 32) and float(k0.cam.max()) == pytest.approx(0.93, abs=0.01)


def test_key_slices_of_a_negative_stack_are_the_top_ones_spread() -> None:
    probs = np.array([0.1, 0.3, 0.29, 0.05, 0.2, 0.25, 0.01, 0.02, 0.28, 0.27])
    assert pick_key_slices(probs, threshold=0.5, max_slices=3, min_gap_slices=2) == [1, 8, 5]
    assert pick_key_slices(np.array([]), threshold=0.5) == []


def test_contiguous_runs() -> None:
    assert contiguous_runs(np.array([0, 1, 1, 0, 1, 0, 0, 1], bool)) == [(1, 2), (4, 4), (7, 7)]
    assert contiguous_runs(np.ones(3, bool)) == [(0, 2)]
    assert contiguous_runs(np.zeros(3, bool)) == []


def test_refused_stack_keeps_its_reason_and_moves_to_not_analysed() -> None:
    vol = head_volume(series_uid="1.2.3.9")
    refused = StackAnalysis(
        series_uid=vol.series_uid,
        stack_id=vol.stack_id,
        acceptance=Acceptance(False, "Only 12 slices cover 30 mm: not a head CT"),
        model=MODEL,
    )
    f = summarize_stack(vol, refused)
    assert not f.analysed and f.ich_suspected is None
    assert f.verdict_text == VERDICT_NOT_ANALYSED and "not a head CT" in f.reason

    ok_vol = head_volume()
    ok = summarize_stack(ok_vol, analysis_for(ok_vol))
    mr = NotAnalysed(reason="Modality MR: the model analyses CT only", series_uid="1.2.3.7", modality="MR")
    study = summarize_study([ok, f], [mr])
    assert [s.stack_id for s in study.stacks] == [ok_vol.stack_id]
    assert [n.series_uid for n in study.not_analysed] == ["1.2.3.7", "1.2.3.9"]
    assert study.ich_suspected is True and study.verdict_text == VERDICT_POSITIVE
    assert study.model == MODEL and study.device == "cpu"
    assert len(study.studies) == 1 and study.studies[0].patient_name == "DOE^JANE"
    assert study.generated_at.tzinfo is not None
    assert "synthetic data only" in study.honest_use and "not clinically validated" in HONEST_USE
    assert "not a diagnosis" in HONEST_USE


def test_study_with_nothing_analysed_says_so() -> None:
    study = summarize_study([], [NotAnalysed(reason="no CT", path="/x/a.dcm")])
    assert study.ich_suspected is None and study.verdict_text == VERDICT_NOT_ANALYSED


def test_study_negative_only_when_every_stack_is_negative() -> None:
    a = head_volume(bleed=False, series_uid="1.2.3.1")
    b = head_volume(bleed=False, series_uid="1.2.3.2")
    fa = summarize_stack(a, analysis_for(a, bleed=False))
    fb = summarize_stack(b, analysis_for(b, bleed=False))
    assert summarize_study([fa, fb]).ich_suspected is False


def test_mismatched_analysis_is_refused() -> None:
    vol = head_volume()
    other = analysis_for(head_volume(series_uid="9.9"))
    with pytest.raises(ValueError, match="does not belong"):
        summarize_stack(vol, other)
    short = dataclasses.replace(analysis_for(vol), probabilities=np.zeros((3, len(LABELS)), np.float32))
    with pytest.raises(ValueError, match="shape"):
        summarize_stack(vol, short)
