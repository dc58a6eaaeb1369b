"""The app against the real Alyx 3.6.1, driven by Pilot like a user: log in with a password,
search the tables and Alyx, open details, switch modes (ctrl+r in local mode included), refresh,
bypass the REST cache. What the server received is read from its access log."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector
from one_tui.tui.screens.login import LoginModal
from one_tui.tui.widgets.results import ResultsPane
from tests.real_alyx_app.modes_page import AccessLog
from tests.tui.conftest import results_text, settle, status_text, toasts

WIDE = (160, 48)


def _sessions() -> list[list[Any]]:
    run = Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run"))
    return json.loads((run / "populated.json").read_text())["sessions"]


def _count(sessions: list[list[Any]], subject: str) -> int:
    return sum(1 for s in sessions if s[2] == subject)


async def _search(app: OneApp, pilot: Any, key: str = "enter", **fields: str) -> None:
    """Type the filters (the others emptied) and press ``key``, as a user would."""
    for inp in app.query(Input):
        if inp.id and inp.id.startswith("f-"):
            inp.value = fields.get(inp.id[2:], "")
    app.query_one("#f-lab", Input).focus()
    await pilot.press(key)
    await settle(app, pilot)


async def _key(app: OneApp, pilot: Any, key: str) -> None:
    """A key pressed with the sessions table focused (not typed into a filter)."""
    app.query_one(ResultsPane).table.focus()
    await pilot.press(key)
    await settle(app, pilot)


@pytest.mark.real_alyx
async def test_the_app_against_the_real_alyx(real_alyx: Any, tmp_path: Path, home: Path) -> None:
    sessions = _sessions()
    log = AccessLog(real_alyx)
    conn = Connector(base_url=real_alyx.base_url, cache_dir=tmp_path / "cache", mode="auto",
                     username=real_alyx.username, password=None, label="real Alyx")
    app = OneApp(conn, low_bandwidth=True, config=TuiConfig())
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        # log in with a password: no token saved yet, so the login form asks
        mark = log.start()
        await settle(app, pilot)
        assert isinstance(app.screen, LoginModal)
        assert app.screen.query_one("#login-username", Input).value == real_alyx.username
        app.screen.query_one("#login-password", Input).focus()
        await pilot.press(*real_alyx.password, "enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, LoginModal)
        sent = log.since(mark)
        assert "POST /auth-token" in sent and "GET /cache.zip" in sent
        assert "mode auto" in status_text(app) and "online" in status_text(app)
        results = app.query_one(ResultsPane)
        assert results.row_count == len(sessions)

        # search the tables: nothing sent
        mark = log.start()
        await _search(app, pilot, subject="KS003")
        assert results.row_count == _count(sessions, "KS003") and "local tables" in \
            results_text(app)
        assert log.since(mark) == []

        # the same search once on Alyx (ctrl+r)
        mark = log.start()
        await _search(app, pilot, key="ctrl+r", subject="KS003")
        assert log.since(mark) == ["GET /sessions?subject=KS003"]
        assert results.row_count == _count(sessions, "KS003") and "Alyx" in results_text(app)

        # details of the first row: the session record read from Alyx
        eid = results.eid_at(0)
        mark = log.start()
        await _key(app, pilot, "enter")
        sent = log.since(mark)
        assert f"GET /sessions/{eid}" in sent
        text = str(app.query_one("#details-body", Static).render())
        assert eid in text and "KS003" in text and "Alyx record" in text

        # local mode: searches send nothing, ctrl+r still asks Alyx and the mode stays local
        await _key(app, pilot, "f2")
        # (issue 18: local asks Alyx on request, so never "offline" while it can)
        assert "mode local" in status_text(app) and "Alyx on request" in status_text(app)
        mark = log.start()
        await _search(app, pilot, subject="KS001")
        assert log.since(mark) == [] and results.row_count == _count(sessions, "KS001")
        mark = log.start()
        await _search(app, pilot, key="ctrl+r", subject="KS001")
        assert log.since(mark) == ["GET /sessions?subject=KS001"]
        assert results.row_count == _count(sessions, "KS001") and "Alyx" in results_text(app)
        assert "mode local" in status_text(app) and "offline" not in status_text(app)
        assert "last: Alyx" in status_text(app)

        # remote mode: a search goes to Alyx, the same again comes from the REST cache, and
        # with the bypass on it goes to Alyx again
        await _key(app, pilot, "f3")
        assert "mode remote" in status_text(app)
        mark = log.start()
        await _search(app, pilot, subject="CSHL045")
        assert log.since(mark) == ["GET /sessions?subject=CSHL045"]
        mark = log.start()
        await _search(app, pilot, subject="CSHL045")
        assert log.since(mark) == [] and "REST cache" in results_text(app)
        await _key(app, pilot, "b")
        assert "REST cache bypassed" in status_text(app)
        mark = log.start()
        await _search(app, pilot, subject="CSHL045")
        assert log.since(mark) == ["GET /sessions?subject=CSHL045"]
        assert results.row_count == _count(sessions, "CSHL045")
        await _key(app, pilot, "b")

        # auto mode, then a forced refresh: Alyx is asked for newer tables, it has none
        await _key(app, pilot, "f4")
        assert "mode auto" in status_text(app)
        mark = log.start()
        await _key(app, pilot, "R")
        assert log.since(mark) == ["GET /cache/info"]
        assert any("Forced refresh: Alyx has nothing newer" in t for t in toasts(app))
        assert "mode auto" in status_text(app) and "online" in status_text(app)


async def test_run_once_on_alyx_without_a_database_says_so(tmp_path: Path, home: Path) -> None:
    """ctrl+r in a folder with no database: one clear line, nothing searched."""
    conn = Connector(cache_dir=tmp_path / "folder", mode="local", label="folder")
    app = OneApp(conn, low_bandwidth=True, config=TuiConfig())
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        seq = app.state.search.seq
        await _search(app, pilot, key="ctrl+r", subject="KS001")
        assert any("No Alyx database: remote searches are not possible here." in t
                   for t in toasts(app))
        assert app.state.search.seq == seq
