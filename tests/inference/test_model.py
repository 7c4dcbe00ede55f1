"""The classifier network: size, output layout, Grad-CAM layer, per-slice independence."""
from __future__ import annotations

import pytest
import torch

from inference.labels import LABELS
from inference.model import ArchConfig, build_model, count_parameters


def test_default_model_is_small_and_has_six_outputs() -> None:
    model = build_model().eval()
    n = count_parameters(model)
    assert 500_000 < n < 3_000_000  # well under the 10 M budget
    x = torch.rand(2, 9, 96, 96)
    with torch.inference_mode():
        logits = model(x)
        feats = model.features(x)
    assert logits.shape == (2, len(LABELS))
    # The Grad-CAM layer stays at 1/8 of the input.
    assert feats.shape[-2:] == (12, 12)
    assert ArchConfig().output_stride == 8


def test_slices_are_independent_in_eval_mode() -> None:
    """A batch gives each slice the same result as alone (no cross-slice leakage, e.g. BatchNorm)."""
    torch.manual_seed(0)
    model = build_model(ArchConfig(widths=(16, 24, 32, 48))).eval()
    x = torch.rand(4, 9, 64, 64)
    with torch.inference_mode():
        together = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_channels_last_gives_the_same_logits() -> None:
    torch.manual_seed(0)
    model = build_model(ArchConfig(widths=(16, 24, 32, 48))).eval()
    x = torch.rand(2, 9, 64, 64)
    with torch.inference_mode():
        ref = model(x)
        cl = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(ref, cl, atol=1e-4, rtol=1e-4)


def test_config_round_trip_and_unknown_arch() -> None:
    cfg = ArchConfig(widths=(8, 16, 24, 32), blocks=(1, 1, 1, 1))
    assert ArchConfig.from_dict(cfg.to_dict()) == cfg
    assert isinstance(build_model(cfg.to_dict()), torch.nn.Module)
    with pytest.raises(ValueError):
        build_model(ArchConfig(name="resnet999"))
    with pytest.raises(ValueError):
        ArchConfig.from_dict({**cfg.to_dict(), "surprise": 1})
