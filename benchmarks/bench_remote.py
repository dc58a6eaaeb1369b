"""Remote timings of the One facade against the demo Alyx on loopback.

Prints, each the median of a few runs:

* a remote search answered from the warm REST cache (no request);
* a remote search of 1,000 sessions (paged by the server, REST cache bypassed);
* a first start in auto mode at IBL scale: ``cache/info`` + ``cache.zip`` download, validation of
  every table, the move into place and the load, then the first datasets access (~1.5M rows);
* a remote ``list_datasets(eid)`` merged into that table (what the details pane does online).

Run: ``.venv/bin/python benchmarks/bench_remote.py [--sessions 20000] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from one_tui.demo.server import DemoServer
from one_tui.demo.synth import generate
from one_tui.engine.one import One
from one_tui.engine.remote.client import no_cache


def median_time(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    """Median wall time in seconds of ``runs`` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def bench_search(runs: int, workdir: Path) -> None:
    db = generate(n_sessions=1000, seed=0)
    server = _start(DemoServer(db))
    try:
        one = One(server.url, username="demo", password="demo", cache_dir=workdir / "search",
                  mode="remote")
        one.search(limit=1000)  # warm the REST cache and the login

        def warm() -> object:
            return one.search(limit=1000)

        t, eids = median_time(warm, max(runs, 5))
        assert one.last_source == "REST cache", one.last_source
        print(f"remote search, warm REST cache ({len(eids)} sessions): {t * 1e3:8.1f} ms")

        def cold() -> object:
            with no_cache(one.alyx):
                return one.search()

        n = len(server.requests)
        t, eids = median_time(cold, runs)
        pages = (len(server.requests) - n) // runs
        print(f"remote search of {len(eids)} sessions from Alyx ({pages} pages): "
              f"{t * 1e3:8.1f} ms")
    finally:
        server.stop()


def bench_download(runs: int, n_sessions: int, workdir: Path) -> None:
    t0 = time.perf_counter()
    db = generate(n_sessions=n_sessions, seed=0)
    print(f"(synthetic DB of {n_sessions} sessions, {len(db.datasets):,} datasets "
          f"built in {time.perf_counter() - t0:.1f} s)")
    server = _start(DemoServer(db))
    try:
        counter = iter(range(runs))

        def first_start() -> object:
            folder = workdir / f"dl{next(counter)}"
            one = One(server.url, username="demo", password="demo", cache_dir=folder)
            assert one.mode == "auto", one.fallback_reason
            t_dl = time.perf_counter()
            rows = len(one.list_datasets(details=True, query_type="local"))
            first_access.append(time.perf_counter() - t_dl)
            shutil.rmtree(folder, ignore_errors=True)
            return rows

        first_access: list[float] = []
        t, rows = median_time(first_start, runs)
        print(f"auto first start: download + validate + load + list {rows:,} datasets: "
              f"{t:6.2f} s (of which first datasets access + list: "
              f"{statistics.median(first_access):.2f} s)")

        one = One(server.url, username="demo", password="demo", cache_dir=workdir / "merge")
        one.list_datasets(details=True, query_type="local")  # datasets table in memory
        eids = iter(db.sessions.index)

        def remote_list() -> object:
            with no_cache(one.alyx):
                return one.list_datasets(next(eids), query_type="remote")

        t, paths = median_time(remote_list, max(runs, 5))
        print(f"remote list_datasets(eid) merged into the {rows:,}-row table "
              f"({len(paths)} datasets): {t * 1e3:8.1f} ms")
    finally:
        server.stop()


def _start(server: DemoServer) -> DemoServer:
    server.start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20000,
                        help="sessions in the download benchmark (20000 gives ~1.5M datasets)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    # Never touch the real ~/.one: settings and tokens go to a throw-away HOME (read at call time).
    home = tempfile.mkdtemp(prefix="one-tui-bench-home-")
    os.environ["HOME"] = home
    os.environ["XDG_CACHE_HOME"] = str(Path(home) / ".cache")
    workdir = Path(tempfile.mkdtemp(prefix="one-tui-bench-"))
    try:
        bench_search(args.runs, workdir)
        bench_download(args.runs, args.sessions, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
