"""A real Orthanc for the PACS tests: its own temporary configuration, storage and free loopback
ports, started and stopped by the tests (no server is left running).

When the `Orthanc` binary is missing it is installed with apt-get (Debian packages `orthanc` and
`orthanc-dicomweb`) when running as root, as CI does; otherwise the start fails with a message
naming the packages. It never skips.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("orthanc", "orthanc-dicomweb")
DICOMWEB_PLUGIN_DIRS = ("/usr/share/orthanc/plugins", "/usr/lib/orthanc")
ORTHANC_AET = "ORTHANC"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def orthanc_binary() -> str:
    """The Orthanc executable, installed first when missing and we are root."""
    found = shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/bin")
    if found and _plugin():
        return found
    if os.geteuid() != 0:
        raise RuntimeError(
            "the PACS tests need a real Orthanc: install the Debian packages "
            f"{' and '.join(PACKAGES)} (sudo apt-get install -y {' '.join(PACKAGES)})"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True, env=env, capture_output=True)
    found = shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/bin")
    if not found or not _plugin():
        raise RuntimeError(f"apt-get installed {' '.join(PACKAGES)} but Orthanc or its DICOMweb plugin is missing")
    return found


def _plugin() -> str:
    for folder in DICOMWEB_PLUGIN_DIRS:
        p = Path(folder)
        if p.is_dir():
            for f in sorted(p.glob("libOrthancDicomWeb.so*")):
                return str(f)
    return ""


@dataclass
class Orthanc:
    """One running Orthanc; `modalities` maps a name to (AE title, port) of our own SCPs on 127.0.0.1."""

    workdir: Path
    modalities: dict[str, tuple[str, int]] = field(default_factory=dict)
    max_pdu: int = 16384
    dicom_port: int = 0
    http_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def config(self) -> dict[str, object]:
        return {
            "Name": "ichview-test",
            "StorageDirectory": str(self.workdir / "db"),
            "IndexDirectory": str(self.workdir / "db"),
            "StorageCompression": False,
            "HttpServerEnabled": True,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": ORTHANC_AET,
            "DicomPort": self.dicom_port,
            "DicomCheckCalledAet": False,
            "DicomCheckModalityHost": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomModalities": {name: [aet, "127.0.0.1", port] for name, (aet, port) in self.modalities.items()},
            "MaximumPduLength": self.max_pdu,
            "DicomScuTimeout": 10,
            "DicomScpTimeout": 30,
            "StableAge": 1,
            "SaveJobs": False,
            "ConcurrentJobs": 2,
            "HttpThreadsCount": 8,
            "Plugins": [_plugin()],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "Host": "127.0.0.1"},
        }

    def start(self, timeout_s: float = 30.0) -> Orthanc:
        binary = orthanc_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.dicom_port = self.dicom_port or free_port()
        self.http_port = self.http_port or free_port()
        cfg = self.workdir / "orthanc.json"
        cfg.write_text(json.dumps(self.config(), indent=2))
        log = open(self.workdir / "orthanc.log", "wb")
        self.process = subprocess.Popen([binary, str(cfg)], stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start-up: {(self.workdir / 'orthanc.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/system", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("Orthanc did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop at once (as a crash or a pulled cable would)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    # A few REST helpers for checks (the code under test never uses REST).
    def rest(self, path: str, data: bytes | None = None, method: str | None = None) -> object:
        req = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def upload(self, files: list[Path]) -> None:
        for f in files:
            self.rest("/instances", f.read_bytes(), "POST")

    def study_instances(self, study_uid: str) -> list[dict[str, object]]:
        ids = self.rest("/tools/lookup", study_uid.encode(), "POST")
        studies = [i for i in ids if i["Type"] == "Study"]  # type: ignore[union-attr,index]
        if not studies:
            return []
        return self.rest(f"/studies/{studies[0]['ID']}/instances?expand")  # type: ignore[return-value]

    def clear(self) -> None:
        for pid in self.rest("/patients"):  # type: ignore[union-attr]
            self.rest(f"/patients/{pid}", method="DELETE")
