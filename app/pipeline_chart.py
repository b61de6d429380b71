"""The pipeline chart: one horizontal bar per deal stage, drawn with QPainter.

Stages come in pipeline order; a bar's length is the stage's amount in the main currency
(the one most deals are in; by count when no deal has an amount), its label the number
of deals and that amount. Open stages are shades of blue that deepen as deals advance;
won is green and lost grey, set apart below a rule. Hovering a bar tells every currency's
sum; clicking it emits :attr:`PipelineChart.sig_stage_clicked` (the Deals page filters its
list by that stage).

The chart only draws a :class:`sync.pipeline.PipelineSummary`; it reads nothing itself.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from app.deal_table_model import LOST_COLOR, WON_COLOR, format_money
from app.labels import choice_label
from sync.pipeline import CLOSED_STAGES, PIPELINE_STAGES, PipelineSummary

# Open stages deepen as a deal advances; closed ones stand apart.
STAGE_COLORS = {
    "initial": "#a9cbf0",
    "qualified": "#7cb0ea",
    "proposal": "#4f90dc",
    "negotiation": "#2c6fc2",
    "won": WON_COLOR,
    "lost": LOST_COLOR,
}
_MARGIN = 12
_GAP = 10  # between the label column, the bar and its text
_RULE_GAP = 9  # the space before the closed stages, with a rule in it
_MIN_BAR = 3  # a stage with deals but no amount still shows a sliver


class PipelineChart(QWidget):
    """Bars of a :class:`PipelineSummary`; a click on a bar emits its stage."""

    sig_stage_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._summary: PipelineSummary | None = None
        self._selected: str | None = None
        self._hovered: str | None = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, False)
        self.setObjectName("pipelineChart")

    # --- data ---------------------------------------------------------------------------

    @property
    def summary(self) -> PipelineSummary | None:
        return self._summary

    def set_summary(self, summary: PipelineSummary) -> None:
        """Draw ``summary`` (a new one after every change of the deals)."""
        self._summary = summary
        self.update()

    @property
    def selected_stage(self) -> str | None:
        return self._selected

    def set_selected_stage(self, stage: str | None) -> None:
        """Mark the stage the list is filtered by (``None``: no stage)."""
        if stage != self._selected:
            self._selected = stage
            self.update()

    # --- geometry -----------------------------------------------------------------------

    def _row_height(self) -> int:
        return self.fontMetrics().height() + 12

    def stage_rect(self, stage: str) -> QRect:
        """The row of ``stage`` (label and bar): where a click selects it."""
        i = PIPELINE_STAGES.index(stage)
        top = _MARGIN + i * self._row_height()
        if stage in CLOSED_STAGES:
            top += _RULE_GAP
        return QRect(_MARGIN // 2, top, self.width() - _MARGIN, self._row_height())

    def stage_at(self, pos: QPoint) -> str | None:
        """The stage whose row is at ``pos``, if any."""
        for stage in PIPELINE_STAGES:
            if self.stage_rect(stage).contains(pos):
                return stage
        return None

    def _label_width(self) -> int:
        bold = QFont(self.font())
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        return max(metrics.horizontalAdvance(choice_label("stage", s)) for s in PIPELINE_STAGES)

    def sizeHint(self) -> QSize:
        rows = len(PIPELINE_STAGES) * self._row_height() + _RULE_GAP
        footnote = self.fontMetrics().height() + 8
        return QSize(480, 2 * _MARGIN + rows + footnote)

    def minimumSizeHint(self) -> QSize:
        return QSize(320, self.sizeHint().height())

    # --- texts --------------------------------------------------------------------------

    def bar_text(self, stage: str) -> str:
        """The label next to a stage's bar: its deals and amount in the main currency."""
        summary = self._summary
        if summary is None:
            return ""
        total = summary.stage(stage)
        currency = summary.main_currency
        if total.count == 0:
            return self.tr("No deals")
        deals = self.tr("1 deal") if total.count == 1 else self.tr("{count} deals")
        deals = deals.format(count=self.locale().toString(total.count))
        text = self.tr("{deals} · {amount}").format(
            deals=deals, amount=format_money(total.amount(currency), currency, decimals=0)
        )
        others = total.count - total.counts.get(currency, 0)
        if others:
            text += " " + self.tr("(+{count} in other currencies)").format(count=others)
        return text

    def tooltip_text(self, stage: str) -> str:
        """Every currency's sum of a stage, and what a click does."""
        summary = self._summary
        if summary is None:
            return ""
        total = summary.stage(stage)
        lines = [choice_label("stage", stage)]
        if total.count == 1:
            lines.append(self.tr("1 deal"))
        else:
            lines.append(self.tr("{count} deals").format(count=self.locale().toString(total.count)))
        for currency in summary.currencies:
            n = total.counts.get(currency, 0)
            if n:
                amount = format_money(total.amount(currency), currency)
                if n == 1:
                    lines.append(self.tr("{amount} in 1 deal").format(amount=amount))
                else:
                    lines.append(
                        self.tr("{amount} in {count} deals").format(amount=amount, count=n)
                    )
        if stage == self._selected:
            lines.append(self.tr("Click to show every stage again"))
        else:
            lines.append(self.tr("Click to list only these deals"))
        return "\n".join(lines)

    def footnote_text(self) -> str:
        """Which currency the bars measure, and the sums in the others."""
        summary = self._summary
        if summary is None:
            return ""
        if summary.total_count == 0:
            return ""
        text = self.tr("Bar length: amount in {currency}").format(currency=summary.main_currency)
        others = [format_money(summary.total(c), c, decimals=0) for c in summary.other_currencies]
        if others:
            text += " · " + self.tr("Also: {amounts}").format(amounts=", ".join(others))
        return text

    # --- events -------------------------------------------------------------------------

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        stage = self.stage_at(event.position().toPoint())
        if stage != self._hovered:
            self._hovered = stage
            if stage is None:
                self.unsetCursor()
            else:
                self.setCursor(Qt.CursorShape.PointingHandCursor)
            self.update()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self._hovered = None
        self.unsetCursor()
        self.update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            stage = self.stage_at(event.position().toPoint())
            if stage is not None:
                self.sig_stage_clicked.emit(stage)
                event.accept()
                return
        super().mousePressEvent(event)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            assert isinstance(event, QHelpEvent)
            stage = self.stage_at(event.pos())
            if stage is None or self._summary is None:
                QToolTip.hideText()
                event.ignore()
            else:
                QToolTip.showText(
                    event.globalPos(), self.tooltip_text(stage), self, self.stage_rect(stage)
                )
            return True
        return super().event(event)

    # --- painting -----------------------------------------------------------------------

    def _scale(self) -> tuple[bool, float]:
        """Whether bars measure amounts (else counts), and the largest value."""
        summary = self._summary
        assert summary is not None
        currency = summary.main_currency
        largest_amount = max(float(s.amount(currency)) for s in summary.stages)
        if largest_amount > 0:
            return True, largest_amount
        return False, float(max(s.count for s in summary.stages))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        summary = self._summary
        hint = palette.color(QPalette.ColorRole.PlaceholderText)
        if summary is None or summary.total_count == 0:
            painter.setPen(hint)
            text = (
                self.tr("No deals of your customers yet")
                if summary is not None and summary.scope == "mine"
                else self.tr("No deals yet")
            )
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, text)
            painter.end()
            return
        metrics = self.fontMetrics()
        bold = QFont(self.font())
        bold.setBold(True)
        label_width = self._label_width()
        bar_left = _MARGIN + label_width + _GAP
        texts = {s: self.bar_text(s) for s in PIPELINE_STAGES}
        text_room = max(metrics.horizontalAdvance(t) for t in texts.values()) + _GAP
        bar_room = max(self.width() - bar_left - _MARGIN - text_room, 40)
        by_amount, largest = self._scale()
        currency = summary.main_currency
        bar_height = metrics.height() + 2
        highlight = QColor(palette.color(QPalette.ColorRole.Highlight))

        for i, stage in enumerate(PIPELINE_STAGES):
            total = summary.stage(stage)
            row = self.stage_rect(stage)
            if stage == self._selected or stage == self._hovered:
                shade = QColor(highlight)
                shade.setAlpha(50 if stage == self._selected else 22)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(shade)
                painter.drawRoundedRect(row, 5, 5)
            if i == len(PIPELINE_STAGES) - len(CLOSED_STAGES):
                # A rule before the closed stages: won and lost are outcomes, not steps.
                rule = QColor(palette.color(QPalette.ColorRole.Mid))
                painter.setPen(QPen(rule, 1, Qt.PenStyle.DashLine))
                y = row.top() - _RULE_GAP // 2 - 1
                painter.drawLine(_MARGIN, y, self.width() - _MARGIN, y)

            label_rect = QRect(_MARGIN, row.top(), label_width, row.height())
            painter.setFont(bold if stage == self._selected else self.font())
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            painter.drawText(
                label_rect,
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                choice_label("stage", stage),
            )
            painter.setFont(self.font())

            value = float(total.amount(currency)) if by_amount else float(total.count)
            length = int(bar_room * value / largest) if largest > 0 else 0
            if total.count and length < _MIN_BAR:
                length = _MIN_BAR
            top = row.top() + (row.height() - bar_height) // 2
            if length:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(STAGE_COLORS.get(stage, "#888888")))
                painter.drawRoundedRect(QRect(bar_left, top, length, bar_height), 3, 3)
            text_rect = QRect(
                bar_left + length + _GAP // 2, row.top(), text_room + _GAP, row.height()
            )
            painter.setPen(hint if total.count == 0 else palette.color(QPalette.ColorRole.Text))
            painter.drawText(
                text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, texts[stage]
            )

        footnote = self.footnote_text()
        if footnote:
            bottom = self.stage_rect(PIPELINE_STAGES[-1]).bottom() + 4
            painter.setPen(hint)
            area = QRect(bar_left, bottom, self.width() - bar_left - _MARGIN, metrics.height() + 4)
            painter.drawText(
                area,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                metrics.elidedText(footnote, Qt.TextElideMode.ElideRight, area.width()),
            )
        painter.end()
