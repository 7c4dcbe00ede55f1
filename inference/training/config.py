"""What a training run is: its settings (`TrainConfig`, the shipped and smoke presets), where it
writes, and its progress file (what `--resume` and `ichview evaluate` read)."""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inference.preprocess import PreprocessConfig

EXIT_UNFINISHED = 75
MODEL_NAME = "ichview-ich"
DEFAULT_WORK_DIR = Path("~/.cache/ichview/train").expanduser()
DEFAULT_OUT_DIR = Path(__file__).resolve().parents[2] / "resources" / "model"
WEIGHTS_NAME = "ichview-ich.safetensors"

# The shipped configuration: 2 mm pixels on a 128 x 128 grid (256 mm field of view), a slim
# IchNet at output stride 4 (Grad-CAM cells of 8 mm). See MODEL_CARD.md for the trade-offs.
DEFAULT_PREPROCESS = PreprocessConfig(pixel_mm=2.0, image_size=128)
DEFAULT_ARCH: dict[str, Any] = {
    "stem_channels": 16,
    "widths": (24, 32, 48, 64),
    "blocks": (1, 1, 1, 1),
    "strides": (2, 1, 1, 1),
    "dilations": (1, 2, 3, 4),
    "dropout": 0.2,
}
# `--arch full`: the architecture's own defaults (1.4 M parameters, output stride 8), for a GPU run.
ARCH_PRESETS: dict[str, dict[str, Any]] = {"slim": dict(DEFAULT_ARCH), "full": {}}
SMOKE_PREPROCESS = PreprocessConfig(pixel_mm=8.0, image_size=32)
SMOKE_ARCH: dict[str, Any] = {
    "stem_channels": 8,
    "widths": (8, 8, 8, 8),
    "blocks": (1, 1, 1, 1),
    "strides": (2, 1, 1, 1),
    "dilations": (1, 1, 1, 1),
    "dropout": 0.0,
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights (stored in the checkpoint)."""

    source: str = "synthetic"  # "synthetic", "smoke" or "rsna"
    rsna_dir: str = ""
    rsna_max_series: int = 0  # 0: all
    n_shards: int = 45
    n_calib_shards: int = 4
    steps: int = 500
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 60
    seed: int = 0
    augment: bool = True
    preprocess: dict[str, Any] = field(default_factory=DEFAULT_PREPROCESS.to_dict)
    arch: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_ARCH))
    version: str = "0.1.0"
    init_from: str = ""  # a checkpoint.pt / .safetensors whose weights start this run (warm start)
    # Batches are drawn so that P(bleed) is this value in every data domain (phantom studies,
    # real backgrounds): otherwise "looks like a real scan" would predict a bleed (a shortcut).
    # 0: uniform sampling.
    domain_prevalence: float = 0.3
    n_negative_shards: int = 0  # extra real-negative shards (skull base + brain, no bleeds)
    hu_offset_max: float = 8.0  # augmentation: +- HU offset
    hu_gain_range: tuple[float, float] = (0.92, 1.12)  # augmentation: HU gain
    # augmentation: brightening of the brain next to the inner table (beam hardening / cupping,
    # seen on real scanners, mimics a thin subdural) up to this many HU, unlabelled
    cupping_hu_max: float = 12.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> TrainConfig:
        data = json.loads(text)
        if "hu_gain_range" in data:
            data["hu_gain_range"] = tuple(data["hu_gain_range"])
        data.setdefault("cupping_hu_max", 0.0)  # runs started before the field existed had none
        return TrainConfig(**data)

    @property
    def preprocess_config(self) -> PreprocessConfig:
        return PreprocessConfig.from_dict(self.preprocess)


# ------------------------------------------------------------------------------ progress


class Progress:
    """Plain stderr progress: a redrawn line on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str, total: int, *, start: int = 0) -> None:
        self.label, self.total, self.done = label, total, start
        self.t0 = time.monotonic()
        self.start = start
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def update(self, done: int, extra: str = "") -> None:
        self.done = done
        now = time.monotonic()
        if not self.tty and now - self.last < 5.0 and done < self.total:
            return
        self.last = now
        rate = (done - self.start) / max(now - self.t0, 1e-6)
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        width = 24
        filled = int(width * done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        eta_s = f"{eta / 60:.1f} min" if math.isfinite(eta) else "?"
        line = f"{self.label} [{bar}] {done}/{self.total} {rate:.2f}/s eta {eta_s} {extra}"
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()
