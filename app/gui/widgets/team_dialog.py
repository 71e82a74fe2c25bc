"""Project -> Team…: the people of the project, with their roles; an admin adds someone
and changes a role here (the same calls as ``longtail team``).

On PostgreSQL a person is a database login and a role is membership of the project's
group role: the database refuses the change to anyone but an admin, whatever this dialog
shows; a new login's password is typed here and goes to the server as a SCRAM verifier
(never stored). Refusals are shown on one line under the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from pipeline.store.database import Project

ROLES = ("annotator", "verifier", "admin")  # pipeline.team.roles.ROLES (read lazily there)


class TeamDialog(QDialog):
    """List, add, change a role (see the module docstring)."""

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.setWindowTitle("Team")
        self.resize(520, 460)
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, 2, self)
        self.table.setObjectName("team_table")
        self.table.setHorizontalHeaderLabels(["Name", "Role"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(self.table, 1)

        change = QHBoxLayout()
        self.role_of_selected = QComboBox()
        self.role_of_selected.addItems(ROLES)
        self.set_role_button = QPushButton("Set role of selected")
        self.set_role_button.clicked.connect(self.set_selected_role)
        change.addWidget(self.role_of_selected)
        change.addWidget(self.set_role_button)
        layout.addLayout(change)

        form = QFormLayout()
        self.new_name = QLineEdit()
        self.new_name.setObjectName("team_new_name")
        self.new_role = QComboBox()
        self.new_role.addItems(ROLES)
        self.new_password = QLineEdit()
        self.new_password.setObjectName("team_new_password")
        self.new_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.new_password.setPlaceholderText("for a new database login (PostgreSQL)")
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_person)
        form.addRow("Name:", self.new_name)
        form.addRow("Role:", self.new_role)
        form.addRow("Password:", self.new_password)
        form.addRow("", self.add_button)
        layout.addLayout(form)

        self.message = QLabel("")
        self.message.setObjectName("team_message")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.refresh()

    def refresh(self) -> None:
        from pipeline.team import roles

        members = roles.team(self.project)
        self.table.setRowCount(len(members))
        for row, member in enumerate(members):
            self.table.setItem(row, 0, QTableWidgetItem(member.name))
            self.table.setItem(row, 1, QTableWidgetItem(member.role))

    def selected_name(self) -> str | None:
        rows = {i.row() for i in self.table.selectedItems()}
        if len(rows) != 1:
            return None
        item = self.table.item(rows.pop(), 0)
        return item.text() if item is not None else None

    def set_selected_role(self) -> None:
        from pipeline.team import roles

        name = self.selected_name()
        if name is None:
            self.message.setText("Select one person first.")
            return
        self._change(
            lambda: roles.set_role(self.project, name, self.role_of_selected.currentText())
        )

    def add_person(self) -> None:
        from pipeline.team import roles

        name = self.new_name.text().strip()
        password = self.new_password.text() or None
        role = self.new_role.currentText()
        if self._change(lambda: roles.add_member(self.project, name, role, password=password)):
            self.new_name.clear()
        self.new_password.clear()  # never kept, whatever happened

    def _change(self, change) -> bool:
        from pipeline.errors import LongtailError

        try:
            member = change()
        except LongtailError as exc:
            self.message.setText(str(exc))
            return False
        self.message.setText(f"{member.name} is now {member.role}.")
        self.refresh()
        return True
