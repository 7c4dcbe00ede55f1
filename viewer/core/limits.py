"""Resource bounds, decided from a file's header before any pixel allocation or read.

- `max_volume_bytes()`: the largest decoded volume (int16 HU) a stack may need: 2 GiB by default
  (1 Gi voxels: e.g. 4096 slices of 512 x 512), settable with the environment variable
  ICHVIEW_MAX_VOLUME_BYTES (bytes, or with a K / M / G suffix: "4G") or by the `max_volume_bytes`
  argument of the loader. A file whose own image(s) need more is skipped by the scan; a stack
  that needs more is refused by the loader (VolumeTooLargeError) before anything is allocated.
- `MAX_HEADER_BYTES`: how far into a file the header parse may read before the pixel data (a
  header is a few KiB; enhanced multi-frame headers a few MiB): a file whose header runs on
  (e.g. a sparse file of zeros after "DICM") is skipped once that many bytes are read.
- `MAX_TRAILING_BYTES`: bytes allowed after a single image's pixel data (trailing padding,
  signatures); a file with more (a valid slice followed by gigabytes) is skipped, so nothing ever
  reads a file's tail.
- `MAX_FRAMES`: frames per file (one header object each).
"""
from __future__ import annotations

import os

DEFAULT_MAX_VOLUME_BYTES = 2 << 30  # 2 GiB of int16
MAX_VOLUME_ENV = "ICHVIEW_MAX_VOLUME_BYTES"
MAX_HEADER_BYTES = 64 << 20
MAX_TRAILING_BYTES = 16 << 20
MAX_FRAMES = 20_000
# A header that reads this many consecutive all-zero element headers is not a header (a sparse
# or zero-filled file behind a valid-looking start).
MAX_ZERO_READS = 256

_SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_bytes(text: str) -> int | None:
    """"2147483648", "2G", "512M", "2GiB" -> bytes; None when it does not parse or is not > 0."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    factor = 1
    if value and value[-1] in _SUFFIX:
        factor = _SUFFIX[value[-1]]
        value = value[:-1]
    try:
        number = float(value)
    except ValueError:
        return None
    if not number > 0 or number != number or number == float("inf"):
        return None
    return int(number * factor)


def max_volume_bytes(override: int | None = None) -> int:
    """The volume limit: `override` when given, else $ICHVIEW_MAX_VOLUME_BYTES, else 2 GiB."""
    if override is not None and override > 0:
        return int(override)
    env = os.environ.get(MAX_VOLUME_ENV)
    if env:
        parsed = parse_bytes(env)
        if parsed is not None:
            return parsed
    return DEFAULT_MAX_VOLUME_BYTES


def human_bytes(n: float) -> str:
    """1536 -> "1.5 KiB"; for messages."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"
