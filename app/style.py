"""A light, quiet style on top of the platform's (Fusion where the platform has none)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

STYLE_SHEET = """
QListWidget#navigation {
    background: palette(window);
    border: none;
    padding: 8px 4px;
    font-size: 10.5pt;
}
QListWidget#navigation::item {
    padding: 4px 10px;
    border-radius: 6px;
    margin: 1px 4px;
}
QListWidget#navigation::item:selected {
    background: palette(highlight);
    color: palette(highlighted-text);
}
QLabel#hint {
    color: palette(placeholder-text);
}
QStatusBar QLabel {
    padding: 0 6px;
}
"""


def apply_style(app: QApplication) -> None:
    """Fusion on platforms without a native style of their own, plus Outpost's sheet."""
    if app.style().name().lower() in ("windows", ""):
        app.setStyle("Fusion")
    app.setStyleSheet(STYLE_SHEET)
