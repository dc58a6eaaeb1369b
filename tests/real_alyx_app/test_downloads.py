"""D in the app against the real Alyx 3.6.1 and its FlatIron-like file server: a training
session's datasets (all small) marked with `a`, downloaded through the app, then shown on this
disk; the file server saw one authenticated GET per file (no 401 challenge)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from one_tui.engine.params import client_key
from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector
from one_tui.tui.screens.confirm import ConfirmModal
from tests.tui.conftest import open_details, settle, toasts

WIDE = (160, 48)


def _populated() -> dict[str, Any]:
    run = Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run"))
    return json.loads((run / "populated.json").read_text())


@pytest.mark.real_alyx
async def test_the_app_downloads_a_sessions_datasets_from_the_real_file_server(
        real_alyx: Any, tmp_path: Path, home: Path) -> None:
    populated = _populated()
    training = next(s for s in populated["sessions"] if s[5] == "training")
    eid = training[0]
    cache = tmp_path / "cache"
    key = client_key(real_alyx.base_url)
    (home / ".one").mkdir(parents=True, exist_ok=True)
    (home / ".one" / f".{key}").write_text(json.dumps({
        "ALYX_URL": real_alyx.base_url, "ALYX_LOGIN": real_alyx.username,
        **populated["data_server"]["one_params"]}))
    log = Path(populated["data_server"]["access_log"])
    conn = Connector(base_url=real_alyx.base_url, cache_dir=cache, mode="auto",
                     username=real_alyx.username, password=real_alyx.password,
                     label="real Alyx")
    app = OneApp(conn, low_bandwidth=True, config=TuiConfig())
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        details = await open_details(app, pilot, eid=eid)
        rows = [d for d in details.details.datasets if d.exists]
        assert rows and not any(d.on_disk for d in rows)
        await pilot.press("a")
        mark = log.stat().st_size
        await pilot.press("D")
        for _ in range(200):
            await pilot.pause(0.05)
            if isinstance(app.screen, ConfirmModal):
                break
        assert isinstance(app.screen, ConfirmModal), toasts(app)
        await pilot.press("y")
        await settle(app, pilot)
        for _ in range(100):  # the end toast follows the worker's last message
            if any("Download done" in t for t in toasts(app)):
                break
            await pilot.pause(0.05)
        assert any("Download done" in t and "failed" not in t for t in toasts(app)), toasts(app)
        shown = {d.id: d for d in details.details.datasets}
        assert all(shown[d.id].on_disk for d in rows)
        text = str(app.query_one("#details-body", Static).render())
        defaults = sum(1 for d in rows if d.default_revision)
        assert f"on this disk   {defaults} of {defaults} datasets" in text
        with open(log, "rb") as f:
            f.seek(mark)
            sent = [line for line in f.read().decode().splitlines() if "/public/" not in line]
        assert len(sent) == len(rows) and all('" 200 ' in line for line in sent), sent
    for d in rows:  # where ONE-api looks: <cache>/<lab>/Subjects/<subject>/<date>/<NNN>/...
        lab, subject, date, number = training[1], training[2], training[3], training[4]
        path = cache / lab / "Subjects" / subject / date / f"{number:03d}" / d.rel_path
        assert path.stat().st_size == d.file_size
