"""The inference engine: a verified model on a device, streaming per-slice results for a Volume.

    engine = Engine.load()                        # shipped weights, CUDA if present, else CPU
    engine = Engine.load(path, device="cpu", threads=1)   # a GUI keeps a core
    acceptance = engine.check(volume)             # "not analysed" + reason, or accepted
    for result in engine.iter_predict(volume, cancel=event):   # SliceResult, in slice order
        ...
    analysis = engine.analyze(volume)             # StackAnalysis (checks acceptance first)

Per batch of slices: pre-processing (inference.preprocess) -> one forward pass under
`torch.inference_mode()` (autocast bf16/fp16 and channels_last on CUDA) giving the probabilities
and the last feature map -> Grad-CAM outside inference mode from that feature map (only the
small head is re-run with gradients, so heatmaps cost little more than the probabilities).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference.acceptance import check_volume
from inference.device import autocast, prepare_model, resolve_device, set_threads, to_device
from inference.gradcam import gated_cams, label_indices, raw_grad_cam
from inference.labels import LABELS
from inference.preprocess import PreprocessConfig, cam_cell_affine, make_inputs
from inference.results import Acceptance, ModelInfo, SliceResult, StackAnalysis
from inference.weights import ModelMetadata, load_weights
from viewer.core.errors import IchviewError

__all__ = ["Engine", "InferenceCancelled"]


class InferenceCancelled(IchviewError):
    """`analyze` was cancelled before every slice was done."""


class Engine:
    """A loaded model bound to a device. Build with `Engine.load` (or `Engine.from_model`)."""

    def __init__(
        self,
        model: torch.nn.Module,
        metadata: ModelMetadata,
        *,
        sha256: str = "",
        path: Path | None = None,
        device: str | None = None,
        threads: int | None = None,
    ) -> None:
        set_threads(threads)
        self._device = resolve_device(device)
        self.model = prepare_model(model, self._device)
        self.metadata = metadata
        self.path = path
        self.info = ModelInfo(
            name=metadata.name,
            version=metadata.version,
            sha256=sha256,
            threshold=float(metadata.threshold),
            trained_on=metadata.trained_on,
        )

    @classmethod
    def load(
        cls,
        weights: Path | str | None = None,
        *,
        device: str | None = None,
        threads: int | None = None,
        verify_hash: bool = True,
    ) -> Engine:
        """Load and verify a model file (default: `inference.weights.default_weights_path()`).

        `device`: "cpu", "cuda" or None (CUDA when present). `threads`: torch CPU threads (None:
        torch's default). Raises ModelFileError for a missing or bad file.
        """
        loaded = load_weights(weights, verify_hash=verify_hash)
        return cls(loaded.model, loaded.metadata, sha256=loaded.sha256, path=loaded.path, device=device, threads=threads)

    @classmethod
    def from_model(
        cls,
        model: torch.nn.Module,
        metadata: ModelMetadata,
        *,
        device: str | None = None,
        threads: int | None = None,
        sha256: str = "",
    ) -> Engine:
        """An engine around an in-memory model (training / evaluation)."""
        return cls(model, metadata, sha256=sha256, device=device, threads=threads)

    @property
    def device(self) -> str:
        """"cpu" or "cuda" / "cuda:N"."""
        return str(self._device)

    @property
    def config(self) -> PreprocessConfig:
        return self.metadata.preprocess

    @property
    def threshold(self) -> float:
        """The operating threshold on `any`; every verdict uses it."""
        return self.info.threshold

    def check(self, volume: Any) -> Acceptance:
        """Whether this volume is analysed (see inference.acceptance)."""
        return check_volume(volume)

    def _forward(self, x_np: np.ndarray, cam_labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        x = to_device(x_np, self._device)
        with torch.inference_mode(), autocast(self._device):
            feats = self.model.features(x)
            logits = self.model.head(feats)
        probs = torch.sigmoid(logits.float())
        cams = None
        if cam_labels:
            with autocast(self._device):
                raw, _ = raw_grad_cam(self.model, feats, cam_labels)
            sel = probs[:, label_indices(cam_labels)].clone()
            cams = gated_cams(raw, sel, self.metadata.cam_scale, x, self.config)
        return probs.cpu().numpy(), cams

    def predict_arrays(
        self,
        hu: np.ndarray,
        positions_mm: Sequence[float],
        pixel_spacing_mm: tuple[float, float],
        *,
        cam_labels: Sequence[str] = ("any",),
        batch_size: int = 8,
        cancel: threading.Event | None = None,
        with_affines: bool = False,
    ) -> Iterator[tuple]:
        """(slice index, probabilities (6,), CAMs (L, h, w) float16 or None) per slice, in order.

        With `with_affines`, a fourth item: the (2, 3) CAM-cell -> image affine (`cam_cell_affine`).
        """
        n = int(np.asarray(hu).shape[0])
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        cam_labels = tuple(cam_labels)
        label_indices(cam_labels)
        # Pre-process a few batches at a time (neighbour slices shared between batches are pooled
        # once), but the first batch alone so the first result arrives early.
        chunk = max(batch_size, (32 // batch_size) * batch_size)
        starts = [0] + list(range(batch_size, n, chunk)) if n > batch_size else [0]
        for c0 in starts:
            c1 = min(n, batch_size if c0 == 0 else c0 + chunk)
            if cancel is not None and cancel.is_set():
                return
            prepared = make_inputs(hu, positions_mm, pixel_spacing_mm, self.config, indices=range(c0, c1))
            for b0 in range(0, c1 - c0, batch_size):
                if b0 and cancel is not None and cancel.is_set():
                    return
                probs, cams = self._forward(prepared.x[b0 : b0 + batch_size], cam_labels)
                for j in range(probs.shape[0]):
                    cam = None if cams is None else cams[j]
                    if with_affines:
                        affine = None if cam is None else cam_cell_affine(
                            prepared.to_image[b0 + j], self.config.image_size, tuple(cam.shape[-2:])
                        )
                        yield c0 + b0 + j, probs[j], cam, affine
                    else:
                        yield c0 + b0 + j, probs[j], cam

    def iter_predict(
        self,
        volume: Any,
        *,
        cams: bool = True,
        cam_labels: Sequence[str] = ("any",),
        batch_size: int = 8,
        cancel: threading.Event | None = None,
    ) -> Iterator[SliceResult]:
        """Stream one SliceResult per slice, in slice order, batch by batch.

        Does not check acceptance (call `check` first, or use `analyze`). With `cancel` set, the
        generator stops before the next batch. `SliceResult.cam` holds the `any` map when `any`
        is in `cam_labels`; other labels go to `subtype_cams`.
        """
        labels = tuple(cam_labels) if cams else ()
        for k, p, c, affine in self.predict_arrays(
            volume.hu, volume.positions_mm, volume.pixel_spacing_mm,
            cam_labels=labels, batch_size=batch_size, cancel=cancel, with_affines=True,
        ):
            maps = {} if c is None else {lab: c[i] for i, lab in enumerate(labels)}
            yield SliceResult(
                series_uid=volume.series_uid,
                stack_id=volume.stack_id,
                index=k,
                probabilities={lab: float(p[i]) for i, lab in enumerate(LABELS)},
                cam=maps.pop("any", None),
                subtype_cams=maps,
                to_image=affine,
            )

    def analyze(
        self,
        volume: Any,
        *,
        cams: bool = True,
        cam_labels: Sequence[str] = ("any",),
        batch_size: int = 8,
        cancel: threading.Event | None = None,
    ) -> StackAnalysis:
        """Check acceptance, then run every slice; StackAnalysis with probabilities (n, 6) and `any` CAMs.

        Raises InferenceCancelled when `cancel` is set before the last slice.
        """
        t0 = time.perf_counter()
        acceptance = self.check(volume)
        if not acceptance.accepted:
            return StackAnalysis(volume.series_uid, volume.stack_id, acceptance, self.info, self.device,
                                 time.perf_counter() - t0)
        n = volume.n_slices
        probs = np.zeros((n, len(LABELS)), np.float32)
        maps: np.ndarray | None = None
        affines: np.ndarray | None = None
        done = 0
        for r in self.iter_predict(volume, cams=cams, cam_labels=cam_labels, batch_size=batch_size, cancel=cancel):
            probs[r.index] = [r.probabilities[lab] for lab in LABELS]
            if r.cam is not None:
                if maps is None:
                    maps = np.zeros((n, *r.cam.shape), np.float16)
                maps[r.index] = r.cam
            if r.to_image is not None:
                if affines is None:
                    affines = np.zeros((n, 2, 3), np.float64)
                affines[r.index] = r.to_image
            done += 1
        if done < n:
            raise InferenceCancelled(f"analysis of series {volume.series_uid} cancelled after {done} of {n} slices")
        return StackAnalysis(
            series_uid=volume.series_uid,
            stack_id=volume.stack_id,
            acceptance=acceptance,
            model=self.info,
            device=self.device,
            seconds=time.perf_counter() - t0,
            probabilities=probs,
            cams=maps,
            cam_affines=affines,
        )
