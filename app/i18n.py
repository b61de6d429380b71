"""The UI language: Qt translators for Outpost's own texts and Qt's standard dialogs.

Translation sources are ``resources/translations/outpost_<lang>.ts``; the build compiles
them to ``.qm`` (``make translations``, or the packaging script). A source tree without
compiled files (a fresh clone run by hand) compiles them into the cache folder on first
use, when ``pyside6-lrelease`` is available.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import platformdirs
from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

log = logging.getLogger(__name__)

SUPPORTED = ("zh_CN",)  # besides English, the source language


def translations_dir() -> Path:
    """Where the ``.ts`` sources (and compiled ``.qm``) ship."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))
    return base / "resources" / "translations"


def resolve_language(preference: str, system: QLocale | None = None) -> str:
    """``"zh_CN"`` or ``"en"`` for a preference of system / zh_CN / en."""
    if preference in ("zh_CN", "en"):
        return preference
    locale = system or QLocale.system()
    if locale.language() == QLocale.Language.Chinese:
        return "zh_CN"
    return "en"


def qm_file(language: str) -> Path | None:
    """The compiled translation for ``language``, compiling it if it is missing or stale."""
    folder = translations_dir()
    qm = folder / f"outpost_{language}.qm"
    ts = folder / f"outpost_{language}.ts"
    if qm.is_file() and (not ts.is_file() or qm.stat().st_mtime >= ts.stat().st_mtime):
        return qm
    if not ts.is_file():
        return qm if qm.is_file() else None
    cached = Path(platformdirs.user_cache_dir("Outpost", appauthor=False)) / qm.name
    if cached.is_file() and cached.stat().st_mtime >= ts.stat().st_mtime:
        return cached
    return _compile(ts, cached)


def _compile(ts: Path, qm: Path) -> Path | None:
    tool = shutil.which("pyside6-lrelease") or str(Path(sys.executable).parent / "pyside6-lrelease")
    if not Path(tool).exists():
        log.warning("no pyside6-lrelease to compile %s: the UI stays in English", ts.name)
        return None
    qm.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([tool, "-silent", str(ts), "-qm", str(qm)], check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("cannot compile %s: %s", ts.name, exc)
        return None
    return qm


def install_translators(app: QCoreApplication, preference: str) -> str:
    """Install the translators for the preferred language; returns the language used."""
    language = resolve_language(preference)
    QLocale.setDefault(QLocale(language))
    if language == "en":
        return language
    qm = qm_file(language)
    own = QTranslator(app)
    if qm is not None and own.load(str(qm)):
        app.installTranslator(own)
    else:
        log.warning("no translation for %s: the UI stays in English", language)
        return "en"
    # Qt's own texts (standard buttons, dialogs).
    qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    qt_translator = QTranslator(app)
    if qt_translator.load(QLocale(language), "qtbase", "_", qt_dir):
        app.installTranslator(qt_translator)
    return language
