"""Small things a new user reads: key names, plurals, empty results, titles, colours, times."""

from __future__ import annotations

from textual.widgets import Input, Static

from one_tui.engine.core.values import SessionDetails
from one_tui.tui.keys import key_rows
from one_tui.tui.widgets.details import render_details
from one_tui.tui.widgets.results import ResultsPane
from tests.tui.conftest import results_text, settle
from tests.tui.test_table_view import screen_text

WIDE = (160, 48)
NARROW = (80, 24)


async def search_subject(app, pilot, subject: str) -> None:
    app.query_one("#f-subject", Input).value = subject
    app.query_one("#f-subject", Input).focus()
    await pilot.press("enter")
    await settle(app, pilot)


async def test_help_names_keys_as_typed_and_the_palette_has_one_quit(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        keys = {bid: k for k, _desc, bid in key_rows(app.keymap)}
        assert keys["help"] == "f1, ?" and keys["focus_filters"] == "/"
        assert "enter" in {k for k, _d, _b in key_rows(app.keymap)}
        assert keys["quit_now"] == "ctrl+q"
        text = " ".join(k for k, _d, _b in key_rows(app.keymap))
        assert "question_mark" not in text and "slash" not in text
        commands = list(app.get_system_commands(app.screen))
        assert [c.title for c in commands if "quit" in c.title.lower()] == ["app: quit"]
        assert not any("question_mark" in c.help or "slash" in c.help for c in commands)


async def test_one_session_is_singular_and_nothing_matched_says_so(make_app, db) -> None:
    sessions = db.sessions
    pairs = sessions.groupby(["subject", "date"]).size()
    subject, date = pairs[pairs == 1].index[0]
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        day = str(date)[:10]
        app.query_one("#f-date_from", Input).value = day
        app.query_one("#f-date_to", Input).value = day
        await search_subject(app, pilot, f"^{subject}$")
        assert results_text(app).startswith("1 session ·")
        app.query_one(ResultsPane).table.focus()
        await pilot.press("e")
        assert "Write 1 session to" in screen_text(app)
        await pilot.press("escape")
        app.query_one("#f-date_from", Input).value = ""
        app.query_one("#f-date_to", Input).value = ""
        await search_subject(app, pilot, "^no-such-subject$")
        assert "Nothing matched these filters" in results_text(app)


async def test_streaming_title_keeps_step_with_the_count(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        results.show_progress(250, 1000)
        assert results.border_title == "Sessions · 250 of 1,000"
        assert "250 of 1,000 sessions" in results_text(app)


async def test_the_sort_dialog_shows_the_current_sort(make_app) -> None:
    from textual.widgets import OptionList

    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        app.query_one(ResultsPane).table.focus()
        await pilot.press("s")
        assert "now: ONE's order" in str(app.screen.query_one("#sort-current", Static).render())
        await pilot.press("down", "down", "down", "enter")  # lab
        await settle(app, pilot)
        await pilot.press("s")
        assert "now: lab ↑" in str(app.screen.query_one("#sort-current", Static).render())
        options = app.screen.query_one("#sort-options", OptionList)
        assert options.get_option_at_index(options.highlighted).id == "lab"


def test_session_qc_critical_is_coloured_and_times_have_no_microseconds() -> None:
    ready = SessionDetails(eid="e", session={}, datasets=(), insertions=(),
                           remote={"qc": 50, "start_time": "2025-10-28T10:12:33.123456"})
    text = render_details(ready)
    plain = text.plain
    assert "session QC       CRITICAL" in plain
    start = plain.index("CRITICAL", plain.index("session QC"))
    styles = [str(span.style) for span in text.spans if span.start <= start < span.end]
    assert any("red" in style for style in styles)
    assert "2025-10-28 10:12:33" in plain and "123456" not in plain


async def test_80x24_header_keeps_the_url_and_footer_keeps_refresh(make_app) -> None:
    app = make_app()
    app.connector.label = "https://openalyx.internationalbrainlab.org"
    async with app.run_test(size=NARROW) as pilot:
        await settle(app, pilot)
        lines = screen_text(app).splitlines()
        # every pane named too (#18): the host stays whole, "https://" goes at 80 columns
        assert "openalyx.internationalbrainlab.org" in lines[0]
        assert "2 Sessions" in lines[0] and "4 Cache" in lines[0]
        assert "Refresh" in lines[-1]
