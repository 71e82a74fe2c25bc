"""The login dialog of a PostgreSQL project: who you are is your database login.

A team project (a ``postgresql://`` URL) opens with this dialog: the user (the login the
URL names, else the last one typed here) and the password. The password goes to the
connection and to this process's memory only (:mod:`pipeline.store.credentials`); it is never
written to the settings, the recent projects or a log. The GUI then acts as that login:
it never asks for an annotator's name on a PostgreSQL project (decision 0020).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class Login:
    """What the dialog gave: the login's name and its password (kept in memory only)."""

    user: str
    password: str


class LoginDialog(QDialog):
    """User and password for the server project shown (its URL without a password)."""

    def __init__(self, shown_url: str, user: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Log in to the team project")
        layout = QVBoxLayout(self)
        where = QLabel(f"Project: {shown_url}")
        where.setWordWrap(True)
        layout.addWidget(where)
        form = QFormLayout()
        self.user = QLineEdit(user)
        self.user.setObjectName("login_user")
        self.password = QLineEdit()
        self.password.setObjectName("login_password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Database login:", self.user)
        form.addRow("Password:", self.password)
        layout.addLayout(form)
        note = QLabel("You work as this login: your answers, your role. The password is not saved.")
        note.setWordWrap(True)
        layout.addWidget(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Log in")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        (self.password if user else self.user).setFocus()

    def login(self) -> Login | None:
        """The login typed (None: no user name given)."""
        user = self.user.text().strip()
        return Login(user, self.password.text()) if user else None


def with_user(url: str, user: str) -> str:
    """``url`` (without a password) naming ``user`` as its login."""
    scheme, _, rest = url.partition("://")
    host = rest.split("@", 1)[1] if "@" in rest.split("/", 1)[0] else rest
    return f"{scheme}://{user}@{host}"


def user_of(url: str) -> str:
    """The login a password-free URL names ('' when none)."""
    authority = url.partition("://")[2].split("/", 1)[0]
    return authority.split("@", 1)[0] if "@" in authority else ""
