"""The figures of issue 12 (ten times IBL scale stays interactive), one-tui beside ONE-api.

Usage::

    .venv/bin/python benchmarks/bench_scale.py [--scales ibl,10x] [--runs 3]
        [--one-api PYTHON] [--one-api-runs 1] [--one-api-scales ibl]

Generates the synthetic caches once into ``benchmarks/.data/`` (gitignored, reused): IBL scale
(20,000 sessions, ~1.48M datasets) and 10x (200,000 sessions, ~14.7M datasets, ``datasets.pqt``
~1.1 GB; about a minute to generate). Every figure comes from fresh interpreters (median of
``--runs``), through ``One``'s public methods for both engines (what a user's script calls, not
our internal query functions): import and ``One(cache_dir=..., mode='local')`` plus
``one.search(lab='cortexlab')`` (cold start, from the script's first line: the interpreter's own
start is in ``bench_startup.py``), then the first dataset search (which reads the datasets
table), the next one, ``one.list_datasets()`` (first call, then again), one session's datasets
with details, and the process's peak RSS (``VmHWM``). When a Python with ONE-api is
given (``--one-api``; by default the test oracles' ONE-api 2.11.2 venv if it exists) the same
script runs with ``One(mode='local')`` and the ratio is printed. Targets are those of the issue;
nothing here is asserted in the test suite.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from synthetic import ibl_cache  # benchmarks/synthetic.py, beside this script

SCALES = {"ibl": 20_000, "10x": 200_000}
ORACLE = Path("/var/tmp/one-tui-oracles/one-api-2.11.2/bin/python")

#: (scale, figure) -> target (seconds or MiB)
TARGETS = {
    ("ibl", "cold start -> first search(lab=...)"): 0.3,
    ("ibl", "first dataset search (loads datasets)"): 0.3,
    ("ibl", "peak RSS, both tables (MiB)"): 250,
    ("10x", "cold start -> first search(lab=...)"): 1.0,
    ("10x", "first dataset search (loads datasets)"): 2.0,
    ("10x", "next dataset search"): 0.3,
    ("10x", "list_datasets()"): 0.2,
    ("10x", "peak RSS, both tables (MiB)"): 1024,
}

SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
ENGINE = {engine!r}
# the same public calls for both: One(...) and its methods, as a user's script makes them
if ENGINE == 'one-tui':
    from one_tui.engine import One
else:
    from one.api import One
one = One(cache_dir={folder!r}, mode='local')
search = one.search
list_datasets = one.list_datasets
def peak():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
out = {{}}
eids = search(lab='cortexlab')
out['cold start -> first search(lab=...)'] = time.perf_counter() - t0
# ``dataset`` (partial match on rel_path): the term ONE 2.11.2 has (3.x: ``datasets``)
t = time.perf_counter(); found = search(dataset='spikes.times.npy')
out['first dataset search (loads datasets)'] = time.perf_counter() - t
t = time.perf_counter(); search(dataset='clusters.channels.npy')
out['next dataset search'] = time.perf_counter() - t
if ENGINE == 'one-tui':
    t = time.perf_counter(); search(datasets='spikes.times.npy')
    out['(info) datasets= search (3.x file name match)'] = time.perf_counter() - t
t = time.perf_counter(); paths = list_datasets()
out['list_datasets()'] = time.perf_counter() - t
t = time.perf_counter(); list_datasets()
out['(info) list_datasets() again'] = time.perf_counter() - t
t = time.perf_counter(); rows = list_datasets(found[len(found) // 2], details=True)
out['(info) one session, details=True'] = time.perf_counter() - t
out['peak RSS, both tables (MiB)'] = peak()
print('@@' + json.dumps(out))
"""


def run(python: str, engine: str, folder: Path) -> dict[str, float]:
    code = SCRIPT.format(engine=engine, folder=str(folder))
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("@@"))
    return json.loads(line[2:])


def medians(python: str, engine: str, folder: Path, runs: int) -> dict[str, float]:
    results = [run(python, engine, folder) for _ in range(runs)]
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def fmt(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    if "MiB" in name:
        return f"{value:,.0f} MiB"
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scales", default="ibl,10x")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one-api", default=str(ORACLE) if ORACLE.exists() else None,
                        help="a Python with ONE-api installed (default: the 2.11.2 oracle venv)")
    parser.add_argument("--one-api-runs", type=int, default=1)
    parser.add_argument("--one-api-scales", default="ibl,10x")
    args = parser.parse_args()
    rows = []
    for scale in args.scales.split(","):
        folder = ibl_cache(SCALES[scale], 0)
        ours = medians(sys.executable, "one-tui", folder, args.runs)
        theirs = None
        if args.one_api and scale in args.one_api_scales.split(","):
            try:
                theirs = medians(args.one_api, "one-api", folder, args.one_api_runs)
            except subprocess.CalledProcessError as exc:
                print(f"ONE-api failed at {scale}: {exc.stderr[-500:]}", file=sys.stderr)
        for name, value in ours.items():
            ref = theirs.get(name) if theirs else None
            rows.append((scale, name, value, ref, TARGETS.get((scale, name))))
        print(f"{scale}: done", file=sys.stderr, flush=True)
    print("\n| figure | one-tui | ONE-api | ratio | target | met |\n|---|---:|---:|---:|---:|:-:|")
    for scale, name, value, ref, target in rows:
        ratio = f"{ref / value:.2g}x" if ref and value else "-"
        met = "" if target is None else ("yes" if value <= target else "no")
        print(f"| {scale}: {name} | {fmt(name, value)} | {fmt(name, ref)} | {ratio} | "
              f"{fmt(name, target) if target else '-'} | {met} |")


if __name__ == "__main__":
    main()
