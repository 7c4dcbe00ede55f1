"""The fixed held-out set (defined here once; the model card repeats it).

Everything in it differs from training on purpose:

- **Seeds never used in training**: phantom studies use seeds `HELDOUT_SEED_BASE + k` (9,000,000+);
  training uses seeds below 5,000,000 (training) and 5,000,000+ (calibration); real-background
  episodes draw from a random stream seeded `[HELDOUT_SEED_BASE, k]`.
- **Slice thicknesses 3 mm and 7 mm only** (training never uses either).
- **Noise 1.5x the training maximum**: phantom studies at noise x3.0 (training x0.3..x2.0);
  real-background episodes with 15 HU added noise (training 0..10 HU).
- **The smallest and the largest bleeds the generator makes**: `lesion_size` 0.0 and 1.0 for the
  phantom studies (training draws 0.06..0.94), size parameter 0 and 1 for inserted bleeds.
- **Real-background slices training never saw**: inserted into (and negatives from) the
  held-out index ranges of backgrounds.py (invesalius_head_ct_0051 slices 74-82,
  cerr_head_neck_ct slices 62-65), with a guard band so no held-out slice is ever training context.

`ge_head_ct_tilted` is not part of it: it is the separate real negative check (evaluate.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from inference.training.datasets.insertion import HELDOUT_THICKNESSES_MM, TRAIN_NOISE_MAX_HU, Knobs
from inference.training.datasets.samples import Samples
from inference.training.datasets.synthetic import HELDOUT_SEED_BASE, PHANTOM_NOISE_RANGE, phantom_samples, real_samples
from inference.preprocess import PreprocessConfig

HELDOUT_VERSION = "heldout-v1"
N_PHANTOM_STUDIES = 16
N_REAL_EPISODES = 48  # per background
HELDOUT_PHANTOM_NOISE = 1.5 * PHANTOM_NOISE_RANGE[1]
HELDOUT_REAL_NOISE_HU = 1.5 * TRAIN_NOISE_MAX_HU


@dataclass(frozen=True)
class HeldoutStudy:
    """One phantom study of the held-out set."""

    seed: int
    thickness_mm: float
    lesion_size: float
    tilt_deg: float
    kernel: str
    streaks_hu: float
    fov_mm: float


def heldout_studies() -> tuple[HeldoutStudy, ...]:
    """The phantom part: 16 studies alternating 3 / 7 mm and smallest / largest bleeds."""
    out = []
    for k in range(N_PHANTOM_STUDIES):
        rng = np.random.default_rng([HELDOUT_SEED_BASE, k, 1])
        out.append(
            HeldoutStudy(
                seed=HELDOUT_SEED_BASE + k,
                thickness_mm=HELDOUT_THICKNESSES_MM[k % 2],
                lesion_size=(0.0, 1.0)[(k // 2) % 2],
                tilt_deg=float(rng.uniform(-25, 25)) if k % 4 == 3 else 0.0,
                kernel=("soft", "standard", "sharp")[k % 3],
                streaks_hu=float(rng.uniform(0, 60)) if k % 3 == 0 else 0.0,
                fov_mm=float(rng.uniform(220, 300)),
            )
        )
    return tuple(out)


def heldout_knobs(size: float) -> Knobs:
    """Domain knobs of the real-background part."""
    return Knobs(
        thicknesses_mm=HELDOUT_THICKNESSES_MM,
        noise_hu=(HELDOUT_REAL_NOISE_HU, HELDOUT_REAL_NOISE_HU),
        size_choices=(size,),
        p_bleed=0.6,
    )


N_SHARDS = N_PHANTOM_STUDIES + 2  # one shard per phantom study, one per background


def render_heldout_shard(index: int, config: PreprocessConfig) -> Samples:
    """Shard `index` of the held-out set (deterministic)."""
    if index < N_PHANTOM_STUDIES:
        st = heldout_studies()[index]
        return phantom_samples(
            st.seed, config, np.random.default_rng([HELDOUT_SEED_BASE, index, 2]),
            thickness_mm=st.thickness_mm, noise=HELDOUT_PHANTOM_NOISE, lesion_size=st.lesion_size,
            tilt_deg=st.tilt_deg, kernel=st.kernel, streaks_hu=st.streaks_hu, fov_mm=st.fov_mm,
            group=st.seed, max_slices=10_000,
        )
    from inference.training.datasets.backgrounds import load_background

    name = ("invesalius_head_ct_0051", "cerr_head_neck_ct")[index - N_PHANTOM_STUDIES]
    bg = load_background(name)
    rng = np.random.default_rng([HELDOUT_SEED_BASE, index, 3])
    parts = []
    for e in range(N_REAL_EPISODES):
        parts.append(
            real_samples(name, bg.heldout_targets(), config, rng, heldout_knobs((0.0, 1.0)[e % 2]),
                         group=-(HELDOUT_SEED_BASE + index * 100 + e))
        )
    return Samples.concat(parts)


def heldout_key(config: PreprocessConfig) -> dict[str, Any]:
    """Cache key of the held-out set."""
    return {
        "heldout": HELDOUT_VERSION,
        "preprocess": config.to_dict(),
        "studies": [asdict(s) for s in heldout_studies()],
        "real_episodes": N_REAL_EPISODES,
    }


DESCRIPTION = __doc__
