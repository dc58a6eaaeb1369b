"""ONE 2.x's mode policy for ``One``: which mode a call runs in, when to fall back, when to refresh.

It exists so each rule about modes lives in one place, apart from how the tables are read
(``one_queries``), how Alyx is asked (``one_alyx``) and how the tables are fetched (``one_jobs``):

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

Expiry: the tables' age is the creation time of the tables Alyx publishes (``_created_time``),
compared with ``clock()``; ``refresh_cache`` is ONE's ``@refresh`` decision.

A mixin of :class:`one_tui.engine.one.One`: it uses the facade's ``alyx``, ``_cache``,
``_lock``, ``clock`` and ``_notice``, and the table jobs' ``load_cache`` / ``_update_tables``.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from one_tui.engine.core import results as outcome
from one_tui.engine.core.errors import (
    AlyxConnectionError,
    AuthenticationError,
    HTTPError,
    LoginRequired,
    OfflineError,
)
from one_tui.engine.core.results import Progress

MODES = ("local", "remote", "auto", "refresh")


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


class ModePolicy:
    """The mode of each call, the fallback to local and the tables' expiry."""

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

    # -- fallback ---------------------------------------------------------------------------------
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

    # -- query_type -------------------------------------------------------------------------------
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

    def _insertions_mode(self, query_type: str | None) -> str:
        """Remote when asked, or online without a local insertions table (ONE 2.x)."""
        mode = self._query_mode(query_type, refresh=False)
        if mode in ("auto", "refresh") and not self._cache.has_insertions:
            return "remote"
        return mode

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

    # -- expiry and ONE's refresh step ------------------------------------------------------------
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

    def _when(self) -> str:
        created = self._created_time()
        return created.strftime("%Y-%m-%d %H:%M") if created else "nowhere (no tables)"

    def _created_time(self) -> datetime | None:
        """Creation time of the tables: the Cache's one freshness rule (see Cache.freshness)."""
        return self._cache.freshness.created

    def _expired(self) -> bool:
        """ONE 2.x: no tables, or older than ``cache_expiry``, judged by ``clock``."""
        return self._cache.freshness.expired(self.clock())
