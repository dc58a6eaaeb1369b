"""One GET whose cost a server cannot stretch: a decoded-size cap and a total deadline.

httpx's timeouts are per read, so a server sending one byte every few seconds holds a request
for ever, and ``response.read()`` inflates a gzip body whole (1 MB on the wire was 2.2 GB in
memory). Here the body is read chunk by chunk as httpx decodes it, counted against
``Limits.max_body``, and a timer shuts the socket at ``Limits.max_seconds`` so that even a read
that is trickling returns: the one place every Alyx GET and login goes through for this.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import suppress
from typing import Any

import httpx

from one_tui.engine.core.bounded import Limits
from one_tui.engine.core.errors import AlyxConnectionError, AlyxError

__all__ = ["TooLarge", "TookTooLong", "bounded_request"]

_HOP_HEADERS = {b"content-encoding", b"content-length", b"transfer-encoding"}


class TooLarge(AlyxError):
    """The decoded body passed ``Limits.max_body``: reading stopped there."""


class TookTooLong(AlyxConnectionError):
    """The request passed ``Limits.max_seconds`` in all: a connection failure (as a read
    timeout is), so remote mode answers from the stale REST cache and auto falls back."""


class _Deadline:
    """Shuts the request's socket when the time is up (a blocked recv returns at once)."""

    def __init__(self, seconds: float) -> None:
        self.stream: Any = None
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: the network stream of a new connection, before any header."""
        if name == "connection.connect_tcp.complete":
            self.stream = info.get("return_value")
            if self.expired:
                self._shut()

    def follow(self, response: httpx.Response) -> None:
        """The stream of a reused connection is known once the response headers are in."""
        self.stream = response.extensions.get("network_stream") or self.stream
        if self.expired:
            self._shut()

    def _expire(self) -> None:
        self.expired = True
        self._shut()

    def _shut(self) -> None:
        with suppress(AttributeError, OSError, RuntimeError):
            sock = self.stream.get_extra_info("socket") if self.stream is not None else None
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()


def bounded_request(http: httpx.Client, method: str, url: str, label: str, limits: Limits,
                    **kwargs: Any) -> httpx.Response:
    """``http.request(method, url, **kwargs)`` read whole, within ``limits``; the response
    holds the decoded body. TooLarge / TookTooLong (one line, naming ``label``) past a limit;
    httpx's own errors otherwise."""
    start = time.monotonic()
    with _Deadline(limits.max_seconds) as deadline:
        extensions = {**kwargs.pop("extensions", {}), "trace": deadline.trace}
        try:
            request = http.build_request(method, url, extensions=extensions, **kwargs)
            response = http.send(request, stream=True)
            try:
                deadline.follow(response)
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limits.max_body:
                        raise TooLarge(f"Alyx sent more than {limits.max_body // 2**20} MB for "
                                       f"{label}; stopped reading")
                    if deadline.expired:
                        break
            finally:
                response.close()
        except httpx.TransportError:
            if not deadline.expired:
                raise
        if deadline.expired:
            raise TookTooLong(f"Alyx took more than {limits.max_seconds:g} s to answer {label} "
                              f"(stopped after {time.monotonic() - start:.0f} s)")
    headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP_HEADERS]
    return httpx.Response(response.status_code, headers=headers, content=bytes(body),
                          request=response.request, extensions=response.extensions)
