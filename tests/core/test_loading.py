"""Loading a stack into a Volume: real series, multi-frame, first slice early, progress, cancel."""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from inference.synth import variants
from viewer.core import decode_pool
from viewer.core.errors import LoadCancelled, PixelDecodeError
from viewer.core.loading import FirstSlice, LoadProgress, iter_load_stack, load_stack, open_paths
from viewer.core.pixels import decode_hu
from viewer.core.series import Stack
from viewer.core.volume import AIR_HU, HU_DTYPE, Volume


def _stacks(*paths: Path) -> list[Stack]:
    return open_paths(list(paths)).stacks()


@pytest.fixture(scope="module", autouse=True)
def _stop_worker_processes():
    yield
    decode_pool.shutdown_pool()  # leave no background processes behind


@pytest.fixture(scope="module")
def synthetic_stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    folder = tmp_path_factory.mktemp("synthetic")
    variants.write_shuffled(folder, seed=5, grid=variants.Grid(n_slices=24, rows=64, cols=64))
    (stack,) = _stacks(folder)
    return stack


def _air_and_tissue(volume: Volume) -> tuple[float, float]:
    middle = volume.hu[volume.n_slices // 2]
    air = middle[(middle > -1023) & (middle < -900)]
    return float(np.median(air)), float(np.median(middle[(middle > 0) & (middle < 100)]))


def test_ge_tilted_series_loads(real_data: Path) -> None:
    (stack,) = _stacks(real_data / "ge_head_ct_tilted")
    volume = load_stack(stack)
    assert volume.hu.shape == (28, 512, 512) and volume.hu.dtype == HU_DTYPE
    air, brain = _air_and_tissue(volume)
    assert -1030 < air < -970  # air inside the field of view
    assert 20 < brain < 45  # grey / white matter
    assert volume.hu.min() == AIR_HU  # padding (-1500 stored) and outside-FOV set to air
    assert volume.orientation == "axial" and volume.tilt_deg == pytest.approx(18.5)
    assert volume.positions_mm == pytest.approx(stack.geometry.positions_mm)
    assert volume.spacing_mm[0] == pytest.approx(4.0, abs=0.01)  # along the normal, not the table
    assert volume.pixel_spacing_mm == pytest.approx((0.4882812, 0.4882812))
    assert sorted(set(volume.slice_thickness_mm)) == [4.0, 7.0]
    assert volume.sop_instance_uids == tuple(h.sop_instance_uid for h in stack.slices)
    assert volume.instance_numbers == tuple(h.instance_number for h in stack.slices)
    assert volume.source_paths == tuple(h.path for h in stack.slices)
    assert {w.code for w in volume.warnings} == {w.code for w in stack.warnings} and volume.warnings
    assert (volume.window_center_hu, volume.window_width_hu) == (35.0, 100.0)
    assert volume.metadata.patient_name and volume.metadata.modality == "CT"
    # direction: columns x, rows along the tilted column vector, slices along the normal
    normal = np.asarray(stack.geometry.normal)
    np.testing.assert_allclose(volume.direction[:, 2], normal, atol=1e-6)
    np.testing.assert_allclose(volume.direction[:, 0], [1, 0, 0], atol=1e-6)
    # each slice is the file's own pixels (stored layout is already canonical here)
    for k in (0, 13, 27):
        np.testing.assert_array_equal(volume.hu[k], decode_hu(stack.slices[k].path))


def test_philips_phantom_loads(real_data: Path) -> None:
    stacks = _stacks(real_data / "philips_head_phantom_5mm")
    assert len(stacks) == 1
    volume = load_stack(stacks[0])
    assert volume.hu.shape == (28, 512, 512)
    air, _ = _air_and_tissue(volume)
    assert -1030 < air < -970
    middle = volume.hu[14]
    assert np.count_nonzero(middle > 300) > 1000  # the phantom's bone-like shell
    assert middle.max() < 3100
    assert volume.spacing_mm == pytest.approx((5.0, 0.451171875, 0.451171875))
    assert volume.metadata.study_date == "20150206"
    assert (volume.window_center_hu, volume.window_width_hu) == (40.0, 80.0)
    for k in (0, 14, 27):  # 12 bits stored: the loader's shortcut agrees with the full reader
        np.testing.assert_array_equal(volume.hu[k], decode_hu(stacks[0].slices[k].path))


def test_enhanced_multiframe_ct_loads_with_per_frame_positions() -> None:
    source = Path(get_testdata_file("eCT_Supplemental.dcm"))
    stacks = [s for s in _stacks(source) if s.n_slices == 2]
    assert len(stacks) == 1
    stack = stacks[0]
    assert [h.frame for h in stack.slices] == [0, 1]  # inferior (z -159) first
    volume = load_stack(stack)
    assert volume.hu.shape == (2, 512, 512)
    assert volume.positions_mm[1] - volume.positions_mm[0] == pytest.approx(10.0)
    assert volume.origin_mm[2] == pytest.approx(-159.0)
    # IOP (-1,0,0, 0,1,0): stored columns run right-to-left reversed -> flipped into canonical
    np.testing.assert_allclose(volume.direction, np.eye(3), atol=1e-6)
    for k in range(2):
        np.testing.assert_array_equal(volume.hu[k], decode_hu(source, k)[:, ::-1])


@pytest.mark.parametrize("parallel", ["serial", "threads", "processes"])
def test_events_first_slice_progress_and_volume(synthetic_stack: Stack, parallel: str) -> None:
    events = list(iter_load_stack(synthetic_stack, parallel=parallel, workers=2))
    first, volume = events[0], events[-1]
    assert isinstance(first, FirstSlice) and isinstance(volume, Volume)
    assert first.index == synthetic_stack.n_slices // 2 and first.n_slices == 24
    np.testing.assert_array_equal(first.hu, volume.hu[first.index])
    progress = [e for e in events if isinstance(e, LoadProgress)]
    assert len(progress) >= 3 and all(isinstance(e, LoadProgress) for e in events[1:-1])
    done = [p.done for p in progress]
    assert done == sorted(done) and done[-1] == progress[-1].total == 24
    reference = load_stack(synthetic_stack)
    np.testing.assert_array_equal(volume.hu, reference.hu)


def test_loaded_shuffled_series_matches_the_written_head(tmp_path: Path) -> None:
    written = variants.write_shuffled(tmp_path, seed=5, grid=variants.Grid(n_slices=8, rows=48, cols=40))
    (stack,) = _stacks(tmp_path)
    volume = load_stack(stack)
    np.testing.assert_array_equal(volume.hu, written.expected_hu)
    assert volume.positions_mm == pytest.approx(written.expected_positions_mm)


@pytest.mark.parametrize("parallel", ["serial", "threads", "processes"])
def test_cancel_raises_at_the_next_slice(synthetic_stack: Stack, parallel: str) -> None:
    cancel = threading.Event()
    events = iter_load_stack(synthetic_stack, parallel=parallel, workers=2, cancel=cancel)
    assert isinstance(next(events), FirstSlice)
    cancel.set()
    with pytest.raises(LoadCancelled):
        for _ in events:
            pass
    already = threading.Event()
    already.set()
    with pytest.raises(LoadCancelled):
        next(iter_load_stack(synthetic_stack, parallel=parallel, cancel=already))


@pytest.mark.parametrize("parallel", ["serial", "threads", "processes"])
@pytest.mark.parametrize("where", [3, 12])  # 12 = the middle slice, decoded first
def test_a_broken_slice_is_a_gap_with_a_warning_naming_its_file(
    synthetic_stack: Stack, tmp_path: Path, parallel: str, where: int
) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    for header in synthetic_stack.slices:
        (folder / header.path.name).write_bytes(header.path.read_bytes())
    (stack,) = _stacks(folder)
    clean = load_stack(stack, workers=1)
    victim = stack.slices[where].path
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) - 3000])  # cut short after the scan (an interrupted copy)
    volume = [e for e in iter_load_stack(stack, parallel=parallel, workers=2) if isinstance(e, Volume)][0]
    assert volume.missing_slices == (where,)
    (warning,) = [w for w in volume.warnings if w.code == "decode_failed"]
    assert victim.name in warning.message and "1 of 24 slices" in warning.message
    assert (volume.hu[where] == AIR_HU).all()
    others = [k for k in range(24) if k != where]
    assert np.array_equal(volume.hu[others], clean.hu[others])


def test_a_stack_of_only_broken_slices_names_the_file(synthetic_stack: Stack, tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    for header in synthetic_stack.slices[:3]:
        (folder / header.path.name).write_bytes(header.path.read_bytes())
    (stack,) = _stacks(folder)
    for header in stack.slices:
        data = header.path.read_bytes()
        header.path.write_bytes(data[: len(data) - 3000])
    with pytest.raises(PixelDecodeError) as info:
        load_stack(stack, workers=1)
    assert any(str(h.path) in str(info.value) for h in stack.slices)


def test_a_volume_over_the_limit_is_refused_before_allocation(synthetic_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from viewer.core.errors import VolumeTooLargeError

    need = synthetic_stack.n_slices * 64 * 64 * 2
    with pytest.raises(VolumeTooLargeError, match="ICHVIEW_MAX_VOLUME_BYTES"):
        next(iter_load_stack(synthetic_stack, max_volume_bytes=need - 1))
    monkeypatch.setenv("ICHVIEW_MAX_VOLUME_BYTES", str(need - 1))
    with pytest.raises(VolumeTooLargeError):
        load_stack(synthetic_stack)
    monkeypatch.setenv("ICHVIEW_MAX_VOLUME_BYTES", "1G")
    assert load_stack(synthetic_stack).n_slices == synthetic_stack.n_slices


def test_mixed_matrix_sizes_never_reach_the_loader(synthetic_stack: Stack) -> None:
    odd = dataclasses.replace(synthetic_stack.slices[1], rows=32)
    mixed = dataclasses.replace(synthetic_stack, slices=(synthetic_stack.slices[0], odd) + synthetic_stack.slices[2:])
    with pytest.raises(ValueError, match="mixes matrix sizes"):
        load_stack(mixed)


@pytest.mark.parametrize("parallel", ["serial", "processes"])
def test_many_frame_enhanced_ct_is_decoded_frame_by_frame_in_parallel(tmp_path: Path, parallel: str) -> None:
    """A 20-frame enhanced CT (built from pydicom-data's), frames stored in reverse z order."""
    import copy

    import pydicom

    ds = pydicom.dcmread(get_testdata_file("eCT_Supplemental.dcm"))
    raw = ds.pixel_array
    n = 20
    frames = np.stack([np.roll(raw[i % 2], 7 * i, axis=1) for i in range(n)])
    items = []
    for i in range(n):
        item = copy.deepcopy(ds.PerFrameFunctionalGroupsSequence[i % 2])
        item.PlanePositionSequence[0].ImagePositionPatient = [99.5, -301.5, 100.0 - 5.0 * i]  # descending
        items.append(item)
    ds.PerFrameFunctionalGroupsSequence = items
    ds.NumberOfFrames = n
    ds.PixelData = frames.astype("<u2").tobytes()
    path = tmp_path / "enhanced_20.dcm"
    ds.save_as(path)
    (stack,) = [s for s in _stacks(path) if s.n_slices == n]
    assert [h.frame for h in stack.slices] == list(range(n))[::-1]  # inferior (last frame) first
    events = list(iter_load_stack(stack, parallel=parallel, workers=2))
    volume = events[-1]
    assert isinstance(volume, Volume)
    expected = np.maximum(frames[::-1].astype(np.int32) - 1024, AIR_HU)[:, :, ::-1]  # IOP -x: flipped
    np.testing.assert_array_equal(volume.hu, expected)
    assert np.diff(volume.positions_mm) == pytest.approx([5.0] * (n - 1))


def test_with_other_threads_running_the_workers_come_from_a_forkserver(synthetic_stack: Stack) -> None:
    """The GUI case: a process with Qt threads must never fork itself; the pool uses a forkserver."""
    decode_pool.shutdown_pool()
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    other.start()
    try:
        assert decode_pool._start_method() in ("forkserver", "spawn")
        events = list(iter_load_stack(synthetic_stack, parallel="processes", workers=2))
        np.testing.assert_array_equal(events[-1].hu, load_stack(synthetic_stack).hu)
        assert isinstance(events[0], FirstSlice)
    finally:
        release.set()
        other.join()
        decode_pool.shutdown_pool()


def test_an_abandoned_load_leaves_no_shared_memory_file(synthetic_stack: Stack) -> None:
    shm = Path("/dev/shm")
    before = set(shm.glob("ichview-volume-*")) if shm.is_dir() else set()
    events = iter_load_stack(synthetic_stack, parallel="processes", workers=2)
    assert isinstance(next(events), FirstSlice)
    next(events)
    events.close()  # the user switched series
    after = set(shm.glob("ichview-volume-*")) if shm.is_dir() else set()
    assert after == before


@pytest.mark.parametrize("name", ["SC_rgb_jpeg.dcm", "GDCMJ2K_TextGBR.dcm", "examples_ybr_color.dcm", "SC_rgb_small_odd.dcm"])
def test_colour_images_of_any_transfer_syntax_are_a_typed_error(name: str) -> None:
    """JPEG / JPEG 2000 / YBR colour secondary captures decode to (rows, cols, 3): refused by name, with
    the fix, never a numpy broadcast error that aborts the caller."""
    path = Path(get_testdata_file(name))
    with pytest.raises(PixelDecodeError, match="colour images .* are not CT slices") as info:
        load_stack(_stacks(path)[0], workers=1)
    assert name in str(info.value) and "greyscale CT series" in str(info.value)


def test_malformed_header_value_is_a_typed_error_naming_the_file() -> None:
    """badVR.dcm has NumberOfFrames "1A": a PixelDecodeError naming the file, not a bare ValueError."""
    path = Path(get_testdata_file("badVR.dcm"))
    # The scan already refuses it: 6000 bytes of pixel data where the header declares 400.
    (skipped,) = open_paths([path]).skipped
    assert "more than the 400 bytes the header declares" in skipped.reason
    # The decoder's own guard, should such a file reach it.
    from viewer.core.orientation import InPlaneTransform

    out = np.zeros((1, 10, 10), dtype=HU_DTYPE)
    with pytest.raises(PixelDecodeError, match="malformed") as info:
        decode_pool.decode_file_into(decode_pool.FileTask(str(path), ((0, None),)), out, InPlaneTransform(), 10, 10)
    assert "badVR.dcm" in str(info.value)
