"""Our SecondReader against the blast-ct 2.1.0 package's own pipeline (`run_inference` with the
original pickles) on real head CT crops with a synthetic bleed inserted, and on whole real scans.

Tolerance: the two pipelines compute the same float32 arithmetic in a different order (big tiles,
channels-last, matrix-product head), so a voxel whose two top classes tie to ~1e-5 may flip: we
require >= 99.9 % voxel agreement and per-class volumes within 0.05 mL (measured: identical)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from blast_ct_inputs import SHIPPED, crop_volume, insert_ellipsoid, reference_labels, shared_models

from inference.readers.blast_ct.results import VERDICT_MIN_ML
from inference.readers.blast_ct.segment import SecondReader
from inference.results import Acceptance
from viewer.core.loading import load_stack, open_paths


def _load(real_data: Path, name: str):  # noqa: ANN202
    return load_stack(max(open_paths([real_data / name]).stacks(), key=lambda s: s.n_slices))


def _counts(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels.ravel(), minlength=5)


def _compare(volume, n_models: int, tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    reader = SecondReader.load(models=n_models, threads=2, weights_dir=SHIPPED)
    ours = reader.segment(volume, acceptance=Acceptance(True)).labels
    ref = reference_labels(volume, [shared_models() / f"model_{i}.pt" for i in range(1, n_models + 1)], tmp_path)
    assert ref.shape == ours.shape
    return ours, ref


def test_a_real_crop_with_a_bleed_reads_as_the_package_reads_it(real_data: Path, tmp_path: Path) -> None:
    # 27 x 27 x 27 mm of InVesalius parenchyma (1.5 mm slices, 0.48 mm pixels), a 70 HU ellipsoid in it.
    volume = crop_volume(_load(real_data, "invesalius_head_ct_0051"), 45, 63, 150, 206, 300, 356)
    volume, mask = insert_ellipsoid(volume, (9, 28, 28), (6.0, 6.0, 5.0), 70)
    ours, ref = _compare(volume, 1, tmp_path)
    assert _counts(ref)[1:].sum() > 500, "the inserted bleed should be read as a lesion"
    assert (ours == ref).mean() >= 0.999
    voxel_ml = 1.5 * volume.spacing_mm[1] * volume.spacing_mm[2] / 1000
    np.testing.assert_allclose(_counts(ours)[1:] * voxel_ml, _counts(ref)[1:] * voxel_ml, atol=0.05)


@pytest.mark.slow
def test_a_larger_real_crop_with_three_members(real_data: Path, tmp_path: Path) -> None:
    # 60 mm of InVesalius across the right skull (inner table near column 28 of the crop), a
    # 65 HU lens just inside it; members 1-3.
    volume = crop_volume(_load(real_data, "invesalius_head_ct_0051"), 40, 80, 190, 315, 120, 245)
    volume, _ = insert_ellipsoid(volume, (20, 60, 38), (8.0, 10.0, 3.0), 65)
    ours, ref = _compare(volume, 3, tmp_path)
    assert _counts(ref)[1:].sum() > 500
    assert (ours == ref).mean() >= 0.999


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ge_head_ct_tilted", "invesalius_head_ct_0051", "cerr_head_neck_ct"])
def test_the_default_reads_normal_real_scans_clean(real_data: Path, name: str) -> None:
    result = SecondReader.load(threads=2, device="cpu").segment(_load(real_data, name))
    assert result.acceptance.accepted
    assert result.blood_components(VERDICT_MIN_ML) == (), result.components
