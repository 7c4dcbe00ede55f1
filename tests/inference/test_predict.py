"""The engine end to end on volumes: streaming order, batching, CAMs, cancel, threads, devices."""
from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.labels import LABELS
from inference.model import ArchConfig, build_model
from inference.predict import Engine, InferenceCancelled
from inference.preprocess import PreprocessConfig
from inference.weights import ModelMetadata, save_weights
from viewer.core.loading import load_stack, open_paths
from viewer.core.volume import StudyMetadata, Volume

SMALL = ArchConfig(stem_channels=8, widths=(8, 16, 24, 32), blocks=(1, 1, 1, 1))
CONFIG = PreprocessConfig(image_size=64, pixel_mm=4.0)


def _head(n_slices: int, size: int = 200, pixel_mm: float = 1.2) -> np.ndarray:
    c = (np.arange(size) - (size - 1) / 2) * pixel_mm
    yy, xx = np.meshgrid(c, c, indexing="ij")
    rng = np.random.default_rng(0)
    out = np.empty((n_slices, size, size), np.float32)
    for k in range(n_slices):
        f = math.sqrt(max(1 - (-0.5 + k / max(n_slices - 1, 1)) ** 2, 0.3))
        depth = (1 - np.sqrt((yy / (92 * f)) ** 2 + (xx / (74 * f)) ** 2)) * 74 * f
        sl = np.full((size, size), -1000.0, np.float32)
        sl[depth > 0] = 20
        sl[depth > 3] = 1200
        sl[depth > 9] = 32 + k  # slice-dependent, so a mix-up of slices shows
        out[k] = sl
    out += rng.normal(0, 4.0, out.shape)
    return np.clip(np.rint(out), -1024, 3071).astype(np.int16)


def _volume(hu: np.ndarray, step_mm: float = 5.0, pixel_mm: float = 1.2) -> Volume:
    n = hu.shape[0]
    return Volume(
        hu=hu, spacing_mm=(step_mm, pixel_mm, pixel_mm), origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3),
        positions_mm=tuple(k * step_mm for k in range(n)), sop_instance_uids=tuple(f"1.9.{k}" for k in range(n)),
        instance_numbers=tuple(range(1, n + 1)), slice_thickness_mm=(step_mm,) * n,
        source_paths=tuple(Path(f"{k}.dcm") for k in range(n)), series_uid="1.9", stack_id="1.9#0",
        metadata=StudyMetadata(modality="CT", convolution_kernel="H30s"),
    )


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = build_model(SMALL).eval()
    with torch.no_grad():
        model.fc.bias.zero_()
        model.fc.weight.normal_(0, 0.5)
    path = tmp_path_factory.mktemp("model") / "test-model.safetensors"
    meta = ModelMetadata(name="test-model", version="9.9", arch=SMALL.to_dict(), preprocess=CONFIG,
                         threshold=0.42, trained_on="random weights (test)", cam_scale=0.5)
    save_weights(path, model, meta)
    return path


@pytest.fixture(scope="module")
def engine(weights_file: Path) -> Engine:
    return Engine.load(weights_file, device="cpu")


def test_load_reports_the_model(engine: Engine, weights_file: Path) -> None:
    from inference.weights import file_sha256

    assert engine.device == "cpu"
    assert engine.info.name == "test-model" and engine.info.version == "9.9"
    assert engine.info.threshold == pytest.approx(0.42)
    assert engine.info.sha256 == file_sha256(weights_file)
    assert engine.config == CONFIG


def test_stream_in_slice_order_with_cams(engine: Engine) -> None:
    vol = _volume(_head(11))
    results = list(engine.iter_predict(vol, batch_size=4, cam_labels=("any", "subdural")))
    assert [r.index for r in results] == list(range(11))
    for r in results:
        assert r.series_uid == "1.9" and r.stack_id == "1.9#0"
        assert set(r.probabilities) == set(LABELS)
        assert all(0.0 <= p <= 1.0 for p in r.probabilities.values())
        assert r.cam is not None and r.cam.dtype == np.float16 and r.cam.shape == (64, 64)  # the model grid
        assert set(r.subtype_cams) == {"subdural"}
        # CAMs are gated by the probability: never above it.
        assert float(r.cam.max()) <= r.probabilities["any"] + 1e-3
    # Different slices give different outputs (no slice mix-ups / duplicates).
    assert len({round(r.probabilities["any"], 6) for r in results}) > 1


def test_batch_size_does_not_change_results(engine: Engine) -> None:
    vol = _volume(_head(7))
    one = list(engine.iter_predict(vol, batch_size=1))
    many = list(engine.iter_predict(vol, batch_size=8))
    for a, b in zip(one, many, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)
        np.testing.assert_allclose(a.cam.astype(np.float32), b.cam.astype(np.float32), atol=2e-3)


def test_without_cams(engine: Engine) -> None:
    vol = _volume(_head(3))
    results = list(engine.iter_predict(vol, cams=False))
    assert all(r.cam is None and not r.subtype_cams for r in results)
    with pytest.raises(ValueError):
        list(engine.iter_predict(vol, cam_labels=("bleed",)))


def test_cancel_stops_at_the_next_batch(engine: Engine) -> None:
    vol = _volume(_head(12))
    cancel = threading.Event()
    seen = []
    for r in engine.iter_predict(vol, batch_size=2, cancel=cancel):
        seen.append(r.index)
        cancel.set()
    assert seen == [0, 1]
    with pytest.raises(InferenceCancelled):
        engine.analyze(vol, cancel=cancel)


def test_analyze_accepted_and_not_accepted(engine: Engine) -> None:
    vol = _volume(_head(6))
    analysis = engine.analyze(vol, batch_size=4)
    assert analysis.acceptance.accepted
    assert analysis.probabilities.shape == (6, 6) and analysis.n_slices == 6
    assert analysis.cams is not None and analysis.cams.shape == (6, 64, 64)
    assert analysis.model == engine.info and analysis.device == "cpu" and analysis.seconds > 0
    streamed = np.array([[r.probabilities[lab] for lab in LABELS] for r in engine.iter_predict(vol)])
    np.testing.assert_allclose(analysis.probabilities, streamed, atol=1e-6)
    mr = _volume(_head(6))
    mr = Volume(**{**{f: getattr(mr, f) for f in mr.__dataclass_fields__}, "metadata": StudyMetadata(modality="MR")})
    rejected = engine.analyze(mr)
    assert not rejected.acceptance.accepted and "MR" in rejected.acceptance.reason
    assert rejected.n_slices == 0 and rejected.cams is None


def test_single_slice_and_thin_series(engine: Engine) -> None:
    one = engine.analyze(_volume(_head(1)))
    assert one.probabilities.shape == (1, 6)
    thin = engine.analyze(_volume(_head(40), step_mm=0.625), cams=False)
    assert thin.probabilities.shape == (40, 6) and thin.cams is None


def test_threads_and_device_override(weights_file: Path) -> None:
    before = torch.get_num_threads()
    try:
        Engine.load(weights_file, device="cpu", threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            Engine.load(weights_file, device="cuda")
    else:
        assert Engine.load(weights_file, device="cuda").device.startswith("cuda")


def test_real_ge_head_ct_runs_end_to_end(engine: Engine, real_data: Path) -> None:
    volume = load_stack(open_paths([real_data / "ge_head_ct_tilted"]).stacks()[0])
    analysis = engine.analyze(volume)
    assert analysis.acceptance.accepted
    assert analysis.probabilities.shape == (volume.n_slices, 6)
    assert np.isfinite(analysis.probabilities).all()
