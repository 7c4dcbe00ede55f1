"""Plain frozen dataclasses that inference returns (no torch, no Qt).

Contract (fixed; the viewer and the report rely on it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inference.labels import LABELS


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    sha256: str  # of the weights file
    threshold: float  # operating threshold on `any`, chosen on the held-out set; used for verdicts
    trained_on: str  # one line, e.g. "synthetic head CT only (not clinically validated)"


@dataclass(frozen=True)
class Acceptance:
    """Whether the engine analyses a volume; when not, the reason in words."""

    accepted: bool
    reason: str = ""


@dataclass(frozen=True, eq=False)
class SliceResult:
    """One slice's outputs, streamed as they are computed."""

    series_uid: str
    stack_id: str
    index: int  # canonical slice index (0-based, display order)
    probabilities: dict[str, float]  # keys: LABELS
    # Grad-CAM of `any` on the model grid, float16 in [0, 1], already scaled by the probability
    # (a confident negative slice is ~0 everywhere) and gated to blood-density pixels inside the
    # skull (inference.gradcam.gated_cams); None when CAMs were not asked for.
    cam: np.ndarray | None = None
    # Extra CAMs per subtype label when asked for.
    subtype_cams: dict[str, np.ndarray] = field(default_factory=dict)
    # (2, 3) affine: canonical image [row, col] = to_image @ [y, x, 1] for CAM cell centre (y, x)
    # (inference.preprocess.cam_cell_affine). The model grid is centred on the head, not on the
    # image, so a CAM must be placed with it (None when no CAM).
    to_image: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class StackAnalysis:
    """All slices of one stack, or the reason it was not analysed."""

    series_uid: str
    stack_id: str
    acceptance: Acceptance
    model: ModelInfo | None
    device: str = ""
    seconds: float = 0.0
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros((0, len(LABELS)), np.float32))
    cams: np.ndarray | None = None  # (n_slices, h, w) float16, model resolution
    cam_affines: np.ndarray | None = None  # (n_slices, 2, 3): CAM grid -> image pixel, see SliceResult

    @property
    def n_slices(self) -> int:
        return int(self.probabilities.shape[0])
