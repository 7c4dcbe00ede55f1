"""`ichview train`: train the hemorrhage model on synthetic data (default) or the RSNA 2019 layout.

Seedable, resumable and CPU-friendly:

- inputs are pre-rendered once into a cache of shards (`<work>/cache/...`) by the engine's own
  `make_inputs` (inference/training/datasets/samples.py), so every epoch costs only the network;
- the run stops itself after `--max-minutes` (default 10), saving a checkpoint (model, optimiser,
  step, RNG state, elapsed time) in `<work>/checkpoint.pt`; `--resume` continues it. The exit code
  is 75 while the run is unfinished, 0 when the weights have been written:
      until ichview train --resume ...; [ $? -ne 75 ] && break; done
- each step's batch, augmentation and dropout come from generators seeded by (seed, step), so a
  run interrupted and resumed ends with the same weights as an uninterrupted one (CPU);
- at the end the per-label calibration (Platt scaling, folded into the last layer) and the
  Grad-CAM scale are fitted on separate calibration shards, and the fp16 safetensors weights are
  written with their metadata (PreprocessConfig, architecture, a provisional threshold that
  `ichview evaluate --write` replaces with the one chosen on the held-out set).

`--smoke` is the CI configuration: two steps at 32 x 32 pixels on one tiny phantom study.
`--rsna-dir DIR` trains on the real RSNA 2019 layout instead (see inference/training/datasets/rsna.py);
weights trained on it fall under its non-commercial licence and must say so wherever they go.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from inference.labels import LABELS, LOSS_WEIGHTS
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


# ------------------------------------------------------------------------------- data


def _smoke_shard(index: int, config: PreprocessConfig) -> Any:
    from inference.training.datasets.samples import samples_from_volume
    from inference.labels import SUBTYPES
    from inference.synth.study import make_study

    study = make_study(
        index, slice_thickness_mm=5.0, lesions=["intraparenchymal", "subdural"], lesion_size=0.8,
        matrix=64, fov_mm=256.0, render_pixel_mm=4.0, z_range_mm=(-45.0, 55.0),
    )
    normal = np.cross(np.asarray(study.iop[:3]), np.asarray(study.iop[3:]))
    masks = np.zeros(study.hu.shape, bool)
    for s in SUBTYPES:
        masks |= study.masks[s]
    return samples_from_volume(
        study.hu, study.positions_mm @ normal, (study.spacing_mm[1], study.spacing_mm[2]), config,
        indices=range(study.n_slices), labels=study.labels, masks=masks, group=index,
    )


class ShardSource:
    """Where shards of a split come from, and the cache key that identifies them."""

    def __init__(self, cfg: TrainConfig, split: str) -> None:
        self.cfg = cfg
        self.split = split
        self.config = cfg.preprocess_config
        self._rsna_series: list[Any] | None = None
        if cfg.source == "rsna":
            self.n_shards = len(self._rsna_split())
        elif split == "negatives":
            self.n_shards = cfg.n_negative_shards
        elif split == "train":
            self.n_shards = cfg.n_shards
        else:
            self.n_shards = cfg.n_calib_shards

    # RSNA: series sorted by UID; every 10th series (index % 10 == 9) is calibration.
    RSNA_SERIES_PER_SHARD = 4

    def _rsna_split(self) -> list[list[Any]]:
        from inference.training.datasets.rsna import index_series

        if self._rsna_series is None:
            self._rsna_series = index_series(self.cfg.rsna_dir, max_series=self.cfg.rsna_max_series or None)
        series = self._rsna_series
        if len(series) < 2:
            chosen = series  # a tiny folder: the same series calibrate (documented in the card)
        else:
            calib = [s for i, s in enumerate(series) if i % 10 == 9] or series[-1:]
            chosen = calib if self.split == "calib" else [s for s in series if s not in calib]
        k = self.RSNA_SERIES_PER_SHARD
        return [chosen[i : i + k] for i in range(0, len(chosen), k)]

    def key(self) -> dict[str, Any]:
        if self.cfg.source == "synthetic":
            from inference.training.datasets.synthetic import cache_key

            if self.split == "negatives":
                return {**cache_key(self.config, "negatives"), "negatives": 1}
            return cache_key(self.config, self.split)
        if self.cfg.source == "smoke":
            return {"smoke": 1, "split": self.split, "preprocess": self.config.to_dict()}
        return {
            "rsna": str(Path(self.cfg.rsna_dir).resolve()),
            "max_series": self.cfg.rsna_max_series,
            "split": self.split,
            "preprocess": self.config.to_dict(),
        }

    def render(self, index: int) -> Any:
        if self.cfg.source == "synthetic":
            from inference.training.datasets.synthetic import render_negative_shard, render_shard

            if self.split == "negatives":
                return render_negative_shard(index, self.config)
            return render_shard(index, self.config, split=self.split)
        if self.cfg.source == "smoke":
            return _smoke_shard(index + (0 if self.split == "train" else 1000), self.config)
        from inference.training.datasets.rsna import load_series
        from inference.training.datasets.samples import Samples, samples_from_volume

        parts = []
        for k, series in enumerate(self._rsna_split()[index]):
            vol = load_series(series)
            parts.append(
                samples_from_volume(vol.hu, vol.positions_mm, vol.pixel_spacing_mm, self.config,
                                    indices=range(vol.hu.shape[0]), labels=vol.labels, group=index * 1000 + k)
            )
        return Samples.concat(parts)


def _render_one(args: tuple[TrainConfig, str, str, int]) -> int:
    import torch

    from inference.training.datasets.cache import ShardCache

    cfg, split, folder, index = args
    torch.set_num_threads(1)
    source = ShardSource(cfg, split)
    cache = ShardCache(folder, source.key())
    if not cache.has(index):
        cache.write(index, source.render(index))
    return index


def ensure_cache(cfg: TrainConfig, work: Path, split: str, *, deadline: float, workers: int) -> tuple[Any, bool]:
    """Render the missing shards of `split` (until `deadline`); returns (cache, complete)."""
    from inference.training.datasets.cache import ShardCache

    source = ShardSource(cfg, split)
    folder = work / "cache" / f"{cfg.source}-{split}"
    cache = ShardCache(folder, source.key())
    missing = [i for i in range(source.n_shards) if not cache.has(i)]
    if not missing:
        return (cache, source.n_shards), True
    bar = Progress(f"render {split}", source.n_shards, start=source.n_shards - len(missing))
    done = source.n_shards - len(missing)
    if workers > 1 and len(missing) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            for _ in pool.imap_unordered(_render_one, [(cfg, split, str(folder), i) for i in missing]):
                done += 1
                bar.update(done)
                if time.monotonic() > deadline:
                    pool.terminate()
                    break
    else:
        for i in missing:
            if time.monotonic() > deadline:
                break
            cache.write(i, source.render(i))
            done += 1
            bar.update(done)
    bar.close()
    complete = all(cache.has(i) for i in range(source.n_shards))
    return (cache, source.n_shards), complete


# ------------------------------------------------------------------------------ training


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5 % of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0))))


def augment(
    x: Any,
    gen: Any,
    config: PreprocessConfig,
    *,
    hu_offset_max: float = 8.0,
    hu_gain_range: tuple[float, float] = (0.92, 1.12),
    cupping_hu_max: float = 0.0,
) -> Any:
    """On-the-fly augmentation of a float batch (N, C, H, W) on the model grid, seeded by `gen`:
    left-right mirror, rotation +-12 deg, scale 0.9-1.1, shift +-6 px, a global HU gain and offset
    (inside each window), and (5 %) neighbour slabs replaced by the target slab (a single slice or
    the end of a stack, as make_inputs feeds it)."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    u = torch.rand(n, 6, generator=gen)
    flip = u[:, 0] < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)
    ang = (u[:, 1] - 0.5) * 2 * math.radians(12.0)
    scale = 0.9 + 0.2 * u[:, 2]
    tx = (u[:, 3] - 0.5) * 2 * 6.0 / (x.shape[-1] / 2)
    ty = (u[:, 4] - 0.5) * 2 * 6.0 / (x.shape[-2] / 2)
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # Scanner calibration: HU' = gain * HU + offset on every pixel inside its window (clipped
    # pixels stay clipped). Real brains differ by 5-10 HU between scanners (the real GE check sits
    # ~6 HU above the two training backgrounds).
    widths = torch.tensor([w.width_hu for w in config.windows] * config.n_slabs, dtype=x.dtype).view(1, -1, 1, 1)
    lows = torch.tensor([w.center_hu - w.width_hu / 2 for w in config.windows] * config.n_slabs, dtype=x.dtype).view(1, -1, 1, 1)
    offset_hu = ((torch.rand(n, 1, generator=gen) - 0.5) * 2 * hu_offset_max).view(n, 1, 1, 1)
    g0, g1 = hu_gain_range
    gain = (g0 + (g1 - g0) * torch.rand(n, 1, generator=gen)).view(n, 1, 1, 1)
    hu = lows + x * widths
    extra = offset_hu
    if cupping_hu_max > 0:
        extra = extra + cupping_hu_max * torch.rand(n, 1, 1, 1, generator=gen) * _inner_table_band(x, config)
    x_new = ((gain * hu + extra - lows) / widths).clamp(0.0, 1.0)
    inside = (x > 0.0) & (x < 1.0)
    x = torch.where(inside, x_new, x)
    single = u[:, 5] < 0.05
    if bool(single.any()):
        nw = len(config.windows)
        mid = config.n_slabs // 2
        centre = x[:, mid * nw : (mid + 1) * nw].repeat(1, config.n_slabs, 1, 1)
        x = torch.where(single.view(n, 1, 1, 1), centre, x)
    return x


def _inner_table_band(x: Any, config: PreprocessConfig, *, bone_hu: float = 300.0, steps: int = 4) -> Any:
    """(N, 1, H, W) weight in [0, 1]: 1 on cranial pixels next to the skull, fading over `steps`
    pixels inwards (0 elsewhere), from the bone window of the target slab."""
    import torch
    import torch.nn.functional as F

    nw = len(config.windows)
    mid = config.n_slabs // 2
    widest = max(range(nw), key=lambda w: config.windows[w].width_hu)
    win = config.windows[widest]
    hu = (win.center_hu - win.width_hu / 2) + x[:, mid * nw + widest : mid * nw + widest + 1] * win.width_hu
    bone = (hu > bone_hu).to(x.dtype)
    inside = (
        torch.cummax(bone, dim=3).values * torch.cummax(bone.flip(3), dim=3).values.flip(3)
        * torch.cummax(bone, dim=2).values * torch.cummax(bone.flip(2), dim=2).values.flip(2)
        * (1 - bone)
    )
    band = torch.zeros_like(bone)
    grown = bone
    for k in range(steps):
        grown = F.max_pool2d(grown, 3, stride=1, padding=1)
        band = torch.maximum(band, grown * (1.0 - k / steps))
    return band * inside


def domain_balanced_probabilities(group: np.ndarray, positive: np.ndarray, prevalence: float) -> np.ndarray | None:
    """Sampling probabilities giving each domain (group >= 0: phantom studies, < 0: real
    backgrounds) its share of the data and, inside it, a bleed prevalence of `prevalence`.
    None (uniform) when `prevalence` is 0 or a domain lacks positives or negatives."""
    if prevalence <= 0:
        return None
    pos = np.asarray(positive) > 0.5
    p = np.zeros(pos.size, np.float64)
    for dom in (np.asarray(group) >= 0, np.asarray(group) < 0):
        if not dom.any():
            continue
        n_pos, n_neg = int((dom & pos).sum()), int((dom & ~pos).sum())
        if n_pos == 0 or n_neg == 0:
            return None
        share = dom.mean()
        p[dom & pos] = share * prevalence / n_pos
        p[dom & ~pos] = share * (1.0 - prevalence) / n_neg
    return p / p.sum()


def _loss(logits: Any, y: Any) -> Any:
    import torch
    import torch.nn.functional as F

    w = torch.tensor([LOSS_WEIGHTS[name] for name in LABELS], dtype=logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    return (bce * w).sum(dim=1).mean() / w.sum()


def _atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_split(cache_info: Any) -> Any:
    cache, n = cache_info
    return cache.read_all(range(n))


def _predict_logits(model: Any, x_uint8: np.ndarray, batch: int = 128) -> np.ndarray:
    import torch

    from inference.training.datasets.samples import from_uint8

    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, x_uint8.shape[0], batch):
            out.append(model(torch.from_numpy(from_uint8(x_uint8[i : i + batch]))).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(LABELS)), np.float32)


def fit_platt(logits: np.ndarray, y: np.ndarray, *, iters: int = 50, l2: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Per-label (a, b) minimising log loss of sigmoid(a * z + b) (Newton steps, a kept > 0.05).

    Deterministic, numpy only. A label without both classes keeps (1, 0).
    """
    k = logits.shape[1]
    a, b = np.ones(k), np.zeros(k)
    for j in range(k):
        z, t = logits[:, j].astype(np.float64), y[:, j].astype(np.float64)
        if t.min() == t.max():
            continue
        p_a, p_b = 1.0, 0.0
        for _ in range(iters):
            p = 1.0 / (1.0 + np.exp(-np.clip(p_a * z + p_b, -50.0, 50.0)))
            g = np.array([np.sum((p - t) * z) + l2 * (p_a - 1.0), np.sum(p - t) + l2 * p_b])
            w = p * (1 - p)
            h = np.array([[np.sum(w * z * z) + l2, np.sum(w * z)], [np.sum(w * z), np.sum(w) + l2]])
            step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
            p_a, p_b = p_a - step[0], p_b - step[1]
            p_a = max(p_a, 0.05)
            if np.abs(step).max() < 1e-8:
                break
        a[j], b[j] = p_a, p_b
    return a, b


def fold_platt(model: Any, a: np.ndarray, b: np.ndarray) -> None:
    """Fold sigmoid(a * logit + b) into the final linear layer (the network stays one module)."""
    import torch

    with torch.no_grad():
        fa = torch.tensor(a, dtype=model.fc.weight.dtype)
        fb = torch.tensor(b, dtype=model.fc.bias.dtype)
        model.fc.weight.mul_(fa.view(-1, 1))
        model.fc.bias.mul_(fa).add_(fb)


def _initial_weights(path: Path) -> dict[str, Any]:
    """The model state dict of a checkpoint (`model` key) or of a .safetensors model file."""
    import torch

    if path.suffix == ".safetensors":
        from inference.weights import load_weights

        return load_weights(path).model.state_dict()
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state["model"]


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ichview train", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, help=f"folder for {WEIGHTS_NAME} (default: resources/model)")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK_DIR, help="cache and checkpoint folder (default: ~/.cache/ichview/train)")
    p.add_argument("--rsna-dir", type=Path, help="train on the RSNA 2019 layout in this folder (stage_2_train.csv + stage_2_train/)")
    p.add_argument("--rsna-max-series", type=int, default=0, help="use only the first N series (0: all)")
    p.add_argument("--smoke", action="store_true", help="CI: two steps at 32 x 32 on one tiny phantom study")
    p.add_argument("--steps", type=int, help="optimiser steps (default 500; smoke 2)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--warmup-steps", type=int)
    p.add_argument("--cupping-hu", type=float, help="max brightening next to the inner table (augmentation, default 12)")
    p.add_argument("--hu-offset", type=float, help="max +- HU offset of the scanner-calibration augmentation (default 8)")
    p.add_argument("--hu-gain", type=float, nargs=2, metavar=("LOW", "HIGH"), help="HU gain range of the scanner-calibration augmentation (default 0.92 1.12)")
    p.add_argument("--domain-prevalence", type=float, help="bleed prevalence per data domain in a batch (default 0.3; 0: uniform)")
    p.add_argument("--shards", type=int, help="training shards to render (synthetic: ~120 slices each)")
    p.add_argument("--negative-shards", type=int, help="extra shards of real negative slices (skull base and brain, ~135 each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=10.0, help="stop (with a checkpoint) after this long; --resume continues")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --work")
    p.add_argument("--fresh", action="store_true", help="discard an existing checkpoint in --work and start over")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: on a shared CPU more threads can be slower)")
    p.add_argument("--workers", type=int, default=1, help="processes rendering the cache (default 1)")
    p.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints")
    p.add_argument("--stop-after-steps", type=int, help=argparse.SUPPRESS)  # tests: end a chunk at a step
    p.add_argument("--version", default="0.1.0", help="model version written into the weights")
    p.add_argument("--device", default="cpu", help="cpu (default: bit-reproducible), cuda, cuda:N or auto (CUDA when present); "
                   "CUDA trains in bf16 autocast and ends on the CPU for calibration")
    p.add_argument("--pixel-mm", type=float, help=f"model grid pixel size (default {DEFAULT_PREPROCESS.pixel_mm}; "
                   "a GPU run should use 1.25 or finer)")
    p.add_argument("--image-size", type=int, help=f"model grid size in pixels (default {DEFAULT_PREPROCESS.image_size}; "
                   "keep pixel-mm x image-size near 256 mm)")
    p.add_argument("--arch", choices=sorted(ARCH_PRESETS), help="network size: slim (the shipped 135 k parameters, CPU) or "
                   "full (1.4 M parameters, for a GPU)")
    p.add_argument("--init-from", type=Path, help="start from these weights (a checkpoint.pt or .safetensors): a warm start")
    return p.parse_args(argv)


# Command-line options copied into TrainConfig as given (when set): option -> field.
_OPTION_FIELDS = {
    "steps": "steps",
    "batch_size": "batch_size",
    "lr": "lr",
    "warmup_steps": "warmup_steps",
    "cupping_hu": "cupping_hu_max",
    "hu_offset": "hu_offset_max",
    "domain_prevalence": "domain_prevalence",
    "shards": "n_shards",
    "negative_shards": "n_negative_shards",
}


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    if args.smoke:
        cfg = TrainConfig(
            source="smoke", n_shards=1, n_calib_shards=1, steps=2, batch_size=4, warmup_steps=1,
            preprocess=SMOKE_PREPROCESS.to_dict(), arch=dict(SMOKE_ARCH), augment=True,
        )
    elif args.rsna_dir is not None:
        cfg = TrainConfig(source="rsna", rsna_dir=str(Path(args.rsna_dir).resolve()), rsna_max_series=args.rsna_max_series)
    else:
        cfg = TrainConfig()
    changes: dict[str, Any] = {"seed": args.seed, "version": args.version}
    changes.update({field_name: value for option, field_name in _OPTION_FIELDS.items()
                    if (value := getattr(args, option)) is not None})
    if args.hu_gain is not None:
        changes["hu_gain_range"] = (float(args.hu_gain[0]), float(args.hu_gain[1]))
    if args.pixel_mm is not None or args.image_size is not None:
        pre = PreprocessConfig.from_dict(cfg.preprocess)
        changes["preprocess"] = replace(
            pre,
            pixel_mm=pre.pixel_mm if args.pixel_mm is None else float(args.pixel_mm),
            image_size=pre.image_size if args.image_size is None else int(args.image_size),
        ).to_dict()
    if args.arch is not None:
        changes["arch"] = dict(ARCH_PRESETS[args.arch])
    if args.init_from is not None:
        changes["init_from"] = str(Path(args.init_from).resolve())
    if args.smoke and args.rsna_dir is not None:
        changes.update(source="rsna", rsna_dir=str(Path(args.rsna_dir).resolve()), rsna_max_series=args.rsna_max_series)
    return replace(cfg, **changes)


def _trained_on(cfg: TrainConfig) -> str:
    if cfg.source == "rsna":
        return "RSNA 2019 ICH (non-commercial licence: may not ship without saying so)"
    if cfg.source == "smoke":
        return "smoke test only (2 steps on one synthetic study): not a usable model"
    return "synthetic head CT + bleeds inserted into 2 real normal head CTs (no real labelled bleeds; not clinically validated)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of `ichview train`; returns 0 when weights were written, 75 when unfinished."""
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    import torch

    from inference.device import autocast, resolve_device
    from inference.model import build_model, count_parameters

    t_start = time.monotonic()
    deadline = t_start + args.max_minutes * 60.0
    torch.set_num_threads(max(1, args.threads))
    try:
        device = resolve_device(args.device)
    except (ValueError, RuntimeError) as exc:
        print(f"--device {args.device}: {exc}", file=sys.stderr)
        return 2
    if device.type == "cuda":
        # cuBLAS needs this for deterministic GEMMs; ops without a deterministic CUDA kernel only warn.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True)
    work = Path(args.work).expanduser()
    work.mkdir(parents=True, exist_ok=True)
    ckpt_path = work / "checkpoint.pt"
    state: dict[str, Any] | None = None
    if ckpt_path.exists() and not args.fresh:
        if not args.resume:
            print(f"{ckpt_path}: a checkpoint exists; pass --resume to continue it or --fresh to start over", file=sys.stderr)
            return 2
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        cfg = TrainConfig.from_json(state["config"])
        print(f"resuming at step {state['step']}/{cfg.steps}", file=sys.stderr)
    else:
        if args.resume and not ckpt_path.exists():
            print(f"{ckpt_path}: no checkpoint to resume; starting a new run", file=sys.stderr)
        cfg = _config_from_args(args)
    pre = cfg.preprocess_config
    arch = {**cfg.arch, "in_channels": pre.n_channels}

    # 1. Inputs (rendered once, cached).
    train_cache, ok_train = ensure_cache(cfg, work, "train", deadline=deadline, workers=args.workers)
    calib_cache, ok_calib = ensure_cache(cfg, work, "calib", deadline=deadline, workers=args.workers) if ok_train else (None, False)
    neg_cache, ok_neg = (None, True)
    if cfg.n_negative_shards > 0 and cfg.source == "synthetic" and ok_calib:
        neg_cache, ok_neg = ensure_cache(cfg, work, "negatives", deadline=deadline, workers=args.workers)
    if not (ok_train and ok_calib and ok_neg):
        if state is None:
            _atomic_torch_save({"config": cfg.to_json(), "step": 0, "elapsed_s": time.monotonic() - t_start, "model": None}, ckpt_path)
        print(f"time limit reached while rendering inputs; run again with --resume (work folder {work})", file=sys.stderr)
        return EXIT_UNFINISHED
    data = _load_split(train_cache)
    if neg_cache is not None:
        from inference.training.datasets.samples import Samples

        data = Samples.concat([data, _load_split(neg_cache)])
    n = len(data)
    print(f"training set: {n} slices, positives per label {dict(zip(LABELS, data.y.sum(0).astype(int).tolist()))}", file=sys.stderr)

    # 2. Model and optimiser (restored on resume).
    torch.manual_seed(cfg.seed)
    model = build_model(arch)
    if state is not None and state.get("model") is not None:
        model.load_state_dict(state["model"])
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = 0
    elapsed = 0.0
    if state is not None and state.get("model") is not None:
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
        elapsed = float(state.get("elapsed_s", 0.0))
    else:
        if state is not None:
            elapsed = float(state.get("elapsed_s", 0.0))
        if cfg.init_from:
            model.load_state_dict(_initial_weights(Path(cfg.init_from)))  # copied into the on-device parameters
            print(f"warm start from {cfg.init_from}", file=sys.stderr)
    print(f"model: {count_parameters(model):,} parameters, input {pre.n_channels}x{pre.image_size}x{pre.image_size} at {pre.pixel_mm} mm, device {device}", file=sys.stderr)

    def save_checkpoint(done: bool = False) -> None:
        _atomic_torch_save(
            {
                "config": cfg.to_json(),
                "step": step,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "elapsed_s": elapsed + (time.monotonic() - t_chunk),
                "done": done,
            },
            ckpt_path,
        )

    # 3. Steps.
    from inference.training.datasets.samples import from_uint8

    sample_p = domain_balanced_probabilities(data.group, data.y[:, 0], cfg.domain_prevalence)

    t_chunk = time.monotonic()
    bar = Progress("train", cfg.steps, start=step)
    model.train()
    stop_at = args.stop_after_steps
    running = None
    while step < cfg.steps:
        if time.monotonic() > deadline or (stop_at is not None and step >= stop_at):
            save_checkpoint()
            bar.close()
            print(f"\nstopped at step {step}/{cfg.steps}; run again with --resume (work folder {work})", file=sys.stderr)
            return EXIT_UNFINISHED
        rng = np.random.default_rng([cfg.seed, step, 11])
        if sample_p is None:
            idx = np.sort(rng.choice(n, size=min(cfg.batch_size, n), replace=n < cfg.batch_size))
        else:
            idx = np.sort(rng.choice(n, size=cfg.batch_size, replace=True, p=sample_p))
        xb = torch.from_numpy(from_uint8(data.x[idx]))
        yb = torch.from_numpy(data.y[idx])
        gen = torch.Generator().manual_seed(int(cfg.seed * 1_000_003 + step))
        if cfg.augment:
            xb = augment(xb, gen, pre, hu_offset_max=cfg.hu_offset_max, hu_gain_range=cfg.hu_gain_range,
                         cupping_hu_max=cfg.cupping_hu_max)
        torch.manual_seed(int(cfg.seed * 1_000_003 + step) + 7)  # dropout
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        if device.type == "cuda":
            xb = xb.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            yb = yb.to(device, non_blocking=True)
        with autocast(device):
            logits = model(xb)
        loss = _loss(logits.float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        value = float(loss.detach())
        running = value if running is None else 0.95 * running + 0.05 * value
        bar.update(step, f"loss {running:.4f} lr {lr_at(step - 1, cfg):.2e}")
        if step % args.checkpoint_every == 0 and step < cfg.steps:
            save_checkpoint()
    bar.close()
    save_checkpoint(done=True)
    train_seconds = elapsed + (time.monotonic() - t_chunk)

    # 4. Calibration (Platt per label, folded into the last layer) and the Grad-CAM scale.
    from inference.gradcam import calibrate_cam_scale
    from inference.training.metrics import roc_auc, threshold_for_sensitivity, weighted_log_loss
    from inference.weights import ModelMetadata, save_weights

    calib = _load_split(calib_cache)
    model.to("cpu")
    model.eval()
    logits = _predict_logits(model, calib.x)
    a, b = fit_platt(logits, calib.y)
    fold_platt(model, a, b)
    z = logits * a[None, :] + b[None, :]
    p = 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))
    pos = calib.y[:, 0] > 0.5
    cam_scale = 1.0
    if pos.any():
        sel = np.nonzero(pos)[0][:96]
        cam_scale = calibrate_cam_scale(model, torch.from_numpy(from_uint8(calib.x[sel])), np.ones(sel.size, bool))
    threshold = threshold_for_sensitivity(calib.y[:, 0], p[:, 0], target=0.95) if pos.any() else 0.5
    calib_metrics = {
        "calibration_split_weighted_log_loss": weighted_log_loss(calib.y, p),
        "calibration_split_auc_any": roc_auc(calib.y[:, 0], p[:, 0]),
        "platt_a": [float(v) for v in a],
        "platt_b": [float(v) for v in b],
    }
    meta = ModelMetadata(
        name=MODEL_NAME,
        version=cfg.version,
        arch=build_model(arch).config.to_dict(),
        preprocess=pre,
        threshold=float(threshold),
        trained_on=_trained_on(cfg),
        metrics={"calibration": calib_metrics},
        cam_scale=float(cam_scale),
        extra={
            "threshold_source": "provisional: calibration split (run `ichview evaluate --write` to set it on the held-out set)",
            "training": {
                "source": cfg.source,
                "steps": cfg.steps,
                "batch_size": cfg.batch_size,
                "train_slices": n,
                "calibration_slices": len(calib),
                "seed": cfg.seed,
                "train_seconds": round(train_seconds, 1),
                "threads": args.threads,
                "device": str(device),
                "parameters": count_parameters(model),
            },
        },
    )
    out = Path(args.out)
    digest = save_weights(out / WEIGHTS_NAME, model, meta)
    print(
        f"wrote {out / WEIGHTS_NAME} (sha256 {digest[:16]}...), training {train_seconds / 60:.1f} min, "
        f"calibration split: log loss {calib_metrics['calibration_split_weighted_log_loss']:.4f}, "
        f"AUC(any) {calib_metrics['calibration_split_auc_any']:.4f}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
