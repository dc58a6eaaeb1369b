"""What a hostile server or table costs one-tui now (issue 16, classes 1 and 5).

    .venv/bin/python benchmarks/bench_hostile.py [--bomb-mb 2200] [--trickle] [--rows 200000]

* a gzip bomb (``--bomb-mb`` of zeros, ~1/1000 of it on the wire) answering every GET of a
  `one-tui search --mode remote`: the command's peak RSS and time (ru_maxrss of the child);
* with ``--trickle``: the same command against a server sending one byte every 0.2 s: how long
  it holds (``Limits.max_seconds``, 120 s; about two minutes);
* the price of the rules on clean input: ``inert_view`` on the sessions table's columns
  (printable ASCII, then non-ASCII text) and ``bounded.loads`` against ``json.loads`` on a page
  of 1,000 records.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def command_against(get: object, cap: float) -> tuple[float, float, str]:
    """(seconds, peak MB, last stderr line) of a remote search against a Hostile server."""
    from tests.test_hostile_servers import Hostile

    srv = Hostile()
    srv.get = get  # type: ignore[assignment]
    env = {**os.environ, "HOME": tempfile.mkdtemp(), "PYTHONPATH": str(ROOT),
           "ONE_TUI_PASSWORD": "p"}
    cmd = [sys.executable, "-m", "one_tui", "search", "--mode", "remote", "--base-url", srv.url,
           "--cache-dir", tempfile.mkdtemp(), "--username", "u"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=cap)
        held = time.monotonic() - start
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        held = float("inf")
    srv.close()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return held, peak, (err.strip().splitlines() or [""])[-1]


def bench_rules(rows: int) -> None:
    import pyarrow as pa

    from one_tui.engine.core.bounded import loads
    from one_tui.tui.inert import inert_view

    table = pa.table({"subject": [f"KS{i % 500:03d}" for i in range(rows)],
                      "lab": ["cortexlab"] * rows,
                      "task_protocol": ["biasedChoiceWorld6.4.2"] * rows})
    for label, view in [("printable ASCII", table),
                        ("non-ASCII subjects", table.set_column(
                            0, "subject", pa.array([f"KS–é{i}" for i in range(rows)])))]:
        start = time.perf_counter()
        inert_view(view)
        print(f"inert_view, {rows:,} rows, {label}: {(time.perf_counter() - start) * 1e3:.1f} ms")
    page = json.dumps({"count": 1000, "next": None, "results": [
        {"id": "x" * 36, "subject": "KS005", "json": {"a": [1, 2]}, "narrative": "n" * 200}
        for _ in range(1000)]}).encode()
    for name, parse in [("json.loads", json.loads), ("bounded.loads", loads)]:
        start = time.perf_counter()
        for _ in range(20):
            parse(page)
        print(f"{name}, a page of 1,000 records ({len(page) // 1000} kB): "
              f"{(time.perf_counter() - start) / 20 * 1e3:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bomb-mb", type=int, default=2200)
    parser.add_argument("--trickle", action="store_true")
    parser.add_argument("--rows", type=int, default=200_000)
    ns = parser.parse_args()
    from tests.test_hostile_servers import bomb, send_json, trickle

    body = bomb(ns.bomb_mb << 20)
    held, peak, said = command_against(
        lambda h: send_json(h, body, headers={"Content-Encoding": "gzip"}), 600)
    print(f"gzip bomb, {ns.bomb_mb:,} MB in {len(body) / 1e6:.1f} MB: {held:.1f} s, "
          f"peak RSS {peak:.0f} MB — {said}")
    if ns.trickle:
        held, _, said = command_against(trickle, 600)
        print(f"one byte every 0.2 s: held {held:.1f} s — {said}")
    bench_rules(ns.rows)


if __name__ == "__main__":
    main()
