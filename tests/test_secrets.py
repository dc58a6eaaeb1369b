"""The Alyx password never leaves memory: not on screen, in logs, in error messages or in any
file; the token file is private; a token sent over plain http to another machine is warned of.
"""

from __future__ import annotations

import base64
import html
import logging
import re
import stat
import subprocess
import sys
import traceback
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from one_tui.demo.server import DemoServer
from one_tui.demo.synth import generate
from one_tui.engine import params
from one_tui.engine.core.errors import AuthenticationError
from one_tui.engine.one import One
from one_tui.engine.remote.client import AlyxClient
from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector
from one_tui.tui.screens.login import LoginModal
from tests.tui.conftest import settle

USER = "alice"
PASSWORD = "Tr0ub4dorHorse7Staple"  # letters and digits: typed key by key in the modal
WRONG = "Wr0ngS3cretPa55word"
WIDE = (160, 48)


def forms(secret: str) -> list[bytes]:
    """The ways a password could be written down: as is, form/URL-encoded, base64."""
    out = {secret.encode(), urllib.parse.quote_plus(secret).encode(),
           base64.b64encode(secret.encode()), base64.b64encode(f"{USER}:{secret}".encode())}
    return sorted(out)


def assert_absent(text: str | bytes, where: str) -> None:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    for secret in (PASSWORD, WRONG):
        for form in forms(secret):
            assert form not in data, f"password found in {where}"


def screen_text(app: OneApp) -> str:
    """The visible characters of the screen (SVG export without tags and entities)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    srv = DemoServer(generate(n_sessions=20, seed=7), users={USER: PASSWORD})
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every library (httpx, httpcore, textual, the engine) at DEBUG."""
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_secret_anywhere(home: Path, cache_dir: Path,
                              logs: pytest.LogCaptureFixture) -> None:
    assert any("auth-token" in r.getMessage() for r in logs.records)  # the login was logged
    for record in logs.records:
        assert_absent(record.getMessage(), f"log record {record.name}")
        if record.exc_info:
            assert_absent("".join(traceback.format_exception(*record.exc_info)), "logged error")
    scanned = 0
    for root in {home, cache_dir}:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert_absent(path.read_bytes(), str(path))
                scanned += 1
    assert scanned  # the token file at least


def assert_token_file_private(home: Path, base_url: str) -> None:
    folder = home / ".one"
    token_file = folder / f".{params.client_key(base_url)}"
    assert params.get_settings(base_url).token_for(USER)  # the login was saved
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for f in folder.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0, f


# --- the engine ------------------------------------------------------------------------------


def test_refused_then_accepted_login_leaves_no_password_anywhere(
        home: Path, tmp_path: Path, server: DemoServer,
        debug_logs: pytest.LogCaptureFixture) -> None:
    cache_dir = tmp_path / "cache"
    client = AlyxClient(server.url, username=USER, password=WRONG, cache_dir=cache_dir)
    with pytest.raises(AuthenticationError) as refused:
        client.authenticate()
    err = refused.value
    for text in (str(err), repr(err), repr(err.args), err.detail,
                 "".join(traceback.format_exception(err)), repr(client)):
        assert_absent(text, "the refused login's error")
    assert "password = ****" in str(err)

    one = One(base_url=server.url, username=USER, password=WRONG, cache_dir=cache_dir,
              mode="remote")
    assert one.fallback_reason and "refused" in one.fallback_reason
    for text in (repr(one), repr(one.alyx), repr(one.cache_info()), *one.notices):
        assert_absent(text, "One after a refused login")

    one.login(USER, PASSWORD)
    assert one.alyx.is_logged_in and one.fallback_reason is None
    assert one.search(query_type="remote")
    assert_absent(repr(one.cache_info()), "cache_info")
    assert_no_secret_anywhere(home, cache_dir, debug_logs)
    assert_token_file_private(home, server.url)


# --- the app ---------------------------------------------------------------------------------


async def test_password_never_on_screen_in_logs_or_files(
        home: Path, tmp_path: Path, server: DemoServer,
        debug_logs: pytest.LogCaptureFixture) -> None:
    cache_dir = tmp_path / "cache"
    conn = Connector(base_url=server.url, cache_dir=cache_dir, mode="auto", username=USER,
                     label="demo Alyx")
    app = OneApp(conn, config=TuiConfig(), low_bandwidth=True)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, LoginModal)
        field = app.screen.query_one("#login-password", Input)
        field.focus()
        await pilot.press(*WRONG)
        await pilot.pause()
        assert field.value == WRONG and field.password
        assert "Log in to Alyx" in screen_text(app)  # the scan reads the real screen
        assert_absent(screen_text(app), "the screen while typing")
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, LoginModal)  # refused: asked again
        assert "refused" in str(app.screen.query_one("#login-error", Static).render())
        assert app.screen.query_one("#login-password", Input).value == ""
        assert_absent(screen_text(app), "the screen after a refused login")
        if app.state.last_error is not None:
            assert_absent(repr(app.state.last_error), "the app's last error")
        app.screen.query_one("#login-password", Input).focus()
        await pilot.press(*PASSWORD, "enter")
        await settle(app, pilot)
        assert not isinstance(app.screen, LoginModal)
        assert app.state.engine.logged_in
        assert_absent(screen_text(app), "the screen after the login")
        for note in app._notifications:
            assert_absent(str(note.message), "a toast")
        await pilot.press("x")  # the last error in full, if any
        await pilot.pause()
        assert_absent(screen_text(app), "the error screen")
    assert_no_secret_anywhere(home, cache_dir, debug_logs)
    assert_token_file_private(home, server.url)


# --- plain http ------------------------------------------------------------------------------

PLAIN = "unencrypted"


@pytest.mark.parametrize(("url", "warned"), [
    ("http://alyx.example.org", True),
    ("http://10.1.2.3:8000/", True),
    ("HTTP://Alyx.Example.Org", True),
    ("https://alyx.example.org", False),
    ("http://localhost:8000", False),
    ("http://127.0.0.1:8765", False),
    ("http://127.4.5.6", False),
    ("http://[::1]:8000", False),
])
def test_plain_http_to_another_host_is_warned(home: Path, tmp_path: Path, url: str,
                                              warned: bool) -> None:
    """Local mode: no request is sent, but the user learns at once the token would travel in
    clear text (the login node and Alyx are on different machines)."""
    one = One(base_url=url, cache_dir=tmp_path, mode="local")
    notes = [n for n in one.notices if PLAIN in n]
    assert bool(notes) is warned, one.notices
    if warned:
        assert len(notes) == 1 and "\n" not in notes[0] and "https" in notes[0]


def test_cli_shows_the_plain_http_warning(home: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "one_tui", "search", "--cache-dir", str(tmp_path), "--mode",
         "local", "--base-url", "http://alyx.example.org"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert any(PLAIN in line for line in proc.stderr.splitlines()), proc.stderr


async def test_app_shows_the_plain_http_warning(home: Path, tmp_path: Path) -> None:
    async def toasts(url: str) -> list[str]:
        conn = Connector(base_url=url, cache_dir=tmp_path / "c", mode="local", label=url)
        app = OneApp(conn, config=TuiConfig(), low_bandwidth=True)
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await settle(app, pilot)
            return [str(n.message) for n in app._notifications]

    assert any(PLAIN in t for t in await toasts("http://alyx.example.org"))
    assert not any(PLAIN in t for t in await toasts("https://alyx.example.org"))
