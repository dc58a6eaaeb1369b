"""The Alyx backend of ``One``: REST calls and the merge of their rows into the tables.

It exists so everything that asks Alyx for one call (a remote session search page by page, a
session's details and datasets, an insertion, a revision or dataset type) lives in one place,
as ONE's ``OneAlyx`` does, apart from the mode policy that decides to ask (``one_modes``).
Every REST answer is merged into the in-memory tables (one-behaviour.md §2.8); a login failure
falls back to local. The pure conversions (terms to filters, records to rows) are in
``remote.py``; the HTTP client is ``alyx.AlyxClient``.

A mixin of :class:`one_tui.engine.one.One`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd

from one_tui.engine.core.errors import (
    ALFObjectNotFound,
    AuthenticationError,
    HTTPError,
    LoginRequired,
)
from one_tui.engine.core.results import Progress
from one_tui.engine.local import converters
from one_tui.engine.remote import filters as remote_filters
from one_tui.engine.remote import records as remote

_DETAIL_FIELDS = ("subject", "start_time", "number", "lab", "projects", "url", "task_protocol")

#: Gets the rows received so far after each page of a remote session search.
RowsCallback = Callable[[pd.DataFrame], None]


class AlyxBackend:
    """What one call asks Alyx, merged into the tables."""

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

    def _merge(self, sessions: pd.DataFrame | None = None, datasets: pd.DataFrame | None = None,
               insertions: pd.DataFrame | None = None) -> None:
        """Merge REST rows into the in-memory tables (§2.8)."""
        origin = self.alyx.base_url if self.alyx else None
        with self._lock:
            self._cache.merge(origin=origin, sessions=sessions,
                                datasets=datasets, insertions=insertions)

    def _merge_insertions(self, records: list[dict]) -> None:
        if records:
            ins, ses = remote.insertions_from_records(records)
            self._merge(sessions=ses if len(ses) else None, insertions=ins)

    # -- sessions ---------------------------------------------------------------------------------
    def _remote_sessions(self, terms: dict[str, Any], cancel: threading.Event | None,
                         on_page: Progress | None, on_rows: RowsCallback | None = None,
                         ) -> tuple[list[dict], pd.DataFrame]:
        """Remote session search: (records, their sessions rows), merged page by page (§2.8).

        Each page is merged into the tables as it arrives, then ``on_rows`` gets the rows so
        far (server order), so a long search fills the table while it runs and a cancel keeps
        what arrived. A session listed twice (Alyx repeats a session per matching dataset when
        ``dataset_qc_lte`` is used alone) is kept once, at its first place.
        """
        filters = remote_filters.session_filters(**terms)
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

    def _remote_path2eid(self, parts: dict) -> str | None:
        """``search(subject, date_range=day, number, query_type='remote')`` -> one eid."""
        records, _ = self._remote_sessions(
            {"subject": parts["subject"], "date_range": str(parts["date"]),
             "number": parts.get("number_text", parts["number"])}, None, None)  # ONE: '001'
        if parts.get("lab"):
            records = [r for r in records if r.get("lab") == parts["lab"]] or records
        return remote.eid_of(records[0]) if records else None

    # -- descriptions -----------------------------------------------------------------------------
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
