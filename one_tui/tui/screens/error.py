"""The error modal: the full text of the last error (the toast only has one line)."""

from __future__ import annotations

from typing import cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from one_tui.tui.clipboard import copied_title
from one_tui.tui.inert import Copies, inert
from one_tui.tui.screens.modal import CloseableModal


class ErrorModal(CloseableModal):
    """Scrollable error text; ``y`` copies it (OSC 52) for a bug report."""

    BINDINGS = [Binding("y", "copy", "Copy text", id="error_copy")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box", classes="modal-box"):
            yield Static(Text(inert(self.title_text), style="bold red"), id="error-title")
            with VerticalScroll(id="error-scroll"):
                yield Static(Text(inert(self.text, lines=True)), id="error-text")
            yield Static("y copy · esc/q close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#error-box").border_title = "Error"
        # the toasts were this error's one-line form: drawn over the box, they hid its text
        self.app.clear_notifications()

    def action_copy(self) -> None:
        """Said in the box's hint line: a toast would be drawn over the text."""
        app = cast(Copies, self.app)
        app.copy_to_clipboard(self.text, lines=True)  # a bug report keeps its lines
        title, _severity = copied_title(f"{len(self.text):,} characters")
        self.query_one(".hint", Static).update(f"{title} · esc/q close")
