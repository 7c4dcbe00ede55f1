"""Probability calibration after training: Platt scaling per label, folded into the final layer."""
from __future__ import annotations

from typing import Any

import numpy as np

from inference.labels import LABELS

__all__ = ["fit_platt", "fold_platt", "predict_logits"]


def predict_logits(model: Any, x_uint8: np.ndarray, batch: int = 128) -> np.ndarray:
    import torch

    from inference.training.datasets.samples import from_uint8

    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, x_uint8.shape[0], batch):
            out.append(model(torch.from_numpy(from_uint8(x_uint8[i : i + batch]))).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(LABELS)), np.float32)


def fit_platt(logits: np.ndarray, y: np.ndarray, *, iters: int = 50, l2: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Per-label (a, b) minimising log loss of sigmoid(a * z + b) (Newton steps, a kept > 0.05).

    Deterministic, numpy only. A label without both classes keeps (1, 0).
    """
    k = logits.shape[1]
    a, b = np.ones(k), np.zeros(k)
    for j in range(k):
        z, t = logits[:, j].astype(np.float64), y[:, j].astype(np.float64)
        if t.min() == t.max():
            continue
        p_a, p_b = 1.0, 0.0
        for _ in range(iters):
            p = 1.0 / (1.0 + np.exp(-np.clip(p_a * z + p_b, -50.0, 50.0)))
            g = np.array([np.sum((p - t) * z) + l2 * (p_a - 1.0), np.sum(p - t) + l2 * p_b])
            w = p * (1 - p)
            h = np.array([[np.sum(w * z * z) + l2, np.sum(w * z)], [np.sum(w * z), np.sum(w) + l2]])
            step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
            p_a, p_b = p_a - step[0], p_b - step[1]
            p_a = max(p_a, 0.05)
            if np.abs(step).max() < 1e-8:
                break
        a[j], b[j] = p_a, p_b
    return a, b


def fold_platt(model: Any, a: np.ndarray, b: np.ndarray) -> None:
    """Fold sigmoid(a * logit + b) into the final linear layer (the network stays one module)."""
    import torch

    with torch.no_grad():
        fa = torch.tensor(a, dtype=model.fc.weight.dtype)
        fb = torch.tensor(b, dtype=model.fc.bias.dtype)
        model.fc.weight.mul_(fa.view(-1, 1))
        model.fc.bias.mul_(fa).add_(fb)
