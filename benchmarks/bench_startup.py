"""Start-up as a user meets it (issue 21): a cold process to the first search, beside ONE-api.

Usage::

    .venv/bin/python benchmarks/bench_startup.py [--sessions 20000] [--runs 5]
        [--one-api PYTHON ...] [--one-api-runs 1] [--top 15]

On the synthetic cache of ``benchmarks/synthetic.py`` (IBL scale by default: 20,000 sessions,
~1.48M datasets; generated once into ``benchmarks/.data/``), each figure is the median over
``--runs`` fresh processes, measured from the parent: the clock starts just before the process
is spawned, so interpreter start-up and every import count.

* ``python -c pass``: the floor (the interpreter alone);
* one-tui: ``from one_tui.engine import One; One(cache_dir=..., mode='local').search(lab=...)``,
  to the moment the search has returned (the child prints the time; its exit is not counted);
* ONE-api: the same script with ``from one.api import One`` (default: the test oracles'
  ONE-api 2.11.2 and 3.6.1 venvs under /var/tmp/one-tui-oracles when they exist), same run;
* ``one-tui search --cache-dir ... --mode local --lab cortexlab --json`` as a process, to its
  exit (what a shell script pays);
* then ``python -X importtime`` of the one-tui script: what the first search imports, by
  top-level package (self time summed) and which of our modules first imported each heavy one.

The issue's target: one-tui's cold process to the first search at IBL scale <= 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from synthetic import ibl_cache  # benchmarks/synthetic.py, beside this script

ORACLES = Path(os.environ.get("ONE_TUI_ORACLE_HOME", "/var/tmp/one-tui-oracles"))
TARGET = 0.3
LAB = "cortexlab"

#: the child: the user's first search, then the time it returned (time.time(): comparable
#: across processes; the parent took its own just before the spawn)
FIRST_SEARCH = """
from {module} import One
one = One(cache_dir={folder!r}, mode='local')
eids = one.search(lab={lab!r})
import time
print('@@', time.time(), len(eids), flush=True)
"""


def _env() -> dict[str, str]:
    """A HOME of its own (never the real ~/.one), as in the other benchmarks."""
    home = tempfile.mkdtemp(prefix="one-tui-bench-home-")
    return {**os.environ, "HOME": home, "XDG_CACHE_HOME": str(Path(home) / ".cache"),
            "XDG_CONFIG_HOME": str(Path(home) / ".config")}


def first_search(python: str, module: str, folder: Path, env: dict[str, str]) -> tuple[float, int]:
    code = FIRST_SEARCH.format(module=module, folder=str(folder), lab=LAB)
    t0 = time.time()
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{python} {module}: {proc.stderr[-800:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("@@"))
    _, when, n = line.split()
    return float(when) - t0, int(n)


def wall(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd}: {proc.stderr[-800:]}")
    return time.perf_counter() - t0


def median_of(runs: int, measure) -> float:  # noqa: ANN001 - a zero-argument callable
    return statistics.median(measure() for _ in range(runs))


def importtime(folder: Path, env: dict[str, str]) -> list[tuple[int, int, int, str]]:
    """(depth, self µs, cumulative µs, module) per import of the one-tui first search."""
    code = FIRST_SEARCH.format(module="one_tui.engine", folder=str(folder), lab=LAB)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                          text=True, env=env, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((depth, int(self_us), int(cum_us), name.strip()))
    return rows


def import_report(rows: list[tuple[int, int, int, str]], top: int) -> None:
    by_package: dict[str, int] = defaultdict(int)
    for _, self_us, _, name in rows:
        by_package[name.split(".")[0]] += self_us
    total = sum(by_package.values())
    # which of our modules first imported each package: -X importtime prints a module after
    # its own imports, so a line's ancestors are the following lines of smaller depth
    importer: dict[str, str] = {}
    for i, (depth, _, _, name) in enumerate(rows):
        package = name.split(".")[0]
        if package in importer or package == "one_tui":
            continue
        importer[package] = "-"
        for d2, _, _, parent in rows[i + 1:]:
            if d2 < depth:
                depth = d2
                if parent.startswith("one_tui"):
                    importer[package] = parent
                    break
    print(f"\nImports of the first search (python -X importtime): {total / 1e6:.3f} s in all, "
          f"{len(rows)} modules")
    print("\n| package | self time, summed | share | first imported by |\n|---|---:|---:|---|")
    for package, us in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]:
        print(f"| {package} | {us / 1000:.0f} ms | {100 * us / total:.0f} % | "
              f"{importer.get(package, '-')} |")
    ours = [(cum, name) for depth, _, cum, name in rows if name.startswith("one_tui")]
    print("\n| our module | cumulative import |\n|---|---:|")
    for cum, name in sorted(ours, reverse=True)[:top]:
        print(f"| {name} | {cum / 1000:.0f} ms |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--one-api", action="append", metavar="PYTHON",
                        help="a Python with ONE-api (default: the oracle venvs that exist)")
    parser.add_argument("--one-api-runs", type=int, default=1)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    folder = ibl_cache(args.sessions, 0)
    env = _env()
    one_tui_cli = str(Path(sys.executable).with_name("one-tui"))
    others = args.one_api or [str(p) for v in ("2.11.2", "3.6.1")
                              if (p := ORACLES / f"one-api-{v}" / "bin" / "python").exists()]
    first_search(sys.executable, "one_tui.engine", folder, env)  # page cache warm, .pyc written
    rows: list[tuple[str, float, float | None]] = []
    rows.append(("`python -c pass` (the floor)",
                 median_of(args.runs, lambda: wall([sys.executable, "-c", "pass"], env)), None))
    ours = median_of(args.runs, lambda: first_search(sys.executable, "one_tui.engine", folder,
                                                      env)[0])
    rows.append((f"one-tui: cold process -> first `search(lab='{LAB}')`", ours, TARGET))
    for python in others:
        version = subprocess.run([python, "-c", "import one; print(one.__version__)"],
                                 capture_output=True, text=True, env=env).stdout.strip()
        try:
            theirs = median_of(args.one_api_runs,
                               lambda p=python: first_search(p, "one.api", folder, env)[0])
        except RuntimeError as exc:
            print(f"ONE-api {version} failed: {exc}", file=sys.stderr)
            continue
        rows.append((f"ONE-api {version}: cold process -> first `search(lab='{LAB}')`",
                     theirs, None))
    cli = [one_tui_cli, "search", "--cache-dir", str(folder), "--mode", "local", "--lab", LAB,
           "--json"]
    rows.append((f"`one-tui search --mode local --lab {LAB} --json`, process to exit",
                 median_of(args.runs, lambda: wall(cli, env)), None))
    print(f"\nStart-up at {args.sessions:,} sessions (median of {args.runs} one-tui runs, "
          f"{args.one_api_runs} ONE-api)\n")
    print("| figure | time | target | met |\n|---|---:|---:|:-:|")
    for name, value, target in rows:
        met = "" if target is None else ("yes" if value <= target else "no")
        shown = f"{target:.2f} s" if target else "-"
        ratio = f" ({value / ours:.0f}x one-tui)" if name.startswith("ONE-api") else ""
        print(f"| {name} | {value:.3f} s{ratio} | {shown} | {met} |")
    import_report(importtime(folder, env), args.top)
    print("\n@@" + json.dumps({name: value for name, value, _ in rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
