"""Batched Grad-CAM from the model's last conv block, on an absolute scale, gated by the probability.

For a batch of slices, the feature map A (N, C, h, w) of `model.features` is turned into a leaf
tensor (so it can come from an `inference_mode` forward pass: the convolutions run once) and the
head is re-run on it with gradients. For each requested label the gradient of the sum of that
label's logits over the batch gives every slice its own gradient (slices are independent in eval
mode), so every slice of the batch gets its map: there is no targets list that can be short.

Map of slice i, label l:  raw = ReLU(h*w * sum_c alpha_c A_c), alpha_c = mean over cells of
d logit_l / d A_c. With the pooled linear head, raw is the contribution of each feature cell to
the logit (in logit units, as if the whole slice looked like that cell), a quantity with the
same meaning on every slice and every image size.

Scale (the choice, and why): never per-image min-max (a clean slice would show its own strongest
noise as a hot spot, and MONAI's default normaliser even flips maps). Instead
    cam = clip(raw / cam_scale, 0, 1) * p_l
with `cam_scale` a fixed constant of the model (stored in its metadata; `calibrate_cam_scale`
sets it to the median per-slice peak of raw on positive slices, so a typical bleed peaks near 1)
and p_l the slice's probability for that label. A confident negative slice (p ~ 0.01) therefore
shows at most ~0.01 anywhere; a positive slice shows its evidence at ~p.

Blood gate (what the engine hands the viewer and the report): the scaled map, upsampled from the
feature grid (1/4 or 1/8 of the model grid: 8-16 mm cells) to the model grid, times a mask of the
target slab's pixels at 40-100 HU (acute blood; `BLOOD_GATE_HU`) inside the skull. The network
says *where* (the feature cell), the physics says *which pixels there could be blood*; neither
alone is the heatmap. The held-out localisation figures of plain and gated maps and of the plain
50-90 HU baseline are in the model card. Maps are float16 on the model grid (about 32 KB a slice at
128 x 128); the viewer places them with `inference.preprocess.cam_cell_affine`.
"""
from __future__ import annotations

from collections.abc import Sequence

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from inference.labels import LABELS

if TYPE_CHECKING:
    from inference.preprocess import PreprocessConfig

BLOOD_GATE_HU = (40.0, 100.0)  # acute (and hyperacute / retracted-clot) blood
GATE_BONE_HU = 300.0

__all__ = [
    "label_indices",
    "raw_grad_cam",
    "scale_cams",
    "grad_cam",
    "calibrate_cam_scale",
    "target_hu",
    "blood_gate",
    "gated_cams",
    "BLOOD_GATE_HU",
]


def label_indices(labels: Sequence[str]) -> list[int]:
    """Output indices of `labels` (names from inference.labels.LABELS); ValueError for unknown names."""
    unknown = [lab for lab in labels if lab not in LABELS]
    if unknown:
        raise ValueError(f"unknown labels {unknown}; expected some of {LABELS}")
    return [LABELS.index(lab) for lab in labels]


def raw_grad_cam(model: torch.nn.Module, feats: torch.Tensor, labels: Sequence[str] = ("any",)) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw Grad-CAM (N, L, h, w) float32 and the logits (N, 6) from a feature map (N, C, h, w).

    `feats` may come from an inference-mode forward: it is cloned into a leaf that needs grad.
    Must run with gradients enabled (not under `inference_mode` / `no_grad`).
    """
    if torch.is_inference_mode_enabled() or not torch.is_grad_enabled():
        raise RuntimeError("Grad-CAM needs gradients: call it outside torch.inference_mode()/no_grad()")
    idx = label_indices(labels)
    leaf = feats.detach().clone().requires_grad_(True)
    logits = model.head(leaf)
    h, w = leaf.shape[-2:]
    maps = []
    for k, li in enumerate(idx):
        (grad,) = torch.autograd.grad(logits[:, li].sum(), leaf, retain_graph=k < len(idx) - 1)
        alpha = grad.float().mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
        maps.append(torch.relu((alpha * leaf.detach().float()).sum(dim=1)) * float(h * w))
    return torch.stack(maps, dim=1), logits.detach().float()


def _scaled(raw: torch.Tensor, probabilities: torch.Tensor, cam_scale: float) -> torch.Tensor:
    if cam_scale <= 0:
        raise ValueError("cam_scale must be positive")
    p = probabilities.float().reshape(raw.shape[0], raw.shape[1], 1, 1).to(raw.device)
    return (raw.float() / float(cam_scale)).clamp_(0.0, 1.0) * p


def scale_cams(raw: torch.Tensor, probabilities: torch.Tensor, cam_scale: float) -> np.ndarray:
    """clip(raw / cam_scale, 0, 1) * probability -> float16 numpy (N, L, h, w) on the feature grid."""
    return _scaled(raw, probabilities, cam_scale).to(torch.float16).cpu().numpy()


def target_hu(x: torch.Tensor, config: PreprocessConfig) -> torch.Tensor:
    """Approximate HU (N, H, W) of the target slab, inverted from its window channels of `x`
    (N, C, H, W) in [0, 1]: each pixel takes the narrowest window in which it is not clipped."""
    n_w = len(config.windows)
    mid = config.n_slabs // 2
    order = sorted(range(n_w), key=lambda w: config.windows[w].width_hu)
    out: torch.Tensor | None = None
    for w in reversed(order):  # widest first; narrower windows overwrite where unclipped
        win = config.windows[w]
        v = x[:, mid * n_w + w].float()
        hu = (win.center_hu - win.width_hu / 2.0) + v * win.width_hu
        out = hu if out is None else torch.where((v > 0.002) & (v < 0.998), hu, out)
    assert out is not None
    return out


def blood_gate(x: torch.Tensor, config: PreprocessConfig, *, hu_range: tuple[float, float] = BLOOD_GATE_HU) -> torch.Tensor:
    """(N, H, W) float mask on the CPU: target-slab pixels within `hu_range` inside the skull, with
    the same "inside the skull" as the localisation baseline (`inference.skull.intracranial_mask`)."""
    from inference.skull import intracranial_mask

    hus = target_hu(x, config).cpu().numpy()
    gates = [(h >= hu_range[0]) & (h <= hu_range[1]) & intracranial_mask(h, bone_hu=GATE_BONE_HU) for h in hus]
    return torch.from_numpy(np.stack(gates).astype(np.float32))


def gated_cams(raw: torch.Tensor, probabilities: torch.Tensor, cam_scale: float, x: torch.Tensor,
               config: PreprocessConfig) -> np.ndarray:
    """Scaled CAMs upsampled to the model grid and multiplied by `blood_gate`: float16 (N, L, H, W)."""
    cams = _scaled(raw, probabilities, cam_scale)
    up = F.interpolate(cams, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
    return (up.cpu() * blood_gate(x, config)[:, None]).to(torch.float16).numpy()


def grad_cam(
    model: torch.nn.Module,
    x: torch.Tensor,
    labels: Sequence[str] = ("any",),
    *,
    cam_scale: float,
    gate_config: PreprocessConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, 6) float32 and scaled CAMs float16 for a batch `x`: (N, L, h, w) on the
    feature grid, or with `gate_config` the blood-gated maps (N, L, H, W) on the model grid."""
    with torch.inference_mode():
        feats = model.features(x)
    raw, logits = raw_grad_cam(model, feats, labels)
    probs = torch.sigmoid(logits)
    sel = probs[:, label_indices(labels)]
    if gate_config is not None:
        return probs.cpu().numpy(), gated_cams(raw, sel, cam_scale, x, gate_config)
    return probs.cpu().numpy(), scale_cams(raw, sel, cam_scale)


def calibrate_cam_scale(
    model: torch.nn.Module,
    x: torch.Tensor,
    positive: torch.Tensor | np.ndarray,
    *,
    label: str = "any",
    batch_size: int = 16,
) -> float:
    """The `cam_scale` to store with a model: median per-slice peak of the raw CAM on positive slices."""
    pos = torch.as_tensor(np.asarray(positive), dtype=torch.bool)
    if not bool(pos.any()):
        raise ValueError("calibrate_cam_scale needs at least one positive slice")
    xs = x[pos]
    peaks = []
    model.eval()
    for i in range(0, xs.shape[0], batch_size):
        with torch.inference_mode():
            feats = model.features(xs[i : i + batch_size])
        raw, _ = raw_grad_cam(model, feats, (label,))
        peaks.append(raw.amax(dim=(1, 2, 3)))
    value = float(torch.cat(peaks).median())
    return value if value > 1e-6 else 1.0
