"""The settings dialog: server address, sync interval, language, company CA file."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.ca_file_field import CaFileField
from app.settings import MAX_SYNC_INTERVAL_S, MIN_SYNC_INTERVAL_S
from sync.account import check_ca_file, normalize_server_url


@dataclass(frozen=True)
class SettingsValues:
    server_url: str  # "" when the profile has no server (never signed in)
    sync_interval_s: int
    language: str  # system / zh_CN / en
    ca_file: str  # "" for none


class SettingsDialog(QDialog):
    """Edit :class:`SettingsValues`; :meth:`values` holds the result once accepted."""

    def __init__(self, current: SettingsValues, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Settings"))
        self.setMinimumWidth(480)
        self._current = current

        self.server_edit = QLineEdit(current.server_url)
        self.server_edit.setPlaceholderText(self.tr("https://crm.example.com:8750"))
        self.server_edit.setToolTip(
            self.tr("Change it only when your company's server moved to a new address.")
        )
        self.interval_spin = QSpinBox()
        self.interval_spin.setRange(MIN_SYNC_INTERVAL_S // 60 or 1, MAX_SYNC_INTERVAL_S // 60)
        self.interval_spin.setValue(max(1, current.sync_interval_s // 60))
        self.interval_spin.setSuffix(self.tr(" min"))
        self.language_combo = QComboBox()
        self.language_combo.addItem(self.tr("System language"), "system")
        self.language_combo.addItem("简体中文", "zh_CN")
        self.language_combo.addItem("English", "en")
        index = self.language_combo.findData(current.language)
        self.language_combo.setCurrentIndex(max(index, 0))
        self.ca_edit = CaFileField(current.ca_file)
        self.ca_edit.setPlaceholderText(self.tr("none: the system's certificate authorities"))

        form = QFormLayout()
        form.addRow(self.tr("Server:"), self.server_edit)
        form.addRow(self.tr("Sync every:"), self.interval_spin)
        form.addRow(self.tr("Language:"), self.language_combo)
        form.addRow(self.tr("Company CA file:"), self.ca_edit)
        self.note = QLabel(self.tr("A new language applies when Outpost starts again."))
        self.note.setWordWrap(True)
        self.note.setObjectName("hint")
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._submit)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 12)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self._values = current
        if not current.server_url:
            self.server_edit.setEnabled(False)
            self.server_edit.setPlaceholderText(self.tr("not signed in"))

    def values(self) -> SettingsValues:
        return self._values

    def _error(self, message: str, focus: QWidget) -> None:
        self.error_label.setText(message)
        self.error_label.show()
        focus.setFocus()

    def _submit(self) -> None:
        url = self._current.server_url
        if self.server_edit.isEnabled():
            try:
                url = normalize_server_url(self.server_edit.text())
            except ValueError:
                self._error(
                    self.tr("Enter the server address, e.g. https://crm.example.com:8750"),
                    self.server_edit,
                )
                return
        ca = self.ca_edit.text().strip()
        if ca:
            try:
                ca = str(check_ca_file(ca))
            except ValueError as exc:
                self._error(
                    self.tr("The CA file cannot be used: {reason}").format(reason=exc),
                    self.ca_edit,
                )
                return
        self._values = SettingsValues(
            server_url=url,
            sync_interval_s=self.interval_spin.value() * 60,
            language=str(self.language_combo.currentData()),
            ca_file=ca,
        )
        self.accept()
