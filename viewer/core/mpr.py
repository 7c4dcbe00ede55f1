"""Multiplanar reformatting of a Volume (numpy only, no Qt): the two planes across a stack and the
mapping between patient points and voxel indices (for a linked crosshair).

Geometry. Voxel (k, r, c) of a Volume lies at LPS

    P = O_k + c * col_mm * u + r * row_mm * v

where u, v are `direction[:, 0]`, `direction[:, 1]` and O_k is the centre of slice k's first voxel.
O_k comes from `Volume.slice_origins_mm` when the loader filled it (the true per-slice positions);
otherwise the table is taken to have advanced along the patient axis nearest the slice normal n
(`direction[:, 2]`), which is how a gantry tilt shears a stack: O_k = O_0 + (p_k - p_0) / (n . e) e,
with p_k = `positions_mm[k]` (the slice's position along n; uneven steps are fine). The position of
any point along n, t(P) = n . (P - O_0) + p_0, gives its fractional slice index by interpolation of
`positions_mm`.

The reformat frame (e_c, e_r, e_k) is the patient axes nearest (u, v, n) (signed like them), so a
tilted stack is reformatted into true, tilt-corrected patient planes: for an axial stack e_c runs
right -> left, e_r anterior -> posterior and e_k inferior -> superior, whatever the tilt or the
patient position (a feet-first stack is already canonical: k runs inferior -> superior). A stack
more oblique than that (no distinct nearest axes) is reformatted in its own frame (u, v, n).
Frame coordinates of a point: (a, b, h) = ((P - O_0) . e_c, (P - O_0) . e_r, (P - O_0) . e_k).

Planes. "rows" (the plane b = const: coronal for an axial stack) shows a across (step col_mm) and
h down from its top (step `step_mm`); "cols" (a = const: sagittal for an axial stack) shows b across
(step row_mm) and h down. Pixel (i, j) of a plane image is the point at across = min + j * step,
h = h_top - i * step_mm (pixel centres). Every vertical step is uniform, whatever the slice
positions: values between slices are interpolated linearly along the stack (labels: nearest).

Sampling. Where the plane cuts every slice along one of its rows (or columns) (any stack whose
column axis is a patient axis, e.g. a gantry tilt about the left-right axis), the slice lines are
read once (a "sheet": n lines, each interpolated between two rows/columns at the slice's own offset)
and the plane image is a 2D interpolation of that sheet: a coronal image of a 300 x 512 x 512 stack
costs a few milliseconds. Other stacks take a general trilinear path (slower, same answer).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from viewer.core.volume import AIR_HU, Volume

ROWS_PLANE, COLS_PLANE = "rows", "cols"
PLANES = (ROWS_PLANE, COLS_PLANE)
_EPS = 1e-6


@dataclass(frozen=True)
class PlaneImage:
    """One reformatted plane: `image` (H, W) and where it lies."""

    plane: str  # ROWS_PLANE or COLS_PLANE
    position_mm: float  # the fixed frame coordinate (b for "rows", a for "cols")
    image: np.ndarray  # (H, W) as displayed: int16 HU (or the sampled array's dtype for other data)
    pixel_spacing_mm: tuple[float, float]  # (between rows, between columns) as displayed
    top_h_mm: float  # native grid: frame h of its row 0's centre (see MprGeometry.native_grid)
    left_mm: float  # native grid: frame coordinate (a or b) of its column 0's centre


class MprGeometry:
    """The geometry of one Volume for reformatting and crosshair mapping (see the module docstring).

    Cheap to build (no voxel is read); holds no copy of the voxels.
    """

    def __init__(self, volume: Volume) -> None:
        self.volume = volume
        d = np.asarray(volume.direction, np.float64).reshape(3, 3)
        self.u, self.v, self.n = (d[:, i] / max(np.linalg.norm(d[:, i]), _EPS) for i in range(3))
        self.origin = np.asarray(volume.origin_mm, np.float64)
        self.row_mm, self.col_mm = (float(s) for s in volume.pixel_spacing_mm)
        self.n_slices, self.rows, self.cols = (int(s) for s in volume.hu.shape)
        pos = np.asarray(volume.positions_mm, np.float64)
        if pos.size != self.n_slices:
            pos = np.arange(self.n_slices, dtype=np.float64) * float(volume.spacing_mm[0] or 1.0)
        if pos.size > 1 and pos[-1] < pos[0]:  # never expected (canonical order ascends)
            pos = pos[0] + np.abs(pos - pos[0])
        self.positions = pos
        self.axes = _frame_axes(self.u, self.v, self.n)  # columns e_c, e_r, e_k
        self.slice_offsets = self._slice_offsets(volume)  # (n, 3): O_k - O_0

    # ----------------------------------------------------------------------------- geometry
    def _slice_offsets(self, volume: Volume) -> np.ndarray:
        origins = getattr(volume, "slice_origins_mm", ()) or ()
        if len(origins) == self.n_slices:
            o = np.asarray(origins, np.float64).reshape(self.n_slices, 3)
            return o - o[0]
        e = self.axes[:, 2]
        along = float(self.n @ e)
        dp = self.positions - self.positions[0]
        if abs(along) < 0.5:  # oblique beyond reason: advance along the normal
            return dp[:, None] * self.n[None, :]
        return (dp / along)[:, None] * e[None, :]

    @cached_property
    def step_mm(self) -> float:
        """The uniform vertical step of reformatted planes: the median slice step, at most twice
        the in-plane pixel size (a thick series is interpolated, not drawn in blocks)."""
        steps = np.diff(self.positions)
        steps = steps[steps > _EPS]
        median = float(np.median(steps)) if steps.size else max(self.row_mm, self.col_mm)
        return max(min(median, 2.0 * max(self.row_mm, self.col_mm)), 0.05)

    @cached_property
    def frame_extent(self) -> np.ndarray:
        """(3, 2): min and max of (a, b, h) over the voxel centres of the stack."""
        cs = np.array([0.0, (self.cols - 1) * self.col_mm])
        rs = np.array([0.0, (self.rows - 1) * self.row_mm])
        corners = (
            self.slice_offsets[:, None, None, :]
            + cs[None, :, None, None] * self.u
            + rs[None, None, :, None] * self.v
        ).reshape(-1, 3)
        frame = corners @ self.axes
        return np.stack([frame.min(axis=0), frame.max(axis=0)], axis=1)

    def frame_of_point(self, p_lps: np.ndarray) -> np.ndarray:
        """(a, b, h) of LPS points (..., 3)."""
        return (np.asarray(p_lps, np.float64) - self.origin) @ self.axes

    def point_of_frame(self, abh: np.ndarray) -> np.ndarray:
        """LPS of frame points (..., 3)."""
        return self.origin + np.asarray(abh, np.float64) @ self.axes.T

    def slice_of_t(self, t: np.ndarray) -> np.ndarray:
        """Fractional slice index of positions along the normal (NaN outside the stack)."""
        t = np.asarray(t, np.float64)
        pos = self.positions
        if pos.size == 1:
            half = self.step_mm / 2.0
            return np.where(np.abs(t - pos[0]) <= half, 0.0, np.nan)
        k = np.interp(t, pos, np.arange(pos.size, dtype=np.float64))
        half_lo = (pos[1] - pos[0]) / 2.0
        half_hi = (pos[-1] - pos[-2]) / 2.0
        outside = (t < pos[0] - half_lo - _EPS) | (t > pos[-1] + half_hi + _EPS)
        return np.where(outside, np.nan, k)

    def offset_at(self, k: np.ndarray) -> np.ndarray:
        """O_k - O_0 at fractional slice indices (..., 3) (clamped to the stack)."""
        k = np.clip(np.asarray(k, np.float64), 0.0, self.n_slices - 1)
        k0 = np.floor(k).astype(int)
        k1 = np.minimum(k0 + 1, self.n_slices - 1)
        w = (k - k0)[..., None]
        return (1.0 - w) * self.slice_offsets[k0] + w * self.slice_offsets[k1]

    def index_of_point(self, p_lps: np.ndarray) -> np.ndarray:
        """Fractional (k, r, c) of LPS points (..., 3); k is NaN outside the stack's extent."""
        q = np.asarray(p_lps, np.float64) - self.origin
        t = q @ self.n + self.positions[0]
        k = self.slice_of_t(t)
        rel = q - self.offset_at(np.nan_to_num(k))
        r = rel @ self.v / self.row_mm
        c = rel @ self.u / self.col_mm
        return np.stack([k, r, c], axis=-1)

    def point_of_index(self, k: float, r: float, c: float) -> np.ndarray:
        """LPS of a (fractional) voxel index."""
        return self.origin + self.offset_at(np.asarray(k)) + c * self.col_mm * self.u + r * self.row_mm * self.v

    # ------------------------------------------------------------------------------- planes
    def plane_normal(self, plane: str) -> np.ndarray:
        return self.axes[:, 1] if plane == ROWS_PLANE else self.axes[:, 0]

    def plane_axes(self, plane: str) -> tuple[np.ndarray, np.ndarray]:
        """LPS unit vectors of a displayed plane image's +column (screen right) and +row (down)."""
        right, down = self._native_axes(plane)
        transpose, flip_rows, flip_cols = self.display_transform(plane)
        if transpose:
            right, down = down, right
        return (-right if flip_cols else right), (-down if flip_rows else down)

    def plane_name(self, plane: str) -> str:
        """'axial', 'coronal' or 'sagittal': the patient plane nearest this one."""
        m = np.abs(self.plane_normal(plane))
        return ("sagittal", "coronal", "axial")[int(np.argmax(m))]

    def plane_range(self, plane: str) -> tuple[float, float, float]:
        """(first, last, step) of the fixed coordinate: voxel steps across the stack's extent."""
        axis, step = (1, self.row_mm) if plane == ROWS_PLANE else (0, self.col_mm)
        lo, hi = self.frame_extent[axis]
        return float(lo), float(hi), step

    def plane_count(self, plane: str) -> int:
        lo, hi, step = self.plane_range(plane)
        return int(round((hi - lo) / step)) + 1

    def plane_position(self, plane: str, index: int) -> float:
        lo, _hi, step = self.plane_range(plane)
        return lo + index * step

    def plane_index(self, plane: str, position_mm: float) -> int:
        lo, _hi, step = self.plane_range(plane)
        return int(np.clip(round((position_mm - lo) / step), 0, self.plane_count(plane) - 1))

    def native_grid(self, plane: str) -> tuple[int, int, float, float, float, float]:
        """(H, W, top_h, left, step_down, step_across) of a plane's native grid: columns across the
        plane (e_c or e_r), rows down the stack axis (h decreasing)."""
        across_axis, step_across = (0, self.col_mm) if plane == ROWS_PLANE else (1, self.row_mm)
        lo, hi = self.frame_extent[across_axis]
        h_lo, h_hi = self.frame_extent[2]
        width = int(round((hi - lo) / step_across)) + 1
        height = int(round((h_hi - h_lo) / self.step_mm)) + 1
        return height, width, float(h_hi), float(lo), self.step_mm, step_across

    # ------------------------------------------------------------------- display orientation
    def display_transform(self, plane: str) -> tuple[bool, bool, bool]:
        """(transpose, flip_rows, flip_cols) taking a plane's native grid to the radiological
        display of the patient plane it is (viewer.core.orientation.CANONICAL_AXES: axial with
        anterior up and the patient's right on the left, coronal and sagittal with the head up),
        whatever the stack's own orientation. Identity for an axial stack."""
        from viewer.core.orientation import CANONICAL_AXES

        right_n, down_n = self._native_axes(plane)
        want_right, want_down = CANONICAL_AXES[self.plane_name(plane)][:2]
        transpose = abs(down_n @ want_right) > abs(right_n @ want_right)
        right, down = (down_n, right_n) if transpose else (right_n, down_n)
        if abs(right @ want_right) < 0.5 or abs(down @ want_down) < 0.5:
            return False, False, False  # an oblique frame: keep the native grid
        return bool(transpose), bool(down @ want_down < 0), bool(right @ want_right < 0)

    def _native_axes(self, plane: str) -> tuple[np.ndarray, np.ndarray]:
        across = self.axes[:, 0] if plane == ROWS_PLANE else self.axes[:, 1]
        return across, -self.axes[:, 2]

    def plane_grid(self, plane: str) -> tuple[int, int, float, float]:
        """(H, W, row_mm, col_mm) of a plane image as displayed."""
        height, width, _top, _left, down, across = self.native_grid(plane)
        if self.display_transform(plane)[0]:
            return width, height, across, down
        return height, width, down, across

    def _to_native(self, plane: str, y: float, x: float) -> tuple[float, float]:
        """Native (i, j) of a displayed pixel (y, x) (fractional)."""
        height, width, *_ = self.native_grid(plane)
        transpose, flip_rows, flip_cols = self.display_transform(plane)
        rows, cols = (width, height) if transpose else (height, width)
        p = (rows - 1) - y if flip_rows else y
        q = (cols - 1) - x if flip_cols else x
        return (q, p) if transpose else (p, q)

    def _to_display(self, plane: str, i: float, j: float) -> tuple[float, float]:
        """Displayed (y, x) of a native pixel (i, j) (fractional)."""
        height, width, *_ = self.native_grid(plane)
        transpose, flip_rows, flip_cols = self.display_transform(plane)
        p, q = (j, i) if transpose else (i, j)
        rows, cols = (width, height) if transpose else (height, width)
        return ((rows - 1) - p if flip_rows else p), ((cols - 1) - q if flip_cols else q)

    def _display_image(self, plane: str, native: np.ndarray) -> np.ndarray:
        transpose, flip_rows, flip_cols = self.display_transform(plane)
        a = native.T if transpose else native
        if flip_rows:
            a = a[::-1, :]
        if flip_cols:
            a = a[:, ::-1]
        return np.ascontiguousarray(a) if (transpose or flip_rows or flip_cols) else a

    def plane_point(self, plane: str, position_mm: float, y: float, x: float) -> np.ndarray:
        """LPS of displayed plane pixel (y, x) (fractional, pixel centres at integers)."""
        i, j = self._to_native(plane, y, x)
        _h, _w, top, left, down, across = self.native_grid(plane)
        a_or_b = left + j * across
        h = top - i * down
        abh = [a_or_b, position_mm, h] if plane == ROWS_PLANE else [position_mm, a_or_b, h]
        return self.point_of_frame(np.asarray(abh))

    def plane_pixel(self, plane: str, p_lps: np.ndarray) -> tuple[float, float]:
        """Fractional displayed plane pixel (y, x) of an LPS point (its projection onto the plane)."""
        _h, _w, top, left, down, across = self.native_grid(plane)
        a, b, h = self.frame_of_point(p_lps)
        return self._to_display(plane, (top - h) / down, ((a if plane == ROWS_PLANE else b) - left) / across)

    def slice_line_in_plane(self, plane: str, position_mm: float, k: float) -> tuple[np.ndarray, np.ndarray]:
        """Two displayed plane pixels (y, x) on the line where slice k cuts the plane (crosshair)."""
        _h, w, top, left, down, across = self.native_grid(plane)
        out = []
        n_dot = self.n @ self.axes  # n . (e_c, e_r, e_k)
        target = float(np.interp(k, np.arange(self.n_slices), self.positions)) - self.positions[0]
        for j in (0.0, float(w - 1)):
            x = left + j * across
            if plane == ROWS_PLANE:
                rest = x * n_dot[0] + position_mm * n_dot[1]
            else:
                rest = position_mm * n_dot[0] + x * n_dot[1]
            h = (target - rest) / n_dot[2] if abs(n_dot[2]) > _EPS else top
            out.append(np.array(self._to_display(plane, (top - h) / down, j)))
        return out[0], out[1]

    def cross_line_in_plane(self, plane: str, other_position_mm: float) -> tuple[np.ndarray, np.ndarray]:
        """Two displayed pixels (y, x) of `plane` on the line where the other plane (at its
        position) cuts it: a native column (across = that position), turned as displayed."""
        height, _w, _top, left, _down, across = self.native_grid(plane)
        j = (other_position_mm - left) / across
        return np.array(self._to_display(plane, 0.0, j)), np.array(self._to_display(plane, height - 1.0, j))

    def plane_line_in_slice(self, plane: str, position_mm: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Two in-slice pixels (r, c) on the line where a plane cuts slice k (for the crosshair)."""
        m = self.plane_normal(plane)
        off = self.slice_offsets[int(np.clip(k, 0, self.n_slices - 1))]
        mu, mv = float(m @ self.u) * self.col_mm, float(m @ self.v) * self.row_mm
        rest = position_mm - float(m @ off)
        if abs(mv) >= abs(mu):  # mostly a row: r as a function of c
            cs = np.array([0.0, self.cols - 1.0])
            rs = (rest - cs * mu) / mv
        else:
            rs = np.array([0.0, self.rows - 1.0])
            cs = (rest - rs * mv) / mu
        return np.array([rs[0], cs[0]]), np.array([rs[1], cs[1]])

    # ----------------------------------------------------------------------------- sampling
    def reformat(
        self,
        plane: str,
        position_mm: float,
        data: np.ndarray | None = None,
        *,
        order: int = 1,
        fill: float = AIR_HU,
        stride: int = 1,
    ) -> PlaneImage:
        """The plane image at `position_mm` of `data` (default: the Volume's HU).

        `data` (n, rows // stride, cols // stride) lies on the Volume's grid subsampled by `stride`
        (sample (r', c') at the centre of the stride x stride block it stands for); `order` 1 is
        linear (HU rounded back to int16), 0 nearest (labels). Outside the stack: `fill`.
        """
        if plane not in PLANES:
            raise ValueError(f"unknown plane {plane!r}: use {PLANES}")
        arr = self.volume.hu if data is None else np.asarray(data)
        height, width, top, left, down, across = self.native_grid(plane)
        ii = np.arange(height, dtype=np.float64)
        jj = np.arange(width, dtype=np.float64)
        h = top - ii * down
        x = left + jj * across
        n_dot = self.n @ self.axes
        # t (position along n) of pixel (i, j), as t0 + h * th + x * tx:
        fixed = position_mm
        t_fixed = fixed * (n_dot[1] if plane == ROWS_PLANE else n_dot[0])
        tx = n_dot[0] if plane == ROWS_PLANE else n_dot[1]
        th = n_dot[2]
        m = self.plane_normal(plane)
        line_kind = _line_kind(m, self.u, self.v)
        if line_kind is not None:
            out = self._sheet_sample(arr, plane, fixed, h, x, t_fixed, th, tx, line_kind, order, fill, stride)
        else:
            out = self._general_sample(arr, plane, fixed, h, x, order, fill, stride)
        if arr.dtype == np.int16 and order == 1:
            out = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
        elif out.dtype != arr.dtype:
            out = out.astype(arr.dtype)
        image = self._display_image(plane, out)
        spacing = (across, down) if self.display_transform(plane)[0] else (down, across)
        return PlaneImage(plane, float(position_mm), image, spacing, top, left)

    def _sheet_sample(
        self, arr: np.ndarray, plane: str, fixed: float, h: np.ndarray, x: np.ndarray,
        t_fixed: float, th: float, tx: float, kind: str, order: int, fill: float, stride: int,
    ) -> np.ndarray:
        n = self.n_slices
        m = self.plane_normal(plane)
        # Where the plane cuts each slice: row r_k (kind "row") or column c_k ("col"), in voxels.
        m_off = self.slice_offsets @ m
        if kind == "row":
            cut = (fixed - m_off) / (float(m @ self.v) * self.row_mm)
        else:
            cut = (fixed - m_off) / (float(m @ self.u) * self.col_mm)
        sheet = _read_lines(arr, cut, kind, order, fill, stride)  # (n, L) float32 (or labels)
        # Along each line: the in-line voxel coordinate of the plane's across-coordinate x.
        along_vec, along_mm = (self.u, self.col_mm) if kind == "row" else (self.v, self.row_mm)
        across_vec = self.axes[:, 0] if plane == ROWS_PLANE else self.axes[:, 1]
        # In-line coordinate of plane point (h, x) on slice k: ((P - O_0 - off_k) . along) / along_mm,
        # P - O_0 = x * across + fixed * m + h * e_k.
        e_k = self.axes[:, 2]
        a_x = float(across_vec @ along_vec) / along_mm
        a_h = float(e_k @ along_vec) / along_mm
        a_0 = fixed * float(m @ along_vec) / along_mm
        off_along = (self.slice_offsets @ along_vec) / along_mm  # (n,)
        separable = abs(tx) < _EPS and abs(a_h) < _EPS
        if separable:  # every output row comes from one place between two slices: row gathers
            kf_rows = self.slice_of_t(self.positions[0] + t_fixed + h * th)
            inside_rows = np.isfinite(kf_rows)
            kf_rows = np.where(inside_rows, kf_rows, 0.0)
            sx = a_x * (x[1] - x[0]) if x.size > 1 else 1.0
            o_common = a_0 + a_x * x[0]
            if order == 0:
                k = np.clip(np.rint(kf_rows).astype(np.intp), 0, n - 1)
                out = _rows_lookup(sheet, k, o_common - off_along[k], sx, x.size, stride, 0, fill)
            else:
                k0 = np.clip(np.floor(kf_rows).astype(np.intp), 0, n - 1)
                k1 = np.minimum(k0 + 1, n - 1)
                w = (kf_rows - k0).astype(np.float32)[:, None]
                v0 = _rows_lookup(sheet, k0, o_common - off_along[k0], sx, x.size, stride, 1, fill)
                v1 = _rows_lookup(sheet, k1, o_common - off_along[k1], sx, x.size, stride, 1, fill)
                out = v0 + w * (v1 - v0)
            out[~inside_rows] = fill
            return out
        kf = self.slice_of_t(self.positions[0] + t_fixed + h[:, None] * th + x[None, :] * tx)
        inside = np.isfinite(kf)
        kf = np.where(inside, kf, 0.0)
        base = a_0 + a_x * x[None, :] + a_h * h[:, None]  # (H, W) or broadcastable
        if order == 0:
            k = np.clip(np.rint(kf).astype(np.intp), 0, n - 1)
            lf = base - off_along[k]
            out = _line_lookup(sheet, k, lf, stride, 0, fill)
        else:
            k0 = np.clip(np.floor(kf).astype(np.intp), 0, n - 1)
            k1 = np.minimum(k0 + 1, n - 1)
            w = (kf - k0).astype(np.float32)
            v0 = _line_lookup(sheet, k0, base - off_along[k0], stride, 1, fill)
            v1 = _line_lookup(sheet, k1, base - off_along[k1], stride, 1, fill)
            out = v0 + w * (v1 - v0)
        return np.where(inside, out, np.asarray(fill, out.dtype))

    def _general_sample(
        self, arr: np.ndarray, plane: str, fixed: float, h: np.ndarray, x: np.ndarray,
        order: int, fill: float, stride: int,
    ) -> np.ndarray:
        hh, xx = np.meshgrid(h, x, indexing="ij")
        ff = np.full_like(hh, fixed)
        abh = np.stack([xx, ff, hh], -1) if plane == ROWS_PLANE else np.stack([ff, xx, hh], -1)
        idx = self.index_of_point(self.point_of_frame(abh))
        return sample_volume(arr, idx[..., 0], idx[..., 1], idx[..., 2], order=order, fill=fill, stride=stride)


# ================================================================================== helpers
def _frame_axes(u: np.ndarray, v: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The patient axes nearest (u, v, n), signed like them; (u, v, n) when two share an axis."""
    picks = [int(np.argmax(np.abs(w))) for w in (u, v, n)]
    if len(set(picks)) < 3:
        return np.column_stack([u, v, n])
    out = np.zeros((3, 3))
    for col, (w, axis) in enumerate(zip((u, v, n), picks)):
        out[axis, col] = 1.0 if w[axis] >= 0 else -1.0
    return out


def _line_kind(m: np.ndarray, u: np.ndarray, v: np.ndarray) -> str | None:
    """'row' when the plane (normal m) cuts every slice along a row, 'col' along a column."""
    mu, mv = abs(float(m @ u)), abs(float(m @ v))
    if mu < 1e-9 and mv > 1e-3:
        return "row"
    if mv < 1e-9 and mu > 1e-3:
        return "col"
    return None


def _to_data(index: np.ndarray, stride: int) -> np.ndarray:
    """Full-grid voxel coordinate -> coordinate on a grid subsampled by `stride`."""
    return index if stride == 1 else (index - (stride - 1) / 2.0) / stride


def _read_lines(arr: np.ndarray, cut: np.ndarray, kind: str, order: int, fill: float, stride: int) -> np.ndarray:
    """(n, L): each slice's row (or column) at fractional index cut[k] (full-grid voxels)."""
    n = arr.shape[0]
    size = arr.shape[1] if kind == "row" else arr.shape[2]
    pos = _to_data(np.asarray(cut, np.float64), stride)
    ks = np.arange(n)
    if order == 0:
        i = np.rint(pos).astype(np.intp)
        ok = (i >= 0) & (i < size)
        i = np.clip(i, 0, size - 1)
        lines = arr[ks, i, :] if kind == "row" else arr[ks, :, i]
        return np.where(ok[:, None], lines, np.asarray(fill, arr.dtype))
    i0 = np.floor(pos).astype(np.intp)
    w = (pos - i0).astype(np.float32)[:, None]
    lo_ok = (i0 >= 0) & (i0 < size)
    hi_ok = (i0 + 1 >= 0) & (i0 + 1 < size)
    a = np.clip(i0, 0, size - 1)
    b = np.clip(i0 + 1, 0, size - 1)
    if kind == "row":
        la, lb = arr[ks, a, :].astype(np.float32), arr[ks, b, :].astype(np.float32)
    else:
        la, lb = arr[ks, :, a].astype(np.float32), arr[ks, :, b].astype(np.float32)
    la = np.where(lo_ok[:, None], la, np.float32(fill))
    lb = np.where(hi_ok[:, None], lb, np.float32(fill))
    out = la + w * (lb - la)
    # Beyond the first / last row entirely: nothing there.
    none = ~(lo_ok | hi_ok)
    out[none] = fill
    return out


def _rows_lookup(
    sheet: np.ndarray, k: np.ndarray, offset: np.ndarray, sx: float, width: int, stride: int, order: int, fill: float
) -> np.ndarray:
    """(H, width): sheet line k[i] read at in-line coordinates offset[i] + j * sx (full grid)."""
    size = sheet.shape[1]
    lines = sheet[k]  # (H, L)
    if stride == 1 and abs(sx - 1.0) < 1e-6:
        shift = np.rint(offset)
        if np.all(np.abs(offset - shift) < 1e-4):  # on the voxel grid: whole-pixel shifts only
            shift = shift.astype(np.intp)
            s0 = int(shift[0])
            if np.all(shift == s0):
                fill_value = np.asarray(fill, sheet.dtype)
                if s0 == 0 and width == size:
                    return lines.copy()
                out = np.full((lines.shape[0], width), fill_value, sheet.dtype)
                lo, hi = max(0, -s0), min(width, size - s0)
                if hi > lo:
                    out[:, lo:hi] = lines[:, lo + s0 : hi + s0]
                return out
    along = offset[:, None] + np.arange(width, dtype=np.float64)[None, :] * sx
    rows = np.broadcast_to(np.arange(lines.shape[0])[:, None], along.shape)
    return _line_lookup(lines, rows, along, stride, order, fill)


def _line_lookup(sheet: np.ndarray, k: np.ndarray, along: np.ndarray, stride: int, order: int, fill: float) -> np.ndarray:
    """Sheet values of slices k at in-line full-grid coordinates `along` (broadcast together)."""
    k, along = np.broadcast_arrays(k, along)
    size = sheet.shape[1]
    pos = _to_data(along, stride)
    if order == 0:
        i = np.rint(pos).astype(np.intp)
        ok = (i >= 0) & (i < size)
        return np.where(ok, sheet[k, np.clip(i, 0, size - 1)], np.asarray(fill, sheet.dtype))
    i0 = np.floor(pos).astype(np.intp)
    w = (pos - i0).astype(np.float32)
    if np.all(np.abs(w) < 1e-4) or np.all(np.abs(w - 1.0) < 1e-4):  # on the voxel grid: one tap
        i = np.rint(pos).astype(np.intp)
        ok = (i >= 0) & (i < size)
        return np.where(ok, sheet[k, np.clip(i, 0, size - 1)], np.float32(fill))
    a_ok = (i0 >= 0) & (i0 < size)
    b_ok = (i0 + 1 >= 0) & (i0 + 1 < size)
    va = np.where(a_ok, sheet[k, np.clip(i0, 0, size - 1)], np.float32(fill))
    vb = np.where(b_ok, sheet[k, np.clip(i0 + 1, 0, size - 1)], np.float32(fill))
    return va + w * (vb - va)


def sample_volume(
    arr: np.ndarray, k: np.ndarray, r: np.ndarray, c: np.ndarray, *, order: int = 1, fill: float = AIR_HU, stride: int = 1
) -> np.ndarray:
    """Values of `arr` (n, R, C) at fractional full-grid indices (k, r, c); NaN k or outside: fill.
    Linear (order 1: along k, then bilinear in the slice) or nearest (order 0)."""
    n, rows, cols = arr.shape
    k = np.asarray(k, np.float64)
    r = _to_data(np.asarray(r, np.float64), stride)
    c = _to_data(np.asarray(c, np.float64), stride)
    valid = np.isfinite(k)
    k = np.where(valid, k, 0.0)
    if order == 0:
        ki, ri, ci = (np.rint(x).astype(np.intp) for x in (k, r, c))
        ok = valid & (ki >= 0) & (ki < n) & (ri >= 0) & (ri < rows) & (ci >= 0) & (ci < cols)
        v = arr[np.clip(ki, 0, n - 1), np.clip(ri, 0, rows - 1), np.clip(ci, 0, cols - 1)]
        return np.where(ok, v, np.asarray(fill, arr.dtype))
    out = np.zeros(k.shape, np.float32)
    k0 = np.floor(k).astype(np.intp)
    r0 = np.floor(r).astype(np.intp)
    c0 = np.floor(c).astype(np.intp)
    wk, wr, wc = (k - k0).astype(np.float32), (r - r0).astype(np.float32), (c - c0).astype(np.float32)
    for dk, fk in ((0, 1 - wk), (1, wk)):
        for dr, fr in ((0, 1 - wr), (1, wr)):
            for dc, fc in ((0, 1 - wc), (1, wc)):
                kk, rr, cc = k0 + dk, r0 + dr, c0 + dc
                ok = (kk >= 0) & (kk < n) & (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
                v = arr[np.clip(kk, 0, n - 1), np.clip(rr, 0, rows - 1), np.clip(cc, 0, cols - 1)].astype(np.float32)
                out += fk * fr * fc * np.where(ok, v, np.float32(fill))
    return np.where(valid, out, np.float32(fill))
