"""Models of the five intracranial hemorrhage subtypes, placed where they occur.

Each lesion is a 3-D shape in the head's local frame (see anatomy.py), so it is continuous across
slices and moves with the head. `Lesion.occupancy(pt)` gives the fraction (0..1, soft edges for
partial volume) of each pixel of a rendered plane that the bleed fills; `apply_lesions` blends the
blood into the plane and returns the per-subtype occupancy used for masks and labels.

Shapes:
- epidural: a biconvex lens against the inner table, limited to one skull plate (does not cross
  sutures); mostly temporo-parietal.
- subdural: a crescent along the convexity (crosses sutures), optionally extending along the falx
  and the tentorium.
- intraparenchymal: a lobulated blob in parenchyma (basal ganglia, thalamus, lobar, cerebellum,
  pons) with an optional hypodense edema rim.
- intraventricular: dependent layering in the occipital horns / atria (a flat fluid level in the
  patient frame, supine), or a cast filling part of the ventricular system.
- subarachnoid: blood in the sulci / fissures / cisterns (follows the CSF spaces), basal or over the
  convexity.
Density 50-90 HU (acute clot) with a heterogeneity; `age` lowers it (hyperacute / anaemic / older).
Mass effect is not modelled.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inference.labels import LABELS, SUBTYPES
from inference.synth.anatomy import (
    BRAIN_TISSUES,
    CEREBELLUM,
    CSF,
    DEEP_GM,
    GM,
    VENTRICLE,
    WM,
    BRAINSTEM,
    HeadModel,
    PlaneTissue,
    suture_region,
)

EDGE_MM = 0.6  # width of the soft (partial-volume) edge of a lesion


def _soft(signed_mm: np.ndarray) -> np.ndarray:
    """Occupancy from a signed distance (positive inside), soft over about EDGE_MM."""
    return np.clip(0.5 + signed_mm / (2.0 * EDGE_MM), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class LesionSpec:
    """One bleed. `center` is in local head mm; size parameters in mm; `hu` its mean density."""

    subtype: str  # one of inference.labels.SUBTYPES
    center: tuple[float, float, float]
    size_mm: float  # radius (blob) / half-extent along the surface (lens, crescent) / spread
    thickness_mm: float = 0.0  # lens / crescent maximum thickness, layer depth for IVH
    hu: float = 70.0
    heterogeneity_hu: float = 5.0
    edema_mm: float = 0.0  # IPH hypodense rim
    mode: str = ""  # IVH: "layer" or "cast"; SDH: "", "falx", "tentorium"; SAH: "basal" / "convexity"
    axes: tuple[float, float, float] = (1.0, 1.0, 1.0)  # IPH shape (relative radii)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.subtype not in SUBTYPES:
            raise ValueError(f"unknown subtype {self.subtype!r}; expected one of {SUBTYPES}")


class Lesion:
    """A lesion bound to a head model; evaluates its occupancy on rendered planes."""

    def __init__(self, spec: LesionSpec, head: HeadModel) -> None:
        self.spec = spec
        self.head = head
        rng = np.random.default_rng(spec.seed)
        self._harm = rng.normal(0, 0.18, size=6)
        self._tex_k = rng.normal(size=(3, 3)) * (2 * np.pi / 9.0)
        self._tex_ph = rng.uniform(0, 2 * np.pi, size=3)
        c = np.asarray(spec.center, dtype=np.float64)
        self._c = c
        # Plate of the epidural centre (sutures bound it).
        self._plate = int(suture_region(np.array([c[0]]), np.array([c[1]]), np.array([c[2]]))[0])

    # ---- per-plane evaluation ------------------------------------------------------------
    def occupancy(self, pt: PlaneTissue) -> np.ndarray:
        s = self.spec
        fn = {
            "epidural": self._epidural,
            "subdural": self._subdural,
            "intraparenchymal": self._parenchymal,
            "intraventricular": self._ventricular,
            "subarachnoid": self._subarachnoid,
        }[s.subtype]
        return fn(pt)

    def texture(self, pt: PlaneTissue, where: np.ndarray) -> np.ndarray:
        """Clot heterogeneity (unit variance) at the `where` pixels."""
        g = pt.grid
        x, y, z = g.x[where], g.y[where], g.z[where]
        t = np.zeros(x.shape, np.float32)
        for k, ph in zip(self._tex_k, self._tex_ph):
            t += np.cos(k[0] * x + k[1] * y + k[2] * z + ph)
        return t / np.float32(np.sqrt(1.5))

    def _surface_distance(self, pt: PlaneTissue) -> np.ndarray:
        """Approximate distance along the inner table from the lesion centre (mm)."""
        g = pt.grid
        o = np.array([0.0, 5.0, 0.0])
        cx, cy, cz = self._c - o
        dx, dy, dz = g.x - o[0], g.y - o[1], g.z - o[2]
        rn = np.sqrt(dx * dx + dy * dy + dz * dz) + 1e-3
        cn = float(np.sqrt(cx * cx + cy * cy + cz * cz))
        cosang = np.clip((dx * cx + dy * cy + dz * cz) / (rn * cn), -1.0, 1.0)
        return np.arccos(cosang) * cn

    def _epidural(self, pt: PlaneTissue) -> np.ndarray:
        s = self.spec
        sd = self._surface_distance(pt)
        prof = np.clip(1.0 - (sd / s.size_mm) ** 2, 0.0, None)
        thick = s.thickness_mm * prof
        inside = (pt.depth_mm > -0.5) & (pt.cerebrum | pt.posterior_fossa | (pt.depth_mm < 3))
        plate = suture_region(pt.grid.x, pt.grid.y, pt.grid.z) == self._plate
        occ = _soft(thick - pt.depth_mm) * _soft(pt.depth_mm + 0.3)
        return np.where(inside & plate & (prof > 0), occ, 0.0).astype(np.float32)

    def _subdural(self, pt: PlaneTissue) -> np.ndarray:
        s = self.spec
        g = pt.grid
        sd = self._surface_distance(pt)
        reach = s.size_mm if s.mode == "" else 0.4 * s.size_mm
        prof = np.clip(1.0 - (sd / reach) ** 2, 0.0, None) ** 0.35
        thick = s.thickness_mm * (1.0 if s.mode == "" else 0.4) * prof * (1.0 + self._harm[0] * np.cos(sd / 15.0))
        occ = _soft(thick - pt.depth_mm) * _soft(pt.depth_mm + 0.2)
        side = 1.0 if self._c[0] >= 0 else -1.0
        occ = np.where((prof > 0) & (g.x * side > 0.7), occ, 0.0)  # the falx stops it at the midline
        cavity = pt.depth_mm > -0.3
        if s.mode == "falx":
            near = np.sqrt((g.y - self._c[1]) ** 2 + (g.z - self._c[2]) ** 2) < s.size_mm
            w = max(1.0, 0.35 * s.thickness_mm)
            occ = np.maximum(occ, _soft(w / 2 - np.abs(g.x - side * (w / 2 + 0.7))) * near * (g.z > 18.0))
        elif s.mode == "tentorium":
            tz = HeadModel.tentorium_z(g.x, g.y)
            near = np.sqrt((g.x - self._c[0]) ** 2 + (g.y - self._c[1]) ** 2) < s.size_mm
            w = max(1.0, 0.35 * s.thickness_mm)
            occ = np.maximum(occ, _soft(w / 2 - np.abs(g.z - (tz + w / 2))) * near * (g.y > 10.0) * (g.x * side > 0))
        return np.where(cavity, occ, 0.0).astype(np.float32)

    def _parenchymal(self, pt: PlaneTissue) -> np.ndarray:
        s = self.spec
        g = pt.grid
        d = [(g.x - self._c[0]) / s.axes[0], (g.y - self._c[1]) / s.axes[1], (g.z - self._c[2]) / s.axes[2]]
        r = np.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2) + 1e-3
        h = self._harm
        lob = 1.0 + h[1] * d[0] / r + h[2] * d[1] / r + h[3] * d[2] / r + h[4] * (d[0] * d[1]) / r**2
        radius = s.size_mm * lob
        occ = _soft(radius - r)
        brainish = pt.depth_mm > 0.5
        return np.where(brainish, occ, 0.0).astype(np.float32)

    def edema(self, pt: PlaneTissue) -> np.ndarray:
        """Weight (0..1) of the hypodense rim around an intraparenchymal bleed."""
        s = self.spec
        if s.subtype != "intraparenchymal" or s.edema_mm <= 0:
            return np.zeros(pt.hu.shape, np.float32)
        g = pt.grid
        d = [(g.x - self._c[0]) / s.axes[0], (g.y - self._c[1]) / s.axes[1], (g.z - self._c[2]) / s.axes[2]]
        r = np.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)
        rim = _soft(s.size_mm * (1 + abs(self._harm[1])) + s.edema_mm - r) * np.clip(1.0 - (r - s.size_mm) / (s.edema_mm + s.size_mm), 0, 1)
        parenchyma = np.isin(pt.tissue, (GM, WM, DEEP_GM, CEREBELLUM, BRAINSTEM))
        return np.where(parenchyma, rim, 0.0).astype(np.float32)

    def _ventricular(self, pt: PlaneTissue) -> np.ndarray:
        s = self.spec
        g = pt.grid
        vent = pt.tissue == VENTRICLE
        if not vent.any():
            return np.zeros(pt.hu.shape, np.float32)
        if s.mode == "cast":
            r = np.sqrt((g.x - self._c[0]) ** 2 + (g.y - self._c[1]) ** 2 + (g.z - self._c[2]) ** 2)
            occ = _soft(s.size_mm - r)
        else:  # dependent layering: blood below a flat level in the patient frame (supine: +y down)
            gy = g.patient_coord(1)
            tips = [g.to_patient(np.array([sx * 18.0, 46.0 + 8.0 * self.head.params.atrophy, 2.0]))[1] for sx in (-1, 1)]
            level = min(tips) - s.thickness_mm
            occ = _soft(gy - level) * (np.abs(g.z - 4.0) < 16.0) * (g.y > 10.0)
        return np.where(vent, occ, 0.0).astype(np.float32)

    def _subarachnoid(self, pt: PlaneTissue) -> np.ndarray:
        s = self.spec
        g = pt.grid
        r = np.sqrt((g.x - self._c[0]) ** 2 + (g.y - self._c[1]) ** 2 + (g.z - self._c[2]) ** 2)
        w = np.clip(0.5 + (s.size_mm - r) / 4.0, 0.0, 1.0)
        spaces = pt.tissue == CSF
        if s.mode == "convexity":  # in the sulci, not the thin layer under the inner table
            spaces &= pt.depth_mm > 2.0
        spaces = spaces.astype(np.float32)
        return (spaces * w).astype(np.float32)


def apply_lesions(pt: PlaneTissue, lesions: Sequence[Lesion]) -> dict[str, np.ndarray]:
    """Blend the bleeds into `pt.hu` in place; return occupancy (0..1) per subtype."""
    occ_by = {name: np.zeros(pt.hu.shape, np.float32) for name in SUBTYPES}
    for les in lesions:
        ed = les.edema(pt)
        if ed.any():
            pt.hu -= ed * np.float32(12.0)
    for les in lesions:
        occ = les.occupancy(pt)
        if not occ.any():
            continue
        s = les.spec
        where = occ > 0
        blood = np.float32(s.hu) + np.float32(s.heterogeneity_hu) * les.texture(pt, where)
        pt.hu[where] += occ[where] * (blood - pt.hu[where])
        occ_by[s.subtype] = np.maximum(occ_by[s.subtype], occ)
    return occ_by


# ---- random placement ----------------------------------------------------------------------
IPH_SITES = (  # (centre, jitter) in local mm: typical hypertensive and lobar sites
    ((22.0, -2.0, 0.0), 5.0),  # putamen
    ((9.0, 12.0, -1.0), 4.0),  # thalamus
    ((30.0, -35.0, 25.0), 12.0),  # frontal lobe
    ((40.0, 10.0, 30.0), 12.0),  # parietal lobe
    ((38.0, -5.0, -25.0), 8.0),  # temporal lobe
    ((25.0, 55.0, 15.0), 10.0),  # occipital lobe
    ((22.0, 45.0, -50.0), 6.0),  # cerebellum
    ((0.0, 22.0, -40.0), 3.0),  # pons
)
SAH_SITES = (
    ((0.0, -8.0, -22.0), "basal"),  # suprasellar cistern
    ((40.0, -12.0, -6.0), "basal"),  # Sylvian fissure
    ((0.0, -40.0, 15.0), "basal"),  # anterior interhemispheric fissure
    ((14.0, 16.0, -22.0), "basal"),  # ambient cistern
)


def surface_point(direction: np.ndarray, inset_mm: float = 0.0) -> np.ndarray:
    """A point on the supratentorial inner table along `direction` from (0, 5, 0)."""
    from inference.synth.anatomy import CAV_A, CAV_Z_DOWN, CAV_Z_UP

    d = direction / np.linalg.norm(direction)
    cz = CAV_Z_UP if d[2] >= 0 else CAV_Z_DOWN
    o = np.array([0.0, 5.0, 0.0])
    t = 1.0 / np.sqrt((d[0] / CAV_A[0]) ** 2 + (d[1] / CAV_A[1]) ** 2 + (d[2] / cz) ** 2)
    return o + d * (t - inset_mm)


def random_lesion(
    rng: np.random.Generator,
    subtype: str,
    *,
    size: str | float = "any",
    age: float | None = None,
) -> LesionSpec:
    """A plausible bleed of `subtype`. `size`: "tiny", "small", "medium", "large", "any" or a number
    in 0..1 (0 smallest, 1 largest the generator makes). `age`: 0 (acute, densest) .. 1 (older /
    anaemic, 50 HU); None draws one."""
    size_q = {"tiny": 0.0, "small": 0.25, "medium": 0.55, "large": 1.0}.get(size, None) if isinstance(size, str) else float(size)
    if size_q is None:
        size_q = float(rng.beta(1.2, 1.6))
    age_v = float(rng.beta(1.3, 2.2)) if age is None else float(age)
    hu = float(np.clip(88.0 - 36.0 * age_v + rng.normal(0, 3.0), 50.0, 90.0))
    het = float(rng.uniform(2.0, 7.0))
    side = float(rng.choice([-1.0, 1.0]))
    seed = int(rng.integers(2**31))
    if subtype == "epidural":
        az = np.deg2rad(rng.choice([rng.uniform(-40, 40), rng.uniform(-80, -40), rng.uniform(40, 80)]))
        el = np.deg2rad(rng.uniform(-15, 35))
        direction = np.array([side * np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        c = surface_point(direction)
        return LesionSpec("epidural", tuple(c), size_mm=8 + 32 * size_q, thickness_mm=3 + 22 * size_q,
                          hu=hu, heterogeneity_hu=het, seed=seed)
    if subtype == "subdural":
        az = np.deg2rad(rng.uniform(-70, 70))
        el = np.deg2rad(rng.uniform(-5, 40))
        direction = np.array([side * np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        c = surface_point(direction)
        mode = str(rng.choice(["", "", "", "falx", "tentorium"]))
        if mode == "falx":
            c = np.array([side * 1.0, rng.uniform(-30, 40), rng.uniform(28, 50)])
        elif mode == "tentorium":
            c = np.array([side * rng.uniform(15, 40), rng.uniform(25, 55), -30.0])
        return LesionSpec("subdural", tuple(c), size_mm=15 + 75 * size_q, thickness_mm=1.5 + 16 * size_q,
                          hu=hu, heterogeneity_hu=het, mode=mode, seed=seed)
    if subtype == "intraparenchymal":
        base, jit = IPH_SITES[int(rng.integers(len(IPH_SITES)))]
        c = np.array(base) + rng.normal(0, jit, 3)
        c[0] = abs(c[0]) * side if base[0] != 0 else c[0] * 0.3
        axes = tuple(float(a) for a in rng.uniform(0.75, 1.3, 3))
        r = 1.5 + 26 * size_q**1.3
        edema = float(rng.uniform(0, 1.0) * (1.0 + 0.25 * r)) if rng.random() < 0.7 else 0.0
        return LesionSpec("intraparenchymal", tuple(c), size_mm=r, hu=hu, heterogeneity_hu=het,
                          edema_mm=edema, axes=axes, seed=seed)
    if subtype == "intraventricular":
        if rng.random() < 0.65:
            return LesionSpec("intraventricular", (0.0, 40.0, 2.0), size_mm=0.0,
                              thickness_mm=1.5 + 10 * size_q, hu=hu, heterogeneity_hu=het, mode="layer", seed=seed)
        sites = ((side * 10.0, 0.0, 15.0), (0.0, 2.0, -8.0), (0.0, 34.0, -46.0), (side * 20.0, 26.0, 6.0))
        c = sites[int(rng.integers(len(sites)))]
        return LesionSpec("intraventricular", c, size_mm=5 + 30 * size_q, hu=hu, heterogeneity_hu=het,
                          mode="cast", seed=seed)
    if subtype == "subarachnoid":
        if rng.random() < 0.55:
            base, mode = SAH_SITES[int(rng.integers(len(SAH_SITES)))]
            c = np.array(base) + rng.normal(0, 3, 3)
            if base[0] != 0:
                c[0] = abs(c[0]) * side
        else:
            az = np.deg2rad(rng.uniform(-80, 80))
            el = np.deg2rad(rng.uniform(0, 50))
            direction = np.array([side * np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
            c, mode = surface_point(direction, inset_mm=6.0), "convexity"
        return LesionSpec("subarachnoid", tuple(c), size_mm=8 + 45 * size_q, hu=hu, heterogeneity_hu=het,
                          mode=mode, seed=seed)
    raise ValueError(f"unknown subtype {subtype!r}; expected one of {SUBTYPES}")


def random_lesions(
    rng: np.random.Generator,
    *,
    p_positive: float = 0.7,
    max_lesions: int = 3,
    size: str | float = "any",
    age: float | None = None,
) -> list[LesionSpec]:
    """Zero (with probability 1 - p_positive) to `max_lesions` bleeds of random subtypes; IPH and
    IVH often come together, SAH with IVH."""
    if rng.random() >= p_positive:
        return []
    n = int(rng.integers(1, max_lesions + 1))
    kinds = list(rng.choice(SUBTYPES, size=n, replace=True))
    if "intraparenchymal" in kinds and rng.random() < 0.3:
        kinds.append("intraventricular")
    return [random_lesion(rng, str(k), size=size, age=age) for k in dict.fromkeys(kinds)]


@dataclass(frozen=True)
class LabelRule:
    """How masks and per-slice labels are derived from occupancy."""

    mask_threshold: float = 0.5  # a voxel is in the mask when the slab's occupancy >= this
    min_area_mm2: float = 2.0  # a slice is positive for a subtype when its mask covers >= this


def labels_from_masks(masks: dict[str, np.ndarray], pixel_area_mm2: float, rule: LabelRule = LabelRule()) -> np.ndarray:
    """(n_slices, 6) float32 labels in RSNA order (any first) from per-subtype boolean masks."""
    n = next(iter(masks.values())).shape[0]
    out = np.zeros((n, len(LABELS)), np.float32)
    for j, name in enumerate(LABELS[1:], start=1):
        area = masks[name].reshape(n, -1).sum(axis=1) * pixel_area_mm2
        out[:, j] = area >= rule.min_area_mm2
    out[:, 0] = out[:, 1:].max(axis=1)
    return out


__all__ = [
    "LesionSpec", "Lesion", "apply_lesions", "random_lesion", "random_lesions", "LabelRule",
    "labels_from_masks", "IPH_SITES", "SAH_SITES", "BRAIN_TISSUES",
]
