"""Local ONE engine at IBL scale: cold start, dataset searches, list_datasets and peak memory.

Usage: ``.venv/bin/python benchmarks/bench_engine.py [--sessions 20000] [--runs 5]``

Every figure but the two marked "internal" (a merge and a save, which have no public call of
their own) goes through ``One``'s public methods, the calls a user's script makes.

The synthetic cache (``one_tui.demo.synth``, ~1.5M dataset rows for 20,000 sessions) is generated
once into ``benchmarks/.data/`` (gitignored). Each figure is the median of ``--runs`` runs; cold
start and peak memory run in fresh interpreters. If ONE-api (``one``) is importable the same
figures are measured with it on the same tables; otherwise ONE-api 2.11.2's figures measured on
such tables are shown for reference.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from synthetic import ibl_cache  # benchmarks/synthetic.py, beside this script

#: figure -> (target, ONE-api 2.11.2 on comparable tables, unit)
TARGETS = {
    "cold start to first search(lab='cortexlab')": (1.0, 6.8, "s"),
    "search(datasets='spikes.times.npy')": (0.150, 7.0, "s"),
    "search(dataset='spikes')": (0.150, 7.0, "s"),
    "list_datasets()": (0.200, 2.2, "s"),
    "peak memory, both tables loaded": (400.0, 1.2 * 1024, "MiB"),
}

# one-tui through the same public calls as ONE-api: One(...) and its methods
COLD_ONE_TUI = """
import time
t0 = time.perf_counter()
from one_tui.engine import One
one = One(cache_dir={folder!r}, mode='local')
eids = one.search(lab='cortexlab')
print(time.perf_counter() - t0, len(eids))
"""

COLD_ONE_API = """
import time
t0 = time.perf_counter()
from one.api import One
one = One(cache_dir={folder!r}, mode='local')
eids = one.search(lab='cortexlab')
print(time.perf_counter() - t0, len(eids))
"""

# VmHWM (this process's peak RSS); ru_maxrss would carry the parent's peak across fork+exec.
PEAK = """
def peak_mib():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

MEMORY_ONE_TUI = PEAK + """
from one_tui.engine import One
one = One(cache_dir={folder!r}, mode='local')
one.search(lab='cortexlab')
one.search(datasets='spikes.times.npy')
one.search(dataset='spikes')
one.list_datasets()
print(peak_mib())
"""

MEMORY_ONE_API = PEAK + """
from one.api import One
one = One(cache_dir={folder!r}, mode='local')
one.search(lab='cortexlab')
one.search(datasets='spikes.times.npy')
one.list_datasets()
print(peak_mib())
"""



def run_python(code: str) -> tuple[float, str]:
    """Run code in a fresh interpreter; (wall seconds including start-up, its stdout)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return time.perf_counter() - t0, out.strip()


def median_of(fn, runs: int) -> float:  # noqa: ANN001 - any callable
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_one_tui(folder: Path, runs: int) -> dict[str, float]:
    from one_tui.engine import One

    results: dict[str, float] = {}
    cold = [run_python(COLD_ONE_TUI.format(folder=str(folder)))[0] for _ in range(runs)]
    results["cold start to first search(lab='cortexlab')"] = statistics.median(cold)
    floor = [run_python("import pandas")[0] for _ in range(runs)]
    results["(info) floor: python -c 'import pandas'"] = statistics.median(floor)
    one = One(cache_dir=str(folder), mode="local")
    t0 = time.perf_counter()
    one.search(datasets="spikes.times.npy")
    results["(info) first dataset search (reads the datasets table)"] = time.perf_counter() - t0
    results["search(datasets='spikes.times.npy')"] = median_of(
        lambda: one.search(datasets="spikes.times.npy"), runs)
    results["search(dataset='spikes')"] = median_of(lambda: one.search(dataset="spikes"), runs)
    results["list_datasets()"] = median_of(lambda: one.list_datasets(), runs)
    mem = [float(run_python(MEMORY_ONE_TUI.format(folder=str(folder)))[1]) for _ in range(3)]
    results["peak memory, both tables loaded"] = statistics.median(mem)
    results.update(measure_merge_save(folder))
    return results


def measure_merge_save(folder: Path) -> dict[str, float]:
    """A remote answer merged into the big table, then saved (on a scratch copy)."""
    from one_tui.engine.local.store import load_cache, save_cache

    scratch = folder.with_name(folder.name + "-scratch")
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(folder, scratch)
    try:
        cache = load_cache(scratch)
        rows = cache.datasets.iloc[1000:1100].copy()
        rows["exists"] = False
        t0 = time.perf_counter()
        cache.merge(origin="bench", datasets=rows)
        merged = time.perf_counter() - t0
        t0 = time.perf_counter()
        save_cache(cache)
        saved = time.perf_counter() - t0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"(info, internal) merge_tables, 100 dataset rows": merged,
            "(info, internal) save_cache of the merged datasets table": saved}


def measure_one_api(folder: Path, runs: int) -> dict[str, float] | None:
    """The same figures with ONE-api, when it is installed (3.x has no ``dataset`` term)."""
    try:
        from one.api import One  # type: ignore[import-not-found]
    except ImportError:
        return None
    results: dict[str, float] = {}
    cold = [run_python(COLD_ONE_API.format(folder=str(folder)))[0] for _ in range(runs)]
    results["cold start to first search(lab='cortexlab')"] = statistics.median(cold)
    one = One(cache_dir=str(folder), mode="local")
    results["search(datasets='spikes.times.npy')"] = median_of(
        lambda: one.search(datasets="spikes.times.npy"), runs)
    try:
        results["search(dataset='spikes')"] = median_of(lambda: one.search(dataset="spikes"),
                                                        runs)
    except ValueError:  # ONE 3.x: 'dataset' is ambiguous / removed
        pass
    results["list_datasets()"] = median_of(lambda: one.list_datasets(), runs)
    mem = [float(run_python(MEMORY_ONE_API.format(folder=str(folder)))[1]) for _ in range(3)]
    results["peak memory, both tables loaded"] = statistics.median(mem)
    return results


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} MiB" if unit == "MiB" else f"{value * 1000:.0f} ms"


def report(ours: dict[str, float], one_api: dict[str, float] | None) -> None:
    ref_name = "ONE-api (here)" if one_api else "ONE-api 2.11.2*"
    print(f"\n{'figure':48} {'one-tui':>10} {'target':>10} {'ok':>3} {ref_name:>15} {'ratio':>7}")
    for name, value in ours.items():
        target, ref, unit = TARGETS.get(name, (None, None, "s"))
        if one_api is not None:
            ref = one_api.get(name)
        ok = "" if target is None else ("yes" if value <= target else "NO")
        ratio = f"{ref / value:.0f}x" if ref and value else "-"
        print(f"{name:48} {fmt(value, unit):>10} {fmt(target, unit):>10} {ok:>3} "
              f"{fmt(ref, unit):>15} {ratio:>7}")
    if one_api is None:
        print("* ONE-api is not installed here; its column shows ONE-api 2.11.2 measured on "
              "comparable tables (issue brief). ratio = ONE-api / one-tui.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = ibl_cache(args.sessions, args.seed)
    ours = measure_one_tui(folder, args.runs)
    report(ours, measure_one_api(folder, args.runs))


if __name__ == "__main__":
    main()
