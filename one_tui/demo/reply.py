"""What goes into and out of the demo's router: a :class:`Request` value and a :class:`Reply`.

Exists so that the HTTP handler (``demo/http.py``) and the router (``demo/router.py``) share
plain values instead of one mixing the other in: the handler turns a socket request into a
``Request``, the router answers a ``Reply``, and the handler writes it. Both import this module;
neither imports the other's internals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["Request", "Reply", "EarlyReply", "detail", "not_found", "HTML_404", "HTML_500"]

#: Django's 404 page with DEBUG off (Alyx in production), for any path no route matches,
#: including a detail path whose UUID does not parse (``/sessions/abc``).
HTML_404 = (
    "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n"
    "<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n"
    "</body>\n</html>\n"
)
#: Django's 500 page (what a proxy or a crash answers instead of JSON).
HTML_500 = ("<!doctype html>\n<html lang=\"en\">\n<head><title>Server Error (500)</title></head>"
            "\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n")

JSON = "application/json"
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Request:
    """One HTTP request as the router sees it.

    ``target`` is what the client sent after the method (what the request log records),
    ``path`` and ``query`` its two parts, ``headers`` keyed in lower case. ``server`` is the
    ``host:port`` the server listens on, for absolute links when the client sent no ``Host``
    header; ``client`` the peer address (the throttle's key when there is no token).
    """

    method: str
    target: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    server: str = "127.0.0.1"
    client: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def base(self) -> str:
        """The scheme and host the client used: the prefix of every ``url`` in an answer."""
        return f"http://{self.header('Host') or self.server}"

    def params(self) -> dict[str, str]:
        """Query parameters, the last value winning, blank ones dropped (django-filter)."""
        return {k: v for k, v in parse_qsl(self.query, keep_blank_values=True) if v != ""}


@dataclass(frozen=True)
class Reply:
    """A whole answer: status, body bytes, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str = HTML
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> Reply:
        """JSON as Django REST framework writes it (compact, UTF-8)."""
        body = json.dumps(obj, separators=(",", ":"), default=str, ensure_ascii=False).encode()
        return cls(status, body, JSON, dict(headers or {}))

    @classmethod
    def html(cls, status: int, text: str, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, text.encode(), HTML, dict(headers or {}))

    @property
    def is_json(self) -> bool:
        return self.content_type == JSON


class EarlyReply(Exception):
    """Raised while answering (a refused login, a missing token, a 404) to answer ``reply`` now.

    An exception, not a return value, because the checks sit deep in the routes (the token is
    checked before the list is built) and every such answer ends the request at once.
    """

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def detail(status: int, text: str) -> EarlyReply:
    """DRF's ``{"detail": ..., "status_code": ...}`` error answer."""
    return EarlyReply(Reply.json(status, {"detail": text, "status_code": status}))


def not_found(model: str) -> EarlyReply:
    return detail(404, f"No {model} matches the given query.")
