"""The app against the demo Alyx and the real engine: what a user sees after each key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from textual.widgets import Input, Static

from one_tui.tui.app import OneApp
from one_tui.tui.widgets.cache_pane import CachePane
from one_tui.tui.widgets.details import DetailsPane
from one_tui.tui.widgets.results import ResultsPane
from tests.tui.conftest import (
    N_SESSIONS,
    requests_since,
    results_text,
    settle,
    status_text,
    toasts,
)

WIDE = (160, 48)


async def search(app: OneApp, pilot: Any, key: str = "enter", **fields: str) -> None:
    """Type filters like a user (into the inputs) and submit."""
    for name, value in fields.items():
        inp = app.query_one(f"#f-{name}", Input)
        inp.value = value
    app.query_one("#f-lab", Input).focus()
    await pilot.press(key)
    await settle(app, pilot)


def subject_rows(db: Any, subject: str) -> int:
    return int((db.sessions["subject"] == subject).sum())


async def test_auto_mode_downloads_tables_then_searches_locally(make_app, server, db) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        assert any("/cache.zip" in r for r in server.requests)
        results = app.query_one(ResultsPane)
        assert results.row_count == N_SESSIONS
        assert "local tables" in results_text(app)
        assert "mode auto" in status_text(app) and "online" in status_text(app)
        subject = str(db.sessions["subject"].iloc[0])
        start = len(server.requests)
        await search(app, pilot, subject=subject)
        assert results.row_count == subject_rows(db, subject)
        assert requests_since(server, start, "/sessions") == []


async def test_local_mode_by_key_sends_nothing(make_app, server, db) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        await pilot.press("f2")
        await settle(app, pilot)
        assert "mode local" in status_text(app) and "Alyx on request" in status_text(app)
        start = len(server.requests)
        lab = str(db.sessions["lab"].iloc[0])
        await search(app, pilot, lab=lab)
        assert app.query_one(ResultsPane).row_count == int((db.sessions["lab"] == lab).sum())
        assert server.requests[start:] == []


async def test_remote_mode_search_goes_to_alyx_case_insensitive(make_app, server, db) -> None:
    app = make_app(mode="remote")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        assert "Alyx" in str(app.query_one("#match-rule", Static).render())
        subject = str(db.sessions["subject"].iloc[0])
        start = len(server.requests)
        await search(app, pilot, subject=subject.upper())
        sent = requests_since(server, start, "/sessions")
        assert sent and "subject=" in sent[0]
        assert app.query_one(ResultsPane).row_count == subject_rows(db, subject)
        assert "Alyx" in results_text(app)


async def test_remote_only_filter_sends_the_search_to_alyx(make_app, server) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        start = len(server.requests)
        await search(app, pilot, narrative="the")
        sent = requests_since(server, start, "/sessions")
        assert sent and "narrative__icontains" in sent[0]
        assert "mode auto" in status_text(app)  # the mode itself is unchanged


async def test_narrative_with_a_comma_is_found_on_alyx(make_app, server, db) -> None:
    """The narrative field's text reaches Alyx whole: a comma sent raw split the django filter
    and Alyx answered 500 ("Search failed")."""
    text = "licking well, good"
    expected = int(db.session_extra["narrative"].str.contains(text, case=False).sum())
    assert expected > 0
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        start = len(server.requests)
        await search(app, pilot, narrative=text)
        assert requests_since(server, start, "/sessions")
        assert "failed" not in results_text(app).lower()
        assert app.query_one(ResultsPane).row_count == expected


async def test_refresh_mode_and_cycle_key(make_app, server) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        app.query_one(ResultsPane).table.focus()
        await pilot.press("m")  # auto -> refresh
        await settle(app, pilot)
        assert "mode refresh" in status_text(app)
        start = len(server.requests)
        await search(app, pilot, key="f9")
        assert requests_since(server, start, "/cache/info")
        app.query_one(ResultsPane).table.focus()
        await pilot.press("m")  # refresh -> local
        await settle(app, pilot)
        assert "mode local" in status_text(app)


async def test_refresh_keys_and_their_requests(make_app, server) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        app.query_one(ResultsPane).table.focus()
        start = len(server.requests)
        await pilot.press("r")  # as auto would: tables are fresh, Alyx is not asked
        await settle(app, pilot)
        assert requests_since(server, start, "/cache") == []
        assert any("Refresh: tables from" in t and "not expired: Alyx not asked" in t
                   for t in toasts(app))
        assert not any("nothing newer" in t or "no newer" in t for t in toasts(app))
        await pilot.press("R")  # forced: cache/info is asked
        await settle(app, pilot)
        assert requests_since(server, start, "/cache/info")
        assert any("Forced refresh: Alyx has nothing newer" in t for t in toasts(app))
        server.set_tables_date(dt.datetime.now() + dt.timedelta(hours=1))
        seq = app.state.search.seq
        app.query_one(ResultsPane).table.focus()
        await pilot.press("f6")
        await settle(app, pilot)
        assert requests_since(server, start, "/cache.zip")
        assert any("Forced refresh: new tables" in t for t in toasts(app))
        assert app.state.search.seq == seq + 1  # the rows on screen are re-read from the new tables


async def test_bypass_rest_cache_by_key(make_app, server, db) -> None:
    app = make_app(mode="remote")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        lab = str(db.sessions["lab"].iloc[0])
        await search(app, pilot, lab=lab)
        start = len(server.requests)
        await search(app, pilot, lab=lab)
        assert requests_since(server, start, "/sessions") == []
        assert "REST cache" in results_text(app)
        app.query_one(ResultsPane).table.focus()
        await pilot.press("b")
        assert "REST cache bypassed" in status_text(app)
        await search(app, pilot, lab=lab)
        assert requests_since(server, start, "/sessions")
        assert "· Alyx ·" in results_text(app)


async def test_details_list_critical_datasets_insertions_and_remote_record(make_app, db) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        results.table.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        eid = results.eid_at(0)
        text = str(app.query_one("#details-body", Static).render())
        assert eid in text
        n_datasets = len(db.datasets.loc[eid])
        assert f"Datasets · {n_datasets} " in text
        if (db.datasets.loc[eid]["qc"].astype(str) == "CRITICAL").any():
            assert "CRITICAL" in text.split("Datasets")[1]
        assert "Probe insertions" in text and "Alyx record" in text
        assert "narrative" in text
        assert app.query_one(DetailsPane).display


async def test_escape_cancels_a_slow_remote_search(make_app, server) -> None:
    app = make_app(mode="remote")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        app.remote_page_size = 10
        server.faults.latency = 0.4
        app.query_one("#f-lab", Input).focus()
        await pilot.press("enter")
        while "sessions — esc to cancel" not in results_text(app):
            await pilot.pause(0.05)
        assert " of " in results_text(app)
        await pilot.press("escape")
        assert not app.state.search.running  # the UI is free at once
        server.faults.latency = 0
        await settle(app, pilot)
        for _ in range(100):  # the page in flight finishes, then the engine returns its rows
            if "cancelled:" in results_text(app):
                break
            await pilot.pause(0.05)
        rows = app.query_one(ResultsPane).row_count
        assert 0 < rows < N_SESSIONS
        assert f"cancelled: {rows:,} sessions" in results_text(app)


async def test_remote_rows_appear_page_by_page(make_app, server) -> None:
    """A slow remote search shows the sessions that arrived while the next pages load."""
    app = make_app(mode="remote")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        app.remote_page_size = 10
        server.faults.latency = 0.2
        app.query_one("#f-lab", Input).focus()
        await pilot.press("enter")
        seen: list[int] = []
        while app.state.search.running:
            rows = app.query_one(ResultsPane).row_count
            if app.state.search.running and rows and (not seen or rows != seen[-1]):
                seen.append(rows)
            await pilot.pause(0.05)
        server.faults.latency = 0
        await settle(app, pilot)
        assert seen and seen[0] < N_SESSIONS, "no partial rows were shown during the search"
        assert seen == sorted(seen)  # the table only grows
        assert app.query_one(ResultsPane).row_count == N_SESSIONS


async def test_focus_never_passes_through_a_filter_while_results_grow(make_app, server) -> None:
    """The table is replaced as pages arrive. Focus must go straight from the old table to the
    new one: if it passed through a filter field, letters typed meanwhile (b, r, m...) would be
    written into that filter instead of acting on the app."""
    app = make_app(mode="remote")
    focus_seen: list[str] = []

    def watch(_message: object) -> None:
        if app.is_running and app.state.search.running and app.focused is not None:
            focus_seen.append(type(app.focused).__name__)

    async with app.run_test(size=WIDE, notifications=True, message_hook=watch) as pilot:
        await settle(app, pilot)
        app.remote_page_size = 10
        server.faults.latency = 0.1
        app.main.action_search()
        while app.state.search.running:
            await pilot.pause(0.02)
        server.faults.latency = 0
        await settle(app, pilot)
        assert "SessionsTable" in focus_seen  # the growing table had focus during the search
        assert not [name for name in focus_seen if "Input" in name]


async def test_login_modal_masks_password_and_logs_in(make_app, server) -> None:
    from one_tui.tui.screens.login import LoginModal

    app = make_app(mode="auto", password=None)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, LoginModal)
        assert "login" in status_text(app).lower() or "local" in status_text(app)
        password = app.screen.query_one("#login-password", Input)
        assert password.password  # masked
        assert app.screen.query_one("#login-username", Input).value == "demo"
        password.focus()
        await pilot.press("w", "r", "o", "n", "g")
        screen = app.export_screenshot()
        assert "wrong" not in screen and "•••••" in screen  # never shown
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, LoginModal)  # refused: asked again, with the reason
        assert "refused" in str(app.screen.query_one("#login-error", Static).render())
        app.screen.query_one("#login-password", Input).focus()
        await pilot.press("d", "e", "m", "o", "enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, LoginModal)
        assert app.state.engine.logged_in
        assert "mode auto" in status_text(app) and "online" in status_text(app)
        assert app.query_one(ResultsPane).row_count == N_SESSIONS


BAD_INPUTS = [
    ("date_from", "2024-13-01", "not a date"),
    ("date_to", "yesterday", "not a date"),
    ("number", "abc", "not a session number"),
    ("subject", "KS00[5", "invalid regex"),
    ("lab", "(cortex", "invalid regex"),
    ("datasets", "trials.*npy,spikes.(", "invalid regex"),
    ("dataset_qc", "GOOD", "QC"),
    ("session_qc", "99", "QC"),
    ("perf_gte", "101", "0 to 100"),
    ("perf_lte", "-3", "0 to 100"),
    ("django", "narrative__icontains", "django"),
]


async def test_bad_values_are_flagged_and_not_sent(make_app, server) -> None:
    app = make_app(mode="auto")  # local rules: text filters are regexes; Alyx-only go remote
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        for field, value, message in BAD_INPUTS:
            app.query_one("#filters").clear()
            inp = app.query_one(f"#f-{field}", Input)
            inp.focus()
            inp.value = value  # as typed: Input.Changed runs the same validation
            start, seq = len(server.requests), app.state.search.seq
            await pilot.press("enter")
            await settle(app, pilot)
            assert inp.has_class("-invalid"), field
            shown = str(app.query_one(f"#e-{field}", Static).render())
            assert message in shown, (field, shown)
            assert server.requests[start:] == [] and app.state.search.seq == seq, field


async def test_regex_check_follows_the_match_rule(make_app) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        inp = app.query_one("#f-subject", Input)
        inp.value = "KS00[5"
        await pilot.pause()
        assert inp.has_class("-invalid")
        await pilot.press("f3")  # remote: subject is an exact name, not a regex
        await settle(app, pilot)
        assert not inp.has_class("-invalid")


async def test_server_gone_falls_back_to_local_in_status_line(make_app, server) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        # stop() leaves open keep-alive connections served; dropping them makes it really gone
        server.faults.drop_connections = True
        server.stop()
        app.query_one(ResultsPane).table.focus()
        await pilot.press("R")
        await settle(app, pilot)
        status = status_text(app)
        assert "auto→local" in status and "offline" in status
        cache = str(app.query_one("#cache-body", Static).render())
        assert "auto → local" in cache
        assert any("auto → local" in t for t in toasts(app))  # engine notice drained
        await search(app, pilot)  # still usable: local tables
        assert app.query_one(ResultsPane).row_count == N_SESSIONS


async def test_error_toast_and_full_text_on_x(make_app, server) -> None:
    from one_tui.tui.screens.error import ErrorModal

    app = make_app(mode="remote")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        await search(app, pilot, django="nosuchfield__icontains,x")
        assert app.state.last_error is not None
        assert not app.state.search.running
        assert any("x: details" in t for t in toasts(app))
        app.query_one("#f-lab", Input).blur()
        await pilot.press("x")
        assert isinstance(app.screen, ErrorModal)
        assert "Traceback" in app.screen.text
        await pilot.press("q")
        assert not isinstance(app.screen, ErrorModal)


async def test_copy_eid_and_load_line(make_app) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        results.table.focus()
        await pilot.press("down", "y")
        eid = results.eid_at(1)
        assert app.clipboard == eid
        assert any(eid in t for t in toasts(app))
        await pilot.press("o", "enter")  # no details yet: the line listing its datasets
        assert app.clipboard == f"one.list_datasets('{eid}')"


async def test_export_csv_and_parquet(make_app, tmp_path: Path) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        for name in ("out.csv", "out.pqt"):
            app.query_one(ResultsPane).table.focus()
            await pilot.press("e")
            path_input = app.screen.query_one("#export-path", Input)
            path_input.value = str(tmp_path / name)
            await pilot.press("enter")
            await settle(app, pilot)
        assert pacsv.read_csv(tmp_path / "out.csv").num_rows == N_SESSIONS
        assert pq.read_table(tmp_path / "out.pqt").num_rows == N_SESSIONS


async def test_eid_column_and_sort(make_app, db) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        results.table.focus()
        await pilot.press("i")
        await pilot.pause()
        assert "eid" in results.table.backend.data.column_names
        await pilot.press("s")
        await pilot.press("down", "enter")  # subject
        await pilot.pause()
        subjects = results.full.column("subject").to_pylist()
        assert subjects == sorted(subjects, key=str.lower)  # case-insensitive (issue 18)
        assert "sorted by subject" in results_text(app)
        await pilot.press("i")  # eid hidden: the table sorts in place, eids must follow
        await pilot.pause()
        await pilot.press("s", "down", "down", "down", "enter")  # lab
        await pilot.pause()
        for row in (0, 57, N_SESSIONS - 1):
            shown = results.table.get_row_at(row)
            known = results.row_dict(row)
            assert shown[1] == known["subject"] and shown[3] == known["lab"], row
            eid = results.eid_at(row)
            assert db.sessions.loc[eid, "subject"] == known["subject"]


async def test_cache_pane_shows_cache_info(make_app, server) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        assert app.query_one(CachePane).display
        text = str(app.query_one("#cache-body", Static).render())
        for needle in ("sessions", "datasets", "cache_expiry", "next refresh", "REST cache",
                       server.url, "demo", "auto (as requested)", f"{N_SESSIONS:,}"):
            assert needle in text, needle


async def test_narrow_terminal_shows_one_pane_at_a_time(make_app) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        shown = [p for p in ("filters", "results", "details", "cache")
                 if app.query_one(f"#{p}").display]
        assert shown == ["results"]
        await pilot.press("1")
        assert app.query_one("#filters").display and not app.query_one("#results").display
        assert app.query_one("#status").region.height == 1
        await pilot.press("enter")  # search from the lab field: the sessions pane comes back
        await settle(app, pilot)
        assert app.query_one("#results").display and not app.query_one("#filters").display


async def test_keymap_from_config_and_palette_commands(make_app, tmp_path: Path) -> None:
    from one_tui.tui.config import load_config

    path = tmp_path / "config.toml"
    path.write_text('[keymap]\ntoggle_bypass = "z"\n')
    app = make_app(mode="auto", config=load_config(path))
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        app.query_one(ResultsPane).table.focus()
        await pilot.press("z")
        assert app.state.bypass_rest
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("mode: local", "mode: remote", "cache: force a refresh from Alyx",
                      "cache: toggle REST cache bypass", "session: copy eid",
                      "results: export to CSV or Parquet", "app: help and keys"):
            assert title in titles


async def test_help_lists_keys_and_closes_with_q(make_app) -> None:
    from one_tui.tui.screens.help import HelpModal

    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpModal)
        assert ("f7, ctrl+r", "run once on Alyx (query_type='remote')", "search_remote") in \
            app.screen.keys
        await pilot.press("q")
        assert not isinstance(app.screen, HelpModal)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpModal)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpModal)
        await pilot.press("slash")
        assert app.focused is app.query_one("#f-lab", Input)


async def test_help_is_kept_opens_at_the_top_and_follows_the_theme(make_app) -> None:
    """The help is laid out once (~150 ms of Rich's Markdown) and shown again as it was, from
    the top; what it says of the terminal (the theme) makes a new one."""
    from textual.containers import VerticalScroll

    from one_tui.tui.screens.help import HelpModal

    app = make_app(mode="auto")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("f1")
        first = app.screen
        assert isinstance(first, HelpModal)
        await pilot.press("end")
        await pilot.pause()
        assert first.query_one("#help-scroll", VerticalScroll).scroll_y > 0
        await pilot.press("escape", "f1")
        await pilot.pause()
        assert app.screen is first  # the same screen, not laid out again
        assert first.query_one("#help-scroll", VerticalScroll).scroll_y == 0
        assert app.focused is first.query_one("#help-scroll")
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        app.action_help()  # the palette's "app: help" while it is open: it stays, once
        await pilot.pause()
        assert app.screen is first and app.screen_stack.count(first) == 1
        await pilot.press("escape", "f1")
        assert isinstance(app.screen, HelpModal) and app.screen is not first
        assert f"theme: {app.theme}" in app.screen.terminal


async def test_clear_rest_cache_asks_first(make_app, server, db) -> None:
    app = make_app(mode="remote")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        await search(app, pilot, lab=str(db.sessions["lab"].iloc[0]))
        assert app.state.engine.rest.entries > 0
        app.query_one(ResultsPane).table.focus()
        await pilot.press("C")
        await pilot.press("n")
        await settle(app, pilot)
        assert app.state.engine.rest.entries > 0
        await pilot.press("C")
        await pilot.press("y")
        await settle(app, pilot)
        assert app.state.engine.rest.entries == 0


async def test_palette_runs_a_command(make_app) -> None:
    from textual.command import CommandPalette

    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"mode: local")
        for _ in range(40):  # the palette searches in the background
            await pilot.pause(0.05)
            if app.screen.query("CommandList Option"):
                break
        await pilot.press("enter")
        await settle(app, pilot)
        assert "mode local" in status_text(app)


async def test_header_click_sorts_with_the_mouse(make_app) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        table = results.table
        await pilot.click(table, offset=(16, 0))  # the "subject" header
        await pilot.pause()
        subjects = results.full.column("subject").to_pylist()
        assert subjects == sorted(subjects, key=str.lower)  # case-insensitive (issue 18)


async def test_a_cache_folder_that_cannot_be_made_is_reported(make_app, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    app = make_app(mode="auto", cache_dir=blocker / "cache")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        assert app.service is None and app.state.last_error is not None
        assert "Could not open ONE" in results_text(app)
        assert "offline" in status_text(app)
        assert any("Cache directory not accessible" in t for t in toasts(app))
