"""Write a small folder in the RSNA 2019 layout (for the RSNA reader and training tests).

Like the real set: `stage_2_train.csv` with six `ID_<image>_<label>,<0|1>` rows per image (rows
shuffled), `stage_2_train/ID_<image>.dcm` one slice per file with no study folders, UIDs such as
`ID_0fe31b044` (not conformant), multi-valued zero-padded window values, file names unrelated to
slice order. Each image carries a unique marker value (HU) in a square, so a test can tell from
the pixels which image a slice is and check that its labels travelled with it.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.labels import LABELS
from inference.synth.dicom_writer import SeriesSpec, write_series

MARKER = (slice(8, 16), slice(8, 16))


@dataclass(frozen=True)
class RsnaFolder:
    root: Path
    labels: dict[str, np.ndarray]  # image id -> (6,) labels
    marker_hu: dict[int, str]  # marker HU -> image id
    series_sizes: dict[tuple[str, str], int]


def _hex_id(rng: np.random.Generator) -> str:
    return "ID_" + "".join(rng.choice(list("0123456789abcdef"), size=9))


def write_rsna_folder(root: Path, *, seed: int = 0, series_slices: tuple[int, ...] = (6, 5, 7), size: int = 64) -> RsnaFolder:
    """Three series (the first two in one study) of a tiny head-like image with markers."""
    rng = np.random.default_rng(seed)
    images = root / "stage_2_train"
    images.mkdir(parents=True)
    labels: dict[str, np.ndarray] = {}
    marker_hu: dict[int, str] = {}
    sizes: dict[tuple[str, str], int] = {}
    study_ids = [_hex_id(rng), _hex_id(rng)]
    next_marker = 100
    yy, xx = np.mgrid[:size, :size]
    head = np.hypot(yy - size / 2, xx - size / 2)
    for k, n in enumerate(series_slices):
        study = study_ids[0] if k < 2 else study_ids[1]
        series = _hex_id(rng)
        ids = [_hex_id(rng) for _ in range(n)]
        hu = np.full((n, size, size), -1000.0)
        for i in range(n):
            hu[i][head < size * 0.45] = 900.0
            hu[i][head < size * 0.4] = 35.0
            hu[i][MARKER] = next_marker
            marker_hu[next_marker] = ids[i]
            next_marker += 20
            lab = (rng.random(len(LABELS)) < 0.4).astype(np.uint8)
            lab[0] = lab[1:].max()
            labels[ids[i]] = lab
        # Slices written in a shuffled order along z, like real RSNA files (IPP decides the order).
        order = rng.permutation(n)
        z0 = float(rng.uniform(-50, 50))
        positions = tuple((-0.25 * size, -0.25 * size, z0 + 5.0 * float(j)) for j in order)
        spec = SeriesSpec(
            patient_id=_hex_id(rng),
            study_uid=study,
            series_uid=series,
            frame_of_reference_uid=_hex_id(rng),
            pixel_spacing_mm=(0.5, 0.5),
            slice_thickness_mm=5.0,
            image_positions_mm=positions,
            window_center_hu=(36.0, 36.0),
            window_width_hu=(80.0, 80.0),
            pixel_signed=False,
            rescale_intercept=-1024.0,
        )
        overrides = {i: {"WindowCenter": ["00036", "00036"], "WindowWidth": ["00080", "00080"]} for i in range(n)}
        write_series(
            hu, images, spec,
            file_names=[f"{image_id}.dcm" for image_id in ids],
            sop_instance_uids=ids,
            slice_overrides=overrides,
            instance_numbers=[None] * n,
        )
        sizes[(study, series)] = n
    rows = [(f"{image_id}_{lab}", str(int(v))) for image_id, lab_row in labels.items() for lab, v in zip(LABELS, lab_row)]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    with (root / "stage_2_train.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ID", "Label"])
        w.writerows(rows)
    return RsnaFolder(root, labels, marker_hu, sizes)
