"""The two real normal head CTs used as backgrounds, and how their slices are split.

`invesalius_head_ct_0051` (108 slices, 1.5 mm steps) and `cerr_head_neck_ct` (90 slices, 3 mm)
are read with the study core's loader. `ge_head_ct_tilted` is never a background: it is the real
negative test and is kept out of training entirely (`load_background` refuses it).

Split by slice index (canonical order, inferior -> superior), fixed here and in the model card:
held-out targets are one contiguous index range per background; training targets are the brain
slices whose 2.5D context (target +- `CONTEXT_GUARD_MM`) shares no slice with the context of any
held-out target, so not one held-out pixel is ever seen in training, even as context.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

REAL_DATA_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "real"
NEVER_TRAIN_ON = ("ge_head_ct_tilted",)
# Context a 5 mm target slab and its neighbour slabs 5 mm away reach: 5 + 2.5 mm, plus a margin
# of half a slice of the coarsest resampled thickness used in training.
CONTEXT_GUARD_MM = 11.0


@dataclass(frozen=True)
class BackgroundSplit:
    """Which target slices of one background are held out and which are for training."""

    name: str
    brain_range: tuple[int, int]  # first, last index (inclusive) with a usable cranial cavity
    heldout_range: tuple[int, int]  # first, last held-out target index (inclusive)
    # Skull-base slices below the brain range (bone, sinuses, partial volume): negatives only.
    skull_base_range: tuple[int, int] = (0, -1)


SPLITS: dict[str, BackgroundSplit] = {
    # Held out: the upper cerebrum (tops of the lateral ventricles, centrum semiovale).
    "invesalius_head_ct_0051": BackgroundSplit("invesalius_head_ct_0051", (22, 100), (74, 82), (8, 21)),
    # Held out: orbits / temporal lobes / suprasellar level.
    "cerr_head_neck_ct": BackgroundSplit("cerr_head_neck_ct", (52, 86), (62, 65), (40, 51)),
}


@dataclass(frozen=True, eq=False)
class Background:
    """A real normal head CT in canonical orientation."""

    name: str
    hu: np.ndarray  # (n, rows, cols) int16
    positions_mm: np.ndarray  # (n,) along the slice normal, ascending
    pixel_spacing_mm: tuple[float, float]
    slice_thickness_mm: float
    split: BackgroundSplit

    def heldout_targets(self) -> np.ndarray:
        a, b = self.split.heldout_range
        return np.arange(a, b + 1)

    def skull_base_targets(self) -> np.ndarray:
        """Slices below the brain range used as negative-only training targets."""
        a, b = self.split.skull_base_range
        return np.arange(a, b + 1)

    def training_targets(self) -> np.ndarray:
        """Brain slices whose context never meets the context of a held-out target."""
        a, b = self.split.heldout_range
        lo = self.positions_mm[a] - 2 * CONTEXT_GUARD_MM
        hi = self.positions_mm[b] + 2 * CONTEXT_GUARD_MM
        b0, b1 = self.split.brain_range
        idx = np.arange(b0, b1 + 1)
        p = self.positions_mm[idx]
        return idx[(p < lo) | (p > hi)]


@lru_cache(maxsize=4)
def load_background(name: str, real_dir: str | None = None) -> Background:
    """Read one background with the study core's loader (cached per process)."""
    if name in NEVER_TRAIN_ON:
        raise ValueError(f"{name} is the real negative test and is never used as a training background")
    if name not in SPLITS:
        raise ValueError(f"unknown background {name!r}; known: {sorted(SPLITS)}")
    from viewer.core.loading import load_stack, open_paths

    folder = Path(real_dir) if real_dir else REAL_DATA_DIR
    path = (folder / name).resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: real background not found (clone the repo beside shared/)")
    tree = open_paths([path])
    stack = max(tree.stacks(), key=lambda s: s.n_slices)
    volume = load_stack(stack, workers=1)
    thick = [t for t in volume.slice_thickness_mm if t]
    return Background(
        name=name,
        hu=volume.hu,
        positions_mm=np.asarray(volume.positions_mm, dtype=np.float64),
        pixel_spacing_mm=volume.pixel_spacing_mm,
        slice_thickness_mm=float(np.median(thick)) if thick else float(volume.spacing_mm[0]),
        split=SPLITS[name],
    )
