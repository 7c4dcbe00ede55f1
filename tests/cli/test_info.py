"""`ichview info`: text and JSON on the real GE series, schema-valid JSON, exit 2 on junk."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from viewer.__main__ import main as ichview
from viewer.cli.info import SCHEMA_PATH

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def schema() -> dict:
    data = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(data)
    return data


def test_info_text_on_ge(real_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ichview(["info", str(real_data / "ge_head_ct_tilted")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Patient ") and "(ID " in lines[0]
    stack_line = next(line for line in lines if line.strip().startswith("Stack "))
    for part in ("28 slices", "axial", "512x512", "pixel 0.488x0.488 mm", "spacing 4.00 mm (min 1.08, max 7.00)",
                 "thickness 4-7 mm", "tilt 18.5°"):
        assert part in stack_line, part
    assert "CT" in out
    for code in ("gantry_tilt", "mixed_thickness", "uneven_spacing"):
        assert f"warning [{code}]" in out


def test_info_json_on_ge_is_schema_valid(real_data: Path, schema: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert ichview(["info", "--json", str(real_data / "ge_head_ct_tilted")]) == 0
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, schema)
    assert data["schema_version"] == 1
    (series,) = data["series"]
    assert series["n_slices"] == 28 and series["modality"] == "CT"
    assert series["stack_id"] == series["series_uid"]
    assert series["slice_spacing_mm"]["median"] == pytest.approx(4.0, abs=0.01)
    assert series["slice_spacing_mm"]["min"] == pytest.approx(1.08, abs=0.01)
    assert series["slice_spacing_mm"]["max"] == pytest.approx(7.0, abs=0.01)
    assert series["slice_thickness_mm"] == {"min": 4.0, "max": 7.0}
    assert series["tilt_deg"] == 18.5
    assert series["rows"] == 512 and series["columns"] == 512
    assert {w["code"] for w in series["warnings"]} == {"gantry_tilt", "mixed_thickness", "uneven_spacing"}
    assert data["skipped"] == []


def test_info_json_lists_skipped_files(real_data: Path, schema: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert ichview(["info", "--json", str(real_data / "philips_head_phantom_5mm")]) == 0
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, schema)
    assert data["series"][0]["n_slices"] == 28
    (skipped,) = data["skipped"]
    assert skipped["path"].endswith("DIRFILE") and "do not resolve" in skipped["reason"]


def test_info_exit_2_on_junk_only_folder(tmp_path: Path, schema: dict, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "random.dcm").write_bytes(np.random.default_rng(1).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    (tmp_path / "empty.dcm").write_bytes(b"")
    assert ichview(["info", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1
    assert "no DICOM image series found" in captured.err
    assert "random.dcm: not a DICOM file" in captured.out
    assert "empty.dcm: empty file (0 bytes)" in captured.out
    assert ichview(["info", "--json", str(tmp_path)]) == 2
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, schema)
    assert data["series"] == [] and len(data["skipped"]) == 2


def test_info_runs_without_torch_or_qt(real_data: Path) -> None:
    code = (
        "import sys\n"
        "from viewer.__main__ import main\n"
        f"rc = main(['info', {str(real_data / 'philips_head_phantom_5mm')!r}])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'PySide6', 'pyqtgraph'})\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    assert "28 slices" in out.stdout


def test_info_json_on_a_dicomdir_tree_is_schema_valid(schema: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from pydicom.data import get_testdata_file

    assert ichview(["info", "--json", get_testdata_file("DICOMDIR")]) == 0
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, schema)
    assert len(data["patients"]) >= 2
    assert sum(s["n_slices"] for s in data["series"]) == 31
    split = [s for s in data["series"] if "#" in s["stack_id"]]
    assert split and all(s["stack_id"].startswith(s["series_uid"] + "#") for s in split)
    listed = {sid for p in data["patients"] for st in p["studies"] for se in st["series"] for sid in se["stack_ids"]}
    assert listed == {s["stack_id"] for s in data["series"]}


def test_info_json_with_nan_and_inf_is_valid_json_with_nulls(
    real_data: Path, schema: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever reaches the writer (here a stack whose spacing is NaN / inf), the output parses
    with a strict parser, validates, and says on stderr what became null."""
    import dataclasses

    import viewer.cli.info as info
    from viewer.core.loading import open_paths

    tree = open_paths([real_data / "ge_head_ct_tilted"])
    stack = tree.stacks()[0]
    geometry = dataclasses.replace(
        stack.geometry, slice_spacing_median_mm=float("nan"), slice_spacing_max_mm=float("inf")
    )
    bad = dataclasses.replace(stack, geometry=geometry)
    series = dataclasses.replace(tree.patients[0].studies[0].series[0], stacks=(bad,))
    study = dataclasses.replace(tree.patients[0].studies[0], series=(series,))
    patient = dataclasses.replace(tree.patients[0], studies=(study,))
    monkeypatch.setattr(info, "open_paths", lambda paths, workers=None: dataclasses.replace(tree, patients=(patient,)))
    assert ichview(["info", "--json", "anything"]) == 0
    captured = capsys.readouterr()

    def strict(token: str) -> None:
        raise ValueError(f"non-standard JSON number {token}")

    data = json.loads(captured.out, parse_constant=strict)
    jsonschema.validate(data, schema)
    spacing = data["series"][0]["slice_spacing_mm"]
    assert spacing["median"] is None and spacing["max"] is None and spacing["min"] == pytest.approx(1.08, abs=0.01)
    assert "not a finite number, written as null" in captured.err and "slice_spacing_mm.median" in captured.err


def test_info_escapes_control_characters_in_names(real_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    import pydicom

    folder = tmp_path / "series"
    folder.mkdir()
    for name in ("10.dcm", "11.dcm"):
        ds = pydicom.dcmread(real_data / "ge_head_ct_tilted" / name)
        ds.PatientName = "Doe^John\x1b[2J\x1b[31m\nPatient EVIL  (ID 0)\r"
        ds.SeriesDescription = "Head\x1b]0;owned\x07"
        ds.save_as(folder / name)
    shutil.copyfile(real_data / "ge_head_ct_tilted" / "12.dcm", folder / "junk\nPatient FAKE\x1b[0m.dcm")
    (folder / "junk\nPatient FAKE\x1b[0m.dcm").write_bytes(b"not dicom")
    assert ichview(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert not any(line.startswith("Patient EVIL") or line.startswith("Patient FAKE") for line in out.splitlines())
    assert "Doe^John\\x1b[2J\\x1b[31m\\nPatient EVIL" in out
    assert sum(line.startswith("Patient ") for line in out.splitlines()) == 1


def test_info_json_with_a_non_utf8_file_name_is_utf8(tmp_path: Path, schema: dict, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    import os

    folder = tmp_path / "junk"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"bad-\xff\xfe-name.dcm"), "wb") as fh:
        fh.write(b"not dicom at all")
    assert ichview(["info", "--json", str(folder)]) == 2
    raw = capsysbinary.readouterr().out
    data = json.loads(raw.decode("utf-8"))  # strict UTF-8
    jsonschema.validate(data, schema)
    (skipped,) = data["skipped"]
    assert skipped["path"].endswith("bad-\\xff\\xfe-name.dcm")
