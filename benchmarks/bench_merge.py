"""Merge a remote answer (one session row, ~100 dataset rows) into IBL-scale tables.

What ``One.list_datasets(eid)`` in remote mode (and the details pane) pays on every new answer:
``Cache.merge`` into the 20,000-session / 1.5M-dataset synthetic cache. Run with
``.venv/bin/python benchmarks/bench_merge.py [--dir /tmp/bench-merge] [--runs 7]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

from one_tui.demo import synth
from one_tui.engine.local.cache import Cache
from one_tui.engine.local.store import load_cache


def new_rows(cache: Cache) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One known session updated and ~100 datasets: half already in the table, half new."""
    eid = cache.sessions.index[123]
    ses = cache.sessions.loc[[eid]].copy()
    ses["task_protocol"] = "changed"
    known = cache.datasets.loc[[eid]].head(50).reset_index()
    fresh = known.copy()
    fresh["id"] = [f"0b0b0b0b-0000-4000-8000-{i:012d}" for i in range(len(fresh))]
    fresh["rel_path"] = fresh["rel_path"].astype(str) + ".new"
    return ses, pd.concat([known, fresh], ignore_index=True)


def search_page(cache: Cache) -> pd.DataFrame:
    """A remote search page (250 sessions, merged as it arrives): 200 known, 50 new."""
    page = cache.sessions.iloc[1000:1250].reset_index()
    page.loc[200:, "id"] = [f"0c0c0c0c-0000-4000-8000-{i:012d}" for i in range(50)]
    return page


LABELS = {"sessions": "1 session row", "datasets": "100 dataset rows (50 new)",
          "both": "both (remote list_datasets(eid))",
          "known": "50 dataset rows, all known, unchanged", "page": "a 250-session search page"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/bench-merge"))
    ap.add_argument("--sessions", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    if not (args.dir / "datasets.pqt").exists():
        db = synth.generate(n_sessions=args.sessions, seed=0)
        args.dir.mkdir(parents=True, exist_ok=True)
        db.write_tables(args.dir)
    cache = load_cache(args.dir)
    ses, ds = new_rows(cache)
    page = search_page(cache)
    print(f"tables: {len(cache.sessions):,} sessions, {len(cache.datasets):,} datasets; "
          f"merging {len(ses)} session row and {len(ds)} dataset rows")
    known = ds.iloc[:50]
    times: dict[str, list[float]] = {k: [] for k in LABELS}
    for _ in range(args.runs):
        for what, kw in (("sessions", {"sessions": ses}), ("datasets", {"datasets": ds}),
                         ("both", {"sessions": ses, "datasets": ds}),
                         ("known", {"datasets": known}), ("page", {"sessions": page})):
            c = load_cache(args.dir)
            c.datasets  # noqa: B018 - loaded before timing
            t0 = time.perf_counter()
            c.merge(origin="bench", **kw)
            times[what].append(time.perf_counter() - t0)
    for what, ts in times.items():
        print(f"merge {LABELS[what]:40s}: median {statistics.median(ts) * 1000:7.1f} ms "
              f"(min {min(ts) * 1000:.1f}, max {max(ts) * 1000:.1f})")


if __name__ == "__main__":
    main()
