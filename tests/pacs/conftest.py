"""Fixtures of the PACS tests: one real Orthanc for the session (tests/pacs/orthanc_server.py) with our
C-MOVE and listen SCPs registered as modalities, and small synthetic studies."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pacs.orthanc_server import ORTHANC_AET, Orthanc, free_port
from viewer.pacs.cache import StudyCache
from viewer.pacs.nodes import LocalAE, PacsNode

LOCAL_AET = "ICHVIEW_T"
LISTEN_AET = "ICHVIEW_L"


@pytest.fixture(scope="session")
def ports() -> dict[str, int]:
    return {"move": free_port(), "listen": free_port()}


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory, ports: dict[str, int]) -> Iterator[Orthanc]:
    server = Orthanc(
        tmp_path_factory.mktemp("orthanc"),
        modalities={"ichview": (LOCAL_AET, ports["move"]), "listener": (LISTEN_AET, ports["listen"])},
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def node(orthanc: Orthanc) -> PacsNode:
    return PacsNode("orthanc", ORTHANC_AET, "127.0.0.1", orthanc.dicom_port, dicomweb_url=orthanc.dicomweb_url, timeout_s=10)


@pytest.fixture(scope="session")
def local(ports: dict[str, int]) -> LocalAE:
    return LocalAE(LOCAL_AET, ports["move"], host="127.0.0.1")


@pytest.fixture()
def cache(tmp_path: Path) -> StudyCache:
    return StudyCache(tmp_path / "cache", 500_000_000)


@pytest.fixture(scope="session")
def ct_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic head CT with a bleed (10 slices, 128 x 128); its DICOM folder."""
    from tests.cli.analyze_inputs import write_ct_study

    return write_ct_study(tmp_path_factory.mktemp("ct"), bleed=True, patient_name="SYNTHETIC^PACS", seed=71,
                          patient_id="PACS-71")


def send_ct(orthanc: Orthanc, dicom: Path) -> str:
    """C-STORE a DICOM folder into Orthanc with our own send_files; its StudyInstanceUID."""
    import pydicom

    from viewer.pacs.send import send_files

    files = sorted(dicom.glob("*.dcm"))
    node = PacsNode("orthanc", ORTHANC_AET, "127.0.0.1", orthanc.dicom_port, timeout_s=10)
    events = list(send_files(node, LocalAE(LOCAL_AET, 11112), files))
    assert events[-1].done == len(files) and events[-1].failed == 0
    return str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)


def store_ct_study(orthanc: Orthanc, folder: Path, seed: int) -> str:
    """Another small synthetic CT study (its own patient and UIDs) in Orthanc, for a test that stores
    results back into it; its StudyInstanceUID."""
    from tests.cli.analyze_inputs import write_ct_study

    dicom = write_ct_study(folder, bleed=True, patient_name=f"SYNTHETIC^OTHER{seed}", seed=seed, patient_id=f"PACS-{seed}")
    return send_ct(orthanc, dicom)


@pytest.fixture(scope="session")
def stored_study(orthanc: Orthanc, ct_study: Path) -> str:
    """The CT study of `ct_study` in Orthanc (read-only for the tests: nothing is stored back into it)."""
    return send_ct(orthanc, ct_study)
