"""Window presets, the header's own window, and HU -> grey levels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from viewer.core.scan import scan_paths
from viewer.core.windowing import PRESETS, PRESETS_BY_KEY, apply_window, header_window_preset, window_levels


def test_preset_table() -> None:
    table = [(p.key, p.width_hu, p.center_hu) for p in PRESETS]
    assert table == [
        ("brain", 80.0, 40.0),
        ("subdural", 200.0, 80.0),
        ("stroke", 40.0, 40.0),
        ("bone", 2800.0, 600.0),
        ("soft_tissue", 400.0, 40.0),
    ]
    assert PRESETS_BY_KEY["brain"].low_hu == 0.0 and PRESETS_BY_KEY["brain"].high_hu == 80.0


def test_apply_window_maps_bounds_to_black_and_white() -> None:
    hu = np.array([[-1024, 0, 40, 80, 3000]], dtype=np.int16)
    grey = apply_window(hu, width_hu=80, center_hu=40)
    assert grey.dtype == np.uint8
    assert grey.tolist() == [[0, 0, 128, 255, 255]]
    assert apply_window(hu, width_hu=80, center_hu=40, invert=True).tolist() == [[255, 255, 127, 0, 0]]
    assert window_levels(0.0, 40.0) == (39.5, 40.5)  # width clamped to 1 HU


def test_zero_padded_multivalued_header_window_uses_the_first_value(real_data: Path) -> None:
    # InVesalius / RSNA style: WindowCenter "000040\\00700", WindowWidth "000100\\03200".
    checked = 0
    for path in sorted((real_data / "invesalius_head_ct_0051").glob("*.dcm"))[:40]:
        raw = pydicom.dcmread(path, stop_before_pixels=True)
        center_text = str(raw["WindowCenter"].value[0]).strip()
        width_text = str(raw["WindowWidth"].value[0]).strip()
        assert len(raw["WindowCenter"].value) == 2 and center_text.lstrip("-").startswith("0")
        (header,) = scan_paths([path]).slices
        preset = header_window_preset(header.window_center_hu, header.window_width_hu)
        assert preset is not None and preset.key == "header"
        assert (preset.center_hu, preset.width_hu) == (float(int(center_text)), float(int(width_text)))
        checked += 1
    assert checked == 40


def test_no_header_window() -> None:
    assert header_window_preset(None, 80.0) is None
    assert header_window_preset(40.0, 0.0) is None
    assert header_window_preset(40.0, 80.0) == PRESETS_BY_KEY["brain"].__class__("header", "Header", 80.0, 40.0)
