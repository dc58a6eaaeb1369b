"""The app's background read of the datasets table: how long the UI thread can be held up.

Usage: ``.venv/bin/python benchmarks/bench_preload.py [--sessions 200000] [--runs 3]``

In a fresh process per run: ``One(mode='local')`` and a sessions search (what the app shows
first), then ``One.preload_datasets()`` in a thread (what ``tui/preload.py`` runs) while the
main thread, standing in for Textual's, sleeps 1 ms at a time and records how late it wakes up
(the GIL held by the reader). Then the first dataset search, which the preload made cheap.
Target (issue 12): a keypress answered within 50 ms while the table loads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from synthetic import ibl_cache  # benchmarks/synthetic.py, beside this script

SCRIPT = r"""
import json, threading, time
from one_tui.engine.one import One
one = One(cache_dir={folder!r}, mode='local')
one.search_sessions()
done = threading.Event()
out = {{}}
def work():
    t = time.perf_counter()
    one.preload_datasets()
    out['preload (background)'] = time.perf_counter() - t
    done.set()
thread = threading.Thread(target=work)
stalls = []
thread.start()
while not done.is_set():
    t = time.perf_counter()
    time.sleep(0.001)
    stalls.append(time.perf_counter() - t - 0.001)
thread.join()
stalls.sort()
out['UI thread held up, worst'] = stalls[-1]
out['UI thread held up, 99th percentile'] = stalls[int(len(stalls) * 0.99)]
t = time.perf_counter()
one.search(dataset='spikes.times.npy')
out['first dataset search after the preload'] = time.perf_counter() - t
print('@@' + json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder = ibl_cache(args.sessions, 0)
    runs = []
    for _ in range(args.runs):
        proc = subprocess.run([sys.executable, "-c", SCRIPT.format(folder=str(folder))],
                              capture_output=True, text=True, check=True)
        line = next(x for x in proc.stdout.splitlines() if x.startswith("@@"))
        runs.append(json.loads(line[2:]))
    for name in runs[0]:
        values = [r[name] for r in runs]
        print(f"{name:45} median {statistics.median(values) * 1000:8.1f} ms, "
              f"worst {max(values) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
