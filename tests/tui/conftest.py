"""Fixtures for the TUI tests: the demo Alyx on loopback, a tmp cache, and an app factory.

The app always runs against the real engine (`One`) and the demo server; nothing is faked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector

N_SESSIONS = 120
FROZEN = dt.datetime(2026, 1, 15, 9, 30)


@pytest.fixture(scope="session")
def db() -> Any:
    from one_tui.demo.synth import generate

    return generate(n_sessions=N_SESSIONS, seed=0)


@pytest.fixture
def server(db: Any) -> Any:
    from one_tui.demo.server import DemoServer

    with DemoServer(db) as srv:
        yield srv


@pytest.fixture
def make_app(server: Any, tmp_path: Path) -> Callable[..., OneApp]:
    """Build an app on the demo server; each call gets its own cache folder."""
    counter = iter(range(1000))

    def build(mode: str = "auto", username: str | None = "demo", password: str | None = "demo",
              cache_dir: Path | None = None, **kwargs: Any) -> OneApp:
        folder = cache_dir or tmp_path / f"cache{next(counter)}"
        conn = Connector(base_url=server.url, cache_dir=folder, mode=mode, username=username,
                         password=password, label="demo Alyx")
        kwargs.setdefault("low_bandwidth", True)
        kwargs.setdefault("config", TuiConfig())
        return OneApp(conn, **kwargs)

    return build


def busy(app: OneApp) -> bool:
    from textual.worker import WorkerState

    return any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers)


async def settle(app: OneApp, pilot: Any, rounds: int = 20) -> None:
    """Wait until no worker runs and every message they posted is handled (no sleeps)."""
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not busy(app):
            await pilot.pause()
            if not busy(app):
                return
    raise AssertionError("workers kept running")


async def open_details(app: OneApp, pilot: Any, row: int = 0, eid: str | None = None) -> Any:
    """Enter on a session of the results (``eid``, else the row ``row``), then the Details
    pane focused, as a user opens it; returns the pane."""
    from one_tui.tui.widgets.details import DetailsPane
    from one_tui.tui.widgets.results import ResultsPane

    await settle(app, pilot)
    results = app.query_one(ResultsPane)
    if eid is not None:
        row = [str(e) for e in results.full.column("eid").to_pylist()].index(eid)
    results.table.focus()
    results.table.move_cursor(row=row)
    await pilot.press("enter")
    await settle(app, pilot)
    details = app.query_one(DetailsPane)
    details.focus()
    await pilot.pause()
    return details


def requests_since(server: Any, start: int, path: str = "") -> list[str]:
    """Requests the demo server saw after index ``start`` (optionally only those on ``path``)."""
    return [r for r in server.requests[start:] if path in r]


def status_text(app: OneApp) -> str:
    """The status line as the user reads it."""
    return str(app.query_one("#status", Static).render())


def results_text(app: OneApp) -> str:
    """The sessions pane's summary / progress line."""
    return str(app.query_one("#results-status", Static).render())


def toasts(app: OneApp) -> list[str]:
    """Every toast shown so far (run_test(notifications=True))."""
    return [str(n.message) for n in app._notifications]
