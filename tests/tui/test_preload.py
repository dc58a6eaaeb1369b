"""The datasets table is read in a background worker once the first results are shown."""

from __future__ import annotations

import threading

from one_tui.engine.local.cache import Cache
from one_tui.tui.state import Job
from tests.tui.conftest import settle


def preload_workers(app):  # noqa: ANN001, ANN201
    return [w for w in app.workers if w.group == Job.PRELOAD]

WIDE = (160, 48)


async def test_datasets_are_read_after_the_first_results(make_app) -> None:
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        cache = app.service.one._cache
        assert not preload_workers(app) and Job.PRELOAD not in app.state.jobs  # ended
        assert cache.datasets_ready() and not cache.is_loaded("datasets")  # codes, not rows
        codes = cache.datasets_for_query()
        app.start_preload()  # once per set of tables
        assert not preload_workers(app)
        await settle(app, pilot)
        assert cache.datasets_for_query() is codes


async def test_a_cancelled_preload_leaves_the_table_unread(make_app, monkeypatch) -> None:
    started, release = threading.Event(), threading.Event()
    real = Cache.read_dataset_codes

    def slow(self, cancel=None):  # noqa: ANN001, ANN202 - the method's own signature
        started.set()
        release.wait(10)
        return real(self, cancel)

    monkeypatch.setattr(Cache, "read_dataset_codes", slow)
    app = make_app(mode="auto")
    async with app.run_test(size=WIDE) as pilot:
        for _ in range(200):
            await pilot.pause(0.02)
            if started.is_set():
                break
        assert started.is_set()
        assert "loading datasets" in app.state.busy
        worker = preload_workers(app)[0]
        worker.cancel()
        release.set()
        for _ in range(200):  # settle() would raise WorkerCancelled
            await pilot.pause(0.02)
            if worker.is_finished:
                break
        assert worker.is_cancelled
        assert not app.service.one._cache.datasets_ready()  # nothing kept: the next query reads it


async def test_a_corrupt_datasets_table_found_by_the_preload_is_said(make_app, db,
                                                                      tmp_path) -> None:
    """The background read is where a bad datasets.pqt is first met: its one-line notice must
    reach the screen (the app hears notices only from what a call returns)."""
    from tests.tui.conftest import toasts

    folder = tmp_path / "ONE"
    db.write_tables(folder)
    path = folder / "datasets.pqt"
    raw = bytearray(path.read_bytes())
    pages_end = len(raw) - 8 - int.from_bytes(raw[-8:-4], "little")
    raw[4:pages_end] = b"\xff" * (pages_end - 4)  # every page garbled, the footer whole:
    path.write_bytes(bytes(raw))                   # the load-time check passes
    app = make_app(mode="local", cache_dir=folder)
    async with app.run_test(size=WIDE) as pilot:
        await settle(app, pilot)
        for _ in range(100):
            if not preload_workers(app) and any("datasets" in t for t in toasts(app)):
                break
            await pilot.pause(0.02)
        assert any("datasets.pqt" in t for t in toasts(app)), toasts(app)
        assert app.query_one("#results-status").render()  # the sessions answer still stands
