"""The box of ``g``: open a session by what a user pasted (an eid or a session folder)."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from one_tui.tui.screens.modal import CloseableModal
from one_tui.tui.widgets.inputs import QuietInput


class PastedIdInput(QuietInput):
    """Keeps every line of a paste (Textual's Input keeps the first only): an eid copied from
    a spreadsheet or an e-mail may come broken over two lines."""

    def _on_paste(self, event: events.Paste) -> None:
        self.flush_typed()  # the keys typed before the paste come first
        if event.text:
            self.type_text(" ".join(event.text.splitlines()))
        event.stop()
        event.prevent_default()  # not Input's own handler as well


class GotoModal(CloseableModal):
    """Dismisses with the text typed or pasted (None: closed)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="goto-box", classes="modal-box"):
            yield Static("An eid (any case, spaces are dropped) or a session folder "
                         "(…/<lab>/Subjects/<subject>/<date>/<number>):", markup=False)
            yield PastedIdInput(placeholder="eid or path", id="goto-text")
            yield Static("enter open its details · esc close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#goto-box").border_title = "Open a session"
        self.query_one("#goto-text", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if text:
            self.dismiss(text)
