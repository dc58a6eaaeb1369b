"""The Cache pane: the engine's state (folder, tables, freshness, REST cache, mode, Alyx), with
ages from the app's clock; bound to the app's ``state`` and ``now`` like the status line."""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.reactive import var
from textual.widgets import Static

from one_tui.engine.core.types import LOCAL_MEANS, Mode
from one_tui.engine.core.values import EngineState, RestCacheInfo
from one_tui.text import fmt_age_minutes, fmt_delta, fmt_size, fmt_time, plain
from one_tui.tui.inert import inert_text
from one_tui.tui.state import AppState
from one_tui.tui.widgets.hanging import HangingStatic

HINT = "Connecting…"


def mode_line(engine: EngineState) -> str:
    """The mode and why it is what it is, e.g. 'auto → local: login refused'."""
    if engine.fallback is not None:
        return engine.fallback.text
    if engine.mode == engine.requested:
        return f"{engine.mode} (as requested)"
    return f"{engine.requested} → {engine.mode}"


def render_cache(state: AppState, now: dt.datetime) -> Text | None:
    """The pane's text: folder, tables, freshness, REST cache, mode, Alyx (None: no engine
    yet). Ages to the minute: a ticking pane repaints once a minute."""
    engine = state.engine
    if engine is None:
        return None
    out = Text()
    _kv(out, "database", plain(engine.base_url) if engine.base_url else "none (local only)")
    _kv(out, "folder", plain(str(engine.cache_dir)))
    _kv(out, "table set", f"tag {plain(engine.tag)} ({plain(str(engine.tables_dir))})"
        if engine.tag else "full (t: a release tag)", "bold" if engine.tag else "")
    _kv(out, "mode", mode_line(engine))
    if engine.mode is Mode.LOCAL and engine.fallback is None:
        out.append(f"{'':<13}local: {LOCAL_MEANS}\n", style="dim")
    _kv(out, "user", plain(engine.user))
    if engine.read_only:
        _kv(out, "tables", "read-only folder: results are not saved")
    out.append("\nTables\n", style="bold underline")
    if not engine.tables:
        out.append("  no tables loaded\n", style="dim")
    for table in engine.tables:
        rows = table.rows
        rows_text = f"{rows:,}" if isinstance(rows, int) else plain(rows)
        unit = "row " if rows == 1 else "rows"
        out.append(f"  {table.name:<11} {rows_text:>9} {unit}  {fmt_time(table.date_created)}"
                   f"  {plain(table.origin)}\n")
    _freshness(out, engine, now)
    _rest(out, engine.rest, state.bypass_rest)
    return out


def _kv(out: Text, key: str, value: str, style: str = "") -> None:
    out.append(f"{key:<13}", style="bold")
    out.append(f"{value}\n", style=style)


def _freshness(out: Text, engine: EngineState, now: dt.datetime) -> None:
    out.append("\nFreshness\n", style="bold underline")
    fresh = engine.freshness
    created, loaded = fresh.created, fresh.loaded
    _kv(out, "created",
        f"{fmt_time(created)} ({fmt_age_minutes(created, now)} ago)" if created else "–")
    _kv(out, "loaded",
        f"{fmt_time(loaded)} ({fmt_age_minutes(loaded, now)} ago)" if loaded else "–")
    expired = fresh.expired(now)  # from the clock: it flips while the app is open
    _kv(out, "expired", "yes" if expired else "no", "yellow" if expired else "")
    _kv(out, "cache_expiry", fmt_delta(fresh.expiry))
    _kv(out, "next refresh", next_refresh(engine, now))


def next_refresh(engine: EngineState, now: dt.datetime) -> str:
    """What will ask Alyx for newer tables, and when: only a search of the tables does it by
    itself (auto, once expired; refresh, every time), ``r`` at any time."""
    nxt = engine.next_refresh
    if nxt is None:
        if engine.online:
            return "none by itself in this mode (r asks Alyx)"
        if engine.fallback is not None:
            return "none until r (it tries Alyx again)"
        return "none: local mode asks Alyx for no tables"
    if engine.mode is Mode.REFRESH:
        return "before every search (refresh mode)"
    if engine.refresh_at_next_search(now):
        return "at the next search (the tables expired; r does it now)"
    if nxt <= now:
        checked = engine.tables_checked_at
        when = f" at {fmt_time(checked)}" if checked is not None else ""
        return f"none until r: Alyx was asked{when}, after the tables expired"
    return f"at the first search after {fmt_time(nxt)} (in {fmt_delta(nxt - now)})"


def _rest(out: Text, rest: RestCacheInfo, bypass: bool) -> None:
    out.append("\nREST cache\n", style="bold underline")
    if not rest.enabled:
        _kv(out, "state", "off")
        return
    _kv(out, "state", "bypassed for queries (b)" if bypass else "on", "yellow" if bypass else "")
    _kv(out, "entries", f"{rest.entries:,}")
    _kv(out, "on disk", fmt_size(rest.bytes))
    _kv(out, "hits/misses", f"{rest.hits} / {rest.misses} this run")
    expiry = rest.default_expiry
    _kv(out, "expiry", fmt_delta(expiry) if expiry is not None else "–")


class CachePane(VerticalScroll, can_focus=True):
    """A scrollable text view of the cache state."""

    BORDER_TITLE = "Cache"

    state: var[AppState] = var(AppState, init=False)
    now: var[dt.datetime] = var(dt.datetime.min, init=False)

    _shown: Text | None = None

    def compose(self) -> ComposeResult:
        yield HangingStatic(HINT, id="cache-body")  # long paths wrap under themselves

    def watch_state(self) -> None:
        self._draw()  # news: drawn even when hidden (what it says is read when it is shown)

    def watch_now(self) -> None:
        """The tick redraws a shown pane only: an update lays the screen out again, and the
        tables' scrollbars were resent (~4 kB per tick on an idle --low-bandwidth screen)."""
        if self.display:
            self._draw()

    def on_show(self) -> None:
        self._draw()

    def _draw(self) -> None:
        """Nothing is repainted when the text is what is already shown."""
        text = render_cache(self.state, self.now)
        text = inert_text(text) if text is not None else None
        if text is not None and text != self._shown:
            self._shown = text
            self.query_one("#cache-body", Static).update(text)
