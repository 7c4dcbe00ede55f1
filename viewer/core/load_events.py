"""What loading a stack yields: the first slice early, progress, then the Volume (see loading.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.core.volume import Volume

__all__ = ["FirstSlice", "LoadProgress", "LoadEvent"]


@dataclass(frozen=True)
class FirstSlice:
    """The first decoded slice, available right after the header scan plus its own decode."""

    series_uid: str
    stack_id: str
    index: int  # canonical slice index of this slice
    n_slices: int
    hu: np.ndarray  # (rows, cols) HU in the canonical orientation
    pixel_spacing_mm: tuple[float, float]  # (between rows, between columns), canonical


@dataclass(frozen=True)
class LoadProgress:
    series_uid: str
    stack_id: str
    done: int
    total: int


LoadEvent = FirstSlice | LoadProgress | Volume
