"""Staying under Alyx's throttle when one use case sends many reads (a subject's sessions).

Alyx throttles every view with Django REST framework's ``burst`` rate, 550 requests a minute by
default (per user, or per IP with ``THROTTLE_MODE=anonymous``); past it, 429 and a
``Retry-After`` of up to a minute, which ``retries`` waits out. A subject with 300 sessions read
four at a time would reach it, so such a use case asks a :class:`Pacer` for a slot before each
request: at most ``limit`` requests that reached Alyx in any ``window`` seconds, the rest wait
(a cancel ends the wait). Answers the REST cache gave back their slot: only the network counts.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["ALYX_BURST_PER_MINUTE", "Pacer"]

#: Alyx's default ``THROTTLE_BURST_RATE`` (alyx/settings.py: "550/minute").
ALYX_BURST_PER_MINUTE = 550


class Pacer:
    """A sliding window of request start times shared by the threads of one use case (or
    one service). Thread-safe."""

    def __init__(self, limit: int = ALYX_BURST_PER_MINUTE * 3 // 4, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # three quarters of the burst rate: the app's other requests (a search, details) and a
        # second one-tui or ONE on the same login share the same budget on the server
        self.limit = max(1, limit)
        self.window = window
        self.clock = clock
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self, cancel: threading.Event | None = None) -> float | None:
        """Wait for a slot; its token (to ``release`` when the answer did not use the
        network), or None when ``cancel`` fired while waiting."""
        while True:
            with self._lock:
                now = self.clock()
                while self._starts and self._starts[0] <= now - self.window:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return now
                wait = self._starts[0] + self.window - now
            if cancel is not None:
                if cancel.wait(wait):
                    return None
            else:
                time.sleep(wait)

    def release(self, token: float) -> None:
        """Give a slot back: the request was answered from the REST cache."""
        with self._lock, contextlib.suppress(ValueError):  # already out of the window
            self._starts.remove(token)

    @property
    def in_window(self) -> int:
        with self._lock:
            now = self.clock()
            return sum(1 for t in self._starts if t > now - self.window)
