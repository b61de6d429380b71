"""Translated names of the schema's fields and choices.

The schema (``sync.schema``) keeps English labels and stored choice values; the app shows
them through Qt's translation. Each text is written out literally so that ``lupdate``
finds it; ``tests/app/test_translations.py`` checks that every label and choice of the
schema has an entry here.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from sync.schema import ENTITIES


def _field_labels() -> dict[str, str]:
    return {
        "Address": QCoreApplication.translate("Fields", "Address"),
        "Amount": QCoreApplication.translate("Fields", "Amount"),
        "City": QCoreApplication.translate("Fields", "City"),
        "Company": QCoreApplication.translate("Fields", "Company"),
        "Contact": QCoreApplication.translate("Fields", "Contact"),
        "Content": QCoreApplication.translate("Fields", "Content"),
        "Created": QCoreApplication.translate("Fields", "Created"),
        "Currency": QCoreApplication.translate("Fields", "Currency"),
        "Customer": QCoreApplication.translate("Fields", "Customer"),
        "Deleted": QCoreApplication.translate("Fields", "Deleted"),
        "Done": QCoreApplication.translate("Fields", "Done"),
        "Email": QCoreApplication.translate("Fields", "Email"),
        "Expected close": QCoreApplication.translate("Fields", "Expected close"),
        "Happened at": QCoreApplication.translate("Fields", "Happened at"),
        "ID": QCoreApplication.translate("Fields", "ID"),
        "Industry": QCoreApplication.translate("Fields", "Industry"),
        "Kind": QCoreApplication.translate("Fields", "Kind"),
        "Level": QCoreApplication.translate("Fields", "Level"),
        "Mobile": QCoreApplication.translate("Fields", "Mobile"),
        "Name": QCoreApplication.translate("Fields", "Name"),
        "Next action": QCoreApplication.translate("Fields", "Next action"),
        "Next action at": QCoreApplication.translate("Fields", "Next action at"),
        "Next follow-up": QCoreApplication.translate("Fields", "Next follow-up"),
        "Notes": QCoreApplication.translate("Fields", "Notes"),
        "Owner": QCoreApplication.translate("Fields", "Owner"),
        "Phone": QCoreApplication.translate("Fields", "Phone"),
        "Primary contact": QCoreApplication.translate("Fields", "Primary contact"),
        "Probability (%)": QCoreApplication.translate("Fields", "Probability (%)"),
        "Source": QCoreApplication.translate("Fields", "Source"),
        "Stage": QCoreApplication.translate("Fields", "Stage"),
        "Status": QCoreApplication.translate("Fields", "Status"),
        "Tags": QCoreApplication.translate("Fields", "Tags"),
        "Title": QCoreApplication.translate("Fields", "Title"),
        "Updated": QCoreApplication.translate("Fields", "Updated"),
        "Updated by": QCoreApplication.translate("Fields", "Updated by"),
        "Version": QCoreApplication.translate("Fields", "Version"),
        "WeChat": QCoreApplication.translate("Fields", "WeChat"),
    }


def _choice_labels() -> dict[tuple[str, str], str]:
    return {
        ("level", "A"): QCoreApplication.translate("Choices", "A"),
        ("level", "B"): QCoreApplication.translate("Choices", "B"),
        ("level", "C"): QCoreApplication.translate("Choices", "C"),
        ("level", "D"): QCoreApplication.translate("Choices", "D"),
        ("status", "lead"): QCoreApplication.translate("Choices", "Lead"),
        ("status", "prospect"): QCoreApplication.translate("Choices", "Prospect"),
        ("status", "active"): QCoreApplication.translate("Choices", "Active"),
        ("status", "dormant"): QCoreApplication.translate("Choices", "Dormant"),
        ("status", "lost"): QCoreApplication.translate("Choices", "Lost"),
        ("kind", "call"): QCoreApplication.translate("Choices", "Call"),
        ("kind", "visit"): QCoreApplication.translate("Choices", "Visit"),
        ("kind", "email"): QCoreApplication.translate("Choices", "Email"),
        ("kind", "wechat"): QCoreApplication.translate("Choices", "WeChat"),
        ("kind", "meeting"): QCoreApplication.translate("Choices", "Meeting"),
        ("kind", "other"): QCoreApplication.translate("Choices", "Other"),
        ("stage", "initial"): QCoreApplication.translate("Choices", "Initial"),
        ("stage", "qualified"): QCoreApplication.translate("Choices", "Qualified"),
        ("stage", "proposal"): QCoreApplication.translate("Choices", "Proposal"),
        ("stage", "negotiation"): QCoreApplication.translate("Choices", "Negotiation"),
        ("stage", "won"): QCoreApplication.translate("Choices", "Won"),
        ("stage", "lost"): QCoreApplication.translate("Choices", "Lost"),
    }


def _sync_state_labels() -> dict[str, str]:
    return {
        "synced": QCoreApplication.translate("SyncState", "Synced"),
        "pending": QCoreApplication.translate("SyncState", "Pending"),
        "conflict": QCoreApplication.translate("SyncState", "Conflict"),
        "failed": QCoreApplication.translate("SyncState", "Failed"),
    }


def field_label(entity: str, field: str) -> str:
    """The field's label in the UI language (``field_label("customer", "name")``)."""
    label = ENTITIES[entity].field(field).label
    return _field_labels().get(label, label)


def choice_label(field: str, value: str | None) -> str:
    """A choice's display text (``choice_label("status", "lead")`` → "Lead" / "线索")."""
    if value is None:
        return ""
    return _choice_labels().get((field, value), value)


def sync_state_label(state: str) -> str:
    """synced / pending / conflict / failed in the UI language."""
    return _sync_state_labels().get(state, state)
