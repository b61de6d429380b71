"""A customer's follow-ups, newest first, and the quick "log follow-up" box.

The timeline is a lazy list model: it loads the newest :data:`PAGE_SIZE` follow-ups and the
next page whenever the view scrolls to the end (Qt's ``canFetchMore`` / ``fetchMore``), so
a customer with thousands of follow-ups opens as fast as one with three, and no query
reads more than one page by index. A delegate paints each entry — kind, time, content,
next action, sync state — without a widget per row.

Logging follow-ups (:func:`log_follow_up`) also moves the customer's next follow-up date;
the rule is documented there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QKeySequence,
    QPainter,
    QPalette,
    QPen,
    QShortcut,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QStackedLayout,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.labels import choice_label, sync_state_label
from app.record_form import RecordForm, format_local
from app.validation_messages import failed_reasons, server_reason_text
from sync.replica import Replica
from sync.repository import Change, Filter, Record, Sort

PAGE_SIZE = 100
MAX_CONTENT_LINES = 6  # longer notes are cut with "…"; the tooltip has them in full

RecordRole = Qt.ItemDataRole.UserRole + 1
FailedReasonRole = Qt.ItemDataRole.UserRole + 2

_ModelIndex = QModelIndex | QPersistentModelIndex

KIND_COLORS = {
    "call": "#1e88e5",
    "visit": "#43a047",
    "email": "#fb8c00",
    "wechat": "#07a35a",
    "meeting": "#8e24aa",
    "other": "#757575",
}
STATE_COLORS = {
    "synced": "#7a7a7a",
    "pending": "#b26a00",
    "conflict": "#c2185b",
    "failed": "#c62828",
}


# --- writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedFollowUp:
    """What :func:`log_follow_up` wrote: the follow-up, and the customer if it moved."""

    follow_up: Change
    customer: Change | None


def next_follow_up_after_log(
    current: datetime | None, proposed: datetime | None, now: datetime
) -> datetime | None:
    """The customer's next follow-up after logging one that proposes ``proposed``.

    The rule: a logged follow-up with a next-action date moves the customer's next
    follow-up to that date when the customer has none, when the date is earlier than the
    one set, or when the one set is already past — the follow-up being logged is the
    overdue one, and keeping the stale date would leave the customer "overdue" forever.
    A later date never pushes back a pending, future follow-up. Returns the new value,
    or ``None`` when the customer's date stays as it is.
    """
    if proposed is None:
        return None
    if current is None or proposed < current or current <= now:
        return None if proposed == current else proposed
    return None


def log_follow_up(
    replica: Replica,
    customer_id: str,
    values: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> LoggedFollowUp:
    """Create a follow-up of ``customer_id`` that happened ``now`` and apply the
    next-follow-up rule (:func:`next_follow_up_after_log`) to the customer.

    ``values`` are the form's (kind, content, next action and its date). Two writes, each
    with its outbox row; the follow-up comes first, so a failure of the second cannot lose
    what the user typed. Raises ``ValidationError`` / ``RecordNotFoundError`` from the
    repository.
    """
    moment = now or datetime.now(UTC)
    change = replica.follow_ups.create(
        {**values, "customer_id": customer_id, "happened_at": moment, "done": False}
    )
    customer_change: Change | None = None
    created = replica.follow_ups.get(change.record_id)
    customer = replica.customers.get(customer_id)
    if created is not None and customer is not None:
        moved = next_follow_up_after_log(
            customer.values["next_follow_up_at"], created.values["next_action_at"], moment
        )
        if moved is not None:
            customer_change = replica.customers.update(customer_id, {"next_follow_up_at": moved})
    return LoggedFollowUp(change, customer_change)


# --- the model ----------------------------------------------------------------------------


class FollowUpTimelineModel(QAbstractListModel):
    """A customer's follow-ups, newest first, fetched a page at a time."""

    def __init__(
        self,
        replica: Replica,
        customer_id: str,
        *,
        page_size: int = PAGE_SIZE,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._replica = replica
        self._customer_id = customer_id
        self._page_size = page_size
        self._records: list[Record] = []
        self._reasons: dict[str, str] = {}
        self._total = 0
        self.reload()

    @property
    def total(self) -> int:
        """How many follow-ups the customer has (loaded or not)."""
        return self._total

    @property
    def loaded_ids(self) -> frozenset[str]:
        return frozenset(r.id for r in self._records)

    def record(self, row: int) -> Record:
        return self._records[row]

    def _query(self, limit: int, offset: int) -> list[Record]:
        return self._replica.follow_ups.query(
            filters=[Filter("customer_id", "eq", self._customer_id)],
            sort=[Sort("happened_at", True)],
            limit=limit,
            offset=offset,
        )

    def _count(self) -> int:
        return self._replica.follow_ups.count(
            filters=[Filter("customer_id", "eq", self._customer_id)]
        )

    def reload(self) -> None:
        """Read again the follow-ups shown so far (at least one page)."""
        wanted = max(self._page_size, len(self._records))
        records: list[Record] = []
        while len(records) < wanted:
            page = self._query(min(1000, wanted - len(records)), len(records))
            records += page
            if not page:
                break
        self.beginResetModel()
        self._records = records
        self._total = self._count()
        self._reasons = self._failed(records)
        self.endResetModel()

    def _failed(self, records: Iterable[Record]) -> dict[str, str]:
        ids = [r.id for r in records if r.sync_state == "failed"]
        return failed_reasons(self._replica, "follow_up", ids)

    def concerns(self, ids: frozenset[str] | None) -> bool:
        """Whether a change of these follow-up ids can touch this timeline."""
        if ids is None or ids & self.loaded_ids:
            return True
        if len(ids) > 500:
            return True  # cheaper to reload one page than to look them all up
        found = self._replica.follow_ups.count(
            filters=[
                Filter("id", "in", list(ids)),
                Filter("customer_id", "eq", self._customer_id),
            ],
            include_deleted=True,
        )
        return found > 0

    # Qt model API

    def rowCount(self, parent: _ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def canFetchMore(self, parent: _ModelIndex = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and len(self._records) < self._total

    def fetchMore(self, parent: _ModelIndex = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid():
            return
        page = self._query(self._page_size, len(self._records))
        known = self.loaded_ids
        page = [r for r in page if r.id not in known]  # a follow-up logged meanwhile
        if not page:
            self._total = len(self._records)
            return
        first = len(self._records)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self._records += page
        self._reasons.update(self._failed(page))
        self.endInsertRows()

    def data(self, index: _ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._records):
            return None
        record = self._records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return record.values["content"]
        if role == RecordRole:
            return record
        if role == FailedReasonRole:
            return self._reasons.get(record.id)
        if role == Qt.ItemDataRole.ToolTipRole:
            reason = self._reasons.get(record.id)
            if reason:
                return "{}\n\n{}".format(record.values["content"], server_reason_text(reason))
            return record.values["content"]
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return "{} {} {}".format(
                choice_label("kind", record.values["kind"]),
                format_local(record.values["happened_at"]),
                record.values["content"],
            )
        return None


# --- painting -----------------------------------------------------------------------------


_GUTTER = 44
_DOT = 26
_PAD_V = 8
_PAD_RIGHT = 12
_GAP = 3


class FollowUpDelegate(QStyledItemDelegate):
    """Paints a timeline entry: a coloured kind badge on a line, then the text."""

    def __init__(self, view: QListView) -> None:
        super().__init__(view)
        self._view = view
        self._cache: dict[tuple[str, int, int], list[str]] = {}

    def clear_cache(self) -> None:
        self._cache.clear()

    def _text_width(self) -> int:
        return max(120, self._view.viewport().width() - _GUTTER - _PAD_RIGHT)

    def _content_lines(self, record: Record, font: QFont, width: int) -> list[str]:
        key = (record.id, hash(record.values["content"]), width)
        lines = self._cache.get(key)
        if lines is None:
            lines = _wrap(record.values["content"] or "", font, width, MAX_CONTENT_LINES)
            self._cache[key] = lines
        return lines

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont, QFont]:
        base = QFont(option.font)
        bold = QFont(base)
        bold.setBold(True)
        small = QFont(base)
        small.setPointSizeF(max(7.0, base.pointSizeF() * 0.9))
        return base, bold, small

    def sizeHint(self, option: QStyleOptionViewItem, index: _ModelIndex) -> QSize:
        record = index.data(RecordRole)
        if record is None:
            return super().sizeHint(option, index)
        base, bold, small = self._fonts(option)
        width = self._text_width()
        height = _PAD_V + QFontMetrics(bold).height() + _GAP
        height += QFontMetrics(base).lineSpacing() * len(self._content_lines(record, base, width))
        if _has_next(record):
            height += _GAP + QFontMetrics(small).height()
        height = max(height + _PAD_V + 4, _DOT + 2 * _PAD_V)
        return QSize(width + _GUTTER + _PAD_RIGHT, height)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _ModelIndex) -> None:
        record: Record | None = index.data(RecordRole)
        if record is None:
            super().paint(painter, option, index)
            return
        painter.save()
        style = option.widget.style() if option.widget else self._view.style()
        style.drawPrimitive(
            QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget
        )
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        text_color = palette.color(text_role)
        dim = QColor(text_color)
        if not selected:
            dim.setAlphaF(0.62)
        rect = option.rect
        base, bold, small = self._fonts(option)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)

        # The line joining the entries, then the kind badge on it.
        centre_x = rect.left() + _GUTTER // 2
        line = QColor(palette.color(QPalette.ColorRole.Mid))
        painter.setPen(QPen(line, 2))
        top = rect.top() if index.row() > 0 else rect.top() + _PAD_V + _DOT // 2
        model = index.model()
        last = index.row() == model.rowCount() - 1 and not model.canFetchMore(QModelIndex())
        bottom = rect.top() + _PAD_V + _DOT // 2 if last else rect.bottom() + 1
        painter.drawLine(centre_x, top, centre_x, bottom)
        kind = record.values["kind"]
        dot = QRectF(centre_x - _DOT / 2, rect.top() + _PAD_V, _DOT, _DOT)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(KIND_COLORS.get(kind, KIND_COLORS["other"])))
        painter.drawEllipse(dot)
        kind_text = choice_label("kind", kind)
        painter.setPen(QColor("white"))
        painter.setFont(bold)
        painter.drawText(dot, Qt.AlignmentFlag.AlignCenter, kind_text[:1].upper())

        # Header: kind and time on the left, the sync state on the right.
        x = rect.left() + _GUTTER
        width = rect.width() - _GUTTER - _PAD_RIGHT
        y = rect.top() + _PAD_V
        bold_fm = QFontMetrics(bold)
        header = QRect(x, y, width, bold_fm.height())
        state = record.sync_state
        state_text = sync_state_label(state)
        small_fm = QFontMetrics(small)
        state_width = small_fm.horizontalAdvance(state_text) + 16
        painter.setFont(small)
        state_color = QColor(STATE_COLORS.get(state, STATE_COLORS["synced"]))
        if selected:
            state_color = text_color
        painter.setPen(state_color)
        state_rect = QRect(header.right() - state_width, header.top(), state_width, header.height())
        painter.drawText(
            state_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, state_text
        )
        painter.setBrush(state_color)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(QPointF(state_rect.left() + 5, state_rect.center().y() + 1), 3.5, 3.5)
        painter.setFont(bold)
        painter.setPen(text_color)
        painter.drawText(
            header, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, kind_text
        )
        painter.setFont(base)
        painter.setPen(dim)
        when_x = x + bold_fm.horizontalAdvance(kind_text) + 10
        painter.drawText(
            QRect(when_x, header.top(), max(0, state_rect.left() - when_x), header.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            format_local(record.values["happened_at"]),
        )

        # Content, wrapped (Chinese has no spaces: wrap anywhere if need be).
        y = header.bottom() + 1 + _GAP
        painter.setPen(text_color)
        fm = QFontMetrics(base)
        for text in self._content_lines(record, base, self._text_width()):
            painter.drawText(QRect(x, y, width, fm.lineSpacing()), Qt.AlignmentFlag.AlignLeft, text)
            y += fm.lineSpacing()

        # Next action.
        if _has_next(record):
            y += _GAP
            painter.setFont(small)
            next_text, overdue = _next_action_text(record)
            color = dim
            if overdue and not selected:
                color = QColor(STATE_COLORS["failed"])
            painter.setPen(color)
            painter.drawText(
                QRect(x, y, width, small_fm.height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                small_fm.elidedText(next_text, Qt.TextElideMode.ElideRight, width),
            )
        painter.restore()


def _has_next(record: Record) -> bool:
    return bool(record.values["next_action"] or record.values["next_action_at"])


def _next_action_text(record: Record) -> tuple[str, bool]:
    """("Next: send the quote · 2026-05-03 09:00", overdue?)."""
    action = record.values["next_action"] or ""
    when = record.values["next_action_at"]
    done = bool(record.values["done"])
    if action and when:
        text = QCoreApplication.translate("FollowUpTimeline", "Next: {action} · {when}").format(
            action=action, when=format_local(when)
        )
    elif action:
        text = QCoreApplication.translate("FollowUpTimeline", "Next: {action}").format(
            action=action
        )
    else:
        text = QCoreApplication.translate("FollowUpTimeline", "Next follow-up: {when}").format(
            when=format_local(when)
        )
    if done:
        text = QCoreApplication.translate("FollowUpTimeline", "{text} (done)").format(text=text)
    overdue = when is not None and not done and when < datetime.now(UTC)
    return "→ " + text, overdue


def _wrap(text: str, font: QFont, width: int, max_lines: int) -> list[str]:
    """``text`` broken into lines that fit ``width``; the last one elided if cut."""
    lines: list[str] = []
    fm = QFontMetrics(font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    paragraphs = text.splitlines() or [""]
    for p_index, paragraph in enumerate(paragraphs):
        layout = QTextLayout(paragraph, font)
        layout.setTextOption(option)
        layout.beginLayout()
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            piece = paragraph[line.textStart() : line.textStart() + line.textLength()]
            if len(lines) == max_lines - 1:
                rest = paragraph[line.textStart() :]
                more = bool(rest[line.textLength() :].strip()) or p_index < len(paragraphs) - 1
                if more:
                    layout.endLayout()
                    lines.append(fm.elidedText(rest + " …", Qt.TextElideMode.ElideRight, width))
                    return lines
            lines.append(piece.rstrip())
        layout.endLayout()
        if len(lines) >= max_lines:
            break
    return lines


# --- widgets ------------------------------------------------------------------------------


class FollowUpTimeline(QWidget):
    """The timeline view: the lazy list, or a friendly line when there is nothing yet."""

    def __init__(self, model: FollowUpTimelineModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.view = QListView(self)
        self.view.setModel(model)
        self.delegate = FollowUpDelegate(self.view)
        self.view.setItemDelegate(self.delegate)
        self.view.setUniformItemSizes(False)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setMouseTracking(True)
        self.view.setAccessibleName(self.tr("Follow-ups"))
        self.empty = QLabel(self.tr("No follow-ups yet. Log the first one above."), self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setEnabled(False)  # the palette's muted text colour
        self._stack = QStackedLayout(self)
        self._stack.setContentsMargins(0, 0, 0, 0)
        self._stack.addWidget(self.view)
        self._stack.addWidget(self.empty)
        model.modelReset.connect(self._on_reset)
        model.rowsInserted.connect(self._update_empty)
        self._update_empty()

    def reload(self) -> None:
        """Read the shown follow-ups again, keeping the scroll position."""
        bar = self.view.verticalScrollBar()
        position = bar.value()
        self.model.reload()
        bar.setValue(min(position, bar.maximum()))

    def _on_reset(self) -> None:
        self.delegate.clear_cache()
        self._update_empty()

    def _update_empty(self) -> None:
        self._stack.setCurrentWidget(self.view if self.model.rowCount() else self.empty)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.view.scheduleDelayedItemsLayout()  # wrapped heights depend on the width


class FollowUpLogBox(QWidget):
    """The quick "log follow-up" box: kind, content, next action and its date.

    It validates what was typed and emits ``sig_submitted(values)``; the owner writes them
    (see :func:`log_follow_up`) and calls :meth:`clear` — or shows the errors of a refused
    write in :attr:`form`. Ctrl+Enter logs from anywhere in the box.
    """

    sig_submitted = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = RecordForm(
            "follow_up",
            ["content", ("kind", "next_action_at"), "next_action"],
            long_text_lines=3,
            expand_long_text=False,
            parent=self,
        )
        content = self.form.editor("content")
        content.setPlaceholderText(  # type: ignore[attr-defined]
            self.tr("What happened? Ctrl+Enter logs it.")
        )
        self.form.editor("next_action").setPlaceholderText(  # type: ignore[attr-defined]
            self.tr("e.g. send the quote")
        )
        self.log_button = QPushButton(self.tr("Log follow-up"), self)
        self.log_button.setToolTip(self.tr("Log it now (Ctrl+Enter)"))
        self.log_button.setDefault(False)
        self.log_button.clicked.connect(self.submit)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self.submit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.form)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.log_button)
        layout.addLayout(buttons)
        self.clear()

    def has_text(self) -> bool:
        """Whether the user has typed something not logged yet."""
        values = self.form.values()
        return bool(values["content"] or values["next_action"])

    def submit(self) -> bool:
        """Validate and emit ``sig_submitted``; ``False`` (messages shown) when invalid."""
        if not self.isEnabled() or not self.form.validate():
            return False
        self.sig_submitted.emit(self.form.values())
        return True

    def clear(self) -> None:
        """Empty the box for the next entry (kind back to "call")."""
        self.form.set_values({"kind": "call"})
