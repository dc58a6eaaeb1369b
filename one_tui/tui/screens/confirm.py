"""A yes/no modal for destructive actions (clearing the REST cache)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from one_tui.tui.inert import inert
from one_tui.tui.screens.modal import CloseableModal


class ConfirmModal(CloseableModal):
    """Dismisses True on y/enter/"Yes", None on n/escape/q."""

    BINDINGS = [
        Binding("y", "yes", "Yes", id="confirm_yes"),
        Binding("n", "close", "No", id="confirm_no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="modal-box"):
            yield Static(inert(self.question), markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="error", compact=True)
                yield Button("No (n)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self.action_yes()
        else:
            self.action_close()

    def action_yes(self) -> None:
        self.dismiss(True)
