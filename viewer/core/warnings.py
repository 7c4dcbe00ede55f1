"""Irregular input is reported as warnings on a stack or volume, never silently fixed."""
from __future__ import annotations

from dataclasses import dataclass

# Stable codes; messages are for people.
GANTRY_TILT = "gantry_tilt"
UNEVEN_SPACING = "uneven_spacing"
MISSING_SLICES = "missing_slices"
DUPLICATE_POSITION = "duplicate_position"
MIXED_THICKNESS = "mixed_thickness"
NO_POSITION = "no_position"
SINGLE_SLICE = "single_slice"
PIXEL_PADDING = "pixel_padding"
DECODE_FAILED = "decode_failed"  # a slice's pixels could not be decoded: shown as air, marked missing
INCONSISTENT_VALUES = "inconsistent_values"  # slices disagree on rescale, bit depth, MONOCHROME1/2, spacing
MIXED_PATIENT = "mixed_patient"  # a series UID shared by another patient / study: split apart


@dataclass(frozen=True)
class StackWarning:
    """One irregularity found in a stack: a stable `code` and a message a user can act on."""

    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
