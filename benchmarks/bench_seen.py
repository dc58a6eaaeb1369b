"""What a user sees, timed from outside the app (issue 18, items 8 and 12).

Everything here runs the app as a user does, in a real pseudo-terminal, and reads the screen
it draws: the clock starts in this process just before the spawn (interpreter start-up and
imports count) or just before the keys are written, and stops when the text appears on the
terminal. No hook inside the app.

* start: spawn -> first frame (the top bar) and -> first results ("N sessions ·") on the demo
  (``one-tui demo``: its server's start and the tables' download included) and on the real
  Alyx as an existing ONE-api user (``one-tui`` with no flags, ~/.one holding ONE's settings
  for http://127.0.0.1:8090: first run in a fresh HOME, then a second run with the token and
  the tables on disk);
* F1 during a remote search: ``one-tui demo --sessions 20000 --mode remote``; while the paged
  search runs, F1 written to the terminal -> the help drawn (key to screen), then escape;
* paste: the lab filter gets N characters (as keys, and as a bracketed paste), then F1 ->
  the help drawn: how long the app was frozen by the paste.

Run: ``.venv/bin/python benchmarks/bench_seen.py [--runs 3] [--presses 10] [--real-alyx URL]``
(``--real-alyx ''`` skips it). ``PYTHONPATH=/path/to/other/checkout`` times another tree.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1bP[^\x1b]*\x1b\\"
                  rb"|\x1b[()][0-9A-B]")
FRAME = b"1 Filters"  # the top bar
RESULTS = b"sessions \xc2\xb7"  # "N sessions · <source> · x s"
HELP = b"Browse the sessions of an Alyx"  # the help screen's first line
F1 = b"\x1bOP"
F9 = b"\x1b[20~"
ESC = b"\x1b"
APP = [sys.executable, "-m", "one_tui"]


class Term:
    """The app in a pty; ``seen`` is its screen output so far with the escapes removed."""

    def __init__(self, argv: list[str], env: dict[str, str], cols: int = 160,
                 rows: int = 48) -> None:
        import fcntl
        import struct
        import termios

        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.start = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self.raw = b""

    @property
    def seen(self) -> bytes:
        return ANSI.sub(b"", self.raw)

    def pump(self, wait: float = 0.01) -> None:
        if select.select([self.master], [], [], wait)[0]:
            try:
                self.raw += os.read(self.master, 1 << 16)
            except OSError:
                pass

    def until(self, needle: bytes, after: int = 0, timeout: float = 120) -> float:
        """perf_counter when ``needle`` shows in the output past raw offset ``after``."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if needle in ANSI.sub(b"", self.raw[after:]):
                return time.perf_counter()
            self.pump()
        raise TimeoutError(f"{needle!r} not seen in {timeout} s: {self.seen[-300:]!r}")

    def quiet(self, seconds: float, timeout: float = 10) -> None:
        """Read until the app has written nothing for ``seconds``."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            size = len(self.raw)
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                self.pump()
            if len(self.raw) == size:
                return

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if select.select([], [self.master], [], 0.05)[1]:
                view = view[os.write(self.master, view[:4096]):]
            self.pump(0)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGHUP)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def home_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "HOME": str(home), "TERM": "xterm-256color",
           "XDG_CACHE_HOME": str(home / ".cache"), "XDG_CONFIG_HOME": str(home / ".config")}
    env.pop("COLORTERM", None)
    env.pop("ONE_TUI_PASSWORD", None)
    return env


def one_user_home(url: str) -> tuple[Path, dict[str, str]]:
    """A fresh HOME whose ~/.one holds ONE-api's settings for ``url`` (as ONE's setup writes
    them), its cache folder and a saved token (an existing ONE user's: one ``one-tui search
    --mode remote`` with $ONE_TUI_PASSWORD logs in and saves it; no tables are downloaded)."""
    home = Path(tempfile.mkdtemp(prefix="one-tui-bench-home-"))
    key = url.split("://", 1)[1].replace(":", "_").rstrip("/")
    cache = home / "Downloads" / "ONE" / key
    cache.mkdir(parents=True)
    one = home / ".one"
    one.mkdir()
    data = json.loads(Path("/tmp/alyx-run/populated.json").read_text())["data_server"]
    params = {"ALYX_URL": url, "ALYX_LOGIN": "intbrainlab", **data["one_params"]}
    (one / f".{key}").write_text(json.dumps(params))
    (one / ".caches").write_text(json.dumps({"CLIENT_MAP": {key: str(cache)}, "DEFAULT": key}))
    env = home_env(home)
    login = {**env, "ONE_TUI_PASSWORD": "international"}
    subprocess.run([*APP, "search", "--mode", "remote", "--lab", "cortexlab", "--json"],
                   env=login, capture_output=True, check=True, timeout=120)
    return home, env


def start_marks(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawn to the first frame and to the first results."""
    term = Term(argv, env)
    try:
        frame = term.until(FRAME) - term.start
        results = term.until(RESULTS) - term.start
    finally:
        term.close()
    return frame, results


#: the floor, in the same run: a Textual app with a Static, an Input and a Footer
HELLO = ("from textual.app import App\n"
         "from textual.widgets import Footer, Input, Static\n"
         "class Hello(App):\n"
         "    def compose(self):\n"
         "        yield Static('1 Filters'); yield Input(); yield Footer()\n"
         "Hello().run(mouse=False)\n")


def first_frame_of_hello(env: dict[str, str]) -> float:
    term = Term([sys.executable, "-c", HELLO], env)
    try:
        return term.until(FRAME) - term.start
    finally:
        term.close()


def bench_start(runs: int, real_alyx: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}

    def add(name: str, pair: tuple[float, float]) -> None:
        out.setdefault(f"first frame, {name}", []).append(pair[0])
        out.setdefault(f"first results, {name}", []).append(pair[1])

    for _ in range(runs):
        home = Path(tempfile.mkdtemp(prefix="one-tui-bench-home-"))
        out.setdefault("(floor) first frame, a Textual hello world", []).append(
            first_frame_of_hello(home_env(home)))
        add("demo (120 sessions)", start_marks([*APP, "demo", "--sessions", "120"],
                                               home_env(home)))
        shutil.rmtree(home, ignore_errors=True)
        if real_alyx:
            home, env = one_user_home(real_alyx)
            add("real Alyx, first run (token saved; tables downloaded)", start_marks(APP, env))
            add("real Alyx, next run (tables on disk)", start_marks(APP, env))
            shutil.rmtree(home, ignore_errors=True)
    return out


def bench_f1(sessions: int, presses: int) -> tuple[list[float], list[float], int]:
    """F1 -> help drawn, while a remote search of ``sessions`` pages in, and then (the floor:
    the help's own drawing) once it has ended."""
    home = Path(tempfile.mkdtemp(prefix="one-tui-bench-home-"))
    term = Term([*APP, "demo", "--sessions", str(sessions), "--mode", "remote"], home_env(home))
    latencies: list[float] = []
    idle: list[float] = []

    def press() -> float:
        mark = len(term.raw)
        sent = time.perf_counter()
        term.write(F1)
        took = term.until(HELP, after=mark, timeout=30) - sent
        term.write(ESC)
        term.quiet(0.3, timeout=1.5)  # the help drawn away (progress never stops long)
        return took

    try:
        term.until(b"mode remote \xc2\xb7 online", timeout=300)  # connected (no search yet)
        term.write(F9)
        term.until(b" of ", timeout=120)  # "250 of 20,000 sessions": the paged search runs
        for _ in range(presses):
            if RESULTS in term.seen:
                break  # the search ended: what follows would not be "during" it
            latencies.append(press())
        term.until(RESULTS, timeout=300)
        term.quiet(1.0, timeout=5)
        idle.extend(press() for _ in range(3))
    finally:
        term.close()
        shutil.rmtree(home, ignore_errors=True)
    return latencies, idle, sessions


def bench_paste(sizes: list[int]) -> dict[str, float]:
    """N characters into the lab filter (keys / bracketed paste), then F1 -> help drawn."""
    out: dict[str, float] = {}
    for how in ("keys", "bracketed paste"):
        for n in sizes:
            home = Path(tempfile.mkdtemp(prefix="one-tui-bench-home-"))
            term = Term([*APP, "demo", "--sessions", "120"], home_env(home))
            try:
                term.until(RESULTS)
                term.write(b"/")
                time.sleep(0.5)
                term.pump()
                text = ("abcdefghij" * (n // 10 + 1))[:n].encode()
                data = b"\x1b[200~" + text + b"\x1b[201~" if how != "keys" else text
                mark = len(term.raw)
                sent = time.perf_counter()
                term.write(data + F1)
                out[f"{n:,} characters as {how}"] = term.until(HELP, after=mark) - sent
            finally:
                term.close()
                shutil.rmtree(home, ignore_errors=True)
    return out


def show(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    for name, value in rows:
        print(f"  {name:<64} {value}")


def stats(values: list[float]) -> str:
    if not values:
        return "–"
    ms = [v * 1000 for v in values]
    return (f"median {statistics.median(ms):7.0f} ms   min {min(ms):6.0f}   max {max(ms):6.0f}"
            f"   (n={len(ms)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--presses", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--paste", default="200,3000,6000")
    parser.add_argument("--real-alyx", default=os.environ.get("ONE_TUI_REAL_ALYX",
                                                              "http://127.0.0.1:8090"))
    parser.add_argument("--only", choices=("start", "f1", "paste"), action="append")
    args = parser.parse_args()
    only = set(args.only or ("start", "f1", "paste"))
    what: dict[str, Callable[[], None]] = {}

    def start() -> None:
        got = bench_start(args.runs, args.real_alyx)
        show(f"Start, spawn -> screen ({args.runs} runs)",
             [(k, stats(v)) for k, v in got.items()])

    def f1() -> None:
        latencies, idle, n = bench_f1(args.sessions, args.presses)
        show(f"F1 -> help drawn during a remote search of {n:,} sessions (demo)",
             [("key to screen", stats(latencies)),
              ("(floor) key to screen once the search ended", stats(idle))])

    def paste() -> None:
        got = bench_paste([int(s) for s in args.paste.split(",")])
        show("Paste into a filter, then F1 -> help drawn",
             [(k, f"{v * 1000:7.0f} ms") for k, v in got.items()])

    what.update(start=start, f1=f1, paste=paste)
    for name in ("start", "f1", "paste"):
        if name in only:
            what[name]()
    import textual

    print(f"\n(Python {sys.version.split()[0]}, Textual {textual.__version__}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
