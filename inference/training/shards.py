"""Training data on disk: shards of pre-processed samples rendered once (in worker processes) into a
cache keyed by what made them, then read back whole for each split (train, calib, negatives)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from inference.preprocess import PreprocessConfig
from inference.training.config import Progress, TrainConfig

def _smoke_shard(index: int, config: PreprocessConfig) -> Any:
    from inference.training.datasets.samples import samples_from_volume
    from inference.labels import SUBTYPES
    from inference.synth.study import make_study

    study = make_study(
        index, slice_thickness_mm=5.0, lesions=["intraparenchymal", "subdural"], lesion_size=0.8,
        matrix=64, fov_mm=256.0, render_pixel_mm=4.0, z_range_mm=(-45.0, 55.0),
    )
    normal = np.cross(np.asarray(study.iop[:3]), np.asarray(study.iop[3:]))
    masks = np.zeros(study.hu.shape, bool)
    for s in SUBTYPES:
        masks |= study.masks[s]
    return samples_from_volume(
        study.hu, study.positions_mm @ normal, (study.spacing_mm[1], study.spacing_mm[2]), config,
        indices=range(study.n_slices), labels=study.labels, masks=masks, group=index,
    )


class ShardSource:
    """Where shards of a split come from, and the cache key that identifies them."""

    def __init__(self, cfg: TrainConfig, split: str) -> None:
        self.cfg = cfg
        self.split = split
        self.config = cfg.preprocess_config
        self._rsna_series: list[Any] | None = None
        if cfg.source == "rsna":
            self.n_shards = len(self._rsna_split())
        elif split == "negatives":
            self.n_shards = cfg.n_negative_shards
        elif split == "train":
            self.n_shards = cfg.n_shards
        else:
            self.n_shards = cfg.n_calib_shards

    # RSNA: series sorted by UID; every 10th series (index % 10 == 9) is calibration.
    RSNA_SERIES_PER_SHARD = 4

    def _rsna_split(self) -> list[list[Any]]:
        from inference.training.datasets.rsna import index_series

        if self._rsna_series is None:
            self._rsna_series = index_series(self.cfg.rsna_dir, max_series=self.cfg.rsna_max_series or None)
        series = self._rsna_series
        if len(series) < 2:
            chosen = series  # a tiny folder: the same series calibrate (documented in the card)
        else:
            calib = [s for i, s in enumerate(series) if i % 10 == 9] or series[-1:]
            chosen = calib if self.split == "calib" else [s for s in series if s not in calib]
        k = self.RSNA_SERIES_PER_SHARD
        return [chosen[i : i + k] for i in range(0, len(chosen), k)]

    def key(self) -> dict[str, Any]:
        if self.cfg.source == "synthetic":
            from inference.training.datasets.synthetic import cache_key

            if self.split == "negatives":
                return {**cache_key(self.config, "negatives"), "negatives": 1}
            return cache_key(self.config, self.split)
        if self.cfg.source == "smoke":
            return {"smoke": 1, "split": self.split, "preprocess": self.config.to_dict()}
        return {
            "rsna": str(Path(self.cfg.rsna_dir).resolve()),
            "max_series": self.cfg.rsna_max_series,
            "split": self.split,
            "preprocess": self.config.to_dict(),
        }

    def render(self, index: int) -> Any:
        if self.cfg.source == "synthetic":
            from inference.training.datasets.synthetic import render_negative_shard, render_shard

            if self.split == "negatives":
                return render_negative_shard(index, self.config)
            return render_shard(index, self.config, split=self.split)
        if self.cfg.source == "smoke":
            return _smoke_shard(index + (0 if self.split == "train" else 1000), self.config)
        from inference.training.datasets.rsna import load_series
        from inference.training.datasets.samples import Samples, samples_from_volume

        parts = []
        for k, series in enumerate(self._rsna_split()[index]):
            vol = load_series(series)
            parts.append(
                samples_from_volume(vol.hu, vol.positions_mm, vol.pixel_spacing_mm, self.config,
                                    indices=range(vol.hu.shape[0]), labels=vol.labels, group=index * 1000 + k)
            )
        return Samples.concat(parts)


def _render_one(args: tuple[TrainConfig, str, str, int]) -> int:
    import torch

    from inference.training.datasets.cache import ShardCache

    cfg, split, folder, index = args
    torch.set_num_threads(1)
    source = ShardSource(cfg, split)
    cache = ShardCache(folder, source.key())
    if not cache.has(index):
        cache.write(index, source.render(index))
    return index


def ensure_cache(cfg: TrainConfig, work: Path, split: str, *, deadline: float, workers: int) -> tuple[Any, bool]:
    """Render the missing shards of `split` (until `deadline`); returns (cache, complete)."""
    from inference.training.datasets.cache import ShardCache

    source = ShardSource(cfg, split)
    folder = work / "cache" / f"{cfg.source}-{split}"
    cache = ShardCache(folder, source.key())
    missing = [i for i in range(source.n_shards) if not cache.has(i)]
    if not missing:
        return (cache, source.n_shards), True
    bar = Progress(f"render {split}", source.n_shards, start=source.n_shards - len(missing))
    done = source.n_shards - len(missing)
    if workers > 1 and len(missing) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            for _ in pool.imap_unordered(_render_one, [(cfg, split, str(folder), i) for i in missing]):
                done += 1
                bar.update(done)
                if time.monotonic() > deadline:
                    pool.terminate()
                    break
    else:
        for i in missing:
            if time.monotonic() > deadline:
                break
            cache.write(i, source.render(i))
            done += 1
            bar.update(done)
    bar.close()
    complete = all(cache.has(i) for i in range(source.n_shards))
    return (cache, source.n_shards), complete
