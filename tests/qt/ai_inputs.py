"""Inputs for the AI-assist tests: synthetic head CT studies on disk and the model file to use.

Studies come from the project's generator (inference.synth.study). The bleed study has one small
intraparenchymal bleed high in the centrum semiovale that spans 2-3 slices; every head carries hard
negatives on its clean slices: calcified pineal, choroid plexus and basal ganglia, and a dense
(calcified) falx.

`model_weights()` is the shipped model (resources/model/) when present; before it lands, tests fall
back to a small test-only model written with the real writer (its scores mean nothing, so tests never
assert on a score, only on what the viewer does with it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.synth.anatomy import HeadParams
from inference.synth.dicom_writer import SeriesSpec
from inference.synth.lesions import LesionSpec
from inference.synth.study import SyntheticStudy, make_study, write_study

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = REPO_ROOT / "resources" / "model" / "ichview-ich.safetensors"
HARD_NEGATIVES = dict(pineal_calc_hu=320.0, choroid_calc_hu=260.0, basal_ganglia_calc_hu=220.0, falx_calc_hu=380.0)
BLEED = LesionSpec(
    "intraparenchymal", center=(24.0, 8.0, 38.0), size_mm=6.5, hu=78.0, heterogeneity_hu=3.0, axes=(1.1, 1.2, 0.9)
)


def head(seed: int) -> HeadParams:
    """An adult head with every hard negative the generator has."""
    return HeadParams(seed=seed, **HARD_NEGATIVES)  # type: ignore[arg-type]


def make_ct(
    seed: int,
    *,
    bleed: bool,
    patient_name: str = "SYNTHETIC^AI^TEST",
    z_range_mm: tuple[float, float] = (-20.0, 60.0),
    matrix: int = 256,
    series_number: int = 1,
    description: str = "AXIAL 5MM",
    uid_seed: str | None = None,
    slice_mm: float = 5.0,
    kernel_name: str = "SYNTH_SOFT",
) -> SyntheticStudy:
    """An axial synthetic head CT (5 mm by default); with `bleed` at 5 mm, the bleed spans 2 or 3 slices."""
    spec = SeriesSpec(
        patient_name=patient_name,
        patient_id=f"AI-{seed}",
        uid_seed=uid_seed or f"ichview-ai-{seed}-{int(bleed)}",
        series_number=series_number,
        series_description=description,
        specific_character_set="ISO_IR 192",
        convolution_kernel=kernel_name,
    )
    study = make_study(
        seed,
        matrix=matrix,
        slice_thickness_mm=slice_mm,
        lesions=[BLEED] if bleed else None,
        head=head(seed),
        z_range_mm=z_range_mm,
        series=spec,
    )
    if bleed and slice_mm == 5.0:
        n_bleed = int(study.labels[:, 0].sum())
        assert 2 <= n_bleed <= 3, f"the bleed spans {n_bleed} slices, expected 2-3"
    return study


def bleed_slices(study: SyntheticStudy) -> list[int]:
    """0-based slices (display order = file order, inferior to superior) holding the bleed."""
    return [int(i) for i in np.nonzero(study.labels[:, 0] > 0)[0]]


def write_ct(folder: Path, study: SyntheticStudy) -> Path:
    """Write the study; returns its DICOM folder (what File > Open gets)."""
    return write_study(study, folder)


def write_test_weights(path: Path, *, threshold: float = 0.5) -> Path:
    """A small random model saved with the real writer (test only)."""
    import torch

    from inference.model import ArchConfig, build_model
    from inference.preprocess import PreprocessConfig
    from inference.weights import ModelMetadata, save_weights

    arch = ArchConfig(stem_channels=8, widths=(8, 16, 24, 32), blocks=(1, 1, 1, 1))
    torch.manual_seed(0)
    model = build_model(arch).eval()
    with torch.no_grad():
        model.fc.weight.normal_(0, 0.5)
    meta = ModelMetadata(
        name="ichview-ai-assist-test",
        version="0.0.1-test",
        arch=arch.to_dict(),
        preprocess=PreprocessConfig(image_size=64, pixel_mm=4.0),
        threshold=threshold,
        trained_on="nothing (random test-only weights)",
        cam_scale=1.0,
    )
    save_weights(path, model, meta)
    return path


def model_weights(tmp_folder: Path) -> Path:
    """The shipped model when it exists, else a test-only model written into `tmp_folder`."""
    if SHIPPED_WEIGHTS.is_file():
        return SHIPPED_WEIGHTS
    return write_test_weights(tmp_folder / "ai-assist-test.safetensors")
