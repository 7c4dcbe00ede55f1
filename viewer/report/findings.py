"""Findings: what the AI saw in a stack and in a study, in words a reader can check (no Qt).

A stack's verdict comes from `viewer.report.verdict.decide`, which combines the first reader (ours:
per-slice probabilities against the model's stored operating threshold `ModelInfo.threshold`) with
the second reader (BLAST-CT's lesion segmentation and volumes, `LesionFindings`); without a second
reading it is the first reader's alone, marked provisional. Subtype slice ranges are the
contiguous runs of slices whose subtype probability is >= that same threshold. Slice numbers shown
to people are 1-based in display order (`index + 1`, inferior to superior for axial stacks); JSON
keeps the 0-based `index` as well.

This is a research and triage aid, never a diagnosis: every surface that shows findings also shows
`HONEST_USE`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import numpy as np

from inference.labels import LABELS, SUBTYPES
from inference.readers.blast_ct.results import (
    BLOOD_CLASSES,
    LESION_CLASSES,
    LesionComponent,
    SecondReadResult,
)
from inference.results import ModelInfo, StackAnalysis
from viewer.core.volume import StudyMetadata, Volume
from viewer.core.warnings import StackWarning
from viewer.report.verdict import DEFAULT_RULE, SECOND_READER_CITATION, Verdict, VerdictRule, decide

VERDICT_POSITIVE = "Hemorrhage suspected"
VERDICT_NEGATIVE = "No hemorrhage detected \u2014 does not exclude hemorrhage"
VERDICT_NOT_ANALYSED = "Not analysed"
HONEST_USE = (
    "Research and triage aid only, not a diagnosis and not clinically validated: the slice classifier "
    "was trained on synthetic data only; the lesion segmenter (BLAST-CT) on real head CT of trauma "
    "patients, which is not this scan's population. A qualified reader must review the images."
)
LESION_NAMES: dict[str, str] = {
    "IPH": "Intraparenchymal haemorrhage",
    "EAH": "Extra-axial haemorrhage (subdural, epidural or subarachnoid)",
    "oedema": "Perilesional oedema",
    "IVH": "Intraventricular haemorrhage",
}
LABEL_NAMES: dict[str, str] = {
    "any": "Any hemorrhage",
    "epidural": "Epidural",
    "intraparenchymal": "Intraparenchymal",
    "intraventricular": "Intraventricular",
    "subarachnoid": "Subarachnoid",
    "subdural": "Subdural",
}
MAX_KEY_SLICES = 4


@dataclass(frozen=True)
class SliceRange:
    """A contiguous run of slices at or above the threshold (inclusive ends)."""

    first_index: int  # 0-based, display order
    last_index: int
    first_position_mm: float
    last_position_mm: float
    max_probability: float

    @property
    def first_slice(self) -> int:
        """1-based display slice number of the first slice."""
        return self.first_index + 1

    @property
    def last_slice(self) -> int:
        return self.last_index + 1

    @property
    def n_slices(self) -> int:
        return self.last_index - self.first_index + 1

    def describe(self) -> str:
        """E.g. 'slices 12-14 (31.0 to 41.0 mm)' or 'slice 12 (31.0 mm)'."""
        if self.first_index == self.last_index:
            return f"slice {self.first_slice} ({self.first_position_mm:.1f} mm)"
        return (
            f"slices {self.first_slice}\u2013{self.last_slice} "
            f"({self.first_position_mm:.1f} to {self.last_position_mm:.1f} mm)"
        )


@dataclass(frozen=True)
class LabelFinding:
    """One label's maximum over the stack and where it lies above the threshold."""

    label: str  # one of LABELS
    max_probability: float
    max_index: int  # 0-based slice of the maximum
    ranges: tuple[SliceRange, ...]  # runs >= threshold, inferior to superior; () when none

    @property
    def name(self) -> str:
        return LABEL_NAMES[self.label]

    @property
    def max_slice(self) -> int:
        """1-based display slice number of the maximum."""
        return self.max_index + 1

    @property
    def above_threshold(self) -> bool:
        return bool(self.ranges)

    def describe_ranges(self) -> str:
        """Ranges in words, or an em dash when no slice reaches the threshold."""
        return "; ".join(r.describe() for r in self.ranges) if self.ranges else "\u2014"


@dataclass(frozen=True, eq=False)
class KeySlice:
    """A slice worth looking at: among the highest `any` probabilities, spread along the stack.

    Carries its own pixels (and CAM) so a report needs neither the whole volume nor the analysis.
    """

    index: int  # 0-based, display order
    position_mm: float
    sop_instance_uid: str
    probability_any: float
    hu: np.ndarray | None = None  # (rows, cols) HU, canonical orientation (a copy)
    cam: np.ndarray | None = None  # Grad-CAM of `any` at model resolution, [0, 1]; None if not computed
    # (2, 3) affine: source image [row, col] = cam_to_image @ [y, x, 1] for CAM cell centre (y, x).
    # None: unknown, and the CAM is stretched over the whole image (see `attach_cam_affines`).
    cam_to_image: np.ndarray | None = None
    # The second reader's labels on this slice ((rows, cols) uint8, 0 none, 1.. LESION_CLASSES), or None.
    lesion_labels: np.ndarray | None = None

    @property
    def slice_number(self) -> int:
        return self.index + 1


@dataclass(frozen=True, eq=False)
class LesionFindings:
    """The second reader's findings on one stack (BLAST-CT), or why it did not read it."""

    analysed: bool
    reason: str  # why not; "" when analysed
    volumes_ml: dict[str, float]  # per LESION_CLASSES (components >= min_component_ml)
    components: tuple[LesionComponent, ...]  # largest first
    slice_area_mm2: np.ndarray  # (n_slices, len(LESION_CLASSES)) float32
    min_component_ml: float
    models: tuple[str, ...]
    weights_sha256: tuple[str, ...]
    device: str
    seconds: float
    notes: tuple[str, ...] = ()
    citation: str = SECOND_READER_CITATION

    @property
    def blood_ml(self) -> float:
        """Total volume of the blood classes (IPH, EAH, IVH) in mL."""
        return float(sum(self.volumes_ml.get(c, 0.0) for c in BLOOD_CLASSES))

    def largest_blood(self) -> LesionComponent | None:
        blood = [c for c in self.components if c.label in BLOOD_CLASSES]
        return max(blood, key=lambda c: c.volume_ml) if blood else None

    def lesion_slices(self) -> np.ndarray:
        """Per slice: True where the second reader marked any blood class."""
        idx = [LESION_CLASSES.index(c) for c in BLOOD_CLASSES]
        return self.slice_area_mm2[:, idx].sum(axis=1) > 0 if self.slice_area_mm2.size else np.zeros(0, bool)


def describe_component(c: LesionComponent) -> str:
    """E.g. 'EAH 12.3 mL, slices 10-16'."""
    first, last = c.first_slice + 1, c.last_slice + 1
    where = f"slice {first}" if first == last else f"slices {first}\u2013{last}"
    return f"{c.label} {c.volume_ml:.1f} mL, {where}"


def lesion_findings(result: SecondReadResult) -> LesionFindings:
    """The report's view of a second reading."""
    return LesionFindings(
        analysed=bool(result.acceptance.accepted),
        reason="" if result.acceptance.accepted else (result.acceptance.reason or "not read"),
        volumes_ml={c: float(result.volumes_ml.get(c, 0.0)) for c in LESION_CLASSES},
        components=tuple(sorted(result.components, key=lambda c: -c.volume_ml)),
        slice_area_mm2=np.asarray(result.slice_area_mm2, dtype=np.float32),
        min_component_ml=float(result.min_component_ml),
        models=tuple(result.models),
        weights_sha256=tuple(result.weights_sha256),
        device=result.device,
        seconds=float(result.seconds),
        notes=tuple(result.notes),
    )


@dataclass(frozen=True, eq=False)
class StackFindings:
    """Findings of one stack; `analysed` is False (with `reason`) when the engine refused it."""

    series_uid: str
    stack_id: str
    patient_id: str
    metadata: StudyMetadata
    n_slices: int
    analysed: bool
    reason: str  # why not analysed; "" when analysed
    warnings: tuple[StackWarning, ...]
    orientation: str = "axial"
    pixel_spacing_mm: tuple[float, float] = (1.0, 1.0)  # (between rows, between columns)
    model: ModelInfo | None = None
    device: str = ""
    seconds: float = 0.0
    threshold: float | None = None
    ich_suspected: bool | None = None  # None when not analysed
    max_any: float | None = None
    max_any_index: int | None = None
    any_finding: LabelFinding | None = None
    subtypes: tuple[LabelFinding, ...] = ()  # in SUBTYPES order
    key_slices: tuple[KeySlice, ...] = ()  # by descending `any` probability
    positions_mm: tuple[float, ...] = ()
    sop_instance_uids: tuple[str, ...] = ()
    # (n_slices, len(LABELS)) float32 in LABELS order; empty when not analysed.
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros((0, len(LABELS)), np.float32))
    lesions: LesionFindings | None = None  # the second reader's; None when it did not run
    verdict: Verdict | None = None  # how `ich_suspected` was decided (viewer.report.verdict)

    @property
    def verdict_text(self) -> str:
        """The verdict in words (never by colour alone)."""
        if self.ich_suspected is None:
            return VERDICT_NOT_ANALYSED
        return VERDICT_POSITIVE if self.ich_suspected else VERDICT_NEGATIVE

    @property
    def provisional(self) -> bool:
        """True when only the first reader has read this stack."""
        return self.verdict is not None and self.verdict.provisional

    @property
    def max_any_slice(self) -> int | None:
        return None if self.max_any_index is None else self.max_any_index + 1

    @property
    def description(self) -> str:
        return self.metadata.series_description

    def label_probabilities(self, label: str) -> np.ndarray:
        """Per-slice probabilities of one label, display order."""
        return self.probabilities[:, LABELS.index(label)]


@dataclass(frozen=True)
class NotAnalysed:
    """Something the user gave that was not analysed, and why (a sentence a user understands)."""

    reason: str
    series_uid: str = ""  # "" for a file skipped before grouping
    stack_id: str = ""
    path: str = ""  # set for files skipped by the scan
    description: str = ""
    modality: str = ""
    n_slices: int = 0


@dataclass(frozen=True)
class StudyFindings:
    """Everything a report shows: analysed stacks, what was not analysed, the model and the time."""

    stacks: tuple[StackFindings, ...]  # analysed stacks only, in the order given
    not_analysed: tuple[NotAnalysed, ...]
    studies: tuple[StudyMetadata, ...]  # one per distinct (patient, study), first stack's metadata
    model: ModelInfo | None
    device: str
    generated_at: datetime  # timezone-aware (UTC)
    ichview_version: str
    honest_use: str = HONEST_USE
    rule: VerdictRule = DEFAULT_RULE  # how the stacks' verdicts were combined

    @property
    def ich_suspected(self) -> bool | None:
        """True when any analysed stack is suspected; None when nothing was analysed."""
        if not self.stacks:
            return None
        return any(bool(s.ich_suspected) for s in self.stacks)

    @property
    def verdict_text(self) -> str:
        if self.ich_suspected is None:
            return VERDICT_NOT_ANALYSED
        return VERDICT_POSITIVE if self.ich_suspected else VERDICT_NEGATIVE

    @property
    def threshold(self) -> float | None:
        return None if self.model is None else self.model.threshold

    @property
    def seconds(self) -> float:
        return float(sum(s.seconds for s in self.stacks))


def contiguous_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive (first, last) index pairs of the True runs of a 1-D boolean array."""
    flags = np.asarray(mask, dtype=bool).ravel()
    if flags.size == 0:
        return []
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def _label_finding(
    label: str, probs: np.ndarray, threshold: float, positions_mm: Sequence[float]
) -> LabelFinding:
    max_index = int(np.argmax(probs))
    ranges = tuple(
        SliceRange(
            first_index=a,
            last_index=b,
            first_position_mm=float(positions_mm[a]),
            last_position_mm=float(positions_mm[b]),
            max_probability=float(probs[a : b + 1].max()),
        )
        for a, b in contiguous_runs(probs >= threshold)
    )
    return LabelFinding(label=label, max_probability=float(probs[max_index]), max_index=max_index, ranges=ranges)


def pick_key_slices(
    probs_any: np.ndarray,
    *,
    threshold: float,
    max_slices: int = MAX_KEY_SLICES,
    min_gap_slices: int | None = None,
) -> list[int]:
    """0-based indices of key slices, by descending `any` probability, spread apart.

    Greedy: take the most probable slice, then the next most probable that lies at least
    `min_gap_slices` from every slice taken (default: about a twelfth of the stack, at least 2).
    When some slice reaches the threshold, only such slices are taken (a positive stack's key images
    show the finding, not clean slices); otherwise the top slices are shown for the reader to check.
    Ties break towards the lower index so the choice is deterministic.
    """
    probs = np.asarray(probs_any, dtype=np.float64).ravel()
    n = probs.size
    if n == 0 or max_slices <= 0:
        return []
    gap = max(2, n // 12) if min_gap_slices is None else max(1, int(min_gap_slices))
    order = sorted(range(n), key=lambda i: (-probs[i], i))
    positive = bool(probs[order[0]] >= threshold)
    chosen: list[int] = []
    for i in order:
        if positive and probs[i] < threshold:
            break
        if all(abs(i - j) >= gap for j in chosen):
            chosen.append(i)
            if len(chosen) >= max_slices:
                break
    return chosen


def _cam_of(analysis: StackAnalysis, index: int) -> np.ndarray | None:
    cams = analysis.cams
    if cams is None or cams.ndim != 3 or index >= cams.shape[0]:
        return None
    return np.clip(np.asarray(cams[index], dtype=np.float32), 0.0, 1.0)


def summarize_stack(
    volume: Volume,
    analysis: StackAnalysis,
    *,
    second: SecondReadResult | None = None,
    rule: VerdictRule = DEFAULT_RULE,
    max_key_slices: int = MAX_KEY_SLICES,
) -> StackFindings:
    """Turn one stack's readings into findings: the combined verdict, maxima, subtype ranges, lesion
    volumes and key slices (the first reader's top slices, plus the slice of the second reader's
    largest blood component when it is not among them).

    Raises ValueError when a reading does not belong to the volume (other series, other length).
    """
    if second is not None and (
        second.series_uid != volume.series_uid or second.stack_id != volume.stack_id
        or second.labels.shape[0] != volume.n_slices
    ):
        raise ValueError(f"second reading of stack {second.stack_id!r} does not belong to volume {volume.stack_id!r}")
    lesions = lesion_findings(second) if second is not None else None
    if analysis.series_uid != volume.series_uid or analysis.stack_id != volume.stack_id:
        raise ValueError(
            f"analysis of stack {analysis.stack_id!r} does not belong to volume {volume.stack_id!r}"
        )
    common = dict(
        series_uid=volume.series_uid,
        stack_id=volume.stack_id,
        patient_id=volume.metadata.patient_id,
        metadata=volume.metadata,
        n_slices=volume.n_slices,
        warnings=tuple(volume.warnings),
        orientation=volume.orientation,
        pixel_spacing_mm=(float(volume.pixel_spacing_mm[0]), float(volume.pixel_spacing_mm[1])),
        positions_mm=tuple(float(p) for p in volume.positions_mm),
        sop_instance_uids=tuple(volume.sop_instance_uids),
        model=analysis.model,
        device=analysis.device,
        seconds=float(analysis.seconds),
    )
    if not analysis.acceptance.accepted:
        reason = analysis.acceptance.reason or "the engine did not accept this stack"
        return StackFindings(analysed=False, reason=reason, lesions=lesions, **common)
    if analysis.model is None:
        raise ValueError(f"analysis of stack {volume.stack_id!r} carries no model information")
    probs = np.asarray(analysis.probabilities, dtype=np.float32)
    if probs.ndim != 2 or probs.shape != (volume.n_slices, len(LABELS)):
        raise ValueError(
            f"analysis of stack {volume.stack_id!r} has probabilities of shape {probs.shape}, "
            f"expected ({volume.n_slices}, {len(LABELS)})"
        )
    if not np.all(np.isfinite(probs)):
        raise ValueError(f"analysis of stack {volume.stack_id!r} holds non-finite probabilities")
    threshold = float(analysis.model.threshold)
    positions = common["positions_mm"]
    findings = {
        label: _label_finding(label, probs[:, k], threshold, positions) for k, label in enumerate(LABELS)
    }
    any_finding = findings["any"]
    keys = pick_key_slices(probs[:, 0], threshold=threshold, max_slices=max_key_slices)
    read = lesions is not None and lesions.analysed
    largest = lesions.largest_blood() if read else None
    if largest is not None:
        k_big = int(round(largest.centroid_index[0]))
        if k_big not in keys:
            keys = keys[: max(0, max_key_slices - 1)] + [k_big]
    verdict = decide(
        first_max_any=any_finding.max_probability,
        first_threshold=threshold,
        first_flagged=any_finding.describe_ranges(),
        second_ran=read,
        second_blood_ml=largest.volume_ml if largest is not None else 0.0,
        second_largest=describe_component(largest) if largest is not None else "",
        rule=rule,
    )
    key_slices = tuple(
        KeySlice(
            index=i,
            position_mm=float(positions[i]),
            sop_instance_uid=volume.sop_instance_uids[i],
            probability_any=float(probs[i, 0]),
            hu=np.array(volume.hu[i], copy=True),
            cam=_cam_of(analysis, i),
            lesion_labels=np.array(second.labels[i], copy=True) if read and second is not None else None,
        )
        for i in keys
    )
    return StackFindings(
        analysed=True,
        reason="",
        threshold=threshold,
        ich_suspected=verdict.suspected,
        max_any=any_finding.max_probability,
        max_any_index=any_finding.max_index,
        any_finding=any_finding,
        subtypes=tuple(findings[s] for s in SUBTYPES),
        key_slices=key_slices,
        probabilities=probs,
        lesions=lesions,
        verdict=verdict,
        **common,
    )


def attach_cam_affines(findings: StackFindings, affines: Mapping[int, np.ndarray]) -> StackFindings:
    """A copy whose key slices carry where their CAM lies on the image (slice index -> (2, 3) affine).

    The engine's CAMs live on a head-centred model grid, not on the image's field of view; the
    affine (see viewer.report.images.cam_cell_affine) places them exactly.
    """
    keys = tuple(
        replace(k, cam_to_image=np.asarray(affines[k.index], dtype=np.float64).reshape(2, 3))
        if k.index in affines
        else k
        for k in findings.key_slices
    )
    return replace(findings, key_slices=keys)


def not_analysed_from_stack(findings: StackFindings) -> NotAnalysed:
    """The NotAnalysed entry of a stack the engine refused."""
    return NotAnalysed(
        reason=findings.reason,
        series_uid=findings.series_uid,
        stack_id=findings.stack_id,
        description=findings.metadata.series_description,
        modality=findings.metadata.modality,
        n_slices=findings.n_slices,
    )


def summarize_study(
    stacks: Sequence[StackFindings],
    not_analysed: Sequence[NotAnalysed] = (),
    *,
    model: ModelInfo | None = None,
    device: str = "",
    generated_at: datetime | None = None,
    studies: Sequence[StudyMetadata] = (),
    rule: VerdictRule = DEFAULT_RULE,
) -> StudyFindings:
    """Collect stack findings into a study summary.

    Stacks the engine refused move to `not_analysed` (after the explicit entries' order is kept).
    `model` and `device` default to the first analysed stack's; `studies` (patient and study facts
    for the report header) default to one entry per distinct (patient ID, study UID) of the stacks.
    """
    analysed = tuple(s for s in stacks if s.analysed)
    refused = tuple(not_analysed_from_stack(s) for s in stacks if not s.analysed)
    if model is None:
        model = next((s.model for s in analysed if s.model is not None), None)
    if not device:
        device = next((s.device for s in analysed if s.device), "")
    if not studies:
        seen: dict[tuple[str, str], StudyMetadata] = {}
        for s in stacks:
            seen.setdefault((s.metadata.patient_id, s.metadata.study_uid), s.metadata)
        studies = tuple(seen.values())
    from viewer import __version__

    return StudyFindings(
        stacks=analysed,
        not_analysed=tuple(not_analysed) + refused,
        studies=tuple(studies),
        model=model,
        device=device,
        generated_at=generated_at or datetime.now(timezone.utc),
        ichview_version=__version__,
        rule=rule,
    )
