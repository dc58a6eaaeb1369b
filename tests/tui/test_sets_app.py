"""Release tags (t), databases (B) and freeze (F) in the app, against the demo Alyx (which
publishes Brainwidemap and RSS2024 as IBL does) and the real engine: what a user sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from textual.widgets import Input, OptionList, Static

from one_tui.tui.app import OneApp
from one_tui.tui.screens.pickers import DatabasePicker, FreezeModal, TagPicker
from one_tui.tui.widgets.results import ResultsPane
from tests.tui.conftest import N_SESSIONS, requests_since, settle, status_text, toasts

WIDE = (160, 48)
BWM = N_SESSIONS // 3  # the demo's Brainwidemap: every third session (demo/tags.py)


def cache_text(app: OneApp) -> str:
    return str(app.query_one("#cache-body", Static).render())


def picker_rows(app: OneApp) -> list[str]:
    options = app.screen.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def choose(app: OneApp, pilot: Any, starts: str) -> None:
    """Highlight the picker row that starts with ``starts`` (after its mark) and press enter."""
    rows = picker_rows(app)
    index = next(i for i, r in enumerate(rows) if r[2:].startswith(starts))
    app.screen.query_one(OptionList).highlighted = index
    await pilot.press("enter")
    await settle(app, pilot)


async def open_picker(app: OneApp, pilot: Any, key: str) -> None:
    await pilot.press(key)
    await settle(app, pilot)


async def test_t_lists_the_tags_and_switching_is_one_action(make_app, server) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        app.query_one(ResultsPane).table.focus()
        await open_picker(app, pilot, "t")
        assert isinstance(app.screen, TagPicker)
        rows = picker_rows(app)
        assert rows[0].startswith("● full")
        bwm = next(r for r in rows if "Brainwidemap" in r)
        for needle in ("public", "2.10", "sessions", "ONE ≥ 2.10", "not on disk",
                       "Brain-wide map release"):
            assert needle in bwm, (needle, bwm)
        assert "protected" in next(r for r in rows if "RSS2024" in r)

        start = len(server.requests)
        await choose(app, pilot, "Brainwidemap")
        assert requests_since(server, start, "/public/caches/Brainwidemap/cache.zip")
        assert app.query_one(ResultsPane).row_count == BWM  # searched again, on the tag
        assert "tag Brainwidemap" in status_text(app)
        assert "tag Brainwidemap" in cache_text(app)

        await open_picker(app, pilot, "t")
        assert "· on disk" in next(r for r in picker_rows(app) if "Brainwidemap" in r)
        await choose(app, pilot, "full")
        assert "tag" not in status_text(app)
        assert app.query_one(ResultsPane).row_count == N_SESSIONS
        assert "GET /cache.zip" not in requests_since(server, start)  # full ones: on disk


async def test_the_last_tag_is_where_the_next_start_begins_without_a_download(
        make_app, server, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    app = make_app(mode="auto", cache_dir=folder)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        app.query_one(ResultsPane).table.focus()
        await open_picker(app, pilot, "t")
        await choose(app, pilot, "Brainwidemap")
    start = len(server.requests)
    again = make_app(mode="auto", cache_dir=folder)
    async with again.run_test(size=WIDE) as pilot:
        await settle(again, pilot)
        assert "tag Brainwidemap" in status_text(again)
        assert again.query_one(ResultsPane).row_count == BWM
    assert not requests_since(server, start, "cache.zip")


async def test_b_switches_database_and_nothing_lands_in_the_other_folder(
        make_app, server, home: Path, tmp_path: Path) -> None:
    from one_tui.demo.server import DemoServer
    from one_tui.demo.synth import generate
    from one_tui.engine import params

    other_db = generate(n_sessions=30, seed=4)
    with DemoServer(other_db) as other:
        params.register_database(server.url, cache_dir=tmp_path / "first", username="demo")
        params.register_database(other.url, cache_dir=tmp_path / "second", username="demo")
        params.save_token(other.url, "demo", other.token_for("demo"))
        app = make_app(mode="auto", cache_dir=tmp_path / "first")
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await settle(app, pilot)
            app.query_one(ResultsPane).table.focus()
            await open_picker(app, pilot, "B")
            assert isinstance(app.screen, DatabasePicker)
            rows = picker_rows(app)
            first = next(r for r in rows if server.url in r)
            assert first.startswith("● ") and str(tmp_path / "first") in first
            second = next(r for r in rows if other.url in r)
            assert "no tables yet" in second and "token saved" in second
            assert any(r.strip().startswith("demo") for r in rows)
            await choose(app, pilot, other.url)
            assert app.state.engine is not None and app.state.engine.base_url == other.url
            assert other.url in cache_text(app)
            assert app.query_one(ResultsPane).row_count == 30
            await open_picker(app, pilot, "B")
            await choose(app, pilot, server.url)
            assert app.query_one(ResultsPane).row_count == N_SESSIONS
        first_ids = set(pd.read_parquet(tmp_path / "first" / "sessions.pqt").index.astype(str))
        second_ids = set(pd.read_parquet(tmp_path / "second" / "sessions.pqt").index.astype(str))
        assert len(first_ids) == N_SESSIONS and len(second_ids) == 30
        assert first_ids.isdisjoint(second_ids)


async def test_f_freezes_the_results_and_says_the_line_to_run(make_app, tmp_path: Path) -> None:
    app = make_app(mode="auto")
    dest = tmp_path / "frozen"
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        app.query_one(ResultsPane).table.focus()
        await open_picker(app, pilot, "F")
        assert isinstance(app.screen, FreezeModal)
        app.screen.query_one("#freeze-folder", Input).value = str(dest)
        await pilot.press("enter")
        await settle(app, pilot)
        said = [t for t in toasts(app) if "Froze" in t]
        assert said and f"ONE(mode='local', cache_dir={str(dest)!r})" in said[-1]
    assert len(pd.read_parquet(dest / "sessions.pqt")) == N_SESSIONS


async def test_the_one_line_of_a_tag_reads_its_tables_in_local_mode(make_app) -> None:
    from one_tui.tui.screens.load import one_constructor

    line = one_constructor("http://x", "/data/ONE", "Brainwidemap")
    assert "mode='local'" in line and "load_cache(tables_dir='/data/ONE/Brainwidemap')" in line
    assert "tag=" not in line  # load_cache(tag=) downloads again in a new process (trap A)


def test_a_tags_description_over_several_lines_reads_as_one() -> None:
    """Alyx's tag descriptions are free text: its newlines showed as a literal \\n."""
    from one_tui.engine.core.sets import TagInfo
    from one_tui.tui.screens.pickers import tag_row

    row = tag_row(TagInfo("Brainwidemap", description="Brain-wide map\r\ndata release\n"),
                  active=None)
    assert row.splitlines()[1] == "    Brain-wide map data release"
    assert "\\n" not in row and "\\r" not in row
