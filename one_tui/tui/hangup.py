"""SIGHUP (the SSH link dropped) and SIGTERM end the app through its normal exit path.

By default a hang-up killed the app outright (no cleanup); with SIGHUP ignored (nohup) a Textual
app whose pty vanished spun at ~94 % of a core forever (tui-practice.md §0.4).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable

SIGNALS = (signal.SIGHUP, signal.SIGTERM)


def install(exit_soon: Callable[[], None]) -> None:
    """Call ``exit_soon`` on a hang-up or SIGTERM (main thread only: tests run elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, exit_soon)


def remove() -> None:
    with contextlib.suppress(RuntimeError, ValueError):
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
