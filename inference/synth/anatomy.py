"""A head CT object model: continuous in 3D, sampled on any plane, deterministic from a seed.

The head lives in a *local* frame (mm): x to the patient's left, y posterior, z superior, origin
near the centre of the cerebrum (level of the foramen of Monro). `HeadParams` places it in the
patient (LPS) frame: `local = R^T (p - center_mm) / scale`, with R from `rotation_deg`
(yaw about z, pitch about x, roll about y, in that order). Local landmarks (before scaling):
vertex z ~ +66; lateral ventricle bodies z +10..+25; third ventricle and pineal z ~ -5;
suprasellar cistern / midbrain z ~ -20; fourth ventricle and pons z ~ -45; foramen magnum z ~ -80.

What is modelled: scalp (skin, fat, temporalis), skull with varying thickness (outer table,
diploe, inner table), sutures (coronal, sagittal, lambdoid; used by the epidural model), skull base
(anterior / middle / posterior fossae, petrous ridges, clivus, sella), sinuses and mastoid air,
orbits with globes, extra-axial CSF, sulci (a random gyral pattern), grey / white matter, deep
grey nuclei, lateral / third / fourth ventricles, basal cisterns, Sylvian fissures, the falx and
tentorium, dural venous sinuses, cerebellum and brainstem, pineal / choroid-plexus / falx /
basal-ganglia calcifications, and an optional head rest.

`HeadModel.render_plane(plane)` returns the noise-free object (`PlaneTissue`: HU, tissue codes and
fields the lesion models use); the scanner model (scanner.py) adds slab averaging, blur and noise.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

# Tissue codes in PlaneTissue.tissue.
AIR, SKIN, FAT, MUSCLE, BONE, CSF, VENTRICLE, GM, WM, DEEP_GM, CEREBELLUM, BRAINSTEM = range(12)
FALX, CALCIFICATION, VENOUS_SINUS, EYE, HEADREST, SOFT = range(12, 18)
TISSUE_NAMES = (
    "air", "skin", "fat", "muscle", "bone", "csf", "ventricle", "grey_matter", "white_matter",
    "deep_grey", "cerebellum", "brainstem", "falx", "calcification", "venous_sinus", "eye",
    "headrest", "soft_tissue",
)
BRAIN_TISSUES = (GM, WM, DEEP_GM, CEREBELLUM, BRAINSTEM)


@dataclass(frozen=True)
class HeadParams:
    """One head. Every field has a sensible adult default; `random_head_params` draws them."""

    seed: int = 0
    center_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)  # LPS of the local origin
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # yaw (z), pitch (x), roll (y)
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)  # x (width), y (length), z (height)
    skull_thickness_mm: float = 6.0  # mean; varies +-40 % over the vault (thin temporal squama)
    scalp_thickness_mm: float = 5.5
    atrophy: float = 0.2  # 0 (young) .. 1 (old): ventricles, sulci, extra-axial CSF
    gm_hu: float = 38.0
    wm_hu: float = 28.0
    deep_gm_hu: float = 35.0
    csf_hu: float = 6.0
    venous_blood_hu: float = 48.0
    bone_hu: float = 1700.0  # cortical tables
    diploe_hu: float = 650.0
    pineal_calc_hu: float = 250.0  # 0: not calcified
    choroid_calc_hu: float = 160.0  # 0: not calcified
    falx_calc_hu: float = 0.0  # > 0: dense / calcified falx plaques (a hard negative)
    basal_ganglia_calc_hu: float = 0.0  # > 0: globus pallidus calcification (a hard negative)
    headrest: bool = True
    gyral_waves: int = 9  # components of the random gyral pattern
    extra: dict[str, float] = field(default_factory=dict)


def random_head_params(rng: np.random.Generator, **overrides: object) -> HeadParams:
    """Draw a plausible adult head (size, shape, position, rotation, age, calcifications)."""
    age = float(rng.beta(2.0, 2.5))
    p = HeadParams(
        seed=int(rng.integers(2**31)),
        center_mm=(float(rng.normal(0, 4)), float(rng.normal(0, 6)), 0.0),
        rotation_deg=(float(rng.normal(0, 4)), float(rng.normal(0, 6)), float(rng.normal(0, 2.5))),
        scale=(float(rng.normal(1.0, 0.05)), float(rng.normal(1.0, 0.05)), float(rng.normal(1.0, 0.04))),
        skull_thickness_mm=float(rng.uniform(5.0, 8.5)),
        scalp_thickness_mm=float(rng.uniform(4.0, 8.0)),
        atrophy=age,
        gm_hu=float(rng.normal(38, 2.0)),
        wm_hu=float(rng.normal(28.5, 2.0)),
        deep_gm_hu=float(rng.normal(35, 2.0)),
        csf_hu=float(rng.normal(6, 2.5)),
        venous_blood_hu=float(rng.normal(48, 5)),
        bone_hu=float(rng.uniform(1500, 1950)),
        diploe_hu=float(rng.uniform(450, 850)),
        pineal_calc_hu=float(rng.uniform(120, 500)) if rng.random() < 0.6 else 0.0,
        choroid_calc_hu=float(rng.uniform(90, 350)) if rng.random() < 0.55 else 0.0,
        falx_calc_hu=float(rng.uniform(100, 500)) if rng.random() < 0.15 else 0.0,
        basal_ganglia_calc_hu=float(rng.uniform(80, 300)) if rng.random() < 0.08 else 0.0,
        headrest=bool(rng.random() < 0.8),
    )
    return replace(p, **overrides)  # type: ignore[arg-type]


def rotation_matrix(rotation_deg: tuple[float, float, float]) -> np.ndarray:
    """R such that patient offset = R @ (local * scale): yaw about z, pitch about x, roll about y."""
    yaw, pitch, roll = np.deg2rad(rotation_deg)
    rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    ry = np.array([[np.cos(roll), 0, np.sin(roll)], [0, 1, 0], [-np.sin(roll), 0, np.cos(roll)]])
    return rz @ rx @ ry


@dataclass(frozen=True)
class Plane:
    """An affine sampling grid: point(r, c) = origin + r * row_step + c * col_step (LPS mm)."""

    origin_mm: np.ndarray
    row_step_mm: np.ndarray
    col_step_mm: np.ndarray
    rows: int
    cols: int

    @staticmethod
    def from_points(points: np.ndarray) -> Plane:
        """The affine plane through a (rows, cols, 3) grid of points (assumed affine)."""
        p = np.asarray(points, dtype=np.float64)
        rows, cols = p.shape[:2]
        rs = (p[1, 0] - p[0, 0]) if rows > 1 else np.array([0.0, 1.0, 0.0])
        cs = (p[0, 1] - p[0, 0]) if cols > 1 else np.array([1.0, 0.0, 0.0])
        return Plane(p[0, 0].copy(), rs, cs, rows, cols)

    def shifted(self, offset_mm: np.ndarray) -> Plane:
        return Plane(self.origin_mm + offset_mm, self.row_step_mm, self.col_step_mm, self.rows, self.cols)


class LocalGrid:
    """Local head coordinates of a plane, with windowed access for small structures."""

    def __init__(self, plane: Plane, params: HeadParams) -> None:
        r = rotation_matrix(params.rotation_deg)
        s = np.asarray(params.scale, dtype=np.float64)
        c = np.asarray(params.center_mm, dtype=np.float64)
        inv = (r.T) / s[:, None]  # local = inv @ (p - c)
        self.local_to_patient = r * s[None, :]  # p = c + local_to_patient @ local
        self.center_mm = c
        self.q0 = inv @ (plane.origin_mm - c)
        self.qr = inv @ plane.row_step_mm
        self.qc = inv @ plane.col_step_mm
        self.rows, self.cols = plane.rows, plane.cols
        self.normal = np.cross(self.qr, self.qc)
        nn = np.linalg.norm(self.normal)
        self.normal = self.normal / nn if nn > 0 else np.array([0.0, 0.0, 1.0])
        # In-plane pseudo-inverse to map local points back to (r, c).
        m = np.stack([self.qr, self.qc], axis=1)  # 3x2
        self._pinv = np.linalg.pinv(m)
        rr = np.arange(self.rows, dtype=np.float32)[:, None]
        cc = np.arange(self.cols, dtype=np.float32)[None, :]
        self.x, self.y, self.z = (
            (np.float32(self.q0[j]) + rr * np.float32(self.qr[j]) + cc * np.float32(self.qc[j]))
            for j in range(3)
        )
        self.local_mm_per_px = float(np.sqrt(abs(np.linalg.det(m.T @ m))) ** 0.5)

    def patient_coord(self, axis: int) -> np.ndarray:
        """Patient (LPS) coordinate `axis` (0 x, 1 y, 2 z) of every grid point, in mm."""
        m = self.local_to_patient[axis]
        return (np.float32(self.center_mm[axis]) + np.float32(m[0]) * self.x + np.float32(m[1]) * self.y
                + np.float32(m[2]) * self.z)

    def to_patient(self, local: np.ndarray) -> np.ndarray:
        """Patient (LPS) position of a local point."""
        return self.center_mm + self.local_to_patient @ np.asarray(local, dtype=np.float64)

    def window(self, center: np.ndarray, half: np.ndarray) -> tuple[slice, slice] | None:
        """Grid window covering the box `center +- half` (local mm), or None when the plane misses it."""
        corners = center[None, :] + half[None, :] * np.array(
            [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64
        )
        d = (corners - self.q0[None, :]) @ self.normal
        if d.min() > 0 or d.max() < 0:
            return None
        rc = (corners - self.q0[None, :]) @ self._pinv.T
        r0 = max(int(np.floor(rc[:, 0].min())) - 1, 0)
        r1 = min(int(np.ceil(rc[:, 0].max())) + 2, self.rows)
        c0 = max(int(np.floor(rc[:, 1].min())) - 1, 0)
        c1 = min(int(np.ceil(rc[:, 1].max())) + 2, self.cols)
        if r0 >= r1 or c0 >= c1:
            return None
        return slice(r0, r1), slice(c0, c1)


@dataclass
class PlaneTissue:
    """The noise-free object on one plane, and the fields the lesion models use."""

    hu: np.ndarray  # (rows, cols) float32
    tissue: np.ndarray  # (rows, cols) uint8 tissue codes
    grid: LocalGrid
    depth_mm: np.ndarray  # distance inside the cranial cavity from the inner table (< 0 outside)
    sulcal: np.ndarray  # bool: sulcal / cisternal / fissural CSF (where SAH goes)
    cerebrum: np.ndarray  # bool: supratentorial compartment (incl. its CSF)
    posterior_fossa: np.ndarray  # bool: infratentorial compartment


def _ell2(x: np.ndarray, y: np.ndarray, z: np.ndarray, c: tuple[float, float, float], a: tuple[float, float, float]) -> np.ndarray:
    """Normalised squared ellipsoid radius."""
    return ((x - c[0]) / a[0]) ** 2 + ((y - c[1]) / a[1]) ** 2 + ((z - c[2]) / a[2]) ** 2


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(v, -30, 30)))


# Box (local mm) that holds the whole head: everything outside it is air.
SURF_R_AZ, SURF_R_EL = 72.0, 62.0  # radii (mm) turning surface angles into arc lengths
HEAD_BOX_C = (0.0, -2.0, -15.0)
HEAD_BOX_HALF = (92.0, 112.0, 100.0)
# Supratentorial cavity: ellipsoid centre, semi-axes (z: above / below the centre).
CAV_C = (0.0, 2.0, 0.0)
CAV_A = (66.0, 84.0)
CAV_Z_UP, CAV_Z_DOWN = 62.0, 58.0
# Posterior fossa ellipsoid.
PF_C = (0.0, 40.0, -52.0)
PF_A = (52.0, 38.0, 29.0)
# Sutures in local coordinates (for the epidural model): coronal y ~ -22 + 0.15*|x|... etc.
CORONAL_SUTURE_Y = -18.0
LAMBDOID_SUTURE_Y = 58.0


def suture_region(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Integer skull 'plate' id per point: 0 frontal, 1/2 right/left parietal, 3 occipital,
    4/5 right/left temporal (squamous). Epidural blood stays within one plate."""
    coronal = y < CORONAL_SUTURE_Y + 0.25 * (z - 40.0) * -0.3 + 0.004 * x * x
    lambdoid = y > LAMBDOID_SUTURE_Y - 0.35 * (z - 20.0)
    temporal = (z < 5.0 - 0.0 * y) & (np.abs(x) > 45.0) & ~coronal & ~lambdoid
    plate = np.where(x < 0, 1, 2)
    plate = np.where(temporal, np.where(x < 0, 4, 5), plate)
    plate = np.where(lambdoid, 3, plate)
    plate = np.where(coronal, 0, plate)
    return plate.astype(np.int8)


def sulc_depth_max(atrophy: float) -> float:
    """Deepest reach (mm below the inner table) of sulcal CSF and the cortex lining it."""
    return 18.0 + 8.0 * atrophy


class HeadModel:
    """A head from `HeadParams`; `render_plane` gives the noise-free object on any plane."""

    def __init__(self, params: HeadParams) -> None:
        self.params = params
        rng = np.random.default_rng(params.seed)
        # Gyral pattern: random waves on the brain surface (azimuth x elevation, in mm), extruded
        # radially so sulci run perpendicular to the surface. Azimuthal wave numbers are whole
        # turns so the pattern has no seam.
        n = params.gyral_waves
        ang = rng.uniform(0, np.pi, size=n)
        lam = rng.uniform(22.0, 32.0, size=n)
        m = np.rint(np.cos(ang) * 2 * np.pi * SURF_R_AZ / lam)
        self.gyral_m = m  # turns around the head
        self.gyral_kel = np.sin(ang) * 2 * np.pi / lam  # per mm of elevation arc
        self.gyral_phase = rng.uniform(0, 2 * np.pi, size=n)
        d2 = rng.normal(size=(8, 3))
        d2 /= np.linalg.norm(d2, axis=1, keepdims=True)
        self.texture_k = d2 * (2 * np.pi / rng.uniform(7.0, 16.0, size=8))[:, None]
        self.texture_phase = rng.uniform(0, 2 * np.pi, size=8)
        # Domain warp of the gyral pattern (makes sulci wiggle instead of running straight).
        d3 = rng.normal(size=(2, 4, 3))
        d3 /= np.linalg.norm(d3, axis=2, keepdims=True)
        self.warp_k = d3 * (2 * np.pi / rng.uniform(14.0, 24.0, size=(2, 4)))[..., None]
        self.warp_phase = rng.uniform(0, 2 * np.pi, size=(2, 4))
        # Skull thickness harmonics over direction.
        self.skull_harm = rng.normal(0, 0.12, size=6)
        self.shape_harm = rng.normal(0, 0.025, size=4)
        # Slight left-right asymmetry of the ventricles (normal anatomy is never symmetric).
        self.vent_asym = rng.normal(0.0, 0.08, size=2)
        self.falx_plaques = rng.uniform([-40.0, 25.0], [60.0, 60.0], size=(3, 2))

    # ---- fields -------------------------------------------------------------------------
    def _wave_field(self, g: LocalGrid, k: np.ndarray, phase: np.ndarray) -> np.ndarray:
        """sum_i cos(k_i . q + phase_i) on the plane, separably (cos(a + b) expansion)."""
        rows, cols = g.rows, g.cols
        out = np.zeros((rows, cols), np.float32)
        rr = np.arange(rows, dtype=np.float64)
        cc = np.arange(cols, dtype=np.float64)
        for ki, ph in zip(k, phase):
            a = ki @ g.q0 + ph + rr * (ki @ g.qr)
            b = cc * (ki @ g.qc)
            ca, sa = np.cos(a).astype(np.float32), np.sin(a).astype(np.float32)
            cb, sb = np.cos(b).astype(np.float32), np.sin(b).astype(np.float32)
            out += ca[:, None] * cb[None, :] - sa[:, None] * sb[None, :]
        return out

    def _surface_field(self, g: LocalGrid, where: np.ndarray) -> np.ndarray:
        """Gyral field (unit variance) at the `where` pixels, nearly constant along rays from the
        brain centre."""
        x, y, z = g.x[where], g.y[where], g.z[where]
        w1 = self._wave_field(g, self.warp_k[0], self.warp_phase[0])[where]
        w2 = self._wave_field(g, self.warp_k[1], self.warp_phase[1])[where]
        az = np.arctan2(y - 5.0, x) + w1 * np.float32(2.2 / SURF_R_AZ)
        el = np.arctan2(z - 5.0, np.sqrt(x * x + (y - 5.0) ** 2) + 1e-3) * SURF_R_EL + 2.2 * w2
        f = np.zeros(x.shape, np.float32)
        for m, kel, ph in zip(self.gyral_m, self.gyral_kel, self.gyral_phase):
            f += np.cos(m * az + kel * el + ph)
        return f / np.float32(np.sqrt(len(self.gyral_m) / 2.0))

    def render_plane(self, plane: Plane) -> PlaneTissue:
        """The noise-free head on `plane` (HU float32 and tissue codes)."""
        full = LocalGrid(plane, self.params)
        shape = (plane.rows, plane.cols)
        win = full.window(np.array(HEAD_BOX_C), np.array(HEAD_BOX_HALF))
        hu = np.full(shape, -1000.0, np.float32)
        tissue = np.zeros(shape, np.uint8)
        depth = np.full(shape, -100.0, np.float32)
        sulcal = np.zeros(shape, bool)
        cerebrum = np.zeros(shape, bool)
        posterior = np.zeros(shape, bool)
        if win is not None:
            rs, cs = win
            sub = Plane(
                plane.origin_mm + rs.start * plane.row_step_mm + cs.start * plane.col_step_mm,
                plane.row_step_mm,
                plane.col_step_mm,
                rs.stop - rs.start,
                cs.stop - cs.start,
            )
            part = self._render(sub)
            hu[win], tissue[win], depth[win] = part.hu, part.tissue, part.depth_mm
            sulcal[win], cerebrum[win], posterior[win] = part.sulcal, part.cerebrum, part.posterior_fossa
        if self.params.headrest:
            self._headrest(full, hu, tissue)
        return PlaneTissue(hu, tissue, full, depth, sulcal, cerebrum, posterior)

    def _render(self, plane: Plane) -> PlaneTissue:
        p = self.params
        g = LocalGrid(plane, p)
        x, y, z = g.x, g.y, g.z
        shape = (g.rows, g.cols)
        hu = np.full(shape, -1000.0, np.float32)
        tissue = np.zeros(shape, np.uint8)
        ax = np.abs(x)

        # --- supratentorial cavity with a shaped base -----------------------------------
        cz = np.where(z > CAV_C[2], CAV_Z_UP, CAV_Z_DOWN).astype(np.float32)
        # Mild shape harmonics: narrower frontally, broader parieto-occipitally.
        h = self.shape_harm
        wx = CAV_A[0] * (1.0 + 0.06 * np.tanh((y - 0.0) / 40.0) + h[0] * np.tanh(z / 40.0))
        wy = CAV_A[1] * (1.0 + h[1] * np.tanh(x / 50.0))
        rs2 = (x / wx) ** 2 + ((y - CAV_C[1]) / wy) ** 2 + ((z - CAV_C[2]) / cz) ** 2
        rs = np.sqrt(rs2)
        # Approximate distance (mm) inside the ellipsoid surface: (1 - r) / |grad r|.
        grad = np.sqrt((x / wx**2) ** 2 + ((y - CAV_C[1]) / wy**2) ** 2 + ((z - CAV_C[2]) / cz**2) ** 2)
        depth_s = (1.0 - rs) * rs / np.maximum(grad, 1e-6)
        # Floor of the supratentorial cavity: anterior fossa, middle fossa / sella, tentorium.
        ant = -22.0 - 6.0 * np.exp(-((x / 9.0) ** 2))
        mid = -30.0 + 0.0 * x  # sella / parasellar level; the temporal lobes are added below
        tent = self.tentorium_z(x, y)
        w_am = _sigmoid((y + 28.0 + 0.12 * ax) / 2.5)
        w_mp = _sigmoid((y - 14.0 + 0.0 * ax) / 2.5)
        floor = ant * (1 - w_am) + mid * w_am
        floor = floor * (1 - w_mp) + (tent - 1.5) * w_mp
        depth_floor = z - floor
        depth_sup = np.minimum(depth_s, depth_floor)
        # Posterior fossa.
        rp = np.sqrt(_ell2(x, y, z, PF_C, PF_A))
        gp = np.sqrt(((x - PF_C[0]) / PF_A[0] ** 2) ** 2 + ((y - PF_C[1]) / PF_A[1] ** 2) ** 2 + ((z - PF_C[2]) / PF_A[2] ** 2) ** 2)
        depth_pf = (1.0 - rp) * rp / np.maximum(gp, 1e-6)
        # Brainstem column with its cisterns (through the incisura and the foramen magnum).
        ybs = self.brainstem_y(z)
        depth_bs = 15.0 - np.sqrt((x / 1.0) ** 2 + ((y - ybs) / 1.05) ** 2)
        depth_bs = np.where((z < -8.0) & (z > -95.0), depth_bs, -50.0)
        # Temporal lobes in the middle cranial fossae: rounded poles, floor near z = -48.
        depth_tl = np.full(x.shape, -50.0, np.float32)
        for sx in (-1.0, 1.0):
            tc, ta = (sx * 40.0, -4.0, -28.0), (24.0, 34.0, 20.0)
            rt = np.sqrt(_ell2(x, y, z, tc, ta))
            gt = np.sqrt(((x - tc[0]) / ta[0] ** 2) ** 2 + ((y - tc[1]) / ta[1] ** 2) ** 2 + ((z - tc[2]) / ta[2] ** 2) ** 2)
            depth_tl = np.maximum(depth_tl, (1.0 - rt) * rt / np.maximum(gt, 1e-6))
        depth_tl = np.minimum(depth_tl, depth_s)
        depth_sup = np.maximum(depth_sup, depth_tl)
        depth = np.maximum(np.maximum(depth_sup, depth_pf), depth_bs).astype(np.float32)
        cavity = depth > 0
        posterior = (depth_pf > 0) & (z < tent) | ((depth_bs > 0) & (z < -60))

        # --- skull (varying thickness) and scalp ------------------------------------------
        theta = np.arctan2(y, x)
        elev = np.arctan2(z, np.sqrt(x * x + y * y) + 1e-3)
        hs = self.skull_harm
        t = p.skull_thickness_mm * (
            1.0 + hs[0] * np.cos(theta) + hs[1] * np.sin(2 * theta) + hs[2] * np.cos(3 * theta) + hs[3] * np.sin(elev * 2)
        )
        temporal_thin = np.exp(-(((ax - 60.0) / 12.0) ** 2) - ((z + 10.0) / 22.0) ** 2 - (y / 35.0) ** 2)
        t = np.clip(t * (1.0 - 0.5 * temporal_thin) + 2.0 * _sigmoid((-y - 70.0) / 5.0), 2.5, 14.0)
        # Outer skull: the vault dilated by t, the base block below the floor, the occipital bowl.
        out_vault = -depth_s  # distance outside the cavity ellipsoid (mm, approximate)
        base_block = (z > -78.0 + 0.15 * (y + 20)) & (depth_s > -t) & (z < floor + 2)
        base_block &= (np.abs(x) < 58.0) & (y > -95.0)
        skull_outer = ((out_vault < t) & (depth_floor > -3.0)) | ((depth_pf > -t) & (z < tent + 10)) | base_block
        bone = skull_outer & ~cavity
        d_bone = np.where(depth_s < 0, -depth_s, np.where(depth_pf < 0, -depth_pf, 0.0))
        head_r = out_vault - t  # distance outside the outer table
        # Face and neck soft tissue volumes.
        face = _ell2(x, y, z, (0.0, -14.0, -78.0), (66.0, 92.0, 52.0)) < 1.0
        neck = (((x / 60.0) ** 2 + ((y - 12.0) / 70.0) ** 2) < 1.0) & (z < -78.0)
        scalp = p.scalp_thickness_mm * (1.0 + 0.4 * _sigmoid((ax - 50.0) / 6.0) * _sigmoid(-(z - 10.0) / 10.0))
        outer_pf = depth_pf > -(t + scalp + 18.0 * _sigmoid(-(z + 40.0) / 8.0))
        upper_face = _ell2(x, y, z, (0.0, -66.0, -44.0), (58.0, 36.0, 22.0)) < 1.0
        head = (head_r < scalp) | face | upper_face | neck | (outer_pf & (z < tent + 10))
        soft = head & ~skull_outer & ~cavity
        skin_depth = scalp - head_r  # depth below the skin over the vault
        vault_scalp = soft & (head_r < scalp) & ~face & ~neck
        hu[soft] = 42.0
        tissue[soft] = SOFT
        fat = vault_scalp & (skin_depth > 1.4) & (head_r > 1.6)
        hu[fat] = -45.0 + 35.0 * np.clip(1.0 - (skin_depth[fat] - 1.4) / 2.0, 0, 1)
        tissue[fat] = FAT
        skin = vault_scalp & (skin_depth <= 1.4)
        tissue[skin] = SKIN
        temporalis = vault_scalp & (ax > 42.0) & (z < 25.0) & (z > -35.0) & (head_r < 0.35 * scalp + 3.0 * _sigmoid((ax - 55) / 4))
        hu[temporalis] = 45.0
        tissue[temporalis] = MUSCLE
        # Face/neck: muscle with fatty planes (a smooth random field decides).
        tex = self._wave_field(g, self.texture_k, self.texture_phase)
        lower = soft & ~vault_scalp
        hu[lower] = 40.0 + 3.0 * tex[lower]

        # Bone: tables and diploe.
        hu_bone = np.where(
            (d_bone < 1.6) | (d_bone > t - 1.6),
            p.bone_hu,
            p.diploe_hu + 120.0 * tex,
        ).astype(np.float32)
        base_dense = bone & (depth_s > 0)  # skull base below the floor: dense petrous / clivus
        hu[bone] = np.where(base_dense[bone], 0.75 * p.bone_hu + 150 * tex[bone], hu_bone[bone])
        tissue[bone] = BONE
        # Sutures: faint lucent lines across the vault.
        vault = bone & (depth_s < 0)
        if vault.any():
            plate = np.full(shape, -1, np.int8)
            plate[vault] = suture_region(x[vault], y[vault], z[vault])
            sut = np.zeros(shape, bool)
            sut[1:, :] |= (plate[1:, :] != plate[:-1, :]) & (plate[1:, :] >= 0) & (plate[:-1, :] >= 0)
            sut[:, 1:] |= (plate[:, 1:] != plate[:, :-1]) & (plate[:, 1:] >= 0) & (plate[:, :-1] >= 0)
            hu[sut] = 0.45 * hu[sut]

        self._air_cells(g, hu, tissue, bone, soft, tex)

        # --- intracranial contents -------------------------------------------------------
        hu[cavity] = p.wm_hu
        tissue[cavity] = WM
        self._brain(g, hu, tissue, cavity, depth, posterior, tex)
        cerebrum = cavity & ~posterior

        sulcal = tissue == CSF
        return PlaneTissue(hu, tissue, g, depth, sulcal, cerebrum, cavity & posterior)

    # ---- helpers --------------------------------------------------------------------------
    @staticmethod
    def tentorium_z(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Local z of the tentorium: apex near the incisura, sloping down laterally and back."""
        return -24.0 - 0.22 * np.abs(x) - 0.12 * np.clip(y - 30.0, 0.0, None)

    @staticmethod
    def brainstem_y(z: np.ndarray) -> np.ndarray:
        """Local y of the brainstem axis at height z (midbrain z -15, pons -45, medulla -70)."""
        return 14.0 + 0.30 * np.clip(-15.0 - z, 0.0, None)

    def _air_cells(self, g: LocalGrid, hu: np.ndarray, tissue: np.ndarray, bone: np.ndarray, soft: np.ndarray, tex: np.ndarray) -> None:
        x, y, z = g.x, g.y, g.z
        p = self.params
        # Frontal sinus (inside the frontal bone), sphenoid sinus, nasal cavity, maxillary sinuses.
        for c, a, where in (
            ((0.0, -82.0, -12.0), (17.0, 7.0, 12.0), bone),
            ((0.0, -22.0, -44.0), (15.0, 12.0, 10.0), bone),
            ((0.0, -62.0, -70.0), (13.0, 30.0, 20.0), bone | soft),
            ((-28.0, -52.0, -76.0), (13.0, 17.0, 17.0), bone | soft),
            ((28.0, -52.0, -76.0), (13.0, 17.0, 17.0), bone | soft),
        ):
            win = g.window(np.array(c), np.array(a))
            if win is None:
                continue
            e = _ell2(x[win], y[win], z[win], c, a) < 1.0
            e &= where[win]
            if c[1] < -60 and c[0] == 0.0:  # nasal septum
                e &= np.abs(x[win]) > 1.2
            hu[win][e] = -1000.0
            tissue[win][e] = AIR
        # Ethmoid and mastoid air cells: honeycomb of air in bone.
        for c, a in (((0.0, -58.0, -38.0), (12.0, 18.0, 12.0)), ((-48.0, 24.0, -58.0), (11.0, 13.0, 12.0)), ((48.0, 24.0, -58.0), (11.0, 13.0, 12.0))):
            win = g.window(np.array(c), np.array(a))
            if win is None:
                continue
            xs, ys, zs = x[win], y[win], z[win]
            cells = (np.sin(xs * 0.9 + 0.7 * np.sin(ys * 0.5)) + np.sin(ys * 0.8 + 0.6 * np.sin(zs * 0.6)) + np.sin(zs * 0.85 + 0.5 * np.sin(xs * 0.55))) > -0.4
            e = (_ell2(x[win], y[win], z[win], c, a) < 1.0) & cells & (bone[win] | soft[win])
            hu[win][e] = -950.0
            tissue[win][e] = AIR
        # Orbits: fat cones with the globes and lenses.
        for sx in (-1.0, 1.0):
            c, a = (sx * 30.0, -66.0, -40.0), (16.0, 24.0, 16.0)
            win = g.window(np.array(c), np.array(a))
            if win is None:
                continue
            xs, ys, zs = x[win], y[win], z[win]
            orb = _ell2(xs, ys, zs, c, a) < 1.0
            hu[win][orb] = -80.0
            tissue[win][orb] = FAT
            globe_c = (sx * 31.0, -78.0, -40.0)
            r2 = _ell2(xs, ys, zs, globe_c, (12.0, 12.0, 12.0))
            hu[win][r2 < 1.0] = 52.0
            hu[win][r2 < 0.84] = 12.0
            tissue[win][r2 < 1.0] = EYE
            lens = _ell2(xs, ys, zs, (sx * 31.0, -87.5, -40.0), (4.5, 2.0, 4.5)) < 1.0
            hu[win][lens] = 110.0
            # optic nerve
            nerve = ((xs - sx * (31.0 - 0.35 * (ys + 78.0))) ** 2 + (zs + 40.0) ** 2 < 9.0) & (ys > -70) & orb
            hu[win][nerve] = 35.0
        del p

    def _brain(self, g: LocalGrid, hu: np.ndarray, tissue: np.ndarray, cavity: np.ndarray, depth: np.ndarray, posterior: np.ndarray, tex: np.ndarray) -> None:
        p = self.params
        x, y, z = g.x, g.y, g.z
        ax = np.abs(x)
        at = p.atrophy
        # Extra-axial CSF over the convexity and the gyral pattern.
        csf_layer = 1.0 + 2.5 * at
        sup = cavity & ~posterior
        band = sup & (depth < sulc_depth_max(at))
        af = np.full(x.shape, 9.0, np.float32)
        if band.any():
            af[band] = np.abs(self._surface_field(g, band))
        # |grad f| is about 2 pi / 27 per mm: |f| < w is a cleft about 2 w / 0.23 mm wide.
        sulc_w = 0.16 + 0.24 * at
        sulc_depth = sulc_depth_max(at) - 3.0
        taper = np.clip(1.0 - depth / sulc_depth, 0.0, 1.0) ** 0.5  # sulci narrow with depth
        sulcus = sup & (af < sulc_w * (0.4 + 0.6 * taper)) & (depth < sulc_depth) & (depth > 0)
        gm = sup & ((depth < csf_layer + 3.0) | (af < sulc_w + 0.6))
        hu[gm] = p.gm_hu
        tissue[gm] = GM
        # Interhemispheric fissure, falx and the corpus callosum arch.
        cc_top = 22.0 - 0.006 * (y - 2.0) ** 2
        fissure_w = 1.2 + 2.0 * at
        above_cc = z > cc_top + 2.0
        fissure = sup & (ax < fissure_w) & (above_cc | (y < -42.0) | (y > 44.0))
        # cortex lining the fissure
        gm_med = sup & (ax < fissure_w + 3.0) & (above_cc | (y < -42.0) | (y > 44.0)) & ~fissure
        hu[gm_med] = p.gm_hu
        tissue[gm_med] = GM
        csf_mask = (sup & (depth < csf_layer)) | sulcus | fissure
        # Sylvian fissures: oblique clefts between frontal and temporal lobes, with the insula.
        for side, sx in enumerate((-1.0, 1.0)):
            u = sx * x
            syl_d = (y + 20.0) * 0.87 - (u - 30.0) * 0.5 + 0.3 * (z + 8) + 2.5 * np.sin(u / 5.0 + z / 7.0 + side)
            width = (0.8 + 2.2 * at) * np.clip(1.6 - (u - 28.0) / 30.0, 0.4, 1.6)
            ins = sup & (u > 26.0) & (u < 62.0) & (z > -28.0) & (z < 10.0 - 0.25 * (u - 30)) & (np.abs(syl_d) < width)
            csf_mask |= ins
            insula = sup & (u > 31.0) & (u < 36.0) & (z > -20) & (z < 12) & (y > -25) & (y < 15)
            hu[insula] = p.gm_hu
            tissue[insula] = GM
        # Basal cisterns around the midbrain / pons and the suprasellar cistern.
        ybs = self.brainstem_y(z)
        rbs = np.sqrt(x**2 + (y - ybs) ** 2)
        bs_r = np.where(z > -30, 11.5, np.where(z > -58, 13.5 - 0.05 * (z + 30), 8.5))
        ring = bs_r + (1.2 + 2.0 * at) * np.where((y - ybs) < 0, 1.6, np.where(z > -28, 1.0, 0.25))
        cistern = cavity & (z < -8.0) & (z > -82.0) & (rbs < ring) & (rbs >= bs_r)
        suprasellar = cavity & (_ell2(x, y, z, (0.0, -8.0, -22.0), (12.0, 9.0, 5.0)) < 1.0)
        quad = cavity & (_ell2(x, y, z, (0.0, 28.0, -14.0), (8.0, 6.0, 6.0)) < 1.0)
        csf_mask |= cistern | suprasellar | quad
        brainstem = cavity & (z < -8.0) & (rbs < bs_r)
        hu[brainstem] = p.wm_hu + 4.0
        tissue[brainstem] = BRAINSTEM
        # Cerebellum (posterior fossa) with folia: finer pattern, vermis and hemispheres.
        cer = cavity & posterior & ~brainstem & ~cistern
        fol = np.sin(0.9 * (z + 0.3 * np.abs(x)) + 0.4 * np.sin(0.15 * y + 0.1 * x))
        hu[cer] = p.gm_hu + 1.0
        tissue[cer] = CEREBELLUM
        cer_wm = cer & (_ell2(ax, y, z, (22.0, 42.0, -50.0), (12.0, 14.0, 10.0)) < 1.0)
        hu[cer_wm] = p.wm_hu + 2.0
        folia_csf = cer & (np.abs(fol) < 0.06 + 0.12 * at) & (depth < 8.0)
        csf_mask |= folia_csf | (cavity & posterior & (depth < csf_layer * 0.8))
        hu[csf_mask] = p.csf_hu
        tissue[csf_mask] = CSF

        # Deep grey nuclei (caudate heads, lentiform, thalami) with the internal capsule between.
        for c, a, val in (
            ((12.0, -14.0, 8.0), (5.5, 9.0, 9.0), p.deep_gm_hu),
            ((22.0, -2.0, 0.0), (6.0, 14.0, 9.0), p.deep_gm_hu - 1.0),
            ((9.0, 12.0, -1.0), (7.0, 11.0, 9.0), p.deep_gm_hu),
        ):
            for sx in (-1.0, 1.0):
                cc = (sx * c[0], c[1], c[2])
                win = g.window(np.array(cc), np.array(a))
                if win is None:
                    continue
                e = (_ell2(x[win], y[win], z[win], cc, a) < 1.0) & cavity[win]
                hu[win][e] = val
                tissue[win][e] = DEEP_GM
                if c[0] == 22.0 and p.basal_ganglia_calc_hu > 0:
                    gp = (_ell2(x[win], y[win], z[win], (sx * 18.5, -1.0, -1.0), (2.5, 5.0, 3.5)) < 1.0) & cavity[win]
                    hu[win][gp] = p.basal_ganglia_calc_hu
                    tissue[win][gp] = CALCIFICATION

        # Ventricles.
        vs = 0.75 + 0.9 * at
        for side, sx in enumerate((-1.0, 1.0)):
            k = vs * (1.0 + self.vent_asym[side])
            parts = (
                ((sx * (1.5 + 5.0 * k), -21.0, 11.0), (5.5 * k, 13.0, 8.0 * k)),  # frontal horn
                ((sx * (1.5 + 5.0 * k), 2.0, 17.0), (5.5 * k, 21.0, 5.5 * k)),  # body
                ((sx * 20.0, 26.0, 6.0), (7.0 * k, 11.0, 8.0 * k)),  # atrium
                ((sx * 18.0, 42.0, 2.0), (3.5 * k, 11.0 * min(k, 1.4), 4.5 * k)),  # occipital horn
                ((sx * 31.0, -2.0, -22.0), (2.5 * k, 13.0, 3.5 * k)),  # temporal horn
            )
            for c, a in parts:
                win = g.window(np.array(c), np.array(a))
                if win is None:
                    continue
                e = (_ell2(x[win], y[win], z[win], c, a) < 1.0) & cavity[win]
                if c[1] in (2.0, -21.0):  # keep the septum pellucidum
                    e &= np.abs(x[win]) > 1.2
                hu[win][e] = p.csf_hu
                tissue[win][e] = VENTRICLE
            if p.choroid_calc_hu > 0:
                c, a = (sx * 21.0, 27.0, 6.0), (2.8, 3.2, 2.6)
                win = g.window(np.array(c), np.array(a))
                if win is not None:
                    e = (_ell2(x[win], y[win], z[win], c, a) < 1.0) & cavity[win]
                    hu[win][e] = p.choroid_calc_hu
                    tissue[win][e] = CALCIFICATION
        for c, a in (
            ((0.0, 2.0, -8.0), (2.2 * vs, 13.0, 10.0)),  # third ventricle
            ((0.0, 34.0, -46.0), (6.5 * vs, 4.5, 8.0)),  # fourth ventricle
        ):
            win = g.window(np.array(c), np.array(a))
            if win is None:
                continue
            e = (_ell2(x[win], y[win], z[win], c, a) < 1.0) & cavity[win]
            hu[win][e] = p.csf_hu
            tissue[win][e] = VENTRICLE
        if p.pineal_calc_hu > 0:
            c, a = (0.0, 19.0, -6.0), (2.6, 3.0, 2.6)
            win = g.window(np.array(c), np.array(a))
            if win is not None:
                e = (_ell2(x[win], y[win], z[win], c, a) < 1.0) & cavity[win]
                hu[win][e] = p.pineal_calc_hu
                tissue[win][e] = CALCIFICATION

        # Falx (thin dense midline membrane) and the superior sagittal sinus.
        falx = cavity & ~posterior & (ax < 0.7) & (above_cc | (y < -42.0) | (y > 44.0)) & (depth > 1.0)
        hu[falx] = 50.0
        tissue[falx] = FALX
        if p.falx_calc_hu > 0:
            for fy, fz in self.falx_plaques:
                pl = falx | (cavity & (ax < 1.6) & ~posterior & (depth > 1.0) & above_cc)
                pl &= ((y - fy) ** 2 + (z - fz) ** 2) < 36.0
                hu[pl] = p.falx_calc_hu
                tissue[pl] = CALCIFICATION
        sss = cavity & (depth < 6.0) & (ax < 4.5 * np.clip(1.0 - depth / 6.0, 0, 1)) & (z > 0.0)
        hu[sss] = p.venous_blood_hu
        tissue[sss] = VENOUS_SINUS
        # Tentorium: a thin dense membrane at the top of the posterior fossa.
        tz = self.tentorium_z(x, y)
        tent = cavity & (np.abs(z - tz) < 0.4) & (y > 5.0) & ~brainstem & (ax > 6.0)
        hu[tent] = 45.0
        tissue[tent] = FALX
        # Subtle smooth intensity variation of the parenchyma.
        par = (tissue == GM) | (tissue == WM) | (tissue == DEEP_GM) | (tissue == CEREBELLUM)
        hu[par] += 1.2 * tex[par]

    def _headrest(self, g: LocalGrid, hu: np.ndarray, tissue: np.ndarray) -> None:
        x, y, z = g.x, g.y, g.z
        r = np.sqrt(x**2 + ((y - 20.0) / 1.0) ** 2)
        shell = (np.abs(r - 110.0) < 1.6) & (y > 20.0 + 40.0) & (tissue == AIR) & (z > -90)
        hu[shell] = 180.0
        tissue[shell] = HEADREST

    def sample_hu(self, points_mm: np.ndarray) -> np.ndarray:
        """HU (float32, noise-free) at points (..., rows, cols, 3): each trailing 2-D grid must be
        affine (a plane), as any image grid is."""
        pts = np.asarray(points_mm)
        if pts.ndim == 2:
            pts = pts[None]
        lead = pts.shape[:-3]
        flat = pts.reshape((-1,) + pts.shape[-3:])
        out = np.stack([self.render_plane(Plane.from_points(pl)).hu for pl in flat])
        return out.reshape(lead + pts.shape[-3:-1]) if lead else out[0]


def head_sampler(seed: int = 0, **overrides: object) -> Callable[[np.ndarray], np.ndarray]:
    """`points_mm (..., rows, cols, 3) -> HU` for a default-shaped head (seeded details), placed so
    that the local origin sits at LPS (0, 0, 60): the skull base near z = 0, vertex near z = 125."""
    params = replace(HeadParams(seed=seed, center_mm=(0.0, 0.0, 60.0)), **overrides)  # type: ignore[arg-type]
    return HeadModel(params).sample_hu
