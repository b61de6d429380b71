"""The desktop app end to end: the real widgets against a real server on 127.0.0.1.

First run → sign-in dialog → initial sync fills the list → a pinyin-initials search finds
a Chinese customer → an edit made while the server is down stays pending → the server
comes back at the same address → F5 sends it and the server has it → a logged follow-up
shows at once → the window closes with no thread left running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QLineEdit
from pytestqt.qtbot import QtBot

import app.application as application
from app.application import Options, OutpostApp
from app.customer_workspace import CustomerWorkspace
from app.main_window import MainWindow
from app.settings import Preferences
from server.db import write_transaction
from server.seed import load_records
from sync.engine import SyncState
from tests.helpers.fixed_port_server import FixedPortServer, running_server
from tests.helpers.sync_devices import server_record
from tests.server.conftest import PASSWORD

WAIT_MS = 20_000
CUSTOMERS = 120


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FixedPortServer]:
    with running_server(tmp_path) as srv:
        rows = [
            {"name": f"Customer {i:03d}", "company": f"Company {i}", "owner_id": "s1"}
            for i in range(CUSTOMERS - 1)
        ]
        rows.append(
            {"name": "张三丰", "company": "武当贸易有限公司", "city": "十堰", "owner_id": "s1"}
        )
        write_transaction(srv.engine, lambda conn: load_records(conn, "customer", rows, by="admin"))
        yield srv


@pytest.fixture
def outpost(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OutpostApp]:
    """The app as on a first run: no profile yet; its profile goes to tmp_path."""
    monkeypatch.setattr(application, "last_profile", lambda: None)
    monkeypatch.setattr(application, "profile_dir_for", lambda url, user: tmp_path / "profile")
    prefs = Preferences(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    running = OutpostApp(Options(started_at=time.perf_counter()), prefs)
    try:
        yield running
    finally:
        if running.window is not None:
            running.window.close()
        running.shutdown()


def _sign_in(qtbot: QtBot, outpost: OutpostApp, server: FixedPortServer) -> MainWindow:
    assert outpost.start()
    dialog = outpost.sign_in_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.keyClicks(dialog.server_edit, server.url)
    qtbot.keyClicks(dialog.user_edit, "s1")
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    dialog.remember_box.setChecked(True)
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: outpost.window is not None and outpost.window.isVisible(), timeout=WAIT_MS
    )
    assert outpost.window is not None
    return outpost.window


def test_sign_in_sync_search_offline_edit_and_clean_close(
    qtbot: QtBot, outpost: OutpostApp, server: FixedPortServer
) -> None:
    window = _sign_in(qtbot, outpost, server)
    sync = outpost.sync
    assert sync is not None
    model = window.customer_list.model

    # The initial sync fills the list.
    qtbot.waitUntil(lambda: model.rowCount() == CUSTOMERS, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: sync.status.state is SyncState.ONLINE, timeout=WAIT_MS)
    assert sync.status.pending == 0

    # Ctrl+F, then pinyin initials find the Chinese customer.
    window.find_action.trigger()
    search = QApplication.focusWidget()
    assert isinstance(search, QLineEdit)
    qtbot.keyClicks(search, "zsf")
    qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=WAIT_MS)
    customer_id = model.record_id(0)
    assert customer_id is not None
    assert model.index(0, 0).data() == "张三丰"

    # The server goes down; an edit is kept and counted as pending.
    server.stop()
    window.customer_list.sig_open_customer.emit(customer_id)
    workspace = window.customer_tabs.currentWidget()
    assert isinstance(workspace, CustomerWorkspace)
    assert workspace.customer_id == customer_id
    phone = workspace.form.editor("phone")
    assert isinstance(phone, QLineEdit)
    phone.clear()
    qtbot.keyClicks(phone, "0719-8888123")
    assert workspace.save()
    qtbot.waitUntil(lambda: sync.status.pending == 1, timeout=WAIT_MS)
    window.sync_now_action.trigger()
    qtbot.waitUntil(lambda: sync.status.state is SyncState.OFFLINE, timeout=WAIT_MS)
    assert sync.status.pending == 1
    assert outpost.replica is not None
    assert outpost.replica.customers.get(customer_id).values["phone"] == "0719-8888123"  # type: ignore[union-attr]

    # Back at the same address: F5 sends the edit; the server has it, once.
    server.start()
    window.sync_now_action.trigger()
    qtbot.waitUntil(lambda: sync.status.pending == 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: sync.status.state is SyncState.ONLINE, timeout=WAIT_MS)
    on_server = server_record(server.engine, "customer", customer_id)
    assert on_server is not None and on_server["phone"] == "0719-8888123"
    assert on_server["version"] == 2

    # A logged follow-up is in the timeline at once (and reaches the server after).
    before = workspace.timeline_model.rowCount()
    content = workspace.log_box.form.editor("content")
    content.insertPlainText("上门拜访，确认了报价。")  # type: ignore[attr-defined]  # not ASCII: no key clicks
    qtbot.mouseClick(workspace.log_box.log_button, Qt.MouseButton.LeftButton)
    assert workspace.timeline_model.rowCount() == before + 1
    qtbot.waitUntil(
        lambda: sync.status.pending == 0 and sync.status.state is SyncState.ONLINE, timeout=WAIT_MS
    )

    # The window closes cleanly: the sync thread has ended, nothing of ours runs.
    worker = sync.worker_thread
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert not sync.is_running()
    assert worker is None or worker.isFinished()
    leftover = [t.name for t in threading.enumerate() if t.name.startswith("outpost-")]
    assert leftover == []
