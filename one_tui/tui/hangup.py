"""A lost terminal always ends the process: SIGHUP, SIGTERM, or the tty hung up (EOF / EIO).

By default a hang-up killed the app outright (no cleanup); with SIGHUP ignored (nohup) a Textual
app whose pty vanished spun at ~94 % of a core forever (tui-practice.md §0.4). Issue 18 item 8
found a worse one: a process with no SIGHUP coming (no controlling tty, a shell without
huponexit, a terminal closed while the app was busy) stayed alive for good, re-parented to
PID 1 with 200-300 MB. On a hung-up tty Textual 8.2.8's input thread reads EOF in a loop (a
spinning core) or dies on EIO, and its writer thread dies on the first failed write, after
which every frame, and the exit's own restore sequences, block the event loop on a full queue
of 30 writes: an asyncio signal handler never runs again, nor does ``App.exit``.

So the watch is off the event loop: a signal handler (run by Python in the main thread between
bytecodes, also while the loop is blocked on that queue) and a thread polling the tty for
POLLHUP each ask for the normal exit through the loop and arm a timer that ends the process
after ``grace`` seconds if the normal exit did not (tables are written atomically: nothing is
left half-written; there is no terminal left to restore).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

SIGNALS = tuple(getattr(signal, name) for name in ("SIGHUP", "SIGTERM") if hasattr(signal, name))
POLL_SECONDS = 0.5  # the watcher's wake-up to notice it was stopped (a hang-up wakes it at once)


class Watch:
    """The installed watch: signal handlers, the tty watcher thread, the exit timer."""

    def __init__(self, exit_soon: Callable[[], None], grace: float) -> None:
        import asyncio

        self.loop = asyncio.get_running_loop()
        self.exit_soon = exit_soon
        self.grace = grace
        self.stopped = threading.Event()
        self.lost = threading.Event()  # set once: the first cause wins
        self.thread: threading.Thread | None = None

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.end(f"signal {signal.Signals(signum).name}")

    def end(self, why: str) -> None:
        """Ask the app to exit now; end the process after the grace period if it has not."""
        if self.lost.is_set():
            return
        self.lost.set()
        global _lost
        _lost = why
        timer = threading.Timer(self.grace, os._exit, args=(0,))
        timer.daemon = True
        timer.start()
        with contextlib.suppress(RuntimeError):  # the loop already closed: the timer ends it
            self.loop.call_soon_threadsafe(self.exit_soon)

    def watch_tty(self, fd: int) -> None:
        """Poll the terminal for a hang-up (the master side closed: POLLHUP / POLLERR, which
        poll reports whatever the mask); reading is the driver's, so nothing is read here."""
        poller = select.poll()
        poller.register(fd, 0)
        while not self.stopped.is_set():
            try:
                events = poller.poll(POLL_SECONDS * 1000)
            except OSError:
                return
            if any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL)
                   for _fd, mask in events):
                self.end("terminal hung up")
                return


_watch: Watch | None = None
_lost: str | None = None  # why the terminal was lost (kept after ``remove``)


def lost() -> str | None:
    """Why the terminal was lost (a signal, a hang-up), None while it is there."""
    return _lost


def terminal_fd() -> int | None:
    """The terminal Textual reads keys from (its Linux driver reads ``sys.__stdin__``)."""
    stream = sys.__stdin__
    try:
        fd = stream.fileno() if stream is not None else None
    except (OSError, ValueError):
        return None
    return fd if fd is not None and os.isatty(fd) else None


def install(exit_soon: Callable[[], None], grace: float) -> None:
    """Watch for a lost terminal (main thread, inside the app's running loop; a real terminal
    only: a headless app under test is never watched, nor ``os._exit``-ed)."""
    global _watch
    if threading.current_thread() is not threading.main_thread() or _watch is not None:
        return
    watch = Watch(exit_soon, grace)
    for sig in SIGNALS:
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            signal.signal(sig, watch.on_signal)
    fd = terminal_fd()
    if fd is not None and hasattr(select, "poll"):  # POSIX (the app's terminals)
        watch.thread = threading.Thread(target=watch.watch_tty, args=(fd,), daemon=True,
                                        name="one-tui-hangup")
        watch.thread.start()
    _watch = watch


def remove() -> None:
    """After the app has run: the tty watcher stops; the signal handlers stay until the process
    ends. The exit goes on after ``run`` returns (threads joined, files closed, the CLI's last
    line), and a terminal closed right after ctrl+q sends its SIGHUP then: with the default
    handler back, that killed the process mid-exit (status -SIGHUP, ``finally`` blocks and
    ``atexit`` skipped). Kept, it arms the grace timer and lets the exit finish."""
    global _watch
    watch, _watch = _watch, None
    if watch is not None:
        watch.stopped.set()
