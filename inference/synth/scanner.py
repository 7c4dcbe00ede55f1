"""The acquisition model: slab averaging weights, in-plane resampling, blur (MTF), correlated
noise with a reconstruction-kernel texture, and beam-hardening streaks.

Noise is shaped like filtered back-projection noise: power spectrum ~ |f| * MTF(f)^2 (a ramp
filter times the kernel's apodisation), so a soft kernel gives blotchy grain and a sharp kernel
fine grain. `noise_hu` is the standard deviation in a uniform region for a 5 mm slice; thinner
slices get more (sigma ~ 1 / sqrt(thickness)).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Kernel -> (FWHM of the point spread function in mm, edge enhancement 0..1, FWHM in mm of the
# apodisation that shapes the noise: soft brain kernels give a coarse, blotchy grain).
KERNELS: dict[str, tuple[float, float, float]] = {
    "soft": (0.9, 0.0, 1.7),  # e.g. H30s / STANDARD brain
    "standard": (0.75, 0.05, 1.2),
    "sharp": (0.55, 0.2, 0.8),
    "bone": (0.4, 0.45, 0.5),  # H70 / BONE: edge-enhancing
}
KERNEL_NAMES = {"soft": "SYNTH_H30_SOFT", "standard": "SYNTH_H40_STD", "sharp": "SYNTH_H60_SHARP", "bone": "SYNTH_H70_BONE"}


@dataclass(frozen=True)
class ScannerParams:
    """Acquisition knobs. `kernel` names a row of KERNELS; `psf_fwhm_mm` overrides its blur."""

    noise_hu: float = 4.5  # sigma in water at 5 mm slice thickness
    kernel: str = "soft"
    psf_fwhm_mm: float | None = None
    grain_fwhm_mm: float | None = None  # overrides the kernel's noise grain
    streaks_hu: float = 0.0  # amplitude of beam-hardening streaks near dense bone (0: none)
    reference_thickness_mm: float = 5.0

    def fwhm_mm(self) -> float:
        return self.psf_fwhm_mm if self.psf_fwhm_mm is not None else KERNELS[self.kernel][0]

    def grain_mm(self) -> float:
        return self.grain_fwhm_mm if self.grain_fwhm_mm is not None else KERNELS[self.kernel][2]

    def sigma_for(self, thickness_mm: float) -> float:
        return self.noise_hu * float(np.sqrt(self.reference_thickness_mm / max(thickness_mm, 0.3)))


def slab_offsets(thickness_mm: float, *, step_mm: float = 2.0) -> np.ndarray:
    """Offsets (mm, along the normal) of the sub-planes averaged into one slab of `thickness_mm`."""
    n = max(1, int(np.ceil(thickness_mm / step_mm - 1e-6)))
    if n == 1:
        return np.zeros(1)
    return (np.arange(n) + 0.5) / n * thickness_mm - thickness_mm / 2.0


def linear_resample_matrix(n_out: int, n_in: int, factor: float) -> np.ndarray:
    """(n_out, n_in) linear interpolation matrix; output pixel i lies at input coordinate
    (i + 0.5) / factor - 0.5 (pixel centres aligned, `factor` = n_out / n_in in general)."""
    pos = (np.arange(n_out) + 0.5) / factor - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w = (pos - i0).astype(np.float32)
    m = np.zeros((n_out, n_in), np.float32)
    m[np.arange(n_out), i0] += 1.0 - w
    m[np.arange(n_out), i1] += w
    return m


def _upsample2(a: np.ndarray) -> np.ndarray:
    """Exact 2x linear upsampling with aligned pixel centres (weights 3/4, 1/4)."""
    a = a.astype(np.float32, copy=False)
    p = np.pad(a, 1, mode="edge")
    rows, cols = a.shape
    r = np.empty((2 * rows, cols + 2), np.float32)
    r[0::2] = 0.75 * p[1:-1] + 0.25 * p[:-2]
    r[1::2] = 0.75 * p[1:-1] + 0.25 * p[2:]
    out = np.empty((2 * rows, 2 * cols), np.float32)
    out[:, 0::2] = 0.75 * r[:, 1:-1] + 0.25 * r[:, :-2]
    out[:, 1::2] = 0.75 * r[:, 1:-1] + 0.25 * r[:, 2:]
    return out


def resample(img: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Linear resize of a 2-D array to (rows, cols), pixel centres aligned."""
    if img.shape == (rows, cols):
        return img.astype(np.float32, copy=False)
    if img.shape == (rows // 2, cols // 2) and rows % 2 == 0 and cols % 2 == 0:
        return _upsample2(img)
    mr = linear_resample_matrix(rows, img.shape[0], rows / img.shape[0])
    mc = linear_resample_matrix(cols, img.shape[1], cols / img.shape[1])
    return (mr @ img.astype(np.float32) @ mc.T).astype(np.float32)


def _freq(rows: int, cols: int, pixel_mm: tuple[float, float]) -> np.ndarray:
    fr = np.fft.fftfreq(rows, d=pixel_mm[0])[:, None]
    fc = np.fft.rfftfreq(cols, d=pixel_mm[1])[None, :]
    return np.sqrt(fr * fr + fc * fc).astype(np.float32)  # cycles / mm


def mtf(f: np.ndarray, fwhm_mm: float, enhance: float) -> np.ndarray:
    """Gaussian MTF with optional mid-frequency boost (edge-enhancing kernels)."""
    sigma = fwhm_mm / 2.355
    g = np.exp(-2.0 * (np.pi * sigma * f) ** 2)
    if enhance > 0:
        g = g * (1.0 + enhance * (1.0 - np.exp(-((f * fwhm_mm * 2.5) ** 2))))
    return g.astype(np.float32)


def acquire(
    obj_hu: np.ndarray,
    pixel_mm: tuple[float, float],
    thickness_mm: float,
    params: ScannerParams,
    rng: np.random.Generator,
) -> np.ndarray:
    """Blur, noise and streaks on one slab-averaged object slice (float32 HU)."""
    rows, cols = obj_hu.shape
    f = _freq(rows, cols, pixel_mm)
    enhance = KERNELS.get(params.kernel, (0, 0.0, 0))[1]
    m = mtf(f, params.fwhm_mm(), enhance)
    spec = np.fft.rfft2(obj_hu) * m
    sigma = params.sigma_for(thickness_mm)
    if sigma > 0:
        shape_ = np.sqrt(f) * mtf(f, params.grain_mm(), enhance)  # amplitude spectrum of FBP noise
        white = rng.standard_normal((rows, cols), dtype=np.float32)
        nspec = np.fft.rfft2(white) * shape_
        # Scale to the requested sigma: the variance of the shaped noise is the mean of |H|^2
        # over the full (two-sided) spectrum.
        ff = np.sqrt(np.fft.fftfreq(rows, d=pixel_mm[0])[:, None] ** 2 + np.fft.fftfreq(cols, d=pixel_mm[1])[None, :] ** 2)
        power = float(np.mean(ff * mtf(ff, params.grain_mm(), enhance) ** 2))
        spec = spec + nspec * np.float32(sigma / np.sqrt(max(power, 1e-12)))
    out = np.fft.irfft2(spec, s=(rows, cols)).astype(np.float32)
    if params.streaks_hu > 0:
        out += streaks(obj_hu, params.streaks_hu, rng)
    return out


def streaks(obj_hu: np.ndarray, amplitude_hu: float, rng: np.random.Generator) -> np.ndarray:
    """Beam-hardening / photon-starvation streaks through dense bone, inside the head."""
    rows, cols = obj_hu.shape
    bone = obj_hu > 500
    frac = float(bone.mean())
    if frac < 0.01:
        return np.zeros_like(obj_hu)
    yy, xx = np.nonzero(bone)
    n = int(rng.integers(3, 9))
    rr, cc = np.mgrid[0:rows, 0:cols].astype(np.float32)
    out = np.zeros((rows, cols), np.float32)
    strength = amplitude_hu * min(1.0, frac / 0.08)
    for _ in range(n):
        i, j = rng.integers(len(yy), size=2)
        r0, c0, r1, c1 = float(yy[i]), float(xx[i]), float(yy[j]), float(xx[j])
        d = np.hypot(r1 - r0, c1 - c0)
        if d < 20:
            continue
        nr, nc = -(c1 - c0) / d, (r1 - r0) / d
        dist = (rr - r0) * nr + (cc - c0) * nc
        width = float(rng.uniform(0.8, 3.0))
        out += float(rng.choice([-1.0, -1.0, 1.0]) * strength * rng.uniform(0.4, 1.0)) * np.exp(-0.5 * (dist / width) ** 2)
    head = obj_hu > -300
    return np.where(head, out, 0.0).astype(np.float32)
