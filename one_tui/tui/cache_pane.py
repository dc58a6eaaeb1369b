"""The cache pane: everything ``one.cache_info()`` says, with ages from the app's clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from one_tui.tui.formatting import (
    as_datetime,
    fmt_age,
    fmt_age_minutes,
    fmt_delta,
    fmt_size,
    fmt_time,
    plain,
)

HINT = "Connecting…"


class CachePane(VerticalScroll, can_focus=True):
    """A scrollable text view of the cache state."""

    BORDER_TITLE = "Cache"

    def compose(self):
        yield Static(HINT, id="cache-body")

    _shown: Text | None = None

    coarse = True  # ages to the minute: a ticking pane repaints once a minute

    def show(self, info: dict[str, Any], now: dt.datetime, bypass: bool) -> None:
        """Draw the state; nothing is repainted when the text is what is already shown."""
        text = render_cache_info(info, now, bypass, self.coarse)
        if text != self._shown:
            self._shown = text
            self.query_one("#cache-body", Static).update(text)


def mode_line(info: dict[str, Any]) -> str:
    """The mode and why it is what it is, e.g. 'auto → local: login refused'."""
    mode, requested = info.get("mode"), info.get("requested_mode") or info.get("mode")
    if info.get("fallback_reason"):
        return str(info["fallback_reason"])
    return f"{mode} (as requested)" if mode == requested else f"{requested} → {mode}"


def render_cache_info(info: dict[str, Any], now: dt.datetime, bypass: bool = False,
                      coarse: bool = False) -> Text:
    """The cache pane text: folder, tables, freshness, REST cache, mode, Alyx."""
    out = Text()
    _kv(out, "folder", plain(info.get("cache_dir")))
    _kv(out, "mode", mode_line(info))
    _kv(out, "Alyx", plain(info.get("base_url")) if info.get("base_url") else "none (local only)")
    _kv(out, "user", plain(info.get("user")))
    if info.get("read_only"):
        _kv(out, "tables", "read-only folder: results are not saved")
    out.append("\nTables\n", style="bold underline")
    tables = info.get("tables") or {}
    if not tables:
        out.append("  no tables loaded\n", style="dim")
    for name, meta in tables.items():
        rows = meta.get("rows")
        rows_text = f"{rows:,}" if isinstance(rows, int) else plain(rows)
        unit = "row " if rows == 1 else "rows"
        out.append(f"  {name:<11} {rows_text:>9} {unit}  {fmt_time(meta.get('date_created'))}"
                   f"  {plain(meta.get('origin'))}\n")
    _freshness(out, info, now, fmt_age_minutes if coarse else fmt_age)
    _rest(out, info.get("rest_cache") or {}, bypass)
    return out


def _kv(out: Text, key: str, value: str, style: str = "") -> None:
    out.append(f"{key:<13}", style="bold")
    out.append(f"{value}\n", style=style)


def _freshness(out: Text, info: dict[str, Any], now: dt.datetime, age: Any = fmt_age) -> None:
    out.append("\nFreshness\n", style="bold underline")
    created = info.get("created_time")
    _kv(out, "created", f"{fmt_time(created)} ({age(created, now)} ago)" if created else "–")
    loaded = info.get("loaded_time")
    _kv(out, "loaded", f"{fmt_time(loaded)} ({age(loaded, now)} ago)" if loaded else "–")
    expiry = info.get("cache_expiry")
    expired = info.get("expired")
    moment = as_datetime(created)
    if moment is not None and isinstance(expiry, dt.timedelta):
        expired = now - moment > expiry  # from the clock: it flips while the app is open
    _kv(out, "expired", "yes" if expired else "no", "yellow" if expired else "")
    _kv(out, "cache_expiry", fmt_delta(expiry) if isinstance(expiry, dt.timedelta) else "–")
    nxt = as_datetime(info.get("next_refresh"))
    if nxt is None:
        text = "none (no automatic refresh in this mode)"
    elif nxt <= now:
        text = f"{fmt_time(nxt)} (due now)"
    else:
        text = f"{fmt_time(nxt)} (in {fmt_delta(nxt - now)})"
    _kv(out, "next refresh", text)


def _rest(out: Text, rest: dict[str, Any], bypass: bool) -> None:
    out.append("\nREST cache\n", style="bold underline")
    if not rest.get("enabled", bool(rest)):
        _kv(out, "state", "off")
        return
    _kv(out, "state", "bypassed for queries (b)" if bypass else "on", "yellow" if bypass else "")
    entries = rest.get("entries")
    _kv(out, "entries", f"{entries:,}" if isinstance(entries, int) else plain(entries))
    _kv(out, "on disk", fmt_size(rest.get("bytes")))
    _kv(out, "hits/misses", f"{plain(rest.get('hits'))} / {plain(rest.get('misses'))} this run")
    expiry = rest.get("default_expiry")
    _kv(out, "expiry", fmt_delta(expiry) if isinstance(expiry, dt.timedelta) else plain(expiry))
