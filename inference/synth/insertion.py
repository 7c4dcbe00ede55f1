"""Insert the bleed models into real, normal-looking head CT backgrounds.

Backgrounds are read with pydicom directly (sorted by position along the slice normal, turned into
the canonical orientation: columns right -> left, rows anterior -> posterior, slices inferior ->
superior). Per slice the skull and the intracranial space are found by thresholding: bone > 300 HU;
intracranial = non-bone soft-tissue pixels enclosed by bone in all four directions, opened to cut
leaks; the depth below the inner table comes from repeated erosion (an octagonal distance).

Bleeds are 3-D in mm (they span neighbouring slices consistently) and placed plausibly:
epidural lens / subdural crescent against the inner table (a subdural stays on its side of the
midline), intraparenchymal blob in parenchyma away from the surface (optional edema rim),
intraventricular in CSF-density regions near the midline deep to the surface (dependent layering
toward posterior, or a cast), subarachnoid in CSF-density pixels in sulci near a surface point.
Blending keeps the background's own noise: new = hu + occupancy * (blood - local mean), with soft
(partial-volume) edges.

Never use ge_head_ct_tilted here: it is the real negative test.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from inference.labels import LABELS, SUBTYPES
from inference.synth.lesions import LabelRule, random_lesion

FORBIDDEN_BACKGROUNDS = ("ge_head_ct_tilted",)
BONE_HU = 300.0


class BackgroundError(ValueError):
    """A folder that cannot be used as a background (names the folder and the fix)."""


@dataclass(eq=False)
class Background:
    """A real head CT volume in the canonical orientation, with per-slice anatomy found on demand."""

    name: str
    hu: np.ndarray  # (n, rows, cols) float32
    pixel_mm: tuple[float, float]  # (between rows, between columns)
    positions_mm: np.ndarray  # (n,) along the slice normal, ascending (inferior -> superior)
    thickness_mm: float
    _cache: dict[int, SliceAnatomy] = field(default_factory=dict, repr=False)

    @property
    def n_slices(self) -> int:
        return int(self.hu.shape[0])

    def anatomy(self, k: int) -> SliceAnatomy:
        if k not in self._cache:
            self._cache[k] = analyse_slice(self.hu[k], self.pixel_mm)
        return self._cache[k]

    def brain_slices(self, *, min_area_mm2: float = 6000.0, min_enclosure: float = 0.6) -> list[int]:
        """Slices whose intracranial area is at least `min_area_mm2` and whose intracranial space is
        mostly ringed by bone (supratentorial / posterior fossa sections, not the face)."""
        px = self.pixel_mm[0] * self.pixel_mm[1]
        out = []
        for k in range(self.n_slices):
            a = self.anatomy(k)
            if a.intracranial.sum() * px >= min_area_mm2 and a.enclosure >= min_enclosure:
                out.append(k)
        return out


@dataclass(frozen=True, eq=False)
class SliceAnatomy:
    intracranial: np.ndarray  # bool
    depth_mm: np.ndarray  # float32, depth below the inner table (0 outside)
    local_mean_hu: np.ndarray  # float32, ~2.5 mm box mean
    inner_table: np.ndarray  # bool, intracranial pixels within ~3 mm of bone
    csf: np.ndarray  # bool, CSF-density intracranial pixels
    ventricles: np.ndarray  # bool, CSF-density pixels deep and near the midline
    parenchyma: np.ndarray  # bool
    midline_col: float
    enclosure: float  # fraction of the intracranial boundary lying against bone (a skull ring ~1)


def load_background(folder: Path | str) -> Background:
    """Read an axial head CT series (one folder of single-slice DICOM files) with pydicom."""
    folder = Path(folder)
    if folder.name in FORBIDDEN_BACKGROUNDS:
        raise BackgroundError(f"{folder}: this series is the real negative test set; never insert into it")
    dss = []
    for p in sorted(folder.iterdir()):
        if not p.is_file():
            continue
        try:
            ds = pydicom.dcmread(p)
        except Exception:  # noqa: BLE001 - non-DICOM files in the folder are ignored
            continue
        if "PixelData" in ds and "ImagePositionPatient" in ds:
            dss.append(ds)
    if not dss:
        raise BackgroundError(f"{folder}: no DICOM images with positions (pass a folder of CT slices)")
    iop = np.array([float(v) for v in dss[0].ImageOrientationPatient])
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    if abs(normal[2]) < 0.8:
        raise BackgroundError(f"{folder}: not an axial series (normal {normal.round(2)})")
    pos = np.array([np.dot(normal, [float(v) for v in d.ImagePositionPatient]) for d in dss])
    sign = 1.0 if normal[2] > 0 else -1.0
    order = np.argsort(sign * pos)
    hu = np.stack([
        dss[i].pixel_array.astype(np.float32) * float(dss[i].get("RescaleSlope", 1)) + float(dss[i].get("RescaleIntercept", 0))
        for i in order
    ])
    spacing = [float(v) for v in dss[0].PixelSpacing]
    r, c = np.rint(row).astype(int), np.rint(col).astype(int)
    if abs(r[1]) == 1:
        hu = hu.transpose(0, 2, 1)
        r, c = c, r
        spacing = spacing[::-1]
    if r[0] < 0:
        hu = hu[:, :, ::-1]
    if c[1] < 0:
        hu = hu[:, ::-1, :]
    hu = np.maximum(hu, -1024.0)
    return Background(
        name=folder.name,
        hu=np.ascontiguousarray(hu),
        pixel_mm=(spacing[0], spacing[1]),
        positions_mm=np.sort(sign * pos),  # along the superior-pointing normal
        thickness_mm=float(dss[0].get("SliceThickness", 0) or 0),
    )


# ---- image helpers (numpy only) -----------------------------------------------------------
def box_mean(img: np.ndarray, k: int) -> np.ndarray:
    """Mean over a (2k+1)^2 box (edges replicated), via an integral image."""
    p = np.pad(img.astype(np.float64), k + 1, mode="edge")
    s = p.cumsum(0).cumsum(1)
    n = 2 * k + 1
    out = s[n:, n:] - s[:-n, n:] - s[n:, :-n] + s[:-n, :-n]
    return (out[: img.shape[0], : img.shape[1]] / (n * n)).astype(np.float32)


def erode(mask: np.ndarray, diagonal: bool = False) -> np.ndarray:
    m = np.pad(mask, 1, constant_values=False)
    out = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    if diagonal:
        out &= m[:-2, :-2] & m[:-2, 2:] & m[2:, :-2] & m[2:, 2:]
    return out


def dilate(mask: np.ndarray) -> np.ndarray:
    """4-neighbour binary dilation (nothing grows in from outside the image)."""
    m = np.pad(mask, 1, constant_values=False)
    return m[1:-1, 1:-1] | m[:-2, 1:-1] | m[2:, 1:-1] | m[1:-1, :-2] | m[1:-1, 2:]


def depth_map(mask: np.ndarray, pixel_mm: float, max_mm: float = 40.0) -> np.ndarray:
    """Approximate distance (mm) from each mask pixel to the mask's edge (octagonal metric)."""
    depth = np.zeros(mask.shape, np.float32)
    cur = mask.copy()
    n = int(max_mm / pixel_mm)
    for i in range(n):
        if not cur.any():
            break
        depth[cur] += 1.0
        cur = erode(cur, diagonal=bool(i % 2))
    depth[cur] = n
    return depth * np.float32(pixel_mm)


def analyse_slice(hu: np.ndarray, pixel_mm: tuple[float, float]) -> SliceAnatomy:
    """Skull, intracranial space, depth below the inner table, CSF and ventricles of one slice."""
    px = float(np.sqrt(pixel_mm[0] * pixel_mm[1]))
    k = max(1, int(round(1.2 / px)))
    mean = box_mean(hu, k)
    bone = hu > BONE_HU

    def bracketed(m: np.ndarray) -> np.ndarray:
        """How many of the four directions (left, right, up, down) meet `m` from each pixel."""
        return (
            np.maximum.accumulate(m, axis=1).astype(np.int8)
            + np.maximum.accumulate(m[:, ::-1], axis=1)[:, ::-1]
            + np.maximum.accumulate(m, axis=0)
            + np.maximum.accumulate(m[::-1], axis=0)[::-1]
        )

    # The scalp zone: head pixels within ~6 mm of the outside air (excluded, so a skull defect
    # such as a craniotomy does not let the intracranial mask leak into the scalp).
    head = bracketed(mean > -300) == 4
    scalp_zone = head & (depth_map(head, px, max_mm=6.5) < 6.0)
    soft = (mean > -30) & (mean < 110) & ~dilate(bone)
    inside = (bracketed(bone) >= 3) & soft & ~scalp_zone
    # Open with a ~3 mm element to cut leaks through foramina / gaps.
    r = max(1, int(round(3.0 / px)))
    opened = inside.copy()
    for _ in range(r):
        opened = erode(opened)
    for _ in range(r):
        opened = dilate(opened)
    intracranial = opened & inside
    depth = depth_map(intracranial, px)
    cols = np.nonzero(intracranial.any(axis=0))[0]
    mid = float(np.average(np.arange(hu.shape[1]), weights=intracranial.sum(axis=0))) if cols.size else hu.shape[1] / 2
    fine = box_mean(hu, max(1, int(round(1.0 / px))))
    csf = dilate(erode(intracranial & (fine < 15.0) & (fine > -15.0) & (depth > 1.0)))
    x_mm = (np.arange(hu.shape[1]) - mid)[None, :] * pixel_mm[1]
    ventricles = dilate(erode(intracranial & (mean < 16.0) & (depth > 15.0) & (np.abs(x_mm) < 24.0)))
    parenchyma = intracranial & (mean > 18.0) & (mean < 50.0) & (depth > 3.0)
    near_bone = bone.copy()
    for _ in range(max(2, int(round(3.0 / px)))):
        near_bone = dilate(near_bone)
    inner_table = intracranial & near_bone & (depth < 2.0)
    boundary = intracranial & ~erode(intracranial)
    enclosure = float((boundary & near_bone).sum() / max(int(boundary.sum()), 1))
    return SliceAnatomy(intracranial, depth, mean, inner_table, csf, ventricles, parenchyma, mid, enclosure)


# ---- insertion ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class InsertedSlab:
    """Slices of a background with bleeds inserted (a window of the volume around the bleeds)."""

    hu: np.ndarray  # (m, rows, cols) float32 (round / clip before writing)
    slice_indices: tuple[int, ...]  # indices of these slices in the background
    masks: dict[str, np.ndarray]  # subtype -> (m, rows, cols) bool (occupancy >= threshold)
    labels: np.ndarray  # (m, 6) float32 in RSNA order
    lesions: tuple[dict, ...]  # what was inserted (subtype, centre slice, size, HU, ...)
    pixel_mm: tuple[float, float]
    occupancy: dict[str, np.ndarray] = field(default_factory=dict)  # subtype -> (m, rows, cols) 0..1


def _soft(signed: np.ndarray, edge: float) -> np.ndarray:
    return np.clip(0.5 + signed / (2 * edge), 0.0, 1.0).astype(np.float32)


def _pick(rng: np.random.Generator, mask: np.ndarray, weights: np.ndarray | None = None) -> tuple[int, int] | None:
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None
    if weights is not None:
        w = weights.ravel()[idx].astype(np.float64)
        w = w / w.sum() if w.sum() > 0 else None
        i = int(rng.choice(idx, p=w))
    else:
        i = int(rng.choice(idx))
    return divmod(i, mask.shape[1])


def insert_lesions(
    bg: Background,
    rng: np.random.Generator,
    *,
    lesions: list[str] | str = "random",
    size: str | float = "any",
    age: float | None = None,
    center_slice: int | None = None,
    half_window: int | None = None,
    label_rule: LabelRule = LabelRule(),
) -> InsertedSlab:
    """Insert bleeds of the given subtypes around `center_slice` (random brain slice by default).

    Returns the window of slices the bleeds can reach (or `center_slice +- half_window`).
    `size` / `age` as in lesions.random_lesion (the same size scale and density model).
    """
    brain = bg.brain_slices()
    if not brain:
        raise BackgroundError(f"{bg.name}: no slice with a large enough intracranial area")
    if isinstance(lesions, str):
        lesions = [str(s) for s in rng.choice(SUBTYPES, size=int(rng.integers(1, 3)), replace=False)] if lesions == "random" else [lesions]
    k0 = int(center_slice if center_slice is not None else rng.choice(brain))
    spacing = float(np.median(np.diff(bg.positions_mm))) if bg.n_slices > 1 else 5.0
    hw = half_window if half_window is not None else int(np.ceil(30.0 / max(spacing, 0.5)))
    if "intraventricular" in lesions and center_slice is None:
        # Centre on the slice with the largest ventricles (within the brain slices).
        k0 = max(brain, key=lambda k: int(bg.anatomy(k).ventricles.sum()))
        k0 = int(np.clip(k0 + rng.integers(-2, 3), 0, bg.n_slices - 1))
    ks = [k for k in range(k0 - hw, k0 + hw + 1) if 0 <= k < bg.n_slices]
    rows, cols = bg.hu.shape[1:]
    pr, pc = bg.pixel_mm
    rr = (np.arange(rows, dtype=np.float32) * pr)[:, None]
    cc = (np.arange(cols, dtype=np.float32) * pc)[None, :]
    out = bg.hu[ks].copy()
    occ_by = {s: np.zeros((len(ks), rows, cols), np.float32) for s in SUBTYPES}
    info: list[dict] = []
    a0 = bg.anatomy(k0)
    z0 = float(bg.positions_mm[k0])
    for subtype in lesions:
        spec = random_lesion(rng, subtype, size=size, age=age)  # size / density model
        hu_blood = spec.hu
        side = 1.0 if rng.random() < 0.5 else -1.0
        if subtype in ("epidural", "subdural"):
            lateral = ((cc / pc - a0.midline_col) * side) > 15.0 / pc
            p0 = _pick(rng, a0.inner_table & lateral)
            reach = min(spec.size_mm, 35.0) if subtype == "epidural" else min(spec.size_mm, 90.0)
            thick = spec.thickness_mm
            extent = reach
        elif subtype == "intraparenchymal":
            radius = min(spec.size_mm, 25.0)
            lobes = (float(rng.uniform(0.0, 0.15)), float(rng.uniform(0, 6.3)), float(rng.uniform(0.0, 0.1)), float(rng.uniform(0, 6.3)))
            p0 = _pick(rng, a0.parenchyma & (a0.depth_mm > max(8.0, radius * 0.8)))
            extent = radius * spec.axes[2] * 1.4 + spec.edema_mm + 2.0
        elif subtype == "intraventricular":
            p0 = _pick(rng, a0.ventricles)
            extent = 25.0
        else:  # subarachnoid
            p0 = _pick(rng, a0.csf & (a0.depth_mm < 20.0) & ~a0.ventricles)
            extent = 1.2 * spec.size_mm
        if p0 is None:
            continue
        occ_all = np.zeros((len(ks), rows, cols), np.float32)
        vent_level = None
        if subtype == "intraventricular" and spec.mode == "layer":
            near = [k for k in ks if abs(float(bg.positions_mm[k]) - z0) < 15.0]
            vent_rows = np.nonzero(np.any([bg.anatomy(k).ventricles.any(axis=1) for k in near], axis=0))[0]
            vent_level = vent_rows.max() * pr - spec.thickness_mm - 3.0
        for j, k in enumerate(ks):
            dz = float(bg.positions_mm[k]) - z0
            if abs(dz) > extent:
                continue
            a = bg.anatomy(k)
            if subtype in ("epidural", "subdural"):
                d2 = (rr - p0[0] * pr) ** 2 + (cc - p0[1] * pc) ** 2 - a.depth_mm**2 + dz * dz
                prof = np.clip(1.0 - d2 / reach**2, 0.0, None)
                if subtype == "subdural":
                    prof = prof**0.35
                    keep = ((cc / pc - a.midline_col) * side) > 1.0 / pc  # stays on its side of the falx
                else:
                    keep = np.ones(prof.shape, bool)
                occ = _soft(thick * prof - a.depth_mm, 0.6) * (prof > 0) * a.intracranial * keep
            elif subtype == "intraparenchymal":
                dy, dx = rr - p0[0] * pr, cc - p0[1] * pc
                dist = np.sqrt(dy**2 / spec.axes[1] ** 2 + dx**2 / spec.axes[0] ** 2 + dz * dz / spec.axes[2] ** 2)
                theta = np.arctan2(dy, dx)
                lobed = radius * (1.0 + lobes[0] * np.cos(2 * theta + lobes[1]) + lobes[2] * np.cos(3 * theta + lobes[3]))
                occ = _soft(lobed - dist, 0.6) * a.intracranial
                if spec.edema_mm > 0:
                    rim = _soft(radius + spec.edema_mm - dist, 1.5) * (1 - occ) * a.parenchyma
                    out[j] -= rim * np.float32(10.0)
            elif subtype == "intraventricular":
                if vent_level is not None:
                    occ = a.ventricles * _soft(rr - vent_level, 0.6)
                else:
                    dist = np.sqrt((rr - p0[0] * pr) ** 2 + (cc - p0[1] * pc) ** 2 + dz * dz)
                    occ = a.ventricles * _soft(min(spec.size_mm + 5.0, 30.0) - dist, 0.6)
            else:
                dist = np.sqrt((rr - p0[0] * pr) ** 2 + (cc - p0[1] * pc) ** 2 + dz * dz)
                occ = a.csf * ~a.ventricles * _soft(spec.size_mm - dist, 2.0)
            occ = occ.astype(np.float32)
            if occ.any():
                occ_all[j] = box_mean(occ, 1)
        if not occ_all.any():
            continue
        for j, k in enumerate(ks):
            occ = occ_all[j]
            if occ.any():
                lm = bg.anatomy(k).local_mean_hu
                blood = np.float32(hu_blood) + np.float32(spec.heterogeneity_hu) * _clot_texture(rng, occ.shape)
                out[j] += occ * (blood - lm)
        occ_by[subtype] = np.maximum(occ_by[subtype], occ_all)
        info.append({"subtype": subtype, "center_slice": k0, "center_rc": (int(p0[0]), int(p0[1])),
                     "size_mm": float(spec.size_mm), "hu": float(hu_blood),
                     "thickness_mm": float(spec.thickness_mm), "mode": spec.mode})
    masks = {s: occ_by[s] >= label_rule.mask_threshold for s in SUBTYPES}
    labels = np.zeros((len(ks), len(LABELS)), np.float32)
    for jj, s in enumerate(SUBTYPES, start=1):
        labels[:, jj] = masks[s].reshape(len(ks), -1).sum(axis=1) * pr * pc >= label_rule.min_area_mm2
    labels[:, 0] = labels[:, 1:].max(axis=1)
    return InsertedSlab(out, tuple(ks), masks, labels, tuple(info), bg.pixel_mm, occ_by)


def _clot_texture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Smooth unit-variance texture (clot heterogeneity)."""
    t = box_mean(rng.standard_normal(shape).astype(np.float32), 3)
    return t / max(float(t.std()), 1e-6)


def default_backgrounds(real_root: Path | str) -> dict[str, Path]:
    """The real backgrounds usable for insertion under `real_root` (../shared/data/real)."""
    root = Path(real_root)
    return {n: root / n for n in ("invesalius_head_ct_0051", "cerr_head_neck_ct") if (root / n).is_dir()}
