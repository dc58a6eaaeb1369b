"""Alyx URLs: the base URL, the queries ONE requests and hashes, and the labels errors name.

Kept in one module because the REST cache shares files with ONE only when every query string
is built exactly as ONE builds it (same order, same quoting), and because an error message
should name an endpoint the same way wherever a request failed.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import Any

from one_tui.engine import params

__all__ = ["AlyxUrls", "endpoint_label", "list_query", "origin", "plain_http_warning",
           "same_origin", "update_url_params"]

_SCHEME = re.compile(r"^\w+://")


def endpoint_label(url: str) -> str:
    """What a message calls a request: its path (``/sessions``), else the text as given."""
    return urllib.parse.urlsplit(url).path or url


def update_url_params(url: str, new_params: dict[str, Any]) -> str:
    """ONE's ``update_url_params``: unquote, merge the query, ``urlencode`` it (commas -> %2C)."""
    parsed = urllib.parse.urlsplit(urllib.parse.unquote(url))
    query: dict[str, Any] = urllib.parse.parse_qs(parsed.query, keep_blank_values=False)
    query.update(new_params)
    return parsed._replace(query=urllib.parse.urlencode(query, doseq=True)).geturl()


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def list_query(endpoint: str, id: str | None = None, **filters: Any) -> str:  # noqa: A002
    """The relative query ONE requests (and hashes) for a ``list``: ``/sessions?subject=KS005``.

    The filters stay in the order given, as ONE's ``rest`` keeps them (its ``search`` passes
    ``django`` first, then the terms sorted by name: ``filters.session_filters`` builds that
    order); sorting them here gave other sha1 names than ONE's, so the two never shared a REST
    cache entry. List values are comma-joined, every value goes through ``str()``; ``None``
    (and an empty ``django``) are dropped; ``id`` adds the django term ``pk,<id>``, appended
    to ``django`` where it is, else as the last parameter (ONE's order).
    """
    ordered = {k: v for k, v in filters.items() if v is not None}
    django = ordered.get("django")
    if isinstance(django, (list, tuple)):
        django = ",".join(map(str, django))
    if id is not None:
        ordered["django"] = f"{django},pk,{id}" if django else f"pk,{id}"
    elif not django:
        ordered.pop("django", None)
    url = endpoint.strip("/")
    if ordered:
        query = {k: ",".join(map(str, _as_list(v))) for k, v in ordered.items()}
        url = update_url_params(url, query)
    return "/" + url


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of an absolute URL, default ports filled in; None when it has no
    host or a port that is not a number."""
    parts = urllib.parse.urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if not scheme or not host:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme)


def same_origin(url: str, base: str) -> bool:
    """True when ``url`` and ``base`` share scheme, host and port (the token's rule)."""
    mine = origin(base)
    return mine is not None and origin(url) == mine


def plain_http_warning(url: str) -> str | None:
    """One line when ``url`` is plain http to another machine: the password (at login) and the
    token (on every request) would cross the network unencrypted. None for https or loopback."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() != "http":
        return None
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (f"{host or url} is reached over plain http: the password and token travel "
            "unencrypted; use https")


class AlyxUrls:
    """The URLs of one database: every request the client makes is built from ``base``.

    ``base`` is normalised by :func:`params.normalise_base_url`, the rule ``~/.one`` keys use.
    """

    def __init__(self, base: str) -> None:
        self.base: str = params.normalise_base_url(base)

    def __repr__(self) -> str:
        return f"AlyxUrls({self.base!r})"

    def join(self, path: str) -> str:
        """The full URL of a path on this database: ``join("auth-token")``."""
        return f"{self.base}/{path.lstrip('/')}"

    def is_ours(self, url: str) -> bool:
        """True for a URL of this database's origin (scheme, host and port, as browsers judge
        it): the only URLs the token is ever sent to. Comparing text let
        ``https://alyx.org.evil.net/cache.zip`` through, as it starts with ``https://alyx.org``.
        """
        return same_origin(url, self.base)

    def absolute(self, query: str) -> tuple[str, str]:
        """(full URL, endpoint label) for a relative query or a URL on this database.

        A full URL elsewhere (a ``next`` link behind a proxy that rewrote the host) keeps its
        path and query but is sent to our origin: the token must not follow a foreign host.
        """
        if self.is_ours(query) and query.startswith(self.base):
            rel = query[len(self.base) :]
        elif _SCHEME.match(query):
            parts = urllib.parse.urlsplit(query)
            prefix = urllib.parse.urlsplit(self.base).path
            path = parts.path
            if prefix and path.startswith(prefix):
                path = path[len(prefix) :]
            rel = path + (f"?{parts.query}" if parts.query else "")
        else:
            rel = query
        if not rel.startswith("/"):
            rel = "/" + rel
        return self.base + rel, rel
