"""Translated sentences for validation errors, and the server's reasons for refused edits.

``sync.validation`` gives each refused value a machine-readable ``code`` and an English
``message`` for logs; forms show the sentence from here instead, in the UI language, with
the limits taken from the field's schema (``"At most 200 characters."``). The server's
reason for a rejected edit is stored by the sync engine as ``"<code>: <message>"``
(``sync.engine.apply_push_result``); :func:`failed_reasons` reads it from the outbox (a
small Qt-free read through ``sync.outbox``) and :func:`server_reason_text` turns it into a
sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication

from sync import outbox
from sync.schema import FieldKind, FieldSpec
from sync.validation import FieldError

if TYPE_CHECKING:
    from sync.replica import Replica


def field_error_text(error: FieldError, spec: FieldSpec | None) -> str:
    """The sentence a form shows under a field refused with ``error``.

    ``spec`` gives the limits (length, range, number of tags); unknown codes fall back to
    the English message of ``sync.validation`` rather than to nothing.
    """
    code = error.code
    if code == "required":
        if spec is not None and spec.kind is FieldKind.BOOLEAN:
            return QCoreApplication.translate("ValidationMessages", "Choose yes or no.")
        return QCoreApplication.translate("ValidationMessages", "This field is required.")
    if code == "too_long":
        if spec is not None and spec.kind is FieldKind.TAGS:
            return QCoreApplication.translate(
                "ValidationMessages", "Each tag can have at most {limit} characters."
            ).format(limit=spec.max_length)
        if spec is not None and spec.max_length is not None:
            return QCoreApplication.translate(
                "ValidationMessages", "At most {limit} characters are allowed."
            ).format(limit=spec.max_length)
        return QCoreApplication.translate("ValidationMessages", "This text is too long.")
    if code == "too_many":
        limit = spec.max_items if spec is not None else None
        return QCoreApplication.translate(
            "ValidationMessages", "At most {limit} tags are allowed."
        ).format(limit=limit)
    if code == "invalid_email":
        return QCoreApplication.translate(
            "ValidationMessages", "Enter an email address such as name@example.com."
        )
    if code == "invalid_phone":
        return QCoreApplication.translate(
            "ValidationMessages",
            "Enter a phone number such as 138 0013 8000.",
        )
    if code == "invalid_characters":
        if spec is not None and spec.kind is FieldKind.TAGS:
            return QCoreApplication.translate(
                "ValidationMessages", "Separate tags with commas; a tag cannot contain line breaks."
            )
        if spec is not None and spec.kind is FieldKind.LONG_TEXT:
            return QCoreApplication.translate(
                "ValidationMessages", "This text contains control characters."
            )
        return QCoreApplication.translate("ValidationMessages", "Enter a single line of text.")
    if code == "invalid_choice":
        return QCoreApplication.translate("ValidationMessages", "Choose one of the listed values.")
    if code == "invalid_currency":
        return QCoreApplication.translate(
            "ValidationMessages", "Enter a three-letter currency code such as CNY."
        )
    if code == "invalid_amount":
        return QCoreApplication.translate(
            "ValidationMessages", "Enter an amount with at most two decimals, such as 12500.00."
        )
    if code == "out_of_range":
        return _range_text(spec)
    if code in ("invalid_date", "invalid_datetime"):
        return QCoreApplication.translate("ValidationMessages", "Enter a valid date.")
    if code in ("invalid_type", "invalid_text"):
        return _kind_text(spec)
    if code in ("invalid_id", "unknown_field", "not_editable", "duplicate_id"):
        return QCoreApplication.translate(
            "ValidationMessages", "This value cannot be saved ({code})."
        ).format(code=code)
    if code == "unknown_parent":
        return QCoreApplication.translate("ValidationMessages", "The customer no longer exists.")
    return error.message


def _range_text(spec: FieldSpec | None) -> str:
    if spec is None:
        return QCoreApplication.translate("ValidationMessages", "This value is out of range.")
    if spec.kind in (FieldKind.DATE, FieldKind.DATETIME):
        return QCoreApplication.translate(
            "ValidationMessages", "Enter a date between 1900 and 2999."
        )
    low, high = spec.min_value, spec.max_value
    if low is not None and high is not None:
        return QCoreApplication.translate(
            "ValidationMessages", "Enter a value from {low} to {high}."
        ).format(low=low, high=high)
    if low is not None:
        return QCoreApplication.translate(
            "ValidationMessages", "Enter a value of at least {low}."
        ).format(low=low)
    if high is not None:
        return QCoreApplication.translate(
            "ValidationMessages", "Enter a value of at most {high}."
        ).format(high=high)
    return QCoreApplication.translate("ValidationMessages", "This value is out of range.")


def _kind_text(spec: FieldSpec | None) -> str:
    kind = spec.kind if spec is not None else None
    if kind is FieldKind.INTEGER:
        return QCoreApplication.translate("ValidationMessages", "Enter a whole number.")
    if kind is FieldKind.MONEY:
        return QCoreApplication.translate(
            "ValidationMessages", "Enter an amount with at most two decimals, such as 12500.00."
        )
    if kind in (FieldKind.DATE, FieldKind.DATETIME):
        return QCoreApplication.translate("ValidationMessages", "Enter a valid date.")
    if kind is FieldKind.TAGS:
        return QCoreApplication.translate("ValidationMessages", "Enter tags separated by commas.")
    return QCoreApplication.translate("ValidationMessages", "This value has the wrong form.")


def server_reason_text(last_error: str | None) -> str:
    """A sentence for the server's reason for refusing an edit.

    ``last_error`` is what the sync engine stored: ``"<code>: <message>"``. Known codes get
    a translated sentence; the server's own (English) detail follows in parentheses where
    it adds something, because it names the field or value concerned.
    """
    if not last_error:
        return QCoreApplication.translate("ValidationMessages", "The server refused this change.")
    code, sep, detail = last_error.partition(": ")
    if not sep:
        code, detail = "", last_error
    sentences = {
        "forbidden": QCoreApplication.translate(
            "ValidationMessages", "You are not allowed to make this change."
        ),
        "not_found": QCoreApplication.translate(
            "ValidationMessages", "The record no longer exists on the server."
        ),
        "parent_deleted": QCoreApplication.translate(
            "ValidationMessages", "Its customer was deleted on the server."
        ),
        "parent_missing": QCoreApplication.translate(
            "ValidationMessages", "Its customer does not exist on the server."
        ),
        "invalid": QCoreApplication.translate("ValidationMessages", "Some values are invalid."),
        "invalid_owner": QCoreApplication.translate(
            "ValidationMessages", "The owner is not an active user."
        ),
        "duplicate_id": QCoreApplication.translate(
            "ValidationMessages", "A record with the same id already exists."
        ),
    }
    sentence = sentences.get(code)
    if sentence is None:
        return last_error
    if not detail:
        return sentence
    return QCoreApplication.translate("ValidationMessages", "{sentence} Details: {detail}").format(
        sentence=sentence, detail=detail
    )


def failed_reasons(replica: Replica, entity: str, record_ids: Iterable[str]) -> dict[str, str]:
    """The server's reason (``"<code>: <message>"``) for each of ``record_ids`` that has a
    refused edit in the outbox; records without one are left out.

    Only records whose ``sync_state`` is "failed" need asking, and refused edits are rare,
    so this reads a handful of outbox rows. The oldest refused edit of a record speaks for
    it: later edits of that record wait behind it.
    """
    wanted = set(record_ids)
    if not wanted:
        return {}
    with replica.read() as conn:
        if len(wanted) <= _FEW:
            found = [
                m
                for rid in sorted(wanted)
                for m in outbox.list_mutations(conn, status="failed", record_id=rid)
            ]
        else:
            found = outbox.list_mutations(conn, status="failed")
    reasons: dict[str, str] = {}
    for mutation in sorted(found, key=lambda m: m.seq):
        if mutation.entity == entity and mutation.record_id in wanted:
            reasons.setdefault(mutation.record_id, mutation.last_error or "")
    return reasons


_FEW = 20
