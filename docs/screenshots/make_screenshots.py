"""Take the README's screenshots: the main window, a customer's workspace and the sign-in
dialog, in English and in Simplified Chinese, from a fresh demo profile.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/make_screenshots.py

Each language runs in a process of its own (a translator is installed once per process),
with its own throwaway data and settings folders.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LANGUAGES = ("en", "zh_CN")


def take(language: str) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app import i18n
    from app.application import Options, OutpostApp
    from app.main_window import PAGE_CONFLICTS, PAGE_DEALS, PAGE_TODAY
    from app.sign_in_dialog import SignInDialog
    from app.style import apply_style
    from server.seed import DEMO_PASSWORD
    from sync.account import sign_in
    from sync.engine import SyncEngine, SyncState
    from sync.replica import Replica
    from sync.repository import Filter
    from sync.search import has_han
    from sync.transport import ServerClient

    qapp = QApplication([])
    i18n.install_translators(qapp, language)
    apply_style(qapp)
    outpost = OutpostApp(Options(demo=True, started_at=time.perf_counter()))
    assert outpost.start()
    window = outpost.window
    assert window is not None and outpost.sync is not None
    window.resize(1280, 800)

    def wait(condition: object, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise TimeoutError("the demo did not get ready")
            qapp.processEvents()
            time.sleep(0.02)

    def settle() -> None:
        for _ in range(30):
            qapp.processEvents()
            time.sleep(0.01)

    sync = outpost.sync
    wait(lambda: sync.status.state is SyncState.ONLINE and window.customer_list.model.rowCount())
    for _ in range(20):
        qapp.processEvents()
    window.grab().save(str(HERE / f"main_window_{language}.png"))

    # The Chinese customer with the longest history, in its workspace.
    replica = outpost.replica
    assert replica is not None
    busiest = max(
        (r for r in replica.customers.query(limit=500) if has_han(r.values["name"])),
        key=lambda r: replica.follow_ups.count(filters=[Filter("customer_id", "eq", r.id)]),
    )
    window.open_customer(busiest.id)
    for _ in range(20):
        qapp.processEvents()
    window.grab().save(str(HERE / f"customer_workspace_{language}.png"))

    # Today and the deals pipeline (the team's, to show every stage).
    window.show_page(PAGE_TODAY)
    settle()
    window.grab().save(str(HERE / f"today_{language}.png"))
    window.show_page(PAGE_DEALS)
    window.deals_page.set_scope("team")
    settle()
    window.grab().save(str(HERE / f"deals_{language}.png"))

    # A conflict: the sales manager changes the same fields of a customer of the demo
    # user on another device, then the demo user's edits meet them.
    assert outpost.demo is not None
    target = next(
        r
        for r in replica.customers.query(limit=500)
        if r.values["owner_id"] == "demo" and has_han(r.values["name"]) and r.values["notes"]
    )
    with tempfile.TemporaryDirectory() as other_dir:
        other = Replica.open(Path(other_dir))
        signed = sign_in(other, outpost.demo.server.url, "chen.jing", DEMO_PASSWORD, device="shots")
        with ServerClient(signed.profile.config(), signed.token) as client:
            engine = SyncEngine(other, client)
            engine.sync_once()
            other.customers.update(
                target.id,
                {
                    "level": "A",
                    "notes": "经理已电话确认：演示改到周四下午。\n对方采购负责人：李娜。",
                },
            )
            engine.sync_once()
        other.close()
    replica.customers.update(
        target.id, {"level": "C", "notes": "客户希望下周二上门演示。\n预算约 50 万，需先报价。"}
    )
    sync.request_sync()
    wait(lambda: sync.status.conflicts == 1 and sync.status.state is SyncState.ONLINE)
    window.show_page(PAGE_CONFLICTS)
    settle()
    window.grab().save(str(HERE / f"conflicts_{language}.png"))
    conflict = window.conflicts_page.open_conflict_for("customer", target.id)
    assert conflict is not None
    settle()
    conflict.grab().save(str(HERE / f"conflict_dialog_{language}.png"))
    conflict.close()

    dialog = SignInDialog(
        lambda request: None, server_url="https://crm.example.com:8750", user="zhang.wei"
    )
    dialog.show()
    for _ in range(10):
        qapp.processEvents()
    dialog.grab().save(str(HERE / f"sign_in_{language}.png"))
    dialog.close()

    QTimer.singleShot(0, window.close)
    qapp.exec()
    outpost.shutdown()


def main() -> int:
    if len(sys.argv) > 1:
        take(sys.argv[1])
        return 0
    for language in LANGUAGES:
        with tempfile.TemporaryDirectory(prefix="outpost-shots-") as tmp:
            env = {
                **os.environ,
                "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
                "XDG_DATA_HOME": f"{tmp}/data",
                "XDG_CONFIG_HOME": f"{tmp}/config",
                "XDG_STATE_HOME": f"{tmp}/state",
                "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            }
            subprocess.run(
                [sys.executable, __file__, language], check=True, env=env, cwd=ROOT, timeout=300
            )
            print(f"screenshots in {language} saved in {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
