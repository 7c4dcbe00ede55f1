"""What the engine analyses, and the reason for what it does not, on volumes built to trigger each rule."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from inference.acceptance import check_volume
from viewer.core.loading import load_stack, open_paths
from viewer.core.volume import StudyMetadata, Volume


def make_volume(hu: np.ndarray, spacing_mm: tuple[float, float, float] = (5.0, 0.9, 0.9), *,
                orientation: str = "axial", direction: np.ndarray | None = None, **meta: object) -> Volume:
    n = hu.shape[0]
    metadata = StudyMetadata(**{"modality": "CT", "convolution_kernel": "H30s", **meta})  # type: ignore[arg-type]
    return Volume(
        hu=hu.astype(np.int16), spacing_mm=spacing_mm, origin_mm=(0.0, 0.0, 0.0),
        direction=np.eye(3) if direction is None else direction,
        positions_mm=tuple(float(k * spacing_mm[0]) for k in range(n)),
        sop_instance_uids=tuple(f"1.2.3.{k}" for k in range(n)), instance_numbers=tuple(range(1, n + 1)),
        slice_thickness_mm=(spacing_mm[0],) * n, source_paths=tuple(Path(f"s{k}.dcm") for k in range(n)),
        series_uid="1.2.3", stack_id="1.2.3#0", metadata=metadata, orientation=orientation,
    )


def synthetic_head(n_slices: int = 8, size: int = 256, pixel_mm: float = 0.9, seed: int = 3) -> np.ndarray:
    """Axial slices of an ellipsoid head: scalp, 6 mm skull, brain with grey/white texture, ventricles, noise."""
    rng = np.random.default_rng(seed)
    c = (np.arange(size) - (size - 1) / 2) * pixel_mm
    yy, xx = np.meshgrid(c, c, indexing="ij")
    out = np.empty((n_slices, size, size), np.float32)
    for k in range(n_slices):
        z = -0.6 + 1.2 * k / max(n_slices - 1, 1)  # relative height inside the head
        f = math.sqrt(max(1 - z * z, 0.2))
        a, b = 92 * f, 74 * f  # semi-axes (mm) of the outer surface at that height
        r = np.sqrt((yy / a) ** 2 + (xx / b) ** 2)
        depth = (1 - r) * min(a, b)
        sl = np.full((size, size), -1000.0, np.float32)
        sl[depth > 0] = 20
        sl[depth > 3] = 1200
        sl[depth > 9] = 32
        sl[(depth > 9) & (depth < 14)] = 38  # cortex
        sl[(np.abs(xx) > 3) & (np.abs(xx) < 12) & (np.abs(yy) < 25) & (depth > 30)] = 8  # ventricles
        out[k] = sl
    out += rng.normal(0, 4.0, out.shape)
    return np.clip(np.rint(out), -1024, 3071).astype(np.int16)


@pytest.fixture(scope="module")
def head_hu() -> np.ndarray:
    return synthetic_head()


def _rejected(volume: Volume, *words: str) -> None:
    result = check_volume(volume)
    assert not result.accepted
    assert all(w.lower() in result.reason.lower() for w in words), result.reason


def test_synthetic_head_and_a_single_slice_are_accepted(head_hu: np.ndarray) -> None:
    assert check_volume(make_volume(head_hu)).accepted
    assert check_volume(make_volume(head_hu[4:5])).accepted


def test_calcifications_and_dense_falx_are_not_mistaken_for_contrast(head_hu: np.ndarray) -> None:
    """Hard negatives of the hemorrhage task must still be analysed."""
    hu = head_hu.copy()
    n, size, _ = hu.shape
    mid = size // 2
    hu[:, mid - 40 : mid + 40, mid - 1 : mid + 2] = 140  # dense falx, 80 x 3 pixels
    for dy, dx in ((-10, 12), (-10, -12), (25, 0)):  # choroid plexus / pineal calcifications
        hu[:, mid + dy - 3 : mid + dy + 3, mid + dx - 3 : mid + dx + 3] = 400
    assert check_volume(make_volume(hu)).accepted


@pytest.mark.parametrize("name", ["ge_head_ct_tilted", "invesalius_head_ct_0051", "cerr_head_neck_ct"])
def test_real_head_cts_are_accepted(real_data: Path, name: str) -> None:
    tree = open_paths([real_data / name])
    stacks = tree.stacks()
    assert stacks
    volume = load_stack(stacks[0])
    result = check_volume(volume)
    assert result.accepted, result.reason


def test_non_ct_modality(head_hu: np.ndarray) -> None:
    _rejected(make_volume(head_hu, modality="MR"), "not CT", "MR")


def test_scout_by_header_and_by_pixels(head_hu: np.ndarray) -> None:
    _rejected(make_volume(head_hu, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER")), "scout")
    # One long image covering the body (a topogram) with no ImageType.
    topo = np.full((1, 512, 1024), -1000, np.int16)
    topo[0, 100:400, :] = 40
    _rejected(make_volume(topo, (1.0, 0.9, 0.9)), "scout")


def test_reformats(head_hu: np.ndarray) -> None:
    _rejected(make_volume(head_hu, orientation="coronal"), "coronal")
    _rejected(make_volume(head_hu, orientation="sagittal"), "sagittal")
    a = math.radians(40.0)  # an axial-labelled plane tilted 40 degrees
    tilted = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    _rejected(make_volume(head_hu, direction=tilted), "tilted 40")
    b = math.radians(18.5)  # ordinary gantry tilt stays accepted
    gantry = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    assert check_volume(make_volume(head_hu, direction=gantry)).accepted


@pytest.mark.parametrize("kernel", ["BONE", "BONEPLUS", "H70h", "B70f", "Hr64", "YC", "SHARP", "LUNG"])
def test_bone_kernel_by_name(head_hu: np.ndarray, kernel: str) -> None:
    _rejected(make_volume(head_hu, convolution_kernel=kernel), "kernel", kernel)


@pytest.mark.parametrize("kernel", ["STANDARD", "SOFT", "H30s", "H40s", "Hr40", "J40s", "FC26", "UB", "B", "STD+"])
def test_soft_kernels_pass(head_hu: np.ndarray, kernel: str) -> None:
    assert check_volume(make_volume(head_hu, convolution_kernel=kernel)).accepted


def test_bone_kernel_by_pixels(head_hu: np.ndarray) -> None:
    noisy = head_hu + np.random.default_rng(0).normal(0, 70, head_hu.shape)
    _rejected(make_volume(np.clip(noisy, -1024, 3071), convolution_kernel=""), "noisy")


def test_contrast_by_header_and_by_pixels(head_hu: np.ndarray) -> None:
    _rejected(make_volume(head_hu, contrast_agent="OMNIPAQUE 350"), "contrast")
    assert check_volume(make_volume(head_hu, contrast_agent="NONE")).accepted
    # Bright vessels (250 HU) threading through the brain on every slice.
    enhanced = head_hu.copy()
    brain = (head_hu > 15) & (head_hu < 50)
    vessels = np.zeros_like(brain)
    vessels[:, :, ::12] = True
    vessels[:, ::12, :] = True
    enhanced[brain & vessels] = 250
    _rejected(make_volume(enhanced), "contrast")


def test_non_head_by_header_and_by_pixels(head_hu: np.ndarray) -> None:
    _rejected(make_volume(head_hu, body_part="CHEST"), "CHEST")
    # A body-size water cylinder with a rib-like bone ring 340 x 240 mm: encloses too much.
    yy, xx = np.mgrid[0:512, 0:512]
    e = ((yy - 256) / 135.0) ** 2 + ((xx - 256) / 190.0) ** 2
    body = np.where(e < 1.0, 40, -1000).astype(np.int16)
    body[(e > 0.82) & (e < 0.9)] = 700
    _rejected(make_volume(np.repeat(body[None], 6, axis=0), (5.0, 0.9, 0.9)), "not a head")
    # Soft tissue without any skull (e.g. a limb or an abdomen phantom).
    _rejected(make_volume(np.repeat(np.where(e < 1.0, 40, -1000)[None], 6, axis=0).astype(np.int16)), "not a head")


def test_bone_kernel_header_is_checked_before_pixels(head_hu: np.ndarray) -> None:
    v = make_volume(head_hu, convolution_kernel="BONE", contrast_agent="")
    assert "kernel" in check_volume(dataclasses.replace(v)).reason


def test_empty_skull_is_not_analysed(head_hu: np.ndarray) -> None:
    """A skull with air (or plastic) inside, e.g. a QA head phantom: the model has no brain to read."""
    empty = head_hu.copy()
    empty[(empty > -300) & (empty < 300)] = -990  # scalp and brain become air; the bone ring stays
    _rejected(make_volume(empty), "no brain inside the skull")
    solid = head_hu.copy()
    solid[(solid > 0) & (solid < 300)] = 250  # a skull full of bone-dense plastic
    _rejected(make_volume(solid), "no brain inside the skull")


def test_real_empty_head_phantom_is_not_analysed(real_data: Path) -> None:
    """The Philips head phantom is a plastic skull with air inside: "not analysed", not a 0.98 bleed score."""
    tree = open_paths([real_data / "philips_head_phantom_5mm"])
    volume = load_stack(max(tree.stacks(), key=lambda s: s.n_slices))
    result = check_volume(volume)
    assert not result.accepted
    assert "no brain inside the skull" in result.reason
