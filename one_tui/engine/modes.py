"""ONE 2.x's mode policy: which mode a call runs in, when to fall back, when auto refreshes.

It exists so each rule about modes lives in one place, apart from how the tables are read
(``one.py``), how Alyx is asked (``remote/backend.py``) and how the tables are fetched
(``jobs.py``), which all ask this object instead of comparing mode strings themselves:

* ``local``: the tables on disk; nothing is sent by itself. A call given ``query_type='remote'``
  still asks Alyx when a database is configured (ONE 2.x's modes page), logging in then.
* ``remote``: searches, details, dataset lists and ID conversions go to Alyx; every REST result is
  merged into the in-memory tables (one-behaviour.md §2.8).
* ``auto`` (default): the tables, downloaded at start-up and before decorated calls only when
  missing or older than ``cache_expiry``; ``search`` always reads the tables; ``get_details``
  reads ``/sessions/<eid>`` as in every mode but local (ONE 2.x).
* ``refresh``: like auto, but every decorated call (and ``search``) first asks ``cache/info``.

Fallback (§1.3, as one-tui adopts it in §0): when the tables cannot be fetched or the login fails,
the mode becomes ``local``; the :class:`~one_tui.engine.core.results.Fallback` keeps the mode
that was asked, why (a :class:`FallbackReason`) and one line for the user.

The app's auto rule (:meth:`ModePolicy.refresh_due`): the first search after the tables expired
refreshes them first, unless a table job already ran since they expired. ONE's own ``search`` is
not refreshed in auto mode (its modes page), so ``One.search`` keeps that; the app asks this rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from one_tui.engine.core import results as outcome
from one_tui.engine.core.errors import (
    AlyxConnectionError,
    AuthenticationError,
    HTTPError,
    LoginRequired,
    OfflineError,
)
from one_tui.engine.core.freshness import Freshness
from one_tui.engine.core.results import Fallback, Notices
from one_tui.engine.core.spec import one_line
from one_tui.engine.core.types import MODES, FallbackReason, Mode

__all__ = ["ModePolicy", "parse_mode", "why_failed", "login_problem"]


def parse_mode(value: object, what: str = "Mode") -> Mode:
    """The one validation of a mode name (ONE's error for an unknown one)."""
    if isinstance(value, Mode):
        return value
    if value in MODES:
        return Mode(str(value))
    raise ValueError(f'{what} "{value}" not recognized')


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


def login_problem(exc: BaseException) -> tuple[FallbackReason, str] | None:
    """Why a login went wrong, None if ``exc`` is not a login problem."""
    if isinstance(exc, AuthenticationError):
        return FallbackReason.LOGIN_REFUSED, f"login refused ({exc.status_code})"
    if isinstance(exc, LoginRequired):
        return FallbackReason.LOGIN_NEEDED, "login needed (no password or saved token)"
    if isinstance(exc, HTTPError) and exc.status_code in (401, 403):
        return FallbackReason.HTTP_ERROR, f"Alyx refused access ({exc.status_code})"
    return None


def why_failed(exc: BaseException, what: str) -> tuple[FallbackReason, str]:
    """Why talking to Alyx about ``what`` failed: the reason to decide on, one line to show."""
    login = login_problem(exc)
    if login is not None:
        return login
    if isinstance(exc, AlyxConnectionError):
        return FallbackReason.UNREACHABLE, f"Alyx unreachable ({_connection_cause(exc)})"
    if isinstance(exc, HTTPError):
        # a password forces a login first: its error must not be blamed on cache/info
        where = "login" if exc.endpoint.startswith("/auth-token") else what
        return FallbackReason.HTTP_ERROR, f"{where} failed (HTTP {exc.status_code})"
    return FallbackReason.OTHER, f"{what} failed ({one_line(exc)})"


class ModePolicy:
    """The mode asked for, the mode in force, the fallback between them, and the auto rule.

    ``has_database``: whether an Alyx client exists (without one only local mode is possible).
    ``freshness``: the tables' current :class:`Freshness` (the tables own it; asked each time).
    ``clock``: "now" for expiry; the app and tests inject theirs.
    """

    def __init__(self, mode: Mode, *, has_database: bool, freshness: Callable[[], Freshness],
                 notices: Notices, clock: Callable[[], datetime]) -> None:
        self.requested: Mode = mode
        self.current: Mode = mode
        self.fallback: Fallback | None = None
        self.has_database = has_database
        self.clock = clock
        self._freshness = freshness
        self._notices = notices
        #: when the last table job (connect, login, refresh) ended, by ``clock``
        self.tables_checked_at: datetime | None = None

    def now(self) -> datetime:
        return self.clock()

    # -- the mode ---------------------------------------------------------------------------------
    def choose(self, value: object) -> None:
        """The user's choice of mode: it is both asked and in force; any fallback is over."""
        mode = parse_mode(value)
        if mode is not Mode.LOCAL and not self.has_database:
            raise OfflineError(f'mode "{mode}" needs an Alyx database; give base_url')
        self.current = self.requested = mode
        self.fallback = None

    @property
    def offline(self) -> bool:
        """ONE's rule: local mode, or no Alyx client at all."""
        return self.current is Mode.LOCAL or not self.has_database

    @property
    def remote_allowed(self) -> bool:
        """Whether a call given ``query_type='remote'`` may ask Alyx now: a database is set up
        and the mode did not just fall back (``LOCAL_MEANS`` says it in words)."""
        return self.has_database and self.fallback is None

    @property
    def fell_back(self) -> bool:
        """In local mode because Alyx failed (not by choice): a refresh may try Alyx again."""
        return self.fallback is not None

    # -- fallback ---------------------------------------------------------------------------------
    def fall_back(self, reason: FallbackReason, why: str) -> Fallback:
        """Go to local mode, keep what was asked, say why in one line (to the user and to the
        calling thread's record)."""
        self.current = Mode.LOCAL
        self.fallback = Fallback(self.requested, reason, f"{self.requested} → local: {why}")
        self._notices.warn(self.fallback.text)
        if (rec := outcome.current()) is not None:
            rec.fallback = self.fallback
        return self.fallback

    def restore(self) -> None:
        """Back to the mode that was asked (a login worked, or Alyx is retried after a fallback)."""
        self.current, self.fallback = self.requested, None

    def offline_reason(self) -> str:
        if self.fallback is not None:
            return self.fallback.text
        if not self.has_database:
            return "no Alyx database is set up"
        return "local mode was chosen"

    def require_online(self, what: str) -> None:
        if self.offline:
            raise OfflineError(f"{what} needs a connection to Alyx; one-tui is in local mode "
                               f"({self.offline_reason()})")

    # -- query_type -------------------------------------------------------------------------------
    def call_mode(self, query_type: object | None) -> Mode:
        """The mode of one call: LOCAL, REMOTE, or AUTO / REFRESH (the tables, after ONE's
        ``@refresh`` step, which the caller runs).

        ``'remote'`` works in every mode with a database, local included (ONE's modes page: "in
        'auto'/'local' mode, a remote query can be made by specifying query_type='remote'"); it
        raises OfflineError, naming why, without a database or after a fallback to local (Alyx
        failed just now: ``refresh_cache`` retries it).
        """
        asked = self.current if query_type in (None, Mode.AUTO) else parse_mode(
            query_type, "query_type")
        if asked is Mode.REMOTE:
            if not self.remote_allowed:
                raise OfflineError("query_type='remote' needs a connection to Alyx; one-tui is in "
                                   f"local mode ({self.offline_reason()})")
            return Mode.REMOTE
        if asked is Mode.LOCAL or self.offline:
            return Mode.LOCAL
        return asked

    # -- the app's auto rule ----------------------------------------------------------------------
    def table_job_ended(self, asked_nothing: bool = False) -> None:
        """A table job (connect, login, refresh) ended, whatever its outcome; one that asked
        nothing (local mode) leaves the rule as it was, so switching local → auto on expired
        tables still refreshes them at the next search, as the Cache pane says."""
        if not asked_nothing:
            self.tables_checked_at = self.clock()

    def refresh_due(self, now: datetime, query_type: object | None = None) -> bool:
        """Whether auto's next local search should refresh the tables first: in auto mode, the
        tables expired, and no table job ran since they expired (so a download the user
        cancelled at start is not started again by the first search). Never without tables
        (connecting fetches them) nor for a remote search."""
        if self.current is not Mode.AUTO or not self.has_database:
            return False
        if query_type is not None and parse_mode(query_type, "query_type") is Mode.REMOTE:
            return False
        return self._freshness().refresh_due(now, self.tables_checked_at)
