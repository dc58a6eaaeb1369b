"""`one-tui demo` in a real pseudo-terminal: first frame, then SIGHUP ends it within 2 s."""

from __future__ import annotations

import importlib.util
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1bP[^\x1b]*\x1b\\")

LAUNCH_SNIPPET = (
    "import argparse, sys\n"
    "from one_tui.tui.launch import launch\n"
    "sys.exit(launch(argparse.Namespace(base_url=None, cache_dir=None, mode=None, username=None,"
    " no_mouse=True, theme=None, low_bandwidth=True, demo=True)))\n"
)


def demo_command() -> list[str]:
    """The console script route once the lead's cli exists, else launch() directly."""
    if importlib.util.find_spec("one_tui.cli") is not None:
        return [sys.executable, "-m", "one_tui", "demo"]
    return [sys.executable, "-c", LAUNCH_SNIPPET]


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    """Read the terminal output until ``needle`` appears in its text (escapes removed)."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            out += chunk
            if needle in ANSI.sub(b"", out):
                return out
    raise AssertionError(f"{needle!r} not seen; got {ANSI.sub(b'', out)[-400:]!r}")


def spawn_in_pty(cmd: list[str], cols: int = 100, rows: int = 30) -> tuple[subprocess.Popen, int]:
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), "LINES": str(rows)}
    env.pop("COLORTERM", None)
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    return proc, master


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_demo_exits_cleanly_on_hangup(sig: signal.Signals) -> None:
    proc, master = spawn_in_pty(demo_command())
    try:
        read_until(master, b"one-tui", timeout=20)  # the first frame (top bar)
        read_until(master, b"sessions", timeout=60)  # the demo server answered
        sent = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=5)
        elapsed = time.monotonic() - sent
        assert elapsed < 2.0, f"took {elapsed:.2f} s to exit after {sig.name}"
        assert code == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


STALLED_SNIPPET = (
    "import sys, tempfile\n"
    "from one_tui.tui.app import OneApp\n"
    "from one_tui.tui.connect import Connector\n"
    "conn = Connector(base_url={url!r}, cache_dir=tempfile.mkdtemp(), mode='remote',"
    " username='demo', password='demo')\n"
    "app = OneApp(conn, low_bandwidth=True)\n"
    "app.run(mouse=False)\n"
    "sys.exit(app.return_code or 0)\n"
)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_hangup_during_a_stalled_request_still_exits(server) -> None:
    """A worker stuck in a request on a stalled Alyx must not keep the process alive."""
    proc, master = spawn_in_pty([sys.executable, "-c", STALLED_SNIPPET.format(url=server.url)])
    try:
        read_until(master, b"mode remote \xc2\xb7 online", timeout=30)  # connected
        server.faults.latency = 20  # every answer now takes 20 s
        os.write(master, b"\x1b[20~")  # F9: search (on Alyx: remote mode)
        read_until(master, b"esc to cancel", timeout=10)
        time.sleep(0.3)  # the request is in flight
        sent = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        proc.wait(timeout=10)
        elapsed = time.monotonic() - sent
        assert elapsed < 2.5, f"took {elapsed:.2f} s to exit after SIGHUP"
    finally:
        server.faults.latency = 0
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
