"""Marking sessions in the results (issue 20: "download ... for all selected sessions"):
space marks the session under the cursor (a ✓ column appears, the cursor goes down), a marks
them all; D, E and F take the marked sessions, else every session of the results."""

from __future__ import annotations

import ast
from typing import Any

from textual.widgets import Static

from one_tui.tui import downloads
from one_tui.tui.widgets.results import MARK, ResultsPane
from tests.tui.conftest import settle

WIDE = (160, 48)


def shown_marks(results: ResultsPane) -> list[str]:
    """The eids whose row shows the mark, from the table widget's own data."""
    table = results.table
    assert table is not None
    data = table.data
    if "mark" not in data.column_names:
        return []
    marks = data.column("mark").to_pylist()
    return [results.eid_at(i) or "" for i, m in enumerate(marks) if m == MARK]


def status(results: ResultsPane) -> str:
    return str(results.query_one("#results-status", Static).render())


async def ready(app: Any, pilot: Any) -> ResultsPane:
    await settle(app, pilot)
    results = app.query_one(ResultsPane)
    assert results.row_count >= 5
    assert results.table is not None
    results.table.focus()
    await pilot.pause()
    return results


async def test_space_marks_the_session_and_moves_down_a_column_shows_it(make_app) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        results = await ready(app, pilot)
        first, second = results.eid_at(0), results.eid_at(1)
        assert "mark" not in results.table.data.column_names  # no column until a mark
        await pilot.press("space", "space")
        await settle(app, pilot)
        assert results.marked == {first, second}
        assert shown_marks(results) == [first, second]
        assert results.cursor_row == 2
        assert "2 marked" in status(results)
        await pilot.press("up", "space")  # the second again: unmarked
        await settle(app, pilot)
        assert shown_marks(results) == [first]
        assert "1 marked" in status(results)
        results.table.move_cursor(row=0)
        await pilot.press("space")
        await settle(app, pilot)
        assert results.marked == set()
        assert "mark" not in results.table.data.column_names  # the column goes with the last
        assert "marked" not in status(results)


async def test_a_marks_all_again_none_and_marks_survive_a_sort(make_app) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        results = await ready(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        assert len(shown_marks(results)) == results.row_count
        await pilot.press("a")
        await settle(app, pilot)
        assert results.marked == set() and shown_marks(results) == []
        picked = {results.eid_at(1), results.eid_at(3)}
        for row in (1, 3):
            results.table.move_cursor(row=row)
            await pilot.press("space")
        results.sort("subject", "descending")
        await settle(app, pilot)
        assert set(shown_marks(results)) == picked  # the same sessions, wherever they went


async def test_e_copies_the_marked_eids_and_d_plans_the_marked_sessions(
        make_app, monkeypatch) -> None:
    asked: list[downloads.DownloadRequest] = []

    def plan_body(service: Any, request: downloads.DownloadRequest, *args: Any) -> None:
        asked.append(request)

    monkeypatch.setattr(downloads, "plan_body", plan_body)
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        results = await ready(app, pilot)
        await pilot.press("D")  # nothing marked: every session of the results
        await settle(app, pilot)
        assert len(asked[-1].eids) == results.row_count
        results.table.move_cursor(row=2)
        await pilot.press("space", "space")
        await settle(app, pilot)
        marked = [results.eid_at(2), results.eid_at(3)]
        await pilot.press("E")
        assert ast.literal_eval(app.clipboard) == marked
        await pilot.press("D")
        await settle(app, pilot)
        assert list(asked[-1].eids) == marked
        assert "2 marked sessions" in asked[-1].what
        assert app.results_eids() == marked  # F freezes these


async def test_a_new_search_keeps_only_the_marks_of_sessions_it_still_holds(make_app) -> None:
    from textual.widgets import Input

    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        results = await ready(app, pilot)
        subject = str(results.row_dict(0)["subject"])
        results.table.move_cursor(row=0)
        await pilot.press("space")
        other = next(i for i in range(results.row_count)
                     if str(results.row_dict(i)["subject"]) != subject)
        results.table.move_cursor(row=other)
        await pilot.press("space")
        kept = results.eid_at(0)
        field = app.query_one("#f-subject", Input)
        field.value = subject
        field.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert results.marked == {kept}
        assert set(shown_marks(results)) == {kept}


async def test_the_palette_marks_the_sessions_and_a_keymap_remaps_the_mark_key(make_app) -> None:
    from one_tui.tui.config import TuiConfig

    app = make_app(mode="auto", config=TuiConfig(keymap={"session_mark": "m"}))
    async with app.run_test(size=WIDE) as pilot:
        results = await ready(app, pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        await commands["results: mark every session of the results (again: none)"].callback()
        await settle(app, pilot)
        assert len(shown_marks(results)) == results.row_count
        await pilot.press("a")  # again: none
        results.table.move_cursor(row=0)
        await pilot.press("m")  # remapped (m cycles the mode elsewhere, not here)
        await settle(app, pilot)
        assert shown_marks(results) == [results.eid_at(0)]
