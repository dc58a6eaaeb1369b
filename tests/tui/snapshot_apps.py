"""Deterministic apps for the SVG snapshots and for scripts/screenshots.py.

Same seed, a fixed port and cache folder (both appear on screen), a frozen clock, a frozen timer
and the tables' dates pinned, so two runs draw the same characters.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector

SNAPSHOT_PORT = 47831
SNAPSHOT_ROOT = Path("/tmp/one-tui-snapshots")
TABLES_DATE = dt.datetime(2026, 1, 15, 8, 0)
FROZEN = dt.datetime(2026, 1, 15, 9, 30)
SIZES = {"narrow": (80, 24), "wide": (160, 48)}


class SnapshotApp(OneApp):
    """The real app; only the wall-clock times it is shown are pinned to FROZEN."""

    def _post_state(self, one: Any) -> None:
        if not getattr(one, "_snapshot_frozen", False):
            real = one.cache_info

            def frozen() -> dict[str, Any]:
                info = dict(real())
                info["loaded_time"] = FROZEN
                created = info.get("created_time")
                if created is not None and info.get("cache_expiry") is not None:
                    info["expired"] = FROZEN - created >= info["cache_expiry"]
                return info

            one.cache_info = frozen
            one._snapshot_frozen = True
        super()._post_state(one)

    def terminal_line(self) -> str:
        return "TERM=xterm-256color · COLORTERM=unset · colours: 256 · theme: textual-dark"


def start_server() -> Any:
    """The demo Alyx on the fixed port with pinned table dates (the caller stops it)."""
    from one_tui.demo.server import DemoServer
    from one_tui.demo.synth import generate

    server = DemoServer(generate(n_sessions=120, seed=0), port=SNAPSHOT_PORT)
    server.set_tables_date(TABLES_DATE)
    return server.start()


def build_app(server: Any, name: str, mode: str = "auto", theme: str | None = None) -> SnapshotApp:
    """A fresh cache folder per picture, logged in as demo."""
    folder = SNAPSHOT_ROOT / name
    shutil.rmtree(folder, ignore_errors=True)
    conn = Connector(base_url=server.url, cache_dir=folder, mode=mode, username="demo",
                     password="demo", label=f"demo Alyx at {server.url}")
    return SnapshotApp(conn, config=TuiConfig(), low_bandwidth=True, theme=theme,
                       clock=lambda: FROZEN, timer=lambda: 0.0)


async def settle(app: OneApp, pilot: Any) -> None:
    from tests.tui.conftest import settle as _settle

    await _settle(app, pilot)


async def _main(pilot: Any) -> None:
    app = pilot.app
    await settle(app, pilot)
    app.clear_notifications()


async def _details(pilot: Any) -> None:
    app = pilot.app
    await settle(app, pilot)
    await pilot.press("down", "enter")
    await settle(app, pilot)
    app.clear_notifications()


async def _cache(pilot: Any) -> None:
    app = pilot.app
    await settle(app, pilot)
    await pilot.press("4")
    await settle(app, pilot)
    app.clear_notifications()


async def _help(pilot: Any) -> None:
    app = pilot.app
    await settle(app, pilot)
    app.clear_notifications()
    await pilot.press("f1")
    await pilot.pause()


async def _error(pilot: Any) -> None:
    """A remote search the server rejects (unknown django field): toast + failed search."""
    app = pilot.app
    from textual.widgets import Input

    await settle(app, pilot)
    app.clear_notifications()
    app.query_one("#f-django", Input).value = "nosuchfield__icontains,x"
    app.query_one("#f-lab", Input).focus()
    await pilot.press("enter")
    await settle(app, pilot)
    app.query_one("#results").table.focus()
    await pilot.pause()


async def _invalid(pilot: Any) -> None:
    """Bad values flagged on their fields."""
    app = pilot.app
    from textual.widgets import Input

    await settle(app, pilot)
    app.clear_notifications()
    await pilot.press("1")
    for field, value in (("date_from", "2024-13-01"), ("number", "abc"), ("subject", "KS00[5")):
        app.query_one(f"#f-{field}", Input).value = value
    app.query_one("#f-lab", Input).focus()
    await pilot.press("enter")
    await pilot.pause()
    app.clear_notifications()
    await pilot.pause()


SCENES: dict[str, Callable[[Any], Awaitable[None]]] = {
    "main": _main,
    "details": _details,
    "cache": _cache,
    "help": _help,
    "error": _error,
    "invalid": _invalid,
}
