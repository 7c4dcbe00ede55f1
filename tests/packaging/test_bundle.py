"""The PyInstaller bundle (dist/ichview/) runs like the pip install: slow, run by `make test-package`.

Builds the bundle when it is missing or older than the sources (ICHVIEW_REBUILD_BUNDLE=1 forces a
build; ICHVIEW_REUSE_BUNDLE=1 takes the one in dist/ as it is), then runs the frozen executable as a user would, headless (QT_QPA_PLATFORM=offscreen), in a
throw-away HOME so no settings or logs of the person running the tests are touched.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "dist" / "ichview"
EXE = BUNDLE / "ichview"
INTERNAL = BUNDLE / "_internal"
SOURCES = ("viewer", "inference", "resources", "packaging", "pyproject.toml")
SMOKE_RE = re.compile(
    r"ichview-smoke: loaded slices=(\d+) shape=(\S+) dtype=(\S+) hu_min=(\S+) hu_max=(\S+) hu_sha256=(\w+) "
    r"codecs=(\S+) pylibjpeg_syntaxes=(\S+) ai=(\S+)"
)


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in SOURCES:
        root = REPO / name
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        newest = max([newest] + [p.stat().st_mtime for p in paths])
    return newest


@pytest.fixture(scope="module")
def bundle() -> Path:
    """dist/ichview, built now unless an up-to-date one exists."""
    fresh = EXE.is_file() and (
        os.environ.get("ICHVIEW_REUSE_BUNDLE") == "1" or EXE.stat().st_mtime > _newest_source_mtime()
    )
    if os.environ.get("ICHVIEW_REBUILD_BUNDLE") == "1" or not fresh:
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", "dist",
             "--workpath", "build/pyinstaller", "packaging/ichview.spec"],
            cwd=REPO, capture_output=True, text=True, timeout=3300, check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        print(f"bundle built in {time.monotonic() - start:.0f} s")
    assert EXE.is_file() and os.access(EXE, os.X_OK)
    return BUNDLE


@pytest.fixture()
def user_env(tmp_path: Path) -> dict[str, str]:
    """A user's environment: a fresh HOME and XDG folders, headless Qt, no Python variables leaking in."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ICHVIEW_", "XDG_", "QT_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        QT_QPA_PLATFORM="offscreen",
        OMP_NUM_THREADS="2",
    )
    home.mkdir()
    return env


def run_bundle(args: list[str], env: dict[str, str], *, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], env=env, capture_output=True, text=True, timeout=timeout_s, check=False)


def run_venv(args: list[str], env: dict[str, str], *, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    """The same command from the source install, for comparison."""
    return subprocess.run([sys.executable, "-m", "viewer", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout_s, check=False)


def open_in_gui(command: list[str], folder: Path, env: dict[str, str], *, screenshot: Path | None = None,
                wait_for_ai: bool = False) -> re.Match[str]:
    """Start the viewer on `folder`; it quits by itself once the first series is shown (or analysed by
    the AI assist with `wait_for_ai`), see packaging/launch_ichview.py."""
    smoke_env = {**env, "ICHVIEW_SMOKE_EXIT_AFTER_LOAD_S": "240"}
    if screenshot is not None:
        smoke_env["ICHVIEW_SMOKE_SCREENSHOT"] = str(screenshot)
    if wait_for_ai:
        smoke_env["ICHVIEW_SMOKE_WAIT_FOR_AI"] = "1"
    done = subprocess.run([*command, str(folder)], env=smoke_env, cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, f"rc={done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    match = SMOKE_RE.search(done.stdout)
    assert match, done.stdout[-2000:]
    return match


def test_version_is_the_package_metadata_version(bundle: Path, user_env: dict[str, str]) -> None:
    done = run_bundle(["--version"], user_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"ichview {version('ichview')}"
    assert (INTERNAL / f"ichview-{version('ichview')}.dist-info" / "METADATA").is_file()


def test_info_from_the_bundle_prints_what_the_source_install_prints(bundle: Path, user_env: dict[str, str],
                                                                    real_data: Path) -> None:
    study = real_data / "ge_head_ct_tilted"
    frozen = run_bundle(["info", str(study)], user_env)
    assert frozen.returncode == 0, frozen.stderr
    assert "28 slices" in frozen.stdout and "tilt 18.5" in frozen.stdout
    source = run_venv(["info", str(study)], user_env)
    assert source.returncode == 0, source.stderr
    assert frozen.stdout == source.stdout


def test_gui_from_the_bundle_opens_a_study_and_exits_cleanly(bundle: Path, user_env: dict[str, str],
                                                             real_data: Path, artifacts_dir: Path) -> None:
    from PySide6 import QtGui

    study = real_data / "ge_head_ct_tilted"
    shot = artifacts_dir / "bundle_gui_ge_head_ct.png"
    shot.unlink(missing_ok=True)
    frozen = open_in_gui([str(EXE)], study, user_env, screenshot=shot, wait_for_ai=True)
    assert frozen.group(1) == "28" and frozen.group(2) == "28x512x512"
    assert frozen.group(9) == "finished", "the AI assist ran in the bundled viewer (torch + shipped model)"
    image = QtGui.QImage(str(shot))  # the window with the AI's results (look at it in test-artifacts/)
    assert not image.isNull() and image.width() > 400
    greys = {QtGui.qGray(image.pixel(x, y)) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(greys) > 64, "the window shows an image, not a blank canvas"
    home = Path(user_env["HOME"])
    log_text = (home / ".local" / "state" / "ichview" / "ichview.log").read_text(encoding="utf-8")
    assert f"ichview {version('ichview')} started" in log_text and "exited (0)" in log_text
    assert (home / ".config" / "ichview" / "ichview.ini").is_file(), "settings are saved on close"
    # the same pixels as the source install decodes (same HU array, byte for byte)
    source = open_in_gui([sys.executable, "packaging/launch_ichview.py"], study, user_env)
    assert frozen.group(2, 3, 6) == source.group(2, 3, 6)
    # every codec module of the source install imports in the bundle, and pylibjpeg finds its
    # plugins there (entry points need the plugins' metadata): JPEG Lossless .57/.70, JPEG 2000, RLE
    assert frozen.group(7, 8) == source.group(7, 8)
    assert {"libjpeg", "openjpeg", "rle", "jpeg_ls"} <= set(frozen.group(7).split(","))
    assert {"1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.90",
            "1.2.840.10008.1.2.5"} <= set(frozen.group(8).split(","))


def test_every_transfer_syntax_decodes_to_the_same_pixels_in_the_bundle(bundle: Path, user_env: dict[str, str],
                                                                        real_data: Path, tmp_path: Path) -> None:
    # one Siemens slice stored 9 ways (native, RLE, JPEG Lossless .70, JPEG-LS, JPEG 2000): pixel-identical
    digests = {}
    for source in sorted((real_data / "transfer_syntaxes").glob("*.dcm")):
        folder = tmp_path / source.stem
        folder.mkdir()
        shutil.copy2(source, folder / source.name)  # one file per folder: each opens as its own study
        match = open_in_gui([str(EXE)], folder, user_env)
        digests[source.name] = (match.group(2), match.group(6))
    assert len(digests) == 9
    assert set(digests.values()) == {digests["1.dcm"]}, digests


def test_analyze_from_the_bundle_uses_the_shipped_model_and_matches_the_source_install(
    bundle: Path, user_env: dict[str, str], real_data: Path, tmp_path: Path
) -> None:
    assert list((INTERNAL / "resources" / "model").glob("*.safetensors")), "the bundle ships the model"
    study = real_data / "ge_head_ct_tilted"
    out = {}
    for name, runner in (("frozen", run_bundle), ("source", run_venv)):
        pdf, js = tmp_path / f"{name}.pdf", tmp_path / f"{name}.json"
        done = runner(["analyze", str(study), "--pdf", str(pdf), "--json", str(js), "--device", "cpu", "--quiet"],
                      user_env, timeout_s=900)
        assert done.returncode == 0, done.stderr[-4000:]
        assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
        out[name] = json.loads(js.read_text(encoding="utf-8"))
    frozen, source = out["frozen"], out["source"]
    assert frozen["ichview_version"] == version("ichview")
    assert frozen["model"]["sha256"] == source["model"]["sha256"]
    p_frozen = [s["probabilities"] for s in frozen["series"][0]["slices"]]
    p_source = [s["probabilities"] for s in source["series"][0]["slices"]]
    assert len(p_frozen) == 28
    for a, b in zip(p_frozen, p_source):
        for label in a:
            assert abs(a[label] - b[label]) < 1e-4, (label, a[label], b[label])


def test_bundle_has_the_plugins_and_codecs_it_needs_and_nothing_it_does_not(bundle: Path) -> None:
    platforms = INTERNAL / "PySide6" / "Qt" / "plugins" / "platforms"
    present = {p.name for p in platforms.iterdir()}
    assert {"libqxcb.so", "libqoffscreen.so"} <= present
    import PySide6

    venv_platforms = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms"
    if (venv_platforms / "libqwayland.so").exists():
        assert "libqwayland.so" in present
    for dist in ("pylibjpeg_libjpeg", "pylibjpeg_openjpeg", "pylibjpeg_rle"):
        (info,) = INTERNAL.glob(f"{dist}-*.dist-info")
        assert "pylibjpeg.pixel_data_decoders" in (info / "entry_points.txt").read_text()
    # SimpleITK (GDCM) travels exactly when ichview's own code imports it (260 MB otherwise unused)
    uses_sitk = any(re.search(r"^\s*(import|from) SimpleITK", p.read_text(encoding="utf-8"), re.M)
                    for pkg in ("viewer", "inference") for p in (REPO / pkg).rglob("*.py"))
    assert bool(list(INTERNAL.rglob("_SimpleITK*.so"))) == uses_sitk
    assert (INTERNAL / "resources" / "fonts" / "DejaVuSans-LGC.ttf").is_file()
    assert (INTERNAL / "resources" / "icons" / "hicolor" / "256x256" / "apps" / "ichview.png").is_file()
    assert (BUNDLE / "install_desktop.py").is_file()
    unreadable = [p for p in BUNDLE.rglob("*") if not p.is_symlink() and not p.stat().st_mode & 0o004]
    assert unreadable == [], "every user of an installed copy can read it (model files included)"
    names = {p.name for p in INTERNAL.rglob("*")}
    unwanted = [n for n in names if re.match(
        r"(libQt6(WebEngine|Quick|Qml|3D|Multimedia|Pdf|Designer)|libtorch_cuda|libcudnn|libnccl|_tkinter|tcl|tk8|matplotlib)", n)]
    assert unwanted == []


def test_installer_inside_the_bundle_points_the_menu_entry_at_the_bundle(bundle: Path, user_env: dict[str, str],
                                                                         tmp_path: Path) -> None:
    data_home = tmp_path / "share"
    done = subprocess.run([sys.executable, str(BUNDLE / "install_desktop.py"), "--data-home", str(data_home)],
                          env=user_env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    desktop = (data_home / "applications" / "ichview.desktop").read_text(encoding="utf-8")
    assert f"Exec={EXE.resolve()} %F" in desktop.splitlines()
    assert (data_home / "icons" / "hicolor" / "48x48" / "apps" / "ichview.png").is_file()
