"""The app's look: Fusion style, a light palette, readable sizes, a visible focus ring.

Other widgets take their colours from here (``COLORS``) rather than inventing their own,
so that the window reads as one piece.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

# Named colours of the app; widgets use these names, never raw hex values.
COLORS: dict[str, str] = {
    "window": "#f4f5f7",
    "base": "#ffffff",
    "alternate": "#eef0f3",
    "text": "#1d232b",
    "muted": "#5b6573",
    "accent": "#2563c9",  # selection, focus ring, primary buttons
    "accent_text": "#ffffff",
    "border": "#c9ced6",
    "ok": "#1e8449",
    "warning": "#b9770e",
    "error": "#c0392b",
    "tooltip": "#ffffdc",
}

BASE_POINT_SIZE = 10

STYLE_SHEET = f"""
QWidget:focus {{ outline: none; }}
QLineEdit:focus, QComboBox:focus, QListView:focus, QTreeView:focus, QListWidget:focus,
QTreeWidget:focus, QPlainTextEdit:focus, QTextEdit:focus, QSpinBox:focus {{
    border: 2px solid {COLORS["accent"]};
    border-radius: 3px;
}}
QPushButton {{ padding: 5px 14px; }}
QPushButton:focus {{ border: 2px solid {COLORS["accent"]}; border-radius: 3px; }}
QPushButton[primary="true"] {{
    background: {COLORS["accent"]}; color: {COLORS["accent_text"]};
    border: 1px solid {COLORS["accent"]}; border-radius: 3px; font-weight: bold;
}}
QLabel[role="title"] {{ font-size: {BASE_POINT_SIZE + 8}pt; font-weight: bold; }}
QLabel[role="subtitle"] {{ color: {COLORS["muted"]}; font-size: {BASE_POINT_SIZE + 1}pt; }}
QLabel[role="muted"] {{ color: {COLORS["muted"]}; }}
QLabel[role="error"] {{ color: {COLORS["error"]}; }}
QPushButton[stage="true"] {{
    padding: 6px 10px; border: 1px solid transparent; border-radius: 4px; text-align: left;
    background: transparent;
}}
QPushButton[stage="true"]:checked {{
    background: {COLORS["accent"]}; color: {COLORS["accent_text"]};
}}
QPushButton[stage="true"]:hover:!checked {{ background: {COLORS["alternate"]}; }}
QPushButton[stage="true"]:focus {{ border: 2px solid {COLORS["text"]}; }}
"""


def palette() -> QPalette:
    p = QPalette()
    c = {k: QColor(v) for k, v in COLORS.items()}
    p.setColor(QPalette.ColorRole.Window, c["window"])
    p.setColor(QPalette.ColorRole.WindowText, c["text"])
    p.setColor(QPalette.ColorRole.Base, c["base"])
    p.setColor(QPalette.ColorRole.AlternateBase, c["alternate"])
    p.setColor(QPalette.ColorRole.Text, c["text"])
    p.setColor(QPalette.ColorRole.Button, c["window"])
    p.setColor(QPalette.ColorRole.ButtonText, c["text"])
    p.setColor(QPalette.ColorRole.Highlight, c["accent"])
    p.setColor(QPalette.ColorRole.HighlightedText, c["accent_text"])
    p.setColor(QPalette.ColorRole.ToolTipBase, c["tooltip"])
    p.setColor(QPalette.ColorRole.ToolTipText, c["text"])
    p.setColor(QPalette.ColorRole.PlaceholderText, c["muted"])
    p.setColor(QPalette.ColorRole.Link, c["accent"])
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, c["muted"])
    return p


def apply_style(app: QApplication) -> None:
    """Fusion, the palette, a readable base font and the shared style sheet."""
    app.setStyle("Fusion")
    app.setPalette(palette())
    font = QFont(app.font())
    if font.pointSize() < BASE_POINT_SIZE:
        font.setPointSize(BASE_POINT_SIZE)
    app.setFont(font)
    app.setStyleSheet(STYLE_SHEET)
