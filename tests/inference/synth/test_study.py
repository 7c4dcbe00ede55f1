"""Synthetic studies: realistic HU, bleeds where they occur, labels that match the masks, files that
say they are synthetic, ground truth beside the series."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from inference.labels import LABELS, SUBTYPES
from inference.synth import anatomy as A
from inference.synth.anatomy import HeadModel, HeadParams, Plane
from inference.synth.dicom_writer import UID_ROOT
from inference.synth.study import make_study, read_labels, write_study

# Small and fast: 128 x 128 at ~2 mm, a band of slices through the ventricles.
FAST = dict(matrix=128, fov_mm=250.0, z_range_mm=(-30.0, 40.0))


def _axial_plane(z_mm: float, n: int = 256, px: float = 1.0) -> Plane:
    half = (n - 1) / 2.0 * px
    return Plane(np.array([-half, -half, z_mm]), np.array([0.0, px, 0.0]), np.array([px, 0.0, 0.0]), n, n)


def test_tissue_hu_match_real_head_ct() -> None:
    pt = HeadModel(HeadParams(seed=1)).render_plane(_axial_plane(15.0))
    med = {name: float(np.median(pt.hu[pt.tissue == code])) for code, name in enumerate(A.TISSUE_NAMES) if (pt.tissue == code).any()}
    assert 33 <= med["grey_matter"] <= 42
    assert 24 <= med["white_matter"] <= 31
    assert 0 <= med["ventricle"] <= 12 and 0 <= med["csf"] <= 12
    assert med["air"] <= -990
    bone = pt.hu[pt.tissue == A.BONE]
    assert np.percentile(bone, 90) >= 1400 and np.percentile(bone, 10) >= 300
    assert -100 <= med["fat"] <= 40
    # The ventricles and the pineal are at the level they belong to.
    assert (pt.tissue == A.VENTRICLE).sum() > 100


def test_levels_show_posterior_fossa_low_and_no_ventricles_at_vertex() -> None:
    m = HeadModel(HeadParams(seed=2))
    low = m.render_plane(_axial_plane(-50.0))
    high = m.render_plane(_axial_plane(50.0))
    assert (low.tissue == A.CEREBELLUM).sum() > 500 and (low.tissue == A.BRAINSTEM).sum() > 100
    assert (high.tissue == A.CEREBELLUM).sum() == 0 and (high.tissue == A.VENTRICLE).sum() == 0
    fourth = m.render_plane(_axial_plane(-45.0))
    assert ((fourth.tissue == A.VENTRICLE) & (np.abs(fourth.grid.x) < 8)).sum() > 10


def test_study_is_deterministic_and_canonical() -> None:
    a = make_study(5, lesions=["subdural"], **FAST)
    b = make_study(5, lesions=["subdural"], **FAST)
    np.testing.assert_array_equal(a.hu, b.hu)
    assert a.hu.dtype == np.int16 and a.hu.shape[1:] == (128, 128)
    c = make_study(6, lesions=["subdural"], **FAST)
    assert not np.array_equal(a.hu, c.hu)
    assert a.series.resolved_uids() == b.series.resolved_uids()
    d = make_study(5, lesions=["epidural"], **FAST)  # same seed, other content: other UIDs
    assert len({a.series.resolved_uids()[0], c.series.resolved_uids()[0], d.series.resolved_uids()[0]}) == 3
    # Canonical orientation: anterior up (the face / frontal bone is at low rows), slices upward.
    assert np.all(np.diff(a.positions_mm[:, 2]) > 0)
    assert a.iop == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@pytest.mark.parametrize("subtype", SUBTYPES)
def test_each_subtype_is_dense_labelled_and_where_it_belongs(subtype: str) -> None:
    st = make_study(11, lesions=[subtype], lesion_size="large", lesion_age=0.0, head="default", noise=0.5, **FAST)
    j = LABELS.index(subtype)
    assert st.labels[:, j].sum() >= 1, "a large bleed must be labelled on some slice"
    np.testing.assert_array_equal(st.labels[:, 0], st.labels[:, 1:].max(axis=1))
    for other in SUBTYPES:
        if other != subtype:
            assert not st.masks[other].any()
    k = int(np.argmax(st.masks[subtype].reshape(st.n_slices, -1).sum(1)))
    mask = st.masks[subtype][k]
    vals = st.hu[k][mask].astype(float)
    assert 50 <= np.median(vals) <= 120, f"median {np.median(vals)} HU inside the {subtype} mask"
    bone = st.hu[k] > 500
    near_bone = np.zeros_like(bone)
    for dr in range(-3, 4):
        for dc in range(-3, 4):
            near_bone |= np.roll(np.roll(bone, dr, 0), dc, 1)
    frac_near_bone = float((mask & near_bone).sum() / mask.sum())
    if subtype in ("epidural", "subdural"):
        assert frac_near_bone > 0.2, "extra-axial blood lies against the inner table"
    if subtype in ("intraventricular",):
        assert frac_near_bone < 0.05


def test_negative_study_has_no_labels() -> None:
    st = make_study(3, lesions=None, **FAST)
    assert st.labels.sum() == 0 and not any(m.any() for m in st.masks.values())


def test_thin_slices_and_tilt() -> None:
    thin = make_study(4, slice_thickness_mm=0.625, lesions=None, matrix=96, fov_mm=240.0, z_range_mm=(10.0, 15.0))
    assert thin.n_slices == 9 and thin.spacing_mm[0] == pytest.approx(0.625)
    tilted = make_study(4, tilt_deg=20.0, lesions=None, **FAST)
    assert tilted.tilt_deg == 20.0
    assert tilted.iop[4] == pytest.approx(np.cos(np.deg2rad(20.0)))
    assert tilted.spacing_mm[0] == pytest.approx(5.0 * np.cos(np.deg2rad(20.0)))
    assert np.allclose(np.diff(tilted.positions_mm[:, 1]), 0.0)  # the table moves along z only


def test_write_study_layout_and_labels(tmp_path: Path) -> None:
    st = make_study(8, lesions=["intraparenchymal", "intraventricular"], lesion_size="large", **FAST)
    dicom_dir = write_study(st, tmp_path / "study")
    assert dicom_dir == tmp_path / "study" / "dicom"
    files = sorted(dicom_dir.iterdir())
    assert len(files) == st.n_slices
    gt = tmp_path / "study" / "ground_truth"
    uids, labels = read_labels(gt)
    np.testing.assert_array_equal(labels, st.labels)
    with open(gt / "labels.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == ["sop_instance_uid", "index", "file", *LABELS]
    masks = np.load(gt / "masks.npz")
    for s in SUBTYPES:
        np.testing.assert_array_equal(masks[s], st.masks[s])
    meta = json.loads((gt / "study.json").read_text())
    assert meta["uid_root"] == UID_ROOT and {l["subtype"] for l in meta["lesions"]} <= set(SUBTYPES)
    for i, f in enumerate(files):
        ds = pydicom.dcmread(f)
        assert ds.SOPInstanceUID == uids[i]
        assert str(ds.PatientName).startswith("SYNTHETIC^")
        assert ds.ImageType[0] == "DERIVED" and "SYNTHETIC" in ds.SeriesDescription
        assert ds.StudyInstanceUID.startswith(UID_ROOT)
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(hu, st.hu[i])
