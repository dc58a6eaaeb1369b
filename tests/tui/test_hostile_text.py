"""Issue 16, class 1 in the app: a shared table's escape sequences are drawn as text.

The app runs on a cache folder whose first session's subject holds a complete OSC 52 sequence,
its lab an OSC 0, its protocol a CSI that clears the screen and a bidi override. Whatever the
screen shows (the sessions table, Details, the status line, toasts), no control character is
in what the app draws: they are shown as ``\\x1b`` and so on. A copy carries what was shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from one_tui.tui.widgets.details import DetailsPane
from one_tui.tui.widgets.results import ResultsPane
from tests.test_hostile_terminal import EVIL, RAW_CONTROL, hostile_folder
from tests.tui.conftest import settle

WIDE = (200, 50)


def drawn(app: Any) -> str:
    """Everything the screen draws now, as text (the SVG export of the frame)."""
    return str(app.export_screenshot())


def assert_inert(app: Any) -> None:
    screen = drawn(app)
    found = RAW_CONTROL.search(screen.replace("\t", " "))
    where = screen[found.start() - 80:found.start() + 40] if found else ""
    assert found is None, f"raw control character drawn: …{where!r}"
    assert "\u202e" not in screen


async def test_escape_sequences_in_a_shared_table_are_drawn_as_text(make_app, tmp_path: Path,
                                                                    home: Path) -> None:
    folder = tmp_path / "shared"
    db = hostile_folder(folder)
    evil_eid = str(db.sessions.index[0])
    app = make_app(mode="local", cache_dir=folder)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        assert results.row_count == len(db.sessions)
        row = [str(e) for e in results.full.column("eid").to_pylist()].index(evil_eid)
        results.table.move_cursor(row=row)
        await pilot.pause()
        assert_inert(app)
        assert "KS\\x1b]52;c;" in drawn(app).replace("&#160;", " ")  # shown, not swallowed

        results.table.focus()
        await pilot.press("enter")  # Details of the hostile session
        await settle(app, pilot)
        details = app.query_one(DetailsPane)
        body = str(app.query_one("#details-body").render())
        assert details.details is not None and details.details.eid == evil_eid, body
        assert_inert(app)

        app.notify(f"Could not read {EVIL['subject']}", title=EVIL["lab"])  # a toast
        await pilot.pause()
        assert_inert(app)


async def test_a_copy_carries_only_what_the_toast_showed(make_app, tmp_path: Path, home: Path,
                                                         monkeypatch) -> None:
    from textual.app import App

    copied: list[str] = []
    monkeypatch.setattr(App, "copy_to_clipboard", lambda self, text: copied.append(text))
    app = make_app(mode="local", cache_dir=tmp_path / "c")
    async with app.run_test(size=WIDE) as pilot:
        app.copy_to_clipboard(f"one.load_dataset('x', '{EVIL['subject']}\nrm -rf ~')")
        await pilot.pause()
    assert copied and not RAW_CONTROL.search(copied[0]) and "\n" not in copied[0]
    assert "\\x1b]52" in copied[0] and "\\nrm -rf ~" in copied[0]  # one line, as shown
