"""Bytes one-tui sends over an SSH link: the app in a real pseudo-terminal (160x48,
TERM=xterm-256color, no COLORTERM: 256 colours) on a 20,000-session cache, normal and
``--low-bandwidth``, next to tui-practice.md §2.1's reference figures.

Measured: start-up (until the first results are drawn and the screen is quiet), one page-down
and one cursor-down in the sessions table (median of ``--presses``), and the idle rate over
``--idle`` seconds with the table focused and with a filter field focused.

Run: ``.venv/bin/python benchmarks/bench_bandwidth.py [--sessions 20000] [--idle 10]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from synthetic import ibl_cache  # benchmarks/synthetic.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tui.test_bandwidth import PAGE_DOWN, PtyApp, isolated_env  # noqa: E402

CURSOR_DOWN = b"\x1b[B"
# tui-practice.md §2.1: 160x48 pty, fastdatatable with 50k rows, 256 colours.
REFERENCE = {"start-up": "164 kB", "page-down": "18.2 kB",
             "cursor-down inside the page": "1.0 kB (truecolor)",
             "cursor-down at the page edge (scrolls)": "—",
             "idle, table focused": "~0.02 kB/s",
             "idle, filter field focused": "~3 kB/s (blinking cursor)"}



def measure(folder: Path, n_sessions: int, low_bandwidth: bool, idle: float,
            presses: int, theme: str | None = None) -> dict[str, float]:
    """Bytes of each scenario for one mode (kB, or kB/s for idle)."""
    args = ["--cache-dir", str(folder), "--mode", "local", "--no-mouse"]
    if low_bandwidth:
        args.append("--low-bandwidth")
    if theme:
        args += ["--theme", theme]
    with tempfile.TemporaryDirectory() as home:
        app = PtyApp(args, env=isolated_env(Path(home)))
        try:
            app.wait_for(f"{n_sessions:,} sessions", timeout=120)
            quiet = app.wait_quiet(1.0)
            out = {"start-up": len(app.output(0, quiet)) / 1000}
            out["idle, table focused"] = app.idle_bytes(idle) / idle / 1000
            # from the first row: the cursor moves inside the visible page (2 rows redrawn)
            out["cursor-down inside the page"] = statistics.median(
                app.bytes_after(CURSOR_DOWN) for _ in range(presses)) / 1000
            out["page-down"] = statistics.median(
                app.bytes_after(PAGE_DOWN) for _ in range(presses)) / 1000
            # after a page-down the cursor is on the last visible row: down scrolls the table
            out["cursor-down at the page edge (scrolls)"] = statistics.median(
                app.bytes_after(CURSOR_DOWN) for _ in range(presses)) / 1000
            app.bytes_after(b"/")  # focus the filters
            time.sleep(0.5)
            out["idle, filter field focused"] = app.idle_bytes(idle) / idle / 1000
        finally:
            app.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of each idle window")
    parser.add_argument("--presses", type=int, default=5)
    ns = parser.parse_args(argv)
    folder = ibl_cache(ns.sessions)
    normal = measure(folder, ns.sessions, False, ns.idle, ns.presses)
    low = measure(folder, ns.sessions, True, ns.idle, ns.presses)
    ansi = measure(folder, ns.sessions, True, ns.idle, ns.presses, theme="ansi-dark")
    print(f"\none-tui in a 160x48 pty, 256 colours, {ns.sessions:,} sessions "
          f"(idle over {ns.idle:g} s, keys: median of {ns.presses})\n")
    print("| scenario | normal | --low-bandwidth | --low-bandwidth --theme ansi-dark "
          "| tui-practice §2.1 (50k rows) |")
    print("|---|---:|---:|---:|---:|")
    for name, ref in REFERENCE.items():
        unit = "kB/s" if name.startswith("idle") else "kB"
        digits = 3 if name.startswith("idle") else 1
        cells = " | ".join(f"{run[name]:.{digits}f} {unit}" for run in (normal, low, ansi))
        print(f"| {name} | {cells} | {ref} |")
    ok = low["idle, table focused"] == 0 and low["idle, filter field focused"] == 0
    print(f"\n--low-bandwidth idle is {'0 bytes/s' if ok else 'NOT 0 bytes/s'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
