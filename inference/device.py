"""Device choice and the CUDA fast path (autocast, channels_last, pinned non-blocking copies)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["resolve_device", "set_threads", "autocast", "to_device", "prepare_model"]


def resolve_device(device: str | None = None) -> torch.device:
    """"cpu", "cuda", "cuda:N" or None (CUDA when present, else CPU). Asking for absent CUDA is an error."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here (use 'cpu' or leave it unset)")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r} (use 'cpu' or 'cuda')")
    return dev


def set_threads(threads: int | None) -> None:
    """Cap torch's intra-op CPU threads (a GUI keeps a core for itself); None leaves the default."""
    if threads is not None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        torch.set_num_threads(int(threads))


def _cuda_dtype() -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device) -> Iterator[None]:
    """bf16 (or fp16 on older GPUs) autocast on CUDA; plain float32 on the CPU."""
    if device.type == "cuda":
        with torch.autocast(device_type="cuda", dtype=_cuda_dtype()):
            yield
    else:
        yield


def to_device(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, C, H, W) numpy -> float32 tensor on `device`, channels_last; pinned + non_blocking on CUDA."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    if device.type == "cuda":
        t = t.pin_memory().to(device, non_blocking=True)
    t = t.to(torch.float32)
    return t.contiguous(memory_format=torch.channels_last)


def prepare_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Eval mode, on `device`, channels_last (faster convolutions on both CPU/oneDNN and CUDA)."""
    model = model.eval().to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels
    return model.to(memory_format=torch.channels_last)
