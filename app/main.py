"""``outpost``: the desktop app's entry point."""

from __future__ import annotations

import time

_STARTED_AT = time.perf_counter()  # before the heavy imports: --measure-startup counts them

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from sync import __version__  # noqa: E402
from sync.profile import PROFILE_ENV, demo_profile_dir, profiles_root  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outpost",
        description=(
            "Outpost: an offline-first desktop CRM. Opens the last profile straight from "
            "its local database (no server needed to start and work) and syncs in the "
            "background; the first run asks you to sign in."
        ),
        epilog=(
            f"Profiles live under {profiles_root()} unless --profile or {PROFILE_ENV} says "
            f"otherwise. The demo profile is {demo_profile_dir()}."
        ),
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start an embedded sync server on SQLite (127.0.0.1) with demo data and open "
        "the demo profile, signed in as the demo salesperson",
    )
    parser.add_argument("--profile", metavar="DIR", help="profile directory to open")
    parser.add_argument(
        "--work-offline",
        action="store_true",
        help="start with File → Work offline on (no sync attempts) for this run",
    )
    parser.add_argument(
        "--lang",
        choices=("system", "zh_CN", "en"),
        help="UI language for this run (default: the one chosen in Settings)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also log to standard error, in more detail"
    )
    parser.add_argument(
        "--measure-startup",
        action="store_true",
        help="for benchmarks: print 'startup-ms N' once the customer list has painted, then quit",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation without a display (window offscreen, translations, "
        "local database, sync with an embedded server in a temporary folder); exit 0 if "
        "all is well",
    )
    parser.add_argument("--version", action="version", version=f"Outpost {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.self_test:
        from app.self_test import run_self_test

        return run_self_test()
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    from app import i18n
    from app.application import Options, run
    from app.log_setup import setup_logging
    from app.settings import APPLICATION, ORGANIZATION, Preferences
    from app.style import apply_style

    log_file = setup_logging(verbose=args.verbose)
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QCoreApplication.setApplicationVersion(__version__)
    QGuiApplication.setDesktopFileName("outpost")
    qapp = QApplication(sys.argv[:1])
    icon_file = i18n.translations_dir().parent / "icons" / "outpost.png"  # packaged builds
    qapp.setWindowIcon(
        QIcon(str(icon_file)) if icon_file.is_file() else QIcon.fromTheme("x-office-address-book")
    )
    prefs = Preferences()
    i18n.install_translators(qapp, args.lang or prefs.language)
    apply_style(qapp)
    import logging

    logging.getLogger(__name__).info("Outpost %s starting; log file %s", __version__, log_file)
    profile = args.profile or os.environ.get(PROFILE_ENV, "").strip() or None
    options = Options(
        demo=args.demo,
        profile=Path(profile).expanduser() if profile else None,
        work_offline=args.work_offline,
        measure_startup=args.measure_startup,
        started_at=_STARTED_AT,
    )
    return run(options)


if __name__ == "__main__":
    raise SystemExit(main())
