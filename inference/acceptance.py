"""Which volumes the engine analyses: axial (or tilted near-axial) non-contrast head CT, soft kernel.

`check_volume` answers "not analysed" with a reason a user can act on, from the headers first and
then from the pixels (headers are often missing or wrong in exported data):

* modality other than CT (an empty modality is not held against a volume);
* scout / localizer: ImageType LOCALIZER, or at most 2 slices with an in-plane extent > 400 mm;
* reformat: orientation coronal / sagittal / oblique, or an image plane tilted > 30 deg from axial
  (gantry tilt of an axial head CT, typically 10-25 deg, is accepted);
* bone / sharp kernel: ConvolutionKernel names (BONE, SHARP, LUNG, EDGE, DETAIL, H60+/B60+/Hr60+,
  Philips YC/YD/YE/D/E/L, Canon FC8x...), or by pixels: noise in brain tissue above ~25 HU (soft
  head kernels show 3-8 HU);
* contrast: ContrastBolusAgent present, or by pixels: on most head slices more than 2.5 % of the
  brain (more than 5 mm inside the skull) at 150-500 HU (enhanced vessels and sinuses;
  calcifications and a dense falx stay well below that);
* non-head region: a BodyPartExamined naming another region, or a head-sized skull ring (bone
  around >= 75 % of the directions, enclosing 15-400 cm^2 no wider than 230 mm) on fewer than 30 %
  of the slices (a chest's ribs enclose a body-size area; a neck has no ring);
* no brain: on most head slices less than half of what the skull encloses is at -20..100 HU (brain,
  CSF, blood); an empty skull phantom (air inside) or a skull filled with plastic or bone-dense
  material gives the model nothing it was made for (sinuses and mastoid air make single slices
  dip, never most of them).

A single slice is valid: it is judged by the same rules (a skull ring on that slice), and the
pre-processing repeats it in place of its missing neighbours (see `inference.preprocess`).
Pure numpy; runs on a subsample of slices, so it costs a few tens of milliseconds.
"""
from __future__ import annotations

import math
import re

import numpy as np

from inference.results import Acceptance

__all__ = ["check_volume", "ACCEPTED"]

ACCEPTED = Acceptance(True, "")

MAX_TILT_FROM_AXIAL_DEG = 30.0
SCOUT_EXTENT_MM = 400.0
BONE_HU = 300.0
NOISE_LIMIT_HU = 25.0
CONTRAST_RANGE_HU = (150.0, 500.0)
CONTRAST_FRACTION = 0.025
HEAD_FRACTION = 0.30
MAX_HEAD_WIDTH_MM = 260.0
MAX_INSIDE_EXTENT_MM = 230.0  # widest intracranial span of an adult head ~190 mm
INSIDE_AREA_MM2 = (1500.0, 40000.0)
BRAIN_RANGE_HU = (-20.0, 100.0)
BRAIN_FRACTION = 0.5

_SHARP_KERNEL = re.compile(
    r"(BONE|SHARP|LUNG|EDGE|DETAIL|ULTRA|"  # GE / generic words
    r"^[HBJIQ]R?([6-9]\d)|"  # Siemens H60s, H70h, B70f, Br64, Hr68, J70, Qr69, I70
    r"^Y[CDE]$|^[DEL]$|"  # Philips YC/YD/YE, D, E, L
    r"^FC(5[0-9]|8\d|9\d)$)"  # Canon/Toshiba bone/lung FC5x/FC8x/FC9x
)
_NON_HEAD_BODY_PARTS = ("CHEST", "THORAX", "LUNG", "ABDOMEN", "ABD", "PELVIS", "KNEE", "LEG", "ARM",
                        "HAND", "FOOT", "ANKLE", "SHOULDER", "HIP", "LSPINE", "TSPINE", "HEART", "CARDIAC")
_NO_CONTRAST = {"", "NONE", "NO", "N", "0", "NIL", "WITHOUT"}


def _reject(reason: str) -> Acceptance:
    return Acceptance(False, reason)


def _is_sharp_kernel(kernel: str) -> bool:
    parts = [p.strip().upper() for p in re.split(r"[\\,/]", kernel or "") if p.strip()]
    return any(_SHARP_KERNEL.search(p) for p in parts)


def _box_sum(mask: np.ndarray, r: int) -> np.ndarray:
    """Sum of `mask` over a (2r+1)^2 box around each pixel (zero outside), via an integral image."""
    m = np.pad(mask.astype(np.int32), r + 1)[:-1, :-1] if r >= 0 else mask
    ii = m.cumsum(0).cumsum(1)
    k = 2 * r + 1
    return ii[k:, k:] - ii[:-k, k:] - ii[k:, :-k] + ii[:-k, :-k]


def _enclosed(bone: np.ndarray) -> np.ndarray:
    """Non-bone pixels with bone on all four sides (left, right, above, below)."""
    left = np.maximum.accumulate(bone, axis=1)
    right = np.maximum.accumulate(bone[:, ::-1], axis=1)[:, ::-1]
    up = np.maximum.accumulate(bone, axis=0)
    down = np.maximum.accumulate(bone[::-1], axis=0)[::-1]
    return left & right & up & down & ~bone


def _slice_stats(hu: np.ndarray, px_mm: tuple[float, float]) -> dict[str, float]:
    """Head-likeness and contrast measures of one (down-sampled) slice."""
    area_px = px_mm[0] * px_mm[1]
    tissue = hu > -300
    bone = hu > BONE_HU
    cols = np.flatnonzero(tissue.any(axis=0))
    rows = np.flatnonzero(tissue.any(axis=1))
    width_mm = 0.0 if cols.size == 0 else (cols[-1] - cols[0] + 1) * px_mm[1]
    height_mm = 0.0 if rows.size == 0 else (rows[-1] - rows[0] + 1) * px_mm[0]
    inside = _enclosed(bone)
    inside_mm2 = float(inside.sum()) * area_px
    coverage = 0.0
    if inside.any() and bone.any():
        rr, cc = np.nonzero(inside)
        cy, cx = rr.mean(), cc.mean()
        br, bc = np.nonzero(bone)
        ang = np.arctan2((br - cy) * px_mm[0], (bc - cx) * px_mm[1])
        dist = np.hypot((br - cy) * px_mm[0], (bc - cx) * px_mm[1])
        near = (dist > 20) & (dist < 160)
        bins = np.unique(((ang[near] + math.pi) / (2 * math.pi) * 36).astype(int) % 36)
        coverage = bins.size / 36.0
    inside_extent_mm = 0.0
    if inside.any():
        ir = np.flatnonzero(inside.any(axis=1))
        ic = np.flatnonzero(inside.any(axis=0))
        inside_extent_mm = max((ir[-1] - ir[0] + 1) * px_mm[0], (ic[-1] - ic[0] + 1) * px_mm[1])
    # Judged on what the bone encloses (a head rest or table in the field does not matter).
    is_head = (
        coverage >= 0.75
        and INSIDE_AREA_MM2[0] <= inside_mm2 <= INSIDE_AREA_MM2[1]
        and inside_extent_mm <= MAX_INSIDE_EXTENT_MM
    )
    contrast_fraction = 0.0
    brain_fraction = 0.0
    if is_head:
        inside_hu = hu[inside]
        brain_fraction = float(((inside_hu >= BRAIN_RANGE_HU[0]) & (inside_hu <= BRAIN_RANGE_HU[1])).mean())
        r = max(1, int(round(5.0 / min(px_mm))))
        deep = _box_sum(~inside, r) == 0  # more than ~5 mm from anything outside the brain
        deep &= inside
        n_deep = int(deep.sum())
        if n_deep > 100:
            lo, hi = CONTRAST_RANGE_HU
            contrast_fraction = float(((hu > lo) & (hu < hi) & deep).sum()) / n_deep
    return {"head": float(is_head), "width_mm": max(width_mm, height_mm), "contrast": contrast_fraction,
            "brain": brain_fraction}


def _noise_hu(hu: np.ndarray, px_mm: tuple[float, float]) -> float | None:
    """Robust noise sigma (HU) in brain tissue of a full-resolution slice, from pixel differences."""
    bone = hu > BONE_HU
    inside = _enclosed(bone)
    r = max(1, int(round(4.0 / min(px_mm))))
    deep = inside & (_box_sum(~inside, r) == 0)
    h = hu.astype(np.float32)
    d = h[:, 1:] - h[:, :-1]
    ok = deep[:, 1:] & deep[:, :-1]
    vals = d[ok]
    if vals.size < 500:
        return None
    mad = float(np.median(np.abs(vals - np.median(vals))))
    return 1.4826 * mad / math.sqrt(2.0)


def _plane_tilt_deg(direction: np.ndarray) -> float | None:
    d = np.asarray(direction, dtype=float)
    if d.shape != (3, 3) or not np.all(np.isfinite(d)):
        return None
    normal = np.cross(d[:, 0], d[:, 1])
    n = float(np.linalg.norm(normal))
    if n < 1e-6:
        return None
    return math.degrees(math.acos(min(1.0, abs(float(normal[2])) / n)))


def check_volume(volume: object) -> Acceptance:
    """Whether the engine analyses `volume` (a viewer.core.volume.Volume); if not, why, in words."""
    meta = volume.metadata  # type: ignore[attr-defined]
    hu = np.asarray(volume.hu)  # type: ignore[attr-defined]
    if hu.ndim != 3 or hu.shape[0] == 0:
        return _reject("no image data")
    n, rows, cols = hu.shape
    modality = (meta.modality or "").strip().upper()
    if modality and modality != "CT":
        return _reject(f"not CT (modality {modality}): the model reads head CT only")
    image_type = {t.strip().upper() for t in (meta.image_type or ())}
    if "LOCALIZER" in image_type or "SCOUT" in image_type:
        return _reject("scout / localizer image, not an axial head CT series")
    sr, sc = volume.pixel_spacing_mm  # type: ignore[attr-defined]
    extent_mm = max(rows * sr, cols * sc)
    if n <= 2 and extent_mm > SCOUT_EXTENT_MM:
        return _reject(f"looks like a scout (only {n} image(s) covering {extent_mm:.0f} mm)")
    orientation = (getattr(volume, "orientation", "axial") or "axial").lower()
    if orientation != "axial":
        return _reject(f"{orientation} images (a reformat): the model reads axial head CT slices")
    tilt = _plane_tilt_deg(getattr(volume, "direction", np.eye(3)))
    if tilt is not None and tilt > MAX_TILT_FROM_AXIAL_DEG:
        return _reject(f"image plane tilted {tilt:.0f}° from axial (a reformat?): the model reads axial head CT")
    kernel = (meta.convolution_kernel or "").strip()
    if kernel and _is_sharp_kernel(kernel):
        return _reject(f"bone / sharp reconstruction kernel ({kernel}): use the soft-tissue (brain) series")
    agent = (meta.contrast_agent or "").strip().upper()
    if agent not in _NO_CONTRAST:
        return _reject("contrast-enhanced study (ContrastBolusAgent set): the model reads non-contrast head CT")
    body = (meta.body_part or "").strip().upper().replace(" ", "")
    if body and any(body == p or body.startswith(p) for p in _NON_HEAD_BODY_PARTS):
        return _reject(f"body part {body}, not a head: the model reads head CT")

    # Pixels: a subsample of slices at ~2 mm in-plane for the head / contrast checks.
    picks = np.unique(np.linspace(0, n - 1, num=min(n, 24)).round().astype(int))
    step = max(1, int(round(2.0 / max(min(sr, sc), 1e-3))))
    px = (sr * step, sc * step)
    stats = [_slice_stats(hu[k, ::step, ::step], px) for k in picks]
    head = [s for s in stats if s["head"] > 0]
    if len(head) < max(1, math.ceil(HEAD_FRACTION * len(stats))):
        widest = max(s["width_mm"] for s in stats)
        detail = f"body-size field ({widest:.0f} mm) without a skull" if widest > MAX_HEAD_WIDTH_MM else "no skull ring on most slices"
        return _reject(f"not a head CT ({detail})")
    brainless = [s for s in head if s["brain"] < BRAIN_FRACTION]
    if len(brainless) > len(head) // 2:
        median = float(np.median([s["brain"] for s in head]))
        return _reject(
            f"no brain inside the skull (only {100 * median:.0f} % of the enclosed area is at brain / CSF density, "
            "-20..100 HU): an empty skull phantom? The model reads head CT of a patient"
        )
    # Noise in brain tissue on up to 3 head slices at full resolution (a sharp kernel without a name).
    head_idx = [int(k) for k, s in zip(picks, stats) if s["head"] > 0]
    mid = head_idx[len(head_idx) // 2 - 1 : len(head_idx) // 2 + 2] or head_idx[:1]
    noises = [v for v in (_noise_hu(hu[k], (sr, sc)) for k in mid) if v is not None]
    if noises and float(np.median(noises)) > NOISE_LIMIT_HU:
        return _reject(
            f"very noisy brain tissue ({float(np.median(noises)):.0f} HU): looks like a bone / sharp kernel; "
            "use the soft-tissue (brain) series"
        )
    enhanced = sum(1 for s in head if s["contrast"] > CONTRAST_FRACTION)
    if enhanced >= max(1, math.ceil(0.5 * len(head))):
        return _reject("looks contrast-enhanced (bright vessels / sinuses inside the skull): the model reads non-contrast head CT")
    return ACCEPTED


def header_rejection(modality: str, is_localizer: bool) -> str:
    """Why a stack is never given to the engine, from its headers alone ('' when it may be)."""
    modality = (modality or "").upper()
    if modality and modality != "CT":
        return f"Modality {modality}: the model analyses CT only"
    if is_localizer:
        return "Localizer (scout) image: not a cross-sectional head CT stack"
    return ""
