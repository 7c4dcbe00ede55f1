"""Pre-processing: slabs chosen by millimetres, physical in-plane grid, head centring, CAM mapping."""
from __future__ import annotations

import numpy as np
import pytest

from inference.preprocess import PreprocessConfig, cam_to_image, make_inputs, slab_weights


def _head_stack(positions_mm: np.ndarray, spacing_mm: tuple[float, float], shape: tuple[int, int],
                centre_mm: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Ellipse head (brain 35 HU, skull 1000 HU) with a 60 HU blob whose size depends on z."""
    rows, cols = shape
    r = (np.arange(rows) - (rows - 1) / 2) * spacing_mm[0] - centre_mm[0]
    c = (np.arange(cols) - (cols - 1) / 2) * spacing_mm[1] - centre_mm[1]
    rr, cc = np.meshgrid(r, c, indexing="ij")
    ell = (rr / 90.0) ** 2 + (cc / 75.0) ** 2
    out = np.full((len(positions_mm), rows, cols), -1024, np.int16)
    for k, z in enumerate(positions_mm):
        sl = out[k]
        sl[ell < 1.0] = 1000
        sl[ell < 0.85] = 35
        # A 'lesion' whose HU encodes z (so slab averaging is visible): 40 + z HU at the centre.
        sl[(rr - 20) ** 2 + (cc + 20) ** 2 < 100] = int(round(40 + z))
    return out


def test_output_shape_range_and_channel_order() -> None:
    cfg = PreprocessConfig()
    pos = np.arange(10) * 5.0
    hu = _head_stack(pos, (0.5, 0.5), (512, 512))
    p = make_inputs(hu, pos, (0.5, 0.5), cfg)
    assert p.x.shape == (10, 9, cfg.image_size, cfg.image_size)
    assert p.x.dtype == np.float32
    assert 0.0 <= p.x.min() and p.x.max() <= 1.0
    # Brain (35 HU) in the brain window W80/C40 -> (35 - 0) / 80; channels 3..5 are the target.
    centre = p.x[4, 3, cfg.image_size // 2 + 30, cfg.image_size // 2 - 30]
    assert centre == pytest.approx(35 / 80, abs=0.01)
    # Air is 0 in every window.
    assert np.all(p.x[:, :, 0, 0] == 0)


def test_thin_and_thick_series_see_the_same_anatomy() -> None:
    """A 0.625 mm series is averaged into ~5 mm slabs: the same HU as a 5 mm series at that place."""
    cfg = PreprocessConfig(image_size=96, pixel_mm=2.0)
    thick_pos = np.arange(0, 50, 5.0)
    thin_pos = np.arange(0, 50, 0.625)
    thick = _head_stack(thick_pos, (0.5, 0.5), (400, 400)).astype(np.float32)
    # The thick slice at z is the mean over [z-2.5, z+2.5]: build it from the same linear function.
    thin = _head_stack(thin_pos, (0.5, 0.5), (400, 400))
    t_thick = 5  # z = 25
    t_thin = int(np.argmin(np.abs(thin_pos - 25.0)))
    a = make_inputs(thick, thick_pos, (0.5, 0.5), cfg, indices=[t_thick]).x[0]
    b = make_inputs(thin, thin_pos, (0.5, 0.5), cfg, indices=[t_thin]).x[0]
    # Subdural-window channels (W200/C80) of all three slabs: lesion HU 40 + z differ by < 1 HU.
    for ch in (1, 4, 7):
        assert np.abs(a[ch] - b[ch]).max() < 2.0 / 200 + 1e-3
    # And the slabs are really 5 mm apart: the lesion HU steps by 5 HU per slab.
    lesion = (57, 38)  # model pixel of (row +20 mm, col -20 mm): centre 47.5 +- 10 px at 2 mm
    vals = [a[ch][lesion] * 200 - 20 for ch in (1, 4, 7)]
    assert vals == pytest.approx([60.0, 65.0, 70.0], abs=1.5)


def test_neighbours_by_millimetres_not_index() -> None:
    cfg = PreprocessConfig()
    pos = np.arange(0, 20, 1.0)  # 1 mm slices: the +-5 mm neighbours are 5 slices away
    w, centres = slab_weights(pos, cfg, [10])
    assert centres[0].tolist() == [5.0, 10.0, 15.0]
    assert np.flatnonzero(w[0, 0]).tolist() == [3, 4, 5, 6, 7]
    assert np.flatnonzero(w[0, 2]).tolist() == [13, 14, 15, 16, 17]
    assert w.sum(axis=-1) == pytest.approx(np.ones((1, 3)))


def test_missing_neighbours_repeat_the_target_and_single_slice_is_valid() -> None:
    cfg = PreprocessConfig()
    pos = np.arange(5) * 5.0
    w, centres = slab_weights(pos, cfg, [0, 4])
    assert np.flatnonzero(w[0, 0]).tolist() == [0]  # nothing below the first slice
    assert np.flatnonzero(w[1, 2]).tolist() == [4]  # nothing above the last
    hu = _head_stack([0.0], (0.5, 0.5), (256, 256))
    p = make_inputs(hu, [0.0], (0.5, 0.5), cfg)
    assert p.x.shape[0] == 1
    np.testing.assert_array_equal(p.x[0, 0:3], p.x[0, 3:6])
    np.testing.assert_array_equal(p.x[0, 6:9], p.x[0, 3:6])


def test_positions_descending_and_batches_equal_whole_stack() -> None:
    cfg = PreprocessConfig(image_size=64, pixel_mm=4.0)
    pos = np.arange(8) * 5.0
    hu = _head_stack(pos, (0.5, 0.5), (256, 256))
    whole = make_inputs(hu, pos, (0.5, 0.5), cfg).x
    part = make_inputs(hu, pos, (0.5, 0.5), cfg, indices=[3, 6]).x
    np.testing.assert_allclose(part, whole[[3, 6]], atol=1e-6)
    rev = make_inputs(hu[::-1], pos[::-1], (0.5, 0.5), cfg).x
    np.testing.assert_allclose(rev[::-1][:, 3:6], whole[:, 3:6], atol=1e-6)


def test_head_position_and_fov_do_not_matter_and_aspect_is_kept() -> None:
    cfg = PreprocessConfig(image_size=128, pixel_mm=2.0)
    pos = [0.0]
    a = make_inputs(_head_stack(pos, (0.5, 0.5), (512, 512)), pos, (0.5, 0.5), cfg).x[0, 3]
    # Head shifted 30 mm right/down inside a bigger FOV with anisotropic pixels (0.8 x 0.6 mm).
    hu_b = _head_stack(pos, (0.8, 0.6), (400, 520), centre_mm=(30.0, -25.0))
    b = make_inputs(hu_b, pos, (0.8, 0.6), cfg).x[0, 3]
    assert np.abs(a - b).mean() < 0.02
    # Ellipse extents in mm are kept: 180 mm tall (rows), 150 mm wide (cols) -> 90 x 75 pixels.
    rows = np.flatnonzero((b > 0).any(axis=1))
    cols = np.flatnonzero((b > 0).any(axis=0))
    assert (rows[-1] - rows[0] + 1) * 2.0 == pytest.approx(180, abs=5)
    assert (cols[-1] - cols[0] + 1) * 2.0 == pytest.approx(150, abs=5)


def test_cam_to_image_maps_back_onto_the_source_pixels() -> None:
    cfg = PreprocessConfig(image_size=128, pixel_mm=2.0)
    pos = [20.0]  # lesion at 60 HU
    hu = _head_stack(pos, (0.8, 0.6), (400, 520), centre_mm=(30.0, -25.0))
    p = make_inputs(hu, pos, (0.8, 0.6), cfg)
    # Use the model-grid 'lesion' itself as a map: mapped back, it must land on the source lesion.
    model_map = (p.x[0, 4] > (50 - (-20)) / 200).astype(np.float32)  # subdural window, > 50 HU
    back = cam_to_image(model_map, p.to_image[0], p.image_shape)
    assert back.shape == (400, 520)
    lesion = hu[0] == 60
    assert back[lesion].mean() > 0.7
    # Away from the lesion (and from the skull ring, which is > 50 HU too) the map is 0.
    r = (np.arange(400) - 199.5) * 0.8 - 30.0
    c = (np.arange(520) - 259.5) * 0.6 + 25.0
    rr, cc = np.meshgrid(r, c, indexing="ij")
    deep_brain = ((rr / 90.0) ** 2 + (cc / 75.0) ** 2 < 0.7) & ((rr - 20) ** 2 + (cc + 20) ** 2 > 15**2)
    assert back[deep_brain].max() == 0.0


def test_float16_output_and_bad_input() -> None:
    cfg = PreprocessConfig(image_size=32, pixel_mm=8.0, dtype="float16")
    hu = _head_stack([0.0, 5.0], (0.5, 0.5), (256, 256))
    assert make_inputs(hu, [0.0, 5.0], (0.5, 0.5), cfg).x.dtype == np.float16
    with pytest.raises(ValueError):
        make_inputs(hu, [0.0], (0.5, 0.5), cfg)
    with pytest.raises(IndexError):
        make_inputs(hu, [0.0, 5.0], (0.5, 0.5), cfg, indices=[2])
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg
