"""SecondReader geometry and control flow with a stub network (label = bright voxel): a known blob
comes back on the right pixels for plain, feet-first, tilted, uneven and single-slice stacks;
progress, cancel and refusal behave."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from blast_ct_inputs import StubMember, ThresholdNet, hu_level, make_volume

from inference.readers.blast_ct.results import SecondReadProgress, SecondReadResult
from inference.readers.blast_ct.segment import SecondReader
from inference.results import Acceptance
from inference.synth import variants
from viewer.core.loading import load_stack, open_paths

LEVEL = 0.3
BLOB_LPS = np.array([22.0, -18.0, 62.0])  # patient left, anterior, above the middle: no symmetry


def _sampler(points: np.ndarray) -> np.ndarray:
    """A water ellipsoid 'head' in air with an 80 HU blob of radius 8 mm off-centre."""
    p = np.asarray(points, np.float64)
    head = ((p[..., 0] / 80) ** 2 + (p[..., 1] / 95) ** 2 + ((p[..., 2] - 60) / 70) ** 2) <= 1
    blob = np.linalg.norm(p - BLOB_LPS, axis=-1) <= 8.0
    return np.where(blob, 80.0, np.where(head, 20.0, -1000.0)).astype(np.float32)


def _reader(net: torch.nn.Module | None = None, n: int = 1) -> SecondReader:
    return SecondReader([StubMember(net or ThresholdNet(LEVEL)) for _ in range(n)], torch.device("cpu"))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / max(1.0, float(a.sum() + b.sum()))


@pytest.mark.parametrize("writer", ["plain", "feet_first", "tilted"])
def test_a_blob_comes_back_on_its_own_pixels(writer: str, tmp_path: Path) -> None:
    grid = variants.Grid(n_slices=10, rows=96, cols=96, step_mm=5.0, z0_mm=35.0)
    write = {
        "plain": variants.write_plain,
        "feet_first": variants.write_feet_first,
        "tilted": lambda out, **kw: variants.write_tilted(out, tilt_deg=15.0, **kw),
    }[writer]
    written = write(tmp_path, grid=grid, sampler=_sampler, noise_hu=2.0)
    volume = load_stack(max(open_paths([tmp_path]).stacks(), key=lambda s: s.n_slices))
    np.testing.assert_array_equal(volume.hu, written.expected_hu)
    result = _reader().segment(volume, acceptance=Acceptance(True))
    expected = written.expected_hu > hu_level(LEVEL)
    got = result.labels == 1
    assert expected.sum() > 50
    assert _dice(got, expected) >= (0.999 if writer != "tilted" else 0.9)
    centre_got = np.argwhere(got).mean(axis=0)
    centre_expected = np.argwhere(expected).mean(axis=0)
    assert np.abs(centre_got - centre_expected).max() < 0.5
    if writer == "tilted":
        assert any("tilt" in n for n in result.notes)


def test_uneven_spacing_and_a_single_slice() -> None:
    rng = np.random.default_rng(3)
    hu = rng.normal(20, 2, size=(6, 64, 64)).astype(np.int16)
    hu[2:4, 20:30, 35:45] = 80
    pos = (0.0, 2.0, 3.0, 7.0, 8.5, 15.0)
    result = _reader().segment(make_volume(hu, spacing_mm=(2.0, 0.9, 0.7), positions_mm=pos), acceptance=Acceptance(True))
    expected = hu > hu_level(LEVEL)
    # Slices sit at their own positions on the 1 mm grid (whole mm here): exact along k; in-plane
    # the 1 mm samples between 0.7 mm columns move the blob's edge by at most one pixel.
    assert _dice(result.labels == 1, expected) > 0.95
    assert (result.labels[[0, 1, 4, 5]] == 0).all()
    assert np.abs(np.argwhere(result.labels == 1).mean(0) - np.argwhere(expected).mean(0)).max() <= 0.5
    one = _reader().segment(make_volume(hu[2:3], spacing_mm=(5.0, 0.9, 0.7)), acceptance=Acceptance(True))
    assert one.labels.shape == (1, 64, 64)
    assert _dice(one.labels == 1, hu[2:3] > hu_level(LEVEL)) > 0.95
    assert one.volumes_ml["IPH"] == pytest.approx(100 * 0.9 * 0.7 * 5.0 / 1000, rel=0.15)


class _Counting(ThresholdNet):
    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        type(self).calls += 1
        return super().forward(x)


def test_progress_then_one_result_and_cancel_stops_at_the_next_tile() -> None:
    hu = np.full((60, 120, 120), 20, np.int16)  # 60 mm x 120 mm x 120 mm of "tissue": several tiles
    volume = make_volume(hu)
    reader = _reader(_Counting(LEVEL), n=2)
    items = list(reader.iter_segment(volume, acceptance=Acceptance(True)))
    progress = [i for i in items if isinstance(i, SecondReadProgress)]
    assert isinstance(items[-1], SecondReadResult) and len(items) == len(progress) + 1
    total = progress[0].total
    assert total >= 4 and total % 2 == 0
    assert [p.done for p in progress] == list(range(total + 1))
    assert items[-1].models == ("stub-0/model_0", "stub-0/model_0")
    _Counting.calls = 0
    cancel = threading.Event()
    after = []
    for item in reader.iter_segment(volume, cancel, acceptance=Acceptance(True)):
        if cancel.is_set():
            after.append(item)
        if isinstance(item, SecondReadProgress) and item.done == 1:
            cancel.set()
    assert after == [] and _Counting.calls == 1


def test_a_refused_volume_runs_nothing() -> None:
    volume = make_volume(np.zeros((5, 32, 32), np.int16), modality="MR")
    items = list(_reader(_Counting(LEVEL)).iter_segment(volume))
    assert len(items) == 1
    result = items[0]
    assert not result.acceptance.accepted and "not CT" in result.acceptance.reason
    assert result.labels.shape == (5, 32, 32) and not result.labels.any() and result.components == ()


def test_load_checks_the_member_count() -> None:
    with pytest.raises(ValueError, match="models must be 1.."):
        SecondReader.load(models=0)
    with pytest.raises(ValueError, match="models must be 1.."):
        SecondReader.load(models=99)


def test_the_product_never_imports_the_blast_ct_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import inference.readers.blast_ct.segment, inference.readers.blast_ct.convert; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('blast_ct', 'scipy', 'pandas')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
