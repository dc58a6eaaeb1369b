"""The app under faults: each fault class shows one line saying what happened, the app stays
usable, and once the fault is gone the user's next action works (tests/test_fault_matrix.py
covers every fault x mode cell on the engine; this is what a user sees of them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from one_tui.demo.server import DemoServer
from one_tui.engine import params
from one_tui.engine.remote.client import AlyxClient
from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector
from one_tui.tui.screens.login import LoginModal
from one_tui.tui.widgets.results import ResultsPane
from tests.tui.conftest import N_SESSIONS, results_text, settle, status_text, toasts

WIDE = (160, 48)
OLD = datetime.now().replace(second=0, microsecond=0) - timedelta(days=3)


class ShortTimeouts(Connector):
    """The real Connector's `One`, with a client whose timeouts are short (as an HPC user
    would configure them) so a stalled server costs a second, not 30."""

    def open(self, username: str | None = None, password: str | None = None,
             clock: Any = None) -> Any:
        from one_tui.engine import EngineService, One

        password, self.password = password or self.password, None
        client = AlyxClient(self.base_url, username=username or self.username,
                            password=password, cache_dir=self.cache_dir,
                            timeout=(0.5, 1.0), max_retries=2, max_retry_wait=1.5)
        return EngineService(One(client=client, cache_dir=self.cache_dir, mode=self.mode,
                                 password=password, clock=clock))


@pytest.fixture(scope="module")
def alyx(db: Any) -> Iterator[DemoServer]:
    """One demo Alyx for the module; each test starts with no fault on."""
    srv = DemoServer(db)
    srv.start()
    srv.warm_up()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def healthy(alyx: DemoServer, home: Path) -> Iterator[None]:
    alyx.faults.reset()
    yield
    alyx.faults.reset()


def make_app(db: Any, url: str, folder: Path, mode: str = "auto",
             password: str | None = "demo", connector: type[Connector] = Connector) -> OneApp:
    """An app on ``url`` whose cache folder holds expired tables (auto must ask Alyx)."""
    folder.mkdir(exist_ok=True)
    db.write_tables(folder, date_created=OLD)
    conn = connector(base_url=url, cache_dir=folder, mode=mode, username="demo",
                     password=password, label="demo Alyx")
    return OneApp(conn, low_bandwidth=True, config=TuiConfig())


def toasted(app: OneApp, text: str) -> bool:
    return any(text in t for t in toasts(app))


async def search(app: OneApp, pilot: Any, **fields: str) -> None:
    for name in ("lab", "subject"):
        app.query_one(f"#f-{name}", Input).value = fields.get(name, "")
    app.query_one("#f-lab", Input).focus()
    await pilot.press("enter")
    await settle(app, pilot)


async def press_on_results(app: OneApp, pilot: Any, key: str) -> None:
    app.query_one(ResultsPane).table.focus()
    await pilot.press(key)
    await settle(app, pilot)


# ---------------------------------------------------------------------------------------------
# Connection: refused


async def test_server_down_at_start_shows_the_fallback_then_R_recovers(db, tmp_path) -> None:
    """Alyx down when the app starts: one toast, 'auto→local' on the status line, the tables
    on disk browsable; the server back, R returns to auto."""
    gone = DemoServer(db).start()
    port = gone.port
    gone.stop()
    app = make_app(db, gone.url, tmp_path / "cache")
    back: DemoServer | None = None
    try:
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await settle(app, pilot)
            assert toasted(app, "auto → local: Alyx unreachable (connection refused)")
            assert "mode auto→local" in status_text(app) and "offline" in status_text(app)
            assert app.query_one(ResultsPane).row_count == N_SESSIONS
            assert "local tables" in results_text(app)
            subject = str(db.sessions["subject"].iloc[0])
            await search(app, pilot, subject=subject)  # still usable: searches the tables
            assert app.query_one(ResultsPane).row_count == int(
                (db.sessions["subject"] == subject).sum())
            back = DemoServer(db, port=port).start()
            await press_on_results(app, pilot, "R")
            assert toasted(app, "Alyx reachable again: back to auto mode")
            assert "mode auto ·" in status_text(app) and "online" in status_text(app)
            assert any(r.startswith("GET /cache.zip") for r in back.requests)
    finally:
        if back is not None:
            back.stop()


async def test_remote_search_with_alyx_gone_fails_in_one_line(db, tmp_path) -> None:
    """Remote mode, the server stops mid-session: a search seen before still answers from the
    REST cache, a new one fails with one line; the server back, the search works."""
    srv = DemoServer(db).start()
    port = srv.port
    app = make_app(db, srv.url, tmp_path / "cache", mode="remote")
    labs = sorted(db.sessions["lab"].unique())
    back: DemoServer | None = None
    try:
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await settle(app, pilot)
            await search(app, pilot, lab=labs[0])
            seen = app.query_one(ResultsPane).row_count
            assert seen and "Alyx" in results_text(app)
            srv.stop()
            await search(app, pilot, lab=labs[0])
            assert app.query_one(ResultsPane).row_count == seen
            assert "REST cache" in results_text(app)
            await search(app, pilot, lab=labs[1])
            assert toasted(app, "AlyxConnectionError: Can't connect to")
            # failure shown as failure: why, and the rows left marked as the previous answer
            assert "Search failed: AlyxConnectionError" in results_text(app)
            assert "the rows below are the previous answer, from" in results_text(app)
            assert "previous answer" in app.query_one(ResultsPane).border_title
            assert "mode remote" in status_text(app)
            assert "Alyx unreachable" in status_text(app)  # at once, not "online"
            assert "last: search failed" in status_text(app)
            back = DemoServer(db, port=port).start()
            await search(app, pilot, lab=labs[1])
            assert app.query_one(ResultsPane).row_count == int(
                (db.sessions["lab"] == labs[1]).sum())
            assert "Alyx" in results_text(app) and "failed" not in results_text(app)
            assert "online" in status_text(app) and "unreachable" not in status_text(app)
            assert "previous" not in app.query_one(ResultsPane).border_title
    finally:
        srv.stop()
        if back is not None:
            back.stop()


# ---------------------------------------------------------------------------------------------
# Timeouts


async def test_stalled_server_at_start_times_out_then_R_recovers(alyx, db, tmp_path) -> None:
    alyx.faults.read_timeout_after_bytes = 40
    alyx.faults.stall_seconds = 3.0
    app = make_app(db, alyx.url, tmp_path / "cache", connector=ShortTimeouts)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        assert toasted(app, "auto → local: Alyx unreachable (timed out)")
        assert "mode auto→local" in status_text(app)
        assert app.query_one(ResultsPane).row_count == N_SESSIONS
        alyx.faults.reset()
        await press_on_results(app, pilot, "R")
        assert toasted(app, "Alyx reachable again: back to auto mode")
        assert "mode auto ·" in status_text(app)


# ---------------------------------------------------------------------------------------------
# Server errors: 500 JSON, 500 HTML, malformed JSON


@pytest.mark.parametrize(("switch", "line"), [
    ("status_500", "HTTPError: [Errno 500] /sessions?lab={lab}: 'Injected server error (demo)'"),
    ("status_500_html", "HTTPError: [Errno 500] /sessions?lab={lab}: 'Server Error (500)'"),
    ("malformed_json", "AlyxError: Alyx sent a response to /sessions?lab={lab} that is not valid "
                       "JSON"),
])
async def test_remote_search_server_error_is_one_line_then_works(alyx, db, tmp_path, switch,
                                                                 line) -> None:
    app = make_app(db, alyx.url, tmp_path / "cache", mode="remote")
    lab = str(db.sessions["lab"].iloc[0])
    line = line.format(lab=lab)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        setattr(alyx.faults, switch, True)
        await search(app, pilot, lab=lab)
        assert toasted(app, line)
        assert all("\n" not in t for t in toasts(app))
        assert f"Search failed: {line}" in results_text(app)
        assert "last: search failed" in status_text(app)
        assert app.state.last_error is not None and line in app.state.last_error[0]
        alyx.faults.reset()
        await search(app, pilot, lab=lab)
        assert app.query_one(ResultsPane).row_count == int((db.sessions["lab"] == lab).sum())
        assert "Alyx" in results_text(app) and "mode remote" in status_text(app)
        assert "failed" not in results_text(app) and "last: Alyx" in status_text(app)


async def test_server_error_on_cache_info_at_start_keeps_the_tables(alyx, db, tmp_path) -> None:
    alyx.faults.status_500 = True
    app = make_app(db, alyx.url, tmp_path / "cache", password=None)
    params.save_token(alyx.url, "demo", alyx.token_for("demo"))
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        assert toasted(app, "auto → local: cache/info failed (HTTP 500)")
        assert app.query_one(ResultsPane).row_count == N_SESSIONS
        alyx.faults.reset()
        await press_on_results(app, pilot, "R")
        assert toasted(app, "Alyx reachable again: back to auto mode")


# ---------------------------------------------------------------------------------------------
# Throttling


async def test_throttled_search_waits_retry_after_and_succeeds(alyx, db, tmp_path) -> None:
    app = make_app(db, alyx.url, tmp_path / "cache", mode="remote")
    lab = str(db.sessions["lab"].iloc[0])
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        alyx.faults.status_429 = 1
        alyx.faults.retry_after = 1
        started = time.monotonic()
        await search(app, pilot, lab=lab)
        assert time.monotonic() - started >= 0.9
        assert app.query_one(ResultsPane).row_count == int((db.sessions["lab"] == lab).sum())
        assert "Alyx" in results_text(app)
        assert not [t for t in toasts(app) if "429" in t]


# ---------------------------------------------------------------------------------------------
# Authentication: 400 on login, revoked token


async def test_login_refused_at_start_opens_the_login_form(alyx, db, tmp_path) -> None:
    alyx.faults.refuse_login = 1
    app = make_app(db, alyx.url, tmp_path / "cache")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        # said once, on the form, with Alyx's own refusal as its error (not a toast under it)
        assert not toasted(app, "login refused")
        assert isinstance(app.screen, LoginModal)
        assert app.screen.reason == "auto → local: login refused (400)"
        assert app.screen.error is not None and app.screen.error.startswith(
            "Login refused: AuthenticationError") and "400" in app.screen.error
        app.screen.query_one("#login-password", Input).value = "demo"
        app.screen.query_one("#login-password", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, LoginModal)
        assert toasted(app, "Logged in as demo; mode auto")
        assert "mode auto ·" in status_text(app) and "online" in status_text(app)


async def test_revoked_token_mid_session_asks_for_a_login(alyx, db, tmp_path) -> None:
    """Remote mode on a saved token (no password in memory); Alyx revokes it: the search says
    a login is needed in one line and the login form opens; after it, searches work again."""
    params.save_token(alyx.url, "demo", alyx.token_for("demo"))
    app = make_app(db, alyx.url, tmp_path / "cache", mode="remote", password=None)
    lab = str(db.sessions["lab"].iloc[0])
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        alyx.faults.invalid_token = True
        await search(app, pilot, lab=lab)
        assert toasted(app, "LoginRequired: Alyx at")
        assert "mode remote→local" in status_text(app)
        assert isinstance(app.screen, LoginModal)
        app.screen.query_one("#login-password", Input).value = "demo"
        app.screen.query_one("#login-password", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "mode remote ·" in status_text(app)
        await search(app, pilot, lab=lab)
        assert app.query_one(ResultsPane).row_count == int((db.sessions["lab"] == lab).sum())
        assert "Alyx" in results_text(app)


# ---------------------------------------------------------------------------------------------
# Bad downloads: truncated cache.zip, corrupt parquet inside it


@pytest.mark.parametrize(("switch", "line"), [
    ("truncated_zip", "auto → local: cache.zip was truncated; kept the tables on disk"),
    ("corrupt_zip_parquet", "auto → local: cache.zip held a corrupt table (sessions.pqt)"),
])
async def test_bad_cache_zip_keeps_the_tables_then_R_downloads(alyx, db, tmp_path, switch,
                                                               line) -> None:
    folder = tmp_path / "cache"
    app = make_app(db, alyx.url, folder)
    before = {p.name: p.read_bytes() for p in folder.glob("*.pqt")}
    setattr(alyx.faults, switch, True)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        assert toasted(app, line)
        assert app.query_one(ResultsPane).row_count == N_SESSIONS
        assert {p.name: p.read_bytes() for p in folder.glob("*.pqt")} == before
        alyx.faults.reset()
        await press_on_results(app, pilot, "R")
        assert toasted(app, "Alyx reachable again: back to auto mode")
        assert {p.name: p.read_bytes() for p in folder.glob("*.pqt")} != before


# ---------------------------------------------------------------------------------------------
# Count drift between pages


async def test_count_drift_between_pages_warns_and_lists(alyx, db, tmp_path) -> None:
    app = make_app(db, alyx.url, tmp_path / "cache", mode="remote")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        app.remote_page_size = 50  # three pages of the 120 sessions
        alyx.faults.count_drift = True
        await search(app, pilot)
        assert toasted(app, "remote results for /sessions endpoint changed; results may be "
                            "inconsistent")
        assert app.query_one(ResultsPane).row_count == N_SESSIONS
        alyx.faults.reset()
        n = len(app._notifications)
        await search(app, pilot, lab=str(db.sessions["lab"].iloc[0]))
        assert not [t for t in toasts(app)[n:] if "changed" in t]


async def test_login_refused_then_escape_stays_offline_on_the_tables(alyx, db, tmp_path) -> None:
    alyx.faults.refuse_login = True
    app = make_app(db, alyx.url, tmp_path / "cache")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, LoginModal)
        await pilot.press("escape")
        await settle(app, pilot)
        assert toasted(app, "Staying offline: local tables only.")
        assert "mode auto→local" in status_text(app) and "offline" in status_text(app)
        assert app.query_one(ResultsPane).row_count == N_SESSIONS
        assert "local tables" in results_text(app)


async def test_forced_refresh_during_an_outage_says_why_and_keeps_browsing(alyx, db,
                                                                           tmp_path) -> None:
    """A healthy start, then Alyx fails: R says in one line that the tables were kept and why,
    the status line shows auto→local, searches still work; R again once Alyx is back."""
    app = make_app(db, alyx.url, tmp_path / "cache")
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        assert "mode auto ·" in status_text(app)
        alyx.faults.status_500_html = True
        await press_on_results(app, pilot, "R")
        assert toasted(app, "auto → local: cache/info failed (HTTP 500)")
        assert "mode auto→local" in status_text(app)
        lab = str(db.sessions["lab"].iloc[0])
        await search(app, pilot, lab=lab)
        assert app.query_one(ResultsPane).row_count == int((db.sessions["lab"] == lab).sum())
        alyx.faults.reset()
        await press_on_results(app, pilot, "R")
        assert toasted(app, "Alyx reachable again: back to auto mode")
        assert "mode auto ·" in status_text(app)
