"""HU slices -> model inputs: three windows x three 2.5D slab positions on a fixed physical grid.

What the model sees for a target slice t (all in the core's canonical orientation):

* **Slabs by millimetres, not by index.** Three slabs of thickness `slab_mm` are centred on the
  target's position and on the positions `context_mm` below and above it along the slice normal
  (`positions_mm`). Each source slice is treated as covering its position +- half the median slice
  step; its weight in a slab is the overlap (in mm) of that interval with the slab. A 0.625 mm
  series is therefore averaged into ~5 mm slabs, while a 5 mm series uses its own slices as they
  are: both show the model the same anatomy. Averaging happens in HU, before windowing (a thick
  reconstruction is an average of HU too).
* **Neighbours that do not exist.** An off-centre slab with no slice overlapping it (the first /
  last slice, a gap, a single-slice input) falls back to the nearest slice on that side when it
  lies within `context_mm` of the slab centre; otherwise the target slab itself is repeated. A
  single slice is thus a valid input: all three slab positions show that slice (the model then
  has no through-plane context, like a 2D classifier).
* **Fixed physical in-plane grid.** `image_size` x `image_size` pixels of `pixel_mm` each, centred
  on the centroid of tissue (> `tissue_threshold_hu`) of the target slab (refined twice on tissue
  within 0.45 field of view of the estimate, so a table or head rest does not pull it), so the field of view and
  table position of the scanner do not matter and pixels are square in mm whatever the source
  spacing (anisotropic pixel spacing is respected). The source is first box-averaged by the
  integer factor that keeps it at least as fine as the target grid (anti-aliasing), then sampled
  bilinearly. Outside the source image is air.
* **Windows.** Each slab is mapped through three windows to [0, 1]: brain W80/C40, subdural
  W200/C80, and a bone window W2000/C500 (-500..1500 HU). The third window is chosen for the hard
  negatives of hemorrhage detection: calcifications, a dense falx and skull (150-1500 HU) saturate
  white in both soft-tissue windows and look like blood there; in the bone window blood (50-90 HU)
  stays near the brain's grey (0.28 vs 0.27) while calcium and bone are clearly brighter, so the
  network can tell them apart. It also shows the skull edge for extra-axial collections.
* **Channel order:** `channel = slab * 3 + window`, slabs (below, target, above), so channels 3..5
  are the target slice in the three windows.

Speed/size trade-off of the default grid: 1.25 mm pixels on 192 x 192 (240 mm field of view, wide
enough for an adult head with margin after centring). Compared with 256 x 256 at 1 mm this is 1.8x
fewer pixels for every convolution (training and the 2-core CPU target both need it) and smaller
cached training inputs, at the cost of blurring structures under ~2.5 mm (a very thin subdural
rim). A model file stores its own PreprocessConfig, so a model trained on a finer grid is fed
correctly.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Window",
    "PreprocessConfig",
    "PreparedInputs",
    "make_inputs",
    "slab_weights",
    "cam_cell_affine",
    "cam_to_image",
]

AIR_HU = -1024.0


@dataclass(frozen=True)
class Window:
    """A display window mapped to [0, 1]: `center_hu - width_hu/2` -> 0, `center_hu + width_hu/2` -> 1."""

    name: str
    center_hu: float
    width_hu: float


DEFAULT_WINDOWS: tuple[Window, ...] = (
    Window("brain", 40.0, 80.0),
    Window("subdural", 80.0, 200.0),
    Window("bone", 500.0, 2000.0),
)


@dataclass(frozen=True)
class PreprocessConfig:
    """How a model is fed; stored inside the weights file's metadata."""

    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    context_mm: float = 5.0  # centre distance of the neighbour slabs from the target
    slab_mm: float = 5.0  # thickness each slab averages over
    n_slabs: int = 3  # below, target, above (must be odd)
    pixel_mm: float = 1.25  # in-plane pixel size of the model grid
    image_size: int = 192  # model grid is image_size x image_size pixels
    tissue_threshold_hu: float = -300.0  # centroid of pixels above this centres the head
    dtype: str = "float32"  # of the prepared array ("float32" or "float16")

    def __post_init__(self) -> None:
        if self.n_slabs < 1 or self.n_slabs % 2 == 0:
            raise ValueError(f"n_slabs must be odd and >= 1, got {self.n_slabs}")
        if self.pixel_mm <= 0 or self.image_size < 8 or self.slab_mm <= 0 or self.context_mm < 0:
            raise ValueError("pixel_mm, slab_mm must be > 0, context_mm >= 0, image_size >= 8")
        if self.dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be float32 or float16, got {self.dtype!r}")
        if not self.windows:
            raise ValueError("at least one window is needed")

    @property
    def n_channels(self) -> int:
        return self.n_slabs * len(self.windows)

    @property
    def slab_offsets_mm(self) -> tuple[float, ...]:
        half = self.n_slabs // 2
        return tuple(float(k * self.context_mm) for k in range(-half, half + 1))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for the weights metadata)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        """Inverse of `to_dict`; unknown keys are an error (a newer file needs a newer ichview)."""
        data = dict(data)
        windows = tuple(Window(**w) for w in data.pop("windows", [asdict(w) for w in DEFAULT_WINDOWS]))
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown PreprocessConfig fields: {sorted(unknown)}")
        return cls(windows=windows, **data)


@dataclass(frozen=True, eq=False)
class PreparedInputs:
    """Model inputs for some target slices, and how to map model-grid maps back onto the image."""

    x: np.ndarray  # (n, C, H, W) float32/float16 in [0, 1]
    indices: tuple[int, ...]  # the target slice index of each row of x
    # (n, 2, 3): [row, col] of the source image = to_image @ [y, x, 1] for model pixel (y, x)
    # (pixel centres at integer coordinates on both sides).
    to_image: np.ndarray
    image_shape: tuple[int, int]  # (rows, cols) of the source slices
    # (n, n_slabs) the source position (mm) each slab is centred on, after fallbacks
    slab_centers_mm: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


def _median_step_mm(pos: np.ndarray) -> float:
    if pos.size < 2:
        return 0.0
    steps = np.diff(np.sort(pos))
    steps = steps[steps > 1e-6]
    return float(np.median(steps)) if steps.size else 0.0


def slab_weights(
    positions_mm: Sequence[float], config: PreprocessConfig, indices: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (len(indices), n_slabs, n_slices) averaging source slices into slabs; rows sum to 1.

    Also returns the centre (mm) each slab ended up on after the fallbacks described in the module
    docstring. Pure numpy and tiny: n_slices is the stack length.
    """
    pos = np.asarray(positions_mm, dtype=np.float64)
    n = pos.size
    idx = np.asarray(indices, dtype=np.int64)
    step = _median_step_mm(pos)
    extent = step if step > 0 else config.slab_mm  # each slice covers pos +- extent/2
    half_slab = config.slab_mm / 2.0
    offsets = np.asarray(config.slab_offsets_mm)
    centres = pos[idx][:, None] + offsets[None, :]  # (m, S)
    lo = np.maximum(pos[None, None, :] - extent / 2, centres[..., None] - half_slab)
    hi = np.minimum(pos[None, None, :] + extent / 2, centres[..., None] + half_slab)
    w = np.clip(hi - lo, 0.0, None)  # (m, S, n) overlap in mm
    # A slab must always contain its own target slice when centred on it.
    mid = config.n_slabs // 2
    w[np.arange(idx.size), mid, idx] = np.maximum(w[np.arange(idx.size), mid, idx], 1e-6)
    total = w.sum(axis=-1)
    out_centres = centres.copy()
    for i, s in zip(*np.nonzero(total <= 1e-9)):
        t = idx[i]
        side = np.sign(offsets[s])
        cand = np.nonzero((pos - pos[t]) * side > 1e-6)[0]
        if cand.size:
            j = cand[np.argmin(np.abs(pos[cand] - centres[i, s]))]
            if abs(pos[j] - centres[i, s]) <= config.context_mm + 1e-6:
                w[i, s, j] = 1.0
                out_centres[i, s] = pos[j]
                continue
        w[i, s] = w[i, mid]  # no neighbour on that side: repeat the target slab
        out_centres[i, s] = pos[t]
    w /= w.sum(axis=-1, keepdims=True)
    return w.astype(np.float32), out_centres


def _pool_factors(pixel_spacing_mm: tuple[float, float], pixel_mm: float) -> tuple[int, int]:
    return tuple(max(1, int(math.floor(pixel_mm / s + 1e-6))) for s in pixel_spacing_mm)  # type: ignore[return-value]


def make_inputs(
    hu: np.ndarray,
    positions_mm: Sequence[float],
    pixel_spacing_mm: tuple[float, float],
    config: PreprocessConfig,
    indices: Sequence[int] | None = None,
) -> PreparedInputs:
    """Prepare model inputs (n, C, H, W) for the target slices `indices` (default: all) of a stack.

    `hu` is (n_slices, rows, cols) in the canonical orientation (int16 or float), `positions_mm`
    each slice's position along the slice normal, `pixel_spacing_mm` (between rows, between
    columns). The result only depends on the slices themselves, never on which other targets are
    asked for in the same call, so batches give the same inputs as one call for the whole stack.
    """
    import torch
    import torch.nn.functional as F

    hu = np.asarray(hu)
    if hu.ndim == 2:
        hu = hu[None]
    if hu.ndim != 3:
        raise ValueError(f"hu must be (n_slices, rows, cols), got shape {hu.shape}")
    n, rows, cols = hu.shape
    if len(positions_mm) != n:
        raise ValueError(f"{len(positions_mm)} positions for {n} slices")
    sr, sc = (float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1]))
    if not (sr > 0 and sc > 0):
        raise ValueError(f"pixel spacing must be positive, got {pixel_spacing_mm}")
    idx = list(range(n)) if indices is None else [int(i) for i in indices]
    if any(i < 0 or i >= n for i in idx):
        raise IndexError(f"slice indices out of range 0..{n - 1}")
    m, S, size = len(idx), config.n_slabs, config.image_size
    out_dtype = np.float16 if config.dtype == "float16" else np.float32
    if m == 0:
        return PreparedInputs(
            np.zeros((0, config.n_channels, size, size), out_dtype), (), np.zeros((0, 2, 3)), (rows, cols),
            np.zeros((0, S)),
        )

    weights, centres_mm = slab_weights(positions_mm, config, idx)  # (m, S, n)
    used = np.nonzero(weights.reshape(-1, n).sum(axis=0) > 0)[0]
    column = np.full(n, -1, np.int64)
    column[used] = np.arange(used.size)

    # Source slices as float, shifted so that air is 0 (then zero padding means air), box-pooled
    # (in chunks, so a 300-slice int16 stack never exists as one float32 copy at full size).
    fr, fc = _pool_factors((sr, sc), config.pixel_mm)
    pooled = []
    for start in range(0, used.size, 32):
        chunk = torch.from_numpy(np.ascontiguousarray(hu[used[start : start + 32]])).to(torch.float32)
        chunk = chunk.add_(-AIR_HU).clamp_(min=0.0)
        if fr > 1 or fc > 1:
            chunk = F.avg_pool2d(chunk[:, None], kernel_size=(fr, fc), stride=(fr, fc))[:, 0]
        pooled.append(chunk)
    src = torch.cat(pooled)
    pr, pc = src.shape[-2:]
    # Slabs (m*S, pr, pc) = weights @ slices; the weights are banded, so contract per group of
    # 16 targets over only the slices that group uses (cost ~ n_targets x slices per slab).
    slab_parts = []
    for g0 in range(0, m, 16):
        wg = weights[g0 : g0 + 16]  # (g, S, n)
        cs = np.nonzero(wg.reshape(-1, n).sum(axis=0) > 0)[0]
        wmat = torch.from_numpy(np.ascontiguousarray(wg[..., cs].reshape(-1, cs.size)))
        slab_parts.append(wmat @ src[torch.from_numpy(column[cs])].reshape(cs.size, -1))
    slabs = torch.cat(slab_parts).reshape(m * S, pr, pc)

    # Head centre of each target from its own (middle) slab on the pooled grid.
    mid = slabs.reshape(m, S, pr, pc)[:, S // 2]
    tissue = (mid > (config.tissue_threshold_hu - AIR_HU)).to(torch.float32)
    mass = tissue.sum(dim=(1, 2))
    rr = torch.arange(pr, dtype=torch.float32)
    cc = torch.arange(pc, dtype=torch.float32)
    cy = torch.where(mass > 0, (tissue.sum(2) * rr).sum(1) / mass.clamp(min=1), torch.full_like(mass, (pr - 1) / 2))
    cx = torch.where(mass > 0, (tissue.sum(1) * cc).sum(1) / mass.clamp(min=1), torch.full_like(mass, (pc - 1) / 2))
    # Two mean-shift steps: keep only tissue within ~0.45 field of view of the estimate, so a table,
    # head rest or shoulders in a large field of view do not pull the head off centre.
    radius_mm = 0.45 * config.image_size * config.pixel_mm
    for _ in range(2):
        dy_mm = (rr[None, :, None] - cy[:, None, None]) * (sr * fr)
        dx_mm = (cc[None, None, :] - cx[:, None, None]) * (sc * fc)
        near = tissue * ((dy_mm * dy_mm + dx_mm * dx_mm) < radius_mm * radius_mm)
        m_near = near.sum(dim=(1, 2))
        ok = m_near > 0
        cy = torch.where(ok, (near.sum(2) * rr).sum(1) / m_near.clamp(min=1), cy)
        cx = torch.where(ok, (near.sum(1) * cc).sum(1) / m_near.clamp(min=1), cx)
    # Pooled pixel i is centred on source pixel i*f + (f-1)/2.
    centre_row = cy.double().numpy() * fr + (fr - 1) / 2.0
    centre_col = cx.double().numpy() * fc + (fc - 1) / 2.0

    # Model pixel (y, x) -> source (row, col): row = a_r*y + b_r with y centred on the head.
    a_r, a_c = config.pixel_mm / sr, config.pixel_mm / sc
    half = (size - 1) / 2.0
    b_r = centre_row - a_r * half
    b_c = centre_col - a_c * half
    to_image = np.zeros((m, 2, 3))
    to_image[:, 0, 0], to_image[:, 0, 2] = a_r, b_r
    to_image[:, 1, 1], to_image[:, 1, 2] = a_c, b_c

    # grid_sample on the pooled grid (align_corners=True: -1/+1 are the first/last pixel centres).
    g = torch.arange(size, dtype=torch.float64)
    prow = (b_r[:, None] + a_r * g[None, :].numpy() - (fr - 1) / 2.0) / fr  # (m, size) pooled rows
    pcol = (b_c[:, None] + a_c * g[None, :].numpy() - (fc - 1) / 2.0) / fc
    ny = torch.from_numpy(2.0 * prow / max(pr - 1, 1) - 1.0).to(torch.float32)
    nx = torch.from_numpy(2.0 * pcol / max(pc - 1, 1) - 1.0).to(torch.float32)
    grid = torch.stack(torch.broadcast_tensors(nx[:, None, :], ny[:, :, None]), dim=-1)  # (m, H, W, 2)
    sampled = F.grid_sample(
        slabs.reshape(m, S, pr, pc), grid, mode="bilinear", padding_mode="zeros", align_corners=True
    )  # (m, S, H, W), HU + 1024

    # Windows -> (m, S, n_windows, H, W) -> channels slab*n_windows + window.
    centres = torch.tensor([w.center_hu - AIR_HU for w in config.windows], dtype=torch.float32)
    widths = torch.tensor([w.width_hu for w in config.windows], dtype=torch.float32)
    lo = (centres - widths / 2).view(1, 1, -1, 1, 1)
    x = ((sampled[:, :, None] - lo) / widths.view(1, 1, -1, 1, 1)).clamp_(0.0, 1.0)
    x = x.reshape(m, config.n_channels, size, size)
    return PreparedInputs(
        x=x.numpy().astype(out_dtype, copy=False),
        indices=tuple(idx),
        to_image=to_image,
        image_shape=(rows, cols),
        slab_centers_mm=centres_mm,
    )


def _interp_axis(values: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of `values` along `axis` at fractional `coords`; outside -> 0."""
    size = values.shape[axis]
    inside = (coords >= -0.5) & (coords <= size - 0.5)
    c = np.clip(coords, 0, size - 1)
    i0 = np.floor(c).astype(np.int64)
    i1 = np.minimum(i0 + 1, size - 1)
    f = (c - i0).astype(np.float32)
    v0 = np.take(values, i0, axis=axis)
    v1 = np.take(values, i1, axis=axis)
    shape = [1] * values.ndim
    shape[axis] = -1
    f = f.reshape(shape)
    out = v0 * (1 - f) + v1 * f
    return out * inside.reshape(shape)


def cam_cell_affine(model_to_image: np.ndarray, model_size: int, cam_shape: tuple[int, int]) -> np.ndarray:
    """Compose the model grid's affine (`PreparedInputs.to_image`, model pixel -> source pixel) with
    the CAM's own grid (each CAM cell covers model_size / cam_size model pixels): (2, 3) affine from
    CAM cell centre (y, x) to source [row, col]."""
    a = np.asarray(model_to_image, dtype=np.float64).reshape(2, 3)
    fy, fx = model_size / cam_shape[0], model_size / cam_shape[1]
    return np.array(
        [
            [a[0, 0] * fy, 0.0, a[0, 0] * (fy - 1) / 2.0 + a[0, 2]],
            [0.0, a[1, 1] * fx, a[1, 1] * (fx - 1) / 2.0 + a[1, 2]],
        ]
    )


def cam_to_image(cam: np.ndarray, to_image: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Resample a model-grid map (H, W) onto the source pixel grid -> (rows, cols) float32.

    `to_image` is the (2, 3) affine of that slice from `PreparedInputs.to_image`. Bilinear; pixels
    outside the model's field of view get 0. (A viewer may instead draw the model-grid map with
    this affine as its item transform, which costs nothing.)
    """
    cam = np.asarray(cam, dtype=np.float32)
    a = np.asarray(to_image, dtype=np.float64)
    rows, cols = image_shape
    ys = (np.arange(rows) - a[0, 2]) / a[0, 0]
    xs = (np.arange(cols) - a[1, 2]) / a[1, 1]
    out = _interp_axis(cam, ys, axis=0)
    out = _interp_axis(out, xs, axis=1)
    return out.astype(np.float32)
