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
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from inference.labels import LABELS, LOSS_WEIGHTS
from inference.preprocess import PreprocessConfig
from inference.training.augment import augment
from inference.training.config import (  # noqa: F401 - re-exported: evaluate and the tests use them
    ARCH_PRESETS,
    DEFAULT_ARCH,
    DEFAULT_OUT_DIR,
    DEFAULT_PREPROCESS,
    DEFAULT_WORK_DIR,
    EXIT_UNFINISHED,
    MODEL_NAME,
    SMOKE_ARCH,
    SMOKE_PREPROCESS,
    WEIGHTS_NAME,
    Progress,
    TrainConfig,
)
from inference.training.shards import ensure_cache
from inference.training.calibration import fit_platt, fold_platt, predict_logits

# ------------------------------------------------------------------------------ training


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5 % of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0))))


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
    logits = predict_logits(model, calib.x)
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
