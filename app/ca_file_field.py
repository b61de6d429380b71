"""The "Company CA file" field of the sign-in and settings dialogs: a path and Browse…."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


class CaFileField(QWidget):
    """A line edit for the path of a company CA certificate, and a Browse… button that
    picks one with a file dialog. The text is the path as typed ("" for none); checking
    it (:func:`sync.account.check_ca_file`) is the dialog's job."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.line_edit = QLineEdit(text)
        self.browse_button = QPushButton(self.tr("Browse…"))
        self.browse_button.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.line_edit, 1)
        layout.addWidget(self.browse_button)
        # Focus given to the field (e.g. to point at a refused path) goes to the path.
        self.setFocusProxy(self.line_edit)

    def text(self) -> str:
        return self.line_edit.text()

    def setText(self, text: str) -> None:
        self.line_edit.setText(text)

    def clear(self) -> None:
        self.line_edit.clear()

    def setPlaceholderText(self, text: str) -> None:
        self.line_edit.setPlaceholderText(text)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            self.tr("Company CA certificate"),
            self.text() or str(Path.home()),
            self.tr("Certificates (*.pem *.crt *.cer);;All files (*)"),
        )
        if path:
            self.setText(path)
