"""BLAST-CT weights: the shipped files verify; conversion keeps every tensor; altered files are refused."""
from __future__ import annotations

import os
import pickle
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from blast_ct_inputs import SHIPPED, shared_models

from inference.readers.blast_ct.convert import convert_member, read_pickle
from inference.readers.blast_ct.weights import (
    ARCH,
    WeightsInfo,
    load_member,
    member_files,
    save_member,
)
from inference.weights import ModelFileError, file_sha256, sidecar_path


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bct")
    convert_member(shared_models() / "model_1.pt", out, 1)
    return out / "model_1.safetensors"


def test_shipped_members_verify_and_are_documented() -> None:
    files = member_files(SHIPPED)
    assert [int(re.search(r"\d+", p.name).group()) for p in files] == list(range(1, len(files) + 1))
    card = (SHIPPED / "MODEL_CARD.md").read_text()
    for p in files:
        m = load_member(p)
        assert m.info.dtype == "float32" and m.info.arch == ARCH
        assert m.sha256 in card, f"{p.name}'s SHA-256 is not in MODEL_CARD.md"
    assert "Apache License" in (SHIPPED / "LICENSE.txt").read_text()
    notice = (SHIPPED / "NOTICE").read_text()
    assert "361e8c7" in notice and "10.1016/S2589-7500(20)30085-6" in notice


def test_conversion_keeps_every_tensor_exactly(converted: Path) -> None:
    original = torch.load(shared_models() / "model_1.pt", map_location="cpu", weights_only=True)
    loaded = load_member(converted).model.state_dict()
    assert set(loaded) == set(original)
    for k, v in original.items():
        assert torch.equal(loaded[k], v), k
    assert load_member(converted).info.source_sha256 == file_sha256(shared_models() / "model_1.pt")


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_carrying_code_is_refused_unexecuted(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    bad = tmp_path / "model_1.pt"
    with open(bad, "wb") as fh:
        pickle.dump({"w": _Payload(marker)}, fh)
    with pytest.raises(ModelFileError, match="refused"):
        read_pickle(bad)
    with pytest.raises(ModelFileError, match="refused"):
        convert_member(bad, tmp_path / "out", 1)
    assert not marker.exists()


def test_a_flipped_byte_is_refused(converted: Path, tmp_path: Path) -> None:
    copy = tmp_path / converted.name
    data = bytearray(converted.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    sidecar_path(copy).write_bytes(sidecar_path(converted).read_bytes())
    with pytest.raises(ModelFileError, match="SHA-256 mismatch"):
        load_member(copy)


def test_a_wrong_shape_is_refused(converted: Path, tmp_path: Path) -> None:
    state = dict(load_member(converted).model.state_dict())
    state["fully_connected.2.conv.weight"] = torch.zeros(4, 250, 1, 1, 1)  # 4 classes instead of 5
    path = tmp_path / "model_1.safetensors"
    save_member(path, state, WeightsInfo(member=1, dtype="float32", source_sha256="0" * 64))
    with pytest.raises(ModelFileError, match="do not match the BLAST-CT network"):
        load_member(path)


def test_another_network_missing_sidecar_truncation_and_pickles_are_refused(converted: Path, tmp_path: Path) -> None:
    state = load_member(converted).model.state_dict()
    foreign = tmp_path / "a" / "model_1.safetensors"
    foreign.parent.mkdir()
    info = WeightsInfo(member=1, dtype="float32", source_sha256="0" * 64)
    save_member(foreign, state, replace(info, arch={**ARCH, "name": "other"}))
    with pytest.raises(ModelFileError, match="another network"):
        load_member(foreign)
    lone = tmp_path / "b" / "model_1.safetensors"
    lone.parent.mkdir()
    lone.write_bytes(converted.read_bytes())
    with pytest.raises(ModelFileError, match="no SHA-256 file"):
        load_member(lone)
    cut = tmp_path / "c" / "model_1.safetensors"
    cut.parent.mkdir()
    data = converted.read_bytes()[:-1000]
    cut.write_bytes(data)
    import hashlib

    sidecar_path(cut).write_text(f"{hashlib.sha256(data).hexdigest()}  {cut.name}\n")
    with pytest.raises(ModelFileError, match="truncated"):
        load_member(cut)
    with pytest.raises(ModelFileError, match=".safetensors files only"):
        load_member(shared_models() / "model_1.pt")
    with pytest.raises(ModelFileError, match="not found"):
        member_files(tmp_path / "nowhere")
