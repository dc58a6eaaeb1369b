"""Bytes the app writes to a real pseudo-terminal (what crosses an SSH link): with
``--low-bandwidth`` an idle app writes nothing at all (tui-practice.md §2.1).

:class:`PtyApp` is also the harness of ``benchmarks/bench_bandwidth.py``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1bP[^\x1b]*"
                  rb"\x1b\\|\x1b[()][0-9A-B]|\x1b[=>78]")
PAGE_DOWN = b"\x1b[6~"


class PtyApp:
    """``one-tui`` in a pty of ``cols`` x ``rows`` (TERM=xterm-256color, no COLORTERM: 256
    colours, the usual SSH case); a thread records every chunk written, with its time."""

    def __init__(self, args: list[str], cols: int = 160, rows: int = 48,
                 env: dict[str, str] | None = None) -> None:
        import fcntl
        import struct
        import termios

        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {**os.environ, **(env or {}), "TERM": "xterm-256color",
                    "COLUMNS": str(cols), "LINES": str(rows)}
        full_env.pop("COLORTERM", None)
        full_env.pop("TEXTUAL_COLOR_SYSTEM", None)
        self.master = master
        self.chunks: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen([sys.executable, "-m", "one_tui", *args], stdin=slave,
                                     stdout=slave, stderr=slave, env=full_env,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.chunks.append((time.monotonic(), data))

    def output(self, since: float = 0.0, until: float = float("inf")) -> bytes:
        with self._lock:
            return b"".join(d for t, d in self.chunks if since <= t < until)

    def text(self) -> str:
        return ANSI.sub(b"", self.output()).decode("utf-8", "replace")

    def wait_for(self, needle: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not seen; screen ends {self.text()[-600:]!r}")

    def wait_quiet(self, quiet: float = 1.0, timeout: float = 30.0) -> float:
        """Wait until nothing was written for ``quiet`` seconds (counted from now at the
        earliest); returns that moment."""
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            with self._lock:
                last = max(self.chunks[-1][0] if self.chunks else 0.0, start)
            now = time.monotonic()
            if now - last >= quiet:
                return now
            time.sleep(0.05)
        raise AssertionError(f"the app kept writing for {timeout} s")

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def bytes_after(self, data: bytes, settle: float = 0.5, first: float = 10.0) -> int:
        """Bytes written in answer to ``data``: from the first byte (if any comes within
        ``first`` s: on a loaded machine the answer may start later than ``settle``) until
        ``settle`` s without output."""
        start = time.monotonic()
        self.send(data)
        deadline = start + first
        while not self.output(start, time.monotonic()) and time.monotonic() < deadline:
            time.sleep(0.02)
        end = self.wait_quiet(settle, timeout=20)
        return len(self.output(start, end))

    def idle_bytes(self, seconds: float) -> int:
        start = time.monotonic()
        time.sleep(seconds)
        return len(self.output(start, time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=2)
        os.close(self.master)


def isolated_env(root: Path) -> dict[str, str]:
    """HOME and XDG folders of their own: no user config or ONE settings change the app."""
    return {"HOME": str(root), "XDG_CONFIG_HOME": str(root / ".config"),
            "XDG_CACHE_HOME": str(root / ".cache")}


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_idle_low_bandwidth_app_writes_nothing(tmp_path: Path) -> None:
    from one_tui.demo.synth import generate

    cache = tmp_path / "cache"
    generate(n_sessions=300, seed=0).write_tables(cache)
    app = PtyApp(["--cache-dir", str(cache), "--mode", "local", "--low-bandwidth",
                  "--no-mouse"], env=isolated_env(tmp_path))
    try:
        app.wait_for("300 sessions")
        app.wait_quiet(1.0)
        idle = app.idle_bytes(3.0)
        assert idle == 0, f"{idle} bytes while idle: {app.output()[-300:]!r}"
        # the measure is live: a key is answered with output (the table moves a page)
        assert app.bytes_after(PAGE_DOWN) > 0
        # typing in a filter field, then pausing: the cursor does not blink
        assert app.bytes_after(b"/") > 0
        idle = app.idle_bytes(1.5)
        assert idle == 0, f"{idle} bytes while idle in a filter field"
    finally:
        app.close()
