"""One application signal that announces what changed in the replica.

Every write — a form saved in the GUI thread, a page applied by the sync worker — ends by
calling :meth:`DataEvents.announce` with the entity and the ids it touched (``None``: too
many to list, refresh everything of that entity). Views and models decide what to reload;
nobody polls the database.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QObject, Signal


class DataEvents(QObject):
    """The app's one "records changed" hook. Emitted in the GUI thread only: the sync
    worker's announcements reach it through a queued connection."""

    # (entity name, frozenset of record ids or None for "maybe all of them")
    sig_records_changed = Signal(str, object)
    # The user changed something here (not the sync): the outbox has a new edit to send.
    sig_local_edit = Signal(str)

    def announce(
        self, entity: str, ids: Iterable[str] | None = None, *, from_sync: bool = False
    ) -> None:
        """Tell every view that ``ids`` of ``entity`` changed (``None``: possibly all).

        ``from_sync``: the sync engine wrote it (no new edit to push)."""
        self.sig_records_changed.emit(entity, None if ids is None else frozenset(ids))
        if not from_sync:
            self.sig_local_edit.emit(entity)
