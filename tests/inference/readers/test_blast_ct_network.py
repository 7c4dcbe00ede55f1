"""Our BLAST-CT network equals the blast-ct 2.1.0 package's DeepMedic, tile by tile and on big tiles."""
from __future__ import annotations

import json

import pytest
import torch
from blast_ct_inputs import SHIPPED, shared_models

from inference.readers.blast_ct.network import BlastCtNet
from inference.readers.blast_ct.weights import load_member


@pytest.fixture(scope="module")
def ours() -> BlastCtNet:
    torch.set_num_threads(2)
    return load_member(SHIPPED / "model_1.safetensors").model


def test_equal_to_the_package_forward(ours: BlastCtNet) -> None:
    from blast_ct.read_config import get_model

    folder = shared_models()
    ref = get_model(json.loads((folder / "config.json").read_text())).eval()
    ref.load_state_dict(torch.load(folder / "model_1.pt", map_location="cpu", weights_only=True), strict=True)
    torch.manual_seed(0)
    x = torch.rand(1, 1, 110, 110, 110) * 2 - 1
    with torch.inference_mode():
        expected, _ = ref(x)
        got = ours(x)
        got_cl = ours.to(memory_format=torch.channels_last_3d)(x.contiguous(memory_format=torch.channels_last_3d))
    ours.to(memory_format=torch.contiguous_format)
    assert got.shape == expected.shape == (1, 5, 30, 30, 30)
    assert (got - expected).abs().max().item() < 1e-4
    assert (got_cl - expected).abs().max().item() < 1e-4
    assert torch.equal(got_cl.argmax(1), expected.argmax(1))


def test_a_big_tile_equals_lattice_aligned_package_tiles(ours: BlastCtNet) -> None:
    torch.manual_seed(1)
    x = torch.rand(1, 1, 125, 125, 140) * 2 - 1  # output 45 x 45 x 60
    with torch.inference_mode():
        big = ours(x)
        for o in [(0, 0, 0), (15, 0, 30), (0, 15, 15)]:
            small = ours(x[:, :, o[0] : o[0] + 110, o[1] : o[1] + 110, o[2] : o[2] + 110])
            part = big[:, :, o[0] : o[0] + 30, o[1] : o[1] + 30, o[2] : o[2] + 30]
            assert (small - part).abs().max().item() < 1e-4, o


def test_off_lattice_tiles_are_refused() -> None:
    assert BlastCtNet.output_size((110, 125, 170)) == (30, 45, 90)
    for bad in [(100, 110, 110), (110, 111, 110), (80, 110, 110)]:
        with pytest.raises(ValueError, match="multiple of 15"):
            BlastCtNet.output_size(bad)


def test_parameter_names_are_the_packages() -> None:
    names = set(BlastCtNet().state_dict())
    assert "path(5, 5, 5)0.path.1.conv.weight" in names
    assert "path(1, 1, 1)2.path.8.bn.running_var" in names
    assert "fully_connected.2.conv.weight" in names
    assert len(names) == 189
