"""The RSNA 2019 layout reader: every label reaches its own image, slices in geometric order."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rsna_layout import MARKER, write_rsna_folder

from inference.training.datasets.rsna import RsnaLayoutError, index_series, load_series, read_label_csv

pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")


def test_each_label_reaches_its_image(tmp_path: Path) -> None:
    folder = write_rsna_folder(tmp_path / "rsna")
    series = index_series(folder.root)
    assert {(s.study_uid, s.series_uid): len(s.paths) for s in series} == folder.series_sizes
    assert all(s.study_uid.startswith("ID_") for s in series)  # non-conformant UIDs kept as they are
    seen = set()
    for s in series:
        vol = load_series(s)
        assert np.all(np.diff(vol.positions_mm) > 0)  # ordered along the normal, not by file name
        assert vol.hu.shape[0] == len(s.paths)
        for k in range(vol.hu.shape[0]):
            marker = int(np.rint(np.median(vol.hu[k][MARKER])))
            image_id = folder.marker_hu[marker]  # which image this slice is, from its pixels
            assert vol.image_ids[k] == image_id
            np.testing.assert_array_equal(vol.labels[k], folder.labels[image_id])
            seen.add(image_id)
    assert seen == set(folder.labels)


def test_bad_label_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "stage_2_train.csv"
    bad.write_text("ID,Label\nID_abc_epidural,0\n")
    with pytest.raises(RsnaLayoutError, match="six label rows"):
        read_label_csv(bad)
    bad.write_text("Image,Value\n")
    with pytest.raises(RsnaLayoutError, match="stage_2_train.csv"):
        read_label_csv(bad)
    with pytest.raises(RsnaLayoutError, match="not found"):
        index_series(tmp_path / "nowhere")
