"""D in the app against a file server on loopback (tests/fetch_server.py: FlatIron's layout,
HTTP Basic, Range, faults on request): the plan's question, the progress panel, escape,
Details "on this disk" live, the toast for 401 and 404, a refused plan; the disk doctor."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from one_tui.tui.app import OneApp
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector
from one_tui.tui.screens.confirm import ConfirmModal
from one_tui.tui.widgets.details import DetailsPane
from one_tui.tui.widgets.download_panel import DownloadPanel
from one_tui.tui.widgets.results import ResultsPane
from tests.fetch_server import BASE_URL, FaultServer, SmallCache, small_cache
from tests.tui.conftest import open_details, settle, status_text, toasts

WIDE = (160, 48)
NARROW = (80, 24)


@pytest.fixture
def files() -> Iterator[FaultServer]:
    srv = FaultServer(stall_seconds=60)  # a stall escape must cut short
    yield srv
    srv.close()


@pytest.fixture
def small(tmp_path: Path, home: Path, files: FaultServer) -> SmallCache:
    return small_cache(tmp_path, home, files, n_files=6, size=200_000)


def make(small: SmallCache, **kwargs: Any) -> OneApp:
    conn = Connector(base_url=BASE_URL, cache_dir=small.folder, mode="local",
                     username="tester", label="test database")
    return OneApp(conn, config=TuiConfig(), low_bandwidth=True, **kwargs)


def body(app: OneApp) -> str:
    return str(app.query_one("#details-body", Static).render())


def panel(app: OneApp) -> str:
    return str(app.query_one(DownloadPanel).render())


async def open_session(app: OneApp, pilot: Any, eid: str) -> DetailsPane:
    details: DetailsPane = await open_details(app, pilot, eid=eid)
    return details


async def confirm(app: OneApp, pilot: Any) -> str:
    """Wait for the plan's question, say yes; the question's text."""
    for _ in range(100):
        await pilot.pause(0.05)
        if isinstance(app.screen, ConfirmModal):
            break
    assert isinstance(app.screen, ConfirmModal), toasts(app)
    question = app.screen.question
    await pilot.press("y")
    return question


def mark_small(details: DetailsPane, small: SmallCache) -> set[str]:
    """The session's served files, marked (they are the default revision's first ones)."""
    ids = {str(r["id"]) for r in small.rows}
    from dataclasses import replace

    details.datasets = replace(details.datasets, marked=frozenset(ids))
    return ids


async def test_d_downloads_the_marked_datasets_details_shows_them_on_disk(
        small: SmallCache, files: FaultServer) -> None:
    app = make(small)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        details = await open_session(app, pilot, small.eid)
        assert "on this disk   0 of" in body(app)
        ids = mark_small(details, small)
        await pilot.press("D")
        question = await confirm(app, pilot)
        assert "6 files" in question and "free in" in question and str(small.folder) in question
        await settle(app, pilot)
        for row in small.rows:
            assert small.target(row).read_bytes() == small.files[small.url_path(row)]
        shown = {d.id: d for d in details.details.datasets}
        assert all(shown[i].on_disk for i in ids)
        assert "on this disk   6 of" in body(app)
        assert any("6 downloaded" in t for t in toasts(app)), toasts(app)
        assert not app.query_one(DownloadPanel).display
        assert "download" not in app.state.jobs and "downloading" not in status_text(app)
        # every request had the login up front: one GET per file, no 401 challenge
        assert [r[2] for r in files.requests()] == [200] * 6
        await pilot.press("D")  # again: all verified on this disk, nothing is asked for
        await settle(app, pilot)
        assert any("Nothing to download" in t and "all 6 files already on this disk" in t
                   for t in toasts(app)), toasts(app)
        assert not isinstance(app.screen, ConfirmModal) and len(files.requests()) == 6


async def test_the_panel_shows_progress_survives_panes_and_escape_keeps_partials(
        small: SmallCache, files: FaultServer) -> None:
    stalled = small.rows[0]
    files.fault(small.url_path(stalled), "stall")
    app = make(small)
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        details = await open_session(app, pilot, small.eid)
        mark_small(details, small)
        await pilot.press("D")
        await confirm(app, pilot)
        deadline = time.monotonic() + 30  # the five others end, the stalled one waits (a
        while time.monotonic() < deadline:  # loaded CI machine once took over 10 s for them)
            await pilot.pause(0.05)
            if "1 of 6 files left" in panel(app):
                break
        text = panel(app)
        assert "1 of 6 files left" in text and "ETA" in text and "esc cancels" in text
        assert stalled["rel_path"] in text  # the active file, by name
        assert "downloading" in status_text(app)
        for _ in range(40):  # Details marks the five that landed, while the job runs
            if "on this disk   5 of" in body(app):
                break
            await pilot.pause(0.05)
        assert "on this disk   5 of" in body(app) and "↓" in body(app)
        await pilot.press("2")  # another pane: the panel stays
        assert app.query_one(DownloadPanel).display and "files left" in panel(app)
        await pilot.press("escape")
        await settle(app, pilot)
        for _ in range(100):  # the stalled socket is shut at once, the worker ends
            if any("Partial files are kept" in t for t in toasts(app)):
                break
            await pilot.pause(0.05)
        assert any("cancelled" in t and "Partial files are kept" in t for t in toasts(app))
        assert not app.query_one(DownloadPanel).display
        assert not small.target(stalled).exists()
        parts = list(small.target(stalled).parent.glob(".*one-tui-part"))
        assert parts  # kept for D to resume (the final name only after a verify)
        await pilot.press("3")  # still answers keys
        assert app.state.pane == "details"


async def test_a_plan_that_does_not_fit_is_refused_with_the_reason(
        small: SmallCache, monkeypatch: pytest.MonkeyPatch) -> None:
    from one_tui.engine.fetch import plan

    monkeypatch.setattr(plan, "free_space", lambda folder: 1000)
    app = make(small)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        details = await open_session(app, pilot, small.eid)
        mark_small(details, small)
        await pilot.press("D")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmModal)
        refused = [t for t in toasts(app) if "Not downloaded" in t]
        assert refused and "does not fit" in refused[0] and "1.0 kB free" in refused[0]
        assert not any(small.target(r).exists() for r in small.rows)


async def test_401_names_the_settings_to_fix(small: SmallCache, files: FaultServer) -> None:
    files.login = ("iblmember", "another")
    app = make(small)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        details = await open_session(app, pilot, small.eid)
        mark_small(details, small)
        await pilot.press("D")
        await confirm(app, pilot)
        await settle(app, pilot)
        said = "\n".join(toasts(app))
        assert "HTTP 401" in said and "HTTP_DATA_SERVER_LOGIN" in said
        assert "HTTP_DATA_SERVER_PWD" in said


async def test_404_names_the_file_and_says_the_others_are_complete(
        small: SmallCache, files: FaultServer) -> None:
    gone = small.rows[2]
    files.fault(small.url_path(gone), "404")
    app = make(small)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        details = await open_session(app, pilot, small.eid)
        mark_small(details, small)
        await pilot.press("D")
        await confirm(app, pilot)
        await settle(app, pilot)
        said = [t for t in toasts(app) if "HTTP 404" in t]
        assert said and gone["rel_path"] in said[0]
        assert "other 5 files are complete" in said[0]
        assert all(small.target(r).exists() for r in small.rows if r is not gone)


async def test_d_on_the_results_downloads_the_dataset_filter_of_every_session(
        small: SmallCache, files: FaultServer) -> None:
    from textual.widgets import Input

    wanted = small.rows[1]
    name = str(wanted["rel_path"]).rsplit("/", 1)[-1]
    app = make(small)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await settle(app, pilot)
        app.query_one("#f-datasets", Input).value = name
        app.query_one("#f-datasets", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        results = app.query_one(ResultsPane)
        n = results.row_count
        assert n >= 1 and small.eid in [str(e) for e in results.full.column("eid").to_pylist()]
        results.table.focus()
        await pilot.press("D")
        question = await confirm(app, pilot)
        assert name in question and f"of {n} session" in question
        await settle(app, pilot)
        assert small.target(wanted).read_bytes() == small.files[small.url_path(wanted)]
        others = [r for r in small.rows if r is not wanted]
        assert not any(small.target(r).exists() for r in others)  # only the filter's files
        asked = {r[1] for r in files.requests()}
        assert all(p.endswith(name.rsplit(".", 1)[1]) and name.split(".")[1] in p
                   for p in asked), asked


async def test_the_disk_doctor_finds_a_stranded_file_and_a_damaged_one_and_fixes_them(
        small: SmallCache) -> None:
    from one_tui.engine.local.ondisk import with_uuid
    from one_tui.tui.screens.data import DoctorModal

    stranded, damaged = small.rows[0], small.rows[1]
    uuid_name = small.folder / small.session_path / with_uuid(stranded["rel_path"],
                                                              stranded["id"])
    uuid_name.parent.mkdir(parents=True, exist_ok=True)
    uuid_name.write_bytes(small.files[small.url_path(stranded)])
    small.target(damaged).parent.mkdir(parents=True, exist_ok=True)
    small.target(damaged).write_bytes(b"288 bytes, not the table's size")
    app = make(small)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await open_session(app, pilot, small.eid)
        assert "damaged" in body(app)
        await pilot.press("K")
        await settle(app, pilot)
        assert isinstance(app.screen, DoctorModal), (toasts(app), app.state.last_error)
        found = str(app.screen.query_one("#doctor-findings", Static).render())
        assert f"stranded: {stranded['rel_path']}" in found
        assert f"size mismatch: {damaged['rel_path']}" in found
        await pilot.press("f")  # finalise: renamed to ONE's name after its hash check
        await settle(app, pilot)
        assert small.target(stranded).read_bytes() == small.files[small.url_path(stranded)]
        assert not uuid_name.exists()
        assert "doctor" not in app.state.jobs and "checking" not in status_text(app)
        await pilot.press("K")
        await settle(app, pilot)
        assert isinstance(app.screen, DoctorModal), toasts(app)
        await pilot.press("r")  # remove: asks first
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal) and "Delete" in app.screen.question
        await pilot.press("y")
        await settle(app, pilot)
        assert not small.target(damaged).exists()
        assert small.target(stranded).exists()  # not a problem any more: left alone
        shown = {d.id: d for d in app.query_one(DetailsPane).details.datasets}
        assert shown[str(stranded["id"])].on_disk  # Details read the disk again


async def test_the_demo_serves_its_files_and_d_downloads_them(tmp_path: Path, home: Path) -> None:
    """The demo (one-tui demo) as the app runs it: its own FlatIron stand-in, given to the
    engine (not written into ~/.one)."""
    import hashlib

    from one_tui.demo.files import DATA_LOGIN, DemoFileServer, servable
    from one_tui.demo.server import DemoServer
    from one_tui.demo.synth import generate

    db = servable(generate(n_sessions=8, seed=1))
    with DemoServer(db) as alyx, DemoFileServer(db) as data:
        conn = Connector(base_url=alyx.url, cache_dir=tmp_path / "c", username="demo",
                         password="demo", label="demo", data_server=(data.url, DATA_LOGIN))
        app = OneApp(conn, config=TuiConfig(), low_bandwidth=True)
        async with app.run_test(size=WIDE, notifications=True) as pilot:
            await settle(app, pilot)
            eid = str(app.query_one(ResultsPane).full.column("eid")[0])
            details = await open_session(app, pilot, eid)
            await pilot.press("down", "down", "space")  # the first collection after the root
            marked = details.marked_rows
            assert marked
            await pilot.press("D")
            await confirm(app, pilot)
            await settle(app, pilot)
            for _ in range(100):
                if any("Download done" in t for t in toasts(app)):
                    break
                await pilot.pause(0.05)
            folder = Path(details.details.disk.folder)
            for row in marked:
                if row.exists:
                    want = db.datasets.loc[(eid, row.id)]
                    got = (folder / row.rel_path).read_bytes()
                    assert len(got) == want.file_size
                    assert hashlib.md5(got).hexdigest() == want.hash
            assert all(d.on_disk for d in details.marked_rows if d.exists)
            sent = [status for method, _path, status in data.requests if method == "GET"]
            assert sent and set(sent) == {200}  # the login up front: no 401 challenge


async def test_v_rehashes_what_k_trusts_and_finds_bytes_changed_in_place(
        small: SmallCache) -> None:
    """K trusts a file verified before whose size and mtime did not change (verify once); V
    hashes every file again and finds one whose bytes changed behind its back."""
    import os

    from one_tui.tui.screens.data import DoctorModal

    app = make(small)
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        details = await open_session(app, pilot, small.eid)
        mark_small(details, small)
        await pilot.press("D")
        await confirm(app, pilot)
        await settle(app, pilot)
        target = small.target(small.rows[3])
        st = target.stat()
        data = bytearray(target.read_bytes())
        data[100] ^= 0xFF
        target.write_bytes(bytes(data))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime
        await pilot.press("K")
        await settle(app, pilot)
        assert not isinstance(app.screen, DoctorModal)
        assert any("All 6 files on this disk" in t for t in toasts(app)), toasts(app)
        await pilot.press("V")
        await settle(app, pilot)
        assert isinstance(app.screen, DoctorModal), toasts(app)
        found = str(app.screen.query_one("#doctor-findings", Static).render())
        assert f"hash mismatch: {small.rows[3]['rel_path']}" in found
        assert "hashed" in str(app.screen.query_one("#doctor-summary", Static).render())


async def test_the_doctors_download_fetches_what_is_missing_or_damaged(small: SmallCache) -> None:
    from one_tui.tui.screens.data import DoctorModal

    damaged = small.rows[2]
    small.target(damaged).parent.mkdir(parents=True, exist_ok=True)
    small.target(damaged).write_bytes(b"not the table's size")
    app = make(small)
    async with app.run_test(size=NARROW, notifications=True) as pilot:
        details = await open_session(app, pilot, small.eid)
        mark_small(details, small)
        await pilot.press("K")
        await settle(app, pilot)
        assert isinstance(app.screen, DoctorModal), toasts(app)
        await pilot.press("d")
        await settle(app, pilot)
        for _ in range(100):
            if any("Disk doctor, download" in t for t in toasts(app)):
                break
            await pilot.pause(0.05)
        assert any("Disk doctor, download" in t for t in toasts(app)), toasts(app)
        for row in small.rows:
            assert small.target(row).read_bytes() == small.files[small.url_path(row)]
        assert not app.query_one(DownloadPanel).display
        assert "on this disk   6 of" in body(app)
