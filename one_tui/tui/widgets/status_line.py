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

#: what goes first when the line is wider than the terminal (80 columns during a download):
#: the last answer's source, then the REST cache, then the tables' age; never the mode, the
#: connection or the jobs running
DROP_ORDER = ("last", "rest", "age")


def render_status(state: AppState, now: dt.datetime, short: bool = False,
                  width: int | None = None) -> Text:
    """mode · tag (when a release's tables are active) · online · REST cache · tables' age ·
    last source · what is running. ``short``: the same facts in fewer words (80 columns cut
    the long line at ``· last:``); ``width``: parts dropped in ``DROP_ORDER`` until it fits
    (a download's progress needs the room)."""
    rest = "REST" if short else "REST cache"
    parts: list[tuple[str, str, str]] = []  # (name, text, style)
    engine = state.engine
    mode = "…"
    if engine is not None:
        mode = str(engine.mode)
        if engine.requested != engine.mode:
            mode = f"{engine.requested}→{engine.mode}"
    parts.append(("mode", f"mode {mode}", "bold"))
    if engine is not None and engine.tag:  # a release's tables answer, not the full ones
        parts.append(("tag", f" · tag {plain(engine.tag)}", "bold"))
    online = state.online
    on_request = engine is not None and engine.alyx_on_request
    if online is None:
        parts.append(("online", " · connecting", ""))
    elif (online or on_request) and state.unreachable:
        parts.append(("online", " · Alyx unreachable", "yellow"))
    elif on_request:  # local, yet ctrl+r and Alyx-only filters ask Alyx: never "offline"
        parts.append(("online", " · Alyx on request", ""))
    elif engine is not None and engine.has_alyx and {Job.LOGIN, Job.REFRESH} & set(state.jobs):
        parts.append(("online", " · asking Alyx", ""))  # a retry after a fallback
    else:
        parts.append(("online", " · online" if online else " · offline",
                      "" if online else "yellow"))
    if engine is not None and not engine.rest.enabled:
        parts.append(("rest", f" · {rest} off", ""))
    else:
        parts.append(("rest", f" · {rest} bypassed" if state.bypass_rest
                      else f" · {rest} on", "yellow" if state.bypass_rest else ""))
    created = engine.freshness.created if engine is not None else None
    if engine is not None and created is not None:
        if state.absolute:
            when = created.strftime("%H:%M" if created.date() == now.date() else
                                    "%Y-%m-%d %H:%M")
            parts.append(("age", f" · tables from {when}", ""))
        else:
            parts.append(("age", f" · tables {fmt_age_minutes(created, now)}"
                                 f"{'' if short else ' old'}", ""))
        if engine.freshness.expired(now):
            parts.append(("age", " (expired)", "yellow"))
    if state.search.last_source:
        source = state.search.last_source
        parts.append(("last", f" · last: {source.removesuffix(' tables') if short else source}",
                      ""))
    # while connecting, "connecting" is already the online part: not twice (a phase of the
    # connect job, "downloading 1.0 MB", still shows)
    said = online is None and not state.jobs.get(Job.CONNECT)
    busy = state.busy_besides(Job.CONNECT if said else None)
    if busy:
        parts.append(("busy", f" · {busy}", "italic"))
    if width is not None:
        for name in DROP_ORDER:
            if 1 + sum(len(text) for _n, text, _s in parts) <= width:
                break
            parts = [p for p in parts if p[0] != name]
    out = Text(" ")
    for _name, text, style in parts:
        out.append(text, style=style)
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
        The short form when the long one does not fit, then parts dropped in ``DROP_ORDER``
        (never what is running); if even that does not fit, the line wraps (app.tcss: height
        auto) rather than cut it."""
        text = inert_text(render_status(self.state, self.now), lines=False)
        width = self.size.width
        if width and text.cell_len > width:
            text = inert_text(render_status(self.state, self.now, short=True, width=width),
                              lines=False)
        if text != self._shown:
            self._shown = text
            self.update(text)
