"""Issue 18 against the real Alyx 3.6.1, as a new user found it: local mode that asks Alyx on
request and never says "offline" then, insertions the local tables cannot tell, Details' fetch
in the status line, and Alyx's exact match rule shown when an Alyx-only filter sends the search
there."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector
from one_tui.tui.widgets.results import ResultsPane
from tests.tui.conftest import settle, status_text

WIDE = (160, 48)


def _sessions() -> dict[str, list[Any]]:
    run = Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run"))
    rows = json.loads((run / "populated.json").read_text())["sessions"]
    return {row[0]: row for row in rows}


async def _search(app: OneApp, pilot: Any, **fields: str) -> None:
    for inp in app.query(Input):
        if inp.id and inp.id.startswith("f-"):
            inp.value = fields.get(inp.id[2:], "")
    app.query_one("#f-lab", Input).focus()
    await pilot.press("enter")
    await settle(app, pilot)


async def _open(app: OneApp, pilot: Any, row: list[Any]) -> str:
    """Find the session by subject and day, enter on it: Details' text."""
    eid, _lab, subject, day, _number = row[:5]
    await _search(app, pilot, subject=f"^{subject}$", date_from=day, date_to=day)
    results = app.query_one(ResultsPane)
    assert results.table is not None
    results.table.focus()
    while results.eid_at() != eid:
        await pilot.press("down")
    await pilot.press("enter")
    await settle(app, pilot)
    return str(app.query_one("#details-body", Static).render())


@pytest.mark.real_alyx
async def test_a_new_user_on_the_real_alyx(real_alyx: Any, tmp_path: Path, home: Path) -> None:
    sessions = _sessions()
    conn = Connector(base_url=real_alyx.base_url, cache_dir=tmp_path / "cache", mode="auto",
                     username=real_alyx.username, password=real_alyx.password,
                     label="real Alyx")
    app = OneApp(conn, low_bandwidth=True, config=TuiConfig())
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        assert app.service is not None
        _pids, records = app.service.one.search_insertions(details=True, query_type="remote")
        per_session = Counter(str(r["session"]) for r in records)
        eid, n = next((e, k) for e, k in per_session.items() if k >= 2 and e in sessions)

        # 3: Details in auto reads the Alyx record: the status line and Details say so
        text = await _open(app, pilot, sessions[eid])
        assert "last: Alyx (details)" in status_text(app)
        assert "Alyx record · from Alyx" in text and f"Probe insertions · {n}" in text

        # 4: an Alyx-only filter: Alyx's exact match is shown, and is what Alyx applies
        await _search(app, pilot, perf_gte="0", lab="cortex")
        rule = str(app.query_one("#match-rule", Static).render())
        assert "Alyx" in rule and "exact" in rule
        assert app.query_one(ResultsPane).row_count == 0
        await _search(app, pilot, perf_gte="0", lab="cortexlab")
        assert app.query_one(ResultsPane).row_count > 0

        # 1 and 2: local mode asks Alyx on request, never "offline" then; a new start in
        # local mode cannot tell the insertions: "unknown", not 0
        await pilot.press("f2")
        await settle(app, pilot)
        await _search(app, pilot, perf_gte="1", lab="cortexlab")  # not in the REST cache
        line = status_text(app)
        assert "last: Alyx" in line and "offline" not in line and "Alyx on request" in line

    again = OneApp(Connector(base_url=real_alyx.base_url, cache_dir=tmp_path / "cache",
                             mode="local", username=real_alyx.username, label="real Alyx"),
                   low_bandwidth=True, config=TuiConfig())
    async with again.run_test(size=WIDE) as pilot:
        await settle(again, pilot)
        text = await _open(again, pilot, sessions[eid])
        assert "Probe insertions · 0" not in text and "Probe insertions · unknown" in text
