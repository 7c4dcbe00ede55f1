"""Synthetic head CT studies: anatomy + bleeds + scanner -> HU volume, labels, masks, DICOM.

`make_study` renders an axial (optionally gantry-tilted) study in the core's canonical orientation
(viewer/core/volume.py: columns patient right -> left, rows anterior -> posterior, slices inferior
-> superior). `write_study(study, out_dir)` writes

    out_dir/dicom/IM0001.dcm ...        the CT series (open this folder)
    out_dir/ground_truth/labels.csv     one row per slice: sop_instance_uid, index, file, and the
                                        six labels (RSNA order, inference/labels.py), 0/1
    out_dir/ground_truth/masks.npz      one boolean array (n_slices, rows, cols) per subtype, in
                                        the canonical orientation = file order, plus
                                        `sop_instance_uids`
    out_dir/ground_truth/study.json     seed, head / scanner / lesion parameters, geometry

and returns the DICOM folder. The ground truth is kept out of the DICOM folder so a scan of that
folder sees only the series (a scan of out_dir skips the ground-truth files as non-DICOM).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from inference.labels import LABELS, SUBTYPES
from inference.synth.anatomy import HeadModel, HeadParams, Plane, random_head_params
from inference.synth.dicom_writer import UID_ROOT, SeriesSpec, tilted_iop, write_series
from inference.synth.lesions import (
    LabelRule,
    Lesion,
    LesionSpec,
    apply_lesions,
    labels_from_masks,
    random_lesion,
    random_lesions,
)
from inference.synth.scanner import KERNEL_NAMES, ScannerParams, acquire, resample, slab_offsets

# Local z range covered by default: just below the foramen magnum to just above the vertex.
DEFAULT_Z_RANGE_MM = (-78.0, 70.0)


@dataclass(frozen=True, eq=False)
class SyntheticStudy:
    """A rendered study. Arrays are in the canonical orientation (see module docstring)."""

    hu: np.ndarray  # (n, rows, cols) int16
    spacing_mm: tuple[float, float, float]  # (between slices along the normal, rows, cols)
    positions_mm: np.ndarray  # (n, 3) ImagePositionPatient (LPS) of each slice
    iop: tuple[float, float, float, float, float, float]
    slice_thickness_mm: float
    tilt_deg: float
    labels: np.ndarray  # (n, 6) float32, RSNA order (inference.labels.LABELS)
    masks: dict[str, np.ndarray]  # subtype -> (n, rows, cols) bool
    lesions: tuple[LesionSpec, ...]
    head: HeadParams
    scanner: ScannerParams
    seed: int
    series: SeriesSpec

    @property
    def n_slices(self) -> int:
        return int(self.hu.shape[0])


def _resolve_lesions(
    rng: np.random.Generator, lesions: str | Sequence[LesionSpec | str] | None, size: str | float, age: float | None
) -> list[LesionSpec]:
    if lesions is None:
        return []
    if isinstance(lesions, str):
        if lesions == "random":
            return random_lesions(rng, size=size, age=age)
        if lesions == "none":
            return []
        lesions = [lesions]
    out: list[LesionSpec] = []
    for item in lesions:
        out.append(item if isinstance(item, LesionSpec) else random_lesion(rng, item, size=size, age=age))
    return out


def make_study(
    seed: int,
    *,
    slice_thickness_mm: float = 5.0,
    slice_spacing_mm: float | None = None,
    lesions: str | Sequence[LesionSpec | str] | None = "random",
    lesion_size: str | float = "any",
    lesion_age: float | None = None,
    tilt_deg: float = 0.0,
    noise: float = 1.0,
    kernel: str = "soft",
    streaks_hu: float = 0.0,
    matrix: int = 512,
    fov_mm: float = 250.0,
    head: HeadParams | str = "random",
    z_range_mm: tuple[float, float] = DEFAULT_Z_RANGE_MM,
    render_pixel_mm: float = 0.95,
    label_rule: LabelRule = LabelRule(),
    series: SeriesSpec | None = None,
) -> SyntheticStudy:
    """Render a synthetic head CT study, deterministic from `seed`.

    Knobs: `slice_thickness_mm` (slab averaged over sub-planes every <= 1.6 mm), `slice_spacing_mm`
    (default = thickness), `lesions` ("random", None / "none", or a list of LesionSpec or subtype
    names), `lesion_size` ("tiny" / "small" / "medium" / "large" / "any" / 0..1), `lesion_age` (0
    acute dense .. 1 older, 50 HU), `tilt_deg` (gantry tilt: tilted planes, table along z),
    `noise` (multiplies the default 4.5 HU sigma at 5 mm), `kernel` (soft / standard / sharp /
    bone), `streaks_hu`, `matrix` and `fov_mm` (pixel = fov / matrix), `head` ("random",
    "default" or HeadParams), `z_range_mm` (local head z covered: -78 foramen magnum .. +70 above
    the vertex), `render_pixel_mm` (the object is rendered at about this pixel, then resampled).
    """
    rng = np.random.default_rng(seed)
    if isinstance(head, HeadParams):
        hp = head
    elif head == "default":
        hp = HeadParams(seed=seed)
    else:
        hp = random_head_params(rng)
    model = HeadModel(hp)
    specs = _resolve_lesions(rng, lesions, lesion_size, lesion_age)
    bound = [Lesion(s, model) for s in specs]
    scanner = ScannerParams(noise_hu=4.5 * noise, kernel=kernel, streaks_hu=streaks_hu)
    step = slice_spacing_mm or slice_thickness_mm
    t = np.deg2rad(tilt_deg)
    iop = tilted_iop(tilt_deg) if tilt_deg else (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    row_dir = np.array(iop[3:])  # +r (rows) direction
    col_dir = np.array(iop[:3])  # +c (columns) direction
    normal = np.cross(col_dir, row_dir)
    px = fov_mm / matrix
    # Local head z range -> patient z: the head centre z is hp.center_mm[2].
    z_lo, z_hi = z_range_mm
    zc0 = hp.center_mm[2]
    n = max(1, int(np.floor((z_hi - z_lo) / step)) + 1)
    # Table positions advance along z by `step` (with tilt the slices are then step * cos(tilt)
    # apart along the normal, as on a real tilted scanner); planes are centred on x = y = 0.
    centers = np.array([[0.0, 0.0, zc0 + z_lo + k * step] for k in range(n)])
    half = (matrix - 1) / 2.0 * px
    ipp = centers - half * col_dir[None, :] - half * row_dir[None, :]
    # The object is rendered on a coarser grid (speed) and resampled to the matrix.
    factor = max(1, int(round(render_pixel_mm / px)))
    rm = int(np.ceil(matrix / factor))
    rpx = px * matrix / rm
    offsets = slab_offsets(slice_thickness_mm)
    hu = np.empty((n, matrix, matrix), np.int16)
    occ_all = {s: np.zeros((n, matrix, matrix), np.float32) for s in SUBTYPES} if bound else {}
    masks = {s: np.zeros((n, matrix, matrix), bool) for s in SUBTYPES}
    for k in range(n):
        r_origin = centers[k] - (rm - 1) / 2.0 * rpx * (col_dir + row_dir)
        acc = np.zeros((rm, rm), np.float32)
        occ_acc = {s: np.zeros((rm, rm), np.float32) for s in SUBTYPES} if bound else {}
        for off in offsets:
            plane = Plane(r_origin + off * normal, row_dir * rpx, col_dir * rpx, rm, rm)
            pt = model.render_plane(plane)
            if bound:
                occ = apply_lesions(pt, bound)
                for s in SUBTYPES:
                    occ_acc[s] += occ[s]
            acc += pt.hu
        acc /= len(offsets)
        obj = resample(acc, matrix, matrix)
        img = acquire(obj, (px, px), slice_thickness_mm, scanner, rng)
        hu[k] = np.clip(np.rint(img), -1024, 3071).astype(np.int16)
        for s in occ_acc:
            if occ_acc[s].any():
                o = resample(occ_acc[s] / len(offsets), matrix, matrix)
                occ_all[s][k] = o
                masks[s][k] = o >= label_rule.mask_threshold
    labels = labels_from_masks(masks, px * px, label_rule)
    # UIDs depend on everything that changes the pixels, so different studies never share UIDs.
    fingerprint = repr((seed, slice_thickness_mm, step, tilt_deg, noise, kernel, streaks_hu, matrix, fov_mm,
                        z_range_mm, render_pixel_mm, hp, specs))
    spec = series or SeriesSpec(
        patient_name=f"SYNTHETIC^HEAD^{seed}",
        patient_id=f"SYN-{seed:06d}",
        uid_seed=f"study-{hashlib.sha256(fingerprint.encode()).hexdigest()[:24]}",
        series_description=f"SYNTHETIC HEAD {slice_thickness_mm:g}mm{' TILT' if tilt_deg else ''}",
        study_description="SYNTHETIC HEAD CT (not a patient)",
        pixel_spacing_mm=(px, px),
        slice_thickness_mm=slice_thickness_mm,
        convolution_kernel=KERNEL_NAMES.get(kernel, kernel),
    )
    spec = replace(
        spec,
        pixel_spacing_mm=(px, px),
        slice_thickness_mm=slice_thickness_mm,
        image_orientation=tuple(float(v) for v in iop),
        gantry_tilt_deg=float(tilt_deg),
        image_positions_mm=tuple(tuple(float(v) for v in p) for p in ipp),
    )
    return SyntheticStudy(
        hu=hu,
        spacing_mm=(float(step * np.cos(t)), px, px),
        positions_mm=ipp,
        iop=tuple(float(v) for v in iop),  # type: ignore[arg-type]
        slice_thickness_mm=float(slice_thickness_mm),
        tilt_deg=float(tilt_deg),
        labels=labels,
        masks=masks,
        lesions=tuple(specs),
        head=hp,
        scanner=scanner,
        seed=seed,
        series=spec,
    )


def _atomic_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_study(study: SyntheticStudy, out_dir: Path | str) -> Path:
    """Write the series to `out_dir/dicom/` and the ground truth to `out_dir/ground_truth/`
    (labels.csv, masks.npz, study.json); return the DICOM folder."""
    out = Path(out_dir)
    dicom_dir = out / "dicom"
    gt_dir = out / "ground_truth"
    gt_dir.mkdir(parents=True, exist_ok=True)
    paths = write_series(study.hu, dicom_dir, study.series)
    import pydicom

    uids = [str(pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID) for p in paths]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sop_instance_uid", "index", "file", *LABELS])
    for i, (uid, p) in enumerate(zip(uids, paths)):
        w.writerow([uid, i, f"dicom/{p.name}", *[int(v) for v in study.labels[i]]])
    _atomic_bytes(gt_dir / "labels.csv", buf.getvalue().encode())
    npz = io.BytesIO()
    np.savez_compressed(npz, sop_instance_uids=np.array(uids), **study.masks)
    _atomic_bytes(gt_dir / "masks.npz", npz.getvalue())
    meta = {
        "what": "synthetic head CT generated by ichview (not a patient)",
        "uid_root": UID_ROOT,
        "seed": study.seed,
        "n_slices": study.n_slices,
        "spacing_mm": study.spacing_mm,
        "slice_thickness_mm": study.slice_thickness_mm,
        "tilt_deg": study.tilt_deg,
        "iop": study.iop,
        "orientation": "canonical axial: columns right->left, rows anterior->posterior, slices inferior->superior",
        "labels": list(LABELS),
        "lesions": [asdict(s) for s in study.lesions],
        "head": asdict(study.head),
        "scanner": asdict(study.scanner),
    }
    _atomic_bytes(gt_dir / "study.json", json.dumps(meta, indent=2, default=float).encode())
    return dicom_dir


def read_labels(ground_truth_dir: Path | str) -> tuple[list[str], np.ndarray]:
    """(SOPInstanceUIDs, labels (n, 6)) from a written `labels.csv`."""
    with open(Path(ground_truth_dir) / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["sop_instance_uid"] for r in rows], np.array([[float(r[k]) for k in LABELS] for r in rows], np.float32)
