"""BLAST-CT weight files: one safetensors file per ensemble member, SHA-256 checked, never unpickled.

Layout of a weights folder (`resources/model/blast-ct-v1/`): `model_<n>.safetensors` (n = 1, 2, ...;
the package's own numbering) each with a `.sha256` sidecar (`<hex digest>  <file name>`, as
`inference.weights` writes for the first reader), `LICENSE.txt`, `NOTICE` and `MODEL_CARD.md`.
Each file holds the member's state dict (float tensors in the dtype named in its metadata,
BatchNorm's `num_batches_tracked` as int64) and one metadata key, `ichview` (the same key as the
first reader's files), a JSON object `WeightsInfo`.

Loading checks, in order: the sidecar's digest against the file's bytes (before any parsing), the
safetensors header (complete, not truncated), the metadata (present, our architecture), then
`load_state_dict(strict=True)` (every name and shape). Each refusal is a
`inference.weights.ModelFileError` naming the file, the reason and the fix.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inference.weights import (
    METADATA_KEY,
    ModelFileError,
    _atomic_write_bytes,
    _check_safetensors_structure,
    _read_expected_hash,
    file_sha256,
    sidecar_path,
)

__all__ = [
    "ARCH",
    "WeightsInfo",
    "LoadedMember",
    "default_weights_dir",
    "member_files",
    "save_member",
    "load_member",
    "WEIGHTS_DIR_ENV",
]

FORMAT = "blast-ct-weights/1"
WEIGHTS_DIR_ENV = "ICHVIEW_BLAST_CT_WEIGHTS"
WEIGHTS_DIR_NAME = "blast-ct-v1"
# What `network.BlastCtNet` is; a file made for another network is refused before its tensors are read.
ARCH: dict[str, Any] = {
    "name": "blast-ct-deepmedic",
    "input_channels": 1,
    "num_classes": 5,
    "scales": [5, 3, 1],
    "feature_maps": [30, 30, 40, 40, 40, 40, 50, 50],
    "fully_connected": [250, 250],
}
_MEMBER_RE = re.compile(r"^model_(\d+)\.safetensors$")


@dataclass(frozen=True)
class WeightsInfo:
    """What a BLAST-CT weights file says about itself (JSON in the safetensors header)."""

    member: int  # the package's model number (model_<member>.pt)
    dtype: str  # storage dtype of the float tensors ("float32" or "float16")
    source_sha256: str  # of the pickle it was converted from
    name: str = "blast-ct"
    version: str = "v1"
    arch: dict[str, Any] = field(default_factory=lambda: dict(ARCH))
    resolution_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    window_hu: tuple[float, float] = (-15.0, 100.0)
    classes: tuple[str, ...] = ("background", "IPH", "EAH", "oedema", "IVH")
    source: str = "github.com/biomedia-mira/blast-ct commit 361e8c7, blast_ct/data/saved_models"
    licence: str = "Apache-2.0"
    format: str = FORMAT

    def to_json(self) -> str:
        """Serialise to the JSON stored in the file."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WeightsInfo:
        """Parse stored JSON; raises ValueError / KeyError / TypeError on malformed content."""
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"not a BLAST-CT weights file (format {data.get('format')!r})")
        data["resolution_mm"] = tuple(float(v) for v in data["resolution_mm"])
        data["window_hu"] = tuple(float(v) for v in data["window_hu"])
        data["classes"] = tuple(str(v) for v in data["classes"])
        return cls(**data)


@dataclass(frozen=True, eq=False)
class LoadedMember:
    """One verified ensemble member: an eval-mode float32 `BlastCtNet` on the CPU."""

    model: Any  # network.BlastCtNet
    info: WeightsInfo
    sha256: str
    path: Path


def default_weights_dir() -> Path:
    """$ICHVIEW_BLAST_CT_WEIGHTS, else resources/model/blast-ct-v1 in a frozen app or in the repo."""
    env = os.environ.get(WEIGHTS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        return Path(meipass) / "resources" / "model" / WEIGHTS_DIR_NAME
    return Path(__file__).resolve().parents[3] / "resources" / "model" / WEIGHTS_DIR_NAME


def member_files(weights_dir: Path | str | None = None) -> list[Path]:
    """The folder's `model_<n>.safetensors` files ordered by n (the ensemble's order)."""
    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    if not folder.is_dir():
        raise ModelFileError(folder, "BLAST-CT weights folder not found", f"set {WEIGHTS_DIR_ENV} or reinstall ichview")
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _MEMBER_RE.match(p.name))]
    if not found:
        raise ModelFileError(folder, "no model_<n>.safetensors files", "run python -m inference.readers.blast_ct.convert")
    return [p for _, p in sorted(found)]


def save_member(path: Path | str, state: Mapping[str, Any], info: WeightsInfo) -> str:
    """Write one member's state dict as safetensors (floats in `info.dtype`) plus its `.sha256`.

    Both files are written atomically. Returns the file's SHA-256.
    """
    import hashlib

    import torch
    from safetensors.torch import save

    path = Path(path)
    dtype = {"float32": torch.float32, "float16": torch.float16}[info.dtype]
    tensors = {}
    for key, t in state.items():
        t = t.detach().to("cpu")
        tensors[key] = (t.to(dtype) if t.is_floating_point() else t).contiguous()
    data = save(tensors, metadata={METADATA_KEY: info.to_json()})
    _atomic_write_bytes(path, data)
    digest = hashlib.sha256(data).hexdigest()
    _atomic_write_bytes(sidecar_path(path), f"{digest}  {path.name}\n".encode())
    return digest


def load_member(path: Path | str) -> LoadedMember:
    """Verify and read one member file; raises ModelFileError for a missing, altered, truncated,
    foreign or wrong-shaped file. Never unpickles."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from inference.readers.blast_ct.network import BlastCtNet

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ModelFileError(path, "BLAST-CT weights are read from .safetensors files only", "convert it first")
    if not path.is_file():
        raise ModelFileError(path, "model file not found", f"set {WEIGHTS_DIR_ENV} or reinstall ichview")
    digest = file_sha256(path)
    expected = _read_expected_hash(path)
    if digest != expected:
        raise ModelFileError(
            path,
            f"SHA-256 mismatch (file {digest[:12]}..., expected {expected[:12]}...): the file is damaged or altered",
            "restore the model file that came with ichview",
        )
    header = _check_safetensors_structure(path)
    meta = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if meta is None:
        raise ModelFileError(path, "no ichview metadata in the model file", "convert it with inference.readers.blast_ct.convert")
    try:
        info = WeightsInfo.from_json(meta)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(path, f"unreadable model metadata: {exc}", "convert it with inference.readers.blast_ct.convert") from exc
    if info.arch != ARCH:
        raise ModelFileError(path, f"made for another network ({info.arch.get('name')!r})", "use the BLAST-CT v1 weights")
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(path, f"corrupt model file: {exc}", "copy the model file again") from exc
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    model = BlastCtNet()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][:4]
        raise ModelFileError(
            path, "weights do not match the BLAST-CT network: " + " | ".join(lines), "use the BLAST-CT v1 weights"
        ) from exc
    model.eval()
    return LoadedMember(model=model, info=info, sha256=digest, path=path)
