"""`ichview evaluate`: measure a model on the fixed held-out set and on the real GE head CT.

Prints per-label AUC, the RSNA 2019 weighted log loss, sensitivity / specificity at the operating
threshold, expected calibration error, Grad-CAM localisation next to the HU baseline, and the real
negative check (max `any` probability over the 28 slices of ge_head_ct_tilted, run through the
engine exactly as the viewer runs it). With `--write` it chooses the operating threshold on the
held-out set (the highest with sensitivity >= 0.95 on `any`), stores it and the metrics in the
weights metadata (the weights file is rewritten, its SHA-256 changes) and writes the measured
section of resources/model/MODEL_CARD.md.

The held-out set is defined in inference/training/datasets/heldout.py; its inputs are rendered once into
`<work>/cache/heldout` by the engine's `make_inputs`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from inference.labels import LABELS

CARD_BEGIN = "<!-- ichview evaluate: begin (generated, do not edit by hand) -->"
CARD_END = "<!-- ichview evaluate: end -->"
SENSITIVITY_TARGET = 0.95
GE_NAME = "ge_head_ct_tilted"


def _parse(argv: list[str]) -> argparse.Namespace:
    from inference.training.train import DEFAULT_OUT_DIR, DEFAULT_WORK_DIR, WEIGHTS_NAME

    p = argparse.ArgumentParser(prog="ichview evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", type=Path, default=DEFAULT_OUT_DIR / WEIGHTS_NAME, help="model file (default: resources/model)")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK_DIR, help="cache folder (default: ~/.cache/ichview/train)")
    p.add_argument("--card", type=Path, default=DEFAULT_OUT_DIR / "MODEL_CARD.md", help="model card to update with --write")
    p.add_argument("--real-dir", type=Path, default=None, help="folder holding ge_head_ct_tilted (default: ../shared/data/real)")
    p.add_argument("--write", action="store_true", help="store the held-out threshold and metrics in the weights and the card")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=1, help="processes rendering the held-out cache")
    p.add_argument("--max-cam-slices", type=int, default=400, help="positive slices used for the CAM metrics")
    p.add_argument("--json", type=Path, help="also write the metrics as JSON here")
    p.add_argument("--heldout-shards", type=int, default=0, help="use only the first N held-out shards (tests; 0: all)")
    return p.parse_args(argv)


def _render_heldout_shard(args: tuple[str, dict[str, Any], int]) -> int:
    import torch

    from inference.training.datasets.cache import ShardCache
    from inference.training.datasets.heldout import heldout_key, render_heldout_shard
    from inference.preprocess import PreprocessConfig

    folder, pre, index = args
    torch.set_num_threads(1)
    config = PreprocessConfig.from_dict(pre)
    cache = ShardCache(folder, heldout_key(config))
    if not cache.has(index):
        cache.write(index, render_heldout_shard(index, config))
    return index


def heldout_samples(work: Path, config: Any, *, workers: int = 1, limit: int = 0) -> Any:
    """The held-out set for `config` (or its first `limit` shards), rendered into the cache on first use."""
    from inference.training.datasets.cache import ShardCache
    from inference.training.datasets.heldout import N_SHARDS, heldout_key
    from inference.training.train import Progress

    key = heldout_key(config)
    folder = work / "cache" / f"heldout-{config.image_size}px-{config.pixel_mm:g}mm"
    cache = ShardCache(folder, key)
    shards = list(range(N_SHARDS if limit <= 0 else min(limit, N_SHARDS)))
    missing = [i for i in shards if not cache.has(i)]
    if missing:
        bar = Progress("render held-out", len(shards), start=len(shards) - len(missing))
        done = len(shards) - len(missing)
        jobs = [(str(folder), config.to_dict(), i) for i in missing]
        if workers > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers) as pool:
                for _ in pool.imap_unordered(_render_heldout_shard, jobs):
                    done += 1
                    bar.update(done)
        else:
            for job in jobs:
                _render_heldout_shard(job)
                done += 1
                bar.update(done)
        bar.close()
    return cache.read_all(shards)


def _shard_parts() -> dict[str, Any]:
    from inference.training.datasets.heldout import N_PHANTOM_STUDIES, heldout_studies

    return {"studies": heldout_studies(), "n_phantom": N_PHANTOM_STUDIES}


def predict_with_cams(model: Any, x_uint8: np.ndarray, cam_idx: np.ndarray, cam_scale: float, *, batch: int = 64) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Probabilities (n, 6) for all rows and `any` CAMs (h, w) for the rows in `cam_idx`."""
    import torch

    from inference.training.datasets.samples import from_uint8
    from inference.gradcam import grad_cam

    model.eval()
    probs = np.zeros((x_uint8.shape[0], len(LABELS)), np.float32)
    with torch.inference_mode():
        for i in range(0, x_uint8.shape[0], batch):
            xb = torch.from_numpy(from_uint8(x_uint8[i : i + batch]))
            probs[i : i + batch] = torch.sigmoid(model(xb).float()).numpy()
    cams: dict[int, np.ndarray] = {}
    for i in range(0, cam_idx.size, batch):
        sel = cam_idx[i : i + batch]
        xb = torch.from_numpy(from_uint8(x_uint8[sel]))
        _, maps = grad_cam(model, xb, ("any",), cam_scale=cam_scale)
        for j, k in enumerate(sel):
            cams[int(k)] = maps[j, 0].astype(np.float32)
    return probs, cams


def _upsample(cam: np.ndarray, size: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(cam, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)[0, 0].numpy()


def _blood_gates(x_uint8: np.ndarray, keys: list[int], config: Any) -> list[np.ndarray]:
    """The engine's blood gate (inference.gradcam.blood_gate) of the given cached inputs."""
    import torch

    from inference.training.datasets.samples import from_uint8
    from inference.gradcam import blood_gate

    return list(blood_gate(torch.from_numpy(from_uint8(x_uint8[keys])), config).numpy())


def compute_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """Per-label AUC, RSNA weighted log loss, sens/spec at `threshold` on `any`, ECE."""
    from inference.training.metrics import (
        expected_calibration_error,
        per_label_log_loss,
        roc_auc,
        sensitivity_specificity,
        weighted_log_loss,
    )

    sens, spec = sensitivity_specificity(y[:, 0], p[:, 0], threshold)
    return {
        "n_slices": int(y.shape[0]),
        "n_positive": {lab: int(v) for lab, v in zip(LABELS, y.sum(axis=0))},
        "auc": {lab: roc_auc(y[:, j], p[:, j]) for j, lab in enumerate(LABELS)},
        "log_loss": {lab: float(v) for lab, v in zip(LABELS, per_label_log_loss(y, p))},
        "weighted_log_loss": weighted_log_loss(y, p),
        "threshold": float(threshold),
        "sensitivity_any": sens,
        "specificity_any": spec,
        "ece": {lab: expected_calibration_error(y[:, j], p[:, j]) for j, lab in enumerate(LABELS)},
    }


def ge_check(weights: Path, real_dir: Path | None, threads: int) -> dict[str, Any]:
    """Run the real GE head CT through the engine as the viewer does; max `any` vs the threshold."""
    from inference.predict import Engine
    from viewer.core.loading import load_stack, open_paths

    folder = (real_dir or (Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real")).resolve() / GE_NAME
    tree = open_paths([folder])
    stack = max(tree.stacks(), key=lambda s: s.n_slices)
    volume = load_stack(stack)
    engine = Engine.load(weights, device="cpu", threads=threads)
    analysis = engine.analyze(volume, cams=False)
    p_any = analysis.probabilities[:, 0] if analysis.n_slices else np.zeros(0)
    return {
        "accepted": bool(analysis.acceptance.accepted),
        "reason": analysis.acceptance.reason,
        "n_slices": int(volume.n_slices),
        "max_any": float(p_any.max()) if p_any.size else float("nan"),
        "argmax_slice": int(p_any.argmax()) if p_any.size else -1,
        "slices_at_or_above_threshold": int((p_any >= engine.threshold).sum()) if p_any.size else 0,
        "threshold": float(engine.threshold),
        "max_per_label": {lab: float(analysis.probabilities[:, j].max()) for j, lab in enumerate(LABELS)} if p_any.size else {},
    }


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.4f}"


def format_report(m: dict[str, Any]) -> str:
    """The metrics as Markdown (printed and written into the model card)."""
    h = m["heldout"]
    lines = [
        f"Measured by `ichview evaluate` on {m['date']} (weights SHA-256 `{m['sha256']}`).",
        "",
        f"**Held-out set** ({h['n_slices']} slices, {h['n_positive']['any']} with a bleed; definition below):",
        "",
        "| label | positives | AUC | log loss | ECE |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for lab in LABELS:
        lines.append(f"| {lab} | {h['n_positive'][lab]} | {_fmt(h['auc'][lab])} | {_fmt(h['log_loss'][lab])} | {_fmt(h['ece'][lab])} |")
    lines += [
        "",
        f"- RSNA weighted log loss (any x2, subtypes x1): **{_fmt(h['weighted_log_loss'])}**",
        f"- Operating threshold on `any` (chosen on this set for sensitivity >= {SENSITIVITY_TARGET}): **{h['threshold']:.4f}**",
        f"- At that threshold: sensitivity {_fmt(h['sensitivity_any'])}, specificity {_fmt(h['specificity_any'])}",
        f"- Expected calibration error (`any`, 10 bins): {_fmt(h['ece']['any'])}",
        "",
        "By part of the held-out set (`any`):",
        "",
        "| part | slices | positives | AUC | weighted log loss | sensitivity | specificity |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, part in m["parts"].items():
        lines.append(
            f"| {name} | {part['n_slices']} | {part['n_positive']['any']} | {_fmt(part['auc']['any'])} | "
            f"{_fmt(part['weighted_log_loss'])} | {_fmt(part['sensitivity_any'])} | {_fmt(part['specificity_any'])} |"
        )
    c = m["cam"]
    lines += [
        "",
        f"**Grad-CAM localisation** (`any`, {c['n_slices']} positive held-out slices with a mask; mask dilated by 2 mm; "
        "CAM upsampled from the feature grid to the model grid; a slice whose map is all zero counts as 0 and a miss):",
        "",
        "| heatmap | mass inside the mask | pointing-game hit rate |",
        "| --- | ---: | ---: |",
        f"| Grad-CAM (`any`) x blood gate (40-100 HU inside the skull): what the viewer and the report show "
        f"| {_fmt(c['gated_mass_inside'])} | {_fmt(c['gated_pointing_hit_rate'])} |",
        f"| Grad-CAM (`any`), plain | {_fmt(c['mass_inside'])} | {_fmt(c['pointing_hit_rate'])} |",
        f"| baseline: 50-90 HU inside the skull | {_fmt(c['baseline_mass_inside'])} | {_fmt(c['baseline_pointing_hit_rate'])} |",
    ]
    g = m["ge"]
    verdict = "no slice reaches the threshold" if g["slices_at_or_above_threshold"] == 0 else f"{g['slices_at_or_above_threshold']} slice(s) reach the threshold"
    lines += [
        "",
        f"**Real negative check** (`{GE_NAME}`, {g['n_slices']} slices, gantry tilt 18.5 deg, through the engine as the viewer runs it): "
        f"accepted={g['accepted']}, max P(any) = **{_fmt(g['max_any'])}** (slice {g['argmax_slice']}) vs threshold {g['threshold']:.4f}: **{verdict}**.",
    ]
    return "\n".join(lines)


def update_card(card: Path, section: str) -> None:
    """Replace the generated section of the model card (between the markers), atomically."""
    import os
    import tempfile

    text = card.read_text(encoding="utf-8") if card.exists() else ""
    block = f"{CARD_BEGIN}\n{section}\n{CARD_END}"
    if CARD_BEGIN in text and CARD_END in text:
        head, rest = text.split(CARD_BEGIN, 1)
        _, tail = rest.split(CARD_END, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n## Measured performance\n\n" + block + "\n"
    card.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".card-", suffix=".tmp", dir=card.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)  # a document for everyone to read (mkstemp creates 0600)
    os.replace(tmp, card)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `ichview evaluate`."""
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    import torch

    from inference.training.datasets.samples import hu_from_inputs
    from inference.training.metrics import cam_localisation, threshold_for_sensitivity
    from inference.weights import load_weights, save_weights

    torch.set_num_threads(max(1, args.threads))
    loaded = load_weights(args.weights)
    meta = loaded.metadata
    config = meta.preprocess
    t0 = time.monotonic()
    data = heldout_samples(Path(args.work).expanduser(), config, workers=args.workers, limit=args.heldout_shards)
    y = (data.y > 0.5).astype(np.float32)
    pos = np.nonzero((y[:, 0] > 0) & data.mask.reshape(len(data), -1).any(axis=1))[0]
    cam_idx = pos[np.linspace(0, pos.size - 1, min(args.max_cam_slices, pos.size)).astype(int)] if pos.size else pos
    probs, cams = predict_with_cams(loaded.model, data.x, np.unique(cam_idx), meta.cam_scale)
    threshold = threshold_for_sensitivity(y[:, 0], probs[:, 0], target=SENSITIVITY_TARGET) if args.write else meta.threshold
    heldout = compute_metrics(y, probs, threshold)

    parts_def = _shard_parts()
    studies = {s.seed: s for s in parts_def["studies"]}
    groups = data.group
    part_masks = {
        "phantom 3 mm": np.array([g in studies and studies[g].thickness_mm == 3.0 for g in groups]),
        "phantom 7 mm": np.array([g in studies and studies[g].thickness_mm == 7.0 for g in groups]),
        "phantom smallest bleeds": np.array([g in studies and studies[g].lesion_size == 0.0 for g in groups]),
        "phantom largest bleeds": np.array([g in studies and studies[g].lesion_size == 1.0 for g in groups]),
        "real backgrounds (held-out slices)": groups < 0,
    }
    parts = {name: compute_metrics(y[m], probs[m], threshold) for name, m in part_masks.items() if m.any()}

    size = config.image_size
    sp = (config.pixel_mm, config.pixel_mm)
    keys = sorted(cams)
    plain = [_upsample(cams[k], size) for k in keys]
    masks = [data.mask[k] for k in keys]
    hus = [hu_from_inputs(data.x[k], config) for k in keys]
    cam_scores = cam_localisation(plain, masks, hus, [sp] * len(keys), dilate_mm=2.0)
    gated_scores = cam_localisation(
        [c * g for c, g in zip(plain, _blood_gates(data.x, keys, config))], masks, hus, [sp] * len(keys), dilate_mm=2.0
    )
    weights_path = Path(args.weights)
    sha = loaded.sha256
    metrics_summary = {
        "heldout_auc": heldout["auc"],
        "heldout_weighted_log_loss": heldout["weighted_log_loss"],
        "heldout_sensitivity_any": heldout["sensitivity_any"],
        "heldout_specificity_any": heldout["specificity_any"],
        "heldout_ece_any": heldout["ece"]["any"],
        "cam_mass_inside": cam_scores.mass_inside,
        "cam_pointing_hit_rate": cam_scores.pointing_hit_rate,
        "gated_cam_mass_inside": gated_scores.mass_inside,
        "gated_cam_pointing_hit_rate": gated_scores.pointing_hit_rate,
        "baseline_mass_inside": cam_scores.baseline_mass_inside,
        "baseline_pointing_hit_rate": cam_scores.baseline_pointing_hit_rate,
    }
    if args.write:
        from dataclasses import replace

        extra = dict(meta.extra)
        extra["threshold_source"] = f"held-out set: highest threshold with sensitivity >= {SENSITIVITY_TARGET} on any"
        new_meta = replace(meta, threshold=float(threshold), metrics={**meta.metrics, "heldout": metrics_summary}, extra=extra)
        sha = save_weights(weights_path, loaded.model, new_meta)
    ge = ge_check(weights_path, args.real_dir, args.threads)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "sha256": sha,
        "heldout": heldout,
        "parts": parts,
        "cam": {
            "n_slices": cam_scores.n_slices,
            "mass_inside": cam_scores.mass_inside,
            "pointing_hit_rate": cam_scores.pointing_hit_rate,
            "gated_mass_inside": gated_scores.mass_inside,
            "gated_pointing_hit_rate": gated_scores.pointing_hit_rate,
            "baseline_mass_inside": cam_scores.baseline_mass_inside,
            "baseline_pointing_hit_rate": cam_scores.baseline_pointing_hit_rate,
        },
        "ge": ge,
        "seconds": round(time.monotonic() - t0, 1),
    }
    text = format_report(report)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))
    if args.write:
        update_card(Path(args.card), text)
        print(f"\nwrote threshold {threshold:.4f} into {weights_path} (sha256 {sha}) and the card {args.card}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
