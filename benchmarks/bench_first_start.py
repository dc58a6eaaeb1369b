"""``auto``'s first start against the demo Alyx, beside the time of just unzipping cache.zip.

Usage: ``.venv/bin/python benchmarks/bench_first_start.py [--sessions 200000] [--runs 3]``

Builds the synthetic database in memory (``--sessions``; 200,000 is 10x IBL scale, ~15M datasets:
about a minute and a few GiB), serves it with the demo Alyx on loopback, then measures (medians):

* unzipping the server's ``cache.zip`` with ``zipfile`` (the floor: what any client must do);
* a fresh ``One(mode='auto')``: ``cache/info``, download, validation of every table, the move
  into place and the load, then the first ``search(lab=...)``;
* the first dataset search after it (the datasets table read, as codes).

The issue's target: the first start within 3x the unzip time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="one-tui-bench-home-")  # never the real ~/.one
    os.environ["HOME"] = home
    os.environ["XDG_CACHE_HOME"] = str(Path(home) / ".cache")
    work = Path(tempfile.mkdtemp(prefix="one-tui-bench-first-", dir="/var/tmp"))
    from one_tui.demo.server import DemoServer
    from one_tui.demo.synth import generate
    from one_tui.engine.one import One

    t0 = time.perf_counter()
    db = generate(n_sessions=args.sessions, seed=0)
    print(f"(database: {args.sessions:,} sessions, {len(db.datasets):,} datasets, "
          f"{time.perf_counter() - t0:.0f} s)", flush=True)
    server = DemoServer(db)
    server.start()
    try:
        t0 = time.perf_counter()
        blob = server.cache_zip()[0]
        print(f"(cache.zip {len(blob) / 2**20:,.0f} MiB built in {time.perf_counter() - t0:.0f} s)",
              flush=True)
        zip_path = work / "cache.zip"
        zip_path.write_bytes(blob)
        del blob
        unzip = []
        for i in range(args.runs):
            out = work / f"unzip{i}"
            t0 = time.perf_counter()
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(out)
            unzip.append(time.perf_counter() - t0)
            shutil.rmtree(out)
        first, dataset = [], []
        for i in range(args.runs):
            folder = work / f"one{i}"
            t0 = time.perf_counter()
            one = One(server.url, username="demo", password="demo", cache_dir=folder)
            assert one.mode == "auto", one.fallback_reason
            one.search(lab="cortexlab")
            first.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            one.search(dataset="spikes.times.npy")
            dataset.append(time.perf_counter() - t0)
            del one
            shutil.rmtree(folder)
        u, f, d = (statistics.median(x) for x in (unzip, first, dataset))
        print(f"unzip cache.zip (zipfile.extractall): {u:6.2f} s")
        print(f"auto first start -> first search(lab=...): {f:6.2f} s "
              f"({f / u:.1f}x the unzip; target <= 3x)")
        print(f"then the first dataset search: {d:6.2f} s")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
