"""The Deals page: the pipeline chart on top, the deals list below.

"My deals" shows the deals of the signed-in user's customers, "Team" every deal the
replica holds (the server already limits it to what the user may see). A click on a
stage's bar lists only that stage (a second click lists every stage again).

A deal's stage changes quickly, without opening anything: the context menu's "Move to
stage", Alt+Right / Alt+Left (next / previous stage), or F2 (or a click on the selected
stage cell) for a stage drop-down. The write goes through the repository and is
announced, so the chart, the list and the sync follow.

Double-click or Enter opens the deal's customer (its workspace lists and edits its deals
and shows the history around them); "Edit deal…" (Ctrl+E) opens the deal itself.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import (
    QAbstractItemModel,
    QByteArray,
    QEvent,
    QItemSelectionModel,
    QLocale,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QActionGroup, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.deal_dialog import DealDialog
from app.deal_table_model import DealTableModel, format_money
from app.events import DataEvents
from app.labels import choice_label
from app.pipeline_chart import PipelineChart
from app.table_view import lazy_table_view
from sync import pipeline
from sync.pipeline import OPEN_STAGES, PIPELINE_STAGES, PipelineSummary, Scope
from sync.replica import Replica

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex

# The order Alt+Right walks; a lost deal steps back into negotiation with Alt+Left.
_FORWARD = (*OPEN_STAGES, "won")

_WIDTHS = {
    DealTableModel.TITLE: 200,
    DealTableModel.CUSTOMER: 150,
    DealTableModel.STAGE: 90,
    DealTableModel.AMOUNT: 140,
    DealTableModel.PROBABILITY: 80,
    DealTableModel.EXPECTED_CLOSE: 110,
    DealTableModel.OWNER: 90,
    DealTableModel.SYNC: 90,
}


def next_stage(stage: str, step: int) -> str | None:
    """The stage ``step`` (+1 or -1) along the pipeline from ``stage``, or ``None`` at its
    end. Won is the step after negotiation; lost has no next, and steps back to negotiation."""
    if stage == "lost":
        return OPEN_STAGES[-1] if step < 0 else None
    if stage not in _FORWARD:
        return None
    at = _FORWARD.index(stage) + step
    return _FORWARD[at] if 0 <= at < len(_FORWARD) else None


class StageDelegate(QStyledItemDelegate):
    """A drop-down of the stages in the stage column: choosing one writes it at once."""

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: _Index) -> QWidget:
        combo = QComboBox(parent)
        combo.setObjectName("stageEditor")
        for stage in PIPELINE_STAGES:
            combo.addItem(choice_label("stage", stage), stage)
        # A choice is the whole edit: commit and close without waiting for Enter.
        combo.activated.connect(lambda _i, c=combo: self._commit(c))
        return combo

    def _commit(self, combo: QComboBox) -> None:
        self.commitData.emit(combo)
        self.closeEditor.emit(combo, QStyledItemDelegate.EndEditHint.NoHint)

    def setEditorData(self, editor: QWidget, index: _Index) -> None:
        assert isinstance(editor, QComboBox)
        at = editor.findData(index.data(Qt.ItemDataRole.EditRole))
        editor.setCurrentIndex(max(at, 0))

    def setModelData(self, editor: QWidget, model: QAbstractItemModel, index: _Index) -> None:
        assert isinstance(editor, QComboBox)
        stage = editor.currentData()
        if stage is not None and stage != index.data(Qt.ItemDataRole.EditRole):
            model.setData(index, stage, Qt.ItemDataRole.EditRole)


class DealsPage(QWidget):
    """Pipeline chart, "My deals / Team", filters and the deals list."""

    sig_open_customer = Signal(str)
    # The summary the chart shows was read again (after a change, a scope switch).
    sig_summary_changed = Signal()

    DEFAULT_REFRESH_DELAY_MS = 40

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        user_id: str | None,
        parent: QWidget | None = None,
        *,
        refresh_delay_ms: int = DEFAULT_REFRESH_DELAY_MS,
    ) -> None:
        super().__init__(parent)
        self._replica = replica
        self._events = events
        self._user_id = user_id
        self._scope: Scope = "mine" if user_id else "team"
        self._scope_chosen = False  # the user picked one: signing in does not change it
        self._selected_id: str | None = None
        self._refreshing = False
        self._dialogs: list[DealDialog] = []

        self._model = DealTableModel(replica, events, user_id, self)
        self._model.set_scope(self._scope)

        # --- scope and headline ---
        self._mine_button = QToolButton(self)
        self._mine_button.setObjectName("mineScope")
        self._mine_button.setText(self.tr("My deals"))
        self._mine_button.setToolTip(self.tr("Deals of the customers you own"))
        self._team_button = QToolButton(self)
        self._team_button.setObjectName("teamScope")
        self._team_button.setText(self.tr("Team"))
        self._team_button.setToolTip(self.tr("Every deal you can see"))
        self._scope_group = QButtonGroup(self)
        self._scope_group.setExclusive(True)
        for button in (self._mine_button, self._team_button):
            button.setCheckable(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setMinimumWidth(90)
            self._scope_group.addButton(button)
        self._mine_button.setChecked(self._scope == "mine")
        self._team_button.setChecked(self._scope == "team")
        self._mine_button.toggled.connect(self._on_scope_toggled)
        self._headline = QLabel(self)
        self._headline.setObjectName("pipelineHeadline")
        self._headline.setTextFormat(Qt.TextFormat.PlainText)

        # --- chart ---
        self._chart = PipelineChart(self)
        self._chart.sig_stage_clicked.connect(self._on_bar_clicked)

        # --- list filters ---
        self._stage = QComboBox(self)
        self._stage.setObjectName("stageFilter")
        self._stage.addItem(self.tr("All stages"), None)
        for stage in PIPELINE_STAGES:
            self._stage.addItem(choice_label("stage", stage), stage)
        self._stage.currentIndexChanged.connect(self._apply_filters)
        self._open_only = QCheckBox(self.tr("Open deals only"), self)
        self._open_only.setObjectName("openOnlyFilter")
        self._open_only.setToolTip(self.tr("Leave out won and lost deals"))
        self._open_only.toggled.connect(self._apply_filters)
        self._count = QLabel(self)
        self._count.setObjectName("dealCount")
        self._message = QLabel(self)
        self._message.setObjectName("dealMessage")
        self._message.setStyleSheet("color: #d0342c;")
        self._message.setWordWrap(True)
        self._message.hide()

        # --- table ---
        self._table = lazy_table_view(self, self._model, "dealTable", _WIDTHS)
        self._table.setItemDelegateForColumn(DealTableModel.STAGE, StageDelegate(self._table))
        self._table.setEditTriggers(
            QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.SelectedClicked
        )
        self._table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._table.customContextMenuRequested.connect(self._show_context_menu)
        header = self._table.horizontalHeader()
        header.setSortIndicator(self._model.sort_column, self._model.sort_order)
        self._table.setSortingEnabled(True)
        header.sortIndicatorChanged.connect(self._on_sort_indicator)
        self._table.doubleClicked.connect(self._open_index)
        self._table.installEventFilter(self)  # Enter opens the customer too

        self._build_actions()

        self._model.sig_count_changed.connect(self._show_count)
        self._model.sig_about_to_refresh.connect(self._on_about_to_refresh)
        self._model.sig_refreshed.connect(self._on_refreshed)
        self._model.sig_write_failed.connect(self._show_message)
        self._table.selectionModel().selectionChanged.connect(self._on_selection_changed)

        # The summary is read again a moment after deals or customers change, once for
        # a burst of announcements (a sync applies page after page).
        self._summary_timer = QTimer(self)
        self._summary_timer.setSingleShot(True)
        self._summary_timer.setInterval(refresh_delay_ms)
        self._summary_timer.timeout.connect(self.refresh_summary)
        events.sig_records_changed.connect(self._on_records_changed)

        top = QHBoxLayout()
        top.setContentsMargins(6, 6, 6, 2)
        top.setSpacing(0)
        top.addWidget(self._mine_button)
        top.addWidget(self._team_button)
        top.addSpacing(16)
        top.addWidget(self._headline, 1)
        filters = QHBoxLayout()
        filters.setContentsMargins(6, 2, 6, 2)
        filters.addWidget(self._stage)
        filters.addWidget(self._open_only)
        filters.addStretch(1)
        filters.addWidget(self._count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self._chart)
        layout.addLayout(filters)
        layout.addWidget(self._table, 1)
        layout.addWidget(self._message)
        self.setFocusProxy(self._table)

        self._update_scope_buttons()
        self.refresh_summary()
        self._show_count(self._model.rowCount())

    # --- public API ---------------------------------------------------------------------

    @property
    def model(self) -> DealTableModel:
        return self._model

    @property
    def table(self) -> QTableView:
        return self._table

    @property
    def chart(self) -> PipelineChart:
        return self._chart

    @property
    def scope(self) -> Scope:
        return self._scope

    @property
    def headline(self) -> str:
        return self._headline.text()

    def set_scope(self, scope: Scope) -> None:
        """Show "my deals" (``"mine"``) or the whole team's (``"team"``), chart and list."""
        if scope == "mine" and self._user_id is None:
            return  # not signed in: nothing is "mine" yet
        self._scope_chosen = True
        self._set_scope(scope)

    def set_user_id(self, user_id: str | None) -> None:
        """Who is signed in: "My deals" follows (and becomes the view, unless the user
        chose "Team")."""
        self._user_id = user_id
        self._model.set_user_id(user_id)
        if user_id is None:
            self._set_scope("team")
        elif not self._scope_chosen:
            self._set_scope("mine")
        self._update_scope_buttons()
        self.refresh_summary()

    def set_stage_filter(self, stage: str | None) -> None:
        """List only deals in ``stage`` (``None``: every stage); the chart marks it."""
        at = self._stage.findData(stage) if stage is not None else 0
        self._stage.setCurrentIndex(max(at, 0))  # _apply_filters follows

    @property
    def stage_filter(self) -> str | None:
        data = self._stage.currentData()
        return str(data) if data is not None else None

    def set_open_only(self, open_only: bool) -> None:
        self._open_only.setChecked(open_only)

    def refresh_summary(self) -> None:
        """Read the pipeline of the current scope again and draw it (one GROUP BY)."""
        self._summary_timer.stop()
        summary = pipeline.pipeline_summary(self._replica, scope=self._scope, user_id=self._user_id)
        self._chart.set_summary(summary)
        self._headline.setText(self._headline_text(summary))
        self.sig_summary_changed.emit()

    def current_deal_id(self) -> str | None:
        """The selected deal's id, if any."""
        rows = self._table.selectionModel().selectedRows()
        if not rows:
            return None
        return self._model.record_id(rows[0].row())

    def select_deal(self, deal_id: str) -> bool:
        """Select and show the deal's row if the list shows it; whether it did."""
        row = self._model.row_of(deal_id)
        if row is None:
            return False
        index = self._model.index(row, 0)
        self._table.selectionModel().setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        self._table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        return True

    def move_to_stage(self, deal_id: str, stage: str) -> bool:
        """Move a deal to ``stage`` (written, queued for the server, announced)."""
        self._message.hide()
        return self._model.move_to_stage(deal_id, stage)

    def move_selected(self, step: int) -> bool:
        """Move the selected deal one stage forward (``step`` 1) or back (-1)."""
        deal_id = self.current_deal_id()
        # The stage as stored now: the list's rows are read again only after the change's
        # announcement, and a key held down repeats faster than that.
        deal = None if deal_id is None else self._replica.deals.get(deal_id)
        target = None if deal is None else next_stage(deal["stage"], step)
        if deal is None or target is None:
            return False
        return self.move_to_stage(deal.id, target)

    def edit_deal(self, deal_id: str) -> DealDialog | None:
        """Open the deal's dialog (window-modal; it saves and announces by itself)."""
        record = self._replica.deals.get(deal_id)
        if record is None:
            return None
        dialog = DealDialog(
            self._replica, self._events, record["customer_id"], deal_id, parent=self
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._dialogs.append(dialog)
        dialog.finished.connect(lambda _r, d=dialog: self._dialogs.remove(d))
        dialog.open()
        return dialog

    def save_layout(self) -> bytes:
        """The table header's state (column widths, order, sort) for the settings."""
        return bytes(self._table.horizontalHeader().saveState().data())

    def restore_layout(self, data: bytes) -> None:
        """Bring back a layout from :meth:`save_layout`; ignores data it cannot read."""
        header = self._table.horizontalHeader()
        if not data or not header.restoreState(QByteArray(data)):
            return
        column, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        if column in DealTableModel.SORTABLE:
            self._model.sort(column, order)
        else:
            header.setSortIndicator(self._model.sort_column, self._model.sort_order)

    # --- actions ------------------------------------------------------------------------

    def _build_actions(self) -> None:
        def action(text: str, shortcut: str | None, slot: object) -> QAction:
            made = QAction(text, self._table)
            if shortcut:
                made.setShortcut(QKeySequence(shortcut))
                made.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            made.triggered.connect(slot)
            self._table.addAction(made)
            return made

        self.open_customer_action = action(
            self.tr("Open customer"), None, lambda: self._open_row(self._selected_row())
        )
        self.edit_deal_action = action(self.tr("Edit deal…"), "Ctrl+E", self._edit_selected)
        self.next_stage_action = action(
            self.tr("Move to next stage"), "Alt+Right", lambda: self.move_selected(1)
        )
        self.previous_stage_action = action(
            self.tr("Move to previous stage"), "Alt+Left", lambda: self.move_selected(-1)
        )

    def _show_context_menu(self, pos: QPoint) -> None:
        index = self._table.indexAt(pos)
        if not index.isValid():
            return
        self._table.selectRow(index.row())
        menu = self.context_menu(index.row())
        if menu is not None:
            menu.exec(self._table.viewport().mapToGlobal(pos))

    def context_menu(self, row: int) -> QMenu | None:
        """The menu of the deal at ``row``: open, edit, and "Move to stage ▸"."""
        deal = self._model.deal(row)
        if deal is None:
            return None
        menu = QMenu(self)
        menu.addAction(self.open_customer_action)
        menu.addAction(self.edit_deal_action)
        menu.addSeparator()
        stages = menu.addMenu(self.tr("Move to stage"))
        stages.setObjectName("moveToStageMenu")
        group = QActionGroup(stages)
        for stage in PIPELINE_STAGES:
            if stage == "won":
                stages.addSeparator()
            item = stages.addAction(choice_label("stage", stage))
            item.setData(stage)
            item.setCheckable(True)
            item.setChecked(stage == deal.stage)
            group.addAction(item)
            item.triggered.connect(lambda _c=False, s=stage, d=deal.id: self.move_to_stage(d, s))
        menu.addAction(self.next_stage_action)
        menu.addAction(self.previous_stage_action)
        self.next_stage_action.setEnabled(next_stage(deal.stage, 1) is not None)
        self.previous_stage_action.setEnabled(next_stage(deal.stage, -1) is not None)
        return menu

    def _edit_selected(self) -> None:
        deal_id = self.current_deal_id()
        if deal_id is not None:
            self.edit_deal(deal_id)

    # --- slots --------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._table and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
                self._table.state() != QAbstractItemView.State.EditingState
            ):
                self._open_index(self._table.currentIndex())
                return True
        return super().eventFilter(watched, event)

    def _selected_row(self) -> int | None:
        rows = self._table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _open_index(self, index: QModelIndex) -> None:
        if index.isValid():
            self._open_row(index.row())

    def _open_row(self, row: int | None) -> None:
        deal = None if row is None else self._model.deal(row)
        if deal is not None:
            self.sig_open_customer.emit(deal.customer_id)

    def _on_scope_toggled(self) -> None:
        scope: Scope = "mine" if self._mine_button.isChecked() else "team"
        if scope != self._scope:
            self._scope_chosen = True
            self._set_scope(scope)

    def _set_scope(self, scope: Scope) -> None:
        if scope == self._scope:
            return
        self._scope = scope
        self._update_scope_buttons()
        self._model.set_scope(scope)
        self.refresh_summary()

    def _update_scope_buttons(self) -> None:
        for button, checked in (
            (self._mine_button, self._scope == "mine"),
            (self._team_button, self._scope == "team"),
        ):
            button.blockSignals(True)
            button.setChecked(checked)
            button.blockSignals(False)
        self._mine_button.setEnabled(self._user_id is not None)
        if self._user_id is None:
            self._mine_button.setToolTip(self.tr("Sign in to see which deals are yours"))
        else:
            self._mine_button.setToolTip(self.tr("Deals of the customers you own"))

    def _on_bar_clicked(self, stage: str) -> None:
        # A second click on the chosen stage lists every stage again.
        self.set_stage_filter(None if stage == self.stage_filter else stage)

    def _apply_filters(self) -> None:
        stage = self.stage_filter
        self._chart.set_selected_stage(stage)
        self._model.set_filters(stage=stage, open_only=self._open_only.isChecked())

    def _on_sort_indicator(self, column: int, order: Qt.SortOrder) -> None:
        if column not in DealTableModel.SORTABLE:
            header = self._table.horizontalHeader()
            header.setSortIndicator(self._model.sort_column, self._model.sort_order)

    def _on_records_changed(self, entity: str, ids: frozenset[str] | None) -> None:
        if entity in ("deal", "customer"):  # a customer's owner decides "my deals"
            self._summary_timer.start()

    def _show_count(self, count: int) -> None:
        if count == 1:
            self._count.setText(self.tr("1 deal"))
        else:
            number = QLocale().toString(count)
            self._count.setText(self.tr("{count} deals").format(count=number))

    def _show_message(self, text: str) -> None:
        self._message.setText(text)
        self._message.show()

    def _headline_text(self, summary: PipelineSummary) -> str:
        if summary.total_count == 0:
            return ""
        currency = summary.main_currency
        open_count = sum(summary.stage(s).count for s in OPEN_STAGES)
        return self.tr("Open pipeline: {amount} in {count} deals · Won: {won}").format(
            amount=format_money(summary.total(currency, OPEN_STAGES), currency, decimals=0),
            count=QLocale().toString(open_count),
            won=format_money(summary.stage("won").amount(currency), currency, decimals=0),
        )

    def _on_selection_changed(self) -> None:
        if not self._refreshing:
            self._selected_id = self.current_deal_id()

    def _on_about_to_refresh(self) -> None:
        self._refreshing = True

    def _on_refreshed(self) -> None:
        self._refreshing = False
        wanted = self._selected_id
        if wanted is None or self.current_deal_id() == wanted:
            return
        # Rows moved (a stage change in a list sorted by stage): follow the deal.
        if not self.select_deal(wanted):
            self._table.clearSelection()
            self._selected_id = None
