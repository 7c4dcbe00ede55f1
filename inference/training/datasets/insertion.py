"""Hemorrhages and hard negatives inserted into real normal head CT slices, with domain randomisation.

One *episode* takes a few neighbouring target slices of a real background (`backgrounds.py`), the
source slices within their 2.5D context, and:

1. optionally pools pixels 2x (another pixel spacing) and mirrors left-right;
2. inserts 0-2 bleeds of the five RSNA subtypes, each a 3D shape in millimetres (through-plane
   partial volume from three samples per slice thickness, in-plane edge blur 0.3-1.2 mm, mean
   density 45-90 HU with texture) placed with a per-slice *cavity geometry* found from the
   pixels: the inner table of the skull along 720 rays from the cavity centre (depth below the
   inner table, arc length along it), cerebrospinal fluid (sulci, cisterns, ventricles):
   epidural = biconvex lens at the inner table; subdural = long thin crescent along it;
   intraparenchymal = irregular blob in the parenchyma (optional oedema rim); intraventricular =
   dependent (posterior) part of the ventricles; subarachnoid = sulcal / cisternal CSF near the
   surface or the basal cisterns;
3. adds hard negatives that are not labelled: calcifications (120-700 HU dots), a dense falx
   (+25..55 HU on the midline), beam-hardening streaks;
4. re-slices to a slice thickness drawn from the training thicknesses (averaging source slices),
   then adds correlated noise and a smoothing or sharpening kernel, a small HU offset, and rounds
   to integer HU as a scanner does.

Labels per target slice come from the resampled occupancy: positive when at least
`POSITIVE_AREA_MM2` of the slice is >= 25 % bleed; a slice with a trace below that is left out
(neither positive nor negative) rather than mislabelled. Masks (>= 30 % bleed) go to the CAM
metrics. No torch needed except for the blur (torch conv, fast on CPU).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from inference.training.datasets.backgrounds import CONTEXT_GUARD_MM, Background
from inference.labels import LABELS
from inference.training.datasets.cavity import N_RAYS, Cavity, cavity_geometry, gaussian_blur

SUBTYPE_INDEX = {name: i for i, name in enumerate(LABELS)}
POSITIVE_AREA_MM2 = 8.0
# Thicknesses (mm) of the re-sliced training series; the held-out set uses 3 and 7 mm only.
TRAIN_THICKNESSES_MM = (1.0, 1.5, 2.0, 2.5, 4.0, 5.0, 6.0)
HELDOUT_THICKNESSES_MM = (3.0, 7.0)
TRAIN_NOISE_MAX_HU = 10.0  # the held-out set uses 1.5x this
# Bleed size parameter u in [0, 1]: training draws from the inner range, the held-out set uses
# exactly 0 (the smallest bleed this generator makes) and 1 (the largest).
TRAIN_SIZE_RANGE = (0.06, 0.94)


@dataclass(frozen=True)
class Knobs:
    """Domain randomisation ranges for one set (training or held-out)."""

    thicknesses_mm: tuple[float, ...] = TRAIN_THICKNESSES_MM
    noise_hu: tuple[float, float] = (0.0, TRAIN_NOISE_MAX_HU)
    size_choices: tuple[float, ...] = ()  # fixed sizes (held-out); empty: uniform TRAIN_SIZE_RANGE
    p_bleed: float = 0.6
    p_second_bleed: float = 0.25
    p_calcification: float = 0.5
    p_dense_falx: float = 0.35
    p_streaks: float = 0.3
    p_pool2: float = 1.0  # pixels finer than 0.7 mm are pooled 2x (speed; ~1 mm like many scanners)
    subtypes: tuple[str, ...] = field(default=LABELS[1:])
    max_targets: int = 4


@dataclass(frozen=True, eq=False)
class Episode:
    """A re-sliced sub-volume with inserted bleeds and the targets to make samples from."""

    hu: np.ndarray  # (n, rows, cols) int16
    positions_mm: np.ndarray
    pixel_spacing_mm: tuple[float, float]
    targets: np.ndarray  # indices into hu
    labels: np.ndarray  # (len(targets), 6) float32
    masks: np.ndarray  # (len(targets), rows, cols) bool


@lru_cache(maxsize=512)
def _cavity_cached(name: str, index: int, pool: int, flip: bool) -> Cavity:
    from inference.training.datasets.backgrounds import load_background

    bg = load_background(name)
    return cavity_geometry(_prepare_slices(bg, np.array([index]), pool, flip)[0], _spacing(bg, pool))


def _spacing(bg: Background, pool: int) -> tuple[float, float]:
    return (bg.pixel_spacing_mm[0] * pool, bg.pixel_spacing_mm[1] * pool)


CROP_HALF_MM = 112.0


@lru_cache(maxsize=8)
def _crop_box(name: str) -> tuple[int, int, int, int]:
    """A fixed box of +- CROP_HALF_MM around the brain of a background (source pixels)."""
    from inference.training.datasets.backgrounds import load_background

    bg = load_background(name)
    b0, b1 = bg.split.brain_range
    soft = (bg.hu[b0 : b1 + 1] > -50) & (bg.hu[b0 : b1 + 1] < 120)
    rr, cc = np.nonzero(soft.any(axis=0))
    weights = soft.sum(axis=0)[rr, cc]
    cr, ccol = float(np.average(rr, weights=weights)), float(np.average(cc, weights=weights))
    hr, hc = CROP_HALF_MM / bg.pixel_spacing_mm[0], CROP_HALF_MM / bg.pixel_spacing_mm[1]
    rows, cols = bg.hu.shape[1:]
    return (max(0, int(cr - hr)), min(rows, int(cr + hr)), max(0, int(ccol - hc)), min(cols, int(ccol + hc)))


def _prepare_slices(bg: Background, idx: np.ndarray, pool: int, flip: bool) -> np.ndarray:
    r0, r1, c0, c1 = _crop_box(bg.name)
    hu = bg.hu[idx, r0:r1, c0:c1].astype(np.float32)
    if pool > 1:
        n, r, c = hu.shape
        r2, c2 = r // pool * pool, c // pool * pool
        hu = hu[:, :r2, :c2].reshape(n, r2 // pool, pool, c2 // pool, pool).mean(axis=(2, 4))
    if flip:
        hu = hu[:, :, ::-1]
    return np.ascontiguousarray(hu)


# ----------------------------------------------------------------------------- the lesions


def _angdiff(a: np.ndarray, b: float) -> np.ndarray:
    return (a - b + np.pi) % (2 * np.pi) - np.pi


@dataclass(frozen=True)
class Bleed:
    """One 3D bleed, in millimetres relative to each slice's cavity geometry."""

    subtype: str
    z0_mm: float
    half_height_mm: float
    angle: float  # where on the cavity it sits
    size: float  # u in [0, 1]
    density_hu: float
    texture_hu: float
    edge_blur_mm: float
    params: tuple[float, ...]  # subtype-specific (see `occupancy`)


def random_bleed(rng: np.random.Generator, subtype: str, z0_mm: float, size: float) -> Bleed:
    """A bleed of `subtype` centred at slice position `z0_mm`, size u in [0, 1]."""
    u = size
    if rng.random() < 0.12:
        density = rng.uniform(45.0, 55.0)  # older / anaemic: low contrast
    else:
        density = rng.uniform(55.0, 90.0)
    if subtype == "epidural":
        params = (5.0 + 25.0 * u, 15.0 + 35.0 * u)  # max thickness, half arc length
        hz = 8.0 + 27.0 * u
    elif subtype == "subdural":
        params = (2.5 + 17.5 * u, 30.0 + 80.0 * u)
        hz = 15.0 + 45.0 * u
    elif subtype == "intraparenchymal":
        a = 2.5 + 27.5 * u  # radius 2.5..30 mm
        params = (a, rng.uniform(0.7, 1.3), rng.uniform(10.0, 45.0), float(rng.random() < 0.4))  # radius, aspect, depth, oedema
        hz = a * rng.uniform(0.7, 1.3)
    elif subtype == "intraventricular":
        params = (0.15 + 0.85 * u,)  # filled fraction of the ventricle (dependent part)
        hz = 8.0 + 30.0 * u
    elif subtype == "subarachnoid":
        params = (8.0 + 42.0 * u, 6.0 + 14.0 * u, float(rng.random() < 0.3))  # half arc, depth, cisternal
        hz = 8.0 + 27.0 * u
        density = min(density, rng.uniform(50.0, 75.0))
    else:
        raise ValueError(f"unknown subtype {subtype!r}")
    return Bleed(
        subtype=subtype,
        z0_mm=float(z0_mm),
        half_height_mm=float(hz),
        angle=float(rng.uniform(-np.pi, np.pi)),
        size=float(u),
        density_hu=float(density),
        texture_hu=float(rng.uniform(0.0, 6.0)),
        edge_blur_mm=float(rng.uniform(0.3, 1.2)),
        params=tuple(float(p) for p in params),
    )


def occupancy(bleed: Bleed, cav: Cavity, z_mm: float) -> np.ndarray:
    """Binary occupancy (float32) of `bleed` on a slice plane at `z_mm` with cavity `cav`."""
    shape = cav.depth_mm.shape
    if not cav.ok:
        return np.zeros(shape, np.float32)
    t = (z_mm - bleed.z0_mm) / bleed.half_height_mm
    if abs(t) >= 1.0:
        return np.zeros(shape, np.float32)
    g = float(np.sqrt(1.0 - t * t))
    depth = cav.depth_mm
    ray = int(np.rint((bleed.angle + np.pi) / (2 * np.pi) * N_RAYS)) % N_RAYS
    r_table = float(cav.inner_radius_mm[ray])
    arc = _angdiff(cav.angle, bleed.angle) * r_table  # mm along the inner table
    in_cavity = depth > 0
    if bleed.subtype == "epidural":
        thick, half = bleed.params
        lg = half * g
        prof = np.clip(1.0 - (arc / max(lg, 1e-3)) ** 2, 0.0, None)
        occ = in_cavity & (depth < thick * g * prof)
    elif bleed.subtype == "subdural":
        thick, half = bleed.params
        lg = half * np.sqrt(g)
        prof = np.sqrt(np.clip(1.0 - np.abs(arc / max(lg, 1e-3)) ** 4, 0.0, None))
        occ = in_cavity & (depth < thick * np.sqrt(g) * prof)
    elif bleed.subtype == "intraparenchymal":
        a, aspect, d0, _ = bleed.params
        d0 = min(d0, 0.6 * r_table)
        rad = r_table - d0
        cy = cav.center_rc[0]
        cx = cav.center_rc[1]
        # centre in mm relative to the cavity centre
        py, px = np.sin(bleed.angle) * rad, np.cos(bleed.angle) * rad
        dy = cav.radius_mm * np.sin(cav.angle) - py
        dx = cav.radius_mm * np.cos(cav.angle) - px
        theta = np.arctan2(dy, dx)
        wobble = 1.0 + 0.18 * np.sin(3 * theta + bleed.angle * 5) + 0.1 * np.sin(5 * theta + bleed.angle * 3)
        rr = np.hypot(dy / (a * g), dx / (a * g * aspect))
        occ = cav.brain & (rr < wobble) & (depth > 2.0)
        del cy, cx
    elif bleed.subtype == "intraventricular":
        (fraction,) = bleed.params
        vent = cav.csf & (depth > 18.0) & (cav.radius_mm < 0.55 * np.interp(
            (cav.angle + np.pi) / (2 * np.pi) * N_RAYS, np.arange(N_RAYS), cav.inner_radius_mm, period=N_RAYS))
        if not vent.any():
            return np.zeros(shape, np.float32)
        rows = np.nonzero(vent.any(axis=1))[0]
        r0, r1 = rows.min(), rows.max()
        level = r1 - fraction * g * (r1 - r0 + 1)  # posterior (larger row) part is dependent
        occ = vent & (np.arange(shape[0])[:, None] >= level)
    elif bleed.subtype == "subarachnoid":
        half, dmax, cisternal = bleed.params
        if cisternal:
            occ = cav.csf & (cav.radius_mm < half * g + 10.0) & (depth > 15.0)
        else:
            occ = cav.csf & (np.abs(arc) < half * g) & (depth < dmax) & (depth > 0.5)
    else:
        raise ValueError(bleed.subtype)
    return occ.astype(np.float32)


# ------------------------------------------------------------------------- hard negatives


def _add_calcifications(hu: np.ndarray, cavs: list[Cavity], pos: np.ndarray, thick: float, rng: np.random.Generator, sp: tuple[float, float]) -> None:
    mid = cavs[len(cavs) // 2]
    if not mid.ok:
        return
    for _ in range(int(rng.integers(1, 4))):
        cand = np.argwhere(mid.brain & (mid.depth_mm > 8))
        if cand.size == 0:
            return
        r, c = cand[rng.integers(len(cand))]
        if rng.random() < 0.5:  # pineal / choroid plexus region near the centre
            r = int(mid.center_rc[0] + rng.normal(0, 8) / sp[0])
            c = int(mid.center_rc[1] + rng.normal(0, 10) / sp[1])
        radius = rng.uniform(1.0, 4.0)
        z0 = pos[len(pos) // 2] + rng.uniform(-thick, thick)
        hz = rng.uniform(1.0, 4.0)
        value = rng.uniform(120.0, 700.0)
        yy, xx = np.ogrid[: hu.shape[1], : hu.shape[2]]
        d2 = ((yy - r) * sp[0]) ** 2 + ((xx - c) * sp[1]) ** 2
        for k, z in enumerate(pos):
            frac = max(0.0, 1.0 - abs(z - z0) / (hz + thick / 2))
            if frac <= 0:
                continue
            f = np.clip(radius - np.sqrt(d2), 0.0, 1.0) * frac
            hu[k] = hu[k] * (1 - f) + value * f


def _add_dense_falx(hu: np.ndarray, cavs: list[Cavity], rng: np.random.Generator, sp: tuple[float, float]) -> None:
    width = rng.uniform(0.8, 2.5)
    extra = rng.uniform(25.0, 55.0)
    for k, cav in enumerate(cavs):
        if not cav.ok:
            continue
        cols = np.arange(hu.shape[2])
        d = np.abs((cols - cav.center_rc[1]) * sp[1])
        prof = np.clip(1.0 - d / width, 0.0, 1.0)[None, :]
        region = cav.brain & (cav.depth_mm > 3.0)
        hu[k] += extra * prof * region


def _add_streaks(hu: np.ndarray, rng: np.random.Generator, sp: tuple[float, float]) -> None:
    n, rows, cols = hu.shape
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    for _ in range(int(rng.integers(1, 5))):
        theta = rng.uniform(0, np.pi)
        r0, c0 = rng.uniform(0.35, 0.75) * rows, rng.uniform(0.3, 0.7) * cols
        dist = (-(yy - r0) * sp[0] * np.cos(theta) + (xx - c0) * sp[1] * np.sin(theta))
        width = rng.uniform(0.7, 2.0)
        amp = rng.uniform(15.0, 60.0) * rng.choice([-1.0, 1.0])
        streak = amp * (np.exp(-0.5 * (dist / width) ** 2) - 0.6 * np.exp(-0.5 * ((np.abs(dist) - 2.5 * width) / width) ** 2))
        k = int(rng.integers(n))
        hu[max(0, k - 1) : k + 2] += streak[None]


# ------------------------------------------------------------------------------- episodes


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], factor: int) -> np.ndarray:
    """Unit-variance smooth random field: coarse noise upsampled by `factor` and blurred."""
    n, rows, cols = shape
    coarse = rng.normal(0, 1, (n, rows // factor + 2, cols // factor + 2)).astype(np.float32)
    up = np.repeat(np.repeat(coarse, factor, axis=1), factor, axis=2)[:, :rows, :cols]
    f = gaussian_blur(up, factor / 2.0)
    return f / max(float(f.std()), 1e-6)


def _reslice(values: np.ndarray, src_pos: np.ndarray, src_extent: float, out_pos: np.ndarray, thick: float) -> np.ndarray:
    """Average source slices (each covering pos +- extent/2) into slices of `thick` at `out_pos`."""
    lo = np.maximum(src_pos[None, :] - src_extent / 2, out_pos[:, None] - thick / 2)
    hi = np.minimum(src_pos[None, :] + src_extent / 2, out_pos[:, None] + thick / 2)
    w = np.clip(hi - lo, 0.0, None)
    w /= np.maximum(w.sum(axis=1, keepdims=True), 1e-9)
    return np.tensordot(w.astype(np.float32), values, axes=(1, 0))


def make_episode(bg: Background, target_pool: np.ndarray, rng: np.random.Generator, knobs: Knobs) -> Episode | None:
    """One randomised episode on `bg` with targets drawn around a slice of `target_pool`."""
    step = float(np.median(np.diff(bg.positions_mm)))
    t0 = int(rng.choice(target_pool))
    thick = float(rng.choice(knobs.thicknesses_mm))
    out_step = max(thick, step)  # contiguous slices; never finer than the source
    pool = 2 if (bg.pixel_spacing_mm[0] < 0.7 and rng.random() < knobs.p_pool2) else 1
    flip = bool(rng.random() < 0.5)
    sp = _spacing(bg, pool)
    # Targets: output slices around t0 whose nearest source slice is in the pool.
    n_side = max(1, knobs.max_targets // 2)
    out_pos_t = bg.positions_mm[t0] + out_step * (np.arange(-n_side, n_side) + rng.uniform(0, 1) * 0)
    nearest = np.abs(bg.positions_mm[None, :] - out_pos_t[:, None]).argmin(axis=1)
    keep = np.isin(nearest, target_pool)
    out_pos_t = out_pos_t[keep][: knobs.max_targets]
    if out_pos_t.size == 0:
        return None
    # Context slices: every output slice within the guard of a target (and no further).
    reach = CONTEXT_GUARD_MM
    k_lo = int(np.floor((out_pos_t.min() - reach - out_pos_t[0]) / out_step))
    k_hi = int(np.ceil((out_pos_t.max() + reach - out_pos_t[0]) / out_step))
    out_pos = out_pos_t[0] + out_step * np.arange(k_lo, k_hi + 1)
    src = np.nonzero(np.min(np.abs(bg.positions_mm[:, None] - out_pos_t[None, :]), axis=1) <= reach + out_step / 2)[0]
    out_pos = out_pos[(out_pos >= bg.positions_mm[src].min() - 1e-6) & (out_pos <= bg.positions_mm[src].max() + 1e-6)]
    if out_pos.size == 0:
        return None
    hu = _prepare_slices(bg, src, pool, flip)
    cavs = [_cavity_cached(bg.name, int(i), pool, flip) for i in src]
    src_pos = bg.positions_mm[src]
    src_thick = bg.slice_thickness_mm
    # Bleeds.
    occ_total = {s: np.zeros(hu.shape, np.float32) for s in knobs.subtypes}
    bleeds: list[Bleed] = []
    if rng.random() < knobs.p_bleed and cavs[len(cavs) // 2].ok:
        n_bleeds = 2 if rng.random() < knobs.p_second_bleed else 1
        types = rng.choice(knobs.subtypes, size=n_bleeds, replace=False)
        for s in types:
            size = float(rng.choice(knobs.size_choices)) if knobs.size_choices else float(rng.uniform(*TRAIN_SIZE_RANGE))
            z0 = float(rng.uniform(out_pos_t.min(), out_pos_t.max() + 1e-6))
            bleeds.append(random_bleed(rng, str(s), z0, size))
    for b in bleeds:
        occ = occ_total[b.subtype]
        for k, z in enumerate(src_pos):
            if abs(z - b.z0_mm) >= b.half_height_mm + src_thick:
                continue
            zs = z + np.array([-1 / 3, 0.0, 1 / 3]) * src_thick
            f = np.mean([occupancy(b, cavs[k], float(zz)) for zz in zs], axis=0)
            occ[k] = np.maximum(occ[k], f)
        if not occ.any():
            continue
        occ_blur = gaussian_blur(occ, b.edge_blur_mm / sp[0])
        occ_total[b.subtype] = occ_blur
        texture = _smooth_field(rng, hu.shape, 4) * b.texture_hu
        value = b.density_hu + texture
        if b.subtype == "intraparenchymal" and b.params[3] > 0:
            rim = np.clip(gaussian_blur(occ, 3.0 / sp[0]) * 2.0 - occ_blur, 0, 1)
            hu -= rim * rng.uniform(4.0, 10.0) * (hu > 15) * (hu < 60)
        hu = hu * (1 - occ_blur) + value * occ_blur
    # Hard negatives.
    if rng.random() < knobs.p_calcification:
        _add_calcifications(hu, cavs, src_pos, src_thick, rng, sp)
    if rng.random() < knobs.p_dense_falx:
        _add_dense_falx(hu, cavs, rng, sp)
    # Re-slice.
    src_extent = max(step, src_thick) if thick > step * 1.05 else step
    out_hu = _reslice(hu, src_pos, src_extent, out_pos, out_step if thick > step * 1.05 else step)
    occ_out = {
        s: _reslice(o, src_pos, src_extent, out_pos, out_step if thick > step * 1.05 else step)
        for s, o in occ_total.items()
        if o.any()
    }
    if rng.random() < knobs.p_streaks:
        _add_streaks(out_hu, rng, sp)
    # Scanner: kernel, correlated noise, offset, integer HU.
    kernel = rng.random()
    if kernel < 0.4:
        out_hu = gaussian_blur(out_hu, rng.uniform(0.3, 0.9))
    elif kernel < 0.7:
        amount = rng.uniform(0.2, 0.8)
        out_hu = out_hu + amount * (out_hu - gaussian_blur(out_hu, 1.0))
    sigma = rng.uniform(*knobs.noise_hu)
    if sigma > 0:
        corr = rng.uniform(0.5, 1.5)
        noise = gaussian_blur(rng.normal(0, 1, out_hu.shape).astype(np.float32), corr)
        noise *= sigma / max(float(noise.std()), 1e-6)
        out_hu = out_hu + noise
    out_hu = out_hu + rng.uniform(-4.0, 4.0)
    out_hu = np.clip(np.rint(out_hu), -1024, 3071).astype(np.int16)
    # Labels of the targets.
    tidx = np.array([int(np.argmin(np.abs(out_pos - p))) for p in out_pos_t])
    px_area = sp[0] * sp[1]
    labels, masks, keep_t = [], [], []
    for ti in tidx:
        y = np.zeros(len(LABELS), np.float32)
        mask = np.zeros(out_hu.shape[1:], bool)
        ambiguous = False
        for s, o in occ_out.items():
            area = float((o[ti] >= 0.25).sum() * px_area)
            trace = float((o[ti] >= 0.03).sum() * px_area)
            if area >= POSITIVE_AREA_MM2:
                y[SUBTYPE_INDEX[s]] = 1.0
                mask |= o[ti] >= 0.3
            elif trace > 0:
                ambiguous = True
        if ambiguous and y.sum() == 0:
            continue
        y[0] = float(y[1:].max() > 0)
        labels.append(y)
        masks.append(mask)
        keep_t.append(ti)
    if not keep_t:
        return None
    return Episode(out_hu, out_pos, sp, np.array(keep_t), np.stack(labels), np.stack(masks))


# ----------------------------------------------------------------- bleeds in a whole volume


@dataclass(frozen=True, eq=False)
class InsertedVolume:
    """A background with bleeds blended into every slice they reach, on the background's own grid."""

    hu: np.ndarray  # (n, rows, cols) int16
    occupancy: dict[str, np.ndarray]  # per subtype, (n, rows, cols) float32 in [0, 1], edges blurred
    bleeds: tuple[Bleed, ...]
    voxel_ml: np.ndarray  # (n,) mL of one voxel of each slice (pixel area x local slice step)

    def volume_ml(self, subtype: str, *, min_occupancy: float = 0.5) -> float:
        """Volume of one subtype's bleed in mL (voxels at least `min_occupancy` bleed)."""
        occ = self.occupancy.get(subtype)
        if occ is None:
            return 0.0
        return float(((occ >= min_occupancy).sum(axis=(1, 2)) * self.voxel_ml).sum())


def insert_bleeds(
    bg: Background,
    rng: np.random.Generator,
    subtypes: tuple[str, ...],
    *,
    size: float,
    z0_mm: float | None = None,
) -> InsertedVolume:
    """Blend one bleed per subtype into the whole background volume (the same 3D shapes, placement
    rules and blending as the training episodes, without re-slicing or scanner augmentation).

    `z0_mm` is the bleeds' centre along the slice normal (default: the middle of the brain range).
    Slices whose cavity is not found keep their pixels (a bleed is never painted outside a skull).
    """
    pos = np.asarray(bg.positions_mm, dtype=np.float64)
    b0, b1 = bg.split.brain_range
    if z0_mm is None:
        z0_mm = float(pos[(b0 + b1) // 2])
    steps = np.abs(np.gradient(pos)) if pos.size > 1 else np.array([bg.slice_thickness_mm])
    sp = bg.pixel_spacing_mm
    thick = max(bg.slice_thickness_mm, float(np.median(steps)))
    bleeds = tuple(random_bleed(rng, s, z0_mm, size) for s in subtypes)
    reach = max(b.half_height_mm for b in bleeds) + thick if bleeds else 0.0
    near = np.nonzero(np.abs(pos - z0_mm) < reach)[0]
    cavs = {int(k): cavity_geometry(bg.hu[k], sp) for k in near}
    hu = bg.hu.astype(np.float32)
    occupancies: dict[str, np.ndarray] = {}
    for b in bleeds:
        occ = np.zeros(hu.shape, np.float32)
        for k in near:
            zs = pos[k] + np.array([-1 / 3, 0.0, 1 / 3]) * thick
            occ[k] = np.mean([occupancy(b, cavs[int(k)], float(z)) for z in zs], axis=0)
        if not occ.any():
            occupancies[b.subtype] = occ
            continue
        blurred = np.zeros_like(occ)
        blurred[near] = gaussian_blur(occ[near], b.edge_blur_mm / sp[0])
        value = b.density_hu + _smooth_field(rng, (near.size, *hu.shape[1:]), 4) * b.texture_hu
        hu[near] = hu[near] * (1 - blurred[near]) + value * blurred[near]
        occupancies[b.subtype] = blurred
    voxel_ml = sp[0] * sp[1] * steps / 1000.0
    out = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    return InsertedVolume(out, occupancies, bleeds, voxel_ml.astype(np.float64))
