"""`ichview demo [DIR]`: write a synthetic 5 mm head CT with a visible bleed, to try the viewer on.

DIR (default ~/.cache/ichview/demo-study) receives `dicom/` (the series: open DIR or DIR/dicom)
and `ground_truth/` (labels.csv, masks.npz, study.json; a scan of DIR lists these as skipped
non-DICOM files). The study is written into a temporary folder beside DIR and renamed into place,
so DIR is never left half-written. A DIR that exists, is not empty and is not a previous demo is
never touched.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

DEFAULT_DIR = Path("~/.cache/ichview/demo-study")
DEMO_MARKER_KEY = "ichview_demo"
DEMO_ENTRIES = {"dicom", "ground_truth"}


def is_previous_demo(folder: Path) -> bool:
    """Whether `folder` holds exactly what an earlier `ichview demo` wrote."""
    meta_path = folder / "ground_truth" / "study.json"
    try:
        names = {p.name for p in folder.iterdir()}
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    return names <= DEMO_ENTRIES and bool(meta.get(DEMO_MARKER_KEY))


def _demo_lesions() -> list:
    """A right convexity subdural and a small left putaminal hemorrhage (acute, clearly visible)."""
    from inference.synth.lesions import LesionSpec, surface_point

    import numpy as np

    direction = np.array([-np.cos(np.deg2rad(20)) * np.cos(np.deg2rad(10)), np.sin(np.deg2rad(10)), np.sin(np.deg2rad(20))])
    sdh_center = tuple(float(v) for v in surface_point(direction))
    return [
        LesionSpec("subdural", sdh_center, size_mm=60.0, thickness_mm=12.0, hu=76.0, heterogeneity_hu=4.0, seed=7),
        LesionSpec("intraparenchymal", (22.0, -2.0, 2.0), size_mm=7.5, hu=68.0, heterogeneity_hu=4.0,
                   edema_mm=3.0, axes=(0.9, 1.2, 1.0), seed=8),
    ]


def write_demo(target: Path, *, seed: int = 2026, matrix: int = 512) -> Path:
    """Write the demo study to `target` atomically; return `target`.

    Raises FileExistsError when `target` exists and is neither empty nor a previous demo.
    """
    from inference.synth.study import make_study, write_study

    target = target.expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} is a file; choose a folder for the demo study")
    if target.is_dir() and any(target.iterdir()) and not is_previous_demo(target):
        raise FileExistsError(
            f"{target} is not empty and is not a previous ichview demo; choose another folder "
            "(ichview demo OTHER_DIR) or empty this one yourself"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    study = make_study(seed, slice_thickness_mm=5.0, lesions=_demo_lesions(), head="default", matrix=matrix)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        write_study(study, tmp)
        meta_path = tmp / "ground_truth" / "study.json"
        meta = json.loads(meta_path.read_text())
        meta[DEMO_MARKER_KEY] = True
        meta_path.write_text(json.dumps(meta, indent=2))
        old: Path | None = None
        if target.exists():
            if any(target.iterdir()):
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
                os.rename(target, old / "study")
            else:
                target.rmdir()
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    """`ichview demo [DIR]`: write the demo study and say where it went. Exit 0, or 2 on refusal."""
    parser = argparse.ArgumentParser(prog="ichview demo", description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default=str(DEFAULT_DIR), help=f"target folder (default {DEFAULT_DIR})")
    parser.add_argument("--seed", type=int, default=2026, help="generator seed (default 2026)")
    parser.add_argument("--matrix", type=int, default=512, help="image matrix (default 512)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    target = Path(args.dir)
    try:
        out = write_demo(target, seed=args.seed, matrix=args.matrix)
    except FileExistsError as exc:
        print(f"ichview demo: {exc}", file=sys.stderr)
        return 2
    n = len(list((out / "dicom").iterdir()))
    print(f"Demo study written to {out}")
    print(f"  {n} slices, 5 mm, synthetic head CT with a right subdural and a small left basal-ganglia bleed")
    print(f"  DICOM: {out / 'dicom'}   ground truth: {out / 'ground_truth'}")
    print(f"  open it with: ichview {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
