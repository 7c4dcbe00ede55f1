"""CT window presets and window arithmetic (no Qt)."""
from __future__ import annotations

from dataclasses import dataclass

import re

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


# Reconstruction kernels made for bone (or lung): the same names inference/acceptance.py refuses for
# the model (GE / generic words, Siemens H/B/J/I/Q 60-99, Philips YC/YD/YE/D/E/L, Canon FC5x/8x/9x).
_SHARP_KERNEL = re.compile(
    r"(BONE|SHARP|LUNG|EDGE|DETAIL|ULTRA|"
    r"^[HBJIQ]R?([6-9]\d)|"
    r"^Y[CDE]$|^[DEL]$|"
    r"^FC(5[0-9]|8\d|9\d)$)"
)


def is_sharp_kernel(kernel: str) -> bool:
    """Whether a ConvolutionKernel value (possibly multi-valued, 'A\\\\B') names a bone/lung kernel."""
    parts = [p.strip().upper() for p in re.split(r"[\\\\,/]", kernel or "") if p.strip()]
    return any(_SHARP_KERNEL.search(p) for p in parts)


def window_for(
    metadata: object,
    *,
    center_hu: float | None = None,
    width_hu: float | None = None,
    is_localizer: bool = False,
) -> WindowPreset:
    """The window a series opens in: a scout (localizer) in its header window (soft tissue without
    one), a bone-kernel series in the bone window, anything else in the brain window.

    `metadata`: a StudyMetadata (its convolution_kernel and image_type are read)."""
    image_type = tuple(str(t).upper() for t in getattr(metadata, "image_type", ()) or ())
    if is_localizer or "LOCALIZER" in image_type:
        return header_window_preset(center_hu, width_hu) or PRESETS_BY_KEY["soft_tissue"]
    if is_sharp_kernel(str(getattr(metadata, "convolution_kernel", "") or "")):
        return PRESETS_BY_KEY["bone"]
    return PRESETS_BY_KEY["brain"]
