"""Issue 18 item 7: a bound key sent in a burst acts before the keys typed behind it.

A laggy SSH link delivers ``ctrl+l cortex enter`` in one read; Textual ran the bindings
(ctrl+l, and the Input's own ctrl+u / ctrl+a / ctrl+e) after the letters behind them were typed
(docs/upstream/textual-key-order.md). Tested with the burst queued at once (Pilot), and through
a real pseudo-terminal with the burst written in one write.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time

import pytest
from textual.widgets import Input

from one_tui.tui.screens.main import MainScreen
from tests.tui.conftest import settle
from tests.tui.test_keys_focus import burst
from tests.tui.test_terminal import read_until, spawn_in_pty

WIDE = (160, 48)


@pytest.mark.parametrize(("before", "keys", "after"), [
    ("zzz", ("ctrl+l", "c", "o", "r", "t", "e", "x"), "cortex"),  # the screen's clear
    ("zzz", ("ctrl+u", "c", "o", "r", "t", "e", "x"), "cortex"),  # Input: delete left, all
    ("lab", ("ctrl+a", "x", "ctrl+e", "y"), "xlaby"),  # Input: home, end
    ("labx", ("left", "backspace", "y"), "layx"),  # Input: cursor keys and backspace
], ids=["ctrl+l", "ctrl+u", "ctrl+a/ctrl+e", "left/backspace"])
async def test_a_bound_key_in_a_burst_acts_before_the_letters_behind_it(
        make_app, before: str, keys: tuple[str, ...], after: str) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        field = app.query_one("#f-lab", Input)
        field.focus()
        await pilot.pause()
        field.value = before
        field.cursor_position = len(before)
        await burst(app, pilot, *keys)
        await pilot.pause()
        assert field.value == after


async def test_clear_then_text_then_enter_searches_the_text(make_app) -> None:
    """The reported case: ctrl+l, cortex, enter at once searches cortex, not everything."""
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        app.query_one("#f-subject", Input).value = "nobody"  # a filter ctrl+l must clear
        field = app.query_one("#f-lab", Input)
        field.focus()
        await pilot.pause()
        await burst(app, pilot, "ctrl+l", "c", "o", "r", "t", "e", "x", "enter")
        await settle(app, pilot)
        terms = app.screen._last_search[0] if isinstance(app.screen, MainScreen) else None
        assert terms == {"laboratory": "cortexlab"}  # the suggestion shown is taken (item 9)
        assert app.query_one("#f-subject", Input).value == ""


# ---------------------------------------------------------------- the real terminal path

SNIPPET = (
    "import json, sys\n"
    "from one_tui.tui.app import OneApp\n"
    "from one_tui.tui.connect import demo_connector\n"
    "app = OneApp(demo_connector(n_sessions=120, seed=0), low_bandwidth=True)\n"
    "app.run(mouse=False)\n"
    "last = app.main._last_search\n"
    "print('\\nTERMS=' + json.dumps(last[0] if last else None), flush=True)\n"
)


def drain(fd: int) -> bytes:
    """What is left to read of an exited process's terminal."""
    out = b""
    while select.select([fd], [], [], 0.5)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


def terms_after(setup: bytes, burst_bytes: bytes) -> object:
    """The demo in a pty: ``/`` to the lab filter, ``setup`` typed, then the burst in ONE
    write; ctrl+q; the terms of the last search run."""
    proc, master = spawn_in_pty([sys.executable, "-c", SNIPPET], cols=160, rows=48)
    try:
        read_until(master, b"sessions \xc2\xb7", timeout=60)  # the first results
        os.write(master, b"/")
        time.sleep(0.5)
        os.write(master, setup)
        time.sleep(0.8)
        os.write(master, burst_bytes)  # the whole burst in one read of the app's driver
        read_until(master, b"sessions \xc2\xb7", timeout=30)  # the search it ran answered
        time.sleep(0.5)
        os.write(master, b"\x11")  # ctrl+q
        out = read_until(master, b"TERMS=", timeout=15)
        proc.wait(timeout=10)
        out += drain(master)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    line = out.decode(errors="replace").rsplit("TERMS=", 1)[1].splitlines()[0]
    return json.loads(line)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_pty_ctrl_l_cortex_enter_in_one_write_searches_cortexlab() -> None:
    assert terms_after(b"zzz", b"\x0ccortex\r") == {"laboratory": "cortexlab"}


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_pty_ctrl_a_ctrl_e_in_one_write_edit_in_order() -> None:
    # "lab", then home, "cortex", end, enter: cortexlab (out of order: labcortex)
    assert terms_after(b"lab", b"\x01cortex\x05\r") == {"laboratory": "cortexlab"}
