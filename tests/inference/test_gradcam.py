"""Grad-CAM on a model whose answer is known: trained here on synthetic blobs for a few steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.gradcam import calibrate_cam_scale, grad_cam, raw_grad_cam
from inference.model import ArchConfig, build_model

SIZE = 64


def _batch(gen: torch.Generator, n: int, positive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy grey 'brain' with, on positive samples, a bright 6-pixel blob at a random place."""
    x = 0.4 + 0.05 * torch.randn(n, 9, SIZE, SIZE, generator=gen)
    centres = torch.randint(10, SIZE - 10, (n, 2), generator=gen)
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    for i in range(n):
        if positive[i]:
            blob = ((yy - centres[i, 0]) ** 2 + (xx - centres[i, 1]) ** 2) < 36
            x[i, :, blob] += 0.5
    return x.clamp(0, 1), centres


@pytest.fixture(scope="module")
def trained() -> torch.nn.Module:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = build_model(ArchConfig(stem_channels=8, widths=(8, 16, 16, 16), blocks=(1, 1, 1, 1), dropout=0.0))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        pos = torch.rand(16, generator=gen) < 0.5
        x, _ = _batch(gen, 16, pos)
        target = pos.float()[:, None].expand(-1, 6)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    # Settle BatchNorm statistics (40 steps at momentum 0.1 leave them half-way).
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        for _ in range(4):
            model(_batch(gen, 16, torch.rand(16, generator=gen) < 0.5)[0])
    return model.eval()


def test_cam_peaks_on_the_evidence_and_is_near_zero_on_negatives(trained: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(123)
    pos = torch.tensor([True] * 6 + [False] * 6)
    x, centres = _batch(gen, 12, pos)
    scale = calibrate_cam_scale(trained, x, pos)
    probs, cams = grad_cam(trained, x, ("any", "subdural"), cam_scale=scale)
    assert cams.dtype == np.float16 and cams.shape == (12, 2, SIZE // 8, SIZE // 8)
    assert probs[:6, 0].min() > 0.8 and probs[6:, 0].max() < 0.2  # the model learnt the task
    for i in range(6):  # every positive in the batch (no short targets list): peak on its own blob
        peak = np.unravel_index(np.argmax(cams[i, 0]), cams[i, 0].shape)
        cell = (centres[i] // 8).numpy()
        assert abs(int(peak[0]) - int(cell[0])) <= 1 and abs(int(peak[1]) - int(cell[1])) <= 1
        assert cams[i, 0].max() > 0.3
    # Negatives: nothing to see (scaled by the probability; never stretched to a hot spot).
    assert cams[6:, 0].max() < 0.1
    assert 0.0 <= cams.min() and cams.max() <= 1.0


def test_batched_equals_one_by_one(trained: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(7)
    pos = torch.tensor([True, False, True, True])
    x, _ = _batch(gen, 4, pos)
    _, together = grad_cam(trained, x, ("any",), cam_scale=1.0)
    alone = np.concatenate([grad_cam(trained, x[i : i + 1], ("any",), cam_scale=1.0)[1] for i in range(4)])
    np.testing.assert_allclose(together.astype(np.float32), alone.astype(np.float32), atol=2e-3)


def test_refuses_inference_mode_and_unknown_label(trained: torch.nn.Module) -> None:
    x = torch.rand(1, 9, SIZE, SIZE)
    with torch.inference_mode():
        feats = trained.features(x)
        with pytest.raises(RuntimeError, match="outside"):
            raw_grad_cam(trained, feats)
    with pytest.raises(ValueError, match="unknown labels"):
        raw_grad_cam(trained, feats, ("bleed",))


def test_localisation_measures_and_hu_baseline() -> None:
    """The localisation measures the card quotes live in one place (inference.training.metrics)."""
    from inference.training.metrics import baseline_blood_heatmap, cam_mass_inside, dilate_mask_mm, pointing_game_hit

    spacing = (0.5, 0.5)
    mask = np.zeros((100, 100), bool)
    mask[40:50, 40:50] = True
    region = dilate_mask_mm(mask, spacing, radius_mm=2.0)
    heat = np.zeros((100, 100), np.float32)
    heat[45, 45] = 1.0  # inside
    heat[51, 45] = 1.0  # 1 mm outside: inside the 2 mm dilation
    heat[80, 80] = 2.0  # far away, and the maximum
    assert cam_mass_inside(heat, region) == pytest.approx(0.5)
    assert cam_mass_inside(heat, dilate_mask_mm(mask, spacing, radius_mm=0.0)) == pytest.approx(0.25)
    assert not pointing_game_hit(heat, region)
    heat[80, 80] = 0.0
    assert pointing_game_hit(heat, region)
    assert np.isnan(cam_mass_inside(np.zeros_like(heat), region))
    # Baseline: 50-90 HU inside a skull ring only (blood-like scalp outside the ring does not count).
    yy, xx = np.mgrid[0:100, 0:100]
    r = np.hypot(yy - 50, xx - 50)
    hu = np.where(r < 40, 30, -1000).astype(np.int16)
    hu[(r >= 36) & (r < 40)] = 1000
    hu[(r >= 40) & (r < 44)] = 70  # outside the skull
    hu[45:50, 45:50] = 70  # 'blood' inside
    base = baseline_blood_heatmap(hu)
    assert base[45:50, 45:50].all() and base.sum() == 25


def _head_inputs() -> tuple[np.ndarray, object]:
    """Model inputs of one axial slice: scalp (50 HU, outside the skull), 6 mm skull, brain (32 HU),
    a 65 HU bleed, a 400 HU calcification; the engine's own pre-processing."""
    from inference.preprocess import PreprocessConfig, make_inputs

    config = PreprocessConfig(image_size=64, pixel_mm=4.0)
    c = (np.arange(256) - 127.5) * 1.0
    yy, xx = np.meshgrid(c, c, indexing="ij")
    r = np.hypot(yy / 90, xx / 75)
    hu = np.full((256, 256), -1000.0, np.float32)
    hu[r < 1.0] = 50  # scalp
    hu[r < 0.93] = 1200  # skull
    hu[r < 0.86] = 32  # brain
    hu[np.hypot(yy + 30, xx - 20) < 12] = 65  # bleed
    hu[np.hypot(yy - 30, xx + 20) < 6] = 400  # calcification
    prepared = make_inputs(hu[None].astype(np.int16), [0.0], (1.0, 1.0), config)
    return prepared, config


def test_blood_gate_keeps_blood_density_inside_the_skull_only() -> None:
    from inference.gradcam import blood_gate

    prepared, config = _head_inputs()
    gate = blood_gate(torch.from_numpy(prepared.x), config)[0].numpy()
    a = prepared.to_image[0]  # source [row, col] = a @ [y, x, 1] (axis-aligned)

    def at(row: float, col: float) -> float:
        y, x = (row - a[0, 2]) / a[0, 0], (col - a[1, 2]) / a[1, 1]
        return float(gate[int(round(y)), int(round(x))])

    assert at(127.5 - 30, 127.5 + 20) == 1.0  # the bleed
    assert at(127.5 + 40, 127.5 - 40) == 0.0  # brain at 32 HU
    assert at(127.5 + 30, 127.5 - 20) == 0.0  # the calcification
    assert at(127.5, 127.5 + 72) == 0.0  # scalp at 50 HU, outside the skull
    assert 0 < gate.sum() < 0.05 * gate.size


def test_engine_heatmaps_never_leave_the_blood_gate(trained: torch.nn.Module) -> None:
    """What the viewer draws: on the model grid, zero wherever the gate is zero, never above p."""
    from inference.gradcam import blood_gate

    prepared, config = _head_inputs()
    x = torch.from_numpy(prepared.x)
    probs, cams = grad_cam(trained, x, ("any",), cam_scale=0.5, gate_config=config)
    gate = blood_gate(x, config)[0].numpy()
    cam = cams[0, 0].astype(np.float32)
    assert cam.shape == (64, 64)
    assert np.all(cam[gate == 0] == 0)
    assert float(cam.max()) <= probs[0, 0] + 1e-3
