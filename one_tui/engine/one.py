"""The ``One`` facade: ONE 2.x's four modes over the local tables and Alyx (the app's only API).

* ``local``: the tables on disk; nothing is sent by itself. A call given ``query_type='remote'``
  still asks Alyx when a database is configured (ONE 2.x's modes page), logging in then.
* ``remote``: searches, details, dataset lists and ID conversions go to Alyx; every REST result is
  merged into the in-memory tables (one-behaviour.md §2.8).
* ``auto`` (default): the tables, downloaded at start-up and before decorated calls only when
  missing or older than ``cache_expiry``; ``search`` always reads the tables; ``get_details``
  reads ``/sessions/<eid>`` as in every mode but local (ONE 2.x).
* ``refresh``: like auto, but every decorated call (and ``search``) first asks ``cache/info``.

Fallback (§1.3, as one-tui adopts it in §0): when the tables cannot be fetched or the login fails,
the mode becomes ``local``, ``requested_mode`` keeps what was asked and ``fallback_reason`` says
why in one line; the tables already on disk are never replaced by a bad download.

Thread safety: the app calls this from worker threads, possibly two concerns at a time (a search
while a session's details load). Table merges, swaps and local reads hold ``_lock``; downloads
hold ``_download_lock``; network requests hold neither, so a slow request blocks nobody.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from one_tui.engine import converters, outcome, params, query, remote, tables
from one_tui.engine.exceptions import (
    ALFObjectNotFound,
    AlyxConnectionError,
    AlyxError,
    AuthenticationError,
    CacheDirError,
    HTTPError,
    LoginRequired,
    OfflineError,
)
from one_tui.engine.lock import FileLock, ReadOnlyCacheError
from one_tui.engine.outcome import Answer, Outcome, Phase
from one_tui.engine.spec import QC, shown

if TYPE_CHECKING:  # httpx (~75 ms) is only imported when there is an Alyx to talk to
    from one_tui.engine.alyx import AlyxClient

__all__ = ["One", "MODES"]

log = logging.getLogger("one_tui.engine")

MODES = ("local", "remote", "auto", "refresh")
#: A remote table less than this much newer than ours counts as "no newer cache" (§2.6).
FRESH_WINDOW = timedelta(minutes=1)
#: Newest ``min_api_version`` of the tables we read (ONE 3.6.1's format).
SUPPORTED_API_VERSION = (3, 6, 1)
#: A download folder unchanged for this long was left by a killed process.
STALE_DOWNLOAD = timedelta(minutes=10)
_DETAIL_FIELDS = ("subject", "start_time", "number", "lab", "projects", "url", "task_protocol")

Progress = Callable[[int, int], None]
#: Gets the rows received so far after each page of a remote session search.
RowsCallback = Callable[[pd.DataFrame], None]


def _version(text: Any) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in str(text).split(".")[:3])
    except ValueError:
        return (0,)


def _parse_created(text: Any) -> datetime | None:
    """A ``date_created`` ('YYYY-MM-DD HH:MM', local time) as a naive datetime."""
    try:
        return datetime.strptime(str(text)[:16], tables.DATE_FORMAT)
    except ValueError:
        try:
            return datetime.fromisoformat(str(text)).replace(tzinfo=None)
        except ValueError:
            return None


def _failure_kind(exc: BaseException | None, reason: str) -> str:
    """The Outcome kind of a failed table job."""
    if isinstance(exc, AuthenticationError) or "login refused" in reason:
        return "login-refused"
    if isinstance(exc, LoginRequired) or "login needed" in reason:
        return "login-needed"
    if isinstance(exc, AlyxConnectionError) or "unreachable" in reason:
        return "unreachable"
    return "failed"


def _connection_cause(exc: BaseException) -> str:
    """A short cause of a connection failure from the chained transport error."""
    text = " ".join(str(e) for e in (exc.__cause__, exc.__context__) if e).lower()
    if "refused" in text:
        return "connection refused"
    if "timed out" in text or "timeout" in text:
        return "timed out"
    if "name or service" in text or "getaddrinfo" in text or "nodename" in text:
        return "host not found"
    if "reset" in text or "disconnected" in text or "closed" in text:
        return "connection dropped"
    return "connection failed"


class One:
    """ONE's ``ONE()`` for one-tui: modes, ``query_type``, fallback, tables and REST merges."""

    def __init__(self, base_url: str | None = None, username: str | None = None,
                 password: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 mode: str = "auto", cache_expiry: timedelta = timedelta(hours=24),
                 cache_rest: str | None = "GET", token: str | None = None, wildcards: bool = True,
                 silent: bool = True, client: AlyxClient | None = None, connect: bool = True,
                 clock: Callable[[], datetime] | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f'Mode "{mode}" not recognized')
        self._lock = threading.RLock()
        self._download_lock = threading.Lock()
        self.notices: list[str] = []
        self.fallback_reason: str | None = None
        self.requested_mode = mode
        self._mode = mode
        self._cache_expiry = cache_expiry
        self.wildcards = wildcards
        self.silent = silent
        self.read_only = False
        #: "now" for expiry (tests and the app inject theirs)
        self.clock: Callable[[], datetime] = clock or datetime.now
        self._login_at_start = bool(password)
        settings = None if client else self._settings(base_url, cache_dir)
        url = base_url or (settings.base_url if settings else None)
        self.cache_dir = self._prepare_dir(self._resolve_dir(cache_dir, client, settings, url))
        if client is None and url:
            from one_tui.engine.alyx import AlyxClient

            client = AlyxClient(url, username=username, password=password, token=token,
                                cache_dir=self.cache_dir, cache_rest=cache_rest, silent=silent)
        self.alyx: AlyxClient | None = client
        self._drain_client_notices()  # e.g. the plain-http warning, in every mode
        self._cache = tables.Cache(self.cache_dir, cache_expiry)
        self._merged_sessions: dict[str, str] = {}  # eid -> datasets last merged (JSON)
        self._load_local()
        if client is None and mode != "local":
            self._fall_back("no Alyx database is set up (give base_url)")
        elif connect:  # ONE's constructor; ``connect=False`` leaves it to the ``connect()`` job
            self.connect()

    def connect(self, cancel: threading.Event | None = None,
                on_progress: Phase | None = None) -> Outcome:
        """The network part of ONE's constructor, as a job: auto/refresh download the tables
        when missing or expired (logging in first when needed), remote logs in when a password
        was given. ``on_progress(phase, done, total)`` reports "logging in", "asking Alyx for
        newer tables", "downloading" (bytes), "validating", "replacing"; ``cancel`` stops it
        keeping the tables on disk. Returns what happened; a failure falls back to local."""
        with outcome.recording() as rec:
            result = self._connect(cancel, on_progress)
        return self._finish(result, rec)

    def _finish(self, result: Outcome, rec: outcome.Recorder) -> Outcome:
        """The job's outcome with its notices; outside any recorded call they also go to
        ``notices`` (a script using this object as ONE reads them there)."""
        if outcome.current() is None:
            self.notices.extend(rec.notices)
        return Outcome(result.kind, result.message, result.created, tuple(rec.notices),
                       result.asked_alyx, result.detail)

    def _connect(self, cancel: threading.Event | None, on_progress: Phase | None) -> Outcome:
        if self.alyx is None or self._mode == "local":
            return Outcome("local", self.fallback_reason or "local mode: Alyx not asked",
                           self._created_time())
        if self._mode in ("auto", "refresh"):
            return self._update_tables(force=False, cancel=cancel, on_phase=on_progress)
        if self._login_at_start:
            if on_progress:
                on_progress("logging in", None, None)
            self._authenticate_now()
            if self.fallback_reason:
                return Outcome(_failure_kind(None, self.fallback_reason), self.fallback_reason,
                               self._created_time(), asked_alyx=True)
        return Outcome("connected", "remote mode: searches go to Alyx", self._created_time())

    # -- set-up -------------------------------------------------------------------------------
    def _settings(self, base_url: str | None,
                  cache_dir: str | os.PathLike[str] | None) -> params.Settings | None:
        """The ~/.one settings of ``base_url``; without one, those of the database whose cache
        folder is ``cache_dir`` (ONE's ``check_cache_conflict``), else the default database."""
        try:
            if base_url:
                return params.get_settings(base_url)
            if cache_dir is None:
                return params.get_settings()
            for key, folder in params.read_caches()["CLIENT_MAP"].items():
                if Path(str(folder)).expanduser() == Path(cache_dir).expanduser():
                    return params.get_settings(key)
        except params.ParamsError as exc:
            self._notice(str(exc))
        return None

    def _resolve_dir(self, cache_dir: str | os.PathLike[str] | None, client: AlyxClient | None,
                     settings: params.Settings | None, url: str | None) -> Path:
        """The argument, else the given client's folder, else ``params.resolve_cache_dir``
        (~/.one's folder, else ONE's ``~/Downloads/ONE/<key>``): the one rule AlyxClient uses."""
        if not cache_dir and client is not None:
            return Path(client.cache_dir)
        return params.resolve_cache_dir(url, cache_dir, settings)

    def _prepare_dir(self, folder: Path) -> Path:
        """Create the cache folder; note (not fail) when it is read-only."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheDirError(
                f"Cache directory not accessible: {folder} ({exc.strerror or exc}). Please "
                "provide a valid cache_dir or run ONE.setup to update the default directory."
            ) from None
        self.read_only = not self._writable(folder)
        if self.read_only:
            self._notice("cache folder is read-only: nothing will be saved")
        return folder

    @staticmethod
    def _writable(folder: Path) -> bool:
        """Try to create a file: os.access alone misses read-only mounts."""
        if not os.access(folder, os.W_OK):
            return False
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".one-tui-probe-"):
                pass
        except OSError:
            return False
        return True

    # -- mode ---------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f'Mode "{value}" not recognized')
        if value != "local" and self.alyx is None:
            raise OfflineError(f'mode "{value}" needs an Alyx database; give base_url')
        self._mode = self.requested_mode = value
        self.fallback_reason = None

    @property
    def offline(self) -> bool:
        """ONE's rule: local mode, or no Alyx client at all."""
        return self._mode == "local" or self.alyx is None

    @property
    def cache_expiry(self) -> timedelta:
        """How old the tables may get before auto mode asks Alyx for newer ones (ONE 2.x)."""
        return self._cache_expiry

    @cache_expiry.setter
    def cache_expiry(self, value: timedelta) -> None:
        # the modes page sets it, then reads ``one._cache._meta``: show the new rule there
        self._cache_expiry = value
        cache = getattr(self, "_cache", None)
        if cache is not None:
            with self._lock:
                cache.meta["cache_expiry"] = value
                cache.meta["expired"] = self._expired()

    def __repr__(self) -> str:
        if self.alyx is None:
            return f"One (offline, {self.cache_dir})"
        return f"One ({'offline' if self.offline else 'online'}, {self.alyx.base_url})"

    def _notice(self, message: str) -> None:
        """A one-line warning for the user: logged and queued for the app's toasts. Control
        characters (from file names in a shared folder, server text) are escaped, so a notice
        stays one line and cannot drive the terminal it is printed on."""
        message = shown(message, limit=500)
        log.warning(message)
        self._queue(message)

    def _queue(self, message: str) -> None:
        """To the calling thread's current call (returned in its Answer / Outcome), else to
        ``notices`` for scripts that use this object as they would use ONE."""
        if not outcome.note(message):
            self.notices.append(message)

    def _drain_client_notices(self) -> None:
        """Move the client's notices to ours (another thread may be draining too)."""
        while self.alyx is not None:
            try:
                note = self.alyx.notices.pop(0)
            except IndexError:
                return
            self._queue(shown(note, limit=500))

    def _fall_back(self, reason: str) -> None:
        """Go to local mode, keep what was asked, say why in one line."""
        self._mode = "local"
        self.fallback_reason = f"{self.requested_mode} → local: {reason}"
        self._notice(self.fallback_reason)
        if (rec := outcome.current()) is not None:
            rec.fallback = self.fallback_reason

    def _login_reason(self, exc: Exception) -> str | None:
        """One-line reason for a login problem, None if ``exc`` is not one."""
        if isinstance(exc, AuthenticationError):
            return f"login refused ({exc.status_code})"
        if isinstance(exc, LoginRequired):
            return "login needed (no password or saved token)"
        if isinstance(exc, HTTPError) and exc.status_code in (401, 403):
            return f"Alyx refused access ({exc.status_code})"
        return None

    def _authenticate_now(self) -> None:
        """Log in at construction (credentials were given); a failure falls back to local."""
        try:
            self.alyx.authenticate()
        except (AlyxError, OSError) as exc:
            self._fall_back(self._failure_reason(exc, "login"))

    def _failure_reason(self, exc: BaseException, what: str) -> str:
        """One line for why talking to Alyx failed."""
        login = self._login_reason(exc) if isinstance(exc, Exception) else None
        if login:
            return login
        if isinstance(exc, AlyxConnectionError):
            return f"Alyx unreachable ({_connection_cause(exc)})"
        if isinstance(exc, HTTPError):
            # a password forces a login first: its error must not be blamed on cache/info
            where = "login" if exc.endpoint.startswith("/auth-token") else what
            return f"{where} failed (HTTP {exc.status_code})"
        return f"{what} failed ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"

    def _query_mode(self, query_type: str | None, refresh: bool = True) -> str:
        """The mode of one call; runs ONE's ``@refresh`` decorator step when ``refresh``.

        ``'remote'`` works in every mode with a database, local included (ONE's modes page: "in
        'auto'/'local' mode, a remote query can be made by specifying query_type='remote'"); it
        raises OfflineError, naming why, without a database or after a fallback to local (Alyx
        failed just now: ``refresh_cache`` retries it).
        """
        qt = query_type or self._mode
        if qt == "auto":
            qt = self._mode
        if qt not in MODES:
            raise ValueError(f'query_type "{qt}" not recognized')
        if qt == "remote":
            if self.alyx is None or self.fallback_reason is not None:
                raise OfflineError("query_type='remote' needs a connection to Alyx; one-tui is in "
                                   f"local mode ({self._offline_reason()})")
            return "remote"
        if qt == "local" or self.offline:
            return "local"
        if refresh:
            self.refresh_cache(qt)
        return qt

    def _offline_reason(self) -> str:
        if self.fallback_reason:
            return self.fallback_reason
        if self.alyx is None:
            return "no Alyx database is set up"
        return "local mode was chosen"

    def _require_online(self, what: str) -> None:
        if self.offline:
            raise OfflineError(f"{what} needs a connection to Alyx; one-tui is in local mode "
                               f"({self._offline_reason()})")

    # -- login --------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> None:
        """Log in to Alyx, restore the mode that was asked for and load (or fetch) the tables.

        A refused login raises AuthenticationError (the app keeps its login form open).
        """
        if self.alyx is None:
            raise OfflineError("No Alyx database is set up; give base_url to log in")
        self.login_job(username, password)

    def login_job(self, username: str, password: str, cancel: threading.Event | None = None,
                  on_progress: Phase | None = None) -> Outcome:
        """:meth:`login` as a job: the outcome of the table update that follows the login."""
        if self.alyx is None:
            raise OfflineError("No Alyx database is set up; give base_url to log in")
        if on_progress is not None:
            on_progress("logging in", None, None)
        self.alyx.authenticate(username, password, force=True)
        self._drain_client_notices()
        self._mode = self.requested_mode
        self.fallback_reason = None
        self._load_local()
        if self._mode == "remote":
            return Outcome("connected", f"logged in as {username}; remote mode",
                           self._created_time(), asked_alyx=True)
        return self._update_tables(force=False, cancel=cancel, on_phase=on_progress)

    def refresh(self, how: str = "auto", cancel: threading.Event | None = None,
                on_progress: Phase | None = None) -> Outcome:
        """The app's refresh job (``r``: ``auto``, ``R``: ``refresh``), saying what happened.

        ``auto`` asks Alyx only when the tables are expired (by ``clock``), so a refresh of
        fresh tables says "not expired: Alyx not asked" instead of "nothing newer"; ``refresh``
        always asks ``cache/info``. After a fallback to local, either retries Alyx and restores
        the requested mode when it answers. Local mode chosen by the user asks nothing.
        """
        if how not in ("auto", "refresh"):
            raise ValueError(f'refresh "{how}" not recognized (auto or refresh)')
        with outcome.recording() as rec:
            result = self._refresh(how, cancel, on_progress)
        return self._finish(result, rec)

    def _refresh(self, how: str, cancel: threading.Event | None,
                 on_progress: Phase | None) -> Outcome:
        if self.alyx is None:
            return Outcome("local", "no Alyx database is set up: nothing asked",
                           self._created_time())
        if self._mode == "local" and self.fallback_reason is None:
            return Outcome("local", "local mode was chosen: Alyx not asked",
                           self._created_time())
        if self._mode == "local":  # after a fallback: try Alyx again
            self._mode, self.fallback_reason = self.requested_mode, None
            result = self._update_tables(force=True, cancel=cancel, on_phase=on_progress)
            if self.fallback_reason is None:
                self._notice(f"Alyx reachable again: back to {self.requested_mode} mode")
            return result
        if how == "auto" and self._expired():
            self._load_local()  # ONE's reload; another program may have fetched newer tables
        return self._update_tables(force=how == "refresh", cancel=cancel, on_phase=on_progress)

    def ask(self, name: str, *args: Any, no_cache: bool = False, **kwargs: Any) -> Answer:
        """Call a query method (``search_sessions``, ``get_details`` ...) and return an
        :class:`~one_tui.engine.outcome.Answer`: its value (or error), where it came from, the
        notices and fallback it raised. ``no_cache=True`` bypasses the REST cache for this call
        only (a thread-local ``no_cache`` block: calls running at once are not affected).
        """
        method = getattr(self, name)
        with outcome.recording() as rec:
            try:
                if no_cache and self.alyx is not None:
                    from one_tui.engine.alyx import no_cache as bypass

                    with bypass(self.alyx):
                        value = method(*args, **kwargs)
                else:
                    value = method(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - returned: the caller shows it as failure
                return rec.answer(error=exc)
        return rec.answer(value)

    # -- tables -------------------------------------------------------------------------------
    def _load_local(self) -> datetime | None:
        """Read the tables on disk (datasets lazily) and swap them in."""
        cache = tables.load_cache(self.cache_dir, self.cache_expiry)
        for warning in cache.warnings:
            self._notice(warning)
        # later ones (a corrupt datasets.pqt found on first access, a file overwritten on save)
        # reach the app too, each once; the Cache has logged them already
        cache.on_warning = self._queue
        with self._lock:
            self._cache = cache
            self._merged_sessions = {}
        return cache.meta["loaded_time"]

    def load_cache(self, clobber: bool = False, cancel: threading.Event | None = None,
                   on_page: Progress | None = None) -> datetime | None:
        """Load the tables from disk, then download newer ones when they are missing or expired
        (``clobber``: always ask ``cache/info``). Returns the load time (None: no tables).

        As in ONE 2.x, remote mode only downloads when ``clobber`` is given. ``on_page`` gets
        (bytes so far, total) of the download; ``cancel`` stops it and keeps the old tables.
        """
        self._load_local()
        if not self.offline and (clobber or self._mode != "remote"):
            self._update_tables(force=clobber, cancel=cancel, on_page=on_page)
        return self._cache.meta["loaded_time"]

    def refresh_cache(self, mode: str = "auto", cancel: threading.Event | None = None,
                      on_page: Progress | None = None) -> datetime | None:
        """ONE 2.x's ``refresh_cache``: ``auto`` reloads once ``cache_expiry`` has passed since
        the last load (Alyx is asked only if the tables are expired); ``refresh`` asks
        ``cache/info`` now and downloads if Alyx has newer tables. After a fallback to local,
        either retries Alyx and restores the requested mode when it answers. ``cancel`` and
        ``on_page`` are those of :meth:`load_cache`."""
        if mode not in MODES:
            raise ValueError(f'Mode "{mode}" not recognized')
        if self.alyx is None or mode in ("local", "remote"):
            return self._cache.meta["loaded_time"]
        if self._mode == "local":
            if self.fallback_reason is not None:
                self._retry(cancel, on_page)
            return self._cache.meta["loaded_time"]
        if mode == "auto":
            loaded = self._cache.meta["loaded_time"]
            if loaded is None or self.clock() - loaded >= self.cache_expiry:
                self.load_cache(cancel=cancel, on_page=on_page)
        else:
            self._update_tables(force=True, cancel=cancel, on_page=on_page)
        return self._cache.meta["loaded_time"]

    def _retry(self, cancel: threading.Event | None = None,
               on_page: Progress | None = None) -> None:
        """After a fallback, an explicit refresh asks Alyx again (``cache/info``, then the
        tables if newer); when that works the requested mode is back. Local mode chosen by the
        user never gets here: it never touches the network."""
        self._mode, self.fallback_reason = self.requested_mode, None
        self._update_tables(force=True, cancel=cancel, on_page=on_page)
        if self.fallback_reason is None:
            self._notice(f"Alyx reachable again: back to {self.requested_mode} mode")

    def _update_tables(self, force: bool, cancel: threading.Event | None = None,
                       on_page: Progress | None = None, on_phase: Phase | None = None
                       ) -> Outcome:
        """Download the tables if needed; any failure falls back to local. Says what happened.

        Its requests (``cache/info``, the download) do not count as the source of the query
        that triggered it (refresh mode asks ``cache/info`` before a local search).
        """
        with self._download_lock, outcome.recording(isolated=True) as rec:
            result = self._update_tables_locked(force, cancel, on_page, on_phase)
        return self._finish(result, rec)

    def _update_tables_locked(self, force: bool, cancel: threading.Event | None,
                              on_page: Progress | None, on_phase: Phase | None) -> Outcome:
        def phase(name: str, done: int | None = None, total: int | None = None) -> None:
            if on_phase is not None:
                on_phase(name, done, total)

        if not force and not self._expired():
            return Outcome("not-expired", f"tables from {self._when()} are not expired: Alyx "
                           "not asked", self._created_time())
        if self.read_only:
            self._fall_back("cache folder is read-only; cannot download the tables")
            return Outcome("failed", self.fallback_reason or "", self._created_time())
        try:
            if self.alyx.needs_login:  # the request below would log in first: say so
                phase("logging in")
                self.alyx._ensure_auth()
            phase("asking Alyx for newer tables")
            info = self.alyx.get("cache/info", expires=True, clobber=True)
            if not self._is_newer(info):
                return Outcome("nothing-newer", f"Alyx has nothing newer (tables from "
                               f"{self._when()})", self._created_time(), asked_alyx=True)
            return self._download(info.get("location"), cancel, on_page, phase)
        except (AlyxError, OSError, ValueError, tables.InvalidTableError) as exc:
            self._fall_back(self._download_reason(exc))
            reason = self.fallback_reason or str(exc)
            first = str(exc).strip().splitlines()
            detail = f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__
            return Outcome(_failure_kind(exc, reason), reason, self._created_time(),
                           asked_alyx=True, detail=shown(detail, limit=300))
        finally:
            self._drain_client_notices()

    def _when(self) -> str:
        created = self._created_time()
        return created.strftime("%Y-%m-%d %H:%M") if created else "nowhere (no tables)"

    def _created_time(self) -> datetime | None:
        """Creation time of the tables Alyx publishes (sessions, datasets).

        ONE takes the minimum over *every* table, so an insertions table saved from REST merges
        makes fresh tables look old and re-downloaded at each start (ONE issue #139); here only
        the tables a download replaces count. Without them: the Cache's own value.
        """
        raw = self._cache.meta["raw"]
        times = [t for name in ("sessions", "datasets") if name in raw
                 and (t := _parse_created(raw[name].get("date_created"))) is not None]
        return min(times) if times else self._cache.meta["created_time"]

    def _expired(self) -> bool:
        """ONE 2.x: no tables, or older than ``cache_expiry`` (by :meth:`_created_time`)."""
        created = self._created_time()
        return created is None or self.clock() - created > self.cache_expiry

    def _is_newer(self, info: dict) -> bool:
        """§2.6: download unless Alyx's tables are less than a minute newer than ours."""
        if _version(info.get("min_api_version", "0")) > SUPPORTED_API_VERSION:
            self._notice(f"Newer cache tables require ONE version {info['min_api_version']} "
                         "or greater; kept the tables on disk")
            return False
        remote_created = _parse_created(info.get("date_created"))
        local_created = self._created_time()
        if local_created and remote_created and remote_created - local_created < FRESH_WINDOW:
            log.info("No newer cache available")
            return False
        return True

    def _download_reason(self, exc: BaseException) -> str:
        """One line: what failed and that the tables on disk were kept."""
        kept = "kept the tables on disk" if self._cache.meta["raw"] else "no tables on disk"
        login = self._login_reason(exc) if isinstance(exc, Exception) else None
        if login:
            return login
        if isinstance(exc, tables.InvalidTableError):
            return f"cache.zip held a corrupt table ({str(exc).split(' ')[0]}); {kept}"
        text = str(exc)
        if isinstance(exc, AlyxError) and not isinstance(exc, HTTPError | AlyxConnectionError):
            if "zip" in text or "cut short" in text or "incomplete" in text:
                return f"cache.zip was truncated; {kept}"
        if isinstance(exc, HTTPError) and "cache.zip" in exc.endpoint:
            return f"cache.zip download failed (HTTP {exc.status_code}); {kept}"
        if isinstance(exc, HTTPError) and exc.status_code == 404 and "cache/info" in exc.endpoint:
            return "this Alyx publishes no cache tables (cache/info: 404); use remote mode"
        if isinstance(exc, OSError) and not isinstance(exc, AlyxConnectionError):
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"could not write the new tables ({first}); {kept}"
        return self._failure_reason(exc, "cache/info")

    def _download(self, location: str | None, cancel: threading.Event | None = None,
                  on_page: Progress | None = None,
                  phase: Callable[..., None] = lambda *_: None) -> Outcome:
        """Fetch cache.zip into a temporary folder, read every table, then move them in.

        Only tables that read back whole replace the ones on disk. The frames read to check them
        are handed to the new Cache, except the datasets': it is only decoded to check it, and
        read when a query needs it, as codes (15M rows at 10x IBL scale would take 2 GiB).
        """
        self._remove_stale_downloads()

        def progress(done: int, total: int) -> None:
            if on_page is not None:
                on_page(done, total)
            phase("downloading", done, total or None)

        phase("downloading", 0, None)
        files = self.alyx.download_cache_tables(location, self.cache_dir, cancel=cancel,
                                                on_progress=progress)
        if not files:  # cancelled: not an error, the tables on disk stay
            return Outcome("cancelled", f"download cancelled; kept the tables from "
                           f"{self._when()}", self._created_time(), asked_alyx=True)
        phase("validating")
        tmp_root = next(p for p in files[0].parents if p.name.startswith(".one-tui-download-"))
        checked: dict[str, pd.DataFrame] = {}
        try:
            top = [f for f in files if f.parent == tmp_root / "tables"]
            if "sessions.pqt" not in {f.name for f in top}:
                raise tables.InvalidTableError("sessions.pqt is missing from cache.zip")
            for f in top:
                if f.suffix == ".pqt" and f.stem == "datasets":  # rows read later, as codes
                    tables.check_table(f)
                elif f.suffix == ".pqt":
                    checked[f.stem] = tables.read_table(f)[0]
            phase("replacing")
            with FileLock(self.cache_dir):
                for f in top:
                    os.replace(f, self.cache_dir / f.name)
        finally:
            shutil.rmtree(tmp_root, ignore_errors=True)
        self._load_local()
        with self._lock:
            for name in ("datasets", "insertions"):
                if name in checked and name in self._cache.meta["raw"]:
                    setattr(self._cache, name, checked[name])
        return Outcome("new-tables", f"new tables from {self._when()}", self._created_time(),
                       asked_alyx=True)

    def _remove_stale_downloads(self) -> None:
        """Delete download folders a killed process left behind (a cache.zip can be hundreds of
        MB). One untouched for ``STALE_DOWNLOAD`` is dead; a live download keeps writing."""
        cutoff = datetime.now().timestamp() - STALE_DOWNLOAD.total_seconds()
        for folder in self.cache_dir.glob(".one-tui-download-*"):
            try:
                newest = max(p.stat().st_mtime for p in [folder, *folder.rglob("*")])
            except OSError:
                continue
            if newest < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    def save_cache(self) -> bool:
        """Write the tables changed by remote merges, merged with those on disk, under the lock."""
        if self.read_only:
            self._notice("cache folder is read-only: nothing will be saved")
            return False
        try:
            with self._lock:
                return tables.save_cache(self._cache)
        except ReadOnlyCacheError:
            self.read_only = True
            self._notice("cache folder is read-only: nothing will be saved")
            return False

    def _merge(self, sessions: pd.DataFrame | None = None, datasets: pd.DataFrame | None = None,
               insertions: pd.DataFrame | None = None) -> None:
        """Merge REST rows into the in-memory tables (§2.8)."""
        origin = self.alyx.base_url if self.alyx else None
        with self._lock:
            tables.merge_tables(self._cache, origin=origin, sessions=sessions,
                                datasets=datasets, insertions=insertions)

    # -- REST ---------------------------------------------------------------------------------
    def _rest(self, endpoint: str, action: str = "list", **kwargs: Any) -> Any:
        """``alyx.rest`` recording where the answer came from; a login failure falls back."""
        try:
            result = self.alyx.rest(endpoint, action, **kwargs)
        except (AuthenticationError, LoginRequired) as exc:
            if self._mode != "local":  # local by choice stays local; the error says why
                self._fall_back(self._failure_reason(exc, endpoint))
            raise
        finally:
            self._drain_client_notices()
        return result

    def _remote_sessions(self, terms: dict[str, Any], cancel: threading.Event | None,
                         on_page: Progress | None, on_rows: RowsCallback | None = None,
                         ) -> tuple[list[dict], pd.DataFrame]:
        """Remote session search: (records, their sessions rows), merged page by page (§2.8).

        Each page is merged into the tables as it arrives, then ``on_rows`` gets the rows so
        far (server order), so a long search fills the table while it runs and a cancel keeps
        what arrived. A session listed twice (Alyx repeats a session per matching dataset when
        ``dataset_qc_lte`` is used alone) is kept once, at its first place.
        """
        filters = remote.session_filters(**terms)
        seen: set[str] = set()
        records: list[dict] = []
        frames: list[pd.DataFrame] = []
        pages = [0]

        def on_records(page: list[dict]) -> None:
            pages[0] += 1
            fresh = [r for r in page if not ((e := remote.eid_of(r)) in seen or seen.add(e))]
            if fresh:
                rows = remote.sessions_from_records(fresh)
                self._merge(sessions=rows)
                records.extend(fresh)
                frames.append(rows)
            if on_rows is not None:
                on_rows(pd.concat(frames) if frames else remote.sessions_from_records([]))

        answer = self._rest("sessions", "list", cancel=cancel, on_page=on_page,
                            on_records=on_records, **filters)
        if not pages[0] and answer:  # a client that does not report pages: merge at the end
            on_records(list(answer))
        rows = pd.concat(frames) if len(frames) > 1 else (
            frames[0] if frames else remote.sessions_from_records([]))
        return records, rows

    # -- search -------------------------------------------------------------------------------
    def search(self, details: bool = False, query_type: str | None = None,
               cancel: threading.Event | None = None, on_page: Progress | None = None,
               **terms: Any) -> Any:
        """Eids of matching sessions; ``details`` -> ``(eids, dicts)`` (``([], None)`` if none).

        Local: ONE's order (date, subject, number descending), dicts without eid. Remote: the
        server's order (``-start_time``), dicts are the REST records plus ``date``. Not
        refreshed in auto mode (§1.2); in refresh mode ``cache/info`` is asked first.
        """
        mode = self._query_mode(query_type, refresh=False)
        if mode == "refresh":
            self.refresh_cache("refresh")
        if mode == "remote":
            records, rows = self._remote_sessions(terms, cancel, on_page)
            eids = list(rows.index)
            if not details:
                return eids
            return (eids, [remote.session_details(r) for r in records]) if eids else ([], None)
        with self._lock:
            result = query.search(self._cache, details=details, wildcards=self.wildcards, **terms)
        return result

    def search_sessions(self, query_type: str | None = None,
                        cancel: threading.Event | None = None, on_page: Progress | None = None,
                        on_rows: RowsCallback | None = None, **terms: Any) -> pd.DataFrame:
        """The matching sessions rows (index eid): ONE's order locally, the server's remotely.

        Remote: ``on_rows`` is called after each page with the rows received so far (each page
        already merged into the tables), so the app can show the table growing.
        """
        mode = self._query_mode(query_type, refresh=False)
        if mode == "refresh":
            self.refresh_cache("refresh")
        if mode == "remote":
            return self._remote_sessions(terms, cancel, on_page, on_rows)[1]
        with self._lock:
            found = query.search_sessions(self._cache, wildcards=self.wildcards, **terms)
        return found

    def search_terms(self, query_type: str | None = None) -> tuple[str, ...]:
        """Search term names: local ones, or remote (local + Alyx's /sessions parameters).

        Static (no ``/api/schema`` request), so not refreshed in any mode.
        """
        qt = query_type or self._mode
        return remote.search_terms() if qt == "remote" else query.search_terms()

    # -- sessions and datasets ----------------------------------------------------------------
    def to_eid(self, id_: Any) -> str | None:
        """Any identifier ONE accepts to an eid; paths and refs not in the tables are looked up
        on Alyx when online."""
        with self._lock:
            eid = converters.to_eid(id_, self._cache)
        if eid is None and not self.offline and isinstance(id_, str | os.PathLike):
            text = os.fspath(id_)
            parts = converters.parse_session_path(text)
            if parts is None and converters.is_exp_ref(text):
                day, number, subject = text.split("_", 2)
                parts = {"lab": None, "subject": subject, "date": day, "number": int(number)}
            if parts is not None:
                eid = self._remote_path2eid(parts)
        return eid

    def _eid(self, eid: Any) -> str:
        """A session id for a REST call; ONE's error when it cannot be resolved."""
        resolved = self.to_eid(eid)
        if resolved is None:
            raise ValueError(f'Cannot parse session ID "{eid}" (session may not exist)')
        return resolved

    def _fetch_session(self, eid: Any, with_datasets: bool = True) -> dict:
        """``GET /sessions/<eid>``, its session (and dataset) rows merged into the tables.

        Merging into a 1.5M-row datasets table costs about half a second, so an answer that
        is the same as the one last merged for this session (a REST-cache hit, the details pane
        asking again) is not merged twice.
        """
        eid = self._eid(eid)
        try:
            record = self._rest("sessions", "read", id=eid)
        except HTTPError as exc:
            if exc.status_code == 404:
                raise ALFObjectNotFound(f"Session {eid} not found on Alyx") from None
            raise
        if not with_datasets:
            self._merge(sessions=remote.sessions_from_records([record]))
            return record
        key = json.dumps(record.get("data_dataset_session_related"), sort_keys=True, default=str)
        with self._lock:
            if self._merged_sessions.get(eid) == key:  # same answer already in these tables
                return record
        ses, datasets = remote.datasets_from_session(record)
        self._merge(sessions=ses, datasets=datasets)
        with self._lock:
            self._merged_sessions[eid] = key
        return record

    def get_details(self, eid: Any, full: bool = False, query_type: str | None = None) -> Any:
        """Local mode or ``query_type='local'``: the session row (Series); ``full`` -> its
        datasets with session columns.

        auto, refresh and remote (ONE 2.x: "if 'auto' uses whichever mode ONE is in"): ``GET
        /sessions/<eid>`` after the refresh step, its session row merged; ``full`` -> the whole
        record, else ONE 2.11.2's dict: the record's subject, start_time, number, lab, projects
        (comma-joined), url and task_protocol, then ``local_path`` and ``date``.
        A list of ids gives a list.
        """
        mode = self._query_mode(query_type)
        if mode == "local":
            with self._lock:
                result = query.get_details(self._cache, eid, full=full)
            return result
        if isinstance(eid, list):
            return [self._remote_details(e, full) for e in eid]
        return self._remote_details(eid, full)

    def _remote_details(self, eid: Any, full: bool) -> Any:
        """One session's details from ``GET /sessions/<eid>`` (ONE 2.11.2's fields)."""
        record = self._fetch_session(eid, with_datasets=False)
        if full:
            return record
        out = {k: v for k, v in record.items() if k in _DETAIL_FIELDS}  # ONE's order: Alyx's
        if "projects" in out:
            projects = out["projects"]
            out["projects"] = ",".join(map(str, projects)) if isinstance(
                projects, list | tuple) else projects
        with self._lock:  # the row was just merged: the path needs no second request
            out["local_path"] = converters.eid2path(self._cache, remote.eid_of(record),
                                                    self.cache_dir)
        out["date"] = remote.session_details(record)["date"]
        return out

    def list_datasets(self, eid: Any = None, filename: Any = None, collection: Any = None,
                      revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                      details: bool = False, query_type: str | None = None,
                      default_revisions_only: bool = False, keep_eid_index: bool = False) -> Any:
        """Datasets of the tables (or of one session), filtered as ONE's ``filter_datasets``.

        Remote with an eid reads ``GET /sessions/<eid>`` and merges its datasets first; remote
        without an eid lists the local tables with a notice, as ONE does.
        """
        eid = self._prepare_datasets(eid, query_type)
        with self._lock:
            return query.list_datasets(
                self._cache, eid=eid, filename=filename, collection=collection,
                revision=revision, qc=qc, ignore_qc_not_set=ignore_qc_not_set, details=details,
                default_revisions_only=default_revisions_only, keep_eid_index=keep_eid_index,
                wildcards=self.wildcards)

    def _prepare_datasets(self, eid: Any, query_type: str | None) -> Any:
        """Decorator step, then (remote) the fetch of one session's datasets.

        Returns the session to list from the tables: the resolved eid after a fetch, else the
        identifier as given (the local query resolves it, without the network).
        """
        mode = self._query_mode(query_type)
        if mode == "remote" and eid is not None:
            return remote.eid_of(self._fetch_session(eid))
        if mode == "remote":
            self._notice("Unable to list all remote datasets; listing the local tables")
        return eid

    def list_collections(self, eid: Any = None, filename: Any = None, collection: Any = None,
                         revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                         details: bool = False, query_type: str | None = None,
                         default_revisions_only: bool = False) -> Any:
        """Sorted unique collections ('' = session root); ``details`` -> {collection: rows}."""
        eid = self._prepare_datasets(eid, query_type)
        with self._lock:
            return query.list_collections(
                self._cache, eid=eid, filename=filename, collection=collection,
                revision=revision, qc=qc, ignore_qc_not_set=ignore_qc_not_set, details=details,
                default_revisions_only=default_revisions_only, wildcards=self.wildcards)

    def list_revisions(self, eid: Any = None, filename: Any = None, collection: Any = None,
                       revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                       details: bool = False, query_type: str | None = None,
                       default_revisions_only: bool = False) -> Any:
        """Sorted unique revisions without '#' ('' = none); ``details`` -> {revision: rows}."""
        eid = self._prepare_datasets(eid, query_type)
        with self._lock:
            return query.list_revisions(
                self._cache, eid=eid, filename=filename, collection=collection,
                revision=revision, qc=qc, ignore_qc_not_set=ignore_qc_not_set, details=details,
                default_revisions_only=default_revisions_only, wildcards=self.wildcards)

    def list_subjects(self, query_type: str | None = None) -> list[str]:
        """Sorted subjects of the local sessions table (ONE has no remote version)."""
        self._query_mode(None if query_type == "remote" else query_type)
        with self._lock:
            subjects = query.list_subjects(self._cache)
        return subjects

    # -- paths --------------------------------------------------------------------------------
    def eid2path(self, eid: Any, query_type: str | None = None) -> Any:
        """Local session folder of an eid; looked up on Alyx when not in the tables."""
        if isinstance(eid, list | tuple):
            return [self.eid2path(e, query_type) for e in eid]
        mode = self._query_mode(query_type)
        with self._lock:
            path = converters.eid2path(self._cache, eid, self.cache_dir)
        if path is not None or mode == "local":
            return path
        records = self._rest("sessions", "list", id=self._eid(eid))
        if not records:
            return None
        self._merge(sessions=remote.sessions_from_records(records))
        with self._lock:
            return converters.eid2path(self._cache, remote.eid_of(records[0]), self.cache_dir)

    def path2eid(self, path: Any, query_type: str | None = None) -> str | None:
        """Eid of a session folder path; looked up on Alyx when not in the tables."""
        mode = self._query_mode(query_type)
        with self._lock:
            eid = converters.path2eid(self._cache, path)
        if eid is not None or mode == "local":
            return eid
        parts = converters.parse_session_path(path)
        return self._remote_path2eid(parts) if parts else None

    def _remote_path2eid(self, parts: dict) -> str | None:
        """``search(subject, date_range=day, number, query_type='remote')`` -> one eid."""
        records, _ = self._remote_sessions(
            {"subject": parts["subject"], "date_range": str(parts["date"]),
             "number": parts.get("number_text", parts["number"])}, None, None)  # ONE: '001'
        if parts.get("lab"):
            records = [r for r in records if r.get("lab") == parts["lab"]] or records
        return remote.eid_of(records[0]) if records else None

    # -- insertions ---------------------------------------------------------------------------
    def _insertions_mode(self, query_type: str | None) -> str:
        """Remote when asked, or online without a local insertions table (ONE 2.x)."""
        mode = self._query_mode(query_type, refresh=False)
        if mode in ("auto", "refresh") and not self._cache.has_insertions:
            return "remote"
        return mode

    def search_insertions(self, details: bool = False, query_type: str | None = None,
                          cancel: threading.Event | None = None, on_page: Progress | None = None,
                          **terms: Any) -> Any:
        """Probe insertion ids (``details`` -> ``(pids, records)``); rows merged when remote."""
        if self._insertions_mode(query_type) != "remote":
            with self._lock:
                if not self._cache.has_insertions:
                    self._notice("No insertions data loaded.")
                result = query.search_insertions(self._cache, details=details,
                                                 wildcards=self.wildcards, **terms)
            return result
        filters = remote.insertion_filters(**terms)
        merged = [0]

        def on_records(page: list[dict]) -> None:  # each page merged as it arrives (§2.8)
            merged[0] += len(page)
            self._merge_insertions(page)

        records = list(self._rest("insertions", "list", cancel=cancel, on_page=on_page,
                                  on_records=on_records, **filters))
        if merged[0] < len(records):  # a client that does not report pages
            self._merge_insertions(records[merged[0]:])
        # Alyx repeats an insertion once per matching dataset (dataset_qc_lte) or project:
        # each is kept once, at its first place, as for sessions
        first: dict[str, dict] = {}
        for r in records:
            first.setdefault(str(r["id"]), r)
        records = list(first.values())
        pids = [str(r["id"]) for r in records]
        if not details:
            return pids
        return (pids, records) if pids else ([], None)

    def _merge_insertions(self, records: list[dict]) -> None:
        if records:
            ins, ses = remote.insertions_from_records(records)
            self._merge(sessions=ses if len(ses) else None, insertions=ins)

    def pid2eid(self, pid: Any, query_type: str | None = None) -> tuple[str | None, str | None]:
        """(eid, probe name) of an insertion; a pid unknown to Alyx gives (None, None)."""
        mode = self._query_mode(query_type)
        if mode != "remote":
            try:
                with self._lock:
                    result = query.pid2eid(self._cache, pid)
                return result
            except (NotImplementedError, ALFObjectNotFound):
                if mode == "local":
                    raise
        pid = str(pid).lower()
        try:
            record = self._rest("insertions", "read", id=pid)
        except HTTPError as exc:
            if exc.status_code != 404:
                raise
            self._notice(f"Probe {pid} not found in Alyx")
            return None, None
        self._merge_insertions([record])
        return str(record["session"]).lower()[-36:], record.get("name")

    def eid2pid(self, eid: Any, query_type: str | None = None, details: bool = False) -> Any:
        """(pids, names) of a session's insertions sorted by name; (None, None) if none."""
        mode = self._query_mode(query_type)
        if mode != "remote":
            try:
                with self._lock:
                    result = query.eid2pid(self._cache, eid, details=details)
                if result[0] is not None or mode == "local":
                    return result
            except NotImplementedError:
                if mode == "local":
                    raise
        records = list(self._rest("insertions", "list", session=self._eid(eid)))
        if not records:
            return (None, None, None) if details else (None, None)
        self._merge_insertions(records)
        records.sort(key=lambda r: str(r.get("name")))
        pids = [str(r["id"]) for r in records]
        names = [r.get("name") for r in records]
        return (pids, names, records) if details else (pids, names)

    # -- descriptions -------------------------------------------------------------------------
    def describe_revision(self, name: str, full: bool = False) -> Any:
        """A revision's description (``full``: its record); None with a notice if unknown."""
        self._require_online("describe_revision")
        try:
            record = self._rest("revisions", "read", id=name)
        except HTTPError as exc:
            if exc.status_code != 404:
                raise
            self._notice(f'revision "{name}" not found')
            return None
        return record if full else record.get("description")

    def describe_dataset(self, dataset_type: str | None = None) -> Any:
        """All dataset types (no argument) or one type's record, found by type name or, as ONE
        does, by a file name in the local datasets table."""
        self._require_online("describe_dataset")
        if dataset_type is None:
            return self._rest("dataset-types", "list")
        try:
            return self._rest("dataset-types", "read", id=dataset_type)
        except HTTPError as exc:
            if exc.status_code != 404:
                raise
        did = self._dataset_id_of(dataset_type)
        record = self._rest("datasets", "read", id=did)
        return self._rest("dataset-types", "read", id=record["dataset_type"])

    def _dataset_id_of(self, filename: str) -> str:
        """Id of a dataset whose file name is ``filename``, from the local table."""
        with self._lock:
            datasets = self._cache.datasets
            paths = datasets["rel_path"].astype(str)
            hits = datasets[(paths.str.rsplit("/", n=1).str[-1] == filename).to_numpy()]
        if len(hits) == 0:
            raise ValueError(f"Dataset {filename} not found in cache")
        return str(hits.index[0][-1])

    def preload_datasets(self, cancel: threading.Event | None = None) -> bool:
        """Read the datasets table (as codes, see tables.DatasetCodes) now, so the first dataset
        query does not pay for it; meant for a background worker. The file is read without
        holding the tables lock (searches go on meanwhile). True when the datasets are ready;
        False when cancelled (``cancel`` set) or the tables changed meanwhile."""
        with self._lock:
            cache = self._cache
            if cache.datasets_ready():
                return True
        try:
            codes = cache.read_dataset_codes(cancel)
        except tables.Cancelled:
            return False
        with self._lock:
            if self._cache is not cache:
                return False
            if codes is None:  # a legacy or bad file: the frame load handles (and reports) it
                cache.datasets_for_query()
                return True
            return cache.adopt_codes(codes)

    # -- status -------------------------------------------------------------------------------
    def cache_info(self) -> dict[str, Any]:
        """Everything the Cache pane shows, in plain values."""
        with self._lock:
            cache = self._cache
            meta = cache.meta
            info_tables = {
                name: {"rows": cache.row_counts.get(name),
                       "date_created": meta["raw"].get(name, {}).get("date_created"),
                       "origin": meta["raw"].get(name, {}).get("origin")}
                for name in cache.table_names if name in meta["raw"]}
            created = self._created_time()
            expired = self._expired()
        next_refresh = None
        if self._mode in ("auto", "refresh") and not self.offline and created is not None:
            next_refresh = created + self.cache_expiry
        rest_cache = {"enabled": False, "entries": 0, "bytes": 0, "hits": 0, "misses": 0,
                      "default_expiry": None}
        if self.alyx is not None:
            rest_cache.update(self.alyx.rest_cache_stats)
        return {
            "cache_dir": self.cache_dir, "tables": info_tables, "created_time": created,
            "loaded_time": meta["loaded_time"], "expired": expired,
            "cache_expiry": self.cache_expiry, "next_refresh": next_refresh,
            "rest_cache": rest_cache, "mode": self._mode, "requested_mode": self.requested_mode,
            "fallback_reason": self.fallback_reason,
            "base_url": self.alyx.base_url if self.alyx else None,
            "user": self.alyx.user if self.alyx else None, "read_only": self.read_only,
        }
