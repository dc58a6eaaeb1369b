"""What a new user trips over (issue 18, items 1-6, 9 and 11), each as the user sees it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from textual.widgets import Input, Static

from one_tui.engine.core.types import LOCAL_MEANS
from one_tui.tui.app import OneApp
from one_tui.tui.screens.help import help_text
from one_tui.tui.widgets.cache_pane import CachePane
from one_tui.tui.widgets.results import ResultsPane
from tests.tui.conftest import requests_since, settle, status_text, toasts

WIDE = (160, 48)
README = Path(__file__).parents[2] / "README.md"


def words(text: str) -> str:
    """Text as read: markup (``**``, backticks) and line breaks gone."""
    return re.sub(r"\s+", " ", text.replace("**", "").replace("`", ""))


async def search(app: OneApp, pilot: Any, key: str = "enter", **fields: str) -> None:
    for name, value in fields.items():
        app.query_one(f"#f-{name}", Input).value = value
    app.query_one("#f-lab", Input).focus()
    await pilot.press(key)
    await settle(app, pilot)


# -- 1. what local means -----------------------------------------------------------------------

async def test_local_mode_never_says_offline_while_it_asks_alyx(make_app, server) -> None:
    app = make_app(mode="local")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        assert "offline" not in status_text(app) and "Alyx on request" in status_text(app)
        start = len(server.requests)
        await search(app, pilot, session_qc="PASS")  # an Alyx-only filter
        assert requests_since(server, start, "/sessions")
        line = status_text(app)
        assert "last: Alyx" in line and "offline" not in line
        cache = str(app.query_one("#cache-body").render())
        assert words(LOCAL_MEANS) in words(cache)
        assert app.query_one(CachePane) is not None


def test_help_and_readme_say_what_local_means() -> None:
    assert words(LOCAL_MEANS) in words(help_text())
    assert words(LOCAL_MEANS) in words(README.read_text(encoding="utf-8"))
    assert "no network at all" not in README.read_text(encoding="utf-8")


async def open_session(app: OneApp, pilot: Any, db: Any, eid: str) -> str:
    """Find a session by its subject and day, as a user would, enter on it; Details' text."""
    row = db.sessions.loc[eid]
    day = str(row["date"])[:10]
    await search(app, pilot, subject=f"^{row['subject']}$", date_from=day, date_to=day)
    results = app.query_one(ResultsPane)
    assert results.table is not None
    results.table.focus()
    for _ in range(results.row_count):
        if results.eid_at() == eid:
            break
        await pilot.press("down")
    assert results.eid_at() == eid
    await pilot.press("enter")
    await settle(app, pilot)
    return str(app.query_one("#details-body", Static).render())


# -- 2. insertions in local mode: unknown is not zero ------------------------------------------

async def test_local_mode_does_not_say_a_session_has_no_insertions(make_app, db) -> None:
    eid = str(db.insertions.index[0][0])
    n = int((db.insertions.index.get_level_values(0) == eid).sum())
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)  # the tables downloaded; no insertion asked for yet
        await pilot.press("f2")
        await settle(app, pilot)
        text = await open_session(app, pilot, db, eid)
        assert "Probe insertions · 0" not in text and "none\n" not in text
        assert "Probe insertions · unknown" in text
        await pilot.press("f4")  # auto: Alyx is asked
        await settle(app, pilot)
        text = await open_session(app, pilot, db, eid)
        assert f"Probe insertions · {n}" in text


# -- 3. the status line and Details say where Details came from --------------------------------

async def test_details_fetch_is_in_the_status_line_and_details_name_their_source(make_app,
                                                                                 db) -> None:
    eid = str(db.sessions.index[3])
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        assert "last: local tables" in status_text(app)
        text = await open_session(app, pilot, db, eid)
        assert "last: Alyx (details)" in status_text(app)
        assert "Alyx record · from Alyx" in text
        app.query_one(ResultsPane).table.focus()
        await pilot.press("enter")  # again: ONE's REST cache answers
        await settle(app, pilot)
        text = str(app.query_one("#details-body", Static).render())
        assert "last: REST cache (details)" in status_text(app)
        assert "Alyx record · from REST cache" in text


# -- 4. the match rule shown is the one applied --------------------------------------------------

async def test_an_alyx_only_filter_shows_alyxs_match_rule(make_app, server, db) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        rule = app.query_one("#match-rule", Static)
        assert "local tables" in str(rule.render())
        lab = str(db.sessions["lab"].iloc[0])
        app.query_one("#f-perf_gte", Input).focus()
        await pilot.press("1")
        shown = str(rule.render())
        assert "Alyx" in shown and "exact" in shown and "local tables" not in shown
        start = len(server.requests)
        await search(app, pilot, lab=lab[:-2])  # Alyx matches the lab exactly: nothing
        assert requests_since(server, start, "/sessions")
        assert app.query_one(ResultsPane).row_count == 0
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert "local tables" in str(rule.render())


# -- 6. what the Cache pane promises about the next refresh happens ----------------------------

class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


T0 = dt.datetime(2026, 1, 15, 9, 30)


async def test_expired_tables_after_local_to_auto_refresh_when_the_pane_says(
        make_app, server, db, tmp_path) -> None:
    folder = tmp_path / "expired"
    db.write_tables(folder, date_created=T0 - dt.timedelta(days=3))
    server.set_tables_date(T0 - dt.timedelta(hours=1))
    app = make_app(mode="local", cache_dir=folder, clock=Clock(T0))
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        assert "(expired)" in status_text(app)
        assert "next refresh none: local mode" in words(cache_text(app))
        await pilot.press("f4")
        await settle(app, pilot)
        assert "next refresh at the next search" in words(cache_text(app))
        start = len(server.requests)
        await search(app, pilot)
        assert requests_since(server, start, "/cache.zip")  # it did
        assert "(expired)" not in status_text(app)
        assert "next refresh at the first search after" in words(cache_text(app))


def cache_text(app: OneApp) -> str:
    return str(app.query_one("#cache-body", Static).render())


# -- 9. after a search, enter, the datasets field, an unreachable server -----------------------

async def test_after_a_search_the_keys_act_on_the_results(make_app, db) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        lab = str(db.sessions["lab"].iloc[0])
        await search(app, pilot, lab=lab)
        results = app.query_one(ResultsPane)
        assert app.focused is results.table
        await pilot.press("2", "s")
        await pilot.pause()
        assert app.query_one("#f-lab", Input).value == lab  # not "<lab>2s"
        assert type(app.screen).__name__ == "SortModal"


async def test_enter_searches_the_completion_the_field_shows(make_app, db) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        labs = sorted(set(db.sessions["lab"].astype(str)))
        lab = labs[0]
        prefix = lab[:3]
        field = app.query_one("#f-lab", Input)
        field.focus()
        await pilot.press(*prefix)
        await settle(app, pilot)  # the suggester's worker
        await pilot.press("enter")
        await settle(app, pilot)
        assert field.value == lab
        assert app.query_one(ResultsPane).row_count == int((db.sessions["lab"] == lab).sum())
        # a space after the text: no completion, the text alone (stripped) is searched
        field.focus()
        field.value = ""
        await pilot.press(*prefix, "space", "enter")
        await settle(app, pilot)
        n = int(db.sessions["lab"].astype(str).str.contains(prefix).sum())
        assert app.query_one(ResultsPane).row_count == n


async def test_an_unreachable_server_is_not_called_login_needed(make_app, server) -> None:
    from one_tui.tui.screens.login import LoginModal

    server.stop()
    app = make_app(mode="auto", password=None)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        assert not isinstance(app.screen, LoginModal)
        assert "unreachable" in status_text(app) or "unreachable" in cache_text(app)
        assert "login needed" not in cache_text(app)


# -- 11. small things users expect ----------------------------------------------------------

async def test_an_unknown_keymap_id_is_named_at_start(make_app, tmp_path) -> None:
    from one_tui.tui.config import load_config

    path = tmp_path / "config.toml"
    path.write_text('[keymap]\nserach = "f9"\ntoggle_bypass = "z"\n')
    app = make_app(mode="auto", config=load_config(path))
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        said = [t for t in toasts(app) if "serach" in t]
        assert said and str(path) in said[0]
        assert not any("toggle_bypass" in t for t in toasts(app))


async def test_export_names_the_folder_before_writing(make_app, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        app.query_one(ResultsPane).table.focus()
        await pilot.press("e")
        await pilot.pause()
        shown = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert str(tmp_path / "sessions.csv") in shown
        assert not (tmp_path / "sessions.csv").exists()  # named, not written


async def test_sorting_ignores_case_and_choosing_again_reverses_exactly(make_app) -> None:
    import pyarrow as pa

    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        assert results.full is not None
        names = ["b", "A", "a", "B"]
        full = results.full
        mixed = full.set_column(full.column_names.index("subject"), "subject",
                                pa.array([names[i % 4] for i in range(full.num_rows)]))
        results.show_table(mixed, "mixed case")
        results.table.focus()
        await pilot.press("s", "down", "enter")  # the sort box: date, subject, ...
        await pilot.pause()
        ascending = results.full.column("eid").to_pylist()
        subjects = results.full.column("subject").to_pylist()
        assert [s.lower() for s in subjects] == sorted(s.lower() for s in subjects)
        await pilot.press("s", "enter")  # the same column again: reversed
        await pilot.pause()
        assert results.full.column("eid").to_pylist() == ascending[::-1]


async def test_g_opens_a_session_pasted_with_capitals_spaces_or_as_a_folder(make_app,
                                                                           db) -> None:
    from textual import events

    eid = str(db.sessions.index[5])
    row = db.sessions.loc[eid]
    folder = (f"/my data/ONE/{row['lab']}/Subjects/{row['subject']}/{str(row['date'])[:10]}/"
              f"{int(row['number']):03d}")
    pasted = f"  {eid.upper()[:13]} \n{eid.upper()[13:]} "
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        for text in (pasted, folder):
            app.query_one(ResultsPane).table.focus()
            await pilot.press("g")
            await pilot.pause()
            box = app.screen.query_one("#goto-text", Input)
            box.post_message(events.Paste(text))
            await pilot.pause()
            await pilot.press("enter")
            await settle(app, pilot)
            details = str(app.query_one("#details-body", Static).render())
            assert eid in details and str(row["subject"]) in details
            app.query_one("#details-body", Static).update("")  # the next one must show again


async def test_L_copies_the_search_as_a_one_call_that_gives_the_same_sessions(
        make_app, db, tmp_path) -> None:
    from one_tui.engine import One

    folder = tmp_path / "cache"
    lab = str(db.sessions["lab"].iloc[0])
    app = make_app(mode="auto", cache_dir=folder)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        await search(app, pilot, lab=lab, date_from="2019-01-01")
        shown = sorted(app.query_one(ResultsPane).full.column("eid").to_pylist())
        await pilot.press("L")
        line = app.clipboard
        assert line.startswith("one.search(") and "query_type='local'" in line
        await pilot.press("E")
        eids = app.clipboard
    one = One(cache_dir=folder, mode="local")
    assert sorted(eval(line, {"one": one})) == shown  # noqa: S307 - our own line, as a user runs it
    import ast
    assert sorted(ast.literal_eval(eids)) == shown
