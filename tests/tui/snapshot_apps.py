"""Deterministic apps for the SVG snapshots and for scripts/screenshots.py.

Same seed, a frozen clock, a frozen timer and the tables' dates pinned, so two runs draw the same
characters. The server takes a free port and each picture a fresh temp folder (two test runs on one
machine must not collide); what the screen shows of them (the label, the cache folder) is pinned.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector
from one_tui.tui.messages import DetailsReady, EngineStateChanged
from one_tui.tui.screens.main import MainScreen

SHOWN_LABEL = "demo Alyx on loopback"
SHOWN_CACHE_ROOT = "/tmp/one-tui-demo"  # what the cache pane shows instead of the temp folder
SHOWN_URL = "http://127.0.0.1:8765"  # ... and instead of the free port's URL
TABLES_DATE = dt.datetime(2026, 1, 15, 8, 0)
FROZEN = dt.datetime(2026, 1, 15, 9, 30)
SIZES = {"narrow": (80, 24), "wide": (160, 48)}


class SnapshotApp(OneApp):
    """The real app; only the wall-clock times and temp paths it is shown are pinned."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.main = SnapshotScreen(self)

    def on_engine_state_changed(self, message: EngineStateChanged) -> None:
        """Runs before OneApp's handler (Textual calls each class's handler in MRO order)."""
        engine = message.state
        message.state = replace(
            engine, freshness=replace(engine.freshness, loaded=FROZEN),
            cache_dir=Path(f"{SHOWN_CACHE_ROOT}/{engine.cache_dir.name}"),
            tables_dir=Path(f"{SHOWN_CACHE_ROOT}/{engine.cache_dir.name}/{engine.tag}")
            if engine.tag else None,
            base_url=SHOWN_URL if engine.base_url else None)

    def terminal_line(self) -> str:
        return "TERM=xterm-256color · COLORTERM=unset · colours: 256 · theme: textual-dark"


class SnapshotScreen(MainScreen):
    def on_details_ready(self, message: DetailsReady) -> None:
        """The session folder on disk is under the temp folder: shown pinned, as the cache's."""
        details = message.answer.value
        service = self.host.service
        if details is not None and details.disk is not None and service is not None:
            root = str(service.state().cache_dir)
            folder = details.disk.folder.replace(root, f"{SHOWN_CACHE_ROOT}/{Path(root).name}",
                                                 1)
            pinned = replace(details, disk=replace(details.disk, folder=folder))
            message.answer = replace(message.answer, value=pinned)


class SnapshotServer:
    """The demo Alyx on a free port with pinned table dates, and a temp folder for the caches.

    A context manager; ``stop()`` stops the server and removes the folder."""

    def __init__(self) -> None:
        from one_tui.demo.server import DemoServer
        from one_tui.demo.synth import generate

        self.server = DemoServer(generate(n_sessions=120, seed=0))  # port 0: a free one
        self.server.set_tables_date(TABLES_DATE)
        self.root = Path(tempfile.mkdtemp(prefix="one-tui-snapshots-"))
        self.server.start()
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> SnapshotServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server() -> SnapshotServer:
    """The demo Alyx for the pictures (the caller stops it)."""
    return SnapshotServer()


def build_app(server: SnapshotServer, name: str, mode: str = "auto",
              theme: str | None = None) -> SnapshotApp:
    """A fresh cache folder per picture (under the server's temp folder), logged in as demo."""
    folder = server.root / name
    shutil.rmtree(folder, ignore_errors=True)
    conn = Connector(base_url=server.url, cache_dir=folder, mode=mode, username="demo",
                     password="demo", label=SHOWN_LABEL)
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


async def _tags(pilot: Any) -> None:
    """t: the tag picker (the demo publishes Brainwidemap and RSS2024)."""
    app = pilot.app
    await settle(app, pilot)
    app.clear_notifications()
    app.query_one("#results").table.focus()
    await pilot.press("t")
    await settle(app, pilot)


async def _tag(pilot: Any) -> None:
    """Brainwidemap active: its sessions, 'tag Brainwidemap' on the status line. The choice
    is remembered in a file of this scene only, so later pictures start on the full tables."""
    import os

    from textual.widgets import OptionList

    app = pilot.app
    await settle(app, pilot)
    app.query_one("#results").table.focus()
    before = os.environ.get("ONE_TUI_STATE")
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["ONE_TUI_STATE"] = str(Path(scratch) / "tables.json")
        try:
            await pilot.press("t")
            await settle(app, pilot)
            app.screen.query_one(OptionList).highlighted = 1  # Brainwidemap, after full
            await pilot.press("enter")
            await settle(app, pilot)
        finally:
            if before is None:
                os.environ.pop("ONE_TUI_STATE", None)
            else:
                os.environ["ONE_TUI_STATE"] = before
    app.clear_notifications()
    await pilot.pause()


async def _subject(pilot: Any) -> None:
    """S on a session: its subject's training history, every record read (final)."""
    app = pilot.app
    await settle(app, pilot)
    app.clear_notifications()
    app.query_one("#results").table.focus()
    await pilot.press("S")
    for _ in range(100):  # the records arrive a few at a time (paced under the throttle)
        await settle(app, pilot)
        if getattr(app.screen, "final", False):
            break
        await pilot.pause(0.05)
    app.clear_notifications()
    await pilot.pause()


async def _marks(pilot: Any) -> None:
    """Details focused (3), the cursor on the datasets: two marked, a collection folded."""
    app = pilot.app
    await settle(app, pilot)
    await pilot.press("down", "enter")
    await settle(app, pilot)
    await pilot.press("3")
    # the root's dataset marked, alf folded, the next collection marked whole, cursor in it
    await pilot.press("down", "space", "enter", "down", "space", "down")
    app.clear_notifications()
    await pilot.pause()


async def _picked(pilot: Any) -> None:
    """The sessions with three marked (space, twice and once more further down)."""
    app = pilot.app
    await settle(app, pilot)
    app.query_one("#results").table.focus()
    await pilot.press("down", "space", "space", "down", "down", "space")
    await settle(app, pilot)
    app.clear_notifications()
    await pilot.pause()


async def _counts(pilot: Any) -> None:
    """c: counts of the results per lab, subject, project, protocol and week."""
    app = pilot.app
    await settle(app, pilot)
    app.clear_notifications()
    app.query_one("#results").table.focus()
    await pilot.press("c")
    await settle(app, pilot)


async def _download(pilot: Any) -> None:
    """The download panel mid-download, over Details. A real transfer's rate and ETA are never
    twice the same: the panel, Details and the status line are given one fixed progress event
    of the real plan of the marked datasets (the same widgets and texts a download drives)."""
    from types import MappingProxyType

    from one_tui.engine import ActiveFile, FetchProgress
    from one_tui.tui import downloads
    from one_tui.tui.state import Job
    from one_tui.tui.widgets.details import LIVE_REDRAW

    app = pilot.app
    await settle(app, pilot)
    await pilot.press("down", "enter")
    await settle(app, pilot)
    await pilot.press("3", "down", "down", "space")  # the alf collection, marked whole
    details = app.query_one("#details")
    ids = [r.id for r in details.marked_rows]
    plan = app.service.plan_download([details.eid], dataset_ids=ids, all_revisions=True).value
    tasks = sorted(plan.to_fetch, key=lambda t: t.rel_path)
    total = sum(t.file_size or 0 for t in tasks)
    active = tuple(ActiveFile(t, (t.file_size or 0) * share // 100, t.file_size)
                   for t, share in zip(tasks[3:7], (81, 47, 12, 3), strict=False))
    done = sum(t.file_size or 0 for t in tasks[:3]) + sum(a.done for a in active)
    progress = FetchProgress(done, total, 48_300_000.0, (total - done) / 48_300_000.0, 3,
                             len(tasks), active)
    what = f"{len(ids)} marked datasets of {details.details.session.get('subject', '')}"
    panel = app.query_one("#download-panel")
    panel.start(what, len(tasks), total)
    panel.show_progress(progress)
    for t in tasks[:3]:
        details.file_done(t.dataset_id, True)
    details.files_active({a.task.dataset_id: a.done / (a.total or 1) for a in active})
    await pilot.pause(3 * LIVE_REDRAW)  # Details redraws a download's files on a timer
    app.state = replace(app.state, jobs=MappingProxyType(
        {Job.DOWNLOAD: downloads.phase_text(progress)}))
    app.clear_notifications()
    await pilot.pause()


SCENES: dict[str, Callable[[Any], Awaitable[None]]] = {
    "main": _main,
    "details": _details,
    "cache": _cache,
    "help": _help,
    "error": _error,
    "invalid": _invalid,
    "tags": _tags,
    "tag": _tag,
    "subject": _subject,
    "counts": _counts,
    "marks": _marks,
    "picked": _picked,
    "download": _download,
}
