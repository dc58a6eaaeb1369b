"""The screen tells the truth at every moment (issue 10), by Pilot with an injected clock: ages
advance, ``expired`` flips and auto asks Alyx at the next search, connect/refresh are jobs with
phases that escape cancels, each refresh says what happened, a regex bomb does not freeze the
app."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector
from one_tui.tui.widgets.results import ResultsPane
from tests.tui.conftest import N_SESSIONS, requests_since, settle, status_text, toasts

WIDE = (160, 48)
T0 = dt.datetime.now().replace(microsecond=0)


class Clock:
    """A clock the test moves."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class RecordingApp(OneApp):
    """The real app, keeping every job phase where the workers produce it (the progress
    messages coalesce: a phase may never reach a handler, so the handler is the wrong place)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.phase_log = []


def build(url: str | None, folder: Path, clock: Clock, mode: str = "auto",
          password: str | None = "demo", low_bandwidth: bool = False) -> RecordingApp:
    conn = Connector(base_url=url, cache_dir=folder, mode=mode, username="demo",
                     password=password, label="demo Alyx")
    return RecordingApp(conn, config=TuiConfig(), clock=clock, low_bandwidth=low_bandwidth)


def cache_text(app: OneApp) -> str:
    return str(app.query_one("#cache-body", Static).render())


async def wait_until(pilot: Any, test: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


async def test_ages_advance_and_expired_flips_with_the_clock(db, tmp_path) -> None:
    folder = tmp_path / "cache"
    db.write_tables(folder, date_created=T0 - dt.timedelta(minutes=1))
    clock = Clock(T0)
    app = build(None, folder, clock, mode="local")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        await pilot.press("4")  # the cache pane
        assert "tables 1 min old" in status_text(app)
        assert "(1 min ago)" in cache_text(app)
        clock.now = T0 + dt.timedelta(minutes=7)
        app.now = clock()  # what a tick does (no waiting for one), no search
        await pilot.pause()
        assert "tables 8 min old" in status_text(app)
        assert "(8 min ago)" in cache_text(app)
        assert "expired      no" in cache_text(app) and "(expired)" not in status_text(app)
        clock.now = T0 + dt.timedelta(hours=25)
        app.now = clock()  # a tick
        await pilot.pause()
        assert "expired      yes" in cache_text(app)
        assert "(expired)" in status_text(app)


async def test_low_bandwidth_status_names_the_tables_time_and_still_flips_expired(db,
                                                                                  tmp_path):
    """--low-bandwidth: no ticking age in the status line (idle output 0 bytes/s), the
    tables' time instead; expiry still flips with the clock."""
    folder = tmp_path / "cache"
    # a minute before T0, but on T0's day (the status names a time of another day with its
    # date: in the minute after midnight this test failed)
    created = max(T0 - dt.timedelta(minutes=1), T0.replace(hour=0, minute=0, second=0))
    db.write_tables(folder, date_created=created)
    clock = Clock(T0)
    app = build(None, folder, clock, mode="local", low_bandwidth=True)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        assert f"tables from {created:%H:%M}" in status_text(app)
        clock.now = T0 + dt.timedelta(hours=25)
        app.now = clock()  # what a low-bandwidth tick does
        await pilot.pause()
        assert f"tables from {created:%Y-%m-%d %H:%M} (expired)" in status_text(app)


async def test_auto_asks_alyx_at_the_next_search_once_expired(db, server, tmp_path) -> None:
    folder = tmp_path / "cache"
    server.set_tables_date(T0)
    clock = Clock(T0)
    app = build(server.url, folder, clock)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        start = len(server.requests)
        app.query_one("#f-lab", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert requests_since(server, start, "/cache") == []  # fresh: nothing asked
        clock.now = T0 + dt.timedelta(hours=25)
        app.now = clock()  # a tick
        await pilot.pause()
        assert "(expired)" in status_text(app)
        server.set_tables_date(T0 + dt.timedelta(hours=24, minutes=30))
        app.query_one("#f-lab", Input).focus()  # a search moves the focus to the results
        await pilot.press("enter")
        await settle(app, pilot)
        assert requests_since(server, start, "/cache/info")
        assert requests_since(server, start, "/cache.zip")
        assert any(t.startswith("Tables expired: new tables from") for t in toasts(app))
        assert "(expired)" not in status_text(app)


async def test_login_and_download_progress_then_cancel(db, server, tmp_path) -> None:
    """First start: the status line walks through the phases with bytes; escape during the
    download keeps the tables on disk and says so."""
    folder = tmp_path / "cache"
    old = T0 - dt.timedelta(days=3)
    db.write_tables(folder, date_created=old)
    server.set_tables_date(T0)
    server.faults.paths = ("/cache.zip",)
    server.faults.read_timeout_after_bytes = 4000
    server.faults.stall_seconds = 5.0
    app = build(server.url, folder, Clock(T0))
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await wait_until(pilot, lambda: "downloading" in status_text(app))
        started = time.monotonic()
        await pilot.press("escape")
        # the worker is cancelled at once; its thread stops when the stalled read returns
        await wait_until(pilot, lambda: any("download cancelled" in t for t in toasts(app)))
        await settle(app, pilot)
        assert time.monotonic() - started < 3  # not after the 5 s stall: the read is aborted
        joined = " | ".join(app.phase_log or [])
        assert "connect: logging in" in joined
        assert "connect: asking Alyx for newer tables" in joined
        assert "connect: downloading" in joined
        assert any("Connecting: download cancelled; kept the tables from "
                   f"{old:%Y-%m-%d %H:%M}" in t for t in toasts(app))
        assert app.query_one(ResultsPane).row_count == N_SESSIONS  # the old tables
        assert "mode auto ·" in status_text(app) and "downloading" not in status_text(app)
        # the first search does not start the cancelled download again
        assert len(requests_since(server, 0, "/cache.zip")) == 1


async def test_refresh_is_a_job_escape_cancels_and_each_outcome_is_said(db, server,
                                                                         tmp_path) -> None:
    folder = tmp_path / "cache"
    server.set_tables_date(T0)
    app = build(server.url, folder, Clock(T0))
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        app.query_one(ResultsPane).table.focus()
        await pilot.press("r")
        await settle(app, pilot)
        assert any("Refresh: tables from" in t and "not expired: Alyx not asked" in t
                   for t in toasts(app))
        await pilot.press("R")
        await settle(app, pilot)
        assert any(t.startswith("Forced refresh: Alyx has nothing newer") for t in toasts(app))
        # newer tables, a stalled download: escape cancels the refresh
        server.set_tables_date(T0 + dt.timedelta(hours=1))
        server.faults.paths = ("/cache.zip",)
        server.faults.read_timeout_after_bytes = 4000
        server.faults.stall_seconds = 5.0
        await pilot.press("R")
        await wait_until(pilot, lambda: "downloading" in status_text(app))
        await pilot.press("escape")
        await wait_until(pilot, lambda: any("download cancelled" in t for t in toasts(app)))
        await settle(app, pilot)
        assert any(t.startswith("Forced refresh: download cancelled; kept the tables from")
                   for t in toasts(app))
        server.faults.reset()
        await pilot.press("R")
        await settle(app, pilot)
        assert any(t.startswith("Forced refresh: new tables from") for t in toasts(app))
        # Alyx down: unreachable, never "nothing newer"
        server.stop()
        await pilot.press("R")
        await settle(app, pilot)
        last = [t for t in toasts(app) if t.startswith("Forced refresh")][-1]
        assert "Alyx unreachable" in last and "newer" not in last
        assert "Alyx unreachable" in status_text(app) or "offline" in status_text(app)


@pytest.mark.timeout(60)
async def test_regex_bomb_is_cancelled_by_escape_within_a_second(db, tmp_path,
                                                                 monkeypatch) -> None:
    from one_tui.engine.local import patterns
    monkeypatch.setattr(patterns, "REGEX_TIME_LIMIT", 3.0)
    sessions = db.sessions.copy()
    sessions["subject"] = sessions["subject"].astype(object)
    for i in range(5):  # a few unique bomb values
        sessions.iloc[i, sessions.columns.get_loc("subject")] = "a" * (38 + i) + "!"
    folder = tmp_path / "cache"
    original = db.sessions
    db.sessions = sessions
    try:
        db.write_tables(folder)
    finally:
        db.sessions = original
    app = build(None, folder, Clock(T0), mode="local")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        app.query_one("#f-subject", Input).value = "(a|a)+$"
        app.query_one("#f-subject", Input).focus()
        await pilot.press("enter")
        await asyncio.sleep(0.3)  # the match is running
        assert app.state.search.running
        handled: list[float] = []
        cancel = app.main.action_cancel

        def timed_cancel() -> None:
            cancel()
            handled.append(time.monotonic())

        app.main.action_cancel = timed_cancel  # type: ignore[method-assign]
        started = time.monotonic()
        await pilot.press("escape")
        await wait_until(pilot, lambda: "Search cancelled" in toasts(app), timeout=3.0)
        print(f"escape handled in {handled[0] - started:.3f} s")
        assert handled and handled[0] - started < 1.0
        assert not app.state.search.running
        await settle(app, pilot)  # the worker ends at the time limit, its answer dropped


async def test_results_grow_and_change_under_one_table_widget(db, tmp_path) -> None:
    """A new answer replaces the Arrow data under the mounted table: no remount, so the focus
    stays on the table (three focus bugs came from remounting)."""
    folder = tmp_path / "cache"
    db.write_tables(folder)
    app = build(None, folder, Clock(T0), mode="local")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        table = results.table
        assert table is not None and results.row_count == N_SESSIONS
        lab = str(db.sessions["lab"].iloc[0])
        app.query_one("#f-lab", Input).value = lab
        app.query_one("#f-lab", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert results.table is table  # the same widget
        assert table.row_count == results.row_count == int((db.sessions["lab"] == lab).sum())
        table.focus()
        await pilot.press("down")
        app.query_one("#f-lab", Input).value = ""
        await app.main.run_action("search")
        await settle(app, pilot)
        assert results.table is table and table.row_count == N_SESSIONS
        assert app.focused is table


async def test_rest_bypass_with_overlapping_workers(make_app, server, db) -> None:
    """b, then a details load and a search at once (both bypassed, overlapping on a slow
    Alyx); b again: the next search reads the REST cache, and the client's setting is intact
    (the old toggle left ``cache_rest`` None for good)."""
    app = make_app(mode="remote")
    lab = str(db.sessions["lab"].iloc[0])
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        app.query_one("#f-lab", Input).value = lab
        await app.main.run_action("search")
        await settle(app, pilot)
        await app.main.run_action("search")
        await settle(app, pilot)
        assert "REST cache" in app.query_one("#results-status", Static).render().plain
        app.action_toggle_bypass()
        server.faults.latency = 0.3
        app.query_one(ResultsPane).table.focus()
        app.main.action_details()  # GET /sessions/<eid>, bypassed
        await app.main.run_action("search")  # overlaps it, bypassed
        await settle(app, pilot)
        assert "last: Alyx" in status_text(app)
        server.faults.latency = 0.0
        app.action_toggle_bypass()
        start = len(server.requests)
        await app.main.run_action("search")
        await settle(app, pilot)
        assert requests_since(server, start, "/sessions") == []
        assert "last: REST cache" in status_text(app)
        assert app.service.one.alyx.cache_rest == "GET" and not app.service.one.alyx.bypassed
