"""The subject view (S) against the real Alyx 3.6.1: the plotted trial counts and performance
are the sessions' records as Alyx serves them, each read once (the access log), and a second
look is answered by the REST cache."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import Input

from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector
from one_tui.tui.screens.subject import SubjectScreen
from one_tui.tui.widgets import history_plot as hp
from one_tui.tui.widgets.results import ResultsPane
from tests.real_alyx_app.modes_page import AccessLog
from tests.tui.conftest import settle

WIDE = (160, 48)


def _busiest_subject() -> str:
    run = Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run"))
    sessions = json.loads((run / "populated.json").read_text())["sessions"]
    return Counter(s[2] for s in sessions).most_common(1)[0][0]


def _records(real_alyx: Any, eids: list[str]) -> dict[str, dict[str, Any]]:
    with httpx.Client(base_url=real_alyx.base_url, headers={"Accept": "application/json"}
                      ) as client:
        token = client.post("/auth-token", data={"username": real_alyx.username,
                                                 "password": real_alyx.password}
                            ).json()["token"]
        client.headers["Authorization"] = f"Token {token}"
        return {e: client.get(f"/sessions/{e}").json() for e in eids}


@pytest.mark.real_alyx
async def test_subject_view_shows_the_real_alyxs_records(real_alyx: Any, tmp_path: Path,
                                                         home: Path) -> None:
    nickname = _busiest_subject()
    log = AccessLog(real_alyx)
    conn = Connector(base_url=real_alyx.base_url, cache_dir=tmp_path / "cache", mode="auto",
                     username=real_alyx.username, password=real_alyx.password,
                     label="real Alyx")
    app = OneApp(conn, low_bandwidth=True, config=TuiConfig())
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        app.query_one("#f-subject", Input).value = nickname
        app.query_one("#f-lab", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        mark = log.start()
        app.query_one(ResultsPane).table.focus()
        await pilot.press("S")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SubjectScreen) and screen.final
        history = screen.history
        assert history is not None and history.lacking is None and history.sessions
        points = hp.plot_points(history)
        eids = [p["eid"] for p in points]
        sent = log.since(mark)
        read = Counter(r.split()[1] for r in sent if r.startswith("GET /sessions/"))
        assert {f"/sessions/{e}" for e in eids} <= set(read)  # every record asked ...
        assert all(read[f"/sessions/{e}"] == 1 for e in eids)  # ... once
        records = _records(real_alyx, eids)
        for p in points:
            rec = records[p["eid"]]
            assert p["n_trials"] == rec["n_trials"]
            expected = (round(100 * rec["n_correct_trials"] / rec["n_trials"], 1)
                        if rec["n_trials"] and rec["n_correct_trials"] is not None else None)
            assert p["performance"] == expected
        assert history.has_performance and history.protocol_changes
        # a second look: the REST cache answers, Alyx sees no session read
        await pilot.press("escape")
        mark = log.start()
        await pilot.press("S")
        await settle(app, pilot)
        again = log.since(mark)
        assert not [r for r in again if any(e in r for e in eids)]
        assert "records: REST cache" in str(app.screen.query_one("#subject-status").render())
