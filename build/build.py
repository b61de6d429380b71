"""Build the Outpost desktop app with PyInstaller (``make package``).

    python build/build.py               # one folder: dist/outpost/outpost[.exe]
    python build/build.py --onefile     # one file:   dist/onefile/outpost[.exe]
    python build/build.py --check       # ... then run the result's --self-test offscreen

Steps: compile the Qt translations (``resources/translations/*.ts`` → ``.qm`` with
``pyside6-lrelease``; the ``.qm`` files are not committed), draw the application icon
(PNG, and ICO on Windows) into ``build/work/icons/``, run PyInstaller on
``build/outpost.spec`` with its work files in ``build/work/`` and the result in ``dist/``.
Run it with the project's virtual environment (``.venv/bin/python`` or
``.venv\\Scripts\\python.exe``): the build bundles what that environment has installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "build" / "outpost.spec"
WORK = ROOT / "build" / "work"
ICONS = WORK / "icons"
DIST = ROOT / "dist"
TRANSLATIONS = ROOT / "resources" / "translations"
EXE_SUFFIX = ".exe" if sys.platform == "win32" else ""


def output_path(onefile: bool) -> Path:
    """The executable a build produces (the one-file build has a folder of its own, as the
    one-folder build is ``dist/outpost/``)."""
    if onefile:
        return DIST / "onefile" / f"outpost{EXE_SUFFIX}"
    if sys.platform == "darwin":
        return DIST / "Outpost.app" / "Contents" / "MacOS" / "outpost"
    return DIST / "outpost" / f"outpost{EXE_SUFFIX}"


def _tool(name: str) -> str:
    """A console script of this Python's environment (venv bin/ or Scripts/), else PATH."""
    folder = Path(sys.executable).parent
    for candidate in (folder / name, folder / f"{name}.exe"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: install the project with '.[dev]' first")
    return found


def compile_translations() -> list[Path]:
    """``.ts`` → ``.qm`` next to their sources (git-ignored); the compiled files."""
    compiled = []
    lrelease = _tool("pyside6-lrelease")
    for ts in sorted(TRANSLATIONS.glob("*.ts")):
        qm = ts.with_suffix(".qm")
        subprocess.run([lrelease, "-silent", str(ts), "-qm", str(qm)], check=True)
        compiled.append(qm)
    if not compiled:
        raise SystemExit(f"no .ts files in {TRANSLATIONS}")
    return compiled


def draw_icons(folder: Path = ICONS) -> list[Path]:
    """Draw the application icon (an outpost flag on a rounded square) as PNG and ICO.

    Drawn by code rather than committed as binaries; PyInstaller turns the PNG into the
    macOS ``.icns`` itself (with Pillow installed).
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPainterPath, QPolygonF

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    folder.mkdir(parents=True, exist_ok=True)
    size = 256
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    background = QPainterPath()
    background.addRoundedRect(QRectF(8, 8, 240, 240), 48, 48)
    painter.fillPath(background, QColor("#1f6f8b"))
    # A hill, a pole and a flag: the outpost.
    hill = QPainterPath()
    hill.moveTo(8, 200)
    hill.cubicTo(80, 150, 176, 150, 248, 200)
    hill.lineTo(248, 200)
    hill.lineTo(248, 248)
    hill.lineTo(8, 248)
    painter.fillPath(hill.intersected(background), QColor("#99c24d"))
    painter.fillRect(QRectF(92, 56, 12, 120), QColor("#f4f4f4"))
    flag = QPolygonF([QPointF(104, 58), QPointF(190, 84), QPointF(104, 112)])
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#f18f01"))
    painter.drawPolygon(flag)
    painter.end()
    written = []
    png = folder / "outpost.png"
    if not image.save(str(png), "PNG"):
        raise SystemExit(f"cannot write {png}")
    written.append(png)
    ico = folder / "outpost.ico"
    # Qt's ICO writer (imageformats plug-in) stores one size; 256 px scales down well.
    if image.save(str(ico), "ICO"):
        written.append(ico)
    elif sys.platform == "win32":
        raise SystemExit("cannot write outpost.ico: Qt's ICO image plug-in is missing")
    return written


def run_pyinstaller(*, onefile: bool, console: bool, clean: bool) -> Path:
    """Run PyInstaller on the spec; the executable built."""
    kind = "onefile" if onefile else "onedir"
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(DIST / "onefile" if onefile else DIST),
        "--workpath",
        str(WORK / kind),
        *(["--clean"] if clean else []),
        str(SPEC),
        "--",
        *(["--onefile"] if onefile else []),
        *(["--console"] if console else []),
    ]
    subprocess.run(command, check=True, cwd=ROOT)
    built = output_path(onefile)
    if not built.is_file():
        raise SystemExit(f"PyInstaller finished but {built} is missing")
    return built


def self_test(executable: Path) -> int:
    """Run ``--self-test`` of a built executable offscreen; its exit code."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    started = time.perf_counter()
    code = subprocess.run([str(executable), "--self-test"], env=env, check=False).returncode
    print(
        f"{executable.relative_to(ROOT)} --self-test: exit {code} in "
        f"{time.perf_counter() - started:.1f} s (wall clock, process start included)"
    )
    return code


def folder_size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build.py", description="Package the Outpost desktop app with PyInstaller."
    )
    parser.add_argument(
        "--onefile", action="store_true", help="one executable (dist/onefile/outpost)"
    )
    parser.add_argument(
        "--console",
        action="store_true",
        help="Windows/macOS: keep a console window (to read --self-test's output)",
    )
    parser.add_argument(
        "--clean", action="store_true", help="empty PyInstaller's caches first (slower)"
    )
    parser.add_argument(
        "--check", action="store_true", help="run the built app's --self-test offscreen"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    for qm in compile_translations():
        print(f"translation  {qm.relative_to(ROOT)}")
    for icon in draw_icons():
        print(f"icon         {icon.relative_to(ROOT)}")
    built = run_pyinstaller(onefile=args.onefile, console=args.console, clean=args.clean)
    shipped = built if args.onefile else built.parent
    if sys.platform == "darwin" and not args.onefile:
        shipped = DIST / "Outpost.app"
    print(
        f"built        {shipped.relative_to(ROOT)}: {folder_size(shipped) / 2**20:.0f} MiB "
        f"in {time.perf_counter() - started:.0f} s"
    )
    if args.check:
        return self_test(built)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
