"""Retrying what Alyx asks us to retry: 429 (throttled) and 503 (busy), after ``Retry-After``.

Apart from the client so the waiting policy (how often, how long at most, how a cancel ends a
wait) is read in one place, and so a test can give it another sleeper.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

__all__ = ["RETRY_STATUS", "Cancelled", "Retries", "retry_after"]

_logger = logging.getLogger("one_tui.engine.remote.client")

#: The answers that mean "ask again later"; any other is final.
RETRY_STATUS = (429, 503)


class Cancelled(Exception):
    """The caller's cancel event fired while a request waited to retry: stop, keep the rows
    so far. A signal inside remote/, never an error for the user."""


def retry_after(response: httpx.Response, attempt: int) -> float:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date); exponential when absent."""
    value = response.headers.get("Retry-After", "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            import email.utils  # only for the rare HTTP-date form; keeps the import cheap

            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return float(2**attempt)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


class Retries:
    """At most ``max_retries`` more tries, each wait capped at ``max_wait`` seconds."""

    def __init__(self, max_retries: int = 3, max_wait: float = 30.0,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.max_retries = max_retries
        self.max_wait = max_wait
        #: how a wait without a cancel event sleeps (``time.sleep`` looked up at each wait, so
        #: a test can stand in for this module's ``time``)
        self.sleep = sleep or _sleep

    def send(self, request: Callable[[], httpx.Response],
             cancel: threading.Event | None) -> httpx.Response:
        """``request()`` until its answer is final or the tries are spent (then the last
        answer). A cancel during a wait raises :class:`Cancelled`."""
        attempt = 0
        while True:
            rep = request()
            if rep.status_code not in RETRY_STATUS or attempt >= self.max_retries:
                return rep
            attempt += 1
            wait = retry_after(rep, attempt - 1)
            _logger.info("Alyx answered %s; retrying in %.1f s", rep.status_code, wait)
            self._wait(wait, cancel)

    def _wait(self, seconds: float, cancel: threading.Event | None) -> None:
        seconds = min(seconds, self.max_wait)
        if cancel is None:
            self.sleep(seconds)
        elif cancel.wait(seconds):
            raise Cancelled
