"""Model files: fp16 safetensors round trip, SHA-256 check, and refusal of code, damage, wrong shape."""
from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import pytest
import torch

from inference.model import ArchConfig, build_model
from inference.preprocess import PreprocessConfig
from inference.weights import (
    DEFAULT_WEIGHTS_NAME,
    ModelFileError,
    ModelMetadata,
    default_weights_path,
    file_sha256,
    load_weights,
    read_metadata,
    save_weights,
    sidecar_path,
)
from viewer.core.errors import IchviewError

SMALL = ArchConfig(stem_channels=8, widths=(8, 16, 24, 32), blocks=(1, 1, 1, 1))


def _metadata(arch: ArchConfig = SMALL) -> ModelMetadata:
    return ModelMetadata(
        name="ichview-test",
        version="0.0.1",
        arch=arch.to_dict(),
        preprocess=PreprocessConfig(image_size=64, pixel_mm=4.0),
        threshold=0.37,
        trained_on="nothing (test)",
        metrics={"auc_any": 0.5},
        cam_scale=2.5,
    )


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(1)
    model = build_model(SMALL).eval()
    # Make BN statistics non-trivial so the round trip checks buffers too.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    path = tmp_path / "m.safetensors"
    save_weights(path, model, _metadata())
    return path, model


def test_round_trip_fp16_metadata_and_hash(saved: tuple[Path, torch.nn.Module]) -> None:
    path, model = saved
    loaded = load_weights(path)
    assert loaded.sha256 == file_sha256(path)
    assert sidecar_path(path).read_text().split() == [loaded.sha256, path.name]
    assert loaded.metadata == _metadata()
    assert read_metadata(path) == _metadata()
    x = torch.rand(2, 9, 64, 64)
    with torch.inference_mode():
        a, b = torch.sigmoid(model(x)), torch.sigmoid(loaded.model(x))
    torch.testing.assert_close(a, b, atol=5e-3, rtol=0)  # fp16 storage
    assert not loaded.model.training
    assert os.path.getsize(path) < 20 * 1024 * 1024
    # Nothing else (no temp files) left in the folder.
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.safetensors", "m.safetensors.sha256"]


def test_default_model_file_is_under_20_mb(tmp_path: Path) -> None:
    path = tmp_path / "full.safetensors"
    save_weights(path, build_model(), _metadata(ArchConfig()))
    assert path.stat().st_size < 20 * 1024 * 1024
    load_weights(path)


def test_one_flipped_byte_is_a_hash_mismatch(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="SHA-256 mismatch") as err:
        load_weights(path)
    assert isinstance(err.value, IchviewError)
    assert str(path) in str(err.value)


def test_truncated_file(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="truncated"):
        load_weights(path, verify_hash=False)
    with pytest.raises(ModelFileError, match="SHA-256 mismatch"):
        load_weights(path)


def test_wrong_architecture_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "wrong.safetensors"
    bigger = ArchConfig(stem_channels=8, widths=(8, 16, 24, 40), blocks=(1, 1, 1, 1))
    # Weights of one architecture stored under the metadata of another.
    save_weights(path, build_model(bigger), _metadata(SMALL))
    with pytest.raises(ModelFileError, match="do not match the architecture"):
        load_weights(path)


def test_missing_sidecar_and_missing_file(saved: tuple[Path, torch.nn.Module], tmp_path: Path) -> None:
    path, _ = saved
    sidecar_path(path).unlink()
    with pytest.raises(ModelFileError, match="SHA-256 file"):
        load_weights(path)
    assert load_weights(path, verify_hash=False).metadata.name == "ichview-test"
    with pytest.raises(ModelFileError, match="not found"):
        load_weights(tmp_path / "nope.safetensors")


class _Payload:
    """A pickle that would create a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (open, (str(self.marker), "w"))


def test_pickle_carrying_code_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pt"
    # A torch-format checkpoint whose state dict holds the payload next to a real tensor.
    torch.save({"stem.0.0.weight": torch.zeros(1), "x": _Payload(marker)}, evil)
    assert not marker.exists()
    with pytest.raises(ModelFileError, match="refused") as err:
        load_weights(evil, verify_hash=False, metadata=_metadata())
    assert "nothing was executed" in str(err.value)
    assert not marker.exists()
    # A raw pickle renamed .pth: same.
    raw = tmp_path / "evil.pth"
    raw.write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    with pytest.raises(ModelFileError):
        load_weights(raw, verify_hash=False, metadata=_metadata())
    assert not marker.exists()
    # And the same bytes disguised as .safetensors are not a model.
    fake = tmp_path / "evil.safetensors"
    fake.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ModelFileError):
        load_weights(fake, verify_hash=False)
    assert not marker.exists()


def test_plain_state_dict_pt_loads_with_weights_only(tmp_path: Path) -> None:
    model = build_model(SMALL).eval()
    path = tmp_path / "plain.pt"
    torch.save(model.state_dict(), path)
    loaded = load_weights(path, verify_hash=False, metadata=_metadata())
    assert loaded.metadata.threshold == pytest.approx(0.37)


def test_default_path_env_and_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ICHVIEW_WEIGHTS", raising=False)
    repo = Path(__file__).resolve().parents[2]
    assert default_weights_path() == repo / "resources" / "model" / DEFAULT_WEIGHTS_NAME
    monkeypatch.setenv("ICHVIEW_WEIGHTS", str(tmp_path / "x.safetensors"))
    assert default_weights_path() == tmp_path / "x.safetensors"
    monkeypatch.delenv("ICHVIEW_WEIGHTS")
    frozen = tmp_path / "resources" / "model"
    frozen.mkdir(parents=True)
    (frozen / DEFAULT_WEIGHTS_NAME).write_bytes(b"")
    monkeypatch.setattr("sys._MEIPASS", str(tmp_path), raising=False)
    assert default_weights_path() == frozen / DEFAULT_WEIGHTS_NAME


def test_preprocess_channels_must_match_the_network(tmp_path: Path) -> None:
    path = tmp_path / "chan.safetensors"
    one_window = PreprocessConfig(windows=PreprocessConfig().windows[:1], image_size=64, pixel_mm=4.0)
    meta = dataclasses.replace(_metadata(), preprocess=one_window)  # 3 channels for a 9-channel net
    save_weights(path, build_model(SMALL), meta)
    with pytest.raises(ModelFileError, match="9 channels"):
        load_weights(path)


def _rewrite(path: Path, tensors: dict, meta_json: str) -> None:
    """Write a safetensors file with the given tensors and metadata, and a matching sidecar."""
    from safetensors.torch import save

    data = save(tensors, metadata={"ichview": meta_json})
    path.write_bytes(data)
    import hashlib

    sidecar_path(path).write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda m: dataclasses.replace(m, threshold=2.0), "threshold 2.0 outside 0..1"),
        (lambda m: dataclasses.replace(m, threshold=float("nan")), "threshold nan"),
        (lambda m: dataclasses.replace(m, cam_scale=-1.0), "cam_scale"),
        (lambda m: dataclasses.replace(m, arch={**m.arch, "blocks": [100000, 1, 1, 1]}), "blocks"),
        (lambda m: dataclasses.replace(m, preprocess=PreprocessConfig(image_size=100000, pixel_mm=4.0)), "pre-processing grid"),
    ],
)
def test_out_of_range_metadata_is_refused_before_building(saved: tuple[Path, torch.nn.Module], change, words: str) -> None:
    path, model = saved
    state = {k: v.detach().to(torch.float16) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    _rewrite(path, state, change(_metadata()).to_json())
    with pytest.raises(ModelFileError, match="out of range") as err:
        load_weights(path)
    assert words in str(err.value)


def test_int8_tensors_and_malformed_header_entries_are_refused(saved: tuple[Path, torch.nn.Module]) -> None:
    path, model = saved
    state = {k: v.detach().to(torch.int8) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    _rewrite(path, state, _metadata().to_json())
    with pytest.raises(ModelFileError, match="I8"):
        load_weights(path)
    # A header entry that is not a tensor description: a clear refusal, never a traceback.
    import json
    import struct

    good = {k: v.detach().to(torch.float16) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    _rewrite(path, good, _metadata().to_json())
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    first = next(k for k in header if k != "__metadata__")
    for bad in ("oops", {"dtype": "F16", "shape": "x", "data_offsets": [0, 2]}, {"dtype": "F16", "shape": [1], "data_offsets": [0]}):
        header[first] = bad
        text = json.dumps(header).encode()
        data = struct.pack("<Q", len(text)) + text + raw[8 + n :]
        path.write_bytes(data)
        import hashlib

        sidecar_path(path).write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
        with pytest.raises(ModelFileError, match="corrupt model header"):
            load_weights(path)
