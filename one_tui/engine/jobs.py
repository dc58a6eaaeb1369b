"""The table jobs of ``One``: connect, log in, refresh, download, load and save the tables.

It exists so the long work on the tables (the network part of ONE's constructor, ``cache/info``,
the cache.zip download with its phases, the check and atomic swap of the files under the lock)
changes in one place, apart from the mode policy (``one_modes``) that decides when it runs.
Each job takes ``cancel`` and ``on_progress(phase, done, total)`` and returns an
:class:`~one_tui.engine.core.results.Outcome`; a failure falls back to local and keeps the tables on
disk. Downloads hold ``_download_lock``; table swaps hold ``_lock``.

A mixin of :class:`one_tui.engine.one.One`.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from one_tui.engine.core import results as outcome
from one_tui.engine.core.errors import (
    AlyxConnectionError,
    AlyxError,
    AuthenticationError,
    HTTPError,
    LoginRequired,
    OfflineError,
)
from one_tui.engine.core.freshness import parse_created
from one_tui.engine.core.results import Outcome, Phase, Progress
from one_tui.engine.core.spec import shown
from one_tui.engine.local import fileformat, store
from one_tui.engine.local.layout import ABANDONED_AFTER
from one_tui.engine.local.lock import FileLock, ReadOnlyCacheError

log = logging.getLogger("one_tui.engine")

#: A remote table less than this much newer than ours counts as "no newer cache" (§2.6).
FRESH_WINDOW = timedelta(minutes=1)
#: Newest ``min_api_version`` of the tables we read (ONE 3.6.1's format).
SUPPORTED_API_VERSION = (3, 6, 1)


def _version(text: Any) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in str(text).split(".")[:3])
    except ValueError:
        return (0,)


def _failure_kind(exc: BaseException | None, reason: str) -> str:
    """The Outcome kind of a failed table job."""
    if isinstance(exc, AuthenticationError) or "login refused" in reason:
        return "login-refused"
    if isinstance(exc, LoginRequired) or "login needed" in reason:
        return "login-needed"
    if isinstance(exc, AlyxConnectionError) or "unreachable" in reason:
        return "unreachable"
    return "failed"


class TableJobs:
    """Jobs on the tables: each says what happened in an ``Outcome``."""

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

    def _authenticate_now(self) -> None:
        """Log in at construction (credentials were given); a failure falls back to local."""
        try:
            self.alyx.authenticate()
        except (AlyxError, OSError) as exc:
            self._fall_back(self._failure_reason(exc, "login"))

    # -- login ------------------------------------------------------------------------------------
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

    # -- tables -----------------------------------------------------------------------------------
    def _load_local(self) -> datetime | None:
        """Read the tables on disk (datasets lazily) and swap them in."""
        cache = store.load_cache(self.cache_dir, self.cache_expiry, self.clock)
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
                self.alyx.ensure_auth()
            phase("asking Alyx for newer tables")
            info = self.alyx.get("cache/info", expires=True, clobber=True)
            if not self._is_newer(info):
                return Outcome("nothing-newer", f"Alyx has nothing newer (tables from "
                               f"{self._when()})", self._created_time(), asked_alyx=True)
            return self._download(info.get("location"), cancel, on_page, phase)
        except (AlyxError, OSError, ValueError, fileformat.InvalidTableError) as exc:
            self._fall_back(self._download_reason(exc))
            reason = self.fallback_reason or str(exc)
            first = str(exc).strip().splitlines()
            detail = f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__
            return Outcome(_failure_kind(exc, reason), reason, self._created_time(),
                           asked_alyx=True, detail=shown(detail, limit=300))
        finally:
            self._drain_client_notices()

    def _is_newer(self, info: dict) -> bool:
        """§2.6: download unless Alyx's tables are less than a minute newer than ours."""
        if _version(info.get("min_api_version", "0")) > SUPPORTED_API_VERSION:
            self._notice(f"Newer cache tables require ONE version {info['min_api_version']} "
                         "or greater; kept the tables on disk")
            return False
        remote_created = parse_created(info.get("date_created"))
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
        if isinstance(exc, fileformat.InvalidTableError):
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
                raise fileformat.InvalidTableError("sessions.pqt is missing from cache.zip")
            for f in top:
                if f.suffix == ".pqt" and f.stem == "datasets":  # rows read later, as codes
                    fileformat.check_table(f)
                elif f.suffix == ".pqt":
                    checked[f.stem] = fileformat.read_table(f)[0]
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
        MB). One untouched for ``ABANDONED_AFTER`` is dead; a live download keeps writing."""
        cutoff = datetime.now().timestamp() - ABANDONED_AFTER.total_seconds()
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
                return store.save_cache(self._cache)
        except ReadOnlyCacheError:
            self.read_only = True
            self._notice("cache folder is read-only: nothing will be saved")
            return False

    def preload_datasets(self, cancel: threading.Event | None = None) -> bool:
        """Read the datasets table (as codes, see codes.DatasetCodes) now, so the first dataset
        query does not pay for it; meant for a background worker. The file is read without
        holding the tables lock (searches go on meanwhile). True when the datasets are ready;
        False when cancelled (``cancel`` set) or the tables changed meanwhile."""
        with self._lock:
            cache = self._cache
            if cache.datasets_ready():
                return True
        try:
            codes = cache.read_dataset_codes(cancel)
        except fileformat.Cancelled:
            return False
        with self._lock:
            if self._cache is not cache:
                return False
            if codes is None:  # a legacy or bad file: the frame load handles (and reports) it
                cache.datasets_for_query()
                return True
            return cache.adopt_codes(codes)
