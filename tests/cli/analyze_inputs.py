"""Inputs for the `ichview analyze` tests: small synthetic studies on disk and test-only weights.

The weights are a small randomly initialised IchNet saved with the real writer (inference.weights);
its stored operating threshold is chosen by the test, so the verdict plumbing (threshold -> verdict
-> PDF / JSON / stdout) is checked even before trained weights exist.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.synth.dicom_writer import SeriesSpec, write_series
from inference.synth.phantom import simple_head_hu


def head_hu(n_slices: int = 8, size: int = 128, *, pixel_mm: float = 1.8, step_mm: float = 5.0,
            bleed: bool = False, z0_mm: float = 20.0) -> np.ndarray:
    """The simple analytic head sampled on an axial grid, with an optional dense (65 HU) blob."""
    half = size * pixel_mm / 2.0
    xs = -half + pixel_mm * (np.arange(size) + 0.5)
    zs = z0_mm + step_mm * np.arange(n_slices)
    z, y, x = np.meshgrid(zs, xs, xs, indexing="ij")
    pts = np.stack([x, y, z], axis=-1)
    hu = simple_head_hu(pts)
    if bleed:
        blob = ((x - 35.0) ** 2 + (y - 10.0) ** 2 < 14.0**2) & (np.abs(z - zs[n_slices // 2]) < 6.0)
        hu[blob & (hu > 0) & (hu < 100)] = 65.0
    return hu.astype(np.float32)


def write_ct_study(folder: Path, *, bleed: bool, patient_name: str = "SYNTH^BLEED", n_slices: int = 8,
                   size: int = 128, seed: str = "cli") -> list[Path]:
    pixel_mm = 1.8
    half = size * pixel_mm / 2.0
    spec = SeriesSpec(
        patient_name=patient_name,
        patient_id=f"CLI-{seed}",
        uid_seed=f"ichview-cli-{seed}",
        series_description="AXIAL 5MM",
        pixel_spacing_mm=(pixel_mm, pixel_mm),
        first_position_mm=(-half, -half, 20.0),
        slice_step_mm=5.0,
        specific_character_set="ISO_IR 192",
    )
    return write_series(head_hu(n_slices, size, pixel_mm=pixel_mm, bleed=bleed), folder, spec)


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
    hu = np.clip(head_hu(4, 128) + 1000.0, 0, 3000)
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
