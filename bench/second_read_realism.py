"""Second reader (BLAST-CT) studies: member-count agreement on the normal real scans, CUDA numerics,
and detection of synthetic bleeds inserted into real backgrounds.

    .venv/bin/python bench/second_read_realism.py --device cuda --out /tmp/study      # all parts
    .venv/bin/python bench/second_read_realism.py --export .bctdev                     # scans -> .npz.xz
    python3 bench/second_read_realism.py --npz .bctdev --device cuda --out $OUT        # where no pydicom

Parts (`--parts`):
* `agreement`: members 1, 1-3 and 1-12 on ge_head_ct_tilted, invesalius_head_ct_0051 and
  cerr_head_neck_ct (normal: a good reading has no blood component >= 1 mL), in one 12-member
  pass (`SecondReader.segment_ensembles`); volumes, components, voxel agreement, lesion Dice.
* `timing`: `SecondReader.segment` per scan for 1, 3 and 12 members (warm; GPU peak memory).
* `numerics` (CUDA only): label changes with TF32 convolutions and with bf16 autocast against
  the exact float32 path (TF32 off), for member 1 and members 1-12.
* `realism`: one bleed per case, inserted with the training insertion code
  (`inference.training.datasets.insertion.insert_bleeds`: epidural, subdural, subarachnoid,
  intraparenchymal, intraventricular; sizes u = 0.15, 0.4, 0.8) into invesalius and cerr, read
  by members 1, 1-3, 1-12. A case counts as detected when the reading has a blood component
  >= 1 mL and labels >= 25 % of the bleed's voxels (>= 50 % occupancy) as blood; the class is
  right when the bleed's majority label is the class BLAST-CT uses for that subtype (EAH for
  epidural / subdural / subarachnoid, IPH, IVH). Synthetic bleeds are not real ones: these are
  plausibility figures, not a validation.

`--export DIR` writes the three scans as lzma-compressed .npz (air below -200 HU set to -1024 and
bone above 200 HU rounded to 4 HU so they compress; the [-15, 100] HU window makes both invisible
to the network, but the crop to the skull's box moves the 1 mm grid by under a millimetre), so the
study can run on a machine without pydicom / SimpleITK (components then come from scipy).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import lzma
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

REAL = (REPO / ".." / "shared" / "data" / "real").resolve()
SCANS = ("ge_head_ct_tilted", "invesalius_head_ct_0051", "cerr_head_neck_ct")
BACKGROUNDS = ("invesalius_head_ct_0051", "cerr_head_neck_ct")
EXPECTED = {"epidural": "EAH", "subdural": "EAH", "subarachnoid": "EAH", "intraparenchymal": "IPH", "intraventricular": "IVH"}
SIZES = (0.15, 0.4, 0.8)


def export(out: Path) -> None:
    """The three real scans as compressed .npz for machines without pydicom (see module doc)."""
    from viewer.core.loading import load_stack, open_paths

    out.mkdir(parents=True, exist_ok=True)
    for name in SCANS:
        v = load_stack(max(open_paths([REAL / name]).stacks(), key=lambda s: s.n_slices))
        hu = v.hu.copy()
        hu[hu < -200] = -1024
        bone = (hu > 300).any(axis=0)
        rr, cc = np.flatnonzero(bone.any(1)), np.flatnonzero(bone.any(0))
        r0, r1, c0, c1 = max(rr[0] - 12, 0), rr[-1] + 13, max(cc[0] - 12, 0), cc[-1] + 13
        k0 = 40 if name.startswith("cerr") else 0  # below: neck only
        hu = hu[k0:, r0:r1, c0:c1]
        hu[hu > 200] = (hu[hu > 200] // 4) * 4
        buf = io.BytesIO()
        np.savez(buf, hu=hu, spacing_mm=np.array(v.spacing_mm), positions_mm=np.array(v.positions_mm[k0:]),
                 tilt_deg=np.array(v.tilt_deg), thickness=np.array([t or 0 for t in v.slice_thickness_mm[k0:]]),
                 crop=np.array([k0, r0, c0]))
        (out / f"{name}.npz.xz").write_bytes(lzma.compress(buf.getvalue(), preset=6))


def load(name: str, npz: Path | None):  # noqa: ANN201
    """(Volume, first slice index kept) from DICOM or from an exported .npz.xz."""
    from viewer.core.volume import StudyMetadata, Volume

    if npz is None:
        from viewer.core.loading import load_stack, open_paths

        return load_stack(max(open_paths([REAL / name]).stacks(), key=lambda s: s.n_slices)), 0
    d = np.load(io.BytesIO(lzma.decompress((npz / f"{name}.npz.xz").read_bytes())))
    hu = d["hu"]
    n = hu.shape[0]
    return Volume(
        hu=hu, spacing_mm=tuple(float(x) for x in d["spacing_mm"]), origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3),
        positions_mm=tuple(float(p) for p in d["positions_mm"]), sop_instance_uids=tuple(str(i) for i in range(n)),
        instance_numbers=tuple(range(n)), slice_thickness_mm=tuple(float(t) or None for t in d["thickness"]),
        source_paths=tuple(Path(f"{i}") for i in range(n)), series_uid=name, stack_id=name + "#0",
        metadata=StudyMetadata(modality="CT"), tilt_deg=float(d["tilt_deg"]),
    ), int(d["crop"][0])


def _use_scipy_components() -> None:
    """Where SimpleITK is missing: the same 26-connected components from scipy."""
    import scipy.ndimage as ndi

    from inference.readers.blast_ct import segment
    from inference.readers.blast_ct.results import LESION_CLASSES, MIN_COMPONENT_ML, LesionComponent

    def find_components(labels, ext, spacing, min_ml=MIN_COMPONENT_ML):  # noqa: ANN001, ANN202
        voxel_ml = np.asarray(ext) * spacing[0] * spacing[1] / 1000.0
        out = []
        for v, name in enumerate(LESION_CLASSES, 1):
            cc, n = ndi.label(labels == v, structure=np.ones((3, 3, 3)))
            for i in range(1, n + 1):
                kk, rr, cl = np.nonzero(cc == i)
                w = voxel_ml[kk]
                vol = float(w.sum())
                if vol >= min_ml:
                    centroid = (float((w * kk).sum() / vol), float((w * rr).sum() / vol), float((w * cl).sum() / vol))
                    out.append(LesionComponent(name, vol, int(kk.min()), int(kk.max()), centroid))
        return tuple(sorted(out, key=lambda c: -c.volume_ml))

    segment.find_components = find_components


def _summary(r) -> dict:  # noqa: ANN001
    return {"volumes_ml": {k: round(v, 3) for k, v in r.volumes_ml.items()},
            "blood_ge_1ml": [(c.label, round(c.volume_ml, 2)) for c in r.blood_components(1.0)],
            "components": [(c.label, round(c.volume_ml, 2), c.first_slice, c.last_slice) for c in r.components[:12]],
            "lesion_voxels": int((r.labels > 0).sum())}


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return float(2 * (a & b).sum() / max(1, a.sum() + b.sum()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--npz", type=Path, default=None, help="read the scans exported by --export")
    parser.add_argument("--export", type=Path, default=None, help="write the scans as .npz.xz and stop")
    parser.add_argument("--out", type=Path, default=Path("bench/results/second_read_study"))
    parser.add_argument("--parts", nargs="*", default=["agreement", "timing", "numerics", "realism"])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--budget-s", type=float, default=1e9, help="stop starting realism cases after this")
    args = parser.parse_args()
    if args.export:
        export(args.export)
        return 0
    import torch

    from inference.readers.blast_ct import segment
    from inference.results import Acceptance

    import importlib.util

    if importlib.util.find_spec("SimpleITK") is None:
        _use_scipy_components()
    t_start = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu", "torch": torch.__version__}

    def dump() -> None:
        (args.out / "study.json").write_text(json.dumps(report, indent=1))

    accept = Acceptance(True)
    vols = {n: load(n, args.npz) for n in SCANS}
    reader = segment.SecondReader.load(models=12, device=args.device, threads=args.threads)
    exact: dict[str, np.ndarray] = {}
    if "agreement" in args.parts:
        report["agreement"] = {}
        for n in SCANS:
            t = time.time()
            res = reader.segment_ensembles(vols[n][0], (1, 3, 12), acceptance=accept)
            row = {str(k): _summary(r) for k, r in res.items()}
            for a, b in ((1, 3), (1, 12), (3, 12)):
                row[f"voxel_agreement_{a}_vs_{b}"] = float((res[a].labels == res[b].labels).mean())
                row[f"lesion_dice_{a}_vs_{b}"] = _dice(res[a].labels, res[b].labels)
            row["seconds_12_pass"] = round(time.time() - t, 2)
            report["agreement"][n] = row
            exact.update({f"{n}__{k}": r.labels for k, r in res.items()})
            dump()
            print(n, json.dumps(row)[:400], flush=True)
        np.savez_compressed(args.out / "labels.npz", **exact)
    if "timing" in args.parts:
        report["timing"] = {}
        for m in (1, 3, 12):
            r = segment.SecondReader.load(models=m, device=args.device, threads=args.threads)
            for n in SCANS:
                if args.device == "cuda":
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                t = time.time()
                r.segment(vols[n][0], acceptance=accept)
                row = {"seconds": round(time.time() - t, 2)}
                if args.device == "cuda":
                    row["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
                report["timing"][f"{n}__{m}"] = row
            dump()
    if "numerics" in args.parts and args.device == "cuda" and exact:
        report["numerics"] = {}
        saved = segment._exact_cuda
        segment._exact_cuda = lambda device: contextlib.nullcontext()  # noqa: ARG005
        flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        for mode in ("tf32", "bf16"):
            for n in SCANS[:2]:
                ctx = torch.autocast("cuda", dtype=torch.bfloat16) if mode == "bf16" else contextlib.nullcontext()
                with ctx:
                    res = reader.segment_ensembles(vols[n][0], (1, 12), acceptance=accept)
                for k in (1, 12):
                    ref = exact[f"{n}__{k}"]
                    report["numerics"][f"{mode}__{n}__{k}"] = {
                        "voxels_changed": int((res[k].labels != ref).sum()),
                        "lesion_voxels_exact": int((ref > 0).sum()), "lesion_voxels": int((res[k].labels > 0).sum())}
        segment._exact_cuda = saved
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
        dump()
    if "realism" in args.parts:
        from inference.labels import SUBTYPES
        from inference.readers.blast_ct.results import LESION_CLASSES
        from inference.training.datasets.backgrounds import SPLITS, Background, BackgroundSplit
        from inference.training.datasets.insertion import insert_bleeds

        report.setdefault("realism", [])
        for seed in args.seeds:
            for name in BACKGROUNDS:
                volume, k0 = vols[name]
                sp = SPLITS[name]

                def shift(r: tuple[int, int], k0: int = k0) -> tuple[int, int]:
                    return (r[0] - k0, r[1] - k0)

                thick = float(np.median([t for t in volume.slice_thickness_mm if t]))
                bg = Background(name, volume.hu, np.asarray(volume.positions_mm), volume.pixel_spacing_mm, thick,
                                BackgroundSplit(name, shift(sp.brain_range), shift(sp.heldout_range), shift(sp.skull_base_range)))
                for size in SIZES:
                    for sub in SUBTYPES:
                        if time.time() - t_start > args.budget_s:
                            continue
                        rng = np.random.default_rng(1000 * seed + int(size * 100) + SUBTYPES.index(sub))
                        ins = insert_bleeds(bg, rng, (sub,), size=size)
                        occ = ins.occupancy[sub] >= 0.5
                        if not occ.any():
                            continue
                        res = reader.segment_ensembles(replace(volume, hu=ins.hu), (1, 3, 12), acceptance=accept)
                        row = {"bg": name, "subtype": sub, "size": size, "seed": seed,
                               "inserted_ml": round(ins.volume_ml(sub), 2)}
                        for k, r in res.items():
                            counts = np.bincount(r.labels[occ], minlength=5)
                            blood = [c for c in r.components if c.label in ("IPH", "EAH", "IVH")]
                            row[str(k)] = {
                                "blood_in_bleed_frac": round(float((np.isin(r.labels, (1, 2, 4)) & occ).sum() / occ.sum()), 3),
                                "majority_class": LESION_CLASSES[int(np.argmax(counts[1:]))] if counts[1:].sum() else "none",
                                "expected_class": EXPECTED[sub],
                                "blood_ml_total": round(sum(c.volume_ml for c in blood), 2),
                                "blood_components_ge1": sum(c.volume_ml >= 1.0 for c in blood)}
                        report["realism"].append(row)
                        dump()
                        print(row, flush=True)
    report["wall_s"] = round(time.time() - t_start, 1)
    dump()
    return 0


if __name__ == "__main__":
    sys.exit(main())
