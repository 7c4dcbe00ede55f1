"""A fast 2-D path for training: one randomised synthetic slice (or a small 2.5-D stack) at a time.

`render_training_slice(rng, params)` draws a head, optional bleeds, a slice plane and a scanner from
the ranges in `TrainingSliceParams` (wide domain randomisation), renders the object directly at the
output matrix (no DICOM, no 512 render) and returns `(hu (H, W) float32, masks {subtype: (H, W)
bool}, labels (6,) float32)` with labels in RSNA order (inference/labels.py).

Knobs (each a range sampled per slice; see the dataclass for defaults):
- `size`: output matrix (square); `fov_mm`: field of view range, so pixel = fov / size varies;
  `center_jitter_mm`: head position in the FOV.
- `slab_mm`: slab thickness range (log-uniform): thin slices are noisier, thick ones blur across z.
  `max_subplanes`: at most this many sub-planes averaged per slab (speed vs. faithfulness).
- `tilt_deg` / `p_tilt`: gantry tilt.
- `z_local_mm`: where untargeted slices fall in the head (local z, -78 foramen magnum .. +66 vertex).
- `rotation_sd_deg` (yaw, pitch, roll), `scale_sd`: head pose and size / shape.
- `noise_hu`: sigma (at 5 mm) range; `kernels` with weights, `psf_jitter`: reconstruction kernel
  sharpness; `p_streaks` / `streaks_hu`: beam-hardening streaks.
- Hard negatives: `p_falx_calc` (dense / calcified falx), `p_bg_calc` (basal ganglia calcification),
  pineal / choroid calcifications follow `random_head_params`.
- Bleeds: `p_positive`, `max_lesions`, `subtypes` (which to draw, weights), `lesion_size` ("any",
  "tiny".."large" or 0..1), `lesion_age` (None random; 0 acute 90 HU .. 1 older 50 HU),
  `p_target_lesion`: chance the slice is placed through a bleed (else anywhere in `z_local_mm`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from inference.labels import LABELS, SUBTYPES
from inference.synth.anatomy import HeadModel, Plane, random_head_params, rotation_matrix
from inference.synth.lesions import LabelRule, Lesion, apply_lesions, random_lesion
from inference.synth.scanner import ScannerParams, acquire


@dataclass(frozen=True)
class TrainingSliceParams:
    """Domain-randomisation ranges for `render_training_slice` (see the module docstring)."""

    size: int = 256
    fov_mm: tuple[float, float] = (190.0, 290.0)
    center_jitter_mm: float = 12.0
    slab_mm: tuple[float, float] = (0.625, 10.0)
    max_subplanes: int = 2
    tilt_deg: tuple[float, float] = (-20.0, 20.0)
    p_tilt: float = 0.35
    z_local_mm: tuple[float, float] = (-50.0, 60.0)
    rotation_sd_deg: tuple[float, float, float] = (8.0, 8.0, 4.0)
    scale_sd: float = 0.07
    noise_hu: tuple[float, float] = (2.0, 10.0)
    kernels: tuple[tuple[str, float], ...] = (("soft", 0.5), ("standard", 0.35), ("sharp", 0.15))
    psf_jitter: float = 0.3
    p_streaks: float = 0.3
    streaks_hu: tuple[float, float] = (5.0, 45.0)
    p_falx_calc: float = 0.2
    p_bg_calc: float = 0.1
    p_positive: float = 0.5
    max_lesions: int = 2
    subtypes: tuple[tuple[str, float], ...] = tuple((s, 1.0) for s in SUBTYPES)
    lesion_size: str | float = "any"
    lesion_age: float | None = None
    p_target_lesion: float = 0.85
    label_rule: LabelRule = LabelRule()


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def _choose(rng: np.random.Generator, weighted: tuple[tuple[str, float], ...]) -> str:
    names = [n for n, _ in weighted]
    w = np.array([v for _, v in weighted], float)
    return str(rng.choice(names, p=w / w.sum()))


def render_training_stack(
    rng: np.random.Generator,
    params: TrainingSliceParams = TrainingSliceParams(),
    offsets_mm: tuple[float, ...] = (0.0,),
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Like `render_training_slice`, but also renders slices at `offsets_mm` along the normal
    (2.5-D context; same head, bleeds and scanner). Returns (hu (k, H, W), masks and labels of
    the slice at offset 0 (which must be among the offsets))."""
    if 0.0 not in offsets_mm:
        raise ValueError("offsets_mm must contain 0.0 (the labelled slice)")
    p = params
    head = random_head_params(
        rng,
        rotation_deg=tuple(float(v) for v in rng.normal(0.0, p.rotation_sd_deg)),
        scale=tuple(float(v) for v in rng.normal(1.0, p.scale_sd, 3)),
        center_mm=(0.0, 0.0, 0.0),
    )
    if rng.random() < p.p_falx_calc:
        head = replace(head, falx_calc_hu=float(rng.uniform(100, 600)))
    if rng.random() < p.p_bg_calc:
        head = replace(head, basal_ganglia_calc_hu=float(rng.uniform(80, 400)))
    model = HeadModel(head)
    specs = []
    if rng.random() < p.p_positive:
        for _ in range(int(rng.integers(1, p.max_lesions + 1))):
            specs.append(random_lesion(rng, _choose(rng, p.subtypes), size=p.lesion_size, age=p.lesion_age))
    lesions = [Lesion(s, model) for s in specs]
    # Slice plane: through a bleed (usually) or anywhere in the brain levels.
    if specs and rng.random() < p.p_target_lesion:
        target = np.array(specs[int(rng.integers(len(specs)))].center, float)
        target[2] += rng.normal(0.0, 4.0)
    else:
        target = np.array([0.0, 0.0, _uniform(rng, p.z_local_mm)])
    r = rotation_matrix(head.rotation_deg) * np.asarray(head.scale)[None, :]
    target_patient = np.asarray(head.center_mm) + r @ target
    tilt = _uniform(rng, p.tilt_deg) if rng.random() < p.p_tilt else 0.0
    t = np.deg2rad(tilt)
    col_dir = np.array([1.0, 0.0, 0.0])
    row_dir = np.array([0.0, np.cos(t), -np.sin(t)])
    normal = np.cross(col_dir, row_dir)
    fov = _uniform(rng, p.fov_mm)
    px = fov / p.size
    centre = np.array([0.0, 0.0, target_patient[2]]) + np.r_[rng.normal(0, p.center_jitter_mm, 2), 0.0]
    origin = centre - (p.size - 1) / 2.0 * px * (col_dir + row_dir)
    slab = float(np.exp(rng.uniform(np.log(p.slab_mm[0]), np.log(p.slab_mm[1]))))
    n_sub = int(min(p.max_subplanes, max(1, np.ceil(slab / 2.5))))
    subs = (np.arange(n_sub) + 0.5) / n_sub * slab - slab / 2.0 if n_sub > 1 else np.zeros(1)
    kernel = _choose(rng, p.kernels)
    from inference.synth.scanner import KERNELS

    scanner = ScannerParams(
        noise_hu=_uniform(rng, p.noise_hu),
        kernel=kernel,
        psf_fwhm_mm=KERNELS[kernel][0] * float(rng.uniform(1 - p.psf_jitter, 1 + p.psf_jitter)),
        streaks_hu=_uniform(rng, p.streaks_hu) if rng.random() < p.p_streaks else 0.0,
    )
    out = np.empty((len(offsets_mm), p.size, p.size), np.float32)
    masks: dict[str, np.ndarray] = {}
    for j, off in enumerate(offsets_mm):
        acc = np.zeros((p.size, p.size), np.float32)
        occ_acc = {s: np.zeros((p.size, p.size), np.float32) for s in SUBTYPES}
        for sub in subs:
            plane = Plane(origin + (off + sub) * normal, row_dir * px, col_dir * px, p.size, p.size)
            pt = model.render_plane(plane)
            if lesions and off == 0.0:
                occ = apply_lesions(pt, lesions)
                for s in SUBTYPES:
                    occ_acc[s] += occ[s]
            elif lesions:
                apply_lesions(pt, lesions)
            acc += pt.hu
        acc /= len(subs)
        out[j] = acquire(acc, (px, px), slab, scanner, rng)
        if off == 0.0:
            masks = {s: (occ_acc[s] / len(subs)) >= p.label_rule.mask_threshold for s in SUBTYPES}
    np.clip(out, -1024.0, 3071.0, out=out)
    labels = np.zeros(len(LABELS), np.float32)
    for i, s in enumerate(SUBTYPES, start=1):
        labels[i] = float(masks[s].sum() * px * px >= p.label_rule.min_area_mm2)
    labels[0] = labels[1:].max()
    return out, masks, labels


def render_training_slice(
    rng: np.random.Generator, params: TrainingSliceParams = TrainingSliceParams()
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """One randomised slice: (hu (H, W) float32, masks {subtype: (H, W) bool}, labels (6,))."""
    hu, masks, labels = render_training_stack(rng, params, (0.0,))
    return hu[0], masks, labels
