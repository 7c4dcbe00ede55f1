"""The analysis pipeline of one stack and of a folder (no Qt): load -> first reader -> second reader
-> findings. Used by `ichview analyze`, `ichview triage` and the viewer's export alike, so each
gives the same result for the same study.

Progress goes to any object with `advance(n)` and `set_label(text)` (`Progress`), in slices: a
stack's load is a third of its share, the first reader the rest, and the second reader (when run)
as many again.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from viewer.core.errors import IchviewError
from viewer.core.series import Stack, StudyTree
from viewer.core.volume import Volume
from viewer.report.findings import (
    NotAnalysed,
    StackFindings,
    StudyFindings,
    attach_cam_affines,
    summarize_stack,
    summarize_study,
)

if TYPE_CHECKING:  # torch is imported only when a stack is analysed
    from inference.predict import Engine
    from inference.readers.blast_ct.segment import SecondReader
    from viewer.report.verdict import VerdictRule

__all__ = ["Progress", "NoProgress", "pre_reason", "analyse_stack", "analyze_tree", "study_keys", "second_read", "work_slices", "analyze_stacks"]


class Progress(Protocol):
    def advance(self, n: int = 1) -> None: ...

    def set_label(self, label: str) -> None: ...


class NoProgress:
    """A Progress that shows nothing."""

    def advance(self, n: int = 1) -> None:
        pass

    def set_label(self, label: str) -> None:
        pass


def pre_reason(stack: Stack) -> str:
    """Why a stack is never given to the engine ('' when it is): see acceptance.header_rejection."""
    from inference.acceptance import header_rejection

    return header_rejection(stack.modality, stack.is_localizer)


def not_analysed_entry(stack: Stack, reason: str) -> NotAnalysed:
    return NotAnalysed(
        reason=reason,
        series_uid=stack.series_uid,
        stack_id=stack.stack_id,
        description=stack.description,
        modality=stack.modality,
        n_slices=stack.n_slices,
    )


def second_read(second: SecondReader, volume: Volume, progress: Progress, share: int) -> object:
    """Run the second reader, crediting `share` slices of the bar as it goes; its result."""
    from inference.readers.blast_ct.results import SecondReadProgress, SecondReadResult

    result = None
    credited = 0
    for item in second.iter_segment(volume):
        if isinstance(item, SecondReadProgress):
            target = item.done * share // max(item.total, 1)
            progress.advance(target - credited)
            credited = target
        elif isinstance(item, SecondReadResult):
            result = item
    progress.advance(share - credited)
    if result is None:
        raise IchviewError(f"the second reader stopped before finishing stack {volume.stack_id}")
    return result


def analyse_stack(
    engine: Engine,
    stack: Stack,
    progress: Progress,
    *,
    cams: bool,
    second: SecondReader | None = None,
    rule: VerdictRule | None = None,
) -> StackFindings | NotAnalysed:
    """Load, check and run one stack; a stack that cannot be used becomes NotAnalysed."""
    from inference.labels import LABELS
    from inference.results import Acceptance, StackAnalysis
    from viewer.core.loading import LoadProgress, iter_load_stack

    volume = None
    loaded = 0
    try:
        for event in iter_load_stack(stack):
            if isinstance(event, LoadProgress):
                # Loading counts for a third of the stack's share of the bar.
                target = event.done * stack.n_slices // max(3 * event.total, 1)
                progress.advance(max(0, target - loaded))
                loaded = max(loaded, target)
            elif isinstance(event, Volume):
                volume = event
    except IchviewError as exc:
        progress.advance(stack.n_slices - loaded)
        return not_analysed_entry(stack, f"pixels could not be read: {exc}")
    assert volume is not None
    remaining = stack.n_slices - loaded
    t0 = time.perf_counter()
    acceptance = engine.check(volume)
    if not acceptance.accepted:
        progress.advance(remaining)
        progress.advance(stack.n_slices if second is not None else 0)
        refused = StackAnalysis(volume.series_uid, volume.stack_id, acceptance, engine.info, engine.device)
        return summarize_stack(volume, refused)
    n = volume.n_slices
    probs = np.zeros((n, len(LABELS)), np.float32)
    maps: np.ndarray | None = None
    affines: dict[int, np.ndarray] = {}
    done = 0
    credited = 0
    for result in engine.iter_predict(volume, cams=cams):
        probs[result.index] = [result.probabilities[label] for label in LABELS]
        if result.cam is not None:
            if maps is None:
                maps = np.zeros((n, *result.cam.shape), np.float16)
            maps[result.index] = result.cam
        if result.to_image is not None:
            affines[result.index] = result.to_image
        done += 1
        target = done * remaining // n
        progress.advance(target - credited)
        credited = target
    if done < n:
        raise IchviewError(f"analysis of stack {stack.stack_id} stopped after {done} of {n} slices")
    analysis = StackAnalysis(
        series_uid=volume.series_uid,
        stack_id=volume.stack_id,
        acceptance=Acceptance(True),
        model=engine.info,
        device=engine.device,
        seconds=time.perf_counter() - t0,
        probabilities=probs,
        cams=maps,
    )
    reading = None
    if second is not None:
        progress.set_label(f"lesion segmentation (BLAST-CT, {len(second.members)} model{'s' if len(second.members) != 1 else ''})")
        reading = second_read(second, volume, progress, stack.n_slices)
    extra = {} if rule is None else {"rule": rule}
    findings = summarize_stack(volume, analysis, second=reading, **extra)
    if affines and findings.key_slices:
        findings = attach_cam_affines(findings, affines)
    return findings


def work_slices(tree: StudyTree, second: bool) -> int:
    """How many slices of progress `analyze_tree` reports for `tree`."""
    return sum(s.n_slices for s in tree.stacks() if not pre_reason(s)) * (2 if second else 1)


def analyze_tree(
    tree: StudyTree,
    engine: Engine,
    *,
    cams: bool = True,
    progress: Progress | None = None,
    second: SecondReader | None = None,
    rule: VerdictRule | None = None,
) -> StudyFindings:
    """Analyse every stack of a tree with both readers (or say why not) and summarise; scan-skipped
    files are listed. Without `second` the verdicts are the first reader's alone (provisional).
    `progress` is advanced by `work_slices(tree, second is not None)` slices in all."""
    return analyze_stacks(
        tree.stacks(), engine, cams=cams, progress=progress, second=second, rule=rule, skipped=tree.skipped
    )


def analyze_stacks(
    stacks: Sequence[Stack],
    engine: Engine,
    *,
    cams: bool = True,
    progress: Progress | None = None,
    second: SecondReader | None = None,
    rule: VerdictRule | None = None,
    skipped: Sequence[object] = (),
) -> StudyFindings:
    """`analyze_tree` for a list of stacks (e.g. the stacks of one study) and the files skipped with them."""
    stacks = list(stacks)
    progress = progress or NoProgress()
    findings: list[StackFindings] = []
    not_analysed: list[NotAnalysed] = []
    for number, stack in enumerate(stacks, start=1):
        reason = pre_reason(stack)
        if reason:
            not_analysed.append(not_analysed_entry(stack, reason))
            continue
        series = f"series {stack.slices[0].series_number}" if stack.slices[0].series_number is not None else "series"
        progress.set_label(f"stack {number}/{len(stacks)} ({series}, {stack.n_slices} slices)")
        result = analyse_stack(engine, stack, progress, cams=cams, second=second, rule=rule)
        if isinstance(result, NotAnalysed):
            not_analysed.append(result)
        else:
            findings.append(result)
    not_analysed += [NotAnalysed(reason=s.reason, path=str(s.path)) for s in skipped]
    extra = {} if rule is None else {"rule": rule}
    studies = study_metadata_of(stacks)
    return summarize_study(findings, not_analysed, model=engine.info, device=engine.device, studies=studies, **extra)


def study_metadata_of(stacks: Sequence[Stack]) -> tuple:
    """One StudyMetadata per (patient, study) of the input, refused stacks' studies included."""
    from viewer.core.volume_metadata import study_metadata

    seen: dict[tuple[str, str], object] = {}
    for st in stacks:
        key = (st.patient_id, st.study_uid)
        if key not in seen:
            seen[key] = study_metadata(st.slices[0].meta, study_uid=st.study_uid, patient_id=st.patient_id)
    return tuple(seen.values())


def study_keys(tree: StudyTree) -> dict[str, tuple[str, str]]:
    """stack_id (and series UID) -> (patient ID, study UID), for splitting reports by study."""
    keys: dict[str, tuple[str, str]] = {}
    for st in tree.stacks():
        keys[st.stack_id] = (st.patient_id, st.study_uid)
        keys.setdefault(st.series_uid, (st.patient_id, st.study_uid))
    return keys
