"""Orthanc stopped in the middle of a retrieve: a clear error naming the node, and no study in the
cache that looks complete (no study folder, no partial folder left)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.pacs.orthanc_server import ORTHANC_AET, Orthanc
from viewer.pacs.cache import StudyCache
from viewer.pacs.errors import RetrieveFailedError
from viewer.pacs.nodes import LocalAE, PacsNode
from viewer.pacs.retrieve import RetrieveProgress, retrieve_study

N_SLICES = 40  # 512 x 512: 20 MB, more than the loopback buffers hold


def _big_series(folder: Path) -> tuple[str, list[Path]]:
    from inference.synth.dicom_writer import SeriesSpec, write_series

    spec = SeriesSpec(patient_name="SYNTHETIC^CUT", patient_id="CUT-1", uid_seed="ichview-pacs-cut")
    hu = np.random.default_rng(0).integers(-1000, 1000, (N_SLICES, 512, 512)).astype(np.float32)
    paths = write_series(hu, folder, spec)
    import pydicom

    return str(pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID), paths


@pytest.mark.parametrize("method", ["cget", "wado"])
def test_orthanc_stopped_mid_retrieve(tmp_path: Path, method: str) -> None:
    server = Orthanc(tmp_path / "orthanc").start()
    try:
        study_uid, files = _big_series(tmp_path / "big")
        server.upload(files)
        node = PacsNode("stopped-pacs", ORTHANC_AET, "127.0.0.1", server.dicom_port, dicomweb_url=server.dicomweb_url, timeout_s=5)
        cache = StudyCache(tmp_path / "cache", 10**9)
        gen = retrieve_study(node, LocalAE("ICHVIEW_T", 11112), study_uid, cache, method=method)
        first = next(gen)
        assert isinstance(first, RetrieveProgress) and first.done < N_SLICES
        server.kill()
        with pytest.raises(RetrieveFailedError) as info:
            for _ in gen:
                pass
    finally:
        server.stop()
    message = str(info.value)
    assert "stopped-pacs" in message and ("discarded" in message or "nothing was kept" in message)
    assert "SYNTHETIC" not in message
    assert cache.complete(study_uid) is None
    assert not any(cache.studies.iterdir())  # no partial folder either
