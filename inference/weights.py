"""Model files: fp16 safetensors with JSON metadata, a SHA-256 beside them, and no pickled code.

File layout: `<name>.safetensors` holds the state dict in float16 (integer buffers as they are) and
one metadata key, `ichview`, a JSON object (see `ModelMetadata`); `<name>.safetensors.sha256`
holds `<hex digest>  <file name>` (sha256sum format) and is checked before anything is parsed.

Loading never unpickles code: safetensors is plain data; a `.pt` / `.pth` file is read only with
`torch.load(weights_only=True)`, which refuses any pickle that would build objects other than
tensors and plain containers (and so never runs its `__reduce__`).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.preprocess import PreprocessConfig
from viewer.core.errors import FileProblemError

__all__ = [
    "ModelFileError",
    "ModelMetadata",
    "LoadedModel",
    "DEFAULT_WEIGHTS_NAME",
    "WEIGHTS_ENV",
    "default_weights_path",
    "file_sha256",
    "sidecar_path",
    "save_weights",
    "read_metadata",
    "load_weights",
]

FORMAT_VERSION = 1
DEFAULT_WEIGHTS_NAME = "ichview-ich.safetensors"
WEIGHTS_ENV = "ICHVIEW_WEIGHTS"
METADATA_KEY = "ichview"


class ModelFileError(FileProblemError):
    """A model file that cannot be used; the message names the file, the reason and the fix."""


@dataclass(frozen=True)
class ModelMetadata:
    """What a model file says about itself (stored as JSON inside the safetensors header)."""

    name: str
    version: str
    arch: dict[str, Any]  # ArchConfig.to_dict()
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    threshold: float = 0.5  # operating threshold on `any`, chosen on the held-out set
    trained_on: str = "untrained"  # one-line training data statement
    metrics: dict[str, Any] = field(default_factory=dict)
    # Grad-CAM scale: raw CAM values (logit units per feature cell) mapped to 1.0 before the
    # multiplication by the probability. See inference.gradcam.
    cam_scale: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)  # free-form (model card fields, dates...)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        # Keep the dicts in their JSON form (tuples -> lists) so a loaded copy compares equal.
        for name in ("arch", "metrics", "extra"):
            object.__setattr__(self, name, json.loads(json.dumps(getattr(self, name))))

    def to_json(self) -> str:
        """Serialise to the JSON stored in the file."""
        return json.dumps(
            {
                "format_version": self.format_version,
                "name": self.name,
                "version": self.version,
                "arch": self.arch,
                "preprocess": self.preprocess.to_dict(),
                "threshold": float(self.threshold),
                "trained_on": self.trained_on,
                "metrics": self.metrics,
                "cam_scale": float(self.cam_scale),
                "extra": self.extra,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        """Parse the stored JSON (raises ValueError / KeyError on malformed content)."""
        data = json.loads(text)
        version = int(data.get("format_version", 0))
        if version > FORMAT_VERSION:
            raise ValueError(f"model format {version} is newer than this ichview supports ({FORMAT_VERSION})")
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            arch=dict(data["arch"]),
            preprocess=PreprocessConfig.from_dict(data.get("preprocess", {})),
            threshold=float(data.get("threshold", 0.5)),
            trained_on=str(data.get("trained_on", "")),
            metrics=dict(data.get("metrics", {})),
            cam_scale=float(data.get("cam_scale", 1.0)),
            extra=dict(data.get("extra", {})),
            format_version=version,
        )


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A verified model file turned into an eval-mode float32 network on the CPU."""

    model: Any  # inference.model.IchNet (torch.nn.Module)
    metadata: ModelMetadata
    sha256: str
    path: Path


def default_weights_path() -> Path:
    """Where the shipped model lives: $ICHVIEW_WEIGHTS, else resources/model/ in a frozen app or the repo."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env).expanduser()
    candidates = []
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        candidates.append(Path(meipass) / "resources" / "model" / DEFAULT_WEIGHTS_NAME)
    candidates.append(Path(__file__).resolve().parents[1] / "resources" / "model" / DEFAULT_WEIGHTS_NAME)
    for c in candidates:
        if c.is_file():
            return c
    return candidates[-1] if not meipass else candidates[0]


def sidecar_path(path: Path | str) -> Path:
    """`<file>.sha256` beside the model file."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def file_sha256(path: Path | str) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_weights(path: Path | str, model: Any, metadata: ModelMetadata) -> str:
    """Write `model`'s state dict as fp16 safetensors with `metadata`, and its `.sha256` beside it.

    Both files are written atomically. Returns the file's SHA-256.
    """
    import torch
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: model files are written as .safetensors")
    state = {}
    for key, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu")
        if t.is_floating_point():
            t = t.to(torch.float16)
        state[key] = t.contiguous()
    data = save(state, metadata={METADATA_KEY: metadata.to_json()})
    _atomic_write_bytes(path, data)
    digest = hashlib.sha256(data).hexdigest()
    _atomic_write_bytes(sidecar_path(path), f"{digest}  {path.name}\n".encode())
    return digest


def _read_expected_hash(path: Path) -> str:
    side = sidecar_path(path)
    if not side.is_file():
        raise ModelFileError(
            path,
            f"no SHA-256 file {side.name} beside the model",
            "ship the model with its .sha256 file (save_weights writes it), or load with verify_hash=False",
        )
    text = side.read_text(encoding="ascii", errors="replace").split()
    if not text or len(text[0]) != 64:
        raise ModelFileError(side, "malformed SHA-256 file", "it must hold '<64 hex digits>  <file name>'")
    return text[0].lower()


def _check_safetensors_structure(path: Path) -> dict[str, Any]:
    """Parse the safetensors header and check the file is complete; returns the header dict."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ModelFileError(path, "truncated model file (no header)", "copy the model file again")
        (n,) = struct.unpack("<Q", head)
        if n > 100_000_000 or 8 + n > size:
            if n > 100_000_000:
                raise ModelFileError(path, "not a safetensors model file", "use a .safetensors file written by ichview")
            raise ModelFileError(path, "truncated model file (header cut short)", "copy the model file again")
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError(path, f"corrupt model header ({exc.__class__.__name__})", "copy the model file again") from exc
    if not isinstance(header, dict):
        raise ModelFileError(path, "corrupt model header", "copy the model file again")
    end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise ModelFileError(path, "corrupt model header (metadata is not text)", "copy the model file again")
            continue
        problem = _tensor_entry_problem(entry)
        if problem:
            raise ModelFileError(path, f"corrupt model header: tensor {str(key)[:60]!r} {problem}", "copy the model file again")
        end = max(end, int(entry["data_offsets"][1]))
    if 8 + n + end > size:
        raise ModelFileError(
            path, f"truncated model file ({size} bytes, {8 + n + end} expected)", "copy the model file again"
        )
    return header


# Tensor types a model file may hold: float weights (stored half or full precision) and BatchNorm's
# int64 step counter. Anything else (int8 quantised weights, complex, bool) is not a model of ours.
ALLOWED_DTYPES = frozenset({"F16", "BF16", "F32", "I64"})
_DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "I64": 8}
MAX_TENSOR_ELEMENTS = 64_000_000


def _tensor_entry_problem(entry: Any) -> str:
    """'' when a safetensors header entry is well formed and of an allowed type, else what is wrong."""
    if not isinstance(entry, dict):
        return "is not a tensor description"
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in ALLOWED_DTYPES:
        return f"has type {str(dtype)[:12]!r} (a model file holds F16/BF16/F32 weights and I64 counters only)"
    if not (isinstance(shape, list) and len(shape) <= 8 and all(isinstance(d, int) and 0 <= d < 2**31 for d in shape)):
        return "has a malformed shape"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) and o >= 0 for o in offsets)):
        return "has malformed data offsets"
    n = 1
    for d in shape:
        n *= d
    if n > MAX_TENSOR_ELEMENTS:
        return f"is too large ({n} elements)"
    if offsets[1] - offsets[0] != n * _DTYPE_BYTES[dtype]:
        return "has data offsets that do not match its shape"
    return ""


def _metadata_problem(meta: ModelMetadata) -> str:
    """'' when the metadata's numbers are in range, else what is out of range."""
    import math

    if not (math.isfinite(meta.threshold) and 0.0 <= meta.threshold <= 1.0):
        return f"operating threshold {meta.threshold!r} outside 0..1"
    if not (math.isfinite(meta.cam_scale) and 0.0 < meta.cam_scale < 1e6):
        return f"cam_scale {meta.cam_scale!r} is not a positive number"
    arch = meta.arch
    for key in ("widths", "blocks", "strides", "dilations"):
        values = arch.get(key, [])
        if not isinstance(values, list) or len(values) > 8 or not all(isinstance(v, int) and 0 < v <= 1024 for v in values):
            return f"architecture {key} {str(values)[:40]} out of range (at most 8 stages of 1..1024)"
    if sum(arch.get("blocks", [])) > 32:
        return "architecture asks for more than 32 blocks"
    for key in ("stem_channels", "in_channels", "n_outputs"):
        if key in arch and not (isinstance(arch[key], int) and 0 < arch[key] <= 1024):
            return f"architecture {key} {arch[key]!r} out of range"
    pre = meta.preprocess
    if not (0.1 <= pre.pixel_mm <= 20.0 and 8 <= pre.image_size <= 1024 and pre.n_slabs <= 15):
        return f"pre-processing grid {pre.image_size} px of {pre.pixel_mm} mm ({pre.n_slabs} slabs) out of range"
    rule = meta.extra.get("verdict_rule") if isinstance(meta.extra, dict) else None
    if rule is not None and not isinstance(rule, dict):
        return "verdict_rule is not an object"
    return ""


def _metadata_from_header(path: Path, header: Mapping[str, Any]) -> ModelMetadata:
    meta = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if meta is None:
        raise ModelFileError(path, "no ichview metadata in the model file", "save models with inference.weights.save_weights")
    try:
        metadata = ModelMetadata.from_json(meta)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(path, f"unreadable model metadata: {exc}", "save models with inference.weights.save_weights") from exc
    problem = _metadata_problem(metadata)
    if problem:
        raise ModelFileError(path, f"model metadata out of range: {problem}", "use the model file that came with ichview")
    return metadata


def read_metadata(path: Path | str | None = None) -> ModelMetadata:
    """The metadata of a .safetensors model file, without building the network or reading tensors."""
    path = Path(path) if path is not None else default_weights_path()
    if not path.is_file():
        raise ModelFileError(path, "model file not found", f"set {WEIGHTS_ENV} or pass the weights path")
    return _metadata_from_header(path, _check_safetensors_structure(path))


def _load_tensors(path: Path) -> tuple[dict[str, Any], ModelMetadata | None]:
    import pickle

    import torch

    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        header = _check_safetensors_structure(path)
        meta = _metadata_from_header(path, header)
        try:
            return load_file(str(path), device="cpu"), meta
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFileError(path, f"corrupt model file: {exc}", "copy the model file again") from exc
    if suffix in (".pt", ".pth"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ModelFileError(
                path,
                "refused: the file is a pickle that would build Python objects (it may carry code); nothing was executed",
                "use a .safetensors model file",
            ) from exc
        except (RuntimeError, EOFError, OSError, ValueError) as exc:
            raise ModelFileError(path, f"unreadable or truncated .pt file: {exc}", "copy the model file again") from exc
        if not isinstance(obj, dict):
            raise ModelFileError(path, "a .pt model must hold a dict of tensors", "use a .safetensors model file")
        meta_text = obj.pop("__ichview_metadata__", None)
        meta = ModelMetadata.from_json(meta_text) if isinstance(meta_text, str) else None
        state = obj.get("state_dict", obj) if isinstance(obj.get("state_dict", None), dict) else obj
        bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
        if bad:
            raise ModelFileError(path, f"non-tensor entries in the state dict: {bad[:5]}", "use a .safetensors model file")
        return state, meta
    raise ModelFileError(path, f"unsupported model file type {suffix!r}", "use a .safetensors model file")


def load_weights(
    path: Path | str | None = None,
    *,
    verify_hash: bool = True,
    metadata: ModelMetadata | None = None,
) -> LoadedModel:
    """Verify, read and build the model: eval mode, float32, CPU.

    `path` defaults to `default_weights_path()`. With `verify_hash` the file's SHA-256 must match
    its `.sha256` sidecar (checked before any parsing). `metadata` is required for a `.pt` file
    that carries none. Raises ModelFileError for a missing, truncated, altered, pickled-code or
    wrong-architecture file.
    """
    import torch

    from inference.model import build_model

    path = Path(path) if path is not None else default_weights_path()
    if not path.is_file():
        raise ModelFileError(path, "model file not found", f"set {WEIGHTS_ENV} or pass the weights path")
    digest = file_sha256(path)
    if verify_hash:
        expected = _read_expected_hash(path)
        if digest != expected:
            raise ModelFileError(
                path,
                f"SHA-256 mismatch (file {digest[:12]}..., expected {expected[:12]}...): the file is damaged or altered",
                "restore the model file that came with ichview",
            )
    state, file_meta = _load_tensors(path)
    meta = file_meta or metadata
    if meta is None:
        raise ModelFileError(path, "no metadata in the model file", "pass metadata= or use a .safetensors file")
    problem = _metadata_problem(meta)
    if problem:
        raise ModelFileError(path, f"model metadata out of range: {problem}", "use the model file that came with ichview")
    try:
        model = build_model(meta.arch)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(path, f"unknown architecture in metadata: {exc}", "update ichview or use a matching model") from exc
    n_in = getattr(getattr(model, "config", None), "in_channels", None)
    if n_in is not None and n_in != meta.preprocess.n_channels:
        raise ModelFileError(
            path,
            f"the network takes {n_in} channels but its pre-processing makes {meta.preprocess.n_channels}",
            "save the model with the PreprocessConfig it was trained with",
        )
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][:4]
        raise ModelFileError(
            path,
            "weights do not match the architecture in its metadata: " + " | ".join(lines),
            "use the model file written together with this metadata",
        ) from exc
    model.eval()
    return LoadedModel(model=model, metadata=meta, sha256=digest, path=path)
