"""Inputs for the `ichview analyze` tests: small synthetic studies on disk and test-only weights.

CT studies come from the project's generator (inference.synth.study); the MR series is the simple
phantom written with modality MR.

The weights are a small randomly initialised IchNet saved with the real writer (inference.weights);
its stored operating threshold is chosen by the test, so the verdict plumbing (threshold -> verdict
-> PDF / JSON / stdout) is checked even before trained weights exist.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.synth.dicom_writer import SeriesSpec, write_series
from inference.synth.phantom import simple_head_hu
from inference.synth.study import make_study, write_study


def write_ct_study(
    folder: Path, *, bleed: bool, patient_name: str, seed: int, patient_id: str = "", large_bleed: bool = False,
    z_range_mm: tuple[float, float] = (-30.0, 50.0),
) -> Path:
    """A small synthetic head CT (inference.synth: 128 x 128, 8 mm slices over the mid-brain) with an
    intraparenchymal bleed on a few slices, or none; returns the DICOM folder."""
    spec = SeriesSpec(
        patient_name=patient_name,
        patient_id=patient_id or f"CLI-{seed}",
        uid_seed=f"ichview-cli-{seed}",
        series_description="AXIAL 8MM",
        specific_character_set="ISO_IR 192",
    )
    study = make_study(
        seed,
        matrix=128,
        slice_thickness_mm=8.0,
        lesions=["intraparenchymal"] if bleed else None,
        lesion_size="large" if large_bleed else "medium",
        z_range_mm=z_range_mm,
        series=spec,
    )
    if bleed:
        assert 1 <= int(study.labels[:, 0].sum()) < study.n_slices
    return write_study(study, folder)


def write_mr_series(folder: Path, *, seed: str = "cli") -> list[Path]:
    spec = SeriesSpec(
        patient_id=f"CLI-{seed}",
        uid_seed=f"ichview-cli-{seed}",
        series_number=7,
        series_description="T2 AXIAL",
        modality="MR",
        pixel_spacing_mm=(1.8, 1.8),
        first_position_mm=(-115.2, -115.2, 20.0),
        rescale_intercept=0.0,
    )
    zs = 20.0 + 5.0 * np.arange(4)
    xs = -115.2 + 1.8 * (np.arange(128) + 0.5)
    z, y, x = np.meshgrid(zs, xs, xs, indexing="ij")
    hu = np.clip(simple_head_hu(np.stack([x, y, z], axis=-1)) + 1000.0, 0, 3000)
    return write_series(hu, folder, spec, file_names=lambda i: f"MR{i + 1:04d}.dcm")


def write_test_weights(path: Path, *, threshold: float) -> Path:
    import torch

    from inference.model import ArchConfig, build_model
    from inference.preprocess import PreprocessConfig
    from inference.weights import ModelMetadata, save_weights

    arch = ArchConfig(stem_channels=8, widths=(8, 16, 24, 32), blocks=(1, 1, 1, 1))
    torch.manual_seed(0)
    model = build_model(arch).eval()
    meta = ModelMetadata(
        name="ichview-cli-test",
        version="0.0.1-test",
        arch=arch.to_dict(),
        preprocess=PreprocessConfig(image_size=64, pixel_mm=4.0),
        threshold=threshold,
        trained_on="nothing (random test-only weights)",
        cam_scale=2.5,
    )
    save_weights(path, model, meta)
    return path
