"""Install (or with --uninstall remove) ichview's desktop integration for the current user.

    python3 packaging/install_desktop.py [--exec PATH] [--data-home DIR] [--uninstall]

Puts into $XDG_DATA_HOME (default ~/.local/share):
    applications/ichview.desktop                   (Exec = the installed ichview, with %F)
    icons/hicolor/<N>x<N>/apps/ichview.png, icons/hicolor/scalable/apps/ichview.svg
    metainfo/io.github.ichview.ichview.metainfo.xml
    mime/packages/ichview-dicom.xml                (application/dicom for *.dcm)
then refreshes the desktop, MIME and icon caches with update-desktop-database,
update-mime-database and gtk-update-icon-cache, each only when installed.

Standard library only: it runs with any python3, also next to a PyInstaller bundle (the spec copies
it into dist/ichview/, where it finds the resources in _internal/resources).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DESKTOP_NAME = "ichview.desktop"
METAINFO_NAME = "io.github.ichview.ichview.metainfo.xml"
MIME_NAME = "ichview-dicom.xml"
ICON_NAME = "ichview"
ICON_SIZES: tuple[int, ...] = (16, 32, 48, 64, 128, 256, 512)
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PlannedFile:
    """One file the installer writes: where it comes from (or its text) and where it goes."""

    target: Path
    source: Path | None = None
    text: str | None = None


def default_data_home(environ: dict[str, str] | None = None) -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when unset or empty (the XDG base directory rule)."""
    env = os.environ if environ is None else environ
    value = env.get("XDG_DATA_HOME", "")
    return Path(value) if value and Path(value).is_absolute() else Path.home() / ".local" / "share"


def find_resources() -> Path:
    """resources/ of a source checkout, or _internal/resources next to this file in a bundle."""
    for candidate in (HERE.parent / "resources", HERE / "_internal" / "resources"):
        if (candidate / "desktop" / DESKTOP_NAME).is_file():
            return candidate
    raise FileNotFoundError(
        f"{HERE}: no resources/desktop/{DESKTOP_NAME} found next to the installer "
        "(run it from the ichview source tree or from the dist/ichview bundle folder)"
    )


def find_executable() -> Path:
    """The ichview to launch: the bundle if built (or if this file sits in it), else the venv's, else PATH's."""
    repo = HERE.parent
    candidates = [
        HERE / "ichview",  # this installer copied into dist/ichview/
        repo / "dist" / "ichview" / "ichview",
        repo / ".venv" / "bin" / "ichview",
        Path(sys.prefix) / "bin" / "ichview",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.resolve()
    on_path = shutil.which("ichview")
    if on_path:
        return Path(on_path).resolve()
    raise FileNotFoundError(
        "no ichview executable found: build the bundle (make package) or install the venv (make install), "
        "or pass --exec /path/to/ichview"
    )


def desktop_exec_quote(path: Path) -> str:
    """`path` as an Exec= argument (Desktop Entry spec: quote reserved characters, escape \\ " ` $)."""
    text = str(path)
    reserved = set(" \t\n\"'\\><~|&;$*?#()`%")
    if not any(c in reserved for c in text):
        return text
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in text).replace("%", "%%")
    return f'"{escaped}"'


def desktop_entry_text(template: str, executable: Path) -> str:
    """The desktop file with Exec (and TryExec) pointing at `executable`, files passed as %F."""
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            lines.append(f"Exec={desktop_exec_quote(executable)} %F")
            lines.append(f"TryExec={executable}")
        elif line.startswith("TryExec="):
            continue
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def planned_files(data_home: Path, resources: Path, executable: Path) -> list[PlannedFile]:
    """Every file an install writes (and an uninstall removes)."""
    desktop_src = resources / "desktop"
    icons = resources / "icons"
    template = (desktop_src / DESKTOP_NAME).read_text(encoding="utf-8")
    files = [
        PlannedFile(data_home / "applications" / DESKTOP_NAME, text=desktop_entry_text(template, executable)),
        PlannedFile(data_home / "metainfo" / METAINFO_NAME, source=desktop_src / METAINFO_NAME),
        PlannedFile(data_home / "mime" / "packages" / MIME_NAME, source=desktop_src / MIME_NAME),
        PlannedFile(data_home / "icons" / "hicolor" / "scalable" / "apps" / f"{ICON_NAME}.svg",
                    source=icons / f"{ICON_NAME}.svg"),
    ]
    for size in ICON_SIZES:
        rel = Path("hicolor") / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"
        files.append(PlannedFile(data_home / "icons" / rel, source=icons / rel))
    return files


def target_paths(data_home: Path) -> list[Path]:
    """The installed paths, without needing the resources or an executable (for uninstall)."""
    paths = [
        data_home / "applications" / DESKTOP_NAME,
        data_home / "metainfo" / METAINFO_NAME,
        data_home / "mime" / "packages" / MIME_NAME,
        data_home / "icons" / "hicolor" / "scalable" / "apps" / f"{ICON_NAME}.svg",
    ]
    paths += [data_home / "icons" / "hicolor" / f"{s}x{s}" / "apps" / f"{ICON_NAME}.png" for s in ICON_SIZES]
    return paths


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refresh_caches(data_home: Path, *, quiet: bool = False) -> list[str]:
    """Run the cache tools that exist on this system; return the names of those that ran."""
    commands = [
        ["update-desktop-database", "-q", str(data_home / "applications")],
        ["update-mime-database", str(data_home / "mime")],
        ["gtk-update-icon-cache", "-q", "-t", "-f", str(data_home / "icons" / "hicolor")],
    ]
    ran = []
    for command in commands:
        if shutil.which(command[0]) is None or not Path(command[-1]).is_dir():
            continue
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 and not quiet:
            print(f"warning: {command[0]} failed ({result.returncode}): {result.stderr.strip()}", file=sys.stderr)
        ran.append(command[0])
    return ran


def install(data_home: Path, executable: Path, resources: Path | None = None, *, quiet: bool = False) -> list[Path]:
    """Write the desktop file, icons, metainfo and MIME package; refresh caches; return the written paths."""
    files = planned_files(data_home, resources or find_resources(), executable)
    for planned in files:
        if planned.text is not None:
            data = planned.text.encode("utf-8")
        else:
            assert planned.source is not None
            if not planned.source.is_file():
                raise FileNotFoundError(f"{planned.source}: missing (regenerate icons: python packaging/render_icons.py)")
            data = planned.source.read_bytes()
        _write_atomically(planned.target, data)
    ran = refresh_caches(data_home, quiet=quiet)
    if not quiet:
        print(f"Installed ichview's desktop entry for {executable} under {data_home}")
        print(f"Caches refreshed with: {', '.join(ran) if ran else 'none (tools not installed)'}")
    return [f.target for f in files]


def uninstall(data_home: Path, *, quiet: bool = False) -> list[Path]:
    """Remove what `install` wrote; refresh caches; return the paths that were removed."""
    removed = []
    for path in target_paths(data_home):
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(path)
    refresh_caches(data_home, quiet=quiet)
    if not quiet:
        print(f"Removed {len(removed)} file(s) of ichview's desktop integration from {data_home}")
    return removed


def main(argv: list[str] | None = None) -> int:
    """Command line: install by default, --uninstall to remove."""
    parser = argparse.ArgumentParser(description="Install ichview's desktop entry, icons, metainfo and MIME type.")
    parser.add_argument("--uninstall", action="store_true", help="remove the installed files")
    parser.add_argument("--exec", dest="executable", type=Path, help="the ichview executable to launch")
    parser.add_argument("--data-home", type=Path, help="default: $XDG_DATA_HOME or ~/.local/share")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    data_home = args.data_home or default_data_home()
    try:
        if args.uninstall:
            uninstall(data_home, quiet=args.quiet)
        else:
            executable = args.executable.resolve() if args.executable else find_executable()
            if not executable.is_file():
                raise FileNotFoundError(f"{executable}: no such executable (pass --exec with the ichview to launch)")
            install(data_home, executable, quiet=args.quiet)
    except (FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
