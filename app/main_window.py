"""The main window: navigation, the customer list and open customers, menus, status bar.

The window arranges views and routes user commands; it holds no data logic. Startup,
signing in, the demo server and the sync worker's life are :mod:`app.application`'s;
the window asks for them through its ``sig_*`` signals.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QStyle,
    QTabWidget,
    QWidget,
)

from app.conflicts_page import ConflictsPage
from app.customer_dialog import CustomerDialog
from app.customer_list_view import CustomerListView
from app.customer_workspace import CustomerWorkspace
from app.deals_page import DealsPage
from app.events import DataEvents
from app.follow_ups_page import FollowUpsPage
from app.log_setup import log_dir
from app.settings import Preferences
from app.status_bar import SyncStatusBar
from app.sync_worker import SyncController
from app.today_page import TodayPage
from sync import __version__
from sync.replica import Replica

log = logging.getLogger(__name__)

PAGE_TODAY, PAGE_CUSTOMERS, PAGE_FOLLOW_UPS, PAGE_DEALS, PAGE_CONFLICTS = range(5)


class MainWindow(QMainWindow):
    """Outpost's main window over one open profile."""

    sig_sign_in_requested = Signal()
    sig_sign_out_requested = Signal()
    sig_settings_requested = Signal()
    sig_work_offline_toggled = Signal(bool)
    sig_closing = Signal()

    def __init__(
        self,
        replica: Replica,
        events: DataEvents,
        sync: SyncController,
        prefs: Preferences,
        *,
        user_id: str | None,
        title_suffix: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.replica = replica
        self.events = events
        self.sync = sync
        self.prefs = prefs
        self.user_id = user_id
        self._closing_confirmed = False
        self.setWindowTitle(self.tr("Outpost CRM") + (f" — {title_suffix}" if title_suffix else ""))
        self.setMinimumSize(QSize(900, 560))

        # --- pages ---
        self.customer_list = CustomerListView(replica, events, user_id)
        self.customer_list.sig_open_customer.connect(self.open_customer)
        self.customer_tabs = QTabWidget()
        self.customer_tabs.setDocumentMode(True)
        self.customer_tabs.setTabsClosable(True)
        self.customer_tabs.setMovable(True)
        self.customer_tabs.addTab(self.customer_list, self.tr("All customers"))
        bar = self.customer_tabs.tabBar()
        bar.setTabButton(0, bar.ButtonPosition.RightSide, None)  # the list stays
        bar.setTabButton(0, bar.ButtonPosition.LeftSide, None)
        self.customer_tabs.tabCloseRequested.connect(self.close_customer_tab)

        self.pages = QStackedWidget()
        self.today_page = TodayPage(replica, events, user_id)
        self.pages.addWidget(self.today_page)
        self.pages.addWidget(self.customer_tabs)
        self.follow_ups_page = FollowUpsPage(replica, events, user_id)
        self.pages.addWidget(self.follow_ups_page)
        self.deals_page = DealsPage(replica, events, user_id)
        self.pages.addWidget(self.deals_page)
        self.conflicts_page = ConflictsPage(replica, events, user_id)
        self.conflicts_page.sig_resolved.connect(self._conflict_resolved)
        self.pages.addWidget(self.conflicts_page)

        for page in (self.today_page, self.follow_ups_page, self.deals_page, self.conflicts_page):
            page.sig_open_customer.connect(self.open_customer)

        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setIconSize(QSize(20, 20))
        self.nav.setFrameShape(QListWidget.Shape.NoFrame)
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        style = self.style()
        for text, icon in (
            (self.tr("Today"), QStyle.StandardPixmap.SP_FileDialogInfoView),
            (self.tr("Customers"), QStyle.StandardPixmap.SP_DirHomeIcon),
            (self.tr("Follow-ups"), QStyle.StandardPixmap.SP_FileDialogDetailedView),
            (self.tr("Deals"), QStyle.StandardPixmap.SP_FileDialogContentsView),
            (self.tr("Conflicts"), QStyle.StandardPixmap.SP_MessageBoxWarning),
        ):
            item = QListWidgetItem(style.standardIcon(icon), text)
            item.setSizeHint(QSize(0, 36))
            self.nav.addItem(item)
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.nav.setMinimumWidth(150)
        self.nav.setMaximumWidth(240)

        self.splitter = QSplitter()
        self.splitter.addWidget(self.nav)
        self.splitter.addWidget(self.pages)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([170, 1100])
        self.setCentralWidget(self.splitter)

        # --- status bar ---
        self.status_bar = SyncStatusBar(sync)
        self.status_bar.sig_show_conflicts.connect(lambda: self.show_page(PAGE_CONFLICTS))
        self.status_bar.sig_sign_in_requested.connect(self.sig_sign_in_requested)
        self.setStatusBar(self.status_bar)

        self._build_menus()
        self.nav.setCurrentRow(PAGE_CUSTOMERS)
        self._restore_layout()

    # --- menus ----------------------------------------------------------------------------

    def _action(
        self, text: str, slot: object, shortcut: QKeySequence | QKeySequence.StandardKey | None
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu(self.tr("&File"))
        self.new_customer_action = self._action(
            self.tr("&New customer…"), self.new_customer, QKeySequence.StandardKey.New
        )
        self.sync_now_action = self._action(
            self.tr("&Sync now"), self.sync_now, QKeySequence(Qt.Key.Key_F5)
        )
        self.work_offline_action = QAction(self.tr("Work &offline"), self)
        self.work_offline_action.setCheckable(True)
        self.work_offline_action.setChecked(self.prefs.work_offline)
        self.work_offline_action.toggled.connect(self._toggle_offline)
        self.sign_in_action = self._action(
            self.tr("Sign &in…"), self.sig_sign_in_requested.emit, None
        )
        self.sign_out_action = self._action(
            self.tr("Sign o&ut"), self.sig_sign_out_requested.emit, None
        )
        self.settings_action = self._action(
            self.tr("Se&ttings…"), self.sig_settings_requested.emit, QKeySequence("Ctrl+,")
        )
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.quit_action = self._action(self.tr("&Quit"), self.close, QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        for item in (
            self.new_customer_action,
            None,
            self.sync_now_action,
            self.work_offline_action,
            None,
            self.sign_in_action,
            self.sign_out_action,
            None,
            self.settings_action,
            None,
            self.quit_action,
        ):
            if item is None:
                file_menu.addSeparator()
            else:
                file_menu.addAction(item)

        edit_menu = menu.addMenu(self.tr("&Edit"))
        self.find_action = self._action(
            self.tr("&Find customers"), self.find_customers, QKeySequence.StandardKey.Find
        )
        edit_menu.addAction(self.find_action)

        go_menu = menu.addMenu(self.tr("&Go"))
        for page in range(self.nav.count()):
            action = self._action(
                self.nav.item(page).text(),
                lambda _checked=False, p=page: self.show_page(p),
                QKeySequence(f"Ctrl+{page + 1}"),
            )
            go_menu.addAction(action)

        help_menu = menu.addMenu(self.tr("&Help"))
        help_menu.addAction(self._action(self.tr("Open &log folder"), self.open_log_folder, None))
        about = self._action(self.tr("&About Outpost"), self.show_about, None)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        help_menu.addAction(about)

    def set_user_id(self, user_id: str | None) -> None:
        """Who is signed in (known only after the first sign-in of a profile)."""
        self.user_id = user_id
        for page in (
            self.customer_list,
            self.today_page,
            self.follow_ups_page,
            self.deals_page,
            self.conflicts_page,
        ):
            page.set_user_id(user_id)

    def set_signed_in(self, signed_in: bool, *, can_sign_out: bool = True) -> None:
        """Which of Sign in / Sign out the File menu offers."""
        self.sign_in_action.setEnabled(not signed_in)
        self.sign_out_action.setEnabled(signed_in and can_sign_out)

    # --- commands -------------------------------------------------------------------------

    def show_page(self, page: int) -> None:
        self.nav.setCurrentRow(page)

    def find_customers(self) -> None:
        self.show_page(PAGE_CUSTOMERS)
        self.customer_tabs.setCurrentIndex(0)
        self.customer_list.focus_search()

    def sync_now(self) -> None:
        if self.work_offline_action.isChecked():
            self.statusBar().showMessage(
                self.tr("Working offline: turn off File → Work offline to sync."), 5000
            )
            return
        self.sync.request_sync()

    def _toggle_offline(self, on: bool) -> None:
        self.prefs.work_offline = on
        self.sig_work_offline_toggled.emit(on)

    def new_customer(self) -> None:
        dialog = CustomerDialog(self.replica, self.events, parent=self)
        if dialog.exec() and dialog.created_id:
            self.open_customer(dialog.created_id)

    def open_customer(self, customer_id: str) -> None:
        """Show the customer's workspace (a tab next to the list)."""
        self.show_page(PAGE_CUSTOMERS)
        for index in range(1, self.customer_tabs.count()):
            widget = self.customer_tabs.widget(index)
            if isinstance(widget, CustomerWorkspace) and widget.customer_id == customer_id:
                self.customer_tabs.setCurrentIndex(index)
                return
        workspace = CustomerWorkspace(self.replica, self.events, customer_id)
        index = self.customer_tabs.addTab(workspace, self._tab_title(workspace))
        workspace.sig_title_changed.connect(lambda title, w=workspace: self._retitle(w, title))
        workspace.sig_resolve_conflict_requested.connect(self.resolve_conflict)
        self.customer_tabs.setCurrentIndex(index)

    def _tab_title(self, workspace: CustomerWorkspace) -> str:
        record = self.replica.customers.get(workspace.customer_id, include_deleted=True)
        name = str(record.values.get("name") or "") if record else ""
        return _elide(name) or self.tr("Customer")

    def _retitle(self, workspace: CustomerWorkspace, title: str) -> None:
        index = self.customer_tabs.indexOf(workspace)
        if index > 0:
            self.customer_tabs.setTabText(index, _elide(title) or self.tr("Customer"))
            self.customer_tabs.setTabToolTip(index, title)

    def resolve_conflict(self, entity: str, record_id: str) -> None:
        """Open the conflict of a record (from its workspace's "Resolve…")."""
        self.show_page(PAGE_CONFLICTS)
        self.conflicts_page.open_conflict_for(entity, record_id)

    def _conflict_resolved(self) -> None:
        self.sync.refresh_counts()
        if not self.work_offline_action.isChecked():
            self.sync.request_sync()

    def close_customer_tab(self, index: int) -> bool:
        """Close one customer's tab, asking first about unsaved changes."""
        if index <= 0:
            return False
        widget = self.customer_tabs.widget(index)
        if isinstance(widget, CustomerWorkspace) and not self._may_leave(widget):
            return False
        self.customer_tabs.removeTab(index)
        widget.deleteLater()
        return True

    def workspaces(self) -> list[CustomerWorkspace]:
        return [
            w
            for i in range(1, self.customer_tabs.count())
            if isinstance(w := self.customer_tabs.widget(i), CustomerWorkspace)
        ]

    def _may_leave(self, workspace: CustomerWorkspace) -> bool:
        if not workspace.has_unsaved_changes():
            return True
        self.customer_tabs.setCurrentWidget(workspace)
        self.show_page(PAGE_CUSTOMERS)
        answer = QMessageBox.question(
            self,
            self.tr("Unsaved changes"),
            self.tr("Save your changes to this customer?"),
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return workspace.save()
        return answer == QMessageBox.StandardButton.Discard

    def open_log_folder(self) -> None:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            QMessageBox.information(
                self,
                self.tr("Log folder"),
                self.tr("Outpost's log files are in:\n{folder}").format(folder=folder),
            )

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            self.tr("About Outpost"),
            self.tr(
                "<b>Outpost CRM</b> {version}<br>An offline-first CRM: your customers stay "
                "on this computer and sync with your company's server when it can be "
                "reached.<br><br>Local data: {path}"
            ).format(version=__version__, path=self.replica.path),
        )

    # --- layout ---------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        geometry = self.prefs.layout("main_window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        state = self.prefs.layout("main_window/state")
        if state is not None:
            self.restoreState(state)
        splitter = self.prefs.layout("main_window/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)
        columns = self.prefs.layout("customer_list/header")
        if columns is not None:
            self.customer_list.restore_layout(columns)
        deal_columns = self.prefs.layout("deal_list/header")
        if deal_columns is not None:
            self.deals_page.restore_layout(deal_columns)

    def save_layout(self) -> None:
        self.prefs.set_layout("main_window/geometry", self.saveGeometry().data())
        self.prefs.set_layout("main_window/state", self.saveState().data())
        self.prefs.set_layout("main_window/splitter", self.splitter.saveState().data())
        self.prefs.set_layout("customer_list/header", self.customer_list.save_layout())
        self.prefs.set_layout("deal_list/header", self.deals_page.save_layout())
        self.prefs.sync()

    # --- closing --------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing_confirmed:
            for workspace in self.workspaces():
                if not self._may_leave(workspace):
                    event.ignore()
                    return
            self._closing_confirmed = True
            self.save_layout()
            self.sig_closing.emit()
        event.accept()


def _elide(text: str, limit: int = 24) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
