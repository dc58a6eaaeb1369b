"""Keys and focus as a new user meets them: bursts over SSH, Tab into the table, 80x24 panes."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.widgets import Input

from one_tui.tui.widgets.details import DetailsPane
from one_tui.tui.widgets.results import ResultsPane
from tests.tui.conftest import settle

WIDE = (160, 48)
NARROW = (80, 24)


async def burst(app: Any, pilot: Any, *keys: str) -> None:
    """Keys as a terminal delivers a fast typist's or a pasted burst over SSH: all queued at once,
    before the app has handled the first (pilot.press waits for idle after each key)."""
    from textual.keys import _character_to_key

    for key in keys:
        char = key if len(key) == 1 else None
        name = _character_to_key(key) if char and not key.isalnum() else key  # "/" -> "slash"
        event = events.Key(name, char)
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()
    await pilot.pause()


async def test_keys_typed_in_a_burst_after_tab_land_in_the_next_validated_field(make_app) -> None:
    """`150`, Tab, `5` with no pause (normal over SSH): 150 in perf ≥, 5 in perf ≤."""
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        app.query_one("#f-perf_gte", Input).focus()
        await pilot.pause()
        await burst(app, pilot, "1", "5", "0", "tab", "5")
        assert app.query_one("#f-perf_gte", Input).value == "150"
        assert app.query_one("#f-perf_lte", Input).value == "5"


async def test_tab_past_the_last_filter_stays_in_the_filters(make_app) -> None:
    """Letters typed by someone who thinks they are in a field never reach the table's commands."""
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        app.query_one("#f-django", Input).focus()
        await pilot.pause()
        await burst(app, pilot, "tab", "s", "u", "b")
        await settle(app, pilot)
        assert isinstance(app.focused, Input)
        assert results.sort_by is None  # `s` did not sort
        assert app.query_one("#f-lab", Input).value == "sub"
        await pilot.press("shift+tab")
        assert app.focused is app.query_one("#f-django", Input)


async def test_80x24_details_take_the_keys_and_escape_goes_back(make_app) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        await pilot.press("enter")
        await settle(app, pilot)
        details = app.query_one(DetailsPane)
        assert details.display and not results.display
        assert app.focused is details
        await pilot.press("end")
        assert details.scroll_y > 0  # the details scrolled; the hidden table did not move
        assert results.cursor_row == 0
        await pilot.press("escape")
        assert results.display and not details.display
        assert app.focused is results.table


async def test_pane_keys_that_work_inside_a_field(make_app) -> None:
    """ctrl+n moves between panes from a filter; `/` and digits typed there stay in it."""
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await settle(app, pilot)
        await pilot.press("1")
        assert app.focused is app.query_one("#f-lab", Input)
        await pilot.press("^", "a", "/", "2", "3")
        assert app.query_one("#f-lab", Input).value == "^a/23"
        assert app.state.pane == "filters"
        await pilot.press("ctrl+n")
        assert app.state.pane == "results" and app.focused is app.query_one(ResultsPane).table
        await pilot.press("ctrl+n")
        assert app.state.pane == "details"


async def _export_to(app: Any, pilot: Any, path: Any) -> None:
    app.query_one(ResultsPane).table.focus()
    await pilot.press("e")
    app.screen.query_one("#export-path", Input).value = str(path)
    await pilot.press("enter")
    await settle(app, pilot)


async def test_export_only_into_existing_folders_readable_and_asks_before_overwriting(
        make_app, tmp_path, monkeypatch) -> None:
    import os

    from one_tui.tui.screens.confirm import ConfirmModal
    from tests.tui.conftest import toasts

    monkeypatch.chdir(tmp_path)
    old_mask = os.umask(0o022)
    try:
        app = make_app()
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await settle(app, pilot)
            await _export_to(app, pilot, tmp_path / "nope" / "dir" / "x.csv")
            assert not (tmp_path / "nope").exists()
            assert any("no such folder" in t for t in toasts(app))
            await _export_to(app, pilot, "x.csv")  # a relative name: the toast says where
            target = tmp_path / "x.csv"
            assert target.stat().st_mode & 0o777 == 0o644
            assert any(f"to {target}" in t for t in toasts(app))
            target.write_text("mine")
            await _export_to(app, pilot, "x.csv")
            assert isinstance(app.screen, ConfirmModal)
            await pilot.press("n")
            await settle(app, pilot)
            assert target.read_text() == "mine"
            await _export_to(app, pilot, "x.csv")
            await pilot.press("y")
            await settle(app, pilot)
            assert target.read_text().startswith('"date"')
    finally:
        os.umask(old_mask)


async def test_slash_then_a_burst_of_letters_types_into_the_filter(make_app) -> None:
    """'/' typed in the table and the filter text right after it: the letters are not commands
    (b would bypass the REST cache, s sort)."""
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        app.query_one(ResultsPane).table.focus()
        await pilot.pause()
        await burst(app, pilot, "/", "b", "s", "1")
        await settle(app, pilot)
        assert app.query_one("#f-lab", Input).value == "bs1"
        assert not app.state.bypass_rest and app.query_one(ResultsPane).sort_by is None
