"""Add or edit one contact of a customer."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from app.events import DataEvents
from app.record_form import RecordDialog
from sync.replica import Replica
from sync.repository import Change, Filter

CONTACT_DIALOG_ROWS: list[str | tuple[str, ...]] = [
    ("name", "title"),
    ("phone", "mobile"),
    ("email", "wechat"),
    "is_primary",
    "notes",
]


class ContactDialog(RecordDialog):
    """A contact of ``customer_id``: new when ``contact_id`` is ``None``.

    A customer has one primary contact: marking this one primary clears the mark on the
    others (each its own edit, announced together).
    """

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        customer_id: str,
        contact_id: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            replica,
            events,
            "contact",
            CONTACT_DIALOG_ROWS,
            record_id=contact_id,
            fixed={"customer_id": customer_id},
            parent=parent,
        )
        self._customer_id = customer_id
        self.setWindowTitle(
            self.tr("New contact") if contact_id is None else self.tr("Edit contact")
        )
        self.resize(600, self.sizeHint().height())
        self.form.focus_field("name")

    def _after_write(self, change: Change) -> set[str]:
        record = self._replica.contacts.get(change.record_id)
        if record is None or not record.values["is_primary"]:
            return set()
        others = self._replica.contacts.query(
            filters=[
                Filter("customer_id", "eq", self._customer_id),
                Filter("is_primary", "eq", True),
                Filter("id", "ne", change.record_id),
            ],
            limit=100,
        )
        for other in others:
            self._replica.contacts.update(other.id, {"is_primary": False})
        return {o.id for o in others}
