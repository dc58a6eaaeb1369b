"""Small shared widgets tuned for SSH: inputs that never blink when bandwidth is scarce, and
that take a burst of keys in the order it was typed.

Keys in order (issue 18, item 7). Textual 8.2.8 forwards every key to the focused Input's
queue at once, where a printable key is typed; a key that is a *binding* (the Input's own
ctrl+a / ctrl+u / enter, the screen's ctrl+l) is not run there but bubbles, one message queue
per ancestor, up to the App, which runs the binding when the key arrives. The characters typed
behind it were already in the Input's queue and are inserted first: a burst ``ctrl+l cortex
enter`` (a laggy SSH link) cleared the field *after* the typing and searched everything. Here a
bound key runs in the Input's own queue, in its turn, through the App's binding lookup (the
same chain, keymap and ``check_action`` as when it bubbles). Upstream: Textualize/textual#6605
(the Input's own keys; PR #6631 fixes those only); ancestors' bindings, as ctrl+l here, are
the case ``docs/upstream/textual-key-order.md`` reports (with a reproduction).
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class QuietInput(Input):
    """An Input whose cursor blinks only when the app allows it (blinking costs ~3 kB/s), whose
    bound keys act in the order they were typed, and whose text has a ceiling."""

    def on_mount(self) -> None:
        self.cursor_blink = bool(getattr(self.app, "blink_cursor", True))

    async def _on_key(self, event: events.Key) -> None:
        """A bound key runs now, before the characters queued behind it (see the module)."""
        if event.is_printable or not self.has_focus or self.screen is not self.app.screen:
            return  # typed by Input's own handler (or no longer this field's key to run)
        # the lookup the App makes when the key bubbles up to it (non-priority bindings, from
        # the focused widget up, stopping at a modal screen): private, so pinned by
        # tests/tui/test_key_order.py, which fails if it goes
        if await self.app._check_bindings(event.key):  # noqa: SLF001 - the workaround
            event.stop()  # not again at the App
            event.prevent_default()  # nor by Input's / Widget's own key handlers
