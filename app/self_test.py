"""``outpost --self-test``: check an installed (or frozen) Outpost on a machine without a
display.

In a temporary profile and data folder it opens the main window offscreen, finds its
translations, reports the UI language the system locale selects (as on a first start),
writes a customer and reads it back, starts the embedded server, signs in, syncs the
customer to it and checks that the server has it. Prints one line per check
and exits 0, or 1 with what failed. Nothing is left behind.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path


def run_self_test() -> int:
    """Run every check; the process exit code."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="outpost-self-test-") as tmp:
        base = Path(tmp)
        # platformdirs reads these on Linux; elsewhere the checks use explicit folders.
        for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            os.environ[name] = str(base / name.lower())
        return _checks(base)


def _checks(base: Path) -> int:
    from PySide6.QtWidgets import QApplication

    started = time.perf_counter()
    failures: list[str] = []
    state: dict[str, object] = {}

    def check(name: str, step: Callable[[], str]) -> None:
        try:
            detail = step()
        except Exception as exc:
            failures.append(f"{name}: {exc}")
            print(f"FAIL {name}: {exc}", flush=True)
            traceback.print_exc(file=sys.stderr)
            return
        print(f"ok   {name}{': ' + detail if detail else ''}", flush=True)

    qapp = QApplication.instance() or QApplication([sys.argv[0]])

    def translations() -> str:
        from app import i18n

        qm = i18n.qm_file("zh_CN")
        if qm is None:
            raise RuntimeError(f"no compiled zh_CN translation in {i18n.translations_dir()}")
        from PySide6.QtCore import QTranslator

        translator = QTranslator()
        if not translator.load(str(qm)):
            raise RuntimeError(f"cannot load {qm}")
        if translator.translate("MainWindow", "Customers") != "客户":
            raise RuntimeError("the zh_CN translation does not translate 'Customers'")
        # What a first start on this machine shows: the system locale decides (the
        # preference's default), as `outpost` itself does it.
        from PySide6.QtCore import QCoreApplication, QLocale

        system = QLocale.system().name()
        language = i18n.install_translators(qapp, "system")
        sample = QCoreApplication.translate("MainWindow", "Customers")
        if language != "en" and sample == "Customers":
            raise RuntimeError(f"{language} chosen for locale {system}, but texts stay English")
        return f"{qm}; UI language {language} (system locale {system}: '{sample}')"

    def replica_roundtrip() -> str:
        from sync.replica import Replica

        replica = Replica.open(base / "profile")
        state["replica"] = replica
        change = replica.customers.create({"name": "自检客户 Self-test", "city": "上海"})
        record = replica.customers.get(change.record_id)
        if record is None or record.values["city"] != "上海":
            raise RuntimeError("the customer written is not read back")
        if replica.customers.query(search="zjkh") == []:
            raise RuntimeError("the pinyin search does not find it")
        state["customer_id"] = change.record_id
        return f"replica schema {replica.schema_version}"

    def main_window() -> str:
        from PySide6.QtCore import QSettings

        from app.events import DataEvents
        from app.main_window import MainWindow
        from app.settings import Preferences
        from app.sync_worker import SyncController

        replica = state["replica"]
        events = DataEvents()
        sync = SyncController(replica, events)  # type: ignore[arg-type]
        prefs = Preferences(QSettings(str(base / "settings.ini"), QSettings.Format.IniFormat))
        window = MainWindow(replica, events, sync, prefs, user_id=None)  # type: ignore[arg-type]
        window.show()
        for _ in range(20):
            qapp.processEvents()
        rows = window.customer_list.model.rowCount()
        image = window.grab()
        window.close()
        sync.stop()
        if rows != 1:
            raise RuntimeError(f"the customer list shows {rows} rows, expected 1")
        if image.isNull():
            raise RuntimeError("the window could not be drawn")
        return f"{image.width()}x{image.height()}, {rows} customer"

    def sync_with_server() -> str:
        from app.demo import start_demo
        from sync.engine import SyncEngine
        from sync.replica import Replica
        from sync.transport import ServerClient

        replica = state["replica"]
        assert isinstance(replica, Replica)
        session = start_demo(replica, base / "profile", "outpost self-test")
        try:
            with ServerClient(session.profile.config(), session.token) as client:
                report = SyncEngine(replica, client).sync_once()
            if replica.customers.get(str(state["customer_id"])).sync_state != "synced":  # type: ignore[union-attr]
                raise RuntimeError("the customer was not acknowledged by the server")
        finally:
            session.server.stop()
        return f"pushed {report.pushed}, pulled {report.pulled}"

    check("translations", translations)
    check("local database", replica_roundtrip)
    if "replica" in state:
        check("main window", main_window)
        check("sync with the embedded server", sync_with_server)
        state["replica"].close()  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    if failures:
        print(f"self-test FAILED ({len(failures)} of the checks) in {elapsed:.1f} s", flush=True)
        return 1
    print(f"self-test passed in {elapsed:.1f} s", flush=True)
    return 0
