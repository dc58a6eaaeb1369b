"""The subject view's time to first plot, REST cache cold and warm (issue 19).

Against the demo Alyx on loopback in a process of its own (``--sessions`` synthetic sessions;
the subject with the most sessions), with ``--latency`` seconds added to every answer (the real
Alyx takes 50-100 ms a session record on this machine, its access log says), and optionally
the real Alyx
(``--real http://127.0.0.1:8090``). Each figure is the median of ``--runs``:

* the app (Textual headless): ``S`` to the first plot (the tables' protocol timeline) and to
  the plot with performance (every ``/sessions/<eid>`` record read: cold = empty REST cache, a
  fresh folder each run; warm = the same subject again);
* ONE-api 3.6.1 (the test oracle's venv) running the ONE lines the view copies (``one.search``
  then ``one.alyx.rest('sessions', 'read', id=eid)`` per session, one at a time), cold (a fresh
  cache folder) and warm (again, its REST cache answering).

A target, not a test: nothing is asserted. Run:
``.venv/bin/python benchmarks/bench_subject.py [--sessions 20000] [--latency 0.08] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.oracles

from one_tui.demo.synth import generate  # noqa: E402


@contextlib.contextmanager
def demo_process(n_sessions: int, latency: float) -> Iterator[str]:
    """The demo Alyx in a process of its own (in this one it would share the app's GIL, and
    ONE-api's process would have an unfair edge); its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "one_tui.demo.server", "--port", str(port),
                             "--sessions", str(n_sessions), "--latency", str(latency)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "Demo Alyx at" not in line:
            raise RuntimeError(f"the demo server did not start: {line!r}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def app_times(base_url: str, user: str, password: str, nickname: str, runs: int
                    ) -> dict[str, float]:
    from textual.widgets import Input

    from one_tui.tui.app import OneApp
    from one_tui.tui.config import TuiConfig
    from one_tui.tui.connect import Connector
    from one_tui.tui.screens.subject import SubjectScreen
    from one_tui.tui.widgets.results import ResultsPane

    out: dict[str, list[float]] = {"first cold": [], "full cold": [], "first warm": [],
                                   "full warm": [], "floor": []}
    for _ in range(runs):
        conn = Connector(base_url=base_url, cache_dir=Path(tempfile.mkdtemp()), mode="auto",
                         username=user, password=password, label="bench")
        app = OneApp(conn, low_bandwidth=True, config=TuiConfig())
        async with app.run_test(size=(160, 48)) as pilot:
            while app.query_one(ResultsPane).full is None:
                await pilot.pause(0.02)
            await app.workers.wait_for_complete()
            app.query_one("#f-subject", Input).value = f"^{nickname}$"
            app.query_one("#f-lab", Input).focus()
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            await app.workers.wait_for_complete()  # the datasets' preload after the results
            await pilot.pause()
            app.query_one(ResultsPane).table.focus()
            t0 = time.perf_counter()
            await pilot.press("z")  # bound to nothing: the floor of a key on this machine now
            await pilot.pause()
            out["floor"].append(time.perf_counter() - t0)
            for when in ("cold", "warm"):
                app.query_one(ResultsPane).table.focus()
                t0 = time.perf_counter()
                await pilot.press("S")
                screen: Any = app.screen
                assert isinstance(screen, SubjectScreen)
                while not screen.final:  # coarse polls: the screen notes when it drew
                    await pilot.pause(0.05)
                out[f"first {when}"].append(screen.drawn_at[0] - t0)
                out[f"full {when}"].append(screen.drawn_at[-1] - t0)
                await pilot.press("escape")
                await pilot.pause()
    return {k: statistics.median(v) for k, v in out.items()}


def engine_times(base_url: str, user: str, password: str, nickname: str, runs: int
                 ) -> dict[str, float]:
    """``EngineService.subject_history`` alone (no app), cold (a fresh folder) and warm."""
    from one_tui.engine import EngineService

    cold, warm = [], []
    for _ in range(runs):
        svc = EngineService.open(base_url=base_url, username=user, password=password,
                                 cache_dir=tempfile.mkdtemp())
        svc.connect()
        for times in (cold, warm):
            t0 = time.perf_counter()
            answer = svc.subject_history(nickname)
            times.append(time.perf_counter() - t0)
            assert answer.value is not None and answer.value.lacking is None
    return {"cold": statistics.median(cold), "warm": statistics.median(warm)}


ONE_CODE = """
import time, tempfile
from one.api import ONE
out = {}
for when in ('cold', 'warm', 'warm'):
    t0 = time.perf_counter()
    if when == 'cold':
        one = ONE(base_url=ARGS['url'], username=ARGS['user'], password=ARGS['password'],
                  silent=True, cache_dir=tempfile.mkdtemp())
        t0 = time.perf_counter()  # the login and table download are not the plot's
    eids, info = one.search(subject=ARGS['subject'], details=True)
    records = [one.alyx.rest('sessions', 'read', id=eid) for eid in eids]
    rows = [(r['start_time'][:10], r['n_trials'], r['n_correct_trials']) for r in records]
    out[when] = time.perf_counter() - t0
out['n'] = len(rows)
emit(out)
"""


def one_api_times(base_url: str, user: str, password: str, nickname: str, runs: int
                  ) -> dict[str, float]:
    from tests.oracles import run_oracle

    cold, warm = [], []
    for _ in range(runs):
        home = Path(tempfile.mkdtemp())
        got = run_oracle("3.6.1", ONE_CODE, home=home, timeout=900, args={
            "url": base_url, "user": user, "password": password, "subject": nickname})
        cold.append(got["cold"])
        warm.append(got["warm"])
    return {"cold": statistics.median(cold), "warm": statistics.median(warm)}


def report(label: str, n: int, app: dict[str, float], engine: dict[str, float],
           one: dict[str, float] | None) -> None:
    print(f"\n{label}: {n} sessions of the subject")
    print(f"| engine alone (EngineService.subject_history), cold / warm | "
          f"{engine['cold']:.2f} s / {engine['warm']:.2f} s |")
    print(f"| first plot (tables' timeline), cold / warm | {app['first cold']:.2f} s / "
          f"{app['first warm']:.2f} s |")
    print(f"| plot with performance, cold / warm | {app['full cold']:.2f} s / "
          f"{app['full warm']:.2f} s |")
    print(f"| (floor) an unbound key to the next frame, same app | {app['floor']:.2f} s |")
    if one:
        print(f"| ONE-api 3.6.1, the copied ONE lines, cold / warm | {one['cold']:.2f} s / "
              f"{one['warm']:.2f} s |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--latency", type=float, default=0.08)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--real", default=None, help="a real Alyx URL (intbrainlab/international)")
    ap.add_argument("--no-one-api", action="store_true")
    ns = ap.parse_args(argv)
    db = generate(n_sessions=ns.sessions, seed=0)
    nickname = str(db.sessions["subject"].value_counts().index[0])
    n = int((db.sessions["subject"] == nickname).sum())
    with demo_process(ns.sessions, ns.latency) as url:
        engine = engine_times(url, "demo", "demo", nickname, ns.runs)
        app = asyncio.run(app_times(url, "demo", "demo", nickname, ns.runs))
        one = None if ns.no_one_api else one_api_times(url, "demo", "demo", nickname, ns.runs)
        report(f"demo Alyx, {ns.latency * 1000:.0f} ms added to each answer", n, app, engine,
               one)
    if ns.real:
        nickname = "KS001"
        engine = engine_times(ns.real, "intbrainlab", "international", nickname, ns.runs)
        app = asyncio.run(app_times(ns.real, "intbrainlab", "international", nickname,
                                    ns.runs))
        one = None if ns.no_one_api else one_api_times(ns.real, "intbrainlab",
                                                       "international", nickname, ns.runs)
        report(f"real Alyx 3.6.1 ({nickname})", 9, app, engine, one)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
