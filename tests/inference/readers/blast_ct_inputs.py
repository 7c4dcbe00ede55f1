"""Test inputs for the second reader: Volumes around arrays, real crops, a stub network, and the
blast-ct 2.1.0 package's own pipeline as the reference (dev extra; never used by the product)."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.readers.blast_ct.network import CONTEXT_VOXELS
from viewer.core.volume import StudyMetadata, Volume

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_MODELS = (REPO_ROOT / ".." / "shared" / "models" / "blast-ct-v1").resolve()
SHIPPED = REPO_ROOT / "resources" / "model" / "blast-ct-v1"


def shared_models() -> Path:
    """The original pickles (../shared/models/blast-ct-v1); absence is a failure, never a skip."""
    if not (SHARED_MODELS / "model_1.pt").is_file():
        pytest.fail(f"BLAST-CT pickles not found at {SHARED_MODELS} (clone the repo beside shared/)")
    return SHARED_MODELS


def make_volume(
    hu: np.ndarray,
    *,
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
    positions_mm: tuple[float, ...] | None = None,
    tilt_deg: float = 0.0,
    stack_id: str = "2.25.7#0",
    modality: str = "CT",
) -> Volume:
    """A canonical axial Volume around an HU array (n, rows, cols)."""
    n = hu.shape[0]
    pos = positions_mm if positions_mm is not None else tuple(float(k) * spacing_mm[0] for k in range(n))
    return Volume(
        hu=np.asarray(hu).astype(np.int16),
        spacing_mm=tuple(float(s) for s in spacing_mm),  # type: ignore[arg-type]
        origin_mm=(0.0, 0.0, float(pos[0])),
        direction=np.eye(3),
        positions_mm=tuple(float(p) for p in pos),
        sop_instance_uids=tuple(f"{stack_id}.{k}" for k in range(n)),
        instance_numbers=tuple(range(1, n + 1)),
        slice_thickness_mm=(float(spacing_mm[0]),) * n,
        source_paths=tuple(Path(f"/nonexistent/{k}.dcm") for k in range(n)),
        series_uid=stack_id.split("#")[0],
        stack_id=stack_id,
        metadata=StudyMetadata(modality=modality, convolution_kernel="H30s"),
        tilt_deg=tilt_deg,
    )


def crop_volume(volume: Volume, k0: int, k1: int, r0: int, r1: int, c0: int, c1: int) -> Volume:
    """A sub-volume (same spacing; origin and positions follow the crop)."""
    hu = np.ascontiguousarray(volume.hu[k0:k1, r0:r1, c0:c1])
    origin = np.asarray(volume.origin_mm) + volume.direction @ np.array(
        [c0 * volume.spacing_mm[2], r0 * volume.spacing_mm[1], 0.0]
    )
    return replace(
        volume,
        hu=hu,
        origin_mm=tuple(float(v) for v in origin),
        positions_mm=tuple(volume.positions_mm[k0:k1]),
        sop_instance_uids=tuple(volume.sop_instance_uids[k0:k1]),
        instance_numbers=tuple(volume.instance_numbers[k0:k1]),
        slice_thickness_mm=tuple(volume.slice_thickness_mm[k0:k1]),
        source_paths=tuple(volume.source_paths[k0:k1]),
        warnings=(),
    )


def insert_ellipsoid(
    volume: Volume, centre_kji: tuple[float, float, float], semi_axes_mm: tuple[float, float, float], hu: float
) -> tuple[Volume, np.ndarray]:
    """(Volume with an ellipsoid of `hu` added, its mask); centre in voxel indices, axes (k, r, c) in mm."""
    n, rows, cols = volume.hu.shape
    z = np.asarray(volume.positions_mm)[:, None, None] - np.interp(centre_kji[0], np.arange(n), volume.positions_mm)
    y = (np.arange(rows)[None, :, None] - centre_kji[1]) * volume.spacing_mm[1]
    x = (np.arange(cols)[None, None, :] - centre_kji[2]) * volume.spacing_mm[2]
    mask = (z / semi_axes_mm[0]) ** 2 + (y / semi_axes_mm[1]) ** 2 + (x / semi_axes_mm[2]) ** 2 <= 1.0
    out = volume.hu.copy()
    out[mask] = np.int16(hu) + (out[mask] - out[mask].mean()).astype(np.int16) // 4  # keep some texture
    return replace(volume, hu=out), mask


# -- a stub network: label 1 where the (windowed) input at the output voxel is above a level ------


class ThresholdNet(torch.nn.Module):
    """Logits whose argmax is 1 where the input voxel (windowed, [-1, 1]) exceeds `level`, else 0.

    Local and translation-equivariant like the real network, so the whole geometry (resampling,
    tiles, pasting, mapping back) can be checked against a known blob without a trained model."""

    def __init__(self, level: float = 0.3) -> None:
        super().__init__()
        self.level = level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = CONTEXT_VOXELS
        centre = x[:, :, c:-c, c:-c, c:-c]
        logits = torch.zeros((x.shape[0], 5, *centre.shape[2:]), dtype=x.dtype)
        logits[:, 1] = (centre[:, 0] - self.level) * 10.0
        return logits


@dataclass(frozen=True)
class StubInfo:
    member: int = 0
    name: str = "stub"
    version: str = "0"


@dataclass(frozen=True, eq=False)
class StubMember:
    model: torch.nn.Module
    info: StubInfo = StubInfo()
    sha256: str = "0" * 64
    path: Path = Path("stub")


def hu_level(level: float) -> float:
    """The HU at which ThresholdNet(level) switches (window [-15, 100] -> [-1, 1])."""
    return (level + 1.0) / 2.0 * 115.0 - 15.0


# -- the reference: blast-ct 2.1.0's own pipeline on a NIfTI written from the Volume --------------


def write_nifti(volume: Volume, path: Path) -> None:
    """The Volume as a float32 NIfTI in its slice frame (even spacing: the median step)."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(volume.hu.astype(np.float32))
    dz = float(np.median(np.diff(volume.positions_mm))) if volume.n_slices > 1 else float(volume.spacing_mm[0])
    img.SetSpacing((float(volume.spacing_mm[2]), float(volume.spacing_mm[1]), dz))
    img.SetOrigin(tuple(float(v) for v in volume.origin_mm))
    img.SetDirection(tuple(float(v) for v in np.asarray(volume.direction).ravel()))
    sitk.WriteImage(img, str(path))


def reference_labels(volume: Volume, model_paths: list[Path], work: Path) -> np.ndarray:
    """blast_ct.inference.run_inference on the Volume (local model paths, CPU): labels (n, rows, cols)."""
    import SimpleITK as sitk
    from blast_ct.inference import run_inference

    work.mkdir(parents=True, exist_ok=True)
    image = work / "image.nii.gz"
    write_nifti(volume, image)
    csv = work / "test.csv"
    csv.write_text(f"id,image\ncase,{image}\n")
    config = work / "config.json"
    config.write_text(json.dumps(json.loads((shared_models() / "config.json").read_text())))
    run_inference(
        job_dir=str(work / "job"),
        test_csv_path=str(csv),
        config_file=str(config),
        device="cpu",
        saved_model_paths=" ".join(str(p) for p in model_paths),
        write_prob_maps=False,
        do_localisation=False,
        save_atlas_and_brain_mask_native_space=False,
        num_reg_runs=1,
        overwrite=True,
        native_space=True,
    )
    out = work / "job" / "predictions" / "case_prediction.nii.gz"
    return sitk.GetArrayFromImage(sitk.ReadImage(str(out))).astype(np.uint8)
