"""Desktop integration files and their installer: what a Linux desktop reads to list and open ichview."""
from __future__ import annotations

import configparser
import importlib.util
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
DESKTOP_DIR = REPO / "resources" / "desktop"
ICONS_DIR = REPO / "resources" / "icons"
INSTALLER = REPO / "packaging" / "install_desktop.py"
SIZES = (16, 32, 48, 64, 128, 256, 512)
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


def load_installer() -> ModuleType:
    """packaging/install_desktop.py as a module (packaging/ is not a package: it would shadow pip's)."""
    spec = importlib.util.spec_from_file_location("ichview_install_desktop", INSTALLER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read_desktop(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header (signature, then the IHDR chunk)."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_desktop_file_launches_ichview_with_files_and_lists_the_types() -> None:
    entry = read_desktop(DESKTOP_DIR / "ichview.desktop")
    for key in ("Type", "Name", "GenericName", "Comment", "Exec", "Icon", "Categories", "MimeType", "Terminal"):
        assert entry.get(key), f"missing {key}"
    assert entry["Type"] == "Application"
    assert entry["Terminal"] == "false"
    assert entry["Icon"] == "ichview"
    exec_words = entry["Exec"].split()
    assert exec_words[0] == "ichview" and exec_words[-1] == "%F"
    mime_types = entry["MimeType"].split(";")
    assert entry["MimeType"].endswith(";")
    assert "application/dicom" in mime_types and "inode/directory" in mime_types
    categories = entry["Categories"].split(";")
    assert entry["Categories"].endswith(";")
    # a main category (so menus place it) and the additional one that says what it is
    assert {"Science", "Graphics"} & set(categories) and "MedicalSoftware" in categories


def test_metainfo_names_the_desktop_file_the_binary_and_this_version() -> None:
    root = ET.parse(DESKTOP_DIR / "io.github.ichview.ichview.metainfo.xml").getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == "io.github.ichview.ichview"
    for tag in ("name", "summary", "metadata_license", "project_license"):
        assert (root.findtext(tag) or "").strip(), f"missing <{tag}>"
    assert root.find("description/p") is not None
    launchable = root.find("launchable")
    assert launchable is not None and launchable.get("type") == "desktop-id"
    assert launchable.text == "ichview.desktop" and (DESKTOP_DIR / launchable.text).is_file()
    assert root.findtext("provides/binary") == "ichview"
    assert root.findtext("provides/mediatype") == "application/dicom"
    releases = [r.get("version") for r in root.findall("releases/release")]
    assert version("ichview") in releases, "add a <release> for the version in pyproject.toml"


def test_mime_package_maps_dcm_and_the_dicm_preamble_to_application_dicom() -> None:
    root = ET.parse(DESKTOP_DIR / "ichview-dicom.xml").getroot()
    assert root.tag == f"{MIME_NS}mime-info"
    (mime_type,) = root.findall(f"{MIME_NS}mime-type")
    assert mime_type.get("type") == "application/dicom"
    assert "*.dcm" in [g.get("pattern") for g in mime_type.findall(f"{MIME_NS}glob")]
    match = mime_type.find(f"{MIME_NS}magic/{MIME_NS}match")
    assert match is not None and (match.get("value"), match.get("offset")) == ("DICM", "128")


def test_icon_pngs_have_their_sizes_and_show_a_picture_on_a_transparent_corner() -> None:
    from PySide6 import QtGui

    assert ET.parse(ICONS_DIR / "ichview.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    for size in SIZES:
        path = ICONS_DIR / "hicolor" / f"{size}x{size}" / "apps" / "ichview.png"
        assert png_size(path) == (size, size), path
        image = QtGui.QImage(str(path))
        assert not image.isNull() and image.hasAlphaChannel()
        assert image.pixelColor(0, 0).alpha() == 0, "rounded tile: corners are transparent"
        assert image.pixelColor(size // 2, size // 2).alpha() == 255
        colours = {image.pixel(x, y) for x in range(0, size, max(1, size // 16)) for y in range(0, size, max(1, size // 16))}
        assert len(colours) > 8, f"{path} looks blank"


def test_exec_quoting_follows_the_desktop_entry_spec() -> None:
    installer = load_installer()
    assert installer.desktop_exec_quote(Path("/opt/ichview/ichview")) == "/opt/ichview/ichview"
    assert installer.desktop_exec_quote(Path("/home/a b/ichview")) == '"/home/a b/ichview"'
    assert installer.desktop_exec_quote(Path('/x/$q"/ichview')) == '"/x/\\$q\\"/ichview"'


def test_data_home_follows_xdg_with_a_fallback_for_unset_or_relative() -> None:
    installer = load_installer()
    home_share = Path.home() / ".local" / "share"
    assert installer.default_data_home({"XDG_DATA_HOME": "/srv/share"}) == Path("/srv/share")
    assert installer.default_data_home({}) == home_share
    assert installer.default_data_home({"XDG_DATA_HOME": ""}) == home_share
    assert installer.default_data_home({"XDG_DATA_HOME": "rel/share"}) == home_share


def _run_installer(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(INSTALLER), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_install_puts_files_under_xdg_data_home_and_uninstall_removes_them(tmp_path: Path) -> None:
    data_home = tmp_path / "share"
    home = tmp_path / "home"
    home.mkdir()
    exe = tmp_path / "my apps" / "ichview"  # a space: Exec must quote it
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    env = {**os.environ, "XDG_DATA_HOME": str(data_home), "HOME": str(home)}

    done = _run_installer(["--exec", str(exe)], env)
    assert done.returncode == 0, done.stderr

    desktop = data_home / "applications" / "ichview.desktop"
    entry = read_desktop(desktop)
    assert entry["Exec"] == f'"{exe}" %F'
    assert entry["TryExec"] == str(exe)
    assert entry["MimeType"] == read_desktop(DESKTOP_DIR / "ichview.desktop")["MimeType"]
    copies = {
        data_home / "metainfo" / "io.github.ichview.ichview.metainfo.xml": DESKTOP_DIR / "io.github.ichview.ichview.metainfo.xml",
        data_home / "mime" / "packages" / "ichview-dicom.xml": DESKTOP_DIR / "ichview-dicom.xml",
        data_home / "icons" / "hicolor" / "scalable" / "apps" / "ichview.svg": ICONS_DIR / "ichview.svg",
    }
    for size in SIZES:
        rel = Path("hicolor") / f"{size}x{size}" / "apps" / "ichview.png"
        copies[data_home / "icons" / rel] = ICONS_DIR / rel
    for installed, source in copies.items():
        assert installed.read_bytes() == source.read_bytes(), installed
    assert list(home.iterdir()) == [], "nothing may be written outside XDG_DATA_HOME"
    if (data_home / "mime" / "globs2").exists():  # update-mime-database ran: .dcm resolves to DICOM
        assert "application/dicom:*.dcm" in (data_home / "mime" / "globs2").read_text()

    again = _run_installer(["--exec", str(exe)], env)  # re-installing over itself is fine
    assert again.returncode == 0, again.stderr

    gone = _run_installer(["--uninstall"], env)
    assert gone.returncode == 0, gone.stderr
    assert not desktop.exists()
    for installed in copies:
        assert not installed.exists(), installed
    leftovers = [p for p in data_home.rglob("*") if p.is_file() and "ichview" in p.name]
    assert leftovers == []
    assert exe.exists(), "uninstalling the desktop entry never deletes the program"


def test_install_refuses_a_missing_executable_and_writes_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "share"), "HOME": str(tmp_path)}
    done = _run_installer(["--exec", str(tmp_path / "nope" / "ichview")], env)
    assert done.returncode == 1
    assert "--exec" in done.stderr
    assert not (tmp_path / "share").exists()
