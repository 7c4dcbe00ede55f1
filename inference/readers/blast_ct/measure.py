"""Physical areas, volumes and 3D connected components of a label map on the Volume's grid.

The rules (slice extents from `positions_mm`, 26-connectivity, `MIN_COMPONENT_ML`) are documented
in `results.py`. Connected components come from SimpleITK (a product dependency, C++), run on the
bounding box of each class only.
"""
from __future__ import annotations

import numpy as np

from inference.readers.blast_ct.results import LESION_CLASSES, MIN_COMPONENT_ML, LesionComponent

__all__ = ["slice_areas_mm2", "find_components", "class_volumes_ml"]


def slice_areas_mm2(labels: np.ndarray, pixel_spacing_mm: tuple[float, float]) -> np.ndarray:
    """(n_slices, 4) float32: area in mm^2 of each lesion class on each slice."""
    n = labels.shape[0]
    counts = np.zeros((n, len(LESION_CLASSES)), np.float64)
    for k in range(n):
        c = np.bincount(labels[k].ravel(), minlength=len(LESION_CLASSES) + 1)
        counts[k] = c[1 : len(LESION_CLASSES) + 1]
    return (counts * pixel_spacing_mm[0] * pixel_spacing_mm[1]).astype(np.float32)


def find_components(
    labels: np.ndarray,
    slice_extents_mm: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    min_ml: float = MIN_COMPONENT_ML,
) -> tuple[LesionComponent, ...]:
    """Each class's 3D connected components (26-connected) of at least `min_ml`, largest first."""
    import SimpleITK as sitk

    voxel_ml = np.asarray(slice_extents_mm, np.float64) * pixel_spacing_mm[0] * pixel_spacing_mm[1] / 1000.0
    out: list[LesionComponent] = []
    for value, name in enumerate(LESION_CLASSES, start=1):
        mask = labels == value
        if not mask.any():
            continue
        ks = np.flatnonzero(mask.any(axis=(1, 2)))
        rs = np.flatnonzero(mask.any(axis=(0, 2)))
        cs = np.flatnonzero(mask.any(axis=(0, 1)))
        k0, r0, c0 = ks[0], rs[0], cs[0]
        box = np.ascontiguousarray(mask[k0 : ks[-1] + 1, r0 : rs[-1] + 1, c0 : cs[-1] + 1]).astype(np.uint8)
        cc = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(box), True))
        kk, rr, cc_col = np.nonzero(cc)
        ids = cc[kk, rr, cc_col].astype(np.int64)
        w = voxel_ml[k0 + kk]
        n_ids = int(ids.max()) + 1
        vol = np.bincount(ids, weights=w, minlength=n_ids)
        sk = np.bincount(ids, weights=w * (k0 + kk), minlength=n_ids)
        sr = np.bincount(ids, weights=w * (r0 + rr), minlength=n_ids)
        sc = np.bincount(ids, weights=w * (c0 + cc_col), minlength=n_ids)
        first = np.full(n_ids, np.iinfo(np.int64).max)
        last = np.full(n_ids, -1)
        np.minimum.at(first, ids, k0 + kk)
        np.maximum.at(last, ids, k0 + kk)
        for i in range(1, n_ids):
            if vol[i] >= min_ml:
                out.append(
                    LesionComponent(
                        label=name,
                        volume_ml=float(vol[i]),
                        first_slice=int(first[i]),
                        last_slice=int(last[i]),
                        centroid_index=(float(sk[i] / vol[i]), float(sr[i] / vol[i]), float(sc[i] / vol[i])),
                    )
                )
    out.sort(key=lambda c: -c.volume_ml)
    return tuple(out)


def class_volumes_ml(components: tuple[LesionComponent, ...]) -> dict[str, float]:
    """Per LESION_CLASSES: the summed volume of the given components (0.0 for a class with none)."""
    vols = {name: 0.0 for name in LESION_CLASSES}
    for c in components:
        vols[c.label] += c.volume_ml
    return vols
