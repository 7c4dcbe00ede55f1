"""`ichview train`: the CI smoke run writes a model the engine loads; a resumed run ends with the
same weights as an uninterrupted one; the RSNA layout trains end to end."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rsna_layout import write_rsna_folder

from inference.predict import Engine
from inference.training.train import EXIT_UNFINISHED, WEIGHTS_NAME, fit_platt, main
from inference.weights import load_weights
from viewer.__main__ import main as ichview

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")


def test_smoke_training_writes_a_model_the_engine_loads(tmp_path: Path) -> None:
    out = tmp_path / "model"
    assert ichview(["train", "--smoke", "--work", str(tmp_path / "work"), "--out", str(out), "--threads", "1"]) == 0
    loaded = load_weights(out / WEIGHTS_NAME)  # verifies the SHA-256 beside it
    meta = loaded.metadata
    assert meta.preprocess.image_size == 32 and meta.extra["training"]["steps"] == 2
    assert 0.0 < meta.threshold < 1.0 and meta.cam_scale > 0
    assert "smoke" in meta.trained_on
    # The engine runs it on a plain HU volume (what the viewer hands it).
    engine = Engine.load(out / WEIGHTS_NAME, device="cpu", threads=1)
    hu = np.full((3, 64, 64), -1000, np.int16)
    hu[:, 8:56, 8:56] = 35
    results = list(engine.predict_arrays(hu, [0.0, 5.0, 10.0], (4.0, 4.0)))
    assert len(results) == 3 and all(np.all((p >= 0) & (p <= 1)) for _, p, _ in results)
    # A finished run is not silently redone: the checkpoint says so.
    assert main(["--smoke", "--work", str(tmp_path / "work"), "--out", str(out)]) == 2


def test_grid_and_network_options_reach_the_weights_and_the_engine(tmp_path: Path) -> None:
    """The GPU recipe (a finer grid, the full network) is options of the same command; the model file
    then says how to feed it, and the engine follows."""
    out = tmp_path / "model"
    argv = ["--smoke", "--work", str(tmp_path / "work"), "--out", str(out), "--threads", "1",
            "--pixel-mm", "6", "--image-size", "40", "--arch", "full", "--device", "cpu"]
    assert main(argv) == 0
    meta = load_weights(out / WEIGHTS_NAME).metadata
    assert (meta.preprocess.pixel_mm, meta.preprocess.image_size) == (6.0, 40)
    assert tuple(meta.arch["widths"]) == (48, 80, 128, 192)  # the full network, not the slim one
    assert meta.extra["training"]["device"] == "cpu"
    assert meta.extra["training"]["parameters"] > 1_000_000
    engine = Engine.load(out / WEIGHTS_NAME, device="cpu", threads=1)
    hu = np.full((2, 80, 80), -1000, np.int16)
    hu[:, 10:70, 10:70] = 35
    (_, p, cam), _ = list(engine.predict_arrays(hu, [0.0, 5.0], (3.0, 3.0)))
    assert p.shape == (6,) and cam.shape[-2:] == (40, 40)  # heatmaps come on the 40-pixel model grid


def test_cuda_asked_for_where_there_is_none_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # CI has no GPU; a GPU machine pretends
    assert main(["--smoke", "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o"), "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _state(path: Path) -> dict[str, torch.Tensor]:
    return load_weights(path).model.state_dict()


def test_resumed_run_ends_with_the_same_weights(tmp_path: Path) -> None:
    folder = write_rsna_folder(tmp_path / "rsna", series_slices=(6, 5, 7, 4))
    common = ["--smoke", "--rsna-dir", str(folder.root), "--steps", "5", "--threads", "1", "--seed", "3"]
    assert main(common + ["--work", str(tmp_path / "a"), "--out", str(tmp_path / "out_a")]) == 0
    chunk = common + ["--work", str(tmp_path / "b"), "--out", str(tmp_path / "out_b")]
    assert main(chunk + ["--stop-after-steps", "2"]) == EXIT_UNFINISHED
    assert not (tmp_path / "out_b" / WEIGHTS_NAME).exists()
    assert main(chunk + ["--resume"]) == 0
    a, b = _state(tmp_path / "out_a" / WEIGHTS_NAME), _state(tmp_path / "out_b" / WEIGHTS_NAME)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    # ...and differs from a run with another seed (the comparison can fail).
    assert main(common[:-1] + ["4", "--work", str(tmp_path / "c"), "--out", str(tmp_path / "out_c")]) == 0
    c = _state(tmp_path / "out_c" / WEIGHTS_NAME)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


def test_platt_fit_recovers_a_known_calibration() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (4000, 1))
    y = (rng.random((4000, 1)) < 1 / (1 + np.exp(-(0.5 * z - 1.0)))).astype(np.float32)
    a, b = fit_platt(z, y)
    assert a[0] == pytest.approx(0.5, abs=0.08) and b[0] == pytest.approx(-1.0, abs=0.12)
