"""How fast one-tui answers, measured the way a user feels it, next to the targets.

* first frame: process start -> the top bar drawn in a real pseudo-terminal;
* first results: process start -> "N sessions · local tables" drawn;
  on the demo (server start + download included) and on an IBL-scale cache (20,000 sessions,
  ~1.5 M datasets, generated once with demo.synth into benchmarks/.data/);
* keypress: a key answered (its action run) while a paged remote search runs on a slow
  demo Alyx with 20,000 sessions.

Run: ``.venv/bin/python benchmarks/bench_tui.py [--runs 3] [--sessions 20000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic import ibl_cache  # benchmarks/synthetic.py, beside this script

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1bP[^\x1b]*\x1b\\")
TARGETS = {"first frame": 0.3, "first results (IBL scale)": 1.0, "keypress during search": 0.05}

LAUNCH = (
    "import argparse, sys\n"
    "from one_tui.tui.launch import launch\n"
    "sys.exit(launch(argparse.Namespace(base_url=None, cache_dir={cache_dir!r}, mode={mode!r},"
    " username=None, no_mouse=True, theme=None, low_bandwidth=True, demo={demo!r})))\n"
)



def time_in_pty(code: str, marks: dict[str, bytes], timeout: float = 60) -> dict[str, float]:
    """Seconds from spawn until each mark's text appears on the terminal."""
    import fcntl
    import signal
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("COLORTERM", None)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=slave,
                            stderr=slave, env=env, start_new_session=True, close_fds=True)
    os.close(slave)
    seen: dict[str, float] = {}
    out = b""
    try:
        while len(seen) < len(marks) and time.perf_counter() - start < timeout:
            ready, _, _ = select.select([master], [], [], 0.01)
            if not ready:
                continue
            try:
                out += os.read(master, 1 << 16)
            except OSError:
                break
            text = ANSI.sub(b"", out)
            for name, needle in marks.items():
                if name not in seen and needle in text:
                    seen[name] = time.perf_counter() - start
    finally:
        proc.send_signal(signal.SIGHUP)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.close(master)
    return seen


MARKS = {"first frame": b"1 Filters", "first results": b"sessions \xc2\xb7 local tables"}

# The floor: a Textual app with a Static, an Input and a Footer (what the framework costs here).
HELLO = (
    "from textual.app import App\n"
    "from textual.widgets import Footer, Input, Static\n"
    "class Hello(App):\n"
    "    def compose(self):\n"
    "        yield Static('1 Filters'); yield Input(); yield Footer()\n"
    "Hello().run(mouse=False)\n"
)


def bench_startup(runs: int, n_sessions: int) -> dict[str, list[float]]:
    folder = ibl_cache(n_sessions)
    results: dict[str, list[float]] = {}
    for _ in range(runs):
        ibl = time_in_pty(LAUNCH.format(cache_dir=str(folder), mode="local", demo=False), MARKS)
        demo = time_in_pty(LAUNCH.format(cache_dir=None, mode=None, demo=True), MARKS)
        for name, value in ibl.items():
            results.setdefault(f"{name} (IBL scale)", []).append(value)
        for name, value in demo.items():
            results.setdefault(f"{name} (demo)", []).append(value)
        hello = time_in_pty(HELLO, {"first frame": MARKS["first frame"]})
        results.setdefault("first frame (Textual hello world)", []).extend(hello.values())
    return results


async def _keypress(n_sessions: int, presses: int) -> tuple[list[float], int]:
    from one_tui.demo.server import DemoServer
    from one_tui.demo.synth import generate
    from one_tui.tui.app import OneApp
    from one_tui.tui.connect import Connector

    server = DemoServer(generate(n_sessions=n_sessions, seed=0)).start()
    latencies: list[float] = []
    pages = 0
    try:
        conn = Connector(base_url=server.url, cache_dir=Path(tempfile.mkdtemp()), mode="remote",
                         username="demo", password="demo")
        app = OneApp(conn, low_bandwidth=True)
        async with app.run_test(size=(160, 48)) as pilot:
            while app.service is None:
                await pilot.pause(0.05)
            answered: list[float] = []
            real = app.action_toggle_bypass

            def timed() -> None:
                answered.append(time.perf_counter())
                real()

            app.action_toggle_bypass = timed  # type: ignore[method-assign]
            server.faults.latency = 0.02
            app.main.action_search()
            while (app.state.search.running
                   and " of " not in app.query_one("#results-status").render().plain):
                await pilot.pause(0.01)  # pages arriving (a small database may finish first)
            for _ in range(presses):
                sent = time.perf_counter()
                app.simulate_key("b")
                while len(answered) <= len(latencies) and time.perf_counter() - sent < 2:
                    await asyncio.sleep(0.001)
                if len(answered) <= len(latencies):
                    raise RuntimeError(f"a key press went unanswered for 2 s; focus: {app.focused}")
                latencies.append(answered[-1] - sent)
                await asyncio.sleep(0.05)
            pages = sum(1 for r in server.requests if r.startswith("GET /sessions"))
            app.workers.cancel_all()
    finally:
        server.faults.latency = 0
        server.stop()
    return latencies, pages


def show(rows: list[tuple[str, float | None, float | None]]) -> None:
    print(f"\n{'measure':<36} {'median':>9} {'worst':>9} {'target':>9}")
    for name, (median, worst) in ((r[0], r[1:]) for r in rows):
        target = next((v for k, v in TARGETS.items() if name.startswith(k.split(" (")[0])
                       and (k.endswith("scale)") == name.endswith("scale)")
                            or "(" not in k)), None)
        t = f"≤ {target:.2f} s" if target else "–"
        ok = "" if target is None or median is None else ("  ok" if median <= target else "  SLOW")
        print(f"{name:<36} {median:>8.3f}s {worst:>8.3f}s {t:>9}{ok}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--presses", type=int, default=20)
    args = parser.parse_args()
    startup = bench_startup(args.runs, args.sessions)
    latencies, pages = asyncio.run(_keypress(args.sessions, args.presses))
    rows = [(name, statistics.median(v), max(v)) for name, v in sorted(startup.items())]
    rows.append(("keypress during search", statistics.median(latencies), max(latencies)))
    show(rows)
    print(f"\n({args.runs} runs; keypress: {len(latencies)} presses during a remote search of "
          f"{args.sessions:,} sessions, {pages} pages so far; Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
