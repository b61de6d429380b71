"""Add or edit one deal of a customer."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from app.events import DataEvents
from app.record_form import RecordDialog
from sync.replica import Replica

DEAL_DIALOG_ROWS: list[str | tuple[str, ...]] = [
    "title",
    ("amount", "currency"),
    ("stage", "probability"),
    "expected_close",
    "notes",
]


class DealDialog(RecordDialog):
    """A deal of ``customer_id``: new when ``deal_id`` is ``None``."""

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        customer_id: str,
        deal_id: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            replica,
            events,
            "deal",
            DEAL_DIALOG_ROWS,
            record_id=deal_id,
            fixed={"customer_id": customer_id},
            parent=parent,
        )
        self.setWindowTitle(self.tr("New deal") if deal_id is None else self.tr("Edit deal"))
        self.resize(560, self.sizeHint().height())
        self.form.focus_field("title")
