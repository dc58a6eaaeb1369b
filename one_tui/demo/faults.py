"""The demo Alyx's injected faults: what a flaky network or server does to a client.

A "switch" field takes ``True`` (always), an ``int`` N (the next N requests) or ``False``;
``paths`` limits every fault to request paths with those prefixes. Tests and ``one-tui
demo-server`` set the fields of :class:`Faults`; the server (``demo/http.py``) and the router
(``demo/router.py``) ask a :class:`FaultGate` on every request whether a fault fires.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, fields

__all__ = ["Faults", "FaultGate", "Switch"]

Switch = bool | int


@dataclass
class Faults:
    """Injected faults; change fields at any time (the server reads them on every request).

    - ``latency``: seconds slept before answering each request.
    - ``drop_connections`` (switch): close the socket without sending any response.
    - ``status_500`` (switch): 500 JSON ``{"status_code": 500, "detail": ...}``.
    - ``status_500_html`` (switch): 500 with an HTML body (a proxy or Django crash page).
    - ``status_429`` (switch): 429 "Request was throttled" with ``Retry-After: retry_after``.
    - ``throttle_per_minute``: like Alyx's burst throttle: after N requests in 60 s from one user
      (or IP), 429 with ``Retry-After`` = seconds until the window frees (auth-token exempt).
    - ``invalid_token``: set True to revoke every token issued so far (requests using them get
      403 "Invalid token."); the server applies it on the next request and resets the flag.
      A new login gets a new token.
    - ``refuse_login`` (switch): ``POST /auth-token`` answers 400 as for bad credentials.
    - ``truncated_zip`` (switch): ``/cache.zip`` sends only the first half of the zip.
    - ``corrupt_zip_parquet`` (switch): ``/cache.zip`` is a valid zip whose sessions.pqt is junk.
    - ``malformed_json`` (switch): JSON bodies are cut in half (200, application/json).
    - ``count_drift``: list envelopes report ``count + 1`` on pages after the first.
    - ``read_timeout_after_bytes``: send headers (full Content-Length) and this many body bytes,
      then stall ``stall_seconds`` and close: a client read timeout / incomplete body.
    - ``paths``: when non-empty, faults apply only to paths starting with one of these.
    """

    latency: float = 0.0
    drop_connections: Switch = False
    status_500: Switch = False
    status_500_html: Switch = False
    status_429: Switch = False
    retry_after: int = 60
    throttle_per_minute: int | None = None
    invalid_token: bool = False
    refuse_login: Switch = False
    truncated_zip: Switch = False
    corrupt_zip_parquet: Switch = False
    malformed_json: Switch = False
    count_drift: bool = False
    read_timeout_after_bytes: int | None = None
    stall_seconds: float = 30.0
    paths: tuple[str, ...] = ()

    def reset(self) -> None:
        """Back to a healthy server."""
        for f in fields(self):
            setattr(self, f.name, f.default)


class FaultGate:
    """Whether each fault fires for a request: counts switches down, keeps the throttle window.

    Holds the server's :class:`Faults` (the same object the tests change) and the ``stopping``
    event that ends every injected wait (latency, stalls) when the server stops.
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._lock = threading.Lock()
        self._throttle: dict[str, deque[float]] = {}
        self._stopping = threading.Event()

    def applies(self, path: str) -> bool:
        """Whether faults apply to ``path`` at all (``faults.paths`` empty, or a prefix)."""
        return not self.faults.paths or path.startswith(tuple(self.faults.paths))

    def fires(self, name: str, path: str) -> bool:
        """Whether switch ``name`` fires for this request (and count it down)."""
        if not self.applies(path):
            return False
        with self._lock:
            value = getattr(self.faults, name)
            if value is True:
                return True
            if isinstance(value, int) and value > 0:
                setattr(self.faults, name, value - 1)
                return True
            return False

    def throttled(self, key: str) -> int | None:
        """Seconds to wait if ``key`` exceeded throttle_per_minute, else None."""
        rate = self.faults.throttle_per_minute
        if not rate:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._throttle.setdefault(key, deque())
            while hits and now - hits[0] >= 60:
                hits.popleft()
            if len(hits) >= rate:
                return max(1, math.ceil(60 - (now - hits[0])))
            hits.append(now)
            return None

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the server stops meanwhile."""
        self._stopping.wait(seconds)

    def release(self) -> None:
        """The server stops: end every pause now, and every later one at once."""
        self._stopping.set()

    def rearm(self) -> None:
        """The server (re)starts: pauses last their whole time again."""
        self._stopping.clear()
