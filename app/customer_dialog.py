"""The "New customer" dialog (Ctrl+N in the main window).

The essentials of a new customer — the name is the only required field, the status
starts as "lead" — with inline validation; OK creates it in the replica (with its outbox
row), announces it and exposes :attr:`CustomerDialog.created_id` so the caller can open
it. The owner is not asked: the repository makes the creator the owner, and the server
may reassign it.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from app.events import DataEvents
from app.record_form import RecordDialog
from sync.replica import Replica

CUSTOMER_DIALOG_ROWS: list[str | tuple[str, ...]] = [
    ("name", "company"),
    ("level", "status"),
    ("phone", "mobile"),
    ("email", "city"),
    "notes",
]


class CustomerDialog(RecordDialog):
    """Create one customer."""

    def __init__(self, replica: Replica, events: DataEvents, parent: QWidget | None = None):
        super().__init__(replica, events, "customer", CUSTOMER_DIALOG_ROWS, parent=parent)
        self.setWindowTitle(self.tr("New customer"))
        self.ok_button.setText(self.tr("Create"))
        self.resize(640, self.sizeHint().height())
        self.form.focus_field("name")

    @property
    def created_id(self) -> str | None:
        """The new customer's id once OK succeeded; ``None`` before or after Cancel."""
        if self.result() != RecordDialog.DialogCode.Accepted:
            return None
        return self.record_id
