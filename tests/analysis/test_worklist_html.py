"""The triage worklist page in a real headless browser (Debian's Chromium, installed by the test
when missing and running as root, as CI does; otherwise it fails naming the package: never skips)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from viewer.analysis.triage import STATUS_ANALYSED, STATUS_FAILED, STATUS_NOT_ANALYSED, TriageEntry
from viewer.analysis.worklist import write_worklist


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("the worklist page test needs a headless browser: sudo apt-get install -y chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, capture_output=True)
    found = shutil.which("chromium")
    if not found:
        raise RuntimeError("apt-get installed chromium but no chromium executable was found")
    return found


def _row(study_id: str, **kw) -> TriageEntry:  # noqa: ANN003
    base = dict(
        study_id=study_id, patient_id=f"PID-{study_id}", patient_name=f"SYNTHETIC^{study_id.upper()}",
        study_uid=f"1.2.3.{len(study_id)}", study_date="20260101", accession=f"A{study_id}", description="CT HEAD",
        status=STATUS_ANALYSED, verdict="No hemorrhage detected", suspected=False, max_any=0.1, max_any_slice=2,
        blood_ml=0.0, volumes_ml={"IPH": 0.0, "EAH": 0.0, "oedema": 0.0, "IVH": 0.0}, second_reader=True, readers=(),
        disagreement="", not_analysed=(), reason="", files={}, input_sha256="0" * 64, models_sha256=(), n_slices=5,
    )
    base.update(kw)
    return TriageEntry(**base)


def test_the_worklist_page_shows_the_rows_in_a_headless_browser(tmp_path: Path, artifacts_dir: Path) -> None:
    from PIL import Image

    out = tmp_path / "triage"
    (out / "studies" / "bleed").mkdir(parents=True)
    Image.new("RGB", (64, 64), (200, 40, 40)).save(out / "studies" / "bleed" / "key.png")
    rows = [
        _row("clean", max_any=0.2),
        _row("bleed", status=STATUS_ANALYSED, verdict="Hemorrhage suspected", suspected=True, max_any=0.97,
             blood_ml=12.5, volumes_ml={"IPH": 12.5, "EAH": 0.0, "oedema": 1.0, "IVH": 0.0},
             files={"thumbnail": "studies/bleed/key.png"}),
        _row("mr", status=STATUS_NOT_ANALYSED, verdict="Not analysed", suspected=None, max_any=None,
             not_analysed=("T2 AXIAL: Modality MR: the model analyses CT only",)),
        _row("broken", status=STATUS_FAILED, verdict="", suspected=None, max_any=None, reason="OSError: disk gone"),
    ]
    write_worklist(rows, out)
    browser = _chromium()
    page = (out / "worklist.html").resolve().as_uri()
    common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *common, "--dump-dom", page], capture_output=True, text=True, timeout=120, check=True).stdout
    body = dom[dom.index("<tbody>"):dom.index("</tbody>")]
    order = [body.index(f"PID-{s}") for s in ("bleed", "clean", "mr", "broken")]
    assert order == sorted(order), "suspected first, then negative, then not analysed, then failed"
    assert body.count("<tr") == 4 and "Hemorrhage suspected" in body and "IPH 12.5" in body
    assert "Modality MR" in body and "disk gone" in body and body.count("data:image/png;base64,") == 1
    shot = tmp_path / "worklist.png"
    subprocess.run([browser, *common, f"--screenshot={shot}", "--window-size=1400,700", page],
                   capture_output=True, timeout=120, check=True)
    import numpy as np

    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape[:2] == (700, 1400)
    reds = int(((image[..., 0] > 180) & (image[..., 1] < 70) & (image[..., 2] < 70)).sum())
    assert reds > 500, "the key-slice thumbnail is drawn on the page"
    shutil.copy(shot, artifacts_dir / "worklist_html.png")
