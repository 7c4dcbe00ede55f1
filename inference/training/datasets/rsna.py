"""The RSNA 2019 intracranial hemorrhage layout: labels per image, slices grouped into series.

Layout (as Kaggle ships it; see DESIGN.md):

- `<root>/stage_2_train.csv`: header `ID,Label`, six rows per image `ID_<image>_<label>,<0|1>`
  with label in epidural, intraparenchymal, intraventricular, subarachnoid, subdural, any;
- `<root>/stage_2_train/ID_<image>.dcm`: one slice per file, no study folders.

Slices are grouped by (StudyInstanceUID, SeriesInstanceUID) from a header-only pass, then each
series is decoded by the study core (`viewer.core.loading.open_paths` + `load_stack`), the same
loader the viewer uses: canonical orientation, HU, and slice order by position along the normal,
which is what gives the 2.5D context. Labels are joined to slices by file name (`ID_<image>.dcm`),
never by index, so reordering cannot move a label to another image. RSNA's UIDs are not
conformant (`ID_0fe31b044`) and its window values are multi-valued, zero-padded strings; neither
matters here (UIDs are only compared as strings, windows are never read).
"""
from __future__ import annotations

import csv
import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference.labels import LABELS
from viewer.core.errors import IchviewError

CSV_NAME = "stage_2_train.csv"
IMAGE_DIR = "stage_2_train"


class RsnaLayoutError(IchviewError):
    """A folder that is not in the RSNA 2019 layout, or a label file that cannot be read."""

    def __init__(self, path: Path | str, reason: str, fix: str = "") -> None:
        self.path = Path(path)
        message = f"{self.path}: {reason}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


@dataclass(frozen=True)
class RsnaSeries:
    """One series of the RSNA set: its files (any order) and each file's six labels."""

    study_uid: str
    series_uid: str
    paths: tuple[Path, ...]
    image_ids: tuple[str, ...]  # "ID_<image>", one per path
    labels: np.ndarray  # (n, 6) uint8 in LABELS order, one row per path


@dataclass(frozen=True, eq=False)
class RsnaVolume:
    """A decoded series in canonical slice order with the labels of each slice."""

    study_uid: str
    series_uid: str
    hu: np.ndarray  # (n, rows, cols) int16 HU, canonical orientation
    positions_mm: tuple[float, ...]
    pixel_spacing_mm: tuple[float, float]
    image_ids: tuple[str, ...]  # per canonical slice
    labels: np.ndarray  # (n, 6) uint8, per canonical slice


def image_id_of(path: Path | str) -> str:
    """`ID_<image>` of an RSNA file name (`ID_<image>.dcm`)."""
    return Path(path).stem


def read_label_csv(csv_path: Path | str) -> dict[str, np.ndarray]:
    """`ID_<image>` -> (6,) uint8 labels in LABELS order, from `stage_2_train.csv`.

    An image with fewer than six label rows is an error naming the image (a truncated file).
    """
    path = Path(csv_path)
    if not path.is_file():
        raise RsnaLayoutError(path, "label file not found", f"point --rsna-dir at the folder holding {CSV_NAME}")
    column = {name: i for i, name in enumerate(LABELS)}
    labels: dict[str, np.ndarray] = {}
    seen: dict[str, int] = defaultdict(int)
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["ID", "Label"]:
            raise RsnaLayoutError(path, f"header is {header!r}, expected ['ID', 'Label']", "is this stage_2_train.csv?")
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            key, value = row[0].strip(), row[1].strip()
            image_id, _, label = key.rpartition("_")
            if label not in column or not image_id.startswith("ID_"):
                raise RsnaLayoutError(path, f"line {line_no}: cannot parse ID {key!r}", "expected ID_<image>_<label>")
            if value not in ("0", "1"):
                raise RsnaLayoutError(path, f"line {line_no}: label {value!r} is not 0 or 1")
            row_labels = labels.setdefault(image_id, np.zeros(len(LABELS), np.uint8))
            row_labels[column[label]] = int(value)
            seen[image_id] += 1
    incomplete = [k for k, n in seen.items() if n != len(LABELS)]
    if incomplete:
        raise RsnaLayoutError(path, f"{len(incomplete)} images without six label rows, e.g. {incomplete[0]}")
    return labels


def _read_uids(path: Path) -> tuple[str, str]:
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-conformant UIDs are expected in this set
        ds = pydicom.dcmread(
            path, stop_before_pixels=True, specific_tags=["StudyInstanceUID", "SeriesInstanceUID"]
        )
    return str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", ""))


def index_series(
    root: Path | str,
    *,
    csv_name: str = CSV_NAME,
    image_dir: str = IMAGE_DIR,
    max_series: int | None = None,
) -> list[RsnaSeries]:
    """Group the labelled images of an RSNA folder into series (sorted by study, series UID).

    Labelled images without a file, and files without labels, are left out (the test stage of the
    challenge has no labels). `max_series` keeps the first series in that order (a subset for a
    quick run).
    """
    root = Path(root)
    labels = read_label_csv(root / csv_name)
    folder = root / image_dir
    if not folder.is_dir():
        raise RsnaLayoutError(folder, "image folder not found", f"expected {image_dir}/ID_<image>.dcm beside {csv_name}")
    groups: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for image_id in sorted(labels):
        path = folder / f"{image_id}.dcm"
        if not path.is_file():
            continue
        groups[_read_uids(path)].append(path)
    if not groups:
        raise RsnaLayoutError(folder, "no labelled DICOM file found", "file names must be ID_<image>.dcm")
    out = []
    for (study, series), paths in sorted(groups.items()):
        ids = tuple(image_id_of(p) for p in paths)
        out.append(RsnaSeries(study, series, tuple(paths), ids, np.stack([labels[i] for i in ids])))
        if max_series is not None and len(out) >= max_series:
            break
    return out


def load_series(series: RsnaSeries) -> RsnaVolume:
    """Decode one series with the study core; labels follow their files into canonical order.

    When the core splits a series into several stacks (mixed matrix sizes, a localizer), the
    largest stack is kept and the other files are dropped.
    """
    from viewer.core.loading import load_stack, open_paths

    tree = open_paths(list(series.paths))
    stacks = [s for s in tree.stacks() if not s.is_localizer] or tree.stacks()
    if not stacks:
        raise RsnaLayoutError(series.paths[0].parent, f"series {series.series_uid} has no image stack")
    stack = max(stacks, key=lambda s: s.n_slices)
    volume = load_stack(stack, workers=1)
    by_id = dict(zip(series.image_ids, series.labels))
    ids = tuple(image_id_of(p) for p in volume.source_paths)
    return RsnaVolume(
        study_uid=series.study_uid,
        series_uid=series.series_uid,
        hu=volume.hu,
        positions_mm=tuple(float(p) for p in volume.positions_mm),
        pixel_spacing_mm=volume.pixel_spacing_mm,
        image_ids=ids,
        labels=np.stack([by_id[i] for i in ids]).astype(np.uint8),
    )


def iter_volumes(series: Sequence[RsnaSeries]) -> Iterator[RsnaVolume]:
    """Decode series one after another."""
    for s in series:
        yield load_series(s)
