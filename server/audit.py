"""Reading the audit log: the history of a customer and its contacts, follow-ups, deals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from server.models import AuditEntry, table_of

_audit = table_of(AuditEntry)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    username: str
    entity: str
    record_id: str
    op: str
    version: int
    changes: dict[str, list[Any]]
    mutation_id: str | None


def customer_history(conn: Connection, customer_id: str) -> list[HistoryEntry]:
    """Every applied change to the customer and its children, oldest first."""
    rows = conn.execute(
        select(_audit).where(_audit.c.customer_id == customer_id.lower()).order_by(_audit.c.id)
    )
    return [
        HistoryEntry(
            r.at, r.username, r.entity, r.record_id, r.op, r.version, dict(r.changes), r.mutation_id
        )
        for r in rows
    ]


def record_history(conn: Connection, entity: str, record_id: str) -> list[HistoryEntry]:
    rows = conn.execute(
        select(_audit)
        .where(_audit.c.entity == entity, _audit.c.record_id == record_id.lower())
        .order_by(_audit.c.id)
    )
    return [
        HistoryEntry(
            r.at, r.username, r.entity, r.record_id, r.op, r.version, dict(r.changes), r.mutation_id
        )
        for r in rows
    ]


def format_history(entries: list[HistoryEntry]) -> str:
    """Human-readable history, one block per change."""
    if not entries:
        return "no recorded changes"
    lines: list[str] = []
    for e in entries:
        stamp = e.at.strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(
            f"{stamp}  {e.username:<12} {e.op:<14} {e.entity} {e.record_id} (version {e.version})"
        )
        for name, (old, new) in sorted(e.changes.items()):
            lines.append(f"    {name}: {_show(old)} → {_show(new)}")
    return "\n".join(lines)


def _show(value: Any) -> str:
    if value is None:
        return "∅"
    text = str(value) if not isinstance(value, list) else ", ".join(map(str, value))
    text = text.replace("\n", "⏎")
    return text if len(text) <= 80 else text[:77] + "..."
