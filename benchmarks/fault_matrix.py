"""Print the fault matrix (fault x mode -> outcome, PASS/FAIL) by playing every cell for real.

Usage: ``.venv/bin/python benchmarks/fault_matrix.py`` (about 40 s; loopback only). The
expected outcomes and the cell runner are those of ``tests/test_fault_matrix.py``, so the table
printed here is the one the test suite checks. Output is Markdown (docs/reliability.md holds a
copy). Exit status 1 if any cell fails.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path

# Never touch the user's ~/.one or caches: a throw-away HOME before the engine is imported.
_HOME = tempfile.mkdtemp(prefix="one-tui-fault-matrix-home-")
os.environ["HOME"] = _HOME
os.environ["XDG_CACHE_HOME"] = str(Path(_HOME) / ".cache")
os.environ["XDG_CONFIG_HOME"] = str(Path(_HOME) / ".config")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_fault_matrix import FAULTS, MODES, run_matrix  # noqa: E402

logging.getLogger("one_tui").addHandler(logging.NullHandler())  # the notices are printed below


def main() -> int:
    started = time.perf_counter()
    cells = run_matrix()
    total = time.perf_counter() - started
    by_cell = {(f, m): (expect, obs, probs) for f, m, expect, obs, probs in cells}

    print("| fault | " + " | ".join(MODES) + " |")
    print("|---|" + "---|" * len(MODES))
    for fault, spec in FAULTS.items():
        row = []
        for mode in MODES:
            expect, _obs, probs = by_cell[(fault, mode)]
            row.append(f"{'PASS' if not probs else 'FAIL'} {expect.outcome}")
        print(f"| {spec.label} | " + " | ".join(row) + " |")

    print("\nWhat the user was told (the one line: fallback reason, error or notice) and how long"
          " the construction and the search took; local is untouched in every row:")
    for fault, spec in FAULTS.items():
        print(f"\n- **{spec.label}**")
        for mode in MODES[1:]:
            expect, obs, probs = by_cell[(fault, mode)]
            seen = obs.fallback_reason or obs.error or (
                next((n for n in obs.notices if "returning cached" in n or "changed" in n), None))
            what = f"`{seen}`" if seen else expect.detail
            if obs.uncached_error and expect.outcome == "stale":
                what += f"; a search not in the REST cache: `{obs.uncached_error}`"
            print(f"  - {mode}: {expect.outcome} — {what} ({obs.seconds:.1f} s)")
            for p in probs:
                print(f"    - FAIL: {p}")

    failed = [(f, m) for f, m, _e, _o, probs in cells if probs]
    print(f"\n{len(cells) - len(failed)}/{len(cells)} cells PASS in {total:.1f} s")
    for f, m in failed:
        print(f"FAIL {f} / {m}: {'; '.join(by_cell[(f, m)][2])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
