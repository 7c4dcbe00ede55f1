"""The randomised synthetic training set: phantom studies from the generator plus bleeds inserted
into the training slices of two real normal head CTs. Rendered in shards into the input cache.

Each training shard `i` holds
- `PHANTOM_STUDIES_PER_SHARD` studies from `inference.synth.study.make_study`, seeds
  `TRAIN_SEED_BASE + i * 100 + j` (< HELDOUT_SEED_BASE, never a held-out seed), every slice: random
  head (size, shape, position, rotation, age, calcifications, dense falx), random bleeds
  (`lesion_size` uniform in TRAIN_SIZE_RANGE, random age / density), slice thickness from
  `PHANTOM_TRAIN_THICKNESSES_MM` (never 3 or 7 mm), gantry tilt (half of the studies, up to
  +-25 deg), noise x0.3..x2.0 of the generator's default, soft / standard / sharp kernel, streaks,
  field of view 220-300 mm on a 256 matrix;
- `REAL_EPISODES_PER_SHARD` episodes of `insertion.make_episode` on the *training* slices of
  invesalius_head_ct_0051 and cerr_head_neck_ct (see backgrounds.py), 40 % of them without a
  bleed (real negative slices with hard negatives added).

Calibration shards (`split="calib"`) draw the same distribution from other seeds; they are used
after training to fit the per-label calibration and the Grad-CAM scale, never for gradients.
All samples are made by `samples.samples_from_volume`, i.e. by the engine's `make_inputs`.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from inference.training.datasets.insertion import TRAIN_SIZE_RANGE, Knobs, make_episode
from inference.training.datasets.samples import Samples, samples_from_volume
from inference.labels import SUBTYPES
from inference.preprocess import PreprocessConfig

RENDER_VERSION = "synthetic-v1"
TRAIN_SEED_BASE = 0
CALIB_SEED_BASE = 5_000_000
HELDOUT_SEED_BASE = 9_000_000  # used only by heldout.py
PHANTOM_STUDIES_PER_SHARD = 2
REAL_EPISODES_PER_SHARD = 14
PHANTOM_TRAIN_THICKNESSES_MM = (1.5, 2.0, 2.5, 4.0, 5.0, 6.0)
PHANTOM_NOISE_RANGE = (0.3, 2.0)  # x the generator's default sigma; held-out uses 1.5 x 2.0
BACKGROUNDS = ("invesalius_head_ct_0051", "cerr_head_neck_ct")
MAX_PHANTOM_SLICES = 36  # thin studies: a random subset of slices (spread over the head)


def phantom_samples(
    seed: int,
    config: PreprocessConfig,
    rng: np.random.Generator,
    *,
    thickness_mm: float,
    noise: float,
    lesion_size: float | str,
    tilt_deg: float,
    kernel: str,
    streaks_hu: float,
    fov_mm: float,
    group: int,
    max_slices: int = MAX_PHANTOM_SLICES,
) -> Samples:
    """All (or up to `max_slices`) slices of one generator study as samples."""
    from inference.synth.study import make_study

    study = make_study(
        seed,
        slice_thickness_mm=thickness_mm,
        lesions="random",
        lesion_size=lesion_size,
        tilt_deg=tilt_deg,
        noise=noise,
        kernel=kernel,
        streaks_hu=streaks_hu,
        matrix=256,
        fov_mm=fov_mm,
        render_pixel_mm=1.9,
    )
    normal = np.cross(np.asarray(study.iop[:3]), np.asarray(study.iop[3:]))
    positions = study.positions_mm @ normal
    n = study.n_slices
    idx = np.arange(n)
    if n > max_slices:
        idx = np.sort(rng.choice(n, size=max_slices, replace=False))
    masks = np.zeros((idx.size,) + study.hu.shape[1:], bool)
    for s in SUBTYPES:
        masks |= study.masks[s][idx]
    return samples_from_volume(
        study.hu, positions, (study.spacing_mm[1], study.spacing_mm[2]), config,
        indices=idx, labels=study.labels[idx], masks=masks, group=group,
    )


def real_samples(
    background: str, pool: np.ndarray | None, config: PreprocessConfig, rng: np.random.Generator, knobs: Knobs, *, group: int
) -> Samples:
    """One insertion episode on `background` (training targets unless `pool` is given)."""
    from inference.training.datasets.backgrounds import load_background

    bg = load_background(background)
    targets = bg.training_targets() if pool is None else pool
    for _ in range(5):
        ep = make_episode(bg, targets, rng, knobs)
        if ep is not None:
            return samples_from_volume(
                ep.hu, ep.positions_mm, ep.pixel_spacing_mm, config,
                indices=ep.targets, labels=ep.labels, masks=ep.masks, group=group,
            )
    return Samples.empty(config)


def render_shard(index: int, config: PreprocessConfig, *, split: str = "train") -> Samples:
    """Training (`split="train"`) or calibration (`"calib"`) shard `index`; deterministic."""
    base = {"train": TRAIN_SEED_BASE, "calib": CALIB_SEED_BASE}[split]
    rng = np.random.default_rng([base, index, 17])
    parts = []
    for j in range(PHANTOM_STUDIES_PER_SHARD):
        seed = base + index * 100 + j
        parts.append(
            phantom_samples(
                seed, config, rng,
                thickness_mm=float(rng.choice(PHANTOM_TRAIN_THICKNESSES_MM)),
                noise=float(rng.uniform(*PHANTOM_NOISE_RANGE)),
                lesion_size=float(rng.uniform(*TRAIN_SIZE_RANGE)),
                tilt_deg=float(rng.uniform(-25, 25)) if rng.random() < 0.5 else 0.0,
                kernel=str(rng.choice(["soft", "standard", "sharp"])),
                streaks_hu=float(rng.uniform(0, 60)) if rng.random() < 0.4 else 0.0,
                fov_mm=float(rng.uniform(220, 300)),
                group=seed,
            )
        )
    knobs = Knobs(p_bleed=0.6)
    for e in range(REAL_EPISODES_PER_SHARD):
        bg = BACKGROUNDS[e % 2 if rng.random() < 0.8 else (e + 1) % 2]
        parts.append(real_samples(bg, None, config, rng, knobs, group=-(base + index * 100 + 50 + e)))
    return Samples.concat(parts)


NEGATIVE_SEED_BASE = 7_000_000
NEGATIVE_EPISODES_PER_SHARD = 40


def render_negative_shard(index: int, config: PreprocessConfig) -> Samples:
    """Real negatives only: episodes without a bleed (hard negatives and scanner knobs as usual)
    on the skull-base slices (half) and the brain training slices (half) of both backgrounds."""
    from inference.training.datasets.backgrounds import load_background

    rng = np.random.default_rng([NEGATIVE_SEED_BASE, index, 17])
    knobs = Knobs(p_bleed=0.0)
    parts = []
    for e in range(NEGATIVE_EPISODES_PER_SHARD):
        name = BACKGROUNDS[e % 2]
        bg = load_background(name)
        pool = bg.skull_base_targets() if e % 4 < 2 else bg.training_targets()
        parts.append(real_samples(name, pool, config, rng, knobs, group=-(NEGATIVE_SEED_BASE + index * 100 + e)))
    return Samples.concat(parts)


def cache_key(config: PreprocessConfig, split: str) -> dict[str, Any]:
    """What a cache of these shards depends on."""
    return {
        "render": RENDER_VERSION,
        "split": split,
        "preprocess": config.to_dict(),
        "phantom_per_shard": PHANTOM_STUDIES_PER_SHARD,
        "real_per_shard": REAL_EPISODES_PER_SHARD,
        "knobs": asdict(Knobs()),
    }
