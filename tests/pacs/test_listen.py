"""`ichview listen` against a real Orthanc: Orthanc pushes a CT study to the listener (C-STORE), the
listener waits for the quiet period, analyses it and sends the SR and key images back, where a
query finds them; a caller that is not allowed is refused; nothing printed names the patient."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.cli.analyze_inputs import write_test_weights
from tests.pacs.conftest import LISTEN_AET, store_ct_study
from tests.pacs.orthanc_server import Orthanc
from viewer.pacs.echo import echo
from viewer.pacs.errors import AssociationRejectedError, PacsError
from viewer.pacs.nodes import LocalAE, PacsNode
from viewer.pacs.query import find_series


def _wait_for_listener(node: PacsNode, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            echo(node, LocalAE("ORTHANC", 11112))
            return
        except PacsError:
            time.sleep(0.2)
    raise AssertionError("ichview listen did not start within 60 s")


def test_a_pushed_study_comes_back_as_results(
    orthanc: Orthanc, node: PacsNode, local: LocalAE, ports: dict[str, int], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from viewer.cli.listen import main as listen_main

    stored_study = store_ct_study(orthanc, tmp_path / "ct", 72)
    before = {s.series_uid for s in find_series(node, local, stored_study)}
    config = tmp_path / "pacs.json"
    config.write_text(json.dumps({
        "local": {"ae_title": LISTEN_AET, "port": ports["listen"], "host": "127.0.0.1"},
        "nodes": [{"name": "orthanc", "ae_title": node.ae_title, "host": node.host, "port": node.port, "timeout_s": 10}],
        "listen": {"allowed_callers": ["ORTHANC"], "quiet_period_s": 1.0, "send_to": "orthanc"},
        "cache": {"folder": str(tmp_path / "cache"), "limit_mb": 500},
    }))
    weights = write_test_weights(tmp_path / "w.safetensors", threshold=0.0)
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(listen_main([
        "--config", str(config), "--max-studies", "1", "--second-reader", "off", "--weights", str(weights),
        "--device", "cpu", "--threads", "1"])), daemon=True)
    runner.start()
    listener = PacsNode("listener", LISTEN_AET, "127.0.0.1", ports["listen"], timeout_s=5)
    _wait_for_listener(listener)
    with pytest.raises(AssociationRejectedError):
        echo(listener, LocalAE("INTRUDER", 11112))
    # Orthanc pushes the study to the listener (a real C-STORE from the PACS).
    orthanc_id = next(i["ID"] for i in orthanc.rest("/tools/lookup", stored_study.encode(), "POST") if i["Type"] == "Study")  # type: ignore[union-attr, index]
    orthanc.rest("/modalities/listener/store", json.dumps({"Resources": [orthanc_id], "Synchronous": True}).encode(), "POST")
    runner.join(timeout=60)
    assert not runner.is_alive() and codes == [0]
    out = capsys.readouterr().out
    assert "analysed, " in out and "sent " in out and "to orthanc" in out
    assert "SYNTHETIC" not in out and "OTHER72" not in out and "PACS-72" not in out
    new = [s for s in find_series(node, local, stored_study) if s.series_uid not in before]
    assert sorted(s.modality for s in new) == ["OT", "SR"]  # key images (Secondary Capture) and the SR
    assert not list((tmp_path / "cache" / "incoming").iterdir())  # received images do not pile up
