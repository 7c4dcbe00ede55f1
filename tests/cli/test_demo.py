"""`ichview demo`: a synthetic study with a bleed, written atomically, never over someone's folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from viewer.cli.demo import is_previous_demo, main


def test_demo_writes_a_labelled_bleed_study_and_says_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cache" / "demo-study"
    assert main([str(target), "--matrix", "256"]) == 0
    out = capsys.readouterr().out
    assert str(target) in out and "ichview" in out
    files = sorted((target / "dicom").iterdir())
    assert len(files) >= 25
    ds = pydicom.dcmread(files[len(files) // 2])
    assert str(ds.PatientName).startswith("SYNTHETIC^") and float(ds.SliceThickness) == 5.0
    assert (ds.Rows, ds.Columns) == (256, 256)
    labels = np.loadtxt(target / "ground_truth" / "labels.csv", delimiter=",", skiprows=1, usecols=range(3, 9))
    assert labels[:, 0].sum() >= 3  # visible bleed on several slices
    assert labels[:, 5].sum() >= 3 and labels[:, 2].sum() >= 1  # subdural and intraparenchymal
    assert json.loads((target / "ground_truth" / "study.json").read_text())["ichview_demo"] is True
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_demo_replaces_a_previous_demo_but_refuses_other_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "demo"
    assert main([str(target), "--matrix", "96", "--seed", "1"]) == 0
    first = sorted(p.name for p in (target / "dicom").iterdir())
    assert is_previous_demo(target)
    assert main([str(target), "--matrix", "96", "--seed", "2"]) == 0  # a previous demo is replaced
    assert sorted(p.name for p in (target / "dicom").iterdir()) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]

    precious = tmp_path / "patient-study"
    precious.mkdir()
    (precious / "IM0001.dcm").write_bytes(b"not mine")
    capsys.readouterr()
    assert main([str(precious), "--matrix", "96"]) == 2
    assert "not a previous ichview demo" in capsys.readouterr().err
    assert [p.name for p in precious.iterdir()] == ["IM0001.dcm"]
    assert (precious / "IM0001.dcm").read_bytes() == b"not mine"

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert main([str(a_file), "--matrix", "96"]) == 2
    assert a_file.read_text() == "x"


def test_demo_loads_in_ichview_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from viewer.cli.info import main as info_main

    target = tmp_path / "demo"
    assert main([str(target), "--matrix", "96"]) == 0
    capsys.readouterr()
    assert info_main([str(target), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    series = report["series"]
    assert len(series) == 1 and series[0]["modality"] == "CT"
    assert series[0]["n_slices"] == len(list((target / "dicom").iterdir()))
    skipped = {Path(s["path"]).name for s in report["skipped"]}
    assert skipped == {"labels.csv", "masks.npz", "study.json"}
