"""The status line, always visible above the footer: the state a user must never guess."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from one_tui.tui.formatting import fmt_age


@dataclass
class StatusState:
    """What the line shows; the app fills it from cache_info() and its own flags."""

    mode: str = "…"
    requested_mode: str | None = None
    online: bool | None = None
    rest_enabled: bool = True
    bypass: bool = False
    created_time: object = None
    last_source: str | None = None
    busy: str = ""


class StatusLine(Static):
    """One line: mode · online · REST cache · cache age · last source · what is running."""

    def render_state(self, state: StatusState, now: dt.datetime) -> None:
        self.update(render_status(state, now))


def render_status(state: StatusState, now: dt.datetime) -> Text:
    out = Text(" ")
    mode = state.mode
    if state.requested_mode and state.requested_mode != state.mode:
        mode = f"{state.requested_mode}→{state.mode}"
    out.append(f"mode {mode}", style="bold")
    if state.online is None:
        out.append(" · connecting")
    else:
        out.append(" · online" if state.online else " · offline",
                   style="" if state.online else "yellow")
    if not state.rest_enabled:
        out.append(" · REST cache off")
    else:
        out.append(" · REST cache bypassed" if state.bypass else " · REST cache on",
                   style="yellow" if state.bypass else "")
    if state.created_time is not None:
        out.append(f" · tables {fmt_age(state.created_time, now)} old")
    if state.last_source:
        out.append(f" · last: {state.last_source}")
    if state.busy:
        out.append(f" · {state.busy}", style="italic")
    return out
