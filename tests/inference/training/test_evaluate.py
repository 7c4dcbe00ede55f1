"""`ichview evaluate`: metrics on (part of) the fixed held-out set, the threshold chosen there and
stored in the weights, the real GE negative check through the engine, the model card section."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference.training.evaluate import CARD_BEGIN, CARD_END, compute_metrics
from inference.training.train import WEIGHTS_NAME
from inference.training.train import main as train
from inference.weights import load_weights, read_metadata
from viewer.__main__ import main as ichview


@pytest.fixture(scope="module")
def smoke_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("smoke")
    assert train(["--smoke", "--work", str(root / "work"), "--out", str(root / "model"), "--threads", "1"]) == 0
    return root / "model" / WEIGHTS_NAME


def test_evaluate_writes_threshold_metrics_and_card(smoke_weights: Path, tmp_path: Path, real_data: Path) -> None:
    card = tmp_path / "MODEL_CARD.md"
    card.write_text("# Model card\n\nhand-written text stays\n")
    before = read_metadata(smoke_weights)
    args = ["evaluate", "--weights", str(smoke_weights), "--work", str(tmp_path / "work"), "--card", str(card),
            "--real-dir", str(real_data), "--heldout-shards", "1", "--threads", "1", "--json", str(tmp_path / "m.json"), "--write"]
    assert ichview(args) == 0
    report = json.loads((tmp_path / "m.json").read_text())
    held = report["heldout"]
    assert held["n_slices"] > 20 and held["n_positive"]["any"] > 0
    assert held["sensitivity_any"] >= 0.95  # the threshold is chosen on this set for that
    loaded = load_weights(smoke_weights)  # rewritten with its new SHA-256 beside it
    assert loaded.metadata.threshold == pytest.approx(held["threshold"])
    assert loaded.metadata.metrics["heldout"]["heldout_weighted_log_loss"] == pytest.approx(held["weighted_log_loss"])
    assert loaded.sha256 == report["sha256"] != ""
    assert before.extra["threshold_source"].startswith("provisional")
    assert loaded.metadata.extra["threshold_source"].startswith("held-out")
    ge = report["ge"]
    assert ge["n_slices"] == 28 and ge["accepted"] and 0.0 <= ge["max_any"] <= 1.0
    assert ge["threshold"] == pytest.approx(held["threshold"])
    cam = report["cam"]
    assert cam["n_slices"] > 0 and 0.0 <= cam["baseline_mass_inside"] <= 1.0
    text = card.read_text()
    assert "hand-written text stays" in text and text.count(CARD_BEGIN) == 1 and text.count(CARD_END) == 1
    assert report["sha256"] in text and "pointing-game" in text
    # A second run replaces the section instead of appending another one.
    assert ichview(args) == 0
    assert card.read_text().count(CARD_BEGIN) == 1


def test_metrics_of_a_perfect_and_a_useless_model() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((200, 6)) < 0.3).astype(np.float32)
    y[:, 0] = y[:, 1:].max(axis=1)
    good = compute_metrics(y, np.clip(y, 0.01, 0.99), 0.5)
    assert all(v == 1.0 for v in good["auc"].values()) and good["weighted_log_loss"] < 0.02
    assert good["sensitivity_any"] == 1.0 and good["specificity_any"] == 1.0
    flat = compute_metrics(y, np.full_like(y, 0.5), 0.5)
    assert all(v == 0.5 for v in flat["auc"].values()) and flat["weighted_log_loss"] == pytest.approx(np.log(2), rel=1e-6)


def test_heldout_background_slices_are_never_training_context(real_data: Path) -> None:
    from inference.training.datasets.backgrounds import CONTEXT_GUARD_MM, load_background
    from inference.training.datasets.heldout import heldout_studies
    from inference.training.datasets.synthetic import CALIB_SEED_BASE, PHANTOM_TRAIN_THICKNESSES_MM

    for name in ("invesalius_head_ct_0051", "cerr_head_neck_ct"):
        bg = load_background(name, str(real_data))
        train, held = bg.training_targets(), bg.heldout_targets()
        assert len(train) >= 15 and len(held) >= 4 and not set(train) & set(held)
        gap = np.abs(bg.positions_mm[train][:, None] - bg.positions_mm[held][None, :]).min()
        assert gap > 2 * CONTEXT_GUARD_MM  # the two contexts cannot share a slice
    with pytest.raises(ValueError, match="real negative test"):
        load_background("ge_head_ct_tilted", str(real_data))
    studies = heldout_studies()
    assert {s.thickness_mm for s in studies} == {3.0, 7.0} and not {3.0, 7.0} & set(PHANTOM_TRAIN_THICKNESSES_MM)
    assert {s.lesion_size for s in studies} == {0.0, 1.0}
    assert min(s.seed for s in studies) > CALIB_SEED_BASE + 1_000_000
