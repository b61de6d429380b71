"""The sign-in dialog: server address, user, password, "remember me", company CA.

The password check runs off the GUI thread (:mod:`app.background`); the dialog stays
responsive and shows what went wrong in plain words under the form. The work itself —
opening the right profile, asking the server, storing the token — is the caller's
``attempt`` callable, so the dialog serves both the first run and "sign in again".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from app.background import run_in_background
from app.ca_file_field import CaFileField
from sync.account import ProfileMismatchError, check_ca_file, normalize_server_url
from sync.transport import (
    AuthError,
    CertificateError,
    OfflineError,
    ProtocolError,
    RequestRejected,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignInRequest:
    """What the user typed, checked."""

    server_url: str
    user: str
    password: str
    remember: bool
    ca_file: Path | None


Attempt = Callable[[SignInRequest], Any]


class SignInDialog(QDialog):
    """Ask for the server, user and password; run ``attempt`` in the background.

    ``result_value`` holds what ``attempt`` returned once the dialog is accepted. With
    ``locked=True`` the server and user are shown but cannot be changed (signing an
    existing profile in again)."""

    sig_signed_in = Signal(object)

    def __init__(
        self,
        attempt: Attempt,
        *,
        server_url: str = "",
        user: str = "",
        locked: bool = False,
        ca_file: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._attempt = attempt
        self.result_value: Any = None
        self._busy = False
        self.setWindowTitle(self.tr("Sign in to Outpost"))
        self.setModal(True)
        self.setMinimumWidth(520)

        heading = QLabel(self.tr("Sign in to your company's Outpost server"))
        font = heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        heading.setFont(font)
        intro = QLabel(
            self.tr(
                "Your customers are kept on this computer, so you can work offline. "
                "Signing in lets Outpost send your edits and fetch your colleagues'."
            )
        )
        intro.setWordWrap(True)
        intro.setObjectName("hint")

        self.server_edit = QLineEdit(server_url)
        self.server_edit.setPlaceholderText(self.tr("https://crm.example.com:8750"))
        self.user_edit = QLineEdit(user)
        self.user_edit.setPlaceholderText(self.tr("your user name"))
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember_box = QCheckBox(self.tr("Remember me on this computer"))
        self.remember_box.setChecked(True)
        self.remember_box.setToolTip(
            self.tr("Keeps a sign-in token in the system keyring (never the password).")
        )
        self.ca_edit = CaFileField(ca_file)
        self.ca_edit.setPlaceholderText(self.tr("only if your company uses its own CA"))
        if locked:
            self.server_edit.setReadOnly(True)
            self.user_edit.setReadOnly(True)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        form.addRow(self.tr("Server:"), self.server_edit)
        form.addRow(self.tr("User:"), self.user_edit)
        form.addRow(self.tr("Password:"), self.password_edit)
        form.addRow("", self.remember_box)
        form.addRow(self.tr("Company CA file:"), self.ca_edit)

        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumHeight(6)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.sign_in_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.sign_in_button.setText(self.tr("Sign in"))
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addWidget(intro)
        layout.addSpacing(6)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.busy_bar)
        layout.addWidget(self.buttons)

        for edit in (self.server_edit, self.user_edit, self.password_edit):
            edit.textChanged.connect(self._update_button)
        self._update_button()
        if not server_url:
            self.server_edit.setFocus()
        elif not user:
            self.user_edit.setFocus()
        else:
            self.password_edit.setFocus()

    # --- input ----------------------------------------------------------------------------

    def _update_button(self) -> None:
        ready = all(e.text().strip() for e in (self.server_edit, self.user_edit)) and bool(
            self.password_edit.text()
        )
        self.sign_in_button.setEnabled(ready and not self._busy)

    def request(self) -> SignInRequest | None:
        """The checked input, or ``None`` after showing what is wrong."""
        try:
            url = normalize_server_url(self.server_edit.text())
        except ValueError:
            self.show_error(
                self.tr("Enter the server address, e.g. https://crm.example.com:8750"),
                self.server_edit,
            )
            return None
        user = self.user_edit.text().strip()
        if not user:
            self.show_error(self.tr("Enter your user name."), self.user_edit)
            return None
        password = self.password_edit.text()
        if not password:
            self.show_error(self.tr("Enter your password."), self.password_edit)
            return None
        ca_file: Path | None = None
        if self.ca_edit.text().strip():
            try:
                ca_file = check_ca_file(self.ca_edit.text().strip())
            except ValueError as exc:
                self.show_error(
                    self.tr("The CA file cannot be used: {reason}").format(reason=exc),
                    self.ca_edit,
                )
                return None
        return SignInRequest(url, user, password, self.remember_box.isChecked(), ca_file)

    def show_error(self, message: str, focus: QWidget | None = None) -> None:
        self.error_label.setText(message)
        self.error_label.show()
        if focus is not None:
            focus.setFocus()

    # --- signing in -----------------------------------------------------------------------

    def _submit(self) -> None:
        if self._busy:
            return
        request = self.request()
        if request is None:
            return
        self._set_busy(True)
        self.error_label.hide()
        run_in_background(self, lambda: self._attempt(request), self._done, self._failed)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.busy_bar.setVisible(busy)
        for w in (self.server_edit, self.user_edit, self.password_edit, self.ca_edit):
            w.setEnabled(not busy)
        self.remember_box.setEnabled(not busy)
        self._update_button()

    def _done(self, result: object) -> None:
        self._set_busy(False)
        self.result_value = result
        self.password_edit.clear()
        self.sig_signed_in.emit(result)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.show_error(self.describe_error(exc), self.password_edit)
        self.password_edit.selectAll()

    def describe_error(self, exc: BaseException) -> str:
        """What went wrong, in plain words."""
        server = self.server_edit.text().strip()
        if isinstance(exc, AuthError):
            return self.tr("Wrong user name or password.")
        if isinstance(exc, CertificateError):
            return self.tr(
                "The server's certificate is not trusted. If your company uses its own "
                "certificate authority, choose its CA file below."
            )
        if isinstance(exc, OfflineError):
            if exc.retry_after:
                return self.tr("Too many attempts. Wait {seconds} seconds and try again.").format(
                    seconds=int(exc.retry_after + 0.999)
                )
            return self.tr(
                "Cannot reach the server at {server}. Check the address and your connection."
            ).format(server=server)
        if isinstance(exc, ProfileMismatchError):
            return self.tr("This profile belongs to another account: {reason}").format(reason=exc)
        if isinstance(exc, RequestRejected | ProtocolError):
            return self.tr("The server refused the sign-in: {reason}").format(reason=exc)
        return self.tr("Signing in failed: {reason}").format(reason=exc)

    def reject(self) -> None:
        if self._busy:
            return  # the request finishes first; it is short (connect timeout)
        super().reject()
