"""Head anatomy sampled at patient (LPS) points (placeholder: the simple phantom until the
realistic model lands)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from inference.synth.phantom import simple_head_hu


def head_sampler(seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """`points_mm (..., 3) -> HU` for the head of `seed` (noise-free)."""
    return simple_head_hu
