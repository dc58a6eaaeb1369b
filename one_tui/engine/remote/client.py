"""Read-only Alyx REST client on httpx that behaves like ONE-api's ``AlyxClient``.

Same URLs, same REST cache files and keys, same token storage as ONE, so a user can switch
between one-tui and ONE in Python without logging in or downloading twice. Only ``list`` and
``read`` are allowed: one-tui never writes to Alyx. The password is kept in memory only to log
in again when Alyx rejects a token; it never appears in a message, log record, repr or file.

This module is the request path (a GET through the REST cache, re-login on a rejected
token) and composes the rest, one reason to change each: ``auth`` (user, token, password),
``retries`` (429/503), ``urls`` (every URL from the base), ``pages`` (list answers page by
page), ``download`` (``cache.zip``), ``failures`` (an httpx failure as one line).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from one_tui.engine import params
from one_tui.engine.core import bounded
from one_tui.engine.core import results as outcome
from one_tui.engine.core.bounded import LIMITS, Limits
from one_tui.engine.core.errors import (
    AlyxConnectionError,
    AlyxError,
    HTTPError,
    LoginRequired,
    ReadOnlyError,
)
from one_tui.engine.core.results import Notices
from one_tui.engine.core.values import RestCacheInfo
from one_tui.engine.remote import download
from one_tui.engine.remote.auth import Credentials
from one_tui.engine.remote.bounded_get import bounded_request
from one_tui.engine.remote.download import Progress, ZipDownload
from one_tui.engine.remote.failures import bad_url, error_detail, unreachable
from one_tui.engine.remote.pages import is_envelope, is_list_answer, pages
from one_tui.engine.remote.rest_cache import CacheBypass, CacheEntry, RestCache
from one_tui.engine.remote.retries import Cancelled, Retries
from one_tui.engine.remote.urls import AlyxUrls, list_query, plain_http_warning

_logger = logging.getLogger("one_tui.engine.remote.client")

READ_ACTIONS = ("list", "read")
WRITE_ACTIONS = ("create", "update", "partial_update", "partial-update", "delete")


class AlyxClient:
    """ONE's ``AlyxClient`` for reading: login, token reuse, REST cache, pagination, downloads."""

    default_expiry: timedelta = timedelta(hours=24)

    def __init__(
        self,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        cache_dir: str | Path | None = None,
        cache_rest: str | None = "GET",
        silent: bool = True,
        timeout: tuple[float, float] = (5.0, 30.0),
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        limits: Limits = LIMITS,
    ) -> None:
        settings = params.get_settings(base_url)
        if base_url is None:
            if settings is None:
                raise LoginRequired("No Alyx database is set up; give a database URL")
            base_url = settings.base_url
        self.urls = AlyxUrls(base_url)
        self.cache_dir = params.resolve_cache_dir(self.base_url, cache_dir, settings)
        self.cache_rest = cache_rest
        self.silent = silent
        #: what a server may cost (core.bounded): JSON depth, body size, time, pages
        self.limits = limits
        self.retries = Retries(max_retries, max_retry_wait)
        #: warnings for the user: to the current call's record, else kept for whoever drains them
        self.notices = Notices()
        self._rest_cache = RestCache(self.cache_dir, on_note=self.notices.queue,
                                     max_depth=limits.max_depth)
        # ``no_cache(client)`` blocks, per thread: overlapping workers never share the switch
        self.cache_bypass = CacheBypass()
        if (warning := plain_http_warning(self.base_url)) is not None:
            self._note(warning)
        connect, read = timeout
        self._http = httpx.Client(
            timeout=httpx.Timeout(read, connect=connect),
            transport=transport,
            follow_redirects=True,
            headers={"Accept": "application/json", "User-Agent": "one-tui"},
        )
        self._download = ZipDownload(self._http, self.base_url, limits.max_tables_zip)
        self.auth = Credentials(self.urls, self._http, settings, username=username,
                                password=password, token=token, cache_dir=self.cache_dir,
                                note=self._note, limits=limits)

    def __repr__(self) -> str:
        return f"AlyxClient({self.base_url!r}, user={self.user!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> AlyxClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- notes and state -------------------------------------------------------------------

    def _note(self, message: str) -> None:
        """A warning a user should see (``notices``: the current call's record, else kept)."""
        self.notices.warn(message)

    @property
    def base_url(self) -> str:
        """The database URL, normalised (``params.normalise_base_url``)."""
        return self.urls.base

    @property
    def bypassed(self) -> bool:
        """True inside a ``no_cache(client)`` block of the calling thread."""
        return self.cache_bypass.active

    @property
    def needs_login(self) -> bool:
        """The next request will log in first (no token yet, or a password to check)."""
        return self.auth.needs_login

    @property
    def is_logged_in(self) -> bool:
        """True when a token is held (no network check)."""
        return bool(self.auth.token)

    @property
    def rest_cache_stats(self) -> dict[str, Any]:
        """Entries, bytes, hits, misses of the REST cache, whether it is on, its expiry."""
        return dataclasses.asdict(self.rest_cache_info())

    def rest_cache_info(self) -> RestCacheInfo:
        """The REST cache as this process has used it (the Cache pane's lines)."""
        stats = self._rest_cache.stats()
        return RestCacheInfo(enabled=bool(self.cache_rest) and bool(stats["enabled"]),
                             entries=int(stats["entries"]), bytes=int(stats["bytes"]),
                             hits=int(stats["hits"]), misses=int(stats["misses"]),
                             default_expiry=self.default_expiry)

    def clear_rest_cache(self) -> None:
        """Delete every cached REST response of this database's cache dir."""
        self._rest_cache.clear()

    # --- authentication (remote.auth) -------------------------------------------------------

    @property
    def user(self) -> str | None:
        """The Alyx user: the one given, else ``ALYX_LOGIN`` of ``~/.one``, else the last login."""
        return self.auth.user

    def authenticate(
        self, username: str | None = None, password: str | None = None, force: bool = False
    ) -> None:
        """Log in as ONE does: a cached token is reused with no request, else POST /auth-token."""
        self.auth.authenticate(username, password, force)

    def logout(self) -> None:
        """Forget the token (in memory and in ~/.one) and clear the REST cache, as ONE does."""
        self.auth.logout()
        self.clear_rest_cache()

    def ensure_auth(self) -> None:
        """Log in now if the next request would (no token yet, or a password to check)."""
        self.auth.ensure()

    # --- HTTP -------------------------------------------------------------------------------

    def _send(self, url: str, endpoint: str, cancel: threading.Event | None) -> httpx.Response:
        """GET with the token, within ``self.limits`` (size, total time), retried as
        ``self.retries`` says; transport errors mapped."""

        def once() -> httpx.Response:
            try:
                return bounded_request(self._http, "GET", url, endpoint, self.limits,
                                       headers=self.auth.headers())
            except httpx.TransportError:
                raise unreachable(self.base_url) from None
            except httpx.InvalidURL as exc:
                raise bad_url(url, exc) from None

        return self.retries.send(once, cancel)

    def _http_get(self, query: str, cancel: threading.Event | None = None) -> Any:
        """One GET on Alyx: authenticate, re-login once on "Invalid token.", decode JSON."""
        self.ensure_auth()
        url, endpoint = self.urls.absolute(query)
        rep = self._send(url, endpoint, cancel)
        if rep.status_code == 403 and "Invalid token." in rep.text:
            self.auth.relogin_after_invalid_token()
            rep = self._send(url, endpoint, cancel)
        if rep.status_code in (200, 201):
            try:
                return bounded.loads(rep.content, self.limits.max_depth)
            except bounded.TooDeep as exc:
                raise AlyxError(f"Alyx sent a response to {endpoint} that is {exc}") from None
            except ValueError:  # UnicodeDecodeError included
                raise AlyxError(
                    f"Alyx sent a response to {endpoint} that is not valid JSON "
                    f"({len(rep.content)} bytes)"
                ) from None
        if rep.status_code == 204:
            return None
        raise HTTPError(rep.status_code, endpoint, error_detail(rep))

    def get(
        self,
        rest_query: str,
        expires: timedelta | bool | None = None,
        clobber: bool = False,
        cancel: threading.Event | None = None,
        shape: Callable[[Any], bool] | None = None,
    ) -> Any:
        """Raw JSON of one GET (one page), through the REST cache as ONE's ``_cache_response``.

        ``expires=True`` stores the answer already expired (``cache/info``); ``clobber`` skips
        the cached copy. On a connection error a cached copy, even stale, is returned with a note.
        ``shape`` says whether a response is of the endpoint's shape: a cached one that is not
        is deleted with a notice and asked again (a network one is the caller's to judge).
        """
        mode = "" if self.bypassed else (self.cache_rest or "").lower()
        use_cache = mode in ("get", "*")
        if use_cache and not clobber:
            entry = self._cached(rest_query, self._rest_cache.get, shape)
            if entry is not None:
                if self.auth.force_login:
                    # a password was given: log in before answering from the cache, so a wrong
                    # one fails here as in ONE (which logs in at construction); offline, the
                    # cached answer stands and the login waits for the next request
                    with suppress(AlyxConnectionError):
                        self.ensure_auth()
                outcome.answered(cached=True)
                return entry.value
        try:
            response = self._http_get(rest_query, cancel)
        except AlyxConnectionError:
            stale = (self._cached(rest_query, self._rest_cache.get_stale, shape)
                     if use_cache and not clobber else None)
            if stale is None:
                raise
            self._note("Failed to connect, returning cached response")
            outcome.answered(cached=True, stale=True)
            return stale.value
        outcome.answered(network=True)
        if use_cache:
            self._rest_cache.put(rest_query, response, expires or self.default_expiry)
        return response

    def _cached(self, query: str, read: Callable[[str], CacheEntry | None],
                shape: Callable[[Any], bool] | None) -> CacheEntry | None:
        """A REST-cache entry of the right shape, else None (a wrong one is deleted)."""
        entry = read(query)
        if entry is not None and shape is not None and not shape(entry.value):
            self._rest_cache.discard(query)
            return None
        return entry

    def cache_info(self, tag: str | None = None) -> dict[str, Any]:
        """``cache/info`` as ONE fetches it: always from the network, stored already expired."""
        info: dict[str, Any] = self.get(f"cache/info/{tag}" if tag else "cache/info",
                                        expires=True, shape=_is_record)
        return info

    # --- REST -------------------------------------------------------------------------------

    def rest(
        self,
        endpoint: str,
        action: str = "list",
        id: str | None = None,  # noqa: A002 (ONE's name)
        no_cache: bool = False,
        cancel: threading.Event | None = None,
        on_page: Callable[[int, int], None] | None = None,
        on_records: Callable[[list[Any]], None] | None = None,
        **filters: Any,
    ) -> list[Any] | dict[str, Any]:
        """``list`` (all pages, as a plain list) or ``read`` an Alyx endpoint, as ONE's ``rest``.

        ``cancel`` is checked between pages: the rows so far are returned and the call's record
        (``outcome.recording``) says it was cancelled. ``no_cache=True`` always asks Alyx and
        stores the answer already expired. For a ``list``, ``on_records`` gets each page's
        records as it arrives (first page included, in order, before ``on_page``), so callers
        can merge and show results page by page as ONE's paginated response callbacks do.
        """
        if action in WRITE_ACTIONS:
            raise ReadOnlyError("one-tui only reads from Alyx")
        endpoint = endpoint.strip("/")
        if "?" in endpoint:
            action = "list"
        if action not in READ_ACTIONS:
            raise ValueError(f'Action "{action}" is not one of {", ".join(READ_ACTIONS)}')
        expires = filters.pop("expires", None) or (True if no_cache else None)

        def fetch(query: str, shape: Callable[[Any], bool] = is_list_answer) -> Any:
            return self.get(query, expires=expires, clobber=no_cache, cancel=cancel,
                            shape=shape)

        try:
            if action == "read":
                if id is None:
                    raise ValueError(f'REST action "read" requires an ID: /{endpoint}/{{id}}')
                record: dict[str, Any] = fetch(f"/{endpoint}/{str(id).split('/')[-1]}",
                                               _is_record)
                return record
            query = list_query(endpoint, id=id, **filters)
            return self._list_all(query, fetch, cancel, on_page, on_records)
        except Cancelled:
            outcome.cancelled()
            return []

    def _list_all(
        self,
        query: str,
        fetch: Callable[[str], Any],
        cancel: threading.Event | None,
        on_page: Callable[[int, int], None] | None,
        on_records: Callable[[list[Any]], None] | None,
    ) -> list[Any]:
        """Every record of a list query, handed on page by page (see ``pages``)."""
        first = fetch(query)
        if not is_envelope(first):
            if on_records and isinstance(first, list):  # an unpaginated list: one page
                on_records(list(first))
            answer: list[Any] = first  # whatever Alyx sent (ONE returns it as is too)
            return answer
        results: list[Any] = []
        for page in pages(first, query, fetch=fetch, origin=self.base_url, cancel=cancel,
                          note=self._note, max_pages=self.limits.max_pages):
            results.extend(page.records)
            if on_records:
                on_records(list(page.records))
            if on_page:
                on_page(page.done, page.count)
        return results

    # --- cache tables -----------------------------------------------------------------------

    def download_cache_tables(
        self,
        location: str | None,
        dest_dir: str | Path,
        cancel: threading.Event | None = None,
        on_progress: Progress | None = None,
    ) -> list[Path]:
        """Download and unzip the cache tables into a new temporary folder inside ``dest_dir``.

        Returns the extracted files; their folder (``dest_dir/.one-tui-download-*``) is the
        caller's to move from and remove. A truncated or corrupt zip raises ``AlyxError`` and
        leaves ``dest_dir`` as it was. A cancel returns ``[]`` (the call's record says cancelled).
        The token goes to our Alyx only, as in ONE; a rejected one is renewed once.
        """
        url = location or self.urls.join("cache.zip")
        ours = self.urls.is_ours(url)
        if ours:
            self.ensure_auth()

        def stream(target: Path) -> bool:
            try:
                return self._download.stream_to(url, self._auth_headers(ours), target, cancel,
                                                on_progress)
            except HTTPError as exc:
                if not (ours and exc.status_code == 403 and "Invalid token." in exc.detail):
                    raise
            self.auth.relogin_after_invalid_token()
            return self._download.stream_to(url, self._auth_headers(ours), target, cancel,
                                            on_progress)

        return download.fetch_tables(stream, dest_dir, url, self.limits.max_tables_zip)

    def _auth_headers(self, ours: bool) -> dict[str, str]:
        return self.auth.headers() if ours else {}


def _is_record(value: Any) -> bool:
    """The shape of a ``read`` answer and of ``cache/info``: one JSON object."""
    return isinstance(value, dict)


@contextmanager
def no_cache(client: AlyxClient) -> Iterator[AlyxClient]:
    """Nothing is read from or written to the REST cache inside the block (ONE's ``no_cache``).

    The bypass belongs to the calling thread and nests: ``client.cache_rest`` is never touched,
    so blocks overlapping in two workers cannot leave each other's cache on or off.
    """
    with client.cache_bypass:
        yield client
