"""What a new user trips over (issue 18, items 1-6, 9 and 11), each as the user sees it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from textual.widgets import Input

from one_tui.engine.core.types import LOCAL_MEANS
from one_tui.tui.app import OneApp
from one_tui.tui.screens.help import help_text
from one_tui.tui.widgets.cache_pane import CachePane
from tests.tui.conftest import requests_since, settle, status_text

WIDE = (160, 48)
README = Path(__file__).parents[2] / "README.md"


def words(text: str) -> str:
    """Text as read: markup (``**``, backticks) and line breaks gone."""
    return re.sub(r"\s+", " ", text.replace("**", "").replace("`", ""))


async def search(app: OneApp, pilot: Any, key: str = "enter", **fields: str) -> None:
    for name, value in fields.items():
        app.query_one(f"#f-{name}", Input).value = value
    app.query_one("#f-lab", Input).focus()
    await pilot.press(key)
    await settle(app, pilot)


# -- 1. what local means -----------------------------------------------------------------------

async def test_local_mode_never_says_offline_while_it_asks_alyx(make_app, server) -> None:
    app = make_app(mode="local")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        assert "offline" not in status_text(app) and "Alyx on request" in status_text(app)
        start = len(server.requests)
        await search(app, pilot, session_qc="PASS")  # an Alyx-only filter
        assert requests_since(server, start, "/sessions")
        line = status_text(app)
        assert "last: Alyx" in line and "offline" not in line
        cache = str(app.query_one("#cache-body").render())
        assert words(LOCAL_MEANS) in words(cache)
        assert app.query_one(CachePane) is not None


def test_help_and_readme_say_what_local_means() -> None:
    assert words(LOCAL_MEANS) in words(help_text())
    assert words(LOCAL_MEANS) in words(README.read_text(encoding="utf-8"))
    assert "no network at all" not in README.read_text(encoding="utf-8")
