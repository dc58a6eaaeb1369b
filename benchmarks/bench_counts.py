"""Counts of a result at 10x IBL scale (issue 19: "stays instant at 200,000 results").

Builds a 200,000-session sessions table with the demo's generator (sessions only: no datasets
needed), turns it into the Arrow table the results pane holds (``tui.convert.sessions_table``),
then times, each the median of ``--runs``:

* ``engine.counts.session_counts`` (per lab, subject, project, protocol, and per week/month);
* the same counts with pandas on the DataFrame (``value_counts`` per column, projects split and
  exploded, weeks with ``dt.to_period``): what a script would write, the baseline;
* the counts panel opened in the app (Textual headless, ``c`` to the first frame of the panel).

A target, not a test: nothing is asserted. Run:
``.venv/bin/python benchmarks/bench_counts.py [--sessions 200000] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from one_tui.demo.generator import make_sessions, make_subjects
from one_tui.engine.counts import session_counts
from one_tui.tui.convert import sessions_table

TARGET = 0.1  # seconds: "instant" (one frame at 10 fps)


def median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def pandas_counts(frame: pd.DataFrame) -> dict[str, object]:
    out: dict[str, object] = {c: frame[c].value_counts() for c in ("lab", "subject",
                                                                   "task_protocol")}
    out["projects"] = frame["projects"].fillna("").str.split(",").explode().str.strip() \
        .value_counts()
    out["week"] = pd.to_datetime(frame["date"]).dt.to_period("W").value_counts().sort_index()
    return out


async def panel_time(frame: pd.DataFrame, runs: int) -> tuple[float, float]:
    """``c`` to the panel drawn, in the app with the results already shown; and an unbound
    key to the next frame, the floor of any key on this machine at that moment."""
    import tempfile

    from one_tui.tui.app import OneApp
    from one_tui.tui.config import TuiConfig
    from one_tui.tui.connect import Connector
    from one_tui.tui.screens.counts import CountsScreen
    from one_tui.tui.widgets.results import ResultsPane

    conn = Connector(base_url=None, cache_dir=tempfile.mkdtemp(), mode="local", username=None,
                     password=None, label="bench")
    app = OneApp(conn, low_bandwidth=True, config=TuiConfig(), initial_search=False)
    table = sessions_table(frame)
    times, floor = [], []
    async with app.run_test(size=(160, 48)) as pilot:
        await app.workers.wait_for_complete()
        results = app.query_one(ResultsPane)
        results.show_table(table, "bench")
        await pilot.pause()
        results.table.focus()
        for _ in range(runs):
            t0 = time.perf_counter()
            await pilot.press("z")  # bound to nothing
            await pilot.pause()
            floor.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await pilot.press("c")
            while not isinstance(app.screen, CountsScreen):
                await pilot.pause(0.001)
            await pilot.pause()  # its first frame
            times.append(time.perf_counter() - t0)
            await pilot.press("escape")
            await pilot.pause()
    return statistics.median(times), statistics.median(floor)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    ns = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    subjects = make_subjects(rng, ns.sessions)
    frame = make_sessions(rng, subjects, ns.sessions)[0]
    table = sessions_table(frame)
    counts = session_counts(table)
    print(f"{ns.sessions:,} sessions: {len(counts.by['lab'])} labs, "
          f"{len(counts.by['subject']):,} subjects, {len(counts.by['projects'])} projects, "
          f"{len(counts.by['task_protocol'])} protocols, {len(counts.timeline)} "
          f"{counts.period}s")
    t_arrow = median(lambda: session_counts(table), ns.runs)
    t_pandas = median(lambda: pandas_counts(frame), ns.runs)
    t_table = median(lambda: sessions_table(frame), max(1, ns.runs // 2))
    t_panel, t_floor = asyncio.run(panel_time(frame, ns.runs))
    ok = "✓" if t_arrow <= TARGET else "✗"
    print(f"| counts on the Arrow table (engine.counts) | {t_arrow * 1000:.0f} ms | "
          f"≤ {TARGET * 1000:.0f} ms {ok} |")
    print(f"| the same with pandas value_counts (baseline) | {t_pandas * 1000:.0f} ms | |")
    print(f"| (for scale) DataFrame -> Arrow table, done once per search | "
          f"{t_table * 1000:.0f} ms | |")
    print(f"| `c` to the counts panel drawn (app, headless) | {t_panel * 1000:.0f} ms | |")
    print(f"| (floor) an unbound key to the next frame, same app | {t_floor * 1000:.0f} ms | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
