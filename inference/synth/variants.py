"""Awkward study variants for loader tests, each with the answer the loader should reach.

Every function writes a small head series (default 12 slices of 128x128 at 2 mm pixels, 5 mm apart)
into `out_dir` and returns a `WrittenVariant` holding the files and what a correct loader gives:
the HU array in the canonical display orientation (see viewer/core/volume.py: columns patient
right -> left, rows anterior -> posterior, slices inferior -> superior for axial), the positions
along the slice normal, the spacing, and the warning codes expected (codes as in
viewer/core/warnings.py). The same `seed` and grid give the same canonical array for every axial
variant, so tests can compare the arrays of a flipped, transposed or feet-first series with the
plain one.

The head is sampled from a function of patient (LPS) coordinates: `anatomy.head_sampler(seed)` by
default (realistic anatomy), or any `sampler(points_mm (..., 3)) -> HU`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from inference.synth.dicom_writer import (
    AXIAL_IOP,
    SeriesSpec,
    slice_normal,
    synthetic_uid,
    tilted_iop,
    write_series,
)

Sampler = Callable[[np.ndarray], np.ndarray]

# Warning codes (mirrors viewer/core/warnings.py; kept as strings so synth does not import core).
GANTRY_TILT = "gantry_tilt"
MISSING_SLICES = "missing_slices"
DUPLICATE_POSITION = "duplicate_position"


@dataclass(frozen=True)
class Grid:
    """The axial acquisition grid: matrix, pixel spacing, slice step and where slice 0 lies."""

    n_slices: int = 12
    rows: int = 128
    cols: int = 128
    row_spacing_mm: float = 2.0  # between rows (along anterior -> posterior)
    col_spacing_mm: float = 2.0  # between columns (along right -> left)
    step_mm: float = 5.0
    z0_mm: float = 30.0  # LPS z of the lowest slice (head_sampler: skull base near z = 0, vertex ~125)

    @property
    def origin_mm(self) -> np.ndarray:
        """LPS centre of canonical voxel [0, 0, 0] (the FOV is centred on x = y = 0)."""
        return np.array(
            [
                -(self.cols - 1) * self.col_spacing_mm / 2.0,
                -(self.rows - 1) * self.row_spacing_mm / 2.0,
                self.z0_mm,
            ]
        )


@dataclass(frozen=True)
class WrittenVariant:
    """Files written for one variant and what a correct loader should make of them."""

    name: str
    paths: tuple[Path, ...]  # every file written (including any extra series / scout)
    series_uid: str
    expected_hu: np.ndarray  # canonical (n, rows, cols) int16 of the main stack
    # Per canonical slice, its position along the canonical +k direction (superior for axial,
    # posterior for coronal; for a tilted stack the tilted normal): increasing with k.
    expected_positions_mm: tuple[float, ...]
    expected_spacing_mm: tuple[float, float, float]  # (slice, row, col) in canonical order
    expected_orientation: str = "axial"
    expected_warnings: tuple[str, ...] = ()
    expected_tilt_deg: float = 0.0
    expected_n_stacks: int = 1
    notes: dict[str, object] = field(default_factory=dict)


def _default_sampler(seed: int) -> Sampler:
    from inference.synth.anatomy import head_sampler

    return head_sampler(seed)


def _noise(seed: int, shape: tuple[int, ...], sigma_hu: float) -> np.ndarray:
    if sigma_hu <= 0:
        return np.zeros(shape, np.float32)
    return np.random.default_rng(seed + 7919).normal(0.0, sigma_hu, shape).astype(np.float32)


def _plane_points(
    origin: np.ndarray, dcol: np.ndarray, drow: np.ndarray, rows: int, cols: int
) -> np.ndarray:
    r = np.arange(rows, dtype=np.float64)[:, None, None]
    c = np.arange(cols, dtype=np.float64)[None, :, None]
    return (origin[None, None, :] + c * dcol[None, None, :] + r * drow[None, None, :]).astype(np.float32)


def render_canonical_axial(
    sampler: Sampler, grid: Grid, *, seed: int = 0, noise_hu: float = 3.0, tilt_deg: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(hu (n, rows, cols) int16 canonical, IPP (n, 3)) of an axial (optionally tilted) acquisition.

    Tilt: the table advances along +z by `grid.step_mm`; each image plane is tilted (GE sign).
    """
    iop = tilted_iop(tilt_deg) if tilt_deg else AXIAL_IOP
    u = np.asarray(iop[:3]) * grid.col_spacing_mm
    v = np.asarray(iop[3:]) * grid.row_spacing_mm
    o = grid.origin_mm
    # Centre the tilted plane on the same (x, y) as the untilted one.
    first = o.copy()
    first[1] = -(grid.rows - 1) / 2.0 * v[1]
    first[2] = o[2] - (grid.rows - 1) / 2.0 * v[2]
    ipp = np.array([first + k * grid.step_mm * np.array([0.0, 0.0, 1.0]) for k in range(grid.n_slices)])
    hu = np.empty((grid.n_slices, grid.rows, grid.cols), np.float32)
    for k in range(grid.n_slices):
        hu[k] = sampler(_plane_points(ipp[k], u, v, grid.rows, grid.cols))
    hu += _noise(seed, hu.shape, noise_hu)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16), ipp


def restore_axial(
    hu_canonical: np.ndarray, grid: Grid, ipp_canonical: np.ndarray, row_dir: Sequence[float], col_dir: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Store a canonical (untilted) axial array with another axis-aligned IOP.

    Returns (stored hu (n, rows', cols'), IPP per stored slice (n, 3), PixelSpacing (row, col)).
    `row_dir` is the LPS direction of increasing stored column, `col_dir` of increasing stored row;
    each must be +-x or +-y.
    """
    u = np.rint(np.asarray(row_dir, float)).astype(int)
    v = np.rint(np.asarray(col_dir, float)).astype(int)
    rows, cols = grid.rows, grid.cols
    R, C = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    arr = hu_canonical
    transposed = abs(u[1]) == 1  # stored columns run along y (canonical rows)
    if transposed:
        arr = arr.transpose(0, 2, 1)
        R, C = R.T, C.T
        spacing = (grid.col_spacing_mm, grid.row_spacing_mm)
    else:
        spacing = (grid.row_spacing_mm, grid.col_spacing_mm)
    if u.sum() < 0:
        arr = arr[:, :, ::-1]
        R, C = R[:, ::-1], C[:, ::-1]
    if v.sum() < 0:
        arr = arr[:, ::-1, :]
        R, C = R[::-1, :], C[::-1, :]
    r0, c0 = int(R[0, 0]), int(C[0, 0])
    offset = np.array([c0 * grid.col_spacing_mm, r0 * grid.row_spacing_mm, 0.0])
    ipp = ipp_canonical + offset[None, :]
    return np.ascontiguousarray(arr), ipp, spacing


def _spec(seed: int, name: str, grid: Grid, **kw: object) -> SeriesSpec:
    base = SeriesSpec(
        patient_name=f"SYNTHETIC^VARIANT^{name.upper()}",
        patient_id=f"SYN-V{seed:04d}",
        uid_seed=f"variant-{name}-{seed}",
        series_description=f"SYNTHETIC {name}",
        pixel_spacing_mm=(grid.row_spacing_mm, grid.col_spacing_mm),
        slice_thickness_mm=grid.step_mm,
        slice_step_mm=grid.step_mm,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _positions_along(ipp: np.ndarray, iop: Sequence[float]) -> np.ndarray:
    return ipp @ slice_normal(iop)


def _canonical(
    seed: int, grid: Grid, sampler: Sampler | None, noise_hu: float, tilt_deg: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    return render_canonical_axial(
        sampler or _default_sampler(seed), grid, seed=seed, noise_hu=noise_hu, tilt_deg=tilt_deg
    )


def _axial_result(
    name: str, paths: list[Path], spec: SeriesSpec, hu: np.ndarray, ipp: np.ndarray, grid: Grid, **kw: object
) -> WrittenVariant:
    positions = _positions_along(ipp, AXIAL_IOP)
    return WrittenVariant(
        name=name,
        paths=tuple(paths),
        series_uid=spec.resolved_uids()[1],
        expected_hu=hu,
        expected_positions_mm=tuple(float(p) for p in positions),
        expected_spacing_mm=(grid.step_mm, grid.row_spacing_mm, grid.col_spacing_mm),
        **kw,  # type: ignore[arg-type]
    )


def write_plain(
    out_dir: Path | str, *, seed: int = 0, grid: Grid = Grid(), sampler: Sampler | None = None, noise_hu: float = 3.0
) -> WrittenVariant:
    """The reference: axial HFS, standard IOP, files and InstanceNumbers in geometric order."""
    hu, ipp = _canonical(seed, grid, sampler, noise_hu)
    spec = _spec(seed, "plain", grid, image_positions_mm=tuple(map(tuple, ipp)))
    paths = write_series(hu, out_dir, spec)
    return _axial_result("plain", paths, spec, hu, ipp, grid)


def write_shuffled(
    out_dir: Path | str, *, seed: int = 0, grid: Grid = Grid(), sampler: Sampler | None = None, noise_hu: float = 3.0
) -> WrittenVariant:
    """Files with random names (no extension) and InstanceNumbers that contradict the geometry."""
    hu, ipp = _canonical(seed, grid, sampler, noise_hu)
    spec = _spec(seed, "shuffled", grid, image_positions_mm=tuple(map(tuple, ipp)))
    rng = np.random.default_rng(seed + 1)
    names = [f"{rng.integers(16**8):08x}" for _ in range(grid.n_slices)]
    numbers = list(rng.permutation(grid.n_slices) + 1)
    while grid.n_slices > 2 and numbers == sorted(numbers):
        numbers = list(rng.permutation(grid.n_slices) + 1)
    paths = write_series(hu, out_dir, spec, file_names=names, instance_numbers=[int(n) for n in numbers])
    return _axial_result("shuffled", paths, spec, hu, ipp, grid, notes={"instance_numbers": numbers})


def _write_restored(
    name: str,
    out_dir: Path | str,
    seed: int,
    grid: Grid,
    sampler: Sampler | None,
    noise_hu: float,
    row_dir: Sequence[float],
    col_dir: Sequence[float],
    *,
    patient_position: str = "HFS",
    reverse_files: bool = False,
) -> WrittenVariant:
    hu, ipp = _canonical(seed, grid, sampler, noise_hu)
    stored, stored_ipp, spacing = restore_axial(hu, grid, ipp, row_dir, col_dir)
    order = np.arange(grid.n_slices)[::-1] if reverse_files else np.arange(grid.n_slices)
    iop = tuple(float(v) for v in (*row_dir, *col_dir))
    spec = _spec(
        seed,
        name,
        grid,
        image_orientation=iop,
        image_positions_mm=tuple(map(tuple, stored_ipp[order])),
        pixel_spacing_mm=spacing,
        patient_position=patient_position,
    )
    paths = write_series(stored[order], out_dir, spec)
    return _axial_result(name, paths, spec, hu, ipp, grid, notes={"iop": iop})


def write_feet_first(
    out_dir: Path | str, *, seed: int = 0, grid: Grid = Grid(), sampler: Sampler | None = None, noise_hu: float = 3.0
) -> WrittenVariant:
    """PatientPosition FFS with IOP (-1,0,0, 0,1,0): normal points to the feet; files vertex first."""
    return _write_restored(
        "feet_first", out_dir, seed, grid, sampler, noise_hu, (-1, 0, 0), (0, 1, 0),
        patient_position="FFS", reverse_files=True,
    )


def write_flipped_iop(
    out_dir: Path | str, *, seed: int = 0, grid: Grid = Grid(), sampler: Sampler | None = None, noise_hu: float = 3.0
) -> WrittenVariant:
    """IOP (-1,0,0, 0,-1,0): both in-plane vectors flipped (image stored rotated by 180 degrees)."""
    return _write_restored("flipped_iop", out_dir, seed, grid, sampler, noise_hu, (-1, 0, 0), (0, -1, 0))


def write_transposed_iop(
    out_dir: Path | str, *, seed: int = 0, grid: Grid = Grid(), sampler: Sampler | None = None, noise_hu: float = 3.0
) -> WrittenVariant:
    """IOP (0,1,0, 1,0,0): stored rows run along x and columns along y (normal points to the feet)."""
    return _write_restored("transposed_iop", out_dir, seed, grid, sampler, noise_hu, (0, 1, 0), (1, 0, 0))


def write_coronal(
    out_dir: Path | str,
    *,
    seed: int = 0,
    n_slices: int = 12,
    size: int = 128,
    pixel_mm: float = 2.0,
    step_mm: float = 5.0,
    sampler: Sampler | None = None,
    noise_hu: float = 3.0,
) -> WrittenVariant:
    """A coronal series: IOP (1,0,0, 0,0,-1); canonical columns right->left, rows head->feet,
    slices anterior->posterior."""
    sampler = sampler or _default_sampler(seed)
    u = np.array([1.0, 0.0, 0.0])
    v = np.array([0.0, 0.0, -1.0])
    x0 = -(size - 1) * pixel_mm / 2.0
    z_top = 40.0 + (size - 1) * pixel_mm / 2.0
    y0 = -(n_slices - 1) * step_mm / 2.0
    ipp = np.array([[x0, y0 + k * step_mm, z_top] for k in range(n_slices)])
    hu = np.empty((n_slices, size, size), np.float32)
    for k in range(n_slices):
        hu[k] = sampler(_plane_points(ipp[k], u * pixel_mm, v * pixel_mm, size, size))
    hu += _noise(seed, hu.shape, noise_hu)
    hu16 = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
    iop = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
    spec = SeriesSpec(
        patient_name="SYNTHETIC^VARIANT^CORONAL",
        patient_id=f"SYN-V{seed:04d}",
        uid_seed=f"variant-coronal-{seed}",
        series_description="SYNTHETIC coronal",
        image_type=("DERIVED", "SECONDARY", "REFORMATTED"),
        image_orientation=iop,
        image_positions_mm=tuple(map(tuple, ipp)),
        pixel_spacing_mm=(pixel_mm, pixel_mm),
        slice_thickness_mm=step_mm,
    )
    paths = write_series(hu16, out_dir, spec)
    return WrittenVariant(
        name="coronal",
        paths=tuple(paths),
        series_uid=spec.resolved_uids()[1],
        expected_hu=hu16,
        expected_positions_mm=tuple(float(p) for p in ipp @ slice_normal(iop)),
        expected_spacing_mm=(step_mm, pixel_mm, pixel_mm),
        expected_orientation="coronal",
    )


def write_tilted(
    out_dir: Path | str,
    *,
    tilt_deg: float = 15.0,
    write_tilt_tag: bool = True,
    seed: int = 0,
    grid: Grid = Grid(),
    sampler: Sampler | None = None,
    noise_hu: float = 3.0,
) -> WrittenVariant:
    """Gantry tilt: tilted IOP, table positions along +z (sheared against the normal); with or
    without the GantryDetectorTilt tag. Spacing along the normal is step * cos(tilt)."""
    hu, ipp = _canonical(seed, grid, sampler, noise_hu, tilt_deg=tilt_deg)
    name = "tilted" if write_tilt_tag else "tilted_no_tag"
    spec = _spec(
        seed,
        name,
        grid,
        gantry_tilt_deg=tilt_deg,
        write_tilt_tag=write_tilt_tag,
        image_positions_mm=tuple(map(tuple, ipp)),
    )
    paths = write_series(hu, out_dir, spec)
    iop = tilted_iop(tilt_deg)
    positions = _positions_along(ipp, iop)
    return WrittenVariant(
        name=name,
        paths=tuple(paths),
        series_uid=spec.resolved_uids()[1],
        expected_hu=hu,
        expected_positions_mm=tuple(float(p) for p in positions),
        expected_spacing_mm=(grid.step_mm * float(np.cos(np.deg2rad(tilt_deg))), grid.row_spacing_mm, grid.col_spacing_mm),
        expected_warnings=(GANTRY_TILT,),
        expected_tilt_deg=tilt_deg,
        notes={"iop": iop},
    )


def write_two_patients(
    out_dir: Path | str, *, seed: int = 0, grid: Grid = Grid(), sampler: Sampler | None = None, noise_hu: float = 3.0
) -> tuple[WrittenVariant, WrittenVariant]:
    """Two patients (different IDs, names, studies) in one folder, file names interleaved."""
    results = []
    for p in range(2):
        hu, ipp = _canonical(seed + p, grid, sampler if p == 0 else None, noise_hu)
        spec = _spec(
            seed + p,
            f"patient{p + 1}",
            grid,
            patient_id=f"SYN-P{p + 1}-{seed:04d}",
            uid_seed=f"variant-two-patients-{seed}-{p}",
            image_positions_mm=tuple(map(tuple, ipp)),
        )
        names = [f"IM{2 * i + p + 1:04d}.dcm" for i in range(grid.n_slices)]
        paths = write_series(hu, out_dir, spec, file_names=names)
        results.append(_axial_result(f"patient{p + 1}", paths, spec, hu, ipp, grid, notes={"patient_id": spec.patient_id}))
    return results[0], results[1]


def write_duplicated_slice(
    out_dir: Path | str,
    *,
    duplicate_index: int = 5,
    same_sop_uid: bool = False,
    seed: int = 0,
    grid: Grid = Grid(),
    sampler: Sampler | None = None,
    noise_hu: float = 3.0,
) -> WrittenVariant:
    """One slice written twice (another file name; a new SOPInstanceUID unless `same_sop_uid`)."""
    hu, ipp = _canonical(seed, grid, sampler, noise_hu)
    spec = _spec(seed, "duplicate", grid, image_positions_mm=tuple(map(tuple, ipp)))
    paths = write_series(hu, out_dir, spec)
    series_uid = spec.resolved_uids()[1]
    sop = synthetic_uid(spec.uid_seed, series_uid, "sop", duplicate_index) if same_sop_uid else (
        synthetic_uid(spec.uid_seed, series_uid, "duplicate", duplicate_index)
    )
    extra = write_series(
        hu[duplicate_index : duplicate_index + 1],
        out_dir,
        replace(spec, image_positions_mm=(tuple(ipp[duplicate_index]),)),
        file_names=[f"IM{duplicate_index + 1:04d}_copy.dcm"],
        instance_numbers=[grid.n_slices + 1],
        sop_instance_uids=[sop],
    )
    return _axial_result(
        "duplicate", paths + extra, spec, hu, ipp, grid,
        expected_warnings=(DUPLICATE_POSITION,), notes={"duplicate_index": duplicate_index},
    )


def write_missing_slice(
    out_dir: Path | str,
    *,
    missing_index: int = 6,
    seed: int = 0,
    grid: Grid = Grid(),
    sampler: Sampler | None = None,
    noise_hu: float = 3.0,
) -> WrittenVariant:
    """One interior slice left out: a gap of twice the step. The expected array lacks that slice."""
    hu, ipp = _canonical(seed, grid, sampler, noise_hu)
    keep = [i for i in range(grid.n_slices) if i != missing_index]
    spec = _spec(seed, "missing", grid, image_positions_mm=tuple(map(tuple, ipp[keep])))
    paths = write_series(hu[keep], out_dir, spec, instance_numbers=[i + 1 for i in keep])
    return _axial_result(
        "missing", paths, spec, hu[keep], ipp[keep], grid,
        expected_warnings=(MISSING_SLICES,), notes={"missing_index": missing_index},
    )


def write_with_scout(
    out_dir: Path | str, *, seed: int = 0, grid: Grid = Grid(), sampler: Sampler | None = None, noise_hu: float = 3.0
) -> WrittenVariant:
    """The axial slices plus a lateral scout (ImageType LOCALIZER, sagittal IOP, other matrix)
    under the same SeriesInstanceUID, written as the first file. Two stacks expected."""
    sampler_ = sampler or _default_sampler(seed)
    hu, ipp = _canonical(seed, grid, sampler_, noise_hu)
    spec = _spec(seed, "scout", grid, image_positions_mm=tuple(map(tuple, ipp)))
    paths = write_series(hu, out_dir, spec, file_names=lambda i: f"IM{i + 2:04d}.dcm",
                         instance_numbers=list(range(2, grid.n_slices + 2)))
    # Lateral projection: mean attenuation through x, rows head -> feet, columns anterior -> posterior.
    rows, cols, px = 96, 128, 2.5
    y = (np.arange(cols) - (cols - 1) / 2.0) * px
    z = 100.0 - np.arange(rows) * px
    xs = np.linspace(-90.0, 90.0, 24)
    pts = np.stack(np.broadcast_arrays(xs[:, None, None], y[None, None, :], z[None, :, None]), axis=-1)
    mu = (sampler_(pts.astype(np.float32)) + 1000.0) / 1000.0
    scout = (mu.mean(axis=0) * 1000.0 - 1000.0).astype(np.float32)
    scout_spec = replace(
        spec,
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
        image_orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
        image_positions_mm=((0.0, float(y[0]), float(z[0])),),
        pixel_spacing_mm=(px, px),
        window_center_hu=0.0,
        window_width_hu=2000.0,
    )
    scout_path = write_series(scout[None], out_dir, scout_spec, file_names=["IM0001.dcm"], instance_numbers=[1],
                              sop_instance_uids=[synthetic_uid(spec.uid_seed, "scout")])
    return _axial_result("scout", scout_path + paths, spec, hu, ipp, grid, expected_n_stacks=2,
                         notes={"scout_path": scout_path[0]})


def write_anisotropic(
    out_dir: Path | str,
    *,
    row_spacing_mm: float = 1.6,
    col_spacing_mm: float = 2.4,
    seed: int = 0,
    n_slices: int = 12,
    sampler: Sampler | None = None,
    noise_hu: float = 3.0,
) -> WrittenVariant:
    """Non-square pixels (PixelSpacing row != column) with a matrix covering about 250 mm."""
    grid = Grid(
        n_slices=n_slices,
        rows=int(round(250 / row_spacing_mm)),
        cols=int(round(250 / col_spacing_mm)),
        row_spacing_mm=row_spacing_mm,
        col_spacing_mm=col_spacing_mm,
    )
    hu, ipp = _canonical(seed, grid, sampler, noise_hu)
    spec = _spec(seed, "anisotropic", grid, image_positions_mm=tuple(map(tuple, ipp)))
    paths = write_series(hu, out_dir, spec)
    return _axial_result("anisotropic", paths, spec, hu, ipp, grid)


ALL_AXIAL_VARIANTS: dict[str, Callable[..., WrittenVariant]] = {
    "plain": write_plain,
    "shuffled": write_shuffled,
    "feet_first": write_feet_first,
    "flipped_iop": write_flipped_iop,
    "transposed_iop": write_transposed_iop,
}
