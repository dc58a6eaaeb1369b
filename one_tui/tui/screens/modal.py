"""Base of every modal: closes with escape and q (q avoids tmux's escape-time lag)."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.screen import ModalScreen


class CloseableModal(ModalScreen[Any]):
    """A modal that ``escape`` or ``q`` dismisses with None."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="modal_close"),
    ]

    def action_close(self) -> None:
        self.dismiss(None)
