"""The status line, always visible above the footer: the state a user must never guess."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from one_tui.tui.formatting import as_datetime, fmt_age, fmt_age_minutes


@dataclass
class StatusState:
    """The one state the screen shows (status line, cache pane, titles derive from it): the
    engine's (mode, why it differs, tables' times, expiry) from ``cache_info()``, the app's own
    (REST bypass, the running job and its phase, the last answer and its source) and the clock.
    """

    mode: str = "…"
    requested_mode: str | None = None
    fallback_reason: str | None = None
    online: bool | None = None
    unreachable: bool = False      # the last call that went to Alyx found it unreachable
    rest_enabled: bool = True
    bypass: bool = False
    created_time: object = None
    loaded_time: object = None
    cache_expiry: dt.timedelta | None = None
    last_source: str | None = None
    answered_at: dt.datetime | None = None
    busy: str = ""
    job: str = ""                  # the running job's phase, e.g. "downloading 3.2 MB / 8.0 MB"
    tables_checked_at: dt.datetime | None = None  # the last table job ended (any outcome)
    coarse: bool = True            # ages to the minute: an idle screen repaints once a minute
    absolute: bool = False         # --low-bandwidth: "tables from 09:12", never repainted idle

    def refresh_due(self, now: dt.datetime) -> bool:
        """auto's next query asks Alyx: the tables expired and no table job ran since (a
        download the user cancelled at start is not started again by the first search)."""
        created = as_datetime(self.created_time)
        if not self.expired(now) or created is None or self.cache_expiry is None:
            return False
        checked = self.tables_checked_at
        return checked is None or checked < created + self.cache_expiry

    def expired(self, now: dt.datetime) -> bool | None:
        """ONE 2.x's rule, recomputed from the clock (None when unknown)."""
        created = as_datetime(self.created_time)
        if created is None or self.cache_expiry is None:
            return None
        return now - created > self.cache_expiry


class StatusLine(Static):
    """One line: mode · online · REST cache · cache age · last source · what is running."""

    _shown: Text | None = None

    def render_state(self, state: StatusState, now: dt.datetime) -> None:
        """Repaint only when the text changes (the clock ticks; idle output stays 0 bytes)."""
        text = render_status(state, now)
        if text != self._shown:
            self._shown = text
            self.update(text)


def render_status(state: StatusState, now: dt.datetime) -> Text:
    out = Text(" ")
    mode = state.mode
    if state.requested_mode and state.requested_mode != state.mode:
        mode = f"{state.requested_mode}→{state.mode}"
    out.append(f"mode {mode}", style="bold")
    if state.online is None:
        out.append(" · connecting")
    elif state.online and state.unreachable:
        out.append(" · Alyx unreachable", style="yellow")
    else:
        out.append(" · online" if state.online else " · offline",
                   style="" if state.online else "yellow")
    if not state.rest_enabled:
        out.append(" · REST cache off")
    else:
        out.append(" · REST cache bypassed" if state.bypass else " · REST cache on",
                   style="yellow" if state.bypass else "")
    if state.created_time is not None:
        created = as_datetime(state.created_time)
        if state.absolute and created is not None:
            when = created.strftime("%H:%M" if created.date() == now.date() else
                                    "%Y-%m-%d %H:%M")
            out.append(f" · tables from {when}")
        else:
            age = (fmt_age_minutes if state.coarse else fmt_age)(state.created_time, now)
            out.append(f" · tables {age} old")
        if state.expired(now):
            out.append(" (expired)", style="yellow")
    if state.last_source:
        out.append(f" · last: {state.last_source}")
    if state.busy:
        out.append(f" · {state.busy}", style="italic")
    return out
