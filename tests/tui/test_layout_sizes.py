"""Issue 18 item 10: what a user reads at 80x24 and 200x50 (the rendered screen, line by line).

80x24: the status line whole and never under a toast, every pane named in the top bar, the
footer without a stray cell, long paths wrapped under themselves. 200x50: the filters' hints
whole, protocol and projects whole. Toasts not over the error box; a copy says it was *sent*
(OSC 52), or why it will not arrive (tmux).
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from textual.widgets import Input

from one_tui.tui.clipboard import copied_title
from tests.tui.conftest import settle

NARROW = (80, 24)
WIDE = (200, 50)


def lines(app: Any) -> list[str]:
    """The characters on screen, row by row."""
    return ["".join(seg.text for seg in strip)
            for strip in app.screen._compositor.render_strips()]


@pytest.fixture(autouse=True)
def no_tmux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMUX", raising=False)  # the copy toasts as outside tmux


async def test_80x24_status_line_whole_under_a_toast_and_every_pane_named(make_app) -> None:
    app = make_app()
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await settle(app, pilot)
        await pilot.press("b")  # an action with a toast (REST cache bypassed)
        await pilot.pause()
        await pilot.pause()
        screen = lines(app)
        assert any("REST cache bypassed" in row for row in screen)  # the toast is up
        status = screen[-2]
        assert status.lstrip().startswith("mode auto")
        assert "last: local" in status and "REST bypassed" in status, status
        top = screen[0]
        for name in ("1 Filters", "2 Sessions", "3 Details", "4 Cache"):
            assert name in top, top
        assert "demo Alyx" in top
        assert screen[-1].rstrip().endswith("^p palette"), screen[-1]  # no stray cell after


async def test_80x24_a_long_path_wraps_under_itself(make_app) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")  # the first session's details
        await settle(app, pilot)
        screen = lines(app)
        rows = [row for row in screen if "Subjects" in row]
        assert rows, "\n".join(screen)
        # under "  in", two cells further right; it was at the pane's first column
        assert all(row.startswith("│     ") for row in rows), "\n".join(rows)


async def test_200x50_hints_protocol_and_projects_whole(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        app.query_one("#f-lab", Input).focus()  # the lazy filters are mounted
        await settle(app, pilot)
        text = "\n".join(lines(app))
        for hint in ("e.g. ephysChoiceWorld", "atlas acronym, e.g. VISp", "field__lookup,value",
                     "file names, comma-separated"):
            assert hint in text, hint
        assert "ibl_neuropixel_brainwide_01,ibl_repeated_site" in text  # 44 > 40 cells


async def test_no_toast_over_the_error_box_and_its_copy_is_said_in_it(make_app) -> None:
    app = make_app()
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await settle(app, pilot)
        app.record_error("search", RuntimeError("the server said no " * 3))
        await pilot.pause()
        assert any("the server said no" in row for row in lines(app))  # its toast
        await pilot.press("x")
        await pilot.pause()
        await pilot.pause()
        screen = lines(app)
        assert "Error" in "\n".join(screen)
        assert not list(app.screen.query("Toast")), "a toast over the error box"
        await pilot.press("y")
        await pilot.pause()
        await pilot.pause()
        assert not list(app.screen.query("Toast"))
        assert any("sent to the clipboard" in row for row in lines(app))


async def test_a_copy_says_sent_not_copied(make_app) -> None:
    app = make_app()
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        await settle(app, pilot)
        await pilot.press("y")
        await pilot.pause()
        titles = [n.title for n in app._notifications]
        assert any("eid sent to the clipboard (OSC 52" in t for t in titles), titles
        assert not any(t.startswith("Copied") for t in titles)


def fake_tmux(value: str) -> Any:
    def run(argv: list[str], **_kw: Any) -> subprocess.CompletedProcess[str]:
        assert argv[:2] == ["tmux", "show-options"]
        return subprocess.CompletedProcess(argv, 0, stdout=f"{value}\n", stderr="")

    return run


def test_inside_tmux_that_drops_osc52_the_copy_says_so() -> None:
    env = {"TMUX": "/tmp/tmux-0/default,1,0"}
    title, severity = copied_title("eid", env, fake_tmux("external"))
    assert severity == "warning" and "NOT in the clipboard" in title
    assert "set -g set-clipboard on" in title
    title, severity = copied_title("eid", env, fake_tmux("on"))
    assert severity == "information" and "sent to the clipboard" in title
    assert copied_title("eid", {}, fake_tmux("off"))[1] == "information"  # not in tmux
