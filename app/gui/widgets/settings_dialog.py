"""Project -> Settings…: the project rules a person working alone (or an admin) needs to
change from the app, through ``pipeline.store.settings`` (which checks every value).

Where the project has admins, only they may change settings: the dialog then opens
read-only for others and says who may. A refused change is one line in the dialog
(the setting and why), never a traceback; nothing is stored unless all of it is valid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pipeline.errors import LongtailError
from pipeline.store.settings import ProjectSettings

if TYPE_CHECKING:
    from app.gui.session import Session

ROLES = ("annotator", "verifier", "admin")


class SettingsDialog(QDialog):
    """The project's settings (see the module docstring). ``session``: the window's
    :class:`~app.gui.session.Session`; ``editable`` false shows them read-only with
    ``why_not``."""

    def __init__(
        self,
        session: Session,
        parent: QWidget | None = None,
        *,
        editable: bool = True,
        why_not: str = "",
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Project settings")
        self.saved: ProjectSettings | None = None
        current: ProjectSettings = session.settings()

        self.self_verification = QCheckBox("Annotators may verify their own masks")
        self.self_verification.setChecked(current.allow_self_verification)
        self.self_verification.setToolTip(
            "Stage 4. Off: a mask waits for someone else (a project of one person never "
            "gets its masks verified). allow_self_verification"
        )
        self.verification_role = QComboBox()
        self.verification_role.addItems(ROLES)
        self.verification_role.setCurrentText(current.verification_role)
        self.verification_role.setToolTip(
            "Stages 4 and 5: the least role that may verify (team projects). verification_role"
        )
        self.verifiers = QSpinBox()
        self.verifiers.setRange(1, 20)
        self.verifiers.setValue(current.verifiers_per_segment)
        self.verifiers.setToolTip("Stage 4: verdicts gathered per mask. verifiers_per_segment")
        self.spot_done_after = QSpinBox()
        self.spot_done_after.setRange(1, 20)
        self.spot_done_after.setValue(current.spot_done_after)
        self.spot_done_after.setToolTip(
            "Stage 1: an image leaves spotting (and opens stage 6) after this many "
            "\u201cnothing new\u201d answers in a row. spot_done_after"
        )
        self.negatives = QSpinBox()
        self.negatives.setRange(0, 1_000_000)
        self.negatives.setValue(current.negatives_per_category)
        self.negatives.setToolTip(
            "Stage 6: verified-absent images each category should reach. negatives_per_category"
        )
        self.heldout = QDoubleSpinBox()
        self.heldout.setRange(0.0, 0.95)
        self.heldout.setSingleStep(0.05)
        self.heldout.setDecimals(2)
        self.heldout.setValue(current.heldout_fraction)
        self.heldout.setToolTip(
            "Training: the share of images held out for evaluation when the project has no "
            "val split. heldout_fraction"
        )

        form = QFormLayout()
        form.addRow("Self-verification", self.self_verification)
        form.addRow("Verification role", self.verification_role)
        form.addRow("Verifiers per mask", self.verifiers)
        form.addRow("\u201cNothing new\u201d answers to finish spotting", self.spot_done_after)
        form.addRow("Negatives quota per category", self.negatives)
        form.addRow("Held-out fraction for training", self.heldout)

        self.note = QLabel(why_not)
        self.note.setWordWrap(True)
        self.note.setProperty("role", "muted")
        self.note.setVisible(bool(why_not))
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020;")
        self.error.hide()

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
            if editable
            else QDialogButtonBox.StandardButton.Close
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        for widget in self.fields():
            widget.setEnabled(editable)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self._initial = self.values()

    def fields(self) -> list[QWidget]:
        return [
            self.self_verification,
            self.verification_role,
            self.verifiers,
            self.spot_done_after,
            self.negatives,
            self.heldout,
        ]

    def values(self) -> dict[str, Any]:
        """The settings as the dialog shows them now."""
        return {
            "allow_self_verification": self.self_verification.isChecked(),
            "verification_role": self.verification_role.currentText(),
            "verifiers_per_segment": self.verifiers.value(),
            "spot_done_after": self.spot_done_after.value(),
            "negatives_per_category": self.negatives.value(),
            "heldout_fraction": round(self.heldout.value(), 4),
        }

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.values().items() if self._initial.get(k) != v}

    def save(self) -> None:
        """Store what changed (all or nothing); a refusal is shown in the dialog."""
        changes = self.changes()
        if not changes:
            self.accept()
            return
        try:
            self.saved = self.session.update_settings(**changes)
        except LongtailError as exc:
            self.error.setText(f"Not saved: {exc}")
            self.error.show()
            return
        self.accept()


__all__ = ["SettingsDialog"]
