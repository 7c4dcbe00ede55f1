"""Pre-rendered input cache: model-grid samples in shards on disk, written once, read many times.

A cache folder holds `manifest.json` (a key describing what was rendered: data source definition,
PreprocessConfig, renderer version) and one `shard-NNNNN.npz` per rendered chunk. Shards are
written atomically, so an interrupted render (a time limit, Ctrl-C) resumes at the first missing
shard; a cache whose key differs from the one asked for is an error naming the folder (delete it
or pick another --work folder), never silently reused.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from inference.training.datasets.samples import Samples
from viewer.core.errors import IchviewError


class CacheMismatchError(IchviewError):
    """A cache folder rendered for other settings than the ones asked for."""


def _atomic_write_bytes(path: Path, write: Callable[[Any], None], *, suffix: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ShardCache:
    """Shards of `Samples` under `folder`, valid for one `key` (a JSON-able dict)."""

    def __init__(self, folder: Path | str, key: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.key = json.loads(json.dumps(key, sort_keys=True))
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest = self.folder / "manifest.json"
        if manifest.exists():
            stored = json.loads(manifest.read_text())
            if stored.get("key") != self.key:
                raise CacheMismatchError(
                    f"{self.folder}: cache rendered for other settings "
                    "(delete the folder or use another --work folder)"
                )
        else:
            text = json.dumps({"key": self.key}, indent=1, sort_keys=True).encode()
            _atomic_write_bytes(manifest, lambda f: f.write(text), suffix=".json")

    def shard_path(self, index: int) -> Path:
        return self.folder / f"shard-{index:05d}.npz"

    def has(self, index: int) -> bool:
        return self.shard_path(index).exists()

    def write(self, index: int, samples: Samples) -> None:
        """Store one shard atomically."""

        def _write(f: Any) -> None:
            np.savez(f, x=samples.x, y=samples.y, mask=np.packbits(samples.mask, axis=-1), group=samples.group,
                     width=np.int32(samples.mask.shape[-1]))

        _atomic_write_bytes(self.shard_path(index), _write, suffix=".npz")

    def read(self, index: int) -> Samples:
        with np.load(self.shard_path(index)) as z:
            width = int(z["width"])
            mask = np.unpackbits(z["mask"], axis=-1, count=width).astype(bool)
            return Samples(z["x"], z["y"].astype(np.float32), mask, z["group"].astype(np.int32))

    def read_all(self, indices: Iterable[int]) -> Samples:
        """Concatenate the given shards (all must exist)."""
        return Samples.concat([self.read(i) for i in indices])
