"""`ichview triage`: several synthetic studies (two patients: one with two studies, one bleeding and one
clean; the other with an unusable MR-only study) -> one row per study in suspicion order, resumable,
the same on Ray. Both readers run on small studies (five 8 mm slices): the second reader's time grows
with the head volume."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from analyze_inputs import write_ct_study, write_mr_series  # noqa: E402

from viewer.analysis.batch import run_batch  # noqa: E402
from viewer.analysis.studies import find_studies  # noqa: E402
from viewer.analysis.triage import ReaderConfig  # noqa: E402
from viewer.analysis.worklist import read_worklist, write_worklist  # noqa: E402
from viewer.cli import triage  # noqa: E402


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    # Five 8 mm slices each: the second reader's time grows with the head volume it reads.
    z = (-6.0, 26.0)
    write_ct_study(root / "a1", bleed=True, patient_name="ALPHA^ONE", seed=21, patient_id="PAT-A", large_bleed=True, z_range_mm=z)
    write_ct_study(root / "a2", bleed=False, patient_name="ALPHA^ONE", seed=22, patient_id="PAT-A", z_range_mm=z)
    write_mr_series(root / "b_mr", seed="mr-b")  # patient B: an MR only, nothing the readers take
    return root


def _rows(out: Path) -> list[dict]:
    with open(out / "worklist.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.timeout(900)
def test_triage_lists_every_study_in_suspicion_order_and_resumes(archive: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = triage.main([str(archive), "--out", str(out), "--workers", "1", "--device", "cpu", "--second-models", "1"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    rows = _rows(out)
    assert len(rows) == 3, "one row per study of one patient"
    assert [r["patient_id"] for r in rows].count("PAT-A") == 2
    assert rows[0]["patient_id"] == "PAT-A" and rows[0]["suspected"] == "1", rows[0]
    assert float(rows[0]["blood_ml"]) >= 1.0  # found by the second reader, with a volume
    assert rows[1]["patient_id"] == "PAT-A" and rows[1]["suspected"] == "0"
    assert rows[2]["status"] == "not analysed" and "CT only" in rows[2]["not_analysed"]
    assert "3/3" in err and "0 failed" in err
    for r in rows[:2]:
        assert (out / r["pdf"]).read_bytes().startswith(b"%PDF")
        doc = json.loads((out / r["json"]).read_text(encoding="utf-8"))
        assert [s["patient_id"] for s in doc["studies"]] == [r["patient_id"]]
    page = (out / "worklist.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2 and "not a diagnosis" in page

    # A run killed after two of the three studies: its output folder holds what the driver had written for them
    # (their files and state records). Resuming runs only the rest, and the worklist then equals the
    # uninterrupted run's.
    import shutil

    killed = tmp_path / "killed"
    (killed / "state").mkdir(parents=True)
    done = sorted((out / "state").glob("*.json"))[:2]
    for record in done:
        shutil.copy2(record, killed / "state" / record.name)
        shutil.copytree(out / "studies" / record.stem, killed / "studies" / record.stem)
    code = triage.main([str(archive), "--out", str(killed), "--workers", "1", "--device", "cpu", "--second-models", "1"])
    _, err = capsys.readouterr()
    assert code == 0 and "2 done before" in err and "3/3" in err
    assert _strip_times(killed / "worklist.json") == _strip_times(out / "worklist.json")
    # A changed input is not reused: a file of one study modified changes that study's input hash only.
    import os

    before = {s.id: s.input_sha256 for s in find_studies([archive])[0]}
    changed = sorted((archive / "a2").rglob("*.dcm"))[0]
    info = changed.stat()
    os.utime(changed, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    after = {s.id: s.input_sha256 for s in find_studies([archive])[0]}
    assert sum(before[k] != after[k] for k in before) == 1


def _strip_times(path: Path) -> list[dict]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [{k: v for k, v in e.items() if k != "seconds"} for e in doc["studies"]]


@pytest.mark.timeout(600)
def test_ray_cluster_gives_the_same_rows(archive: Path, tmp_path: Path) -> None:
    """The same batch on a real local Ray cluster (2 CPUs, actors loading the readers once): identical
    rows, study for study (first reader only here, for time; test_ray_both_readers below is slow)."""
    _compare_with_ray(archive, tmp_path, ReaderConfig(device="cpu", threads=1, second_reader=False))


@pytest.mark.slow
def test_ray_both_readers(archive: Path, tmp_path: Path) -> None:
    _compare_with_ray(archive, tmp_path, ReaderConfig(device="cpu", threads=1, second_models=1))


def _compare_with_ray(archive: Path, tmp_path: Path, config: ReaderConfig) -> None:
    import ray

    local = tmp_path / "local"
    studies, _ = find_studies([archive])
    for ev in run_batch(studies, local, config):
        pass
    expected = {e.study_id: e for e in ev.entries}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = tmp_path / "ray"
        for ev in run_batch(studies, on_ray, config, ray_address="auto"):
            pass
    finally:
        ray.shutdown()
    got = {e.study_id: e for e in ev.entries}
    assert set(got) == set(expected) and len(got) == 3
    for sid, e in expected.items():
        g = got[sid]
        assert (g.verdict, g.suspected, g.status, g.not_analysed) == (e.verdict, e.suspected, e.status, e.not_analysed)
        assert (g.max_any is None) == (e.max_any is None)
        if e.max_any is not None:
            assert g.max_any == pytest.approx(e.max_any, abs=1e-3)
        assert g.volumes_ml == pytest.approx(e.volumes_ml, abs=0.05)
    write_worklist(list(got.values()), on_ray)
    write_worklist(list(expected.values()), local)
    assert [e.study_id for e in read_worklist(on_ray)] == [e.study_id for e in read_worklist(local)]
