"""Start-up: ONE settings and flags -> what the app connects to; the set-up screen; config."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from textual.widgets import Static

from one_tui.engine import params
from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig, load_config
from one_tui.tui.launch import configure_environment, make_connector
from tests.tui.conftest import N_SESSIONS, settle


def ns(**kw: object) -> argparse.Namespace:
    base = dict(base_url=None, cache_dir=None, mode=None, username=None, no_mouse=False,
                theme=None, low_bandwidth=False, demo=False)
    return argparse.Namespace(**{**base, **kw})


def test_no_settings_and_no_url_means_setup_screen(home: Path) -> None:
    assert make_connector(ns()) is None


def test_one_settings_give_url_user_and_cache_dir(home: Path, tmp_path: Path) -> None:
    params.register_database("https://alyx.example.org", cache_dir=tmp_path / "c", username="ann")
    try:
        conn = make_connector(ns())
        assert conn.base_url == "https://alyx.example.org"
        assert conn.username == "ann" and conn.cache_dir == tmp_path / "c"
        assert conn.mode == "auto"
        flagged = make_connector(ns(username="bob", mode="remote"))
        assert flagged.username == "bob" and flagged.mode == "remote"
    finally:
        shutil.rmtree(home / ".one", ignore_errors=True)  # later tests expect no settings


def test_cache_dir_alone_is_local_only(home: Path, tmp_path: Path) -> None:
    conn = make_connector(ns(cache_dir=str(tmp_path)))
    assert conn.base_url is None and conn.mode == "local"


def test_low_bandwidth_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TEXTUAL_ANIMATIONS", "TEXTUAL_FPS", "TEXTUAL_THEME"):
        monkeypatch.delenv(name, raising=False)
    configure_environment(True, "ansi-dark")
    assert os.environ["TEXTUAL_ANIMATIONS"] == "none"
    assert int(os.environ["TEXTUAL_FPS"]) < 60
    assert os.environ["TEXTUAL_THEME"] == "ansi-dark"


def test_broken_config_is_reported_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[keymap\n")
    cfg = load_config(path)
    assert cfg.error and str(path) in cfg.error and cfg.keymap == {}


def test_first_frame_imports_neither_pandas_nor_pyarrow() -> None:
    code = ("import sys; import one_tui.tui.launch, one_tui.tui.app; "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'httpx', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_setup_screen_explains_and_starts_the_demo(home: Path) -> None:
    from one_tui.tui.connect import demo_connector
    from one_tui.tui.screens.setup import SetupScreen

    made = []

    def factory():
        made.append(demo_connector(n_sessions=N_SESSIONS))
        return made[-1]

    app = OneApp(None, config=TuiConfig(), low_bandwidth=True, demo_factory=factory)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, SetupScreen)
            text = str(app.screen.query_one(Static).render())
            assert "one-tui --base-url" in text and "ONE.setup" in text and "press d" in text
            await pilot.press("d")
            await settle(app, pilot)
            assert not isinstance(app.screen, SetupScreen)
            assert app.query_one("#results").row_count == N_SESSIONS
            assert "mode auto" in str(app.query_one("#status", Static).render())
    finally:
        for conn in made:
            conn.close()


async def test_theme_ansi_dark_and_unknown_theme(make_app) -> None:
    app = make_app(theme="ansi-dark")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(app, pilot)
        assert app.theme == "ansi-dark"
    bad = make_app(theme="no-such-theme")
    async with bad.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(bad, pilot)
        assert any("Unknown theme" in str(n.message) for n in bad._notifications)


def test_the_demo_leaves_the_users_one_settings_alone(home) -> None:
    """A demo run used to write ~/.one/.127.0.0.1_<port> with a token, a new file every run."""
    from one_tui.tui.connect import demo_connector

    conn = demo_connector(n_sessions=10)
    try:
        service = conn.open()
        engine = service.state()
        assert engine.has_alyx and engine.mode == "auto"
        from one_tui.engine import Mode, SearchRequest

        answer = service.search_sessions(SearchRequest(query_type=Mode.REMOTE))
        assert answer.ok and len(answer.value) == 10  # a logged-in call
        folder = Path(conn.cache_dir)
        assert folder.is_dir() and str(folder).startswith(tempfile.gettempdir())
    finally:
        conn.close()
    assert not folder.exists()  # removed on exit
    assert not (home / ".one").exists() or not any((home / ".one").iterdir())


def test_a_missing_cache_dir_on_the_command_line_is_asked_about(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    conn = make_connector(argparse.Namespace(base_url=None, cache_dir=str(missing)))
    assert conn.ask_create == missing and not missing.exists()
    there = make_connector(argparse.Namespace(base_url=None, cache_dir=str(tmp_path)))
    assert there.ask_create is None


async def test_the_app_asks_before_creating_a_cache_folder(make_app, tmp_path: Path) -> None:
    from one_tui.tui.screens.confirm import ConfirmModal

    missing = tmp_path / "typo"
    app = make_app(cache_dir=missing)
    app.connector.ask_create = missing
    async with app.run_test() as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert not missing.exists()
        await pilot.press("n")
        await pilot.pause()
    assert app.return_code == 4 and not missing.exists()

    app = make_app(cache_dir=missing)
    app.connector.ask_create = missing
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        assert missing.is_dir() and app.service is not None
