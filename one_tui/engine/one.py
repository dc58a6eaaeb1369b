"""The ``One`` facade: ONE 2.x's ``ONE()`` over the local tables and Alyx, for scripts and tests.

``from one_tui.engine import One`` gives ONE's public API (``search``, ``list_datasets``,
``get_details``, ``load_cache``, ``refresh_cache``, ``mode``, ``offline`` ...). The app talks to
``service.EngineService``, which holds a ``One``. ``One`` is composed of parts, each built here
with what it needs, so each rule has one home:

* ``tables`` (:class:`~one_tui.engine.tables.Tables`): the in-memory tables, their lock, folder
  and freshness (the one expiry rule);
* ``policy`` (:class:`~one_tui.engine.modes.ModePolicy`): the four modes, ``query_type``, the
  fallback to local, the app's auto refresh rule;
* ``remote`` (:class:`~one_tui.engine.backend.AlyxBackend`, None without a database):
  what one call asks Alyx, merged into the tables;
* ``jobs`` (:class:`~one_tui.engine.jobs.TableJobs`): connect, login, refresh, download, each
  returning an ``Outcome``.

ONE's query methods are here: each asks the policy for its mode, then reads the tables
(``local/query.py``) under their lock or asks the backend.

Thread safety: the app calls this from worker threads, possibly two concerns at a time (a search
while a session's details load). Table merges, swaps and local reads hold ``tables.lock``;
downloads hold ``jobs.download_lock``; network requests hold neither, so a slow request blocks
nobody.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from one_tui.engine import params
from one_tui.engine.core import results as outcome
from one_tui.engine.core.errors import ALFObjectNotFound, OfflineError
from one_tui.engine.core.results import Answer, Fallback, Notices, Outcome, Phase, Progress
from one_tui.engine.core.spec import QC
from one_tui.engine.core.types import FallbackReason, Mode
from one_tui.engine.jobs import TableJobs
from one_tui.engine.local import converters, listing, query
from one_tui.engine.local.cache import Cache
from one_tui.engine.modes import ModePolicy, parse_mode
from one_tui.engine.tables import Tables, prepare_folder

if TYPE_CHECKING:  # imported by the calls that use them: a local search does not pay for
    # httpx (~75 ms), the REST backend and its conversions, or the state's value classes
    from one_tui.engine.backend import AlyxBackend, RowsCallback
    from one_tui.engine.remote.client import AlyxClient

__all__ = ["One"]


class One:
    """ONE's ``ONE()`` for one-tui: modes, ``query_type``, fallback, tables and REST merges."""

    def __init__(self, base_url: str | None = None, username: str | None = None,
                 password: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 mode: str = "auto", cache_expiry: timedelta = timedelta(hours=24),
                 cache_rest: str | None = "GET", token: str | None = None, wildcards: bool = True,
                 silent: bool = True, client: AlyxClient | None = None, connect: bool = True,
                 clock: Callable[[], datetime] | None = None, tag: str | None = None,
                 data_server: tuple[str, tuple[str, str] | None] | None = None) -> None:
        requested = parse_mode(mode)
        #: the data server and its Basic login when not ONE's settings' (the demo's own;
        #: None: ``HTTP_DATA_SERVER`` / ``_LOGIN`` / ``_PWD`` of ~/.one, as ONE reads them)
        self.data_server = data_server
        self.wildcards = wildcards
        self.silent = silent
        self._notices = Notices()
        if client is None:  # the one rule for database, folder, user (params.resolve_place)
            place = params.resolve_place(base_url, cache_dir, username)
            if place.problem:
                self._notices.warn(place.problem)
            url, folder = place.base_url, place.cache_dir
        else:
            url = base_url
            folder = Path(cache_dir).expanduser() if cache_dir else Path(client.cache_dir)
        read_only = not prepare_folder(folder)
        if read_only:
            self._notices.warn("cache folder is read-only: nothing will be saved")
        if client is None and url:
            from one_tui.engine.remote.client import AlyxClient

            client = AlyxClient(url, username=username, password=password, token=token,
                                cache_dir=folder, cache_rest=cache_rest, silent=silent)
        #: ONE's ``one.alyx``: the REST client (None without a database)
        self.alyx: AlyxClient | None = client
        if client is not None:
            # e.g. the plain-http warning, in every mode
            self._notices.take_from(client.notices.pending)
        self.tables = Tables(folder, cache_expiry, self._notices, read_only,
                             clock=lambda: self.policy.clock())
        self.policy = ModePolicy(requested, has_database=client is not None,
                                 freshness=self.tables.freshness, notices=self._notices,
                                 clock=clock or datetime.now)
        self.remote: AlyxBackend | None = None
        if client is not None:
            from one_tui.engine.backend import AlyxBackend

            self.remote = AlyxBackend(client, self.tables, self.policy, self._notices)
        self.jobs = TableJobs(client, self.tables, self.policy, self._notices,
                              login_at_start=bool(password))
        # ``tag`` (one-tui's, ONE has no ``ONE(tag=)``): start on a release's tables
        self.tables.use(tag)
        if client is None and requested is not Mode.LOCAL:
            self.policy.fall_back(FallbackReason.NO_DATABASE,
                                  "no Alyx database is set up (give base_url)")
        elif connect:  # ONE's constructor; ``connect=False`` leaves it to the ``connect()`` job
            self.connect()

    def __repr__(self) -> str:
        if self.alyx is None:
            return f"One (offline, {self.cache_dir})"
        return f"One ({'offline' if self.offline else 'online'}, {self.alyx.base_url})"

    # -- state, as ONE names it -------------------------------------------------------------------
    @property
    def mode(self) -> Mode:
        """The mode in force (``local`` after a fallback); setting it is the user's choice."""
        return self.policy.current

    @mode.setter
    def mode(self, value: str) -> None:
        self.policy.choose(value)

    @property
    def requested_mode(self) -> Mode:
        return self.policy.requested

    @property
    def fallback(self) -> Fallback | None:
        """Why the mode fell back to local (None when it did not)."""
        return self.policy.fallback

    @property
    def fallback_reason(self) -> str | None:
        """The fallback's line ("auto → local: Alyx unreachable (...)"), for scripts."""
        return self.policy.fallback.text if self.policy.fallback else None

    @property
    def offline(self) -> bool:
        """ONE's rule: local mode, or no Alyx client at all."""
        return self.policy.offline

    @property
    def clock(self) -> Callable[[], datetime]:
        """"now" for expiry (the app and tests inject theirs)."""
        return self.policy.clock

    @clock.setter
    def clock(self, value: Callable[[], datetime]) -> None:
        self.policy.clock = value

    @property
    def cache_expiry(self) -> timedelta:
        """How old the tables may get before auto mode asks Alyx for newer ones (ONE 2.x)."""
        return self.tables.expiry

    @cache_expiry.setter
    def cache_expiry(self, value: timedelta) -> None:
        self.tables.set_expiry(value, self.policy.now())

    @property
    def cache_dir(self) -> Path:
        """ONE's ``cache_dir``: the data files and the full tables, whatever set is active."""
        return self.tables.cache_dir

    @property
    def tables_dir(self) -> Path:
        """ONE's ``tables_dir``: where the active set's tables are (``cache_dir/<tag>``)."""
        return self.tables.folder

    @property
    def tag(self) -> str | None:
        """The active release tag (None: the full tables)."""
        return self.tables.tag

    @property
    def read_only(self) -> bool:
        return self.tables.read_only

    @property
    def notices(self) -> list[str]:
        """Notices raised outside any recorded call (scripts read them here: ONE's warnings)."""
        return self._notices.pending

    @property
    def _cache(self) -> Cache:
        """ONE's spelling: its modes page reads ``one._cache._meta``."""
        return self.tables.cache

    # -- the seam for scripts ---------------------------------------------------------------------
    def ask(self, name: str, *args: Any, no_cache: bool = False, **kwargs: Any) -> Answer[Any]:
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
        return id(self.tables.cache)

    def cache_info(self) -> dict[str, Any]:
        """Everything the Cache pane shows, in plain values (for scripts; the app and the CLI
        read the typed ``EngineService.state()``)."""
        fresh = self.tables.freshness()
        online = self.mode in (Mode.AUTO, Mode.REFRESH) and not self.offline
        from one_tui.engine.core.values import RestCacheInfo

        rest = self.alyx.rest_cache_info() if self.alyx is not None else RestCacheInfo()
        return {
            "cache_dir": self.cache_dir,
            # origin as the file's metadata holds it (a list once REST rows were merged)
            "tables": {t.name: {"rows": t.rows, "date_created": t.date_created,
                                "origin": self.tables.origin_of(t.name)}
                       for t in self.tables.describe()},
            "created_time": fresh.created, "loaded_time": fresh.loaded,
            "expired": fresh.expired(self.policy.now()), "cache_expiry": fresh.expiry,
            "next_refresh": fresh.expires_at if online else None,
            "rest_cache": dataclasses.asdict(rest), "mode": self.mode,
            "requested_mode": self.requested_mode, "fallback_reason": self.fallback_reason,
            "base_url": self.alyx.base_url if self.alyx else None,
            "user": self.alyx.user if self.alyx else None, "read_only": self.read_only,
        }

    def refresh_due(self, now: datetime | None = None, query_type: str | None = None) -> bool:
        """The app's auto rule: a local search now should refresh the tables first (see
        :meth:`ModePolicy.refresh_due`). ``search`` itself never does, as in ONE."""
        return self.policy.refresh_due(now or self.policy.now(), query_type)

    # -- jobs -------------------------------------------------------------------------------------
    def connect(self, cancel: threading.Event | None = None,
                on_progress: Phase | None = None) -> Outcome:
        """The network part of ONE's constructor as a job (see :meth:`TableJobs.connect`)."""
        return self.jobs.connect(cancel, on_progress)

    def login(self, username: str, password: str) -> None:
        """Log in to Alyx, restore the mode that was asked for and load (or fetch) the tables.
        A refused login raises AuthenticationError."""
        self.jobs.login_job(username, password)

    def login_job(self, username: str, password: str, cancel: threading.Event | None = None,
                  on_progress: Phase | None = None) -> Outcome:
        """:meth:`login` as a job: the outcome of the table update that follows the login."""
        return self.jobs.login_job(username, password, cancel, on_progress)

    def refresh(self, how: str = "auto", cancel: threading.Event | None = None,
                on_progress: Phase | None = None) -> Outcome:
        """The app's refresh job, ``auto`` or ``refresh`` (see :meth:`TableJobs.refresh`)."""
        return self.jobs.refresh(how, cancel, on_progress)

    def refresh_cache(self, mode: str = "auto", cancel: threading.Event | None = None,
                      on_page: Progress | None = None) -> datetime | None:
        """ONE 2.x's ``refresh_cache`` (see :meth:`TableJobs.refresh_cache`)."""
        return self.jobs.refresh_cache(mode, cancel, on_page)

    def load_cache(self, tables_dir: str | os.PathLike[str] | None = None, clobber: bool = False,
                   tag: str | None = None, cancel: threading.Event | None = None,
                   on_page: Progress | None = None) -> datetime | None:
        """ONE's ``load_cache(tables_dir, clobber, tag)``: the tables on disk, then newer ones
        from Alyx when expired (``clobber``: ask now).

        ``tag`` makes that release the active set (``<cache_dir>/<tag>``, or ``tables_dir``):
        its tables are downloaded only when Alyx's are newer than those on disk (ONE's trap A),
        in every mode but local, and searches then read them (trap E). ``tables_dir`` alone
        takes the set its tables carry (a tag folder stays that tag's: traps B and C). Neither
        keeps the active set, as ONE's ``clobber`` keeps its tag.
        """
        from one_tui.engine.tablesets import disk_tags

        if tag is None and tables_dir is not None:
            folder = Path(tables_dir).expanduser()
            held = disk_tags(folder)
            if held:
                tag = held[0]
            elif folder.parent == self.cache_dir and folder != self.cache_dir:
                tag = folder.name  # an empty <cache_dir>/<name>: ONE's tag folder
        if tag is not None or tables_dir is not None:
            self.tables.use(tag, Path(tables_dir).expanduser() if tables_dir else None)
            if tag is not None and not self.offline:
                self.jobs.update_tables(force=clobber, cancel=cancel, on_page=on_page)
                return self.tables.loaded_time
        return self.jobs.load_cache(clobber, cancel, on_page)

    def save_cache(self) -> bool:
        """Write the tables changed by remote merges, merged with those on disk, under the lock."""
        return self.tables.save()

    def preload_datasets(self, cancel: threading.Event | None = None) -> bool:
        """Read the datasets table now, in a background worker (see :class:`Tables`)."""
        return self.tables.preload_datasets(cancel)

    def describe_revision(self, name: str, full: bool = False) -> Any:
        return self._backend("describe_revision").describe_revision(name, full)

    def describe_dataset(self, dataset_type: str | None = None) -> Any:
        return self._backend("describe_dataset").describe_dataset(dataset_type)

    # -- modes of a call --------------------------------------------------------------------------
    def _backend(self, what: str = "this call") -> AlyxBackend:
        """The Alyx backend; the policy's OfflineError, naming why, without a database (the
        policy routes no call here then: this is for the type checker and describe_*)."""
        if self.remote is None:
            self.policy.require_online(what)
            raise OfflineError(f"{what} needs an Alyx database")
        return self.remote

    def _call_mode(self, query_type: str | None, refresh: bool = True) -> Mode:
        """The mode of one call; runs ONE's ``@refresh`` step first when ``refresh``."""
        mode = self.policy.call_mode(query_type)
        if mode is Mode.REMOTE and query_type is None and self.tables.tag is not None:
            mode = Mode.LOCAL  # a tag's tables answer, not all of Alyx (ONE 3.x's trap E)
        if refresh and mode in (Mode.AUTO, Mode.REFRESH):
            self.jobs.refresh_cache(mode)
        return mode

    def _insertions_mode(self, query_type: str | None) -> Mode:
        """Remote when asked, or online without a local insertions table (ONE 2.x)."""
        mode = self._call_mode(query_type, refresh=False)
        if mode in (Mode.AUTO, Mode.REFRESH) and not self.tables.cache.has_insertions:
            return Mode.REMOTE
        return mode

    # -- search -----------------------------------------------------------------------------------
    def search(self, details: bool = False, query_type: str | None = None,
               cancel: threading.Event | None = None, on_page: Progress | None = None,
               **terms: Any) -> Any:
        """Eids of matching sessions; ``details`` -> ``(eids, dicts)`` (``([], None)`` if none).

        Local: ONE's order (date, subject, number descending), dicts without eid. Remote: the
        server's order (``-start_time``), dicts are the REST records plus ``date``. Not
        refreshed in auto mode (ONE 2.x: ``search`` is not decorated); in refresh mode
        ``cache/info`` is asked first.
        """
        mode = self._call_mode(query_type, refresh=False)
        if mode is Mode.REFRESH:
            self.jobs.refresh_cache(Mode.REFRESH)
        if mode is Mode.REMOTE:
            records, rows = self._backend().search_sessions(terms, cancel, on_page)
            eids = list(rows.index)
            if not details:
                return eids
            from one_tui.engine.remote import records as remote

            return (eids, [remote.session_details(r) for r in records]) if eids else ([], None)
        with self.tables.lock:
            return query.search(self.tables.cache, details=details, wildcards=self.wildcards,
                                **terms)

    def search_sessions(self, query_type: str | None = None,
                        cancel: threading.Event | None = None, on_page: Progress | None = None,
                        on_rows: RowsCallback | None = None, **terms: Any) -> pd.DataFrame:
        """The matching sessions rows (index eid): ONE's order locally, the server's remotely.

        Remote: ``on_rows`` is called after each page with the rows received so far (each page
        already merged into the tables), so the app can show the table growing.
        """
        mode = self._call_mode(query_type, refresh=False)
        if mode is Mode.REFRESH:
            self.jobs.refresh_cache(Mode.REFRESH)
        if mode is Mode.REMOTE:
            return self._backend().search_sessions(terms, cancel, on_page, on_rows)[1]
        with self.tables.lock:
            found: pd.DataFrame = query.search_sessions(self.tables.cache,
                                                        wildcards=self.wildcards, **terms)
        return found

    def search_terms(self, query_type: str | None = None) -> tuple[str, ...]:
        """Search term names: local ones, or remote (local + Alyx's /sessions parameters).
        Static (no ``/api/schema`` request), so not refreshed in any mode."""
        asked = query_type or self.mode
        if asked == Mode.REMOTE:
            from one_tui.engine.remote import filters as remote_filters

            return remote_filters.search_terms()
        return query.search_terms()

    # -- sessions and datasets --------------------------------------------------------------------
    def to_eid(self, id_: Any) -> str | None:
        """Any identifier ONE accepts to an eid; paths and refs not in the tables are looked up
        on Alyx when online."""
        if self.remote is not None:
            return self.remote.to_eid(id_)
        with self.tables.lock:
            eid: str | None = converters.to_eid(id_, self.tables.cache)
        return eid

    def get_details(self, eid: Any, full: bool = False, query_type: str | None = None) -> Any:
        """Local mode or ``query_type='local'``: the session row (Series); ``full`` -> its
        datasets with session columns.

        auto, refresh and remote (ONE 2.x: "if 'auto' uses whichever mode ONE is in"): ``GET
        /sessions/<eid>`` after the refresh step, its session row merged; ``full`` -> the whole
        record, else ONE 2.11.2's dict: the record's subject, start_time, number, lab, projects
        (comma-joined), url and task_protocol, then ``local_path`` and ``date``.
        A list of ids gives a list.
        """
        if self._call_mode(query_type) is Mode.LOCAL:
            with self.tables.lock:
                return query.get_details(self.tables.cache, eid, full=full)
        backend = self._backend()
        if isinstance(eid, list):
            return [backend.details(e, full) for e in eid]
        return backend.details(eid, full)

    def _datasets_of(self, eid: Any, query_type: str | None) -> Any:
        """The refresh step, then (remote) the fetch of one session's datasets. Returns the
        session to list from the tables: the resolved eid after a fetch, else ``eid`` as given
        (the local query resolves it, without the network)."""
        if self._call_mode(query_type) is not Mode.REMOTE:
            return eid
        if eid is not None:
            from one_tui.engine.remote import records as remote

            return remote.eid_of(self._backend().fetch_session(eid))
        self._notices.warn("Unable to list all remote datasets; listing the local tables")
        return eid

    def list_datasets(self, eid: Any = None, filename: Any = None, collection: Any = None,
                      revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                      details: bool = False, query_type: str | None = None,
                      default_revisions_only: bool = False, keep_eid_index: bool = False) -> Any:
        """Datasets of the tables (or of one session), filtered as ONE's ``filter_datasets``.
        Remote with an eid reads ``GET /sessions/<eid>`` and merges its datasets first; remote
        without an eid lists the local tables with a notice, as ONE does."""
        eid = self._datasets_of(eid, query_type)
        with self.tables.lock:
            return listing.list_datasets(
                self.tables.cache, eid=eid, filename=filename, collection=collection,
                revision=revision, qc=qc, ignore_qc_not_set=ignore_qc_not_set, details=details,
                default_revisions_only=default_revisions_only, keep_eid_index=keep_eid_index,
                wildcards=self.wildcards)

    def list_collections(self, eid: Any = None, filename: Any = None, collection: Any = None,
                         revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                         details: bool = False, query_type: str | None = None,
                         default_revisions_only: bool = False) -> Any:
        """Sorted unique collections ('' = session root); ``details`` -> {collection: rows}."""
        eid = self._datasets_of(eid, query_type)
        with self.tables.lock:
            return listing.list_collections(
                self.tables.cache, eid=eid, filename=filename, collection=collection,
                revision=revision, qc=qc, ignore_qc_not_set=ignore_qc_not_set, details=details,
                default_revisions_only=default_revisions_only, wildcards=self.wildcards)

    def list_revisions(self, eid: Any = None, filename: Any = None, collection: Any = None,
                       revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                       details: bool = False, query_type: str | None = None,
                       default_revisions_only: bool = False) -> Any:
        """Sorted unique revisions without '#' ('' = none); ``details`` -> {revision: rows}."""
        eid = self._datasets_of(eid, query_type)
        with self.tables.lock:
            return listing.list_revisions(
                self.tables.cache, eid=eid, filename=filename, collection=collection,
                revision=revision, qc=qc, ignore_qc_not_set=ignore_qc_not_set, details=details,
                default_revisions_only=default_revisions_only, wildcards=self.wildcards)

    def list_subjects(self, query_type: str | None = None) -> list[str]:
        """Sorted subjects of the local sessions table (ONE has no remote version)."""
        self._call_mode(None if query_type == Mode.REMOTE else query_type)
        with self.tables.lock:
            subjects: list[str] = query.list_subjects(self.tables.cache)
        return subjects

    # -- paths ------------------------------------------------------------------------------------
    def eid2path(self, eid: Any, query_type: str | None = None) -> Any:
        """Local session folder of an eid; looked up on Alyx when not in the tables."""
        if isinstance(eid, list | tuple):
            return [self.eid2path(e, query_type) for e in eid]
        mode = self._call_mode(query_type)
        with self.tables.lock:
            path = converters.eid2path(self.tables.cache, eid, self.cache_dir)
        if path is not None or mode is Mode.LOCAL:
            return path
        return self._backend().session_path(eid)

    def path2eid(self, path: Any, query_type: str | None = None) -> str | None:
        """Eid of a session folder path; looked up on Alyx when not in the tables."""
        mode = self._call_mode(query_type)
        with self.tables.lock:
            eid: str | None = converters.path2eid(self.tables.cache, path)
        if eid is not None or mode is Mode.LOCAL:
            return eid
        parts = converters.parse_session_path(path)
        return self._backend().path2eid(parts) if parts else None

    # -- insertions -------------------------------------------------------------------------------
    def search_insertions(self, details: bool = False, query_type: str | None = None,
                          cancel: threading.Event | None = None, on_page: Progress | None = None,
                          **terms: Any) -> Any:
        """Probe insertion ids (``details`` -> ``(pids, records)``); rows merged when remote."""
        if self._insertions_mode(query_type) is Mode.REMOTE:
            return self._backend().search_insertions(terms, details, cancel, on_page)
        with self.tables.lock:
            if not self.tables.cache.has_insertions:
                self._notices.warn("No insertions data loaded.")
            return query.search_insertions(self.tables.cache, details=details,
                                           wildcards=self.wildcards, **terms)

    def pid2eid(self, pid: Any, query_type: str | None = None) -> tuple[str | None, str | None]:
        """(eid, probe name) of an insertion; a pid unknown to Alyx gives (None, None)."""
        mode = self._call_mode(query_type)
        if mode is not Mode.REMOTE:
            try:
                with self.tables.lock:
                    found: tuple[str | None, str | None] = query.pid2eid(self.tables.cache, pid)
                return found
            except (NotImplementedError, ALFObjectNotFound):
                if mode is Mode.LOCAL:
                    raise
        return self._backend().pid2eid(pid)

    def eid2pid(self, eid: Any, query_type: str | None = None, details: bool = False) -> Any:
        """(pids, names) of a session's insertions sorted by name; (None, None) if none."""
        mode = self._call_mode(query_type)
        if mode is not Mode.REMOTE:
            try:
                with self.tables.lock:
                    result = query.eid2pid(self.tables.cache, eid, details=details)
                if result[0] is not None or mode is Mode.LOCAL:
                    return result
            except NotImplementedError:
                if mode is Mode.LOCAL:
                    raise
        return self._backend().eid2pid(eid, details)
