"""Fix and check the combined verdict rule on the data we have (issue: one verdict from both readers).

    python bench/verdict_rule.py [--real ../shared/data/real] [--device cpu|cuda] [--models N]
                                 [--sizes 0.15 0.4 0.8] [--seeds 1] [--out bench/results/verdict_rule.json]

1. The real normal scans (ge_head_ct_tilted, invesalius_head_ct_0051, cerr_head_neck_ct): the first
   reader's maximum P(any) and the second reader's largest blood component (mL).
2. Bleeds inserted into the two real backgrounds at their held-out levels (never seen by the first
   reader in training), each of the five subtypes at several sizes: a slab of +-40 mm around the
   bleed is read by both readers; the true volume is the inserted occupancy >= 0.5. This is also the
   realism check of the generator: a reader trained on real bleeds (BLAST-CT) that misses an
   inserted bleed says where the inserted bleeds are unlike real ones.
3. The rule's per-study sensitivity for inserted bleeds >= 1 mL and its verdict on the real normals,
   for the first reader's "alone" threshold t in a few values (t = 1 means the second reader alone).

Prints a table and writes the figures as JSON. Slow on a CPU (each second read is tens of seconds).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SUBTYPES = ("epidural", "intraparenchymal", "intraventricular", "subarachnoid", "subdural")
BACKGROUNDS = ("invesalius_head_ct_0051", "cerr_head_neck_ct")
NORMALS = ("ge_head_ct_tilted", "invesalius_head_ct_0051", "cerr_head_neck_ct")
SLAB_MM = 40.0
ALONE_THRESHOLDS = (0.8, 0.85, 0.9, 0.95, 1.01)


def _load(folder: Path):
    from viewer.core.loading import load_stack, open_paths

    stack = max(open_paths([folder]).stacks(), key=lambda s: s.n_slices)
    return load_stack(stack)


def _crop(volume, hu: np.ndarray, k0: int, k1: int):
    sl = slice(k0, k1)
    shift = float(volume.positions_mm[k0] - volume.positions_mm[0])
    origin = tuple(np.asarray(volume.origin_mm) + shift * np.asarray(volume.direction)[:, 2])
    return dataclasses.replace(
        volume,
        hu=np.ascontiguousarray(hu[sl]),
        origin_mm=origin,
        positions_mm=tuple(volume.positions_mm[sl]),
        sop_instance_uids=tuple(volume.sop_instance_uids[sl]),
        instance_numbers=tuple(volume.instance_numbers[sl]),
        slice_thickness_mm=tuple(volume.slice_thickness_mm[sl]),
        source_paths=tuple(volume.source_paths[sl]),
        stack_id=f"{volume.stack_id}-crop{k0}",
    )


def _read(engine, second, volume) -> dict:
    from inference.readers.blast_ct.results import BLOOD_CLASSES

    t0 = time.perf_counter()
    analysis = engine.analyze(volume, cams=False)
    t1 = time.perf_counter()
    reading = second.segment(volume)
    t2 = time.perf_counter()
    blood = [c for c in reading.components if c.label in BLOOD_CLASSES]
    largest = max(blood, key=lambda c: c.volume_ml) if blood else None
    first_max = float(analysis.probabilities[:, 0].max()) if analysis.acceptance.accepted else None
    return {
        "accepted": bool(analysis.acceptance.accepted),
        "first_max": first_max,
        "second_largest_ml": round(largest.volume_ml, 3) if largest else 0.0,
        "second_largest_class": largest.label if largest else "",
        "second_volumes_ml": {k: round(v, 3) for k, v in reading.volumes_ml.items()},
        "labels": reading.labels,
        "seconds_first": round(t1 - t0, 2),
        "seconds_second": round(t2 - t1, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--real", type=Path, default=REPO.parent / "shared" / "data" / "real")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--sizes", type=float, nargs="+", default=[0.15, 0.4, 0.8])
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--skip-normals", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "verdict_rule.json")
    args = ap.parse_args(argv)

    from inference.predict import Engine
    from inference.readers.blast_ct.results import BLOOD_CLASSES, LESION_CLASSES
    from inference.readers.blast_ct.segment import SecondReader
    from inference.training.datasets.backgrounds import SPLITS, Background
    from inference.training.datasets.insertion import insert_bleeds

    engine = Engine.load(device=args.device, threads=args.threads)
    second = SecondReader.load(args.models, device=args.device, threads=args.threads)
    print(f"first reader {engine.info.version} threshold {engine.info.threshold:.3f}; "
          f"second reader {len(second.members)} member(s) on {second.device}", flush=True)
    results: dict = {"device": str(second.device), "members": len(second.members),
                     "threshold": engine.info.threshold, "normals": {}, "inserted": []}

    volumes = {}
    for name in sorted(set(NORMALS) | set(BACKGROUNDS)):
        volumes[name] = _load(args.real / name)
    if not args.skip_normals:
        for name in NORMALS:
            r = _read(engine, second, volumes[name])
            r.pop("labels")
            results["normals"][name] = r
            print(f"normal {name}: first max {r['first_max']}, second largest blood {r['second_largest_ml']} mL "
                  f"{r['second_largest_class']} ({r['seconds_first']} + {r['seconds_second']} s)", flush=True)

    blood_idx = [LESION_CLASSES.index(c) + 1 for c in BLOOD_CLASSES]
    for name in BACKGROUNDS:
        vol = volumes[name]
        split = SPLITS[name]
        thick = [t for t in vol.slice_thickness_mm if t]
        bg = Background(name, vol.hu, np.asarray(vol.positions_mm, float), vol.pixel_spacing_mm,
                        float(np.median(thick)) if thick else float(vol.spacing_mm[0]), split)
        a, b = split.heldout_range
        z0 = float(vol.positions_mm[(a + b) // 2])
        pos = np.asarray(vol.positions_mm)
        k0 = int(np.searchsorted(pos, z0 - SLAB_MM))
        k1 = int(np.searchsorted(pos, z0 + SLAB_MM))
        for subtype in SUBTYPES:
            for size in args.sizes:
                for seed in range(args.seeds):
                    rng = np.random.default_rng(hash((name, subtype, size, seed)) % 2**32)
                    ins = insert_bleeds(bg, rng, (subtype,), size=size, z0_mm=z0)
                    truth_ml = ins.volume_ml(subtype)
                    crop = _crop(vol, ins.hu, k0, k1)
                    r = _read(engine, second, crop)
                    labels = r.pop("labels")
                    mask = ins.occupancy[subtype][k0:k1] >= 0.5
                    hit_voxels = int(np.isin(labels[mask], blood_idx).sum()) if mask.any() else 0
                    row = {"background": name, "subtype": subtype, "size": size, "seed": seed,
                           "truth_ml": round(truth_ml, 3), "second_hit_voxels": hit_voxels,
                           "second_found": bool(hit_voxels > 0 and r["second_largest_ml"] >= 1.0), **r}
                    results["inserted"].append(row)
                    print(f"{name[:10]} {subtype:17s} u={size:.2f} truth {truth_ml:6.2f} mL | first {r['first_max']:.2f} | "
                          f"second {r['second_largest_ml']:6.2f} mL {r['second_largest_class']:6s} on-mask voxels {hit_voxels:6d} "
                          f"({r['seconds_second']} s)", flush=True)

    # The rule at several first-reader-alone thresholds.
    rows = [r for r in results["inserted"] if r["truth_ml"] >= 1.0 and r["accepted"]]
    summary = []
    for t in ALONE_THRESHOLDS:
        hits = sum(1 for r in rows if r["second_found"] or (r["first_max"] or 0) >= t)
        fp = [n for n, r in results["normals"].items() if r["second_largest_ml"] >= 1.0 or (r["first_max"] or 0) >= t]
        summary.append({"first_alone_threshold": t, "sensitivity": hits / len(rows) if rows else None,
                        "n_bleeds_ge_1ml": len(rows), "normals_positive": fp})
        print(f"t={t:.2f}: sensitivity {hits}/{len(rows)} inserted bleeds >= 1 mL; real normals read positive: {fp or 'none'}")
    by_type = {}
    for s in SUBTYPES:
        sub = [r for r in rows if r["subtype"] == s]
        by_type[s] = {"n": len(sub), "second_found": sum(r["second_found"] for r in sub),
                      "first_at_threshold": sum((r["first_max"] or 0) >= results["threshold"] for r in sub)}
        print(f"{s:17s} second reader found {by_type[s]['second_found']}/{len(sub)}, first reader at its threshold "
              f"{by_type[s]['first_at_threshold']}/{len(sub)}")
    results["summary"] = summary
    results["by_subtype"] = by_type
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
