"""Read-only Alyx REST client on httpx that behaves like ONE-api's ``AlyxClient``.

Same URLs, same REST cache files and keys, same token storage as ONE, so a user can switch
between one-tui and ONE in Python without logging in or downloading twice. Only ``list`` and
``read`` are allowed: one-tui never writes to Alyx. The password is kept in memory only to log
in again when Alyx rejects a token; it never appears in a message, log record, repr or file.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import re
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import httpx

from one_tui.engine import params
from one_tui.engine.core import results as outcome
from one_tui.engine.core.errors import (
    AlyxConnectionError,
    AlyxError,
    AuthenticationError,
    HTTPError,
    IncompleteDownload,
    LoginRequired,
    MalformedResponse,
    ReadOnlyError,
)
from one_tui.engine.core.spec import shown
from one_tui.engine.remote.rest_cache import RestCache

_logger = logging.getLogger("one_tui.engine.remote.client")

READ_ACTIONS = ("list", "read")
WRITE_ACTIONS = ("create", "update", "partial_update", "partial-update", "delete")
_RETRY_STATUS = (429, 503)
_PAGE_KEYS = {"count", "next", "results"}


def _envelope(page: Any, query: str) -> tuple[int, str | None, list[Any]]:
    """(count, next, results) of a list page; MalformedResponse when it is not Alyx's shape."""
    where = urllib.parse.urlsplit(query).path or query
    if not (isinstance(page, dict) and _PAGE_KEYS <= page.keys()):
        raise MalformedResponse(f"Alyx sent a malformed page for {where}: not a list envelope")
    count, nxt, results = page["count"], page["next"], page["results"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise MalformedResponse(f"Alyx sent a malformed page for {where}: count is not a number")
    if nxt is not None and not isinstance(nxt, str):
        raise MalformedResponse(f"Alyx sent a malformed page for {where}: next is not a URL")
    if results is None:
        results = []
    if not isinstance(results, list):
        raise MalformedResponse(f"Alyx sent a malformed page for {where}: results is not a list")
    return count, nxt, results


def _bad_url(url: str, exc: Exception) -> AlyxError:
    """httpx refuses a URL (a bad --base-url, or a ``next``/``location`` Alyx sent)."""
    return AlyxError(f"Cannot request {shown(url, 200)}: {shown(exc)}")


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


class _Cancelled(Exception):
    """Internal: the caller's cancel event fired while waiting; not an error for the user."""


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
    ``django`` first, then the terms sorted by name: ``remote.session_filters`` builds that
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


def _one_line(text: str, limit: int = 200) -> str:
    """A body as one short line: the HTML <title> or tag-stripped text, truncated."""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    if title:
        text = title.group(1)
    elif "<" in text and ">" in text:
        text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(html.unescape(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_detail(response: httpx.Response) -> str:
    """Alyx's JSON ``detail`` (or the JSON body minus status_code), else one line of text."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return _one_line(response.text)
    if isinstance(body, dict):
        body.pop("status_code", None)
        detail = body.get("detail") or body
        return detail if isinstance(detail, str) else _one_line(json.dumps(detail))
    return _one_line(json.dumps(body))


def _retry_after(response: httpx.Response, attempt: int) -> float:
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
    ) -> None:
        settings = params.get_settings(base_url)
        if base_url is None:
            if settings is None:
                raise LoginRequired("No Alyx database is set up; give a database URL")
            base_url = settings.base_url
        self.base_url: str = base_url.rstrip("/")
        self._settings = settings
        self.user: str | None = username or (settings.username if settings else None)
        self.__password = password
        self._token: str | None = token
        self._force_login = password is not None and token is None
        self.cache_dir = params.resolve_cache_dir(self.base_url, cache_dir, settings)
        self.cache_rest = cache_rest
        self.silent = silent
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.notices: list[str] = []
        self._rest_cache = RestCache(self.cache_dir, on_note=self._queue)
        # ``no_cache(client)`` blocks, per thread: overlapping workers never share the switch
        self._bypass = threading.local()
        if (warning := plain_http_warning(self.base_url)) is not None:
            self._note(warning)
        self._auth_lock = threading.RLock()
        connect, read = timeout
        self._http = httpx.Client(
            timeout=httpx.Timeout(read, connect=connect),
            transport=transport,
            follow_redirects=True,
            headers={"Accept": "application/json", "User-Agent": "one-tui"},
        )

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
        """A warning a user should see: logged, and given to the current call's record (see
        outcome.py), or kept in ``notices`` when no call is recording."""
        _logger.warning(message)
        self._queue(message)

    def _queue(self, message: str) -> None:
        if not outcome.note(message):
            self.notices.append(message)

    @property
    def bypassed(self) -> bool:
        """True inside a ``no_cache(client)`` block of the calling thread."""
        return getattr(self._bypass, "depth", 0) > 0

    @property
    def needs_login(self) -> bool:
        """The next request will log in first (no token yet, or a password to check)."""
        return not self._token or self._force_login

    @property
    def is_logged_in(self) -> bool:
        """True when a token is held (no network check)."""
        return bool(self._token)

    @property
    def rest_cache_stats(self) -> dict[str, Any]:
        """Entries, bytes, hits, misses of the REST cache, whether it is on, its expiry."""
        stats = self._rest_cache.stats()
        stats["enabled"] = bool(self.cache_rest) and stats["enabled"]
        stats["default_expiry"] = self.default_expiry
        return stats

    def clear_rest_cache(self) -> None:
        """Delete every cached REST response of this database's cache dir."""
        self._rest_cache.clear()

    # --- authentication ---------------------------------------------------------------------

    def _password(self) -> str | None:
        if self.__password:
            return self.__password
        return self._settings.password if self._settings else None  # ALYX_PWD, as ONE reads it

    def authenticate(
        self, username: str | None = None, password: str | None = None, force: bool = False
    ) -> None:
        """Log in as ONE does: a cached token is reused with no request, else POST /auth-token."""
        with self._auth_lock:
            username = username or self.user
            if password is not None:
                self.__password = password
                force = True
            # A password given to the constructor is a login too (ONE logs in at once): never
            # let a saved token stand in for it, or a wrong password would seem to work.
            force = force or self._force_login
            if not username:
                raise LoginRequired(
                    f"No Alyx username for {self.base_url}; log in with a username and password"
                )
            self.user = username
            if not force:
                cached = self._settings.token_for(username) if self._settings else None
                if cached:
                    self._token = cached
                    self._force_login = False
                    return
            self._login(username)

    def _login(self, username: str) -> None:
        password = self._password()
        if not password:
            raise LoginRequired(f"Alyx at {self.base_url} needs the password of {username}")
        try:
            rep = self._http.post(
                f"{self.base_url}/auth-token", data={"username": username, "password": password}
            )
        except httpx.TransportError:
            raise self._connection_error() from None
        except httpx.InvalidURL as exc:
            raise _bad_url(f"{self.base_url}/auth-token", exc) from None
        if rep.status_code == 400:
            raise AuthenticationError(
                400,
                "/auth-token",
                f"Alyx authentication failed with credentials: user = {username}, password = ****",
            )
        if rep.status_code != 200:
            raise HTTPError(rep.status_code, "/auth-token", _error_detail(rep))
        try:
            token = rep.json()["token"]
        except (ValueError, KeyError, TypeError):
            raise AlyxError(f"Alyx at {self.base_url} sent no token on login") from None
        self._token = token
        self._force_login = False
        try:
            params.save_login(self.base_url, username, token, self.cache_dir)
            self._settings = params.get_settings(self.base_url)
        except (OSError, params.ParamsError) as exc:
            self._note(f"Logged in, but the token could not be saved in ~/.one: {exc}")
        _logger.info("Connected to %s as %s", self.base_url, username)

    def logout(self) -> None:
        """Forget the token (in memory and in ~/.one) and clear the REST cache, as ONE does."""
        with self._auth_lock:
            if self.user:
                try:
                    params.clear_token(self.base_url, self.user)
                    self._settings = params.get_settings(self.base_url)
                except (OSError, params.ParamsError) as exc:
                    self._note(f"Could not remove the token from ~/.one: {exc}")
            self._token = None
            self.__password = None
            self.clear_rest_cache()

    def _ensure_auth(self) -> None:
        if not self._token or self._force_login:
            self.authenticate(force=self._force_login)

    def ensure_login(self) -> None:
        """Log in now if the next request would (a job shows this as its own phase)."""
        self._ensure_auth()

    def _relogin_after_invalid_token(self) -> None:
        """Alyx said "Invalid token.": drop it and log in again once (needs the password)."""
        with self._auth_lock:
            if self.user:
                try:
                    params.clear_token(self.base_url, self.user)
                    self._settings = params.get_settings(self.base_url)
                except (OSError, params.ParamsError):
                    pass
            self._token = None
            if not self._password():
                raise LoginRequired(
                    f"Alyx at {self.base_url} rejected the saved token of {self.user}; log in again"
                )
            self.authenticate(force=True)

    # --- HTTP -------------------------------------------------------------------------------

    def _connection_error(self) -> AlyxConnectionError:
        return AlyxConnectionError(
            f"Can't connect to {self.base_url}. "
            "Check your network connection and Alyx database firewall"
        )

    def _absolute(self, query: str) -> tuple[str, str]:
        """(full URL, endpoint label) for a relative query or a URL on this database."""
        if query.startswith(self.base_url):
            rel = query[len(self.base_url) :]
        elif re.match(r"^\w+://", query):  # e.g. a `next` URL behind a proxy: keep our origin
            parts = urllib.parse.urlsplit(query)
            prefix = urllib.parse.urlsplit(self.base_url).path
            path = parts.path
            if prefix and path.startswith(prefix):
                path = path[len(prefix) :]
            rel = path + (f"?{parts.query}" if parts.query else "")
        else:
            rel = query
        if not rel.startswith("/"):
            rel = "/" + rel
        return self.base_url + rel, rel

    def _wait(self, seconds: float, cancel: threading.Event | None) -> None:
        seconds = min(seconds, self.max_retry_wait)
        if cancel is not None:
            if cancel.wait(seconds):
                raise _Cancelled
        else:
            time.sleep(seconds)

    def _send(self, url: str, cancel: threading.Event | None) -> httpx.Response:
        """GET with the token, honouring 429/503 Retry-After (bounded), mapping transport errors."""
        attempt = 0
        while True:
            headers = {"Authorization": f"Token {self._token}"} if self._token else {}
            try:
                rep = self._http.get(url, headers=headers)
            except httpx.TransportError:
                raise self._connection_error() from None
            except httpx.InvalidURL as exc:
                raise _bad_url(url, exc) from None
            if rep.status_code not in _RETRY_STATUS or attempt >= self.max_retries:
                return rep
            attempt += 1
            wait = _retry_after(rep, attempt - 1)
            _logger.info("Alyx answered %s; retrying in %.1f s", rep.status_code, wait)
            self._wait(wait, cancel)

    def _http_get(self, query: str, cancel: threading.Event | None = None) -> Any:
        """One GET on Alyx: authenticate, re-login once on "Invalid token.", decode JSON."""
        self._ensure_auth()
        url, endpoint = self._absolute(query)
        rep = self._send(url, cancel)
        if rep.status_code == 403 and "Invalid token." in rep.text:
            self._relogin_after_invalid_token()
            rep = self._send(url, cancel)
        if rep.status_code in (200, 201):
            try:
                return rep.json()
            except (ValueError, UnicodeDecodeError):
                raise AlyxError(
                    f"Alyx sent a response to {endpoint} that is not valid JSON "
                    f"({len(rep.content)} bytes)"
                ) from None
        if rep.status_code == 204:
            return None
        raise HTTPError(rep.status_code, endpoint, _error_detail(rep))

    def get(
        self,
        rest_query: str,
        expires: timedelta | bool | None = None,
        clobber: bool = False,
        cancel: threading.Event | None = None,
    ) -> Any:
        """Raw JSON of one GET (one page), through the REST cache as ONE's ``_cache_response``.

        ``expires=True`` stores the answer already expired (``cache/info``); ``clobber`` skips
        the cached copy. On a connection error a cached copy, even stale, is returned with a note.
        """
        mode = "" if self.bypassed else (self.cache_rest or "").lower()
        use_cache = mode in ("get", "*")
        if use_cache and not clobber:
            entry = self._rest_cache.get(rest_query)
            if entry is not None:
                if self._force_login:
                    # a password was given: log in before answering from the cache, so a wrong
                    # one fails here as in ONE (which logs in at construction); offline, the
                    # cached answer stands and the login waits for the next request
                    try:
                        self._ensure_auth()
                    except AlyxConnectionError:
                        pass
                outcome.answered(cached=True)
                return entry.value
        try:
            response = self._http_get(rest_query, cancel)
        except AlyxConnectionError:
            stale = self._rest_cache.get_stale(rest_query) if use_cache and not clobber else None
            if stale is None:
                raise
            self._note("Failed to connect, returning cached response")
            outcome.answered(cached=True, stale=True)
            return stale.value
        outcome.answered(network=True)
        if use_cache:
            self._rest_cache.put(rest_query, response, expires or self.default_expiry)
        return response

    def cache_info(self, tag: str | None = None) -> dict[str, Any]:
        """``cache/info`` as ONE fetches it: always from the network, stored already expired."""
        return self.get(f"cache/info/{tag}" if tag else "cache/info", expires=True)

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
        cache_args = {"expires": expires, "clobber": no_cache}
        try:
            if action == "read":
                if id is None:
                    raise ValueError(f'REST action "read" requires an ID: /{endpoint}/{{id}}')
                return self.get(f"/{endpoint}/{str(id).split('/')[-1]}", cancel=cancel,
                                **cache_args)
            query = list_query(endpoint, id=id, **filters)
            return self._list_all(query, cache_args, cancel, on_page, on_records)
        except _Cancelled:
            outcome.cancelled()
            return []

    def _list_all(
        self,
        query: str,
        cache_args: dict[str, Any],
        cancel: threading.Event | None,
        on_page: Callable[[int, int], None] | None,
        on_records: Callable[[list[Any]], None] | None = None,
    ) -> list[Any]:
        """First page, then ``limit=<first page length>&offset=k`` pages built from ``next``."""
        rep = self.get(query, cancel=cancel, **cache_args)
        if not (isinstance(rep, dict) and _PAGE_KEYS <= rep.keys()):
            if on_records and isinstance(rep, list):  # an unpaginated list: one page
                on_records(list(rep))
            return rep
        count, next_url, first = _envelope(rep, query)
        results = list(first)
        limit = len(results)
        next_url = next_url or (self.base_url + query)
        if on_records:
            on_records(list(results))
        if on_page:
            on_page(len(results), count)
        offset = limit
        while limit and offset < count:
            if cancel is not None and cancel.is_set():
                outcome.cancelled()
                break
            page_query = update_url_params(next_url, {"limit": limit, "offset": offset})
            try:
                page = self.get(page_query, cancel=cancel, **cache_args)
            except _Cancelled:
                outcome.cancelled()
                break
            page_count, _, page_results = _envelope(page, page_query)
            if page_count != count:
                path = urllib.parse.urlsplit(page_query).path
                self._note(
                    f"remote results for {path} endpoint changed; results may be inconsistent"
                )
                count = page_count
            if not page_results:
                break
            kept = page_results[: max(count - offset, 0)]
            results.extend(kept)
            offset += limit
            if on_records:
                on_records(list(kept))
            if on_page:
                on_page(len(results), count)
        return results

    # --- cache tables -----------------------------------------------------------------------

    def download_cache_tables(
        self,
        location: str | None,
        dest_dir: str | Path,
        cancel: threading.Event | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[Path]:
        """Download and unzip the cache tables into a new temporary folder inside ``dest_dir``.

        Returns the extracted files; their folder (``dest_dir/.one-tui-download-*``) is the
        caller's to move from and remove. A truncated or corrupt zip raises ``AlyxError`` and
        leaves ``dest_dir`` as it was. A cancel returns ``[]`` (the call's record says cancelled).
        """
        url = location or f"{self.base_url}/cache.zip"
        headers: dict[str, str] = {}
        if url.startswith(self.base_url):  # the token goes to our Alyx only, as in ONE
            self._ensure_auth()
            headers["Authorization"] = f"Token {self._token}"
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".one-tui-download-", dir=dest))
        try:
            zip_path = tmp / "cache.zip"
            try:
                complete = self._stream_to(url, headers, zip_path, cancel, on_progress)
            except HTTPError as exc:
                if not (headers and exc.status_code == 403 and "Invalid token." in exc.detail):
                    raise
                self._relogin_after_invalid_token()
                headers["Authorization"] = f"Token {self._token}"
                complete = self._stream_to(url, headers, zip_path, cancel, on_progress)
            if not complete:
                outcome.cancelled()
                shutil.rmtree(tmp, ignore_errors=True)
                return []
            files = self._unzip(zip_path, tmp / "tables", url)
            zip_path.unlink()
            return files
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _stream_to(
        self,
        url: str,
        headers: dict[str, str],
        target: Path,
        cancel: threading.Event | None,
        on_progress: Callable[[int, int], None] | None,
    ) -> bool:
        """Stream ``url`` to ``target``; False if cancelled. Raises on HTTP or network errors."""
        label = urllib.parse.urlsplit(url).path or url
        try:
            with self._http.stream("GET", url, headers=headers) as rep:
                if rep.status_code != 200:
                    rep.read()
                    raise HTTPError(rep.status_code, label, _error_detail(rep))
                total = int(rep.headers.get("Content-Length") or 0)
                done = 0
                # a cancel closes the response from a watcher thread, so a read stalled on a
                # slow or hung server returns at once instead of after its timeout
                finished = threading.Event()
                if cancel is not None:
                    threading.Thread(target=_close_on_cancel, args=(rep, cancel, finished),
                                     daemon=True, name="one-tui-download-cancel").start()
                try:
                    with open(target, "wb") as f:
                        for chunk in rep.iter_bytes():  # as received: progress and cancel
                            if cancel is not None and cancel.is_set():
                                return False
                            f.write(chunk)
                            done += len(chunk)
                            if on_progress:
                                on_progress(done, total)
                finally:
                    finished.set()
        except (httpx.StreamError, RuntimeError) as exc:
            if cancel is not None and cancel.is_set():
                return False  # the watcher closed the stream
            if isinstance(exc, httpx.StreamError):
                raise IncompleteDownload(f"The download of {label} stopped ({exc})") from None
            raise
        except httpx.RemoteProtocolError:
            if cancel is not None and cancel.is_set():
                return False  # cancelled while the read was stalled: not an error
            raise IncompleteDownload(
                f"The download of {label} from {self.base_url} was cut short; "
                "the local cache tables were left untouched"
            ) from None
        except httpx.TransportError:
            if cancel is not None and cancel.is_set():
                return False
            raise self._connection_error() from None
        except httpx.InvalidURL as exc:
            raise _bad_url(url, exc) from None
        except Exception:
            if cancel is not None and cancel.is_set():
                return False  # whatever a stream closed under its read raised
            raise
        if total and done != total:
            raise IncompleteDownload(
                f"The download of {label} is incomplete ({done} of {total} bytes); "
                "the local cache tables were left untouched"
            )
        return True

    @staticmethod
    def _unzip(zip_path: Path, out_dir: Path, url: str) -> list[Path]:
        """Check the zip is complete (CRCs included) and extract it safely."""
        label = urllib.parse.urlsplit(url).path or url
        size = zip_path.stat().st_size
        try:
            with zipfile.ZipFile(zip_path) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise zipfile.BadZipFile(bad)
                out_dir.mkdir()
                files = []
                for info in zf.infolist():
                    name = PurePosixPath(info.filename)
                    if info.is_dir():
                        continue
                    if name.is_absolute() or ".." in name.parts:
                        raise zipfile.BadZipFile(f"unsafe path {info.filename}")
                    zf.extract(info, out_dir)
                    files.append(out_dir.joinpath(*name.parts))
        except (zipfile.BadZipFile, EOFError, zlib.error):
            raise IncompleteDownload(
                f"{label} is not a complete zip file ({size} bytes); "
                "the local cache tables were left untouched"
            ) from None
        return files


def _close_on_cancel(rep: httpx.Response, cancel: threading.Event,
                     finished: threading.Event) -> None:
    """Close ``rep`` when ``cancel`` is set before ``finished`` (a download's watcher)."""
    while not finished.wait(0.05):
        if cancel.is_set():
            # closing a socket does not wake a blocked recv on Linux; shutting it down does
            with suppress(Exception):
                stream = rep.extensions.get("network_stream")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            return


@contextmanager
def no_cache(client: AlyxClient) -> Iterator[AlyxClient]:
    """Nothing is read from or written to the REST cache inside the block (ONE's ``no_cache``).

    The bypass belongs to the calling thread and nests: ``client.cache_rest`` is never touched,
    so blocks overlapping in two workers cannot leave each other's cache on or off.
    """
    local = client._bypass
    local.depth = getattr(local, "depth", 0) + 1
    try:
        yield client
    finally:
        local.depth -= 1
