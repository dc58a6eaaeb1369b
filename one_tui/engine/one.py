"""The ``One`` facade: ONE 2.x's ``ONE()`` over the local tables and Alyx (the app's only API).

``from one_tui.engine import One`` (or ``one_tui.engine.one``) is the object users and the app
talk to. This module keeps what makes it one object: the constructor (settings, the data folder,
the client, the first load), the notices, ``ask`` (the seam: a query's :class:`Answer`) and
``cache_info``. The rest is one mixin per reason to change:

* ``one_modes.ModePolicy``: the four modes, ``query_type``, fallback to local, expiry;
* ``one_queries.Queries``: ONE's query methods on the local tables (``query.py``);
* ``one_alyx.AlyxBackend``: REST calls and the merge of their rows;
* ``one_jobs.TableJobs``: connect, login, refresh, download, load and save (``Outcome`` jobs).

Thread safety: the app calls this from worker threads, possibly two concerns at a time (a search
while a session's details load). Table merges, swaps and local reads hold ``_lock``; downloads
hold ``_download_lock``; network requests hold neither, so a slow request blocks nobody.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from one_tui.engine import params
from one_tui.engine.core import results as outcome
from one_tui.engine.core.errors import CacheDirError
from one_tui.engine.core.results import Answer
from one_tui.engine.core.spec import shown
from one_tui.engine.jobs import TableJobs
from one_tui.engine.local.cache import Cache
from one_tui.engine.modes import MODES, ModePolicy
from one_tui.engine.queries import Queries
from one_tui.engine.remote.backend import AlyxBackend

if TYPE_CHECKING:  # httpx (~75 ms) is only imported when there is an Alyx to talk to
    from one_tui.engine.remote.client import AlyxClient

__all__ = ["One", "MODES"]

log = logging.getLogger("one_tui.engine")


class One(Queries, AlyxBackend, TableJobs, ModePolicy):
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
            from one_tui.engine.remote.client import AlyxClient

            client = AlyxClient(url, username=username, password=password, token=token,
                                cache_dir=self.cache_dir, cache_rest=cache_rest, silent=silent)
        self.alyx: AlyxClient | None = client
        self._drain_client_notices()  # e.g. the plain-http warning, in every mode
        self._cache = Cache(self.cache_dir, cache_expiry, self.clock)
        self._merged_sessions: dict[str, str] = {}  # eid -> datasets last merged (JSON)
        self._load_local()
        if client is None and mode != "local":
            self._fall_back("no Alyx database is set up (give base_url)")
        elif connect:  # ONE's constructor; ``connect=False`` leaves it to the ``connect()`` job
            self.connect()

    # -- set-up -----------------------------------------------------------------------------------
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

    def __repr__(self) -> str:
        if self.alyx is None:
            return f"One (offline, {self.cache_dir})"
        return f"One ({'offline' if self.offline else 'online'}, {self.alyx.base_url})"

    # -- notices ----------------------------------------------------------------------------------
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

    # -- the seam ---------------------------------------------------------------------------------
    def ask(self, name: str, *args: Any, no_cache: bool = False, **kwargs: Any) -> Answer:
        """Call a query method (``search_sessions``, ``get_details`` ...) and return an
        :class:`~one_tui.engine.core.results.Answer`: its value (or error), where it came from, the
        notices and fallback it raised. ``no_cache=True`` bypasses the REST cache for this call
        only (a thread-local ``no_cache`` block: calls running at once are not affected).
        """
        method = getattr(self, name)
        with outcome.recording() as rec:
            try:
                if no_cache and self.alyx is not None:
                    from one_tui.engine.remote.client import no_cache as bypass

                    with bypass(self.alyx):
                        value = method(*args, **kwargs)
                else:
                    value = method(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - returned: the caller shows it as failure
                return rec.answer(error=exc)
        return rec.answer(value)

    @property
    def tables_id(self) -> int:
        """Changes whenever the tables in memory are replaced (a download, a reload)."""
        return id(self._cache)

    # -- status -----------------------------------------------------------------------------------
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
