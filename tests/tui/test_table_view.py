"""What the sessions table shows at 80x24 and 200x50: sized columns, protocols, the eid."""

from __future__ import annotations

from typing import Any

from one_tui.tui.widgets.results import ResultsPane, fit_widths, short_protocol
from tests.tui.conftest import settle

NARROW = (80, 24)
WIDE = (200, 50)


def screen_text(app: Any) -> str:
    """The characters on screen, line by line, as the user reads them."""
    return "\n".join("".join(seg.text for seg in strip)
                     for strip in app.screen._compositor.render_strips())


def test_ibl_protocols_are_shown_by_the_part_that_tells_them_apart() -> None:
    assert short_protocol("_iblrig_tasks_ephysChoiceWorld6.4.2") == "ephysChoiceWorld6.4.2"
    assert (short_protocol("_iblrig_tasks_ephysChoiceWorld6.2.5/_iblrig_tasks_passiveChoiceWorld")
            == "ephysChoiceWorld6.2.5/passiveChoiceWorld")
    assert short_protocol("my_own_protocol") == "my_own_protocol"
    assert short_protocol(None) is None


def test_the_table_shows_each_protocol_as_short_protocol_does() -> None:
    """The shown column is shortened in one vectorised pass; it must say what the row-by-row
    rule says for every kind of value (lists, nulls, empty, other protocols)."""
    import pyarrow as pa

    values = ["_iblrig_tasks_ephysChoiceWorld6.4.2", "iblrig_tasks_x", None, "",
              "_iblrig_tasks_trainingChoiceWorld6.4.2/_iblrig_tasks_passiveChoiceWorld",
              "a/_iblrig_tasks_b", "x_iblrig_tasks_y", "my_own_protocol"]
    pane = ResultsPane()
    pane.full = pa.table({"task_protocol": pa.array(values, type=pa.string())})
    view = pane._view(["task_protocol"])
    assert view.column(0).to_pylist() == [short_protocol(v) for v in values]
    assert view.column(0).to_pylist()[:4] == ["ephysChoiceWorld6.4.2", "x", None, ""]


def test_widths_follow_content_and_shrink_to_the_terminal() -> None:
    content = {"date": 10, "subject": 6, "number": 1, "lab": 9, "task_protocol": 21,
               "projects": 27}
    roomy = fit_widths(content, 200)
    assert roomy["lab"] == 9 and roomy["subject"] == len("subject")  # not ~20 for 9 letters
    assert roomy["projects"] == 27
    tight = fit_widths(content, 76)
    assert sum(w + 2 for w in tight.values()) <= 76
    assert tight["task_protocol"] >= 21  # the protocol is the last to be cut


async def test_80x24_shows_the_protocol_and_i_brings_the_eid_on_screen(make_app) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        text = screen_text(app)
        assert "ChoiceWorld6.4.2" in text and "_iblrig_tasks_" not in text
        assert "_iblrig_tasks_" in str(results.full.column("task_protocol")[0])  # kept in full
        await pilot.press("i")
        await settle(app, pilot)
        assert results.eid_at() in screen_text(app)  # whole, without scrolling


async def test_first_columns_stay_when_scrolling_right(make_app) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await settle(app, pilot)
        await pilot.press("i")  # the eid column: at 80 columns the rest scrolls (the other
        await settle(app, pilot)  # columns alone fit, once the scrollbar is counted: #18)
        results = app.query_one(ResultsPane)
        date = str(results.full.column("date")[0])
        table = results.table
        assert table.max_scroll_x > 0
        table.scroll_to(x=table.max_scroll_x, animate=False)
        await pilot.pause()
        assert table.scroll_x > 0
        text = screen_text(app)
        assert date in text and "date" in text and "subject" in text
        assert "projects" in text


async def test_200x50_shows_every_column_whole(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        await pilot.press("i")
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        text = screen_text(app)
        row = results.row_dict()
        assert results.eid_at() in text
        for key in ("subject", "lab", "projects"):
            assert str(row[key]) in text
        assert results.table.max_scroll_x == 0
