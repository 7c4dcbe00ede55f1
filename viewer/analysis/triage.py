"""Triage of one study: both readers, the combined verdict, its reports as bytes, and a worklist row.

`analyse_study` is the one per-study task that every runner calls (in-process, local worker
processes, Ray actors): it never writes a file. It returns a `StudyOutcome`: the `TriageEntry`
(a worklist row: verdict, maximum probability, volumes per class, what was not analysed and why,
time split into decode / first reader / second reader / reports) and the files to write, keyed by
their path relative to the output folder (`studies/<study id>/findings.pdf`, `findings.json`,
`key.png`). The driver writes them atomically and records the entry (resume.py). A study that
fails becomes an entry with status "failed" and the reason; it never stops a batch.
Entries and files hold patient data: never log them.
"""
from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from viewer.analysis.studies import StudyInput

__all__ = ["ReaderConfig", "Readers", "load_readers", "TriageEntry", "StudyOutcome", "analyse_study", "run_study", "suspicion_order"]

STATUS_ANALYSED = "analysed"
STATUS_NOT_ANALYSED = "not analysed"
STATUS_FAILED = "failed"
THUMBNAIL_PX = 160


@dataclass(frozen=True)
class ReaderConfig:
    """How a worker loads the readers (plain data: it travels to worker processes and Ray actors)."""

    device: str | None = None
    threads: int | None = None
    second_reader: bool = True
    second_models: int | None = None
    weights: str | None = None  # first reader's file; None: the shipped one
    cams: bool = True


@dataclass(frozen=True, eq=False)
class Readers:
    """Both readers loaded once per worker, and the verdict rule."""

    engine: Any  # inference.predict.Engine
    second: Any  # inference.readers.blast_ct.segment.SecondReader or None
    rule: Any  # viewer.report.verdict.VerdictRule
    config: ReaderConfig

    @property
    def models_sha256(self) -> tuple[str, ...]:
        """The weights hashes that decide whether an earlier result can be reused."""
        second = tuple(self.second.weights_sha256) if self.second is not None else ()
        return (self.engine.info.sha256, *second)


def load_readers(config: ReaderConfig) -> Readers:
    """Load the first reader (and the second unless switched off) on the configured device."""
    from inference.predict import Engine
    from viewer.report.verdict import VerdictRule

    engine = Engine.load(config.weights, device=config.device, threads=config.threads)
    second = None
    if config.second_reader:
        from inference.readers.blast_ct.segment import SecondReader

        second = SecondReader.load(config.second_models, device=config.device, threads=config.threads)
    return Readers(engine, second, VerdictRule.from_metadata(engine.metadata.extra), config)


@dataclass(frozen=True)
class TriageEntry:
    """One worklist row: one study of one patient."""

    study_id: str
    patient_id: str
    patient_name: str
    study_uid: str
    study_date: str
    accession: str
    description: str
    status: str  # STATUS_ANALYSED, STATUS_NOT_ANALYSED or STATUS_FAILED
    verdict: str  # the verdict in words ("" when failed)
    suspected: bool | None
    max_any: float | None
    max_any_slice: int | None
    blood_ml: float
    volumes_ml: dict[str, float]
    second_reader: bool  # whether the second reader read at least one stack
    readers: tuple[str, ...]  # who decided "suspected"
    disagreement: str
    not_analysed: tuple[str, ...]  # "<series description or UID>: <reason>"
    reason: str  # why the study failed ("" otherwise)
    files: dict[str, str]  # kind (pdf, json, thumbnail) -> path relative to the output folder
    input_sha256: str
    models_sha256: tuple[str, ...]
    n_slices: int
    seconds: dict[str, float] = field(default_factory=dict)  # decode, first_reader, second_reader, reports
    source_dirs: tuple[str, ...] = ()  # the folders the study's files were read from (to open its images)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["readers"] = list(self.readers)
        data["not_analysed"] = list(self.not_analysed)
        data["models_sha256"] = list(self.models_sha256)
        data["source_dirs"] = list(self.source_dirs)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TriageEntry:
        data = dict(data)
        for key in ("readers", "not_analysed", "models_sha256", "source_dirs"):
            data[key] = tuple(data.get(key, ()))
        return cls(**data)


@dataclass(frozen=True, eq=False)
class StudyOutcome:
    entry: TriageEntry
    files: dict[str, bytes]  # path relative to the output folder -> contents


def _round(v: float | None, digits: int = 4) -> float | None:
    return None if v is None else round(float(v), digits)


def _base_entry(study: StudyInput, models: tuple[str, ...]) -> dict[str, Any]:
    accession = ""
    if study.stacks and study.stacks[0].slices:
        accession = str(study.stacks[0].slices[0].meta.get("AccessionNumber", ""))
    return dict(
        study_id=study.id,
        patient_id=study.patient_id,
        patient_name=study.patient_name,
        study_uid=study.study_uid,
        study_date=study.study_date,
        accession=accession,
        description=study.description,
        input_sha256=study.input_sha256,
        models_sha256=models,
        n_slices=study.n_slices,
        source_dirs=tuple(sorted({str(p.parent) for p in study.paths})),
    )


def failed_entry(study: StudyInput, models: tuple[str, ...], reason: str) -> TriageEntry:
    """The row of a study that could not be analysed at all."""
    return TriageEntry(
        **_base_entry(study, models), status=STATUS_FAILED, verdict="", suspected=None, max_any=None,
        max_any_slice=None, blood_ml=0.0, volumes_ml={}, second_reader=False, readers=(), disagreement="",
        not_analysed=(), reason=reason, files={},
    )


def analyse_study(study: StudyInput, readers: Readers) -> StudyOutcome:
    """Both readers on every stack of one study, its PDF / JSON / thumbnail as bytes, its row."""
    from viewer.analysis.pipeline import analyze_stacks
    from viewer.core.errors import IchviewError

    models = readers.models_sha256
    t0 = time.perf_counter()
    try:
        findings = analyze_stacks(
            study.stacks, readers.engine, cams=readers.config.cams, second=readers.second, rule=readers.rule
        )
    except (IchviewError, OSError, ValueError, RuntimeError, MemoryError) as exc:
        return StudyOutcome(failed_entry(study, models, f"{type(exc).__name__}: {exc}"), {})
    t_read = time.perf_counter() - t0
    first_s = float(sum(s.seconds for s in findings.stacks))
    second_s = float(sum(s.lesions.seconds for s in findings.stacks if s.lesions is not None))
    t1 = time.perf_counter()
    files, kinds = _reports(study, findings)
    t_reports = time.perf_counter() - t1

    stacks = findings.stacks
    top = max(stacks, key=lambda s: (bool(s.ich_suspected), s.max_any or 0.0), default=None)
    volumes: dict[str, float] = {}
    for s in stacks:
        if s.lesions is not None and s.lesions.analysed:
            for c, v in s.lesions.volumes_ml.items():
                volumes[c] = round(volumes.get(c, 0.0) + float(v), 3)
    blood = round(sum(s.lesions.blood_ml for s in stacks if s.lesions is not None and s.lesions.analysed), 3)
    readers_by: list[str] = []
    for s in stacks:
        if s.verdict is not None and s.ich_suspected:
            readers_by += [r for r in s.verdict.by if r not in readers_by]
    disagreements = [s.verdict.disagreement for s in stacks if s.verdict is not None and s.verdict.disagreement]
    not_analysed = tuple(
        f"{n.description or n.stack_id or n.path or 'file'}: {n.reason}" for n in findings.not_analysed
    )
    entry = TriageEntry(
        **_base_entry(study, models),
        status=STATUS_ANALYSED if stacks else STATUS_NOT_ANALYSED,
        verdict=findings.verdict_text,
        suspected=findings.ich_suspected,
        max_any=_round(top.max_any) if top is not None else None,
        max_any_slice=top.max_any_slice if top is not None else None,
        blood_ml=blood,
        volumes_ml=volumes,
        second_reader=any(s.lesions is not None and s.lesions.analysed for s in stacks),
        readers=tuple(readers_by),
        disagreement="; ".join(disagreements),
        not_analysed=not_analysed,
        reason="",
        files=kinds,
        seconds={
            "decode": round(max(0.0, t_read - first_s - second_s), 3),
            "first_reader": round(first_s, 3),
            "second_reader": round(second_s, 3),
            "reports": round(t_reports, 3),
        },
    )
    return StudyOutcome(entry, files)


def _reports(study: StudyInput, findings: Any) -> tuple[dict[str, bytes], dict[str, str]]:
    from viewer.report.json_report import findings_json_bytes
    from viewer.report.pdf import build_findings_pdf

    folder = f"studies/{study.id}"
    buf = io.BytesIO()
    build_findings_pdf(findings, buf)
    files = {f"{folder}/findings.pdf": buf.getvalue(), f"{folder}/findings.json": findings_json_bytes(findings)}
    kinds = {"pdf": f"{folder}/findings.pdf", "json": f"{folder}/findings.json"}
    thumb = _thumbnail(findings)
    if thumb is not None:
        files[f"{folder}/key.png"] = thumb
        kinds["thumbnail"] = f"{folder}/key.png"
    return files, kinds


def _thumbnail(findings: Any) -> bytes | None:
    """PNG of the study's key slice: the most suspicious stack's first key image, with the second
    reader's outlines when it found something there, else the heat map, else plain."""
    from PIL import Image

    from viewer.report.images import brain_window_image, heatmap_overlay_image, lesion_outline_image

    stacks = sorted(findings.stacks, key=lambda s: (not s.ich_suspected, -(s.max_any or 0.0)))
    for s in stacks:
        lesion_keys = [k for k in s.key_slices if k.lesion_labels is not None and k.lesion_labels.any()]
        key = (lesion_keys or list(s.key_slices) or [None])[0]
        if key is None or key.hu is None:
            continue
        if key.lesion_labels is not None and key.lesion_labels.any():
            image = lesion_outline_image(key.hu, key.lesion_labels)
        elif key.cam is not None:
            image = heatmap_overlay_image(key.hu, key.cam, to_image=key.cam_to_image)
        else:
            image = brain_window_image(key.hu)
        image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()
    return None


def run_study(study: StudyInput, readers: Readers) -> StudyOutcome:
    """The per-study task as every runner runs it: any failure becomes a "failed" row."""
    try:
        return analyse_study(study, readers)
    except Exception as exc:  # noqa: BLE001 - one study's failure never stops the batch
        return StudyOutcome(failed_entry(study, readers.models_sha256, f"{type(exc).__name__}: {exc}"), {})


def suspicion_order(entry: TriageEntry) -> tuple:
    """Sort key of the worklist: suspected studies first (most blood, then highest probability),
    then negative ones by probability, then those not analysed, then failures; ties by study id."""
    rank = {True: 0, False: 1, None: 2}[entry.suspected] if entry.status != STATUS_FAILED else 3
    return (rank, -entry.blood_ml, -(entry.max_any or 0.0), entry.study_id)


def entry_json_line(entry: TriageEntry) -> str:
    return json.dumps(entry.to_json(), ensure_ascii=False, sort_keys=True)
