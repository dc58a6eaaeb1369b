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

One edit per burst (issue 18, item 8). Each typed key was one edit: a new value, its
validation, a ``Changed`` through the filters pane, a suggestion worker; 3,000 characters
pasted without bracketed paste (or typed by a macro) took 15 s here and froze the app, keys
meanwhile acting on a stale field. The printable keys of a burst are gathered and inserted as
one edit once the keys already queued are read (``call_later``); any other key, a paste or a
blur inserts them first, so nothing is reordered. ``max_length`` clips an edit to what fits
(Textual's Input refused the whole of it) and :attr:`QuietInput.clipped` says how much went.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.widgets import Input


class QuietInput(Input):
    """An Input whose cursor blinks only when the app allows it (blinking costs ~3 kB/s), whose
    bound keys act in the order they were typed, and whose text has a ceiling."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._typed: list[str] = []  # printable keys read, not inserted yet (one edit)
        self.clipped = 0  # characters the last edit dropped over ``max_length``

    def on_mount(self) -> None:
        self.cursor_blink = bool(getattr(self.app, "blink_cursor", True))

    async def _on_key(self, event: events.Key) -> None:
        """Printable keys gather into one edit; a bound key runs now, after them and before
        the characters queued behind it (see the module)."""
        if event.is_printable and event.character:
            if not self._typed:
                self.call_later(self.flush_typed)  # after the keys queued so far
            self._typed.append(event.character)
            self._restart_blink()
            event.stop()
            event.prevent_default()  # not Input's one-key edit
            return
        self.flush_typed()
        if not self.has_focus or self.screen is not self.app.screen:
            return  # no longer this field's key to run: it bubbles as Textual would
        # the lookup the App makes when the key bubbles up to it (non-priority bindings, from
        # the focused widget up, stopping at a modal screen): private, so pinned by
        # tests/tui/test_key_order.py, which fails if it goes
        if await self.app._check_bindings(event.key):  # noqa: SLF001 - the workaround
            event.stop()  # not again at the App
            event.prevent_default()  # nor by Input's / Widget's own key handlers

    def flush_typed(self) -> None:
        """Insert the keys gathered so far, as one edit."""
        if self._typed:
            text = "".join(self._typed)
            self._typed.clear()
            self.type_text(text)

    def type_text(self, text: str) -> None:
        """Put ``text`` at the cursor (over the selection) as one edit, clipped to
        ``max_length``."""
        start, end = sorted(self.selection)
        start, end = max(0, start), min(len(self.value), end)
        self.clipped = 0
        if self.max_length:
            room = max(0, self.max_length - (len(self.value) - (end - start)))
            if len(text) > room:
                self.clipped = len(text) - room
                text = text[:room]
        if text:
            self.replace(text, start, end)
        elif self.clipped:  # nothing fitted: the value is unchanged, say so where it is shown
            self.post_message(self.Changed(self, self.value, self.validate(self.value)))

    def _on_paste(self, event: events.Paste) -> None:
        """A paste: its first line (as Textual's Input), after the keys typed before it."""
        self.flush_typed()
        lines = event.text.splitlines()
        if lines:
            self.type_text(lines[0])
        event.stop()
        event.prevent_default()

    def _on_blur(self, event: events.Blur) -> None:
        self.flush_typed()
