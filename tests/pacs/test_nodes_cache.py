"""PACS settings (nodes, our AE title and port) and the retrieve cache, without a network."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from viewer.pacs.cache import StudyCache
from viewer.pacs.errors import CacheError, NodeConfigError
from viewer.pacs.nodes import ListenConfig, LocalAE, PacsConfig, PacsNode, load_config, save_config


def test_settings_round_trip_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "pacs.json"
    assert load_config(path) == PacsConfig()  # no file: defaults, no nodes
    config = PacsConfig(
        local=LocalAE("ICHVIEW2", 11113),
        nodes=(PacsNode("main", "ORTHANC", "pacs.local", 4242, "http://pacs.local:8042/dicom-web", 12.0),),
        listen=ListenConfig(("CT_SCANNER",), 5.0, "main"),
        cache_limit_mb=100,
    )
    save_config(config, path)
    assert load_config(path) == config
    assert config.node("main").describe() == "main (ORTHANC@pacs.local:4242)"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"local": {"ae_title": "THIS-TITLE-IS-TOO-LONG"}}, "not a valid AE title"),
        ({"nodes": [{"name": "a", "ae_title": "A\\B", "host": "h", "port": 1}]}, "not a valid AE title"),
        ({"nodes": [{"name": "a", "ae_title": "A", "host": "h", "port": 70000}]}, "port 70000"),
        ({"nodes": [{"name": "a", "ae_title": "A", "host": "h", "port": 1, "colour": "red"}]}, "unexpected"),
        ({"listen": {"send_to": "nowhere"}}, "no PACS node named 'nowhere'"),
    ],
)
def test_bad_settings_name_the_field(tmp_path: Path, data: dict, message: str) -> None:
    path = tmp_path / "pacs.json"
    path.write_text(json.dumps(data))
    with pytest.raises(NodeConfigError, match=message):
        load_config(path)


def test_not_json_says_so(tmp_path: Path) -> None:
    path = tmp_path / "pacs.json"
    path.write_text("{nodes: ")
    with pytest.raises(NodeConfigError, match="not valid JSON"):
        load_config(path)


def _fake_study(cache: StudyCache, uid: str, size: int) -> Path:
    partial = cache.start(uid)
    (partial / "a.dcm").write_bytes(b"x" * size)
    return cache.commit(uid, partial)


def test_cache_keeps_its_limit_by_evicting_the_least_recently_used(tmp_path: Path) -> None:
    cache = StudyCache(tmp_path / "cache", 2500)
    a = _fake_study(cache, "1.2.3", 1000)
    old = time.time() - 100
    os.utime(a, (old, old))
    b = _fake_study(cache, "1.2.4", 1000)
    c = _fake_study(cache, "1.2.5", 1000)  # over the limit: the oldest (a) goes
    assert not a.exists() and b.exists() and c.exists()
    assert cache.complete("1.2.3") is None and cache.complete("1.2.5") == c
    assert "1.2.5" not in str(c)  # folder names are hashes, not UIDs
    assert cache.clear() >= 2000 and cache.size_bytes() == 0


def test_a_study_over_the_limit_is_refused_with_the_fix(tmp_path: Path) -> None:
    cache = StudyCache(tmp_path / "cache", 10)
    partial = cache.start("1.2.3")
    with pytest.raises(CacheError, match="cache.limit_mb"):
        cache.check_room(partial, 11)
    cache.discard(partial)
    assert not any(cache.studies.iterdir())
