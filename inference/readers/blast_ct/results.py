"""What the second reader (BLAST-CT) returns: plain frozen dataclasses, no torch, no Qt.

Label values in `SecondReadResult.labels`: 0 background, then `LESION_CLASSES` in order
(1 IPH, 2 EAH = extra-axial: subdural, epidural and subarachnoid together, 3 perilesional oedema,
4 IVH). `BLOOD_CLASSES` are the haemorrhage classes (oedema is not blood).

Volumes and areas are physical, measured on the Volume's own grid (the label map is mapped back
to it): a voxel of slice k covers row_mm x col_mm in-plane and `slice_extent_mm(k)` along the
normal, where the extent is half the distance between slice k's neighbours' positions
(`positions_mm`), one full gap at either end, and for a single slice its DICOM slice thickness
(else `spacing_mm[0]`, else 1 mm). The extents add up to the stack's coverage, so uneven spacing
and overlapping slices (2 mm thick at 1.5 mm steps) are counted once per millimetre.

Components: 3D connected components (26-connectivity on the Volume's grid) of each class
separately. `MIN_COMPONENT_ML` (0.1 mL) drops single-voxel specks from `volumes_ml` and
`components`; `VERDICT_MIN_ML` (1.0 mL) is the size below which a component should not decide a
verdict: BLAST-CT's own README reports volumes under about 1 mL moving between runs whose internal
grid shifted by under a millimetre, and on the three normal real scans here the default ensemble's
largest false blood component stays below it (see resources/model/blast-ct-v1/MODEL_CARD.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inference.results import Acceptance

__all__ = [
    "LESION_CLASSES",
    "BLOOD_CLASSES",
    "MIN_COMPONENT_ML",
    "VERDICT_MIN_ML",
    "SecondReadProgress",
    "LesionComponent",
    "SecondReadResult",
]

LESION_CLASSES: tuple[str, ...] = ("IPH", "EAH", "oedema", "IVH")  # label values 1..4
BLOOD_CLASSES: tuple[str, ...] = ("IPH", "EAH", "IVH")
MIN_COMPONENT_ML = 0.1
VERDICT_MIN_ML = 1.0


@dataclass(frozen=True)
class SecondReadProgress:
    """`done` of `total` work units (one tile through one model) finished for this stack."""

    series_uid: str
    stack_id: str
    done: int
    total: int


@dataclass(frozen=True)
class LesionComponent:
    """One 3D connected component of one class, on the Volume's grid."""

    label: str  # one of LESION_CLASSES
    volume_ml: float
    first_slice: int  # canonical slice indices, inclusive
    last_slice: int
    centroid_index: tuple[float, float, float]  # (k, r, c), volume-weighted, in voxel indices


@dataclass(frozen=True, eq=False)
class SecondReadResult:
    """BLAST-CT's reading of one stack (or, when `acceptance.accepted` is False, why not)."""

    series_uid: str
    stack_id: str
    labels: np.ndarray  # (n_slices, rows, cols) uint8 on the Volume's grid; zeros when refused
    slice_area_mm2: np.ndarray  # (n_slices, 4) float32: area of each class on each slice (all voxels)
    volumes_ml: dict[str, float]  # per LESION_CLASSES: sum of components >= MIN_COMPONENT_ML
    components: tuple[LesionComponent, ...]  # >= MIN_COMPONENT_ML, largest first
    models: tuple[str, ...]  # ensemble members used, e.g. ("blast-ct-v1/model_1",)
    weights_sha256: tuple[str, ...]  # of each member's file, same order
    device: str
    seconds: float
    acceptance: Acceptance
    min_component_ml: float = MIN_COMPONENT_ML
    notes: tuple[str, ...] = field(default_factory=tuple)  # e.g. how a gantry tilt was handled

    @property
    def n_slices(self) -> int:
        return int(self.labels.shape[0])

    def blood_components(self, min_ml: float = VERDICT_MIN_ML) -> tuple[LesionComponent, ...]:
        """Components of the blood classes of at least `min_ml` (default: the verdict size)."""
        return tuple(c for c in self.components if c.label in BLOOD_CLASSES and c.volume_ml >= min_ml)
