"""Checks of the header values that feed geometry and HU, made where they are read (scan.py) so a
bad value costs its own file, never the folder: each check returns a sentence for the user (the
file's SkippedFile reason) or None when the value is usable.

Also the across-slice checks of one stack (series.py): values that must agree between slices for
the stack's HU and distances to be right (`inconsistent_values`).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

from viewer.core.limits import MAX_FRAMES, MAX_TRAILING_BYTES, human_bytes, max_volume_bytes

AIR_HU = -1024  # as volume.py (not imported: volume.py pulls numpy arrays into a header check)
HU_MAX = 32767
MAX_POSITION_MM = 1e6  # 1 km: beyond any scanner
MAX_PIXEL_SPACING_MM = 100.0
ORTHONORMAL_TOLERANCE = 0.05  # |norm - 1| of each IOP vector, |row . col|
# The CT range every CT slice's stored values must be able to represent after the rescale.
CT_RANGE_HU = (-1000.0, 1000.0)
MAX_SLOPE = 1e4
MIN_SLOPE = 1e-4
MAX_INTERCEPT = 1e6
SUPPORTED_BITS_ALLOCATED = (8, 16, 32)
NATIVE_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
)


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def check_position(position: Sequence[float] | None) -> str | None:
    if position is None:
        return None
    if not _finite(position) or any(abs(v) > MAX_POSITION_MM for v in position):
        return "ImagePositionPatient is not a finite position (NaN, infinite or absurd): the slice cannot be placed"
    return None


def check_orientation(orientation: Sequence[float] | None) -> str | None:
    """Two unit vectors, perpendicular (within `ORTHONORMAL_TOLERANCE`)."""
    if orientation is None:
        return None
    if not _finite(orientation):
        return "ImageOrientationPatient is not finite (NaN or infinite): the slice's plane is unknown"
    row, col = orientation[:3], orientation[3:6]
    n_row = math.sqrt(sum(v * v for v in row))
    n_col = math.sqrt(sum(v * v for v in col))
    dot = sum(a * b for a, b in zip(row, col))
    if (
        abs(n_row - 1) > ORTHONORMAL_TOLERANCE
        or abs(n_col - 1) > ORTHONORMAL_TOLERANCE
        or abs(dot) > ORTHONORMAL_TOLERANCE
    ):
        return (
            "ImageOrientationPatient is degenerate (its row and column directions are not two "
            "perpendicular unit vectors): the slice's plane is unknown"
        )
    return None


def check_pixel_spacing(spacing: Sequence[float] | None) -> str | None:
    if spacing is None:
        return None
    if not _finite(spacing) or not all(0 < v <= MAX_PIXEL_SPACING_MM for v in spacing):
        return "PixelSpacing is not a positive finite distance: sizes in this slice cannot be measured"
    return None


def _number(meta: Mapping[str, str], keyword: str) -> float | None | str:
    """The first value of a numeric `meta` entry; None when absent; "bad" when present but not a number."""
    text = str(meta.get(keyword, "") or "").replace("\x00", "").strip()
    if not text:
        return None
    first = text.split("\\")[0].strip()
    try:
        return float(first)
    except ValueError:
        return "bad"


def pixel_format(meta: Mapping[str, str]) -> tuple[int, int, bool, int] | str:
    """(BitsAllocated, BitsStored, signed, SamplesPerPixel) of a slice, or a reason when they do not hold."""
    values = {}
    for keyword, default in (("BitsAllocated", 16.0), ("BitsStored", None), ("PixelRepresentation", 0.0), ("SamplesPerPixel", 1.0)):
        number = _number(meta, keyword)
        if number == "bad":
            return f"{keyword} is not a number"
        values[keyword] = default if number is None else number
    ba = values["BitsAllocated"]
    bs = values["BitsStored"] if values["BitsStored"] is not None else ba
    if ba not in SUPPORTED_BITS_ALLOCATED:
        return f"BitsAllocated {ba:g} is not a bit depth a CT slice has (8, 16 or 32)"
    if not (1 <= bs <= ba) or bs != int(bs):
        return f"BitsStored {bs:g} does not fit BitsAllocated {ba:g}: the stored values cannot be read"
    if values["PixelRepresentation"] not in (0, 1):
        return f"PixelRepresentation {values['PixelRepresentation']:g} is neither 0 (unsigned) nor 1 (signed)"
    return int(ba), int(bs), values["PixelRepresentation"] == 1, int(values["SamplesPerPixel"])


def rescale(meta: Mapping[str, str]) -> tuple[float, float] | str:
    """(slope, intercept), 1 / 0 when absent, or a reason when present but unusable."""
    slope = _number(meta, "RescaleSlope")
    intercept = _number(meta, "RescaleIntercept")
    if slope == "bad" or intercept == "bad":
        return "RescaleSlope / RescaleIntercept is not a number: HU cannot be computed"
    slope = 1.0 if slope is None else slope
    intercept = 0.0 if intercept is None else intercept
    if not math.isfinite(slope) or not math.isfinite(intercept):  # type: ignore[arg-type]
        return "RescaleSlope / RescaleIntercept is NaN or infinite: HU cannot be computed"
    if slope == 0:
        return "RescaleSlope is 0: every pixel would have the same HU"
    if not MIN_SLOPE <= abs(slope) <= MAX_SLOPE or abs(intercept) > MAX_INTERCEPT:  # type: ignore[arg-type]
        return f"RescaleSlope {slope:g} / RescaleIntercept {intercept:g} are absurd: HU cannot be computed"
    return float(slope), float(intercept)  # type: ignore[arg-type]


def check_hu_values(meta: Mapping[str, str], modality: str) -> str | None:
    """The values mapping stored pixels to HU: parseable, finite and, for CT, able to represent
    the CT range (-1000..1000 HU) at all."""
    fmt = pixel_format(meta)
    if isinstance(fmt, str):
        return fmt
    scale = rescale(meta)
    if isinstance(scale, str):
        return scale
    if modality != "CT":
        return None
    ba, bs, signed, samples = fmt
    if samples != 1:
        return None  # colour: the loader refuses it with its own sentence
    slope, intercept = scale
    lo, hi = (-(1 << (bs - 1)), (1 << (bs - 1)) - 1) if signed else (0, (1 << bs) - 1)
    a, b = sorted((lo * slope + intercept, hi * slope + intercept))
    if a > CT_RANGE_HU[0] or b < CT_RANGE_HU[1]:
        return (
            f"BitsStored {bs}, PixelRepresentation {int(signed)}, RescaleSlope {slope:g} and RescaleIntercept "
            f"{intercept:g} can only give HU from {a:g} to {b:g}, not the CT range: the header's pixel "
            "values are inconsistent"
        )
    return None


def check_frames(n_frames: int) -> str | None:
    if n_frames > MAX_FRAMES:
        return f"declares {n_frames} frames, more than the {MAX_FRAMES} a file may hold here"
    return None


def check_pixel_bytes(
    *,
    rows: int,
    columns: int,
    n_frames: int,
    meta: Mapping[str, str],
    transfer_syntax_uid: str,
    value_start: int | None,
    pixel_length: int | None,
    file_size: int | None,
    max_bytes: int | None = None,
) -> str | None:
    """The declared image against the file's real size and the volume limit, from the header only.

    Native (uncompressed) pixel data must hold exactly frames x rows x columns x samples x
    BitsAllocated bits (up to one row of slack); encapsulated data needs at least 8 bytes per frame.
    Also refuses a file with more than `MAX_TRAILING_BYTES` after its pixel data."""
    limit = max_volume_bytes(max_bytes)
    out_bytes = n_frames * rows * columns * 2
    if out_bytes > limit:
        return (
            f"its {n_frames} frame{'s' if n_frames != 1 else ''} of {rows} x {columns} pixels need "
            f"{human_bytes(out_bytes)} decoded, over the {human_bytes(limit)} limit (set "
            "ICHVIEW_MAX_VOLUME_BYTES to allow more)"
        )
    fmt = pixel_format(meta)
    if isinstance(fmt, str) or value_start is None or file_size is None:
        return None
    ba, _, _, samples = fmt
    if pixel_length is None:  # encapsulated
        available = file_size - value_start
        if n_frames * 8 > available:
            return (
                f"declares {n_frames} compressed frames but its pixel data holds only {available} bytes "
                "(a damaged header)"
            )
        return None
    if transfer_syntax_uid in NATIVE_SYNTAXES:
        declared = (n_frames * rows * columns * max(samples, 1) * ba + 7) // 8
        if pixel_length < declared:
            return (
                f"its pixel data holds {pixel_length} bytes, but the header declares {n_frames} x {rows} x "
                f"{columns} pixels of {ba} bits ({declared} bytes): the header or the file is damaged"
            )
        if pixel_length - declared >= max(2, (columns * max(samples, 1) * ba + 7) // 8):
            return (
                f"its pixel data holds {pixel_length} bytes, more than the {declared} bytes the header "
                f"declares ({n_frames} x {rows} x {columns} pixels of {ba} bits): the matrix size or bit "
                "depth in the header is wrong"
            )
    trailing = file_size - (value_start + pixel_length)
    if trailing > MAX_TRAILING_BYTES:
        return (
            f"holds {human_bytes(trailing)} after its pixel data (an oversized or damaged file); "
            "it is not read"
        )
    return None


# ---------------------------------------------------------------------------- across slices
def format_key(meta: Mapping[str, str], photometric: str) -> tuple[object, ...]:
    """What maps one slice's stored values to HU: must agree across a stack."""
    fmt = pixel_format(meta)
    scale = rescale(meta)
    signed = fmt[2] if not isinstance(fmt, str) else None
    return (
        fmt[0] if not isinstance(fmt, str) else None,
        signed,
        scale if not isinstance(scale, str) else None,
        photometric if photometric in ("MONOCHROME1", "MONOCHROME2") else "MONOCHROME2",
        (_number(meta, "PixelPaddingValue"), _number(meta, "PixelPaddingRangeLimit")),
    )


_KEY_NAMES = (
    "BitsAllocated",
    "PixelRepresentation",
    "RescaleSlope / RescaleIntercept",
    "PhotometricInterpretation",
    "PixelPaddingValue",
)


def inconsistent_values(slices: Sequence[object]) -> tuple[list[str], int] | None:
    """(names of the values that differ, number of slices that differ from the majority) for one
    stack's slices (SliceHeader), or None when they agree. Checks what maps stored values to HU
    (bit depth, signedness, rescale, MONOCHROME1/2), BitsStored where it matters (signed data, or
    unsigned data narrower than 12 bits), the padding value and the pixel spacing."""
    if len(slices) < 2:
        return None
    keys = []
    for h in slices:
        meta = h.meta  # type: ignore[attr-defined]
        fmt = pixel_format(meta)
        bs = fmt[1] if not isinstance(fmt, str) else None
        spacing = tuple(round(v, 4) for v in h.pixel_spacing_mm) if h.pixel_spacing_mm else None  # type: ignore[attr-defined]
        keys.append((*format_key(meta, h.photometric), bs, spacing))  # type: ignore[attr-defined]
    names: list[str] = []
    differing: set[int] = set()
    fields = len(keys[0])
    for i in range(fields):
        column = [k[i] for k in keys]
        if i == fields - 2:  # BitsStored
            signed_any = any(k[1] for k in keys)
            values = [v for v in column if v is not None]
            if not values or (not signed_any and min(values) >= 12):
                continue
            name = "BitsStored"
        elif i == fields - 1:
            name = "PixelSpacing"
        else:
            name = _KEY_NAMES[i]
        counts = Counter(column)
        if len(counts) < 2:
            continue
        majority = counts.most_common(1)[0][0]
        names.append(name)
        differing.update(j for j, v in enumerate(column) if v != majority)
    return (names, len(differing)) if names else None
