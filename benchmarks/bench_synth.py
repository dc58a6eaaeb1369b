"""How fast the synthetic database and the demo Alyx are at IBL scale.

~20k sessions and ~1.5M datasets by default.

Run: ``.venv/bin/python benchmarks/bench_synth.py [--sessions 20000] [--seed 0]``.
Prints one line per measurement (seconds, sizes), medians where a request is repeated.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from one_tui.demo import synth
from one_tui.demo.server import DemoServer


def _timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t, db = _timed(lambda: synth.generate(args.sessions, seed=args.seed))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    mem = db.datasets.memory_usage(deep=True).sum() / 1e6
    print(f"generate {args.sessions} sessions: {t:.2f} s; {len(db.datasets):,} datasets "
          f"({len(db.datasets) / len(db.sessions):.1f}/session), {len(db.insertions):,} "
          f"insertions; datasets frame {mem:.0f} MB, process peak RSS {peak / 1e6:.0f} MB")

    with tempfile.TemporaryDirectory() as tmp:
        t, paths = _timed(lambda: db.write_tables(tmp))
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f} MB" for p in map(Path, paths))
        print(f"write_tables: {t:.2f} s ({sizes})")

    with DemoServer(db) as srv:
        t, _ = _timed(srv.warm_up)
        blob, _ = srv.cache_zip()
        print(f"server warm-up (zip + filter indices): {t:.2f} s; "
              f"cache.zip {len(blob) / 1e6:.1f} MB")
        token = httpx.post(f"{srv.url}/auth-token", data={"username": "demo", "password": "demo"})
        with httpx.Client(base_url=srv.url, timeout=120,
                          headers={"Authorization": f"Token {token.json()['token']}"}) as c:
            t, r = _timed(lambda: c.get("/cache.zip"), repeat=3)
            print(f"GET /cache.zip: {t:.3f} s median ({len(r.content) / 1e6:.1f} MB)")
            for query in ("/sessions?limit=1000", "/sessions?lab=cortexlab&limit=1000",
                          "/sessions?datasets=spikes.times.npy&limit=1000",
                          "/sessions?django=start_time__date__lt,2021-01-01&limit=1000",
                          "/datasets?limit=1000", "/insertions?limit=1000",
                          f"/sessions/{db.insertions.index[0][0]}"):
                t, r = _timed(lambda q=query: c.get(q), repeat=5)
                print(f"GET {query}: {t * 1000:.0f} ms median ({len(r.content) / 1e3:.0f} KB)")

            def page_all() -> int:
                n, url = 0, "/sessions?limit=1000"
                while url:
                    body = c.get(url).json()
                    n += len(body["results"])
                    url = body["next"]
                return n

            t, n = _timed(page_all)
            print(f"all {n:,} sessions in pages of 1000: {t:.2f} s")


if __name__ == "__main__":
    main()
