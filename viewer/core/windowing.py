"""CT window presets and window arithmetic (no Qt)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowPreset:
    """A display window in Hounsfield units."""

    key: str
    name: str
    width_hu: float
    center_hu: float

    @property
    def low_hu(self) -> float:
        return self.center_hu - self.width_hu / 2.0

    @property
    def high_hu(self) -> float:
        return self.center_hu + self.width_hu / 2.0


# Keys 1-5 in the viewer, in this order.
PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset("brain", "Brain", width_hu=80.0, center_hu=40.0),
    WindowPreset("subdural", "Subdural", width_hu=200.0, center_hu=80.0),
    WindowPreset("stroke", "Stroke", width_hu=40.0, center_hu=40.0),
    WindowPreset("bone", "Bone", width_hu=2800.0, center_hu=600.0),
    WindowPreset("soft_tissue", "Soft tissue", width_hu=400.0, center_hu=40.0),
)
PRESETS_BY_KEY: dict[str, WindowPreset] = {p.key: p for p in PRESETS}


def window_levels(width_hu: float, center_hu: float) -> tuple[float, float]:
    """(low, high) HU bounds of a window; width is clamped to at least 1 HU."""
    width = max(float(width_hu), 1.0)
    return center_hu - width / 2.0, center_hu + width / 2.0


def apply_window(hu: np.ndarray, *, width_hu: float, center_hu: float, invert: bool = False) -> np.ndarray:
    """Map HU to uint8 grey levels: low bound -> 0, high bound -> 255, linear between."""
    low, high = window_levels(width_hu, center_hu)
    scaled = (hu.astype(np.float32) - low) * (255.0 / (high - low))
    out = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    return 255 - out if invert else out


def header_window_preset(center_hu: float | None, width_hu: float | None) -> WindowPreset | None:
    """The series' own window (Window Center / Width of its first slice, first value when the header
    holds several; scan.py parses the zero-padded, multi-valued strings) as a preset keyed "header",
    or None when the header has none or a width below 1 HU."""
    if center_hu is None or width_hu is None or not width_hu >= 1.0:
        return None
    return WindowPreset("header", "Header", width_hu=float(width_hu), center_hu=float(center_hu))
