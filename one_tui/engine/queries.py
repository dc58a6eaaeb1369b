"""ONE's query methods on ``One``: each picks its mode, then reads the tables or asks Alyx.

It exists so ONE's public query API (``search``, ``list_datasets``, ``get_details``,
``pid2eid`` ...) reads as ONE's: the mode of the call (``one_modes._query_mode``), then the local
tables through ``query.py`` / ``converters.py`` under ``_lock`` (the local backend), or the Alyx
backend (``one_alyx``) when the mode says remote or the tables miss.

A mixin of :class:`one_tui.engine.one.One`.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pandas as pd

from one_tui.engine.core.errors import ALFObjectNotFound, HTTPError
from one_tui.engine.core.results import Progress
from one_tui.engine.core.spec import QC
from one_tui.engine.local import converters, listing, query
from one_tui.engine.remote import filters as remote_filters
from one_tui.engine.remote import records as remote
from one_tui.engine.remote.backend import RowsCallback


class Queries:
    """ONE's query methods: the call's mode, then the tables or Alyx."""

    # -- search -----------------------------------------------------------------------------------
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
        return remote_filters.search_terms() if qt == "remote" else query.search_terms()

    # -- sessions and datasets --------------------------------------------------------------------
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
            return listing.list_datasets(
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
            return listing.list_collections(
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
            return listing.list_revisions(
                self._cache, eid=eid, filename=filename, collection=collection,
                revision=revision, qc=qc, ignore_qc_not_set=ignore_qc_not_set, details=details,
                default_revisions_only=default_revisions_only, wildcards=self.wildcards)

    def list_subjects(self, query_type: str | None = None) -> list[str]:
        """Sorted subjects of the local sessions table (ONE has no remote version)."""
        self._query_mode(None if query_type == "remote" else query_type)
        with self._lock:
            subjects = query.list_subjects(self._cache)
        return subjects

    # -- paths ------------------------------------------------------------------------------------
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

    # -- insertions -------------------------------------------------------------------------------
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
        filters = remote_filters.insertion_filters(**terms)
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
