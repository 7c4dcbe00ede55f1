"""Legitimate report inputs built in tests: a small head-like Volume and its StackAnalysis.

Shared by tests/report/test_findings.py, test_pdf.py and test_json_report.py (not a mock: the
findings and report writers take exactly these dataclasses from the study core and the engine).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.labels import LABELS
from inference.results import Acceptance, ModelInfo, StackAnalysis
from viewer.core.volume import HU_DTYPE, StudyMetadata, Volume
from viewer.core.warnings import GANTRY_TILT, StackWarning

MODEL = ModelInfo(
    name="ichnet-test",
    version="0.0-test",
    sha256="ab" * 32,
    threshold=0.5,
    trained_on="synthetic head CT only (not clinically validated)",
)
BLEED_SLICES = (5, 6, 7)  # 0-based


def head_volume(
    *,
    n_slices: int = 12,
    size: int = 64,
    bleed: bool = True,
    patient_name: str = "DOE^JANE",
    series_uid: str = "1.2.826.0.1.3680043.8.498.1",
    stack_id: str | None = None,
    spacing_mm: float = 5.0,
    warnings: tuple[StackWarning, ...] = (),
) -> Volume:
    """A head phantom in HU: skull ring, brain, ventricles, and (optionally) a dense bleed."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2.0
    r = np.hypot((yy - c) / (0.45 * size), (xx - c) / (0.38 * size))
    hu = np.full((n_slices, size, size), -1024, np.float32)
    hu[:, r < 1.0] = 1200.0  # skull
    hu[:, r < 0.88] = 32.0  # brain
    vent = np.hypot((yy - c) / (0.12 * size), (xx - c) / (0.05 * size)) < 1.0
    hu[:, vent] = 6.0
    if bleed:
        blob = np.hypot(yy - 0.35 * size, xx - 0.68 * size) < 0.09 * size
        for k in BLEED_SLICES:
            hu[k][blob] = 70.0
    sop = tuple(f"{series_uid}.{k + 1}" for k in range(n_slices))
    meta = StudyMetadata(
        patient_name=patient_name,
        patient_id="PID-0042",
        patient_birth_date="19600229",
        patient_sex="F",
        study_uid="1.2.826.0.1.3680043.8.498.100",
        study_date="20261124",
        study_time="101500",
        study_description="CT HEAD WO CONTRAST",
        accession_number="ACC123",
        institution="Synthetic General Hospital",
        series_uid=series_uid,
        series_number=3,
        series_description="Axial 5mm brain",
        modality="CT",
        specific_character_set="ISO_IR 192",
    )
    return Volume(
        hu=hu.astype(HU_DTYPE),
        spacing_mm=(spacing_mm, 0.5, 0.5),
        origin_mm=(0.0, 0.0, -40.0),
        direction=np.eye(3),
        positions_mm=tuple(-40.0 + spacing_mm * k for k in range(n_slices)),
        sop_instance_uids=sop,
        instance_numbers=tuple(range(1, n_slices + 1)),
        slice_thickness_mm=(spacing_mm,) * n_slices,
        source_paths=tuple(Path(f"/nonexistent/{k}.dcm") for k in range(n_slices)),
        series_uid=series_uid,
        stack_id=stack_id or series_uid,
        metadata=meta,
        warnings=warnings,
    )


def analysis_for(volume: Volume, *, bleed: bool = True, cams: bool = True) -> StackAnalysis:
    """Probabilities as a model would give them: high on the bleed slices (intraparenchymal)."""
    n = volume.n_slices
    probs = np.full((n, len(LABELS)), 0.02, np.float32)
    probs[:, 0] = np.linspace(0.03, 0.12, n)
    if bleed:
        for k, p in zip(BLEED_SLICES, (0.71, 0.93, 0.64)):
            probs[k, 0] = p
            probs[k, LABELS.index("intraparenchymal")] = p - 0.05
        probs[6, LABELS.index("intraventricular")] = 0.55
    cam_maps = None
    if cams:
        h = w = 32
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        blob = np.exp(-(((yy - 0.35 * h) ** 2 + (xx - 0.68 * w) ** 2) / (2 * 3.0**2)))
        cam_maps = (probs[:, :1, None] * blob[None]).astype(np.float16)
    return StackAnalysis(
        series_uid=volume.series_uid,
        stack_id=volume.stack_id,
        acceptance=Acceptance(True),
        model=MODEL,
        device="cpu",
        seconds=1.25,
        probabilities=probs,
        cams=cam_maps,
    )


def tilted_warning() -> StackWarning:
    return StackWarning(GANTRY_TILT, "Gantry tilt of 12.0\u00b0: positions are sheared, not resampled")


def second_reading_for(volume: Volume, labels: np.ndarray, *, accepted: bool = True):
    """A second reading of `volume` whose label map is `labels`, measured by the second reader's own
    measurement code (areas, components and volumes as the real reader computes them)."""
    from inference.readers.blast_ct.grid import slice_extents_mm
    from inference.readers.blast_ct.measure import class_volumes_ml, find_components, slice_areas_mm2
    from inference.readers.blast_ct.results import SecondReadResult

    spacing = (float(volume.spacing_mm[1]), float(volume.spacing_mm[2]))
    labels = np.asarray(labels, np.uint8)
    components = find_components(labels, slice_extents_mm(volume), spacing) if accepted else ()
    return SecondReadResult(
        series_uid=volume.series_uid,
        stack_id=volume.stack_id,
        labels=labels,
        slice_area_mm2=slice_areas_mm2(labels, spacing),
        volumes_ml=class_volumes_ml(components),
        components=components,
        models=("blast-ct-v1/model_1",),
        weights_sha256=("cd" * 32,),
        device="cpu",
        seconds=42.0,
        acceptance=Acceptance(accepted, "" if accepted else "not a head CT"),
    )


def bleed_labels(volume: Volume, *, label: int = 2, slices: tuple[int, ...] = BLEED_SLICES, radius: float = 0.09) -> np.ndarray:
    """A label map with one disc of `label` on `slices`, where head_volume puts its bleed."""
    n, size, _ = volume.hu.shape
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    blob = np.hypot(yy - 0.35 * size, xx - 0.68 * size) < radius * size
    labels = np.zeros((n, size, size), np.uint8)
    for k in slices:
        labels[k][blob] = label
    return labels
