"""The status line, always visible above the footer: the state a user must never guess.

Drawn from the app's state and the clock (``data_bind``, as in Textual's world-clock example);
it repaints only when its text changes, so an idle screen writes nothing (--low-bandwidth
shows the tables' time, which never ticks).
"""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from one_tui.text import fmt_age_minutes, plain
from one_tui.tui.inert import inert_text
from one_tui.tui.state import AppState, Job


def render_status(state: AppState, now: dt.datetime, short: bool = False) -> Text:
    """mode · tag (when a release's tables are active) · online · REST cache · tables' age ·
    last source · what is running. ``short``: the same facts in fewer words (80 columns cut
    the long line at ``· last:``)."""
    rest = "REST" if short else "REST cache"
    out = Text(" ")
    engine = state.engine
    mode = "…"
    if engine is not None:
        mode = str(engine.mode)
        if engine.requested != engine.mode:
            mode = f"{engine.requested}→{engine.mode}"
    out.append(f"mode {mode}", style="bold")
    if engine is not None and engine.tag:  # a release's tables answer, not the full ones
        out.append(f" · tag {plain(engine.tag)}", style="bold")
    online = state.online
    on_request = engine is not None and engine.alyx_on_request
    if online is None:
        out.append(" · connecting")
    elif (online or on_request) and state.unreachable:
        out.append(" · Alyx unreachable", style="yellow")
    elif on_request:  # local, yet ctrl+r and Alyx-only filters ask Alyx: never "offline"
        out.append(" · Alyx on request")
    elif engine is not None and engine.has_alyx and {Job.LOGIN, Job.REFRESH} & set(state.jobs):
        out.append(" · asking Alyx")  # a retry after a fallback: not "offline" meanwhile
    else:
        out.append(" · online" if online else " · offline", style="" if online else "yellow")
    if engine is not None and not engine.rest.enabled:
        out.append(f" · {rest} off")
    else:
        out.append(f" · {rest} bypassed" if state.bypass_rest else f" · {rest} on",
                   style="yellow" if state.bypass_rest else "")
    created = engine.freshness.created if engine is not None else None
    if engine is not None and created is not None:
        if state.absolute:
            when = created.strftime("%H:%M" if created.date() == now.date() else
                                    "%Y-%m-%d %H:%M")
            out.append(f" · tables from {when}")
        else:
            out.append(f" · tables {fmt_age_minutes(created, now)}{'' if short else ' old'}")
        if engine.freshness.expired(now):
            out.append(" (expired)", style="yellow")
    if state.search.last_source:
        source = state.search.last_source
        out.append(f" · last: {source.removesuffix(' tables') if short else source}")
    busy = state.busy
    if busy:
        out.append(f" · {busy}", style="italic")
    return out


class StatusLine(Static):
    """One line, bound to the app's ``state`` and ``now``."""

    state: var[AppState] = var(AppState, init=False)
    now: var[dt.datetime] = var(dt.datetime.min, init=False)

    _shown: Text | None = None

    def watch_state(self) -> None:
        self._draw()

    def watch_now(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        """Repaint only when the text changes (the clock ticks; idle output stays 0 bytes).
        The short form when the long one does not fit; if even that does not, the line wraps
        (app.tcss: height auto) rather than cut what is running."""
        text = inert_text(render_status(self.state, self.now), lines=False)
        width = self.size.width
        if width and text.cell_len > width:
            text = inert_text(render_status(self.state, self.now, short=True), lines=False)
        if text != self._shown:
            self._shown = text
            self.update(text)
