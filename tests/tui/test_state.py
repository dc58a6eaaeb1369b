"""The app's state and what is drawn from it, without an app: updates, status line, Cache pane."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from one_tui.engine.core.freshness import Freshness
from one_tui.engine.core.results import Fallback
from one_tui.engine.core.types import FallbackReason, Mode, Source
from one_tui.engine.core.values import EngineState, RestCacheInfo, TableInfo
from one_tui.tui import state
from one_tui.tui.state import AppState, Job, Pane
from one_tui.tui.widgets.cache_pane import render_cache
from one_tui.tui.widgets.status_line import render_status

T0 = dt.datetime(2026, 1, 15, 9, 30)


def engine(mode: Mode = Mode.AUTO, requested: Mode | None = None, created: dt.datetime | None
           = T0 - dt.timedelta(minutes=1), **kw: object) -> EngineState:
    values: dict[str, object] = dict(
        mode=mode, requested=requested or mode, fallback=None, has_alyx=True, logged_in=True,
        freshness=Freshness(created, T0, dt.timedelta(hours=24)),
        tables=(TableInfo("sessions", 120, "2026-01-15 09:29", "demo"),),
        rest=RestCacheInfo(True, 3, 2048, 1, 2, dt.timedelta(hours=1)),
        base_url="http://alyx", user="demo", read_only=False, cache_dir=Path("/tmp/one"))
    values.update(kw)
    return EngineState(**values)  # type: ignore[arg-type]


def test_status_says_connecting_then_the_engine_state_and_ages_with_the_clock() -> None:
    s = AppState()
    assert render_status(s, T0).plain == " mode … · connecting · REST cache on"
    s = state.engine_changed(s, engine())
    line = render_status(s, T0).plain
    assert line == " mode auto · online · REST cache on · tables 1 min old"
    assert "tables 8 min old" in render_status(s, T0 + dt.timedelta(minutes=7)).plain
    assert "(expired)" in render_status(s, T0 + dt.timedelta(hours=25)).plain


def test_status_low_bandwidth_names_the_time_and_the_fallback_arrow() -> None:
    s = state.engine_changed(AppState(absolute=True), engine(Mode.LOCAL, Mode.AUTO))
    line = render_status(s, T0).plain
    assert "mode auto→local" in line and "offline" in line and "tables from 09:29" in line
    later = render_status(s, T0 + dt.timedelta(days=2)).plain
    assert "tables from 2026-01-15 09:29 (expired)" in later


def test_jobs_follow_the_workers_and_a_late_phase_is_dropped() -> None:
    s = state.jobs_running(AppState(), ["search", "connect", "engine-state"])
    assert s.busy == "connecting, searching"
    s = state.job_phase(s, Job.CONNECT, "downloading 1.0 MB — esc cancels")
    assert s.busy == "downloading 1.0 MB — esc cancels, searching"
    s = state.jobs_running(s, ["search"])
    assert state.job_phase(s, Job.CONNECT, "late") is s  # the job ended: not shown again
    assert Job.CONNECT.escape_cancels and not Job.SEARCH.escape_cancels
    assert Job.PRELOAD.label == "loading datasets"


def test_search_life_and_reachability() -> None:
    s = state.search_started(state.search_started(AppState()))
    assert s.search.seq == 2 and s.search.running
    s = state.search_failed(s, unreachable=True)
    assert s.unreachable and not s.search.running and s.search.last_source == "search failed"
    s = state.engine_changed(s, engine())
    assert "Alyx unreachable" in render_status(s, T0).plain
    s = state.search_answered(s, Source.ALYX, T0)
    assert not s.unreachable and s.search.last_source == "Alyx" and s.search.answered_at == T0
    assert "last: Alyx" in render_status(s, T0).plain


def test_panes_bypass_and_errors() -> None:
    s = state.pane_shown(AppState(), Pane.CACHE)
    assert s.pane is Pane.CACHE and s.side is Pane.CACHE
    s = state.details_opened(s, narrow=False)
    assert s.pane is Pane.CACHE and s.side is Pane.DETAILS
    assert state.details_opened(s, narrow=True).pane is Pane.DETAILS
    s = state.bypass_toggled(state.engine_changed(s, engine()))
    assert "REST cache bypassed" in render_status(s, T0).plain
    assert state.error_recorded(s, "search: X", "trace").last_error == ("search: X", "trace")
    assert state.connect_failed(AppState()).online is False


def test_cache_pane_text() -> None:
    assert render_cache(AppState(), T0) is None
    fallback = Fallback(Mode.AUTO, FallbackReason.LOGIN_REFUSED, "auto → local: login refused")
    s = state.bypass_toggled(state.engine_changed(
        AppState(), engine(Mode.LOCAL, Mode.AUTO, fallback=fallback)))
    text = render_cache(s, T0)
    assert text is not None
    plain = text.plain
    assert "mode         auto → local: login refused" in plain
    assert "sessions          120 rows  2026-01-15 09:29  demo" in plain
    assert "created      2026-01-15 09:29 (1 min ago)" in plain
    assert "expired      no" in plain and "next refresh none" in plain
    assert "state        bypassed for queries (b)" in plain and "hits/misses  1 / 2" in plain
    expired = render_cache(state.engine_changed(s, engine()), T0 + dt.timedelta(hours=25))
    assert expired is not None and "expired      yes" in expired.plain
    assert "next refresh at the next search" in expired.plain  # what the search does
    checked = engine(tables_checked_at=T0 + dt.timedelta(hours=25))  # Alyx had nothing newer
    after = render_cache(state.engine_changed(s, checked), T0 + dt.timedelta(hours=26))
    assert after is not None and "next refresh none until r" in after.plain


def test_status_never_says_offline_while_a_job_asks_alyx() -> None:
    """Issue 18: after a fallback, r / a login ask Alyx again: not "offline" meanwhile."""
    fallback = Fallback(Mode.AUTO, FallbackReason.UNREACHABLE, "auto → local: Alyx unreachable")
    s = state.engine_changed(AppState(), engine(Mode.LOCAL, Mode.AUTO, fallback=fallback))
    assert "offline" in render_status(s, T0).plain
    retrying = state.jobs_running(s, ["refresh"])
    line = render_status(retrying, T0).plain
    assert "offline" not in line and "asking Alyx" in line
    chosen = state.engine_changed(AppState(), engine(Mode.LOCAL, remote_allowed=True))
    assert "Alyx on request" in render_status(chosen, T0).plain


def test_at_80_columns_the_status_line_keeps_the_download_and_drops_the_rest_first() -> None:
    s = state.engine_changed(AppState(), engine())
    s = state.search_answered(s, Source.ALYX, T0)
    s = state.job_phase(state.jobs_running(s, [Job.DOWNLOAD.value]), Job.DOWNLOAD,
                        "downloading 53%, 28 files left — esc cancels")
    wide = render_status(s, T0).plain
    assert "last: Alyx" in wide and "REST cache on" in wide and len(wide) > 80
    narrow = render_status(s, T0, width=80).plain
    assert len(narrow) <= 80
    assert "mode auto" in narrow and "online" in narrow
    assert "downloading 53%, 28 files left — esc cancels" in narrow
    assert "last:" not in narrow


def test_connecting_is_said_once_and_a_connect_phase_still_shows() -> None:
    s = state.jobs_running(AppState(), ["connect"])
    assert render_status(s, T0).plain == " mode … · connecting · REST cache on"
    s = state.job_phase(s, Job.CONNECT, "downloading 1.0 MB — esc cancels")
    assert render_status(s, T0).plain.endswith(
        "· connecting · REST cache on · downloading 1.0 MB — esc cancels")
