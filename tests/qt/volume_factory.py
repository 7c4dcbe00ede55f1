"""A Volume around a test HU array, for widget tests that need one without reading DICOM."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from viewer.core.volume import StudyMetadata, Volume


def make_volume(
    hu: np.ndarray,
    *,
    pixel_spacing_mm: tuple[float, float] = (1.0, 1.0),
    stack_id: str = "1.2.3",
) -> Volume:
    """A Volume around an HU array (n, rows, cols) with the given in-plane spacing, 5 mm slices."""
    n = hu.shape[0]
    return Volume(
        hu=hu.astype(np.int16),
        spacing_mm=(5.0, float(pixel_spacing_mm[0]), float(pixel_spacing_mm[1])),
        origin_mm=(0.0, 0.0, 0.0),
        direction=np.eye(3),
        positions_mm=tuple(5.0 * k for k in range(n)),
        sop_instance_uids=tuple(f"{stack_id}.{k}" for k in range(n)),
        instance_numbers=tuple(range(1, n + 1)),
        slice_thickness_mm=(5.0,) * n,
        source_paths=tuple(Path(f"/nonexistent/{k}.dcm") for k in range(n)),
        series_uid=stack_id.split("#")[0],
        stack_id=stack_id,
        metadata=StudyMetadata(),
    )
