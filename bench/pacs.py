"""PACS retrieve benchmark: a 300-slice study (512 x 512, uncompressed, ~157 MB) from a local Orthanc.

    .venv/bin/python bench/pacs.py [--slices N] [--repeat N] [--pdu BYTES]

Starts its own Orthanc (tests/pacs/orthanc_server.py: temporary configuration, storage and loopback
ports; stopped at the end), stores the study, then retrieves it, best of --repeat, interleaved:
- ichview C-GET (viewer.pacs.retrieve, pynetdicom) into the cache (.partial folder, renamed at the end);
- ichview WADO-RS (urllib, multipart split as it arrives) into the cache;
- dcmtk getscu (C-GET, C++) into a folder, the same presentation-context defaults otherwise;
- Orthanc's REST archive download (GET /studies/{id}/archive, a ZIP) into a file.
Prints seconds, MB/s and each time as a ratio to the fastest (goal: ichview within 1.5x).
Orthanc's MaximumPduLength (--pdu) applies to C-GET both for us and getscu.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.pacs.orthanc_server import ORTHANC_AET, Orthanc  # noqa: E402
from viewer.pacs.cache import StudyCache  # noqa: E402
from viewer.pacs.nodes import LocalAE, PacsNode  # noqa: E402
from viewer.pacs.retrieve import RetrieveDone, retrieve_study  # noqa: E402


def write_study(folder: Path, n: int) -> tuple[str, list[Path]]:
    from inference.synth.dicom_writer import SeriesSpec, write_series

    spec = SeriesSpec(uid_seed="ichview-bench-pacs", slice_thickness_mm=0.625, slice_step_mm=0.625,
                      series_description="SYNTHETIC BENCH 0.625")
    rng = np.random.default_rng(0)
    base = rng.integers(-1000, 1500, (8, 512, 512)).astype(np.float32)
    hu = base[np.arange(n) % 8]
    paths = write_series(hu, folder, spec)
    import pydicom

    return str(pydicom.dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID), paths


def ours(node: PacsNode, study_uid: str, work: Path, method: str) -> int:
    cache = StudyCache(work / f"cache-{method}", 10**10)
    done = [e for e in retrieve_study(node, LocalAE("ICHVIEW_B", 11112), study_uid, cache, method=method, refresh=True)
            if isinstance(e, RetrieveDone)][-1]
    n = done.n_instances
    cache.clear()
    return n


def getscu(node: PacsNode, study_uid: str, work: Path) -> int:
    out = work / "getscu"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    subprocess.run(["getscu", "-S", "-aet", "ICHVIEW_B", "-aec", node.ae_title, node.host, str(node.port),
                    "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study_uid}", "-od", str(out)],
                   check=True, capture_output=True)
    n = len(list(out.iterdir()))
    shutil.rmtree(out)
    return n


def archive(server: Orthanc, study_uid: str, work: Path) -> int:
    sid = next(i["ID"] for i in server.rest("/tools/lookup", study_uid.encode(), "POST") if i["Type"] == "Study")  # type: ignore[union-attr,index]
    target = work / "archive.zip"
    with urllib.request.urlopen(f"{server.url}/studies/{sid}/archive", timeout=300) as r, open(target, "wb") as fh:
        shutil.copyfileobj(r, fh, 1 << 20)
    import zipfile

    n = len(zipfile.ZipFile(target).namelist())
    target.unlink()
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pdu", type=int, default=16384, help="Orthanc's MaximumPduLength (its default 16384)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ichview-bench-pacs-") as tmp:
        work = Path(tmp)
        study_uid, files = write_study(work / "study", args.slices)
        mb = sum(p.stat().st_size for p in files) / 1e6
        server = Orthanc(work / "orthanc", max_pdu=args.pdu).start()
        try:
            server.upload(files)
            node = PacsNode("bench", ORTHANC_AET, "127.0.0.1", server.dicom_port, dicomweb_url=server.dicomweb_url,
                            timeout_s=60)
            runs = {
                "ichview C-GET": lambda: ours(node, study_uid, work, "cget"),
                "ichview WADO-RS": lambda: ours(node, study_uid, work, "wado"),
                "dcmtk getscu (C-GET)": lambda: getscu(node, study_uid, work),
                "Orthanc REST archive (ZIP)": lambda: archive(server, study_uid, work),
            }
            best = {name: float("inf") for name in runs}
            for name, run in runs.items():  # warm-up: Orthanc's and the OS's caches
                run()
            for _ in range(args.repeat):
                for name, run in runs.items():
                    t0 = time.perf_counter()
                    n = run()
                    best[name] = min(best[name], time.perf_counter() - t0)
                    assert n == args.slices, f"{name}: {n} instances"
        finally:
            server.stop()
    fastest = min(best.values())
    print(f"{args.slices} slices, {mb:.0f} MB, Orthanc MaximumPduLength {args.pdu}, best of {args.repeat}")
    for name, seconds in best.items():
        print(f"  {name:<28} {seconds:6.2f} s  {mb / seconds:6.0f} MB/s  {seconds / fastest:5.2f}x the fastest")
    for name in ("ichview C-GET", "ichview WADO-RS"):
        ratio = best[name] / fastest
        print(f"{name}: {ratio:.2f}x the fastest -> goal (<= 1.5x) {'met' if ratio <= 1.5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
