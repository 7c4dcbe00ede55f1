"""Round trips against a real Orthanc (tests/pacs/orthanc_server.py): C-STORE, C-FIND / QIDO-RS,
retrieve by C-GET, C-MOVE and WADO-RS into the cache, analyse, store the SR and key images back,
find them again and check that the SR's references resolve to the retrieved instances."""
from __future__ import annotations

import json
import logging
import socket
import threading
from pathlib import Path

import pydicom
import pytest

from tests.cli.analyze_inputs import write_test_weights
from tests.pacs.conftest import store_ct_study
from tests.pacs.orthanc_server import Orthanc
from viewer.core.loading import open_paths
from viewer.pacs.cache import StudyCache
from viewer.pacs.echo import echo
from viewer.pacs.errors import AssociationRejectedError, PacsUnreachableError
from viewer.pacs.nodes import LocalAE, PacsNode
from viewer.pacs.query import StudyQuery, find_series, find_studies
from viewer.pacs.retrieve import RetrieveDone, RetrieveProgress, retrieve_study
from viewer.pacs.storage_scp import StorageSCP

PATIENT_NAME = "SYNTHETIC^PACS"


def test_echo(node: PacsNode, local: LocalAE) -> None:
    assert echo(node, local).node == "orthanc"


def test_nothing_listening_gives_a_clear_message(local: LocalAE) -> None:
    from tests.pacs.orthanc_server import free_port

    dead = PacsNode("down", "NOBODY", "127.0.0.1", free_port(), timeout_s=2)
    with pytest.raises(PacsUnreachableError, match=r"cannot reach down \(NOBODY@127.0.0.1:\d+\).*refused.*is the PACS running"):
        echo(dead, local)


def test_a_silent_peer_times_out_with_a_clear_message(local: LocalAE) -> None:
    with socket.socket() as server:  # accepts the connection, never answers
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        silent = PacsNode("silent", "SILENT", "127.0.0.1", server.getsockname()[1], timeout_s=1)
        with pytest.raises(PacsUnreachableError, match="no answer within 1 s"):
            echo(silent, local)


def test_an_unknown_ae_title_is_refused_with_the_fix(tmp_path: Path) -> None:
    from tests.pacs.orthanc_server import free_port

    port = free_port()
    scp = StorageSCP(LocalAE("ICHVIEW_L", port, "127.0.0.1"), ("CT_SCANNER",), StudyCache(tmp_path, 10**6))
    with scp:
        node = PacsNode("listener", "ICHVIEW_L", "127.0.0.1", port, timeout_s=5)
        with pytest.raises(AssociationRejectedError, match="add 'INTRUDER' to that node's known modalities"):
            echo(node, LocalAE("INTRUDER", 11112))


@pytest.mark.parametrize("via", ["dimse", "dicomweb"])
def test_query_by_name_id_dates_modality_accession_description(node: PacsNode, local: LocalAE, stored_study: str,
                                                                ct_study: Path, via: str) -> None:
    n = len(list(ct_study.glob("*.dcm")))
    def uids(**kw: str) -> list[str]:
        return [m.study_uid for m in find_studies(node, local, StudyQuery(**kw), via=via)]

    assert uids(patient_name="SYNTHETIC^PAC*") == [stored_study]
    assert uids(patient_id="PACS-71") == [stored_study]
    assert stored_study in uids(date_from="20251201", date_to="20260131")
    assert uids(date_from="20260102") == []
    assert stored_study in uids(modality="CT", accession="SYN0001")
    assert stored_study in uids(description="SYNTHETIC HEAD*")
    assert uids(patient_name="NOBODY*") == []
    match = find_studies(node, local, StudyQuery(study_uid=stored_study), via=via)[0]
    assert match.patient_name == PATIENT_NAME and match.n_instances == n and "CT" in match.modalities
    series = find_series(node, local, stored_study, via=via)
    assert [(s.modality, s.n_instances) for s in series] == [("CT", n)]


@pytest.mark.parametrize("method", ["cget", "cmove", "wado"])
def test_retrieve_into_the_cache(node: PacsNode, local: LocalAE, stored_study: str, ct_study: Path,
                                 cache: StudyCache, method: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    n = len(list(ct_study.glob("*.dcm")))
    events = list(retrieve_study(node, local, stored_study, cache, method=method))
    done = events[-1]
    assert isinstance(done, RetrieveDone) and done.n_instances == n and not done.from_cache
    progress = [e for e in events if isinstance(e, RetrieveProgress)]
    assert progress and progress[-1].done <= n
    assert done.folder.parent == cache.studies and not list(cache.studies.glob("*.partial"))
    original = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in ct_study.glob("*.dcm")}
    got = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in done.folder.iterdir()}
    assert got == original
    tree = open_paths([done.folder])
    assert [s.n_slices for s in tree.stacks()] == [n]
    again = list(retrieve_study(node, local, stored_study, cache, method=method))
    assert len(again) == 1 and again[0].from_cache
    assert PATIENT_NAME not in caplog.text and "PACS-71" not in caplog.text


def test_cancel_discards_the_partial_study(node: PacsNode, local: LocalAE, stored_study: str, cache: StudyCache) -> None:
    from viewer.pacs.errors import RetrieveCancelled

    cancel = threading.Event()
    gen = retrieve_study(node, local, stored_study, cache, method="cget", cancel=cancel)
    next(gen)
    cancel.set()
    with pytest.raises(RetrieveCancelled):
        list(gen)
    assert not any(cache.studies.iterdir())


def test_analyse_store_results_find_them_and_resolve_references(
    orthanc: Orthanc, node: PacsNode, local: LocalAE, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Retrieve (C-GET) -> `ichview analyze --sr DIR --send orthanc` -> the SR and key images are in
    Orthanc, in new series of the same study -> retrieve again (WADO-RS) -> the SR's references
    resolve to the retrieved CT instances."""
    import highdicom as hd

    from viewer.cli.analyze import main as analyze

    config = tmp_path / "pacs.json"
    config.write_text(json.dumps({
        "local": {"ae_title": local.ae_title, "port": local.port, "host": "127.0.0.1"},
        "nodes": [{"name": "orthanc", "ae_title": node.ae_title, "host": node.host, "port": node.port,
                   "dicomweb_url": node.dicomweb_url, "timeout_s": 10}],
    }))
    monkeypatch.setenv("ICHVIEW_PACS_CONFIG", str(config))
    stored_study = store_ct_study(orthanc, tmp_path / "ct", 73)
    cache = StudyCache(tmp_path / "cache", 10**9)
    done = list(retrieve_study(node, local, stored_study, cache, method="cget"))[-1]
    weights = write_test_weights(tmp_path / "w.safetensors", threshold=0.0)
    out = tmp_path / "reports"
    out.mkdir()
    code = analyze([str(done.folder), "--json", str(out / "f.json"), "--sr", str(out / "dicom"), "--send", "orthanc",
                    "--second-reader", "off", "--weights", str(weights), "--device", "cpu", "--threads", "1", "--quiet"])
    assert code == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "Sent" in err and "to PACS node 'orthanc'" in err
    series = find_series(node, local, stored_study)
    assert sorted(s.modality for s in series) == ["CT", "OT", "SR"]  # key images are Secondary Capture (OT)
    study = find_studies(node, local, StudyQuery(study_uid=stored_study))[0]
    assert "SR" in study.modalities
    again = list(retrieve_study(node, local, stored_study, cache, method="wado", refresh=True))[-1]
    files = [pydicom.dcmread(p) for p in again.folder.iterdir()]
    srs = [f for f in files if f.Modality == "SR"]
    cts = {str(f.SOPInstanceUID) for f in files if f.Modality == "CT"}
    assert len(srs) == 1
    sr = hd.sr.srread(next(p for p in again.folder.iterdir() if pydicom.dcmread(p, stop_before_pixels=True).Modality == "SR"))
    groups = hd.sr.MeasurementReport.from_sequence([sr]).get_image_measurement_groups()
    verdict = next(g for g in groups if g.tracking_identifier == "verdict")
    assert verdict.get_qualitative_evaluations()[0].value.meaning == "Present"  # threshold 0: suspected
    refs = {str(img.referenced_sop_instance_uid) for g in groups for img in g.source_images}
    assert refs and refs <= cts
    keys = [f for f in files if f.Modality != "SR" and f.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"]
    assert keys and all(k.StudyInstanceUID == stored_study and k.BurnedInAnnotation == "YES" for k in keys)
