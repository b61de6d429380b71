"""Startup and the life of one session: profile, sign-in, demo server, sync, shutdown.

The order matters for the one promise of the product: the window opens from the local
replica first — no server is needed to start and work — and only then does the sync
worker (or, for ``--demo``, the embedded server) start in the background.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.background import run_in_background, wait_for_background
from app.demo import DemoSession, start_demo
from app.events import DataEvents
from app.main_window import PAGE_TODAY, MainWindow
from app.reminders import Reminders
from app.settings import Preferences
from app.settings_dialog import SettingsDialog, SettingsValues
from app.sign_in_dialog import SignInDialog, SignInRequest
from app.sync_worker import SyncController
from sync import credentials, search
from sync.account import (
    CA_FILE_KEY,
    DISPLAY_NAME_KEY,
    SERVER_URL_KEY,
    ServerProfile,
    SignIn,
    device_name,
    server_profile,
    sign_in,
    sign_out,
    stored_token,
)
from sync.credentials import NoKeyringError
from sync.migrations import ReplicaTooNewError
from sync.profile import demo_profile_dir, last_profile, profile_dir_for, remember_profile
from sync.replica import Replica, ReplicaCorruptError, ReplicaError

log = logging.getLogger(__name__)

PROGRAM = "Outpost"


@dataclass(frozen=True)
class Options:
    """What the command line asked for."""

    demo: bool = False
    profile: Path | None = None
    work_offline: bool = False
    measure_startup: bool = False
    started_at: float = 0.0  # time.perf_counter() when the process started


class OutpostApp(QObject):
    """One running Outpost: owns the replica, the window, the sync controller."""

    sig_finished = Signal()

    def __init__(self, options: Options, prefs: Preferences | None = None) -> None:
        super().__init__()
        self.options = options
        self.prefs = prefs or Preferences()
        self.events = DataEvents(self)
        self.replica: Replica | None = None
        self.profile_dir: Path | None = None
        self.window: MainWindow | None = None
        self.sync: SyncController | None = None
        self.demo: DemoSession | None = None
        self._token: str | None = None
        self._shut_down = False
        self.sign_in_dialog: SignInDialog | None = None  # the first run's, while open
        self.restart_requested = False  # "Restart now" after a language change
        self.reminders: Reminders | None = None
        self._demo_sessions: list[DemoSession] = []

    # --- start ----------------------------------------------------------------------------

    def start(self) -> bool:
        """Open the profile and show the window (or, on the first run, the sign-in dialog;
        cancelling it emits ``sig_finished``); ``False`` when the replica cannot be
        opened."""
        if self.options.demo:
            self.profile_dir = self.options.profile or demo_profile_dir()
            _set_aside_local_demo(self.profile_dir)
        else:
            self.profile_dir = self.options.profile or last_profile()
        if self.profile_dir is None:
            return self._first_run()
        replica = self._open_replica(self.profile_dir)
        if replica is None:
            return False
        self.replica = replica
        self._show_window()
        self._begin_sync_after_paint()
        return True

    def _open_replica(self, profile_dir: Path) -> Replica | None:
        try:
            return Replica.open(profile_dir)
        except (ReplicaCorruptError, ReplicaTooNewError, ReplicaError) as exc:
            log.error("cannot open the profile %s: %s", profile_dir, exc)
            box = QMessageBox(
                QMessageBox.Icon.Critical,
                self.tr("Outpost cannot open your data"),
                self.tr("The local database of this profile cannot be opened."),
            )
            box.setInformativeText(
                self.tr(
                    "Nothing was changed. Your edits waiting to be sent are still in the "
                    "file; keep it, and ask your administrator for help."
                )
            )
            box.setDetailedText(str(exc))
            box.exec()
            return None

    def _first_run(self) -> bool:
        """No profile yet: sign in; the profile of that server and user is created."""

        def attempt(request: SignInRequest) -> tuple[Path, Replica, SignIn]:
            profile_dir = profile_dir_for(request.server_url, request.user)
            replica = Replica.open(profile_dir)
            try:
                result = sign_in(
                    replica,
                    request.server_url,
                    request.user,
                    request.password,
                    device=device_name(PROGRAM),
                    ca_file=request.ca_file,
                    remember=request.remember,
                )
            except BaseException:
                replica.close()
                raise
            return profile_dir, replica, result

        dialog = SignInDialog(attempt)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.sign_in_dialog = dialog
        dialog.accepted.connect(lambda: self._first_sign_in_done(dialog.result_value))
        dialog.rejected.connect(self.sig_finished.emit)  # nothing to show: quit
        dialog.open()
        return True

    def _first_sign_in_done(self, value: tuple[Path, Replica, SignIn]) -> None:
        self.sign_in_dialog = None
        profile_dir, replica, result = value
        self.profile_dir = profile_dir
        self.replica = replica
        with contextlib.suppress(OSError):
            remember_profile(profile_dir)
        self._show_window()
        self._signed_in(result)

    def _show_window(self) -> None:
        assert self.replica is not None
        self.sync = SyncController(self.replica, self.events, parent=self)
        suffix = self.tr("Demo") if self.options.demo else (self.replica.user_id or "")
        self.window = MainWindow(
            self.replica,
            self.events,
            self.sync,
            self.prefs,
            user_id=self.replica.user_id,
            title_suffix=suffix,
        )
        window = self.window
        window.sig_closing.connect(self.shutdown)
        window.sig_sign_in_requested.connect(self.sign_in_again)
        window.sig_sign_out_requested.connect(self.sign_out)
        window.sig_settings_requested.connect(self.edit_settings)
        window.sig_work_offline_toggled.connect(self._set_work_offline)
        self.events.sig_local_edit.connect(lambda _entity: self._after_edit())
        if self.options.measure_startup:
            window.customer_list.sig_first_paint.connect(self._report_startup)
        if self.options.work_offline:
            window.work_offline_action.blockSignals(True)
            window.work_offline_action.setChecked(True)
            window.work_offline_action.blockSignals(False)
        window.set_signed_in(False)
        self.reminders = Reminders(self.replica, self.events, parent=self)
        self.reminders.sig_show_today.connect(self._show_today)
        self.reminders.sig_due.connect(self._remind_in_status_bar)
        window.show()
        self.reminders.start()
        if not self.options.demo and self.profile_dir is not None:
            with contextlib.suppress(OSError):
                remember_profile(self.profile_dir)

    def _show_today(self) -> None:
        if self.window is not None:
            self.window.show_page(PAGE_TODAY)
            self.window.showNormal()
            self.window.raise_()
            self.window.activateWindow()

    def _remind_in_status_bar(self, items: list[object]) -> None:
        """Without a system tray, the reminder shows in the status bar."""
        if self.window is None or self.reminders is None or self.reminders.tray is not None:
            return
        title, text = self.reminders.message(items)  # type: ignore[arg-type]
        first = text.splitlines()[0] if text else ""
        self.window.statusBar().showMessage(f"{title}: {first}", 30_000)

    def _report_startup(self) -> None:
        import time

        elapsed = (time.perf_counter() - self.options.started_at) * 1000
        print(f"startup-ms {elapsed:.1f}", flush=True)
        if self.window is not None:
            QTimer.singleShot(0, self.window.close)

    @property
    def working_offline(self) -> bool:
        return self.window is not None and self.window.work_offline_action.isChecked()

    # --- sync -----------------------------------------------------------------------------

    def _begin_sync_after_paint(self) -> None:
        """Start the background work once the list has painted (or after a second, if the
        window is not painted at all): the customers show first, the rest follows."""
        assert self.window is not None
        fired = False

        def begin() -> None:
            nonlocal fired
            if fired or self._shut_down:
                return
            fired = True
            self._begin_sync()
            run_in_background(self, search.warm_up, lambda _: None, lambda _: None)

        self.window.customer_list.sig_first_paint.connect(begin)
        QTimer.singleShot(1000, begin)

    def _begin_sync(self) -> None:
        """Start syncing if the profile is signed in (the window is already up). The
        keyring is asked in the background: it may be slow, or wait for its daemon."""
        assert self.replica is not None and self.sync is not None
        if self.options.demo:
            if self.working_offline:
                self.sync.set_work_offline(True)
                return
            self._start_demo()
            return
        profile = server_profile(self.replica)
        if profile is None:
            self.sync.set_needs_sign_in(self.tr("This profile is not signed in to a server."))
            return

        def found(token: str | None) -> None:
            if self.sync is None or self._shut_down:
                return
            if token is None:
                self.sync.set_needs_sign_in(self.tr("Sign in to sync your edits."))
            else:
                self._start_sync(profile, token)

        def no_keyring(exc: BaseException) -> None:
            log.warning("no usable keyring: %s", exc)
            if self.sync is None or self._shut_down:
                return
            self.sync.set_needs_sign_in(
                self.tr(
                    "No system keyring is available, so Outpost cannot stay signed in. "
                    "Sign in for this session."
                )
                if isinstance(exc, NoKeyringError)
                else self.tr("Sign in to sync your edits.")
            )

        run_in_background(self, lambda: stored_token(profile), found, no_keyring)

    def _start_sync(self, profile: ServerProfile, token: str) -> None:
        assert self.sync is not None and self.window is not None
        self._token = token
        self.window.set_signed_in(True, can_sign_out=not self.options.demo)
        self.window.set_user_id(profile.user)
        self.sync.set_work_offline(self.working_offline)
        self.sync.start(profile, token, interval_s=self.prefs.sync_interval_s)

    def _start_demo(self) -> None:
        assert self.replica is not None and self.profile_dir is not None
        replica, profile_dir = self.replica, self.profile_dir

        def start() -> DemoSession:
            session = start_demo(replica, profile_dir, device_name(PROGRAM))
            # Kept here at once, not only through the queued result: a shutdown that waits
            # for this call must stop the server even if the result is never delivered.
            self._demo_sessions.append(session)
            return session

        def started(session: DemoSession) -> None:
            if self._shut_down:
                return  # shutdown() stopped it
            self.demo = session
            self._start_sync(session.profile, session.token)

        def failed(exc: BaseException) -> None:
            log.error("the demo server could not start: %s", exc)
            if self.sync is not None:
                self.sync.set_needs_sign_in(
                    self.tr("The demo server could not start: {reason}").format(reason=exc)
                )

        run_in_background(self, start, started, failed)

    def _after_edit(self) -> None:
        if self.sync is not None and not self.working_offline:
            self.sync.schedule_sync_after_edit()

    def _set_work_offline(self, on: bool) -> None:
        if self.sync is not None:
            self.sync.set_work_offline(on)
        if not on and self.options.demo and self.demo is None:
            self._start_demo()

    def _signed_in(self, result: SignIn) -> None:
        assert self.window is not None
        if not result.token_stored:
            message = (
                self.tr(
                    "No system keyring is available ({reason}): you are signed in for this "
                    "session only, and will be asked again next time. Your password was not "
                    "saved anywhere."
                ).format(reason=result.keyring_problem)
                if result.keyring_problem
                else None
            )
            if message:
                QMessageBox.information(self.window, self.tr("Signed in for this session"), message)
        self._start_sync(result.profile, result.token)

    # --- commands from the window ---------------------------------------------------------

    def _parent(self) -> QWidget | None:
        return self.window

    def sign_in_again(self) -> None:
        assert self.replica is not None
        if self.options.demo:
            if self.demo is None and not self.working_offline:
                self._start_demo()
            return
        replica = self.replica
        profile = server_profile(replica)

        def attempt(request: SignInRequest) -> SignIn:
            return sign_in(
                replica,
                request.server_url,
                request.user,
                request.password,
                device=device_name(PROGRAM),
                ca_file=request.ca_file,
                remember=request.remember,
            )

        dialog = SignInDialog(
            attempt,
            server_url=profile.server_url if profile else "",
            user=profile.user if profile else "",
            locked=profile is not None,
            ca_file=str(profile.ca_file) if profile and profile.ca_file else "",
            parent=self._parent(),
        )
        if dialog.exec():
            if self.sync is not None:
                self.sync.stop()
            self._signed_in(dialog.result_value)

    def sign_out(self) -> None:
        assert self.replica is not None and self.sync is not None
        profile = server_profile(self.replica)
        if profile is None:
            return
        answer = QMessageBox.question(
            self._parent(),
            self.tr("Sign out"),
            self.tr(
                "Sign out of {server}? Your local data and edits waiting to be sent stay "
                "on this computer and are sent after you sign in again."
            ).format(server=profile.server_url),
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.sync.stop()
        token, self._token = self._token, None

        def done(_: object) -> None:
            if self.sync is not None:
                self.sync.set_needs_sign_in(self.tr("Signed out."))
            if self.window is not None:
                self.window.set_signed_in(False)

        run_in_background(self, lambda: sign_out(profile, token), done, done)

    def edit_settings(self) -> None:
        assert self.replica is not None
        profile = server_profile(self.replica)
        current = SettingsValues(
            server_url=profile.server_url if profile and not self.options.demo else "",
            sync_interval_s=self.prefs.sync_interval_s,
            language=self.prefs.language,
            ca_file=str(profile.ca_file) if profile and profile.ca_file else "",
        )
        dialog = SettingsDialog(current, parent=self._parent())
        if not dialog.exec():
            return
        new = dialog.values()
        self.prefs.sync_interval_s = new.sync_interval_s
        if self.sync is not None:
            self.sync.set_interval(self.prefs.sync_interval_s)
        language_changed = new.language != current.language
        if language_changed:
            self.prefs.language = new.language
        self.prefs.sync()
        if language_changed:
            self._offer_restart()
        if profile is None or self.options.demo:
            return
        if new.server_url != current.server_url or new.ca_file != current.ca_file:
            self._move_server(profile, new.server_url, new.ca_file)

    def _offer_restart(self) -> None:
        """A new language shows after a restart: offer it now (edits are saved already)."""
        box = QMessageBox(self._parent())
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle(self.tr("Language"))
        box.setText(self.tr("The new language is used when Outpost starts again."))
        restart = box.addButton(self.tr("Restart now"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(self.tr("Later"), QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is restart and self.window is not None:
            self.restart_requested = True
            self.window.close()
            if self.window.isVisible():  # the user kept the window (unsaved changes)
                self.restart_requested = False

    def _move_server(self, old: ServerProfile, url: str, ca_file: str) -> None:
        """The company's server moved (or its CA changed): keep the profile, its data
        and its sign-in, talk to the new address."""
        assert self.replica is not None and self.sync is not None
        self.sync.stop()
        token = self._token
        self.replica.set_meta(SERVER_URL_KEY, url)
        self.replica.set_meta(CA_FILE_KEY, ca_file)
        new = ServerProfile(url, old.user, Path(ca_file) if ca_file else None)
        if token and url != old.server_url:
            with contextlib.suppress(NoKeyringError):
                if credentials.load_token(old.server_url, old.user) == token:
                    credentials.save_token(url, old.user, token)
                    credentials.delete_token(old.server_url, old.user)
        if token:
            self._start_sync(new, token)
        else:
            self.sync.set_needs_sign_in(self.tr("Sign in to sync your edits."))

    # --- shutdown -------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop everything this session started; waits for every thread."""
        if self._shut_down:
            return
        self._shut_down = True
        if self.reminders is not None:
            self.reminders.stop()
        if self.sync is not None:
            self.sync.stop()
        wait_for_background(self)
        # Every embedded server started, its result delivered or not: none may outlive us.
        for session in self._demo_sessions:
            session.server.stop()
        self._demo_sessions.clear()
        self.demo = None
        if self.replica is not None:
            self.replica.close()
        self.sig_finished.emit()

    def display_name(self) -> str | None:
        return self.replica.get_meta(DISPLAY_NAME_KEY) if self.replica else None


def _set_aside_local_demo(profile_dir: Path) -> None:
    """Outpost 0.1 prepared the demo profile without a server; its replica would not
    match the embedded server's data. Keep it as a backup next to it, start afresh."""
    replica_file = profile_dir / "replica.sqlite3"
    if not replica_file.is_file() or (profile_dir / "server.sqlite3").exists():
        return
    backup = profile_dir / "replica.local-demo.sqlite3"
    log.info("setting the server-less demo replica aside as %s", backup)
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{replica_file}{suffix}")
        if source.exists():
            shutil.move(source, Path(f"{backup}{suffix}"))


def run(options: Options) -> int:
    """Run the app until its window closes; the process exit code."""
    qapp = QApplication.instance()
    assert isinstance(qapp, QApplication)
    outpost = OutpostApp(options)
    outpost.sig_finished.connect(qapp.quit)
    if not outpost.start():
        return 1
    qapp.setQuitOnLastWindowClosed(True)
    code = qapp.exec()
    outpost.shutdown()
    if outpost.restart_requested and code == 0:
        _restart()
    return code


def _restart() -> None:
    """Start Outpost again with the same arguments (after this one has shut down)."""
    import sys

    from PySide6.QtCore import QProcess

    if getattr(sys, "frozen", False):
        program, arguments = sys.executable, sys.argv[1:]
    else:
        program, arguments = sys.executable, ["-m", "app.main", *sys.argv[1:]]
    if not QProcess.startDetached(program, arguments):
        log.error("could not start Outpost again")
