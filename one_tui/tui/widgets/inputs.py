"""Small shared widgets tuned for SSH: inputs that never blink when bandwidth is scarce."""

from __future__ import annotations

from textual.widgets import Input


class QuietInput(Input):
    """An Input whose cursor blinks only when the app allows it (blinking costs ~3 kB/s)."""

    def on_mount(self) -> None:
        self.cursor_blink = bool(getattr(self.app, "blink_cursor", True))
