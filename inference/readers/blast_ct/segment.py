"""The second reader: BLAST-CT segmentation of a Volume in memory, as a cancellable generator.

    reader = SecondReader.load()                 # default ensemble for the device, weights checked
    for item in reader.iter_segment(volume, cancel=event):
        ...                                      # SecondReadProgress items, then one SecondReadResult
    result = reader.segment(volume)              # the same, blocking

What it does, and how it matches the blast-ct 2.1.0 package's pipeline (`run_inference`):
1. `inference.acceptance.check_volume` refuses what the engine refuses (the result then carries
   the reason and an empty label map; nothing runs).
2. The Volume is resampled to the package's 1 mm grid in the slice frame (`grid.py`: trilinear,
   same origin and sample count, slice positions from `positions_mm`), windowed to [-15, 100] HU
   -> [-1, 1].
3. Only the skull-enclosed region runs (`tiles.py`), in tiles whose output origins sit on the
   network's 15-voxel lattice, so each voxel gets the logits the package's 30^3 tiles give it.
4. Every member's softmax is summed per voxel, then argmax (the package's ensemble rule; for one
   member, argmax of its logits). Voxels outside the skull region are background.
5. The labels go back to the Volume's own slices by nearest neighbour; areas, volumes and
   components are measured there (`measure.py`, rules in `results.py`).

Weights load once (`SecondReader.load`), are SHA-256 checked and never unpickled (`weights.py`).
On CUDA the network runs in float32 with TF32 off (autocast is not used: see MODEL_CARD.md for
the measured label changes it would cause); on the CPU in float32 with channels-last tensors.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from inference.acceptance import check_volume
from inference.device import resolve_device, set_threads
from inference.readers.blast_ct.grid import labels_to_volume, make_grid, resample_hu, slice_extents_mm
from inference.readers.blast_ct.measure import class_volumes_ml, find_components, slice_areas_mm2
from inference.readers.blast_ct.results import SecondReadProgress, SecondReadResult
from inference.readers.blast_ct.tiles import Tile, head_region, input_box, plan_tiles, tile_input, window
from inference.readers.blast_ct.weights import LoadedMember, load_member, member_files
from inference.results import Acceptance

__all__ = ["SecondReader", "DEFAULT_MODELS_CPU", "DEFAULT_MODELS_CUDA", "SecondReadItem"]

# How many ensemble members run by default (members 1..n), from the agreement and time measured in
# MODEL_CARD.md: member 1 alone put a 1.08 mL extra-axial "bleed" at the vertex of the normal GE
# scan (0.61 mL after a sub-millimetre grid shift), members 1-3 and 1-12 read all three normal
# real scans clean (largest blood component 0.85 / 0.93 mL); three members cost ~3x one on the
# CPU, twelve take 4.5-7 s per study on an H200.
DEFAULT_MODELS_CPU = 3
DEFAULT_MODELS_CUDA = 12
# Tiles group this many 15-voxel blocks along z and y (45 mm on the CPU: the fastest per voxel
# measured on 2 cores; 90 mm on CUDA, where memory is plentiful).
TILE_GROUP_CPU = 3
TILE_GROUP_CUDA = 6

SecondReadItem = SecondReadProgress | SecondReadResult


@contextlib.contextmanager
def _exact_cuda(device: torch.device) -> Iterator[None]:
    """float32 convolutions without TF32 on CUDA (restored afterwards); nothing on the CPU."""
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


class SecondReader:
    """BLAST-CT ensemble members bound to a device. Build with `SecondReader.load`."""

    def __init__(self, members: Sequence[LoadedMember], device: torch.device, *, tile_group: int | None = None) -> None:
        if not members:
            raise ValueError("at least one ensemble member is needed")
        self.members = tuple(members)
        self.device = device
        self.tile_group = tile_group or (TILE_GROUP_CUDA if device.type == "cuda" else TILE_GROUP_CPU)
        self._memory_format = torch.channels_last_3d
        self._nets = [m.model.to(device).to(memory_format=self._memory_format).eval() for m in self.members]

    @classmethod
    def load(
        cls,
        models: int | None = None,
        device: str | None = None,
        threads: int | None = None,
        weights_dir: Path | str | None = None,
    ) -> SecondReader:
        """Load members 1..`models` (default: DEFAULT_MODELS_CPU / _CUDA for the device) from
        `weights_dir` (default: the shipped resources/model/blast-ct-v1); `threads` caps torch's
        CPU threads. Raises inference.weights.ModelFileError for a missing or altered file."""
        dev = resolve_device(device)
        set_threads(threads)
        files = member_files(weights_dir)
        n = models if models is not None else (DEFAULT_MODELS_CUDA if dev.type == "cuda" else DEFAULT_MODELS_CPU)
        n = min(n, len(files)) if models is None else n
        if not 1 <= n <= len(files):
            raise ValueError(f"models must be 1..{len(files)} (the shipped members), got {models}")
        return cls([load_member(p) for p in files[:n]], dev)

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(f"{m.info.name}-{m.info.version}/model_{m.info.member}" for m in self.members)

    @property
    def weights_sha256(self) -> tuple[str, ...]:
        return tuple(m.sha256 for m in self.members)

    def segment(self, volume: object, *, acceptance: Acceptance | None = None) -> SecondReadResult:
        """The whole reading of `volume` (blocking); see `iter_segment` for `acceptance`."""
        result = None
        for item in self.iter_segment(volume, acceptance=acceptance):
            if isinstance(item, SecondReadResult):
                result = item
        assert result is not None
        return result

    def iter_segment(
        self,
        volume: object,
        cancel: threading.Event | None = None,
        *,
        acceptance: Acceptance | None = None,
    ) -> Iterator[SecondReadItem]:
        """SecondReadProgress after each tile x member, then one SecondReadResult.

        With `cancel` set, stops (returns, no result) before the next tile x member.
        `acceptance`: the engine's verdict on this volume when the caller already has it
        (`inference.acceptance.check_volume`); None runs the check here."""
        for item in self._iter(volume, (len(self.members),), cancel, acceptance):
            if isinstance(item, dict):
                yield item[len(self.members)]
            else:
                yield item

    def segment_ensembles(
        self, volume: object, counts: Sequence[int], *, acceptance: Acceptance | None = None
    ) -> dict[int, SecondReadResult]:
        """Results of members 1..n for each n in `counts`, from one pass over the largest n (for
        agreement studies: the 1-, 3- and 12-member readings cost one 12-member run)."""
        counts = tuple(sorted(set(int(c) for c in counts)))
        if not counts or counts[0] < 1 or counts[-1] > len(self.members):
            raise ValueError(f"counts must lie in 1..{len(self.members)}")
        out: dict[int, SecondReadResult] = {}
        for item in self._iter(volume, counts, None, acceptance):
            if isinstance(item, dict):
                out = item
        return out

    # -- internals -------------------------------------------------------------------------------

    def _result(self, volume: object, labels: np.ndarray, n_members: int, seconds: float,
                acceptance: Acceptance, notes: tuple[str, ...]) -> SecondReadResult:
        spacing = (float(volume.spacing_mm[1]), float(volume.spacing_mm[2]))  # type: ignore[attr-defined]
        if acceptance.accepted:
            components = find_components(labels, slice_extents_mm(volume), spacing)
        else:
            components = ()
        return SecondReadResult(
            series_uid=volume.series_uid,  # type: ignore[attr-defined]
            stack_id=volume.stack_id,  # type: ignore[attr-defined]
            labels=labels,
            slice_area_mm2=slice_areas_mm2(labels, spacing),
            volumes_ml=class_volumes_ml(components),
            components=components,
            models=self.model_names[:n_members],
            weights_sha256=self.weights_sha256[:n_members],
            device=str(self.device),
            seconds=float(seconds),
            acceptance=acceptance,
            notes=notes,
        )

    def _iter(
        self,
        volume: object,
        counts: tuple[int, ...],
        cancel: threading.Event | None,
        acceptance: Acceptance | None,
    ) -> Iterator:
        t0 = time.perf_counter()
        if acceptance is None:
            acceptance = check_volume(volume)
        if not acceptance.accepted:
            empty = np.zeros(np.asarray(volume.hu).shape, np.uint8)  # type: ignore[attr-defined]
            yield {n: self._result(volume, empty, n, time.perf_counter() - t0, acceptance, ()) for n in counts}
            return
        grid = make_grid(volume)
        hu_iso = resample_hu(volume.hu, grid)  # type: ignore[attr-defined]
        region, skull_found = head_region(hu_iso, grid.resolution_mm)
        tiles = plan_tiles(region, self.tile_group)
        # Window only the part of the grid the tiles read (a 511 mm field of view holds a ~200 mm head).
        box = input_box(tiles, grid.shape) if tiles else tuple((0, n) for n in grid.shape)
        box_lo = tuple(lo for lo, _ in box)
        image = window(hu_iso[tuple(slice(lo, hi) for lo, hi in box)])
        del hu_iso
        notes = _notes(volume, skull_found)
        n_run = counts[-1]
        total = len(tiles) * n_run
        series_uid, stack_id = volume.series_uid, volume.stack_id  # type: ignore[attr-defined]
        yield SecondReadProgress(series_uid, stack_id, 0, total)
        maps = {n: np.zeros(grid.shape, np.uint8) for n in counts}
        done = 0
        with torch.inference_mode(), _exact_cuda(self.device):
            for tile in tiles:
                x = self._to_device(tile_input(image, tile, grid.shape, box_lo))
                prob_sum = None
                for i, net in enumerate(self._nets[:n_run]):
                    if cancel is not None and cancel.is_set():
                        return
                    logits = net(x)
                    if n_run == 1:
                        _paste(maps[1], tile, torch.argmax(logits, dim=1)[0])
                    else:
                        p = F.softmax(logits, dim=1)
                        prob_sum = p if prob_sum is None else prob_sum + p
                        if i + 1 in maps:
                            _paste(maps[i + 1], tile, torch.argmax(prob_sum, dim=1)[0])
                    done += 1
                    yield SecondReadProgress(series_uid, stack_id, done, total)
        results = {}
        for n, lab in maps.items():
            lab[~region] = 0
            labels = labels_to_volume(lab, grid)
            results[n] = self._result(volume, labels, n, time.perf_counter() - t0, acceptance, notes)
        yield results

    def _to_device(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x))[None, None]
        if self.device.type == "cuda":
            t = t.pin_memory().to(self.device, non_blocking=True)
        return t.contiguous(memory_format=self._memory_format)


def _paste(target: np.ndarray, tile: Tile, labels: torch.Tensor) -> None:
    """Write a tile's labels into the grid's label map, clipped at the grid's far edges."""
    z, y, x = tile.origin
    dz, dy, dx = (min(s, n - o) for s, n, o in zip(tile.size, target.shape, tile.origin))
    target[z : z + dz, y : y + dy, x : x + dx] = labels[:dz, :dy, :dx].to(torch.uint8).cpu().numpy()


def _notes(volume: object, skull_found: bool) -> tuple[str, ...]:
    notes = []
    tilt = float(getattr(volume, "tilt_deg", 0.0) or 0.0)
    if abs(tilt) > 0.5:
        notes.append(
            f"gantry tilt {abs(tilt):.1f} deg: read in the slice frame (slices stacked straight, "
            "the head sheared across slices as the package also sees it); labels sit on each slice's own pixels"
        )
    if not skull_found:
        notes.append("no closed skull ring found: the whole head (tissue > -300 HU) was read")
    if np.asarray(volume.hu).shape[0] == 1:  # type: ignore[attr-defined]
        notes.append("single slice: read as a slab of that slice repeated (no through-plane context)")
    return tuple(notes)

