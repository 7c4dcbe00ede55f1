"""PACS nodes and our own DICOM identity: frozen dataclasses, read from and written to one JSON file.

The file (default `$XDG_CONFIG_HOME/ichview/pacs.json`, `ICHVIEW_PACS_CONFIG` overrides) holds:

    {"local": {"ae_title": "ICHVIEW", "port": 11112, "host": "0.0.0.0"},
     "nodes": [{"name": "main", "ae_title": "ORTHANC", "host": "pacs.example", "port": 4242,
                "dicomweb_url": "http://pacs.example:8042/dicom-web", "timeout_s": 30}],
     "listen": {"allowed_callers": ["CT_SCANNER"], "quiet_period_s": 10, "send_to": "main"},
     "cache": {"folder": "", "limit_mb": 20000}}

Every field is checked when read (AE titles: 1-16 characters of printable ASCII without a
backslash; ports 1-65535); a bad file raises NodeConfigError naming the field and the fix.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from viewer.core.atomic import write_bytes_atomic
from viewer.pacs.errors import NodeConfigError

DEFAULT_AE_TITLE = "ICHVIEW"
DEFAULT_PORT = 11112
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CACHE_LIMIT_MB = 20_000


def check_ae_title(value: object, where: str) -> str:
    """The AE title stripped, or NodeConfigError naming `where`."""
    if not isinstance(value, str):
        raise NodeConfigError(f"{where}: an AE title must be text, got {type(value).__name__}")
    title = value.strip()
    if not 1 <= len(title) <= 16 or "\\" in title or not all(32 <= ord(c) < 127 for c in title):
        raise NodeConfigError(
            f"{where}: {value!r} is not a valid AE title (1-16 printable ASCII characters, no backslash)"
        )
    return title


def check_port(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise NodeConfigError(f"{where}: port {value!r} is not a number from 1 to 65535")
    return value


@dataclass(frozen=True)
class PacsNode:
    """A remote DICOM node: DIMSE address and, optionally, its DICOMweb base URL (…/dicom-web)."""

    name: str
    ae_title: str
    host: str
    port: int
    dicomweb_url: str = ""
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        where = f"node {self.name!r}"
        if not self.name.strip():
            raise NodeConfigError("a node needs a name (used by --send NODE and in messages)")
        object.__setattr__(self, "ae_title", check_ae_title(self.ae_title, where))
        object.__setattr__(self, "port", check_port(self.port, where))
        if not self.host.strip():
            raise NodeConfigError(f"{where}: host is empty (give a host name or IP address)")
        if self.dicomweb_url and not self.dicomweb_url.startswith(("http://", "https://")):
            raise NodeConfigError(f"{where}: dicomweb_url must start with http:// or https://")
        if not self.timeout_s > 0:
            raise NodeConfigError(f"{where}: timeout_s must be positive")

    def describe(self) -> str:
        """'name (AE@host:port)' for messages: no patient data."""
        return f"{self.name} ({self.ae_title}@{self.host}:{self.port})"


@dataclass(frozen=True)
class LocalAE:
    """Our own identity: the AE title we call with and listen as, and the port our storage SCP uses."""

    ae_title: str = DEFAULT_AE_TITLE
    port: int = DEFAULT_PORT
    host: str = "0.0.0.0"  # where the storage SCP binds

    def __post_init__(self) -> None:
        object.__setattr__(self, "ae_title", check_ae_title(self.ae_title, "local"))
        object.__setattr__(self, "port", check_port(self.port, "local"))


@dataclass(frozen=True)
class ListenConfig:
    """`ichview listen`: who may push, when a study counts as complete, where results go."""

    allowed_callers: tuple[str, ...] = ()  # calling AE titles accepted; empty: nobody
    quiet_period_s: float = 10.0
    send_to: str = ""  # node name; "" keeps results local only


@dataclass(frozen=True)
class PacsConfig:
    """The whole PACS settings file."""

    local: LocalAE = field(default_factory=LocalAE)
    nodes: tuple[PacsNode, ...] = ()
    listen: ListenConfig = field(default_factory=ListenConfig)
    cache_folder: str = ""  # "" -> default_cache_dir()
    cache_limit_mb: int = DEFAULT_CACHE_LIMIT_MB

    def node(self, name: str) -> PacsNode:
        """The node called `name`, or NodeConfigError listing the known names."""
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes) or "none configured"
        raise NodeConfigError(f"no PACS node named {name!r} (known: {known}); add it to {default_config_path()}")


def default_config_path() -> Path:
    override = os.environ.get("ICHVIEW_PACS_CONFIG")
    if override:
        return Path(override)
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "ichview" / "pacs.json"


def default_cache_dir() -> Path:
    """Per-user cache of retrieved studies (ICHVIEW_CACHE_DIR overrides)."""
    override = os.environ.get("ICHVIEW_CACHE_DIR")
    if override:
        return Path(override) / "pacs"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ichview" / "pacs"


def _obj(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise NodeConfigError(f"{key!r} must be an object")
    return value


def config_from_dict(data: Any) -> PacsConfig:
    """Build and check a PacsConfig from parsed JSON (NodeConfigError on anything wrong)."""
    if not isinstance(data, dict):
        raise NodeConfigError("the PACS settings must be a JSON object")
    try:
        local = LocalAE(**_obj(data, "local"))
        raw_nodes = data.get("nodes", [])
        if not isinstance(raw_nodes, list):
            raise NodeConfigError("'nodes' must be a list")
        nodes = tuple(PacsNode(**n) for n in raw_nodes)
        listen_raw = _obj(data, "listen")
        listen = ListenConfig(
            allowed_callers=tuple(
                check_ae_title(t, "listen.allowed_callers") for t in listen_raw.get("allowed_callers", [])
            ),
            quiet_period_s=float(listen_raw.get("quiet_period_s", 10.0)),
            send_to=str(listen_raw.get("send_to", "")),
        )
        cache = _obj(data, "cache")
        config = PacsConfig(
            local=local,
            nodes=nodes,
            listen=listen,
            cache_folder=str(cache.get("folder", "")),
            cache_limit_mb=int(cache.get("limit_mb", DEFAULT_CACHE_LIMIT_MB)),
        )
    except TypeError as exc:  # unknown or missing keys
        raise NodeConfigError(f"unexpected or missing field: {exc}") from exc
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise NodeConfigError("two nodes share a name; names must be unique")
    if config.listen.send_to:
        config.node(config.listen.send_to)
    if config.cache_limit_mb < 1:
        raise NodeConfigError("cache.limit_mb must be at least 1")
    return config


def config_to_dict(config: PacsConfig) -> dict[str, Any]:
    return {
        "local": asdict(config.local),
        "nodes": [asdict(n) for n in config.nodes],
        "listen": {
            "allowed_callers": list(config.listen.allowed_callers),
            "quiet_period_s": config.listen.quiet_period_s,
            "send_to": config.listen.send_to,
        },
        "cache": {"folder": config.cache_folder, "limit_mb": config.cache_limit_mb},
    }


def load_config(path: Path | None = None) -> PacsConfig:
    """Read the settings file; a missing file gives the defaults (no nodes)."""
    target = path or default_config_path()
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return PacsConfig()
    except OSError as exc:
        raise NodeConfigError(f"{target}: cannot read the PACS settings ({exc.strerror})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NodeConfigError(f"{target}: not valid JSON (line {exc.lineno}: {exc.msg}); fix or delete the file") from exc
    try:
        return config_from_dict(data)
    except NodeConfigError as exc:
        raise NodeConfigError(f"{target}: {exc}") from exc


def save_config(config: PacsConfig, path: Path | None = None) -> Path:
    """Write the settings file atomically (the folder is created)."""
    target = path or default_config_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(target, json.dumps(config_to_dict(config), indent=2).encode("utf-8"))
