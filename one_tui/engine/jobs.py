"""The table jobs of ``One``: connect, log in, refresh, download and load the tables.

It exists so the long work on the tables (the network part of ONE's constructor, ``cache/info``,
the cache.zip download with its phases, the check and atomic swap of the files under the lock)
changes in one place, apart from the mode policy (``modes.py``) that decides when it runs.
Each job takes ``cancel`` and ``on_progress(phase, done, total)`` and returns an
:class:`~one_tui.engine.core.results.Outcome`; a failure falls back to local and keeps the tables on
disk. Downloads hold ``download_lock``; table swaps hold the tables' lock.

ONE's ``@refresh`` step (:meth:`TableJobs.refresh_cache`) is here too: it is a job the mode
policy asks for before a decorated call.
"""

from __future__ import annotations

import logging
import shutil
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from one_tui.engine.core import results as outcome
from one_tui.engine.core.errors import (
    AlyxConnectionError,
    AlyxError,
    HTTPError,
    IncompleteDownload,
    OfflineError,
)
from one_tui.engine.core.freshness import parse_created
from one_tui.engine.core.results import Notices, Outcome, Phase, Progress
from one_tui.engine.core.spec import one_line
from one_tui.engine.core.types import FallbackReason, Mode, OutcomeKind
from one_tui.engine.local import fileformat, movein
from one_tui.engine.local.layout import ABANDONED_AFTER
from one_tui.engine.local.lock import FileLock
from one_tui.engine.modes import ModePolicy, login_problem, parse_mode, why_failed
from one_tui.engine.tables import Tables
from one_tui.engine.tablesets import WrongTableSet, check_files, check_info, disk_tags

if TYPE_CHECKING:
    from one_tui.engine.remote.client import AlyxClient

__all__ = ["TableJobs", "FRESH_WINDOW", "SUPPORTED_API_VERSION"]

log = logging.getLogger("one_tui.engine")

#: A remote table less than this much newer than ours counts as "no newer cache" (§2.6).
FRESH_WINDOW = timedelta(minutes=1)
#: Newest ``min_api_version`` of the tables we read (ONE 3.6.1's format).
SUPPORTED_API_VERSION = (3, 6, 1)

#: The Outcome kind of a failed table job, by why it failed.
_FAILURE_KIND = {
    FallbackReason.LOGIN_REFUSED: OutcomeKind.LOGIN_REFUSED,
    FallbackReason.LOGIN_NEEDED: OutcomeKind.LOGIN_NEEDED,
    FallbackReason.UNREACHABLE: OutcomeKind.UNREACHABLE,
}


def _version(text: Any) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in str(text).split(".")[:3])
    except ValueError:
        return (0,)


def _no_phase(name: str, done: int | None, total: int | None) -> None:
    """The progress of a job nobody watches."""


class TableJobs:
    """Jobs on the tables: each says what happened in an ``Outcome``.

    ``client`` is None without a database (every job then says so and asks nothing);
    ``login_at_start``: credentials were given to the constructor, so connecting logs in.
    """

    def __init__(self, client: AlyxClient | None, tables: Tables, policy: ModePolicy,
                 notices: Notices, *, login_at_start: bool = False) -> None:
        self.client = client
        self.tables = tables
        self.policy = policy
        self.notices = notices
        self.login_at_start = login_at_start
        self.download_lock = threading.Lock()

    def _outcome(self, kind: OutcomeKind, message: str, *, asked_alyx: bool = False,
                 detail: str | None = None) -> Outcome:
        return Outcome(kind, message, self.tables.created_time(), asked_alyx=asked_alyx,
                       detail=detail)

    def _finish(self, result: Outcome, rec: outcome.Recorder) -> Outcome:
        """The job's outcome with its notices; outside any recorded call they also go to the
        pending notices (a script using ``One`` as ONE reads them in ``one.notices``)."""
        if outcome.current() is None:
            self.notices.pending.extend(rec.notices)
        return Outcome(result.kind, result.message, result.created, tuple(rec.notices),
                       result.asked_alyx, result.detail)

    def _fallback_outcome(self) -> Outcome:
        """The outcome of a job that just fell back to local (the fallback says why)."""
        fallback = self.policy.fallback
        if fallback is None:
            return self._outcome(OutcomeKind.FAILED, "failed", asked_alyx=True)
        return self._outcome(_FAILURE_KIND.get(fallback.reason, OutcomeKind.FAILED),
                             fallback.text, asked_alyx=True)

    # -- connect ----------------------------------------------------------------------------------
    def connect(self, cancel: threading.Event | None = None,
                on_progress: Phase | None = None) -> Outcome:
        """The network part of ONE's constructor, as a job: auto/refresh download the tables
        when missing or expired (logging in first when needed), remote logs in when a password
        was given. ``on_progress(phase, done, total)`` reports "logging in", "asking Alyx for
        newer tables", "downloading" (bytes), "validating", "replacing"; ``cancel`` stops it
        keeping the tables on disk. Returns what happened; a failure falls back to local."""
        with outcome.recording() as rec:
            result = self._connect(cancel, on_progress)
        self.policy.table_job_ended(asked_nothing=result.kind is OutcomeKind.LOCAL)
        return self._finish(result, rec)

    def _connect(self, cancel: threading.Event | None, on_progress: Phase | None) -> Outcome:
        mode = self.policy.current
        if self.client is None or mode is Mode.LOCAL:
            why = self.policy.fallback.text if self.policy.fallback else None
            return self._outcome(OutcomeKind.LOCAL, why or "local mode: Alyx not asked")
        if mode in (Mode.AUTO, Mode.REFRESH) or self.tables.tag is not None:
            # a tag's tables answer the searches in every mode (ONE 3.x's trap E): keep them
            return self.update_tables(force=False, cancel=cancel, on_phase=on_progress)
        if self.login_at_start:
            if on_progress:
                on_progress("logging in", None, None)
            try:
                self.client.authenticate()
            except (AlyxError, OSError) as exc:
                self.policy.fall_back(*why_failed(exc, "login"))
                return self._fallback_outcome()
        return self._outcome(OutcomeKind.CONNECTED, "remote mode: searches go to Alyx")

    # -- login ------------------------------------------------------------------------------------
    def login_job(self, username: str, password: str, cancel: threading.Event | None = None,
                  on_progress: Phase | None = None) -> Outcome:
        """Log in, restore the mode that was asked for and load (or fetch) the tables; the
        outcome of the table update that follows. A refused login raises AuthenticationError
        (the app keeps its login form open)."""
        if self.client is None:
            raise OfflineError("No Alyx database is set up; give base_url to log in")
        if on_progress is not None:
            on_progress("logging in", None, None)
        self.client.authenticate(username, password, force=True)
        self.notices.take_from(self.client.notices.pending)
        self.policy.restore()
        self.tables.load()
        if self.policy.current is Mode.REMOTE:
            result = self._outcome(OutcomeKind.CONNECTED, f"logged in as {username}; remote mode",
                                   asked_alyx=True)
        else:
            result = self.update_tables(force=False, cancel=cancel, on_phase=on_progress)
        self.policy.table_job_ended()
        return result

    # -- refresh ----------------------------------------------------------------------------------
    def refresh(self, how: str = "auto", cancel: threading.Event | None = None,
                on_progress: Phase | None = None) -> Outcome:
        """The app's refresh job (``r``: ``auto``, ``R``: ``refresh``), saying what happened.

        ``auto`` asks Alyx only when the tables are expired (by the policy's clock), so a
        refresh of fresh tables says "not expired: Alyx not asked" instead of "nothing newer";
        ``refresh`` always asks ``cache/info``. After a fallback to local, either retries Alyx.
        Local mode chosen by the user asks nothing.
        """
        if how not in (Mode.AUTO, Mode.REFRESH):
            raise ValueError(f'refresh "{how}" not recognized (auto or refresh)')
        with outcome.recording() as rec:
            result = self._refresh(Mode(how), cancel, on_progress)
        self.policy.table_job_ended(asked_nothing=result.kind is OutcomeKind.LOCAL)
        return self._finish(result, rec)

    def _refresh(self, how: Mode, cancel: threading.Event | None,
                 on_progress: Phase | None) -> Outcome:
        if self.client is None:
            return self._outcome(OutcomeKind.LOCAL, "no Alyx database is set up: nothing asked")
        if self.policy.fell_back:
            return self.retry(cancel, on_phase=on_progress)
        if self.policy.current is Mode.LOCAL:
            return self._outcome(OutcomeKind.LOCAL, "local mode was chosen: Alyx not asked")
        if how is Mode.AUTO and self.tables.freshness().expired(self.policy.now()):
            self.tables.load()  # ONE's reload; another program may have fetched newer tables
        return self.update_tables(force=how is Mode.REFRESH, cancel=cancel, on_phase=on_progress)

    def retry(self, cancel: threading.Event | None = None, on_page: Progress | None = None,
              on_phase: Phase | None = None) -> Outcome:
        """After a fallback, ask Alyx again (``cache/info``, then the tables if newer); when
        that works the requested mode is back. The one retry: the refresh job and ONE's
        ``refresh_cache`` both come here."""
        self.policy.restore()
        result = self.update_tables(force=True, cancel=cancel, on_page=on_page, on_phase=on_phase)
        if not self.policy.fell_back:
            self.notices.warn(f"Alyx reachable again: back to {self.policy.requested} mode")
        return result

    def refresh_cache(self, mode: object = Mode.AUTO, cancel: threading.Event | None = None,
                      on_page: Progress | None = None) -> datetime | None:
        """ONE 2.x's ``refresh_cache`` (its ``@refresh`` step): ``auto`` reloads once
        ``cache_expiry`` has passed since the last load (Alyx is asked only if the tables are
        expired); ``refresh`` asks ``cache/info`` now and downloads if Alyx has newer tables.
        After a fallback to local, either retries Alyx. Returns the load time."""
        how = parse_mode(mode)
        if self.client is None or how in (Mode.LOCAL, Mode.REMOTE):
            return self.tables.loaded_time
        if self.policy.fell_back:
            self.retry(cancel, on_page)
        elif self.policy.current is Mode.LOCAL:
            pass
        elif how is Mode.REFRESH:
            self.update_tables(force=True, cancel=cancel, on_page=on_page)
        elif self.tables.freshness().load_is_due(self.policy.now()):
            self.load_cache(cancel=cancel, on_page=on_page)
        return self.tables.loaded_time

    # -- tables -----------------------------------------------------------------------------------
    def load_cache(self, clobber: bool = False, cancel: threading.Event | None = None,
                   on_page: Progress | None = None) -> datetime | None:
        """Load the tables from disk, then download newer ones when they are missing or expired
        (``clobber``: always ask ``cache/info``). Returns the load time (None: no tables).

        As in ONE 2.x, remote mode only downloads when ``clobber`` is given. ``on_page`` gets
        (bytes so far, total) of the download; ``cancel`` stops it and keeps the old tables.
        """
        self.tables.load()
        if not self.policy.offline and (clobber or self.policy.current is not Mode.REMOTE):
            self.update_tables(force=clobber, cancel=cancel, on_page=on_page)
        return self.tables.loaded_time

    def update_tables(self, force: bool, cancel: threading.Event | None = None,
                      on_page: Progress | None = None, on_phase: Phase | None = None
                      ) -> Outcome:
        """Download the tables if needed; any failure falls back to local. Says what happened.

        Its requests (``cache/info``, the download) do not count as the source of the query
        that triggered it (refresh mode asks ``cache/info`` before a local search).
        """
        with self.download_lock, outcome.recording(isolated=True) as rec:
            result = self._update_tables(force, cancel, on_page, on_phase or _no_phase)
        return self._finish(result, rec)

    def _update_tables(self, force: bool, cancel: threading.Event | None,
                       on_page: Progress | None, phase: Phase) -> Outcome:
        with self.tables.lock:
            tag, folder = self.tables.tag, self.tables.folder
        held = disk_tags(folder)  # another set's tables there (ONE's traps B, C): never "fresh"
        wrong_set = held is not None and held != ((tag,) if tag else ())
        if not force and not wrong_set and not self.tables.freshness().expired(self.policy.now()):
            return self._outcome(OutcomeKind.NOT_EXPIRED, f"tables from {self.tables.when()} "
                                 "are not expired: Alyx not asked")
        if self.tables.read_only:
            self.policy.fall_back(FallbackReason.OTHER,
                                  "cache folder is read-only; cannot download the tables")
            return self._outcome(OutcomeKind.FAILED, self.policy.offline_reason())
        client = self.client
        if client is None:
            return self._outcome(OutcomeKind.LOCAL, "no Alyx database is set up: nothing asked")
        try:
            if client.needs_login:  # the request below would log in first: say so
                phase("logging in", None, None)
                client.ensure_auth()
            phase("asking Alyx for newer tables", None, None)
            # a tag's own cache/info, never the full one (traps B, C): the slash saves the 301
            info = client.get(f"cache/info/{tag}/" if tag else "cache/info", expires=True,
                              clobber=True)
            check_info(info, tag)
            if not self._is_newer(info, tag, folder):
                return self._outcome(OutcomeKind.NOTHING_NEWER, "Alyx has nothing newer (tables "
                                     f"from {self.tables.when()})", asked_alyx=True)
            return self._download(client, info.get("location"), cancel, on_page, phase,
                                  tag, folder)
        except (AlyxError, OSError, ValueError, fileformat.InvalidTableError) as exc:
            fallback = self.policy.fall_back(*self._download_reason(exc))
            return self._outcome(_FAILURE_KIND.get(fallback.reason, OutcomeKind.FAILED),
                                 fallback.text, asked_alyx=True,
                                 detail=one_line(exc, named=True))
        finally:
            self.notices.take_from(client.notices.pending)

    def _is_newer(self, info: dict[str, Any], tag: str | None, folder: Path) -> bool:
        """§2.6: download unless Alyx's tables are less than a minute newer than ours; tables
        of another set in the folder (ONE's trap B or C wrote the full ones into a tag folder)
        are replaced whatever their date."""
        if _version(info.get("min_api_version", "0")) > SUPPORTED_API_VERSION:
            self.notices.warn(f"Newer cache tables require ONE version {info['min_api_version']}"
                              " or greater; kept the tables on disk")
            return False
        on_disk = disk_tags(folder)
        if on_disk is not None and on_disk != ((tag,) if tag else ()):
            self.notices.warn(f"{folder} held the tables of another set "
                              f"({', '.join(on_disk) or 'full'}): replacing them")
            return True
        remote_created = parse_created(info.get("date_created"))
        local_created = self.tables.created_time()
        if local_created and remote_created and remote_created - local_created < FRESH_WINDOW:
            log.info("No newer cache available")
            return False
        return True

    def _download_reason(self, exc: BaseException) -> tuple[FallbackReason, str]:
        """Why a table update failed and that the tables on disk were kept, by the error's type."""
        kept = "kept the tables on disk" if self.tables.has_tables else "no tables on disk"
        login = login_problem(exc)
        if login is not None:
            return login
        if isinstance(exc, WrongTableSet):
            return FallbackReason.BAD_TABLES, f"{exc}; {kept}"
        if isinstance(exc, fileformat.InvalidTableError):
            return (FallbackReason.BAD_TABLES,
                    f"cache.zip held a corrupt table ({str(exc).split(' ')[0]}); {kept}")
        if isinstance(exc, IncompleteDownload):
            return FallbackReason.BAD_TABLES, f"cache.zip was truncated; {kept}"
        if isinstance(exc, HTTPError) and "cache.zip" in exc.endpoint:
            return (FallbackReason.HTTP_ERROR,
                    f"cache.zip download failed (HTTP {exc.status_code}); {kept}")
        if isinstance(exc, HTTPError) and exc.status_code == 404 and "cache/info" in exc.endpoint:
            return (FallbackReason.HTTP_ERROR,
                    "this Alyx publishes no cache tables (cache/info: 404); use remote mode")
        if isinstance(exc, OSError) and not isinstance(exc, AlyxConnectionError):
            return (FallbackReason.OTHER,
                    f"could not write the new tables ({one_line(exc)}); {kept}")
        return why_failed(exc, "cache/info")

    def _download(self, client: AlyxClient, location: str | None,
                  cancel: threading.Event | None, on_page: Progress | None,
                  phase: Phase, tag: str | None, folder: Path) -> Outcome:
        """Fetch cache.zip into a temporary folder, read every table, then move them in.

        Only tables that read back whole replace the ones on disk. The frames read to check them
        are handed to the new Cache, except the datasets': it is only decoded to check it, and
        read when a query needs it, as codes (15M rows at 10x IBL scale would take 2 GiB).
        The tables must carry the set's ``database_tags`` (``check_files``) or none is moved.
        """
        for line in movein.finish_killed_moves(folder):
            self.notices.warn(line)
        self._remove_stale_downloads(folder)

        def progress(done: int, total: int) -> None:
            if on_page is not None:
                on_page(done, total)
            phase("downloading", done, total or None)

        phase("downloading", 0, None)
        files = client.download_cache_tables(location, folder, cancel=cancel,
                                             on_progress=progress)
        if not files:  # cancelled: not an error, the tables on disk stay
            return self._outcome(OutcomeKind.CANCELLED, "download cancelled; kept the tables "
                                 f"from {self.tables.when()}", asked_alyx=True)
        phase("validating", None, None)
        tmp_root = next(p for p in files[0].parents if p.name.startswith(movein.DOWNLOAD_PREFIX))
        checked: dict[str, pd.DataFrame] = {}
        try:
            top = [f for f in files if f.parent == tmp_root / movein.STAGED]
            if "sessions.pqt" not in {f.name for f in top}:
                raise fileformat.InvalidTableError("sessions.pqt is missing from cache.zip")
            check_files(top, tag)
            for f in top:
                if f.suffix == ".pqt" and f.stem == "datasets":  # rows read later, as codes
                    fileformat.check_table(f)
                elif f.suffix == ".pqt":
                    checked[f.stem] = fileformat.read_table(f)[0]
            phase("replacing", None, None)
            with FileLock(folder) as lock:
                for line in lock.broken_locks:
                    self.notices.warn(f"removed a stale lock: {line}")
                movein.move_in(tmp_root, top, folder)  # all of them, or the next run ends it
        finally:  # a move that failed half-way keeps its marker: the next load says so
            if not (tmp_root / movein.MARKER).exists():
                shutil.rmtree(tmp_root, ignore_errors=True)
        self.tables.load()
        self.tables.adopt(checked)
        return self._outcome(OutcomeKind.NEW_TABLES, f"new tables from {self.tables.when()}",
                             asked_alyx=True)

    def _remove_stale_downloads(self, folder: Path) -> None:
        """Delete download folders a killed process left behind (a cache.zip can be hundreds of
        MB). One untouched for ``ABANDONED_AFTER`` is dead; a live download keeps writing."""
        cutoff = datetime.now().timestamp() - ABANDONED_AFTER.total_seconds()
        for left in folder.glob(f"{movein.DOWNLOAD_PREFIX}*"):
            if (left / movein.MARKER).exists():  # tables still to move in: never deleted
                continue
            try:
                newest = max(p.stat().st_mtime for p in [left, *left.rglob("*")])
            except OSError:
                continue
            if newest < cutoff:
                shutil.rmtree(left, ignore_errors=True)

