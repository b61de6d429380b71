"""The app's start and session: demo mode with its embedded server, sign-in errors against
a real server, no keyring, remembered layout and Work offline, settings, unsaved changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import null
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

import app.application as application
import app.main_window as main_window_module
from app.application import Options, OutpostApp
from app.settings import Preferences
from app.settings_dialog import SettingsDialog, SettingsValues
from app.sign_in_dialog import SignInDialog, SignInRequest
from sync import credentials
from sync.account import server_profile, sign_in
from sync.engine import SyncState
from sync.replica import Replica
from tests.helpers.fixed_port_server import FixedPortServer, free_port, running_server
from tests.server.conftest import PASSWORD

WAIT_MS = 30_000


@pytest.fixture
def prefs(tmp_path: Path) -> Preferences:
    return Preferences(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def make_app(prefs: Preferences) -> Iterator[Any]:
    started: list[OutpostApp] = []

    def make(options: Options) -> OutpostApp:
        running = OutpostApp(options, prefs)
        started.append(running)
        return running

    yield make
    for running in started:
        if running.window is not None:
            running.window.close()
        running.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixedPortServer]:
    tmp = tmp_path_factory.mktemp("app-server")
    with running_server(tmp) as srv:
        yield srv


# --- demo ---------------------------------------------------------------------------------


def test_demo_runs_an_embedded_server_syncs_and_reopens_without_waiting_for_it(
    qtbot: QtBot, tmp_path: Path, make_app: Any
) -> None:
    profile = tmp_path / "demo"
    first = make_app(Options(demo=True, profile=profile, started_at=time.perf_counter()))
    assert first.start()
    window = first.window
    sync = first.sync
    assert window is not None and sync is not None
    qtbot.waitUntil(lambda: first.demo is not None, timeout=WAIT_MS)
    qtbot.waitUntil(
        lambda: (
            sync.status.state is SyncState.ONLINE and window.customer_list.model.rowCount() > 50
        ),
        timeout=WAIT_MS,
    )
    assert (profile / "server.sqlite3").is_file()
    assert first.demo is not None and first.demo.server.url.startswith("http://127.0.0.1:")
    assert first.replica is not None and first.replica.user_id == "demo"
    shown = window.customer_list.model.rowCount()
    assert window.sign_out_action.isEnabled() is False  # the demo account stays signed in
    window.close()
    first.shutdown()
    assert first.demo is None

    # Second start: the customers show from the replica before the server is up, and
    # the server's data is not seeded twice.
    second = make_app(Options(demo=True, profile=profile, started_at=time.perf_counter()))
    assert second.start()
    assert second.window is not None
    assert second.window.customer_list.model.rowCount() == shown
    assert second.demo is None  # still starting in the background
    assert second.sync is not None
    qtbot.waitUntil(lambda: second.sync.status.state is SyncState.ONLINE, timeout=WAIT_MS)  # type: ignore[union-attr]
    assert second.window.customer_list.model.rowCount() == shown


# --- signing in ---------------------------------------------------------------------------


def _attempt_on(replica: Replica) -> Any:
    def attempt(request: SignInRequest) -> Any:
        return sign_in(
            replica,
            request.server_url,
            request.user,
            request.password,
            device="pytest",
            remember=request.remember,
        )

    return attempt


def _submit(qtbot: QtBot, dialog: SignInDialog, url: str, user: str, password: str) -> None:
    dialog.server_edit.setText(url)
    dialog.user_edit.setText(user)
    dialog.password_edit.setText(password)
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)


def test_sign_in_errors_are_plain_words_and_change_nothing(
    qtbot: QtBot, replica: Replica, server: FixedPortServer
) -> None:
    dialog = SignInDialog(_attempt_on(replica))
    qtbot.addWidget(dialog)
    dialog.show()

    _submit(qtbot, dialog, "crm.example.com", "s1", PASSWORD)  # no scheme: not a URL
    assert dialog.error_label.isVisible()
    assert "Enter the server address" in dialog.error_label.text()

    _submit(qtbot, dialog, server.url, "s1", "not the password")
    qtbot.waitUntil(lambda: dialog.error_label.text() == "Wrong user name or password.")
    assert dialog.isVisible() and dialog.result_value is None

    _submit(qtbot, dialog, f"http://127.0.0.1:{free_port()}", "s1", PASSWORD)
    qtbot.waitUntil(lambda: "Cannot reach the server" in dialog.error_label.text())
    assert server_profile(replica) is None  # nothing recorded by failed attempts

    with qtbot.waitSignal(dialog.accepted, timeout=WAIT_MS):
        _submit(qtbot, dialog, server.url, "s1", PASSWORD)
    profile = server_profile(replica)
    assert profile is not None and profile.user == "s1"
    assert credentials.load_token(server.url, "s1") == dialog.result_value.token
    assert dialog.password_edit.text() == ""  # not kept in the widget


def test_without_a_keyring_the_session_is_signed_in_but_nothing_is_stored(
    qtbot: QtBot,
    tmp_path: Path,
    server: FixedPortServer,
    make_app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    told: list[str] = []
    monkeypatch.setattr(
        application.QMessageBox, "information", lambda _parent, _title, text: told.append(text)
    )
    monkeypatch.setattr(application, "last_profile", lambda: None)
    monkeypatch.setattr(application, "profile_dir_for", lambda url, user: tmp_path / "p")
    previous = keyring.get_keyring()
    keyring.set_keyring(null.Keyring())
    try:
        running = make_app(Options(started_at=time.perf_counter()))
        assert running.start()
        dialog = running.sign_in_dialog
        assert dialog is not None
        _submit(qtbot, dialog, server.url, "s2", PASSWORD)
        qtbot.waitUntil(lambda: running.window is not None, timeout=WAIT_MS)
        assert told and "signed in for this session only" in told[0]
        sync = running.sync
        qtbot.waitUntil(lambda: sync.status.state is SyncState.ONLINE, timeout=WAIT_MS)
        # Nothing of the sign-in was written anywhere but the replica's server and user.
        stored = list(tmp_path.rglob("*"))
        assert not any("token" in p.name for p in stored)
    finally:
        keyring.set_keyring(previous)


# --- window -------------------------------------------------------------------------------


def test_layout_and_work_offline_are_remembered(
    qtbot: QtBot, tmp_path: Path, make_app: Any
) -> None:
    profile = tmp_path / "local"
    Replica.open(profile).close()
    first = make_app(Options(profile=profile, started_at=time.perf_counter()))
    assert first.start()
    window = first.window
    window.resize(900, 590)  # the offscreen screen is small: keep inside it
    window.work_offline_action.trigger()
    assert first.sync.work_offline
    window.close()

    second = make_app(Options(profile=profile, started_at=time.perf_counter()))
    assert second.start()
    assert second.window.size().height() == 590
    assert second.window.work_offline_action.isChecked()


def test_closing_with_unsaved_changes_asks_first(
    qtbot: QtBot, tmp_path: Path, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = tmp_path / "local"
    with Replica.open(profile) as replica:
        customer_id = replica.customers.create({"name": "王小明"}).record_id
    running = make_app(Options(profile=profile, work_offline=True))
    assert running.start()
    window = running.window
    window.open_customer(customer_id)
    workspace = window.workspaces()[0]
    qtbot.keyClicks(workspace.form.editor("city"), "Hangzhou")
    assert workspace.has_unsaved_changes()

    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save]
    monkeypatch.setattr(main_window_module.QMessageBox, "question", lambda *a: answers.pop(0))
    window.close()
    assert window.isVisible()  # Cancel: nothing closes
    window.close()
    assert not window.isVisible()  # Save: saved, then closed
    assert running.replica.customers.get(customer_id).values["city"] == "Hangzhou"


def test_settings_dialog_checks_its_input(qtbot: QtBot) -> None:
    current = SettingsValues("https://crm.example.com", 300, "system", "")
    dialog = SettingsDialog(current)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.server_edit.setText("not a url")
    dialog._submit()
    assert dialog.error_label.isVisible() and dialog.result() == 0
    dialog.server_edit.setText("https://crm2.example.com:8443/")
    dialog.ca_edit.setText("/no/such/ca.pem")
    dialog._submit()
    assert "CA file" in dialog.error_label.text()
    dialog.ca_edit.clear()
    dialog.interval_spin.setValue(10)
    dialog.language_combo.setCurrentIndex(dialog.language_combo.findData("zh_CN"))
    dialog._submit()
    assert dialog.values() == SettingsValues("https://crm2.example.com:8443", 600, "zh_CN", "")


def test_a_damaged_replica_gets_a_clear_message_and_is_left_as_it_was(
    tmp_path: Path, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = tmp_path / "damaged"
    profile.mkdir()
    garbage = b"this is not an SQLite database, just some bytes " * 200
    (profile / "replica.sqlite3").write_bytes(garbage)
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        application.QMessageBox,
        "exec",
        lambda box: shown.append((box.text(), box.detailedText())) or 0,
    )
    running = make_app(Options(profile=profile))
    assert running.start() is False
    assert running.window is None
    assert shown and shown[0][0] == "The local database of this profile cannot be opened."
    assert "damaged" in shown[0][1]  # the technical reason is in the details only
    assert (profile / "replica.sqlite3").read_bytes() == garbage


def test_a_new_language_offers_a_restart(
    qtbot: QtBot, tmp_path: Path, make_app: Any, monkeypatch: pytest.MonkeyPatch, prefs: Preferences
) -> None:
    profile = tmp_path / "local"
    Replica.open(profile).close()
    running = make_app(Options(profile=profile, work_offline=True))
    assert running.start()
    chosen = SettingsValues("", 300, "zh_CN", "")
    monkeypatch.setattr(application.SettingsDialog, "exec", lambda self: 1)
    monkeypatch.setattr(application.SettingsDialog, "values", lambda self: chosen)
    asked: list[str] = []

    def answer(box: QMessageBox) -> int:
        asked.append(box.text())
        box.buttons()[0].click()  # "Restart now"
        return 0

    monkeypatch.setattr(application.QMessageBox, "exec", answer)
    running.edit_settings()
    assert prefs.language == "zh_CN"
    assert asked == ["The new language is used when Outpost starts again."]
    assert running.restart_requested and not running.window.isVisible()


def test_closing_while_the_demo_server_starts_leaves_no_server_running(
    qtbot: QtBot, tmp_path: Path, make_app: Any
) -> None:
    """Closed before the embedded server's start was reported back: shutdown still stops
    it (a server thread left running crashed the interpreter at exit)."""
    import threading

    running = make_app(Options(demo=True, profile=tmp_path / "demo"))
    assert running.start()
    running._begin_sync()  # what the first paint starts
    running.window.close()  # at once: the demo server is still starting
    assert running._shut_down
    assert not [t for t in threading.enumerate() if t.name == "outpost-demo-server"]
    assert running.demo is None
