"""The Alyx backend of ``One``: REST calls and the merge of their rows into the tables.

It exists so everything that asks Alyx for one call (a remote session search page by page, a
session's details and datasets, an insertion, a revision or dataset type) lives in one place,
as ONE's ``OneAlyx`` does, apart from the mode policy that decides to ask (``modes.py``).
Every REST answer is merged into the in-memory tables (one-behaviour.md §2.8); a login failure
falls back to local. The pure conversions (terms to filters, records to rows) are in
``records.py``; the HTTP client is ``client.AlyxClient``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from one_tui.engine.core.errors import (
    ALFObjectNotFound,
    AuthenticationError,
    HTTPError,
    LoginRequired,
)
from one_tui.engine.core.results import Notices, Progress
from one_tui.engine.core.types import Mode
from one_tui.engine.local import converters
from one_tui.engine.modes import ModePolicy, why_failed
from one_tui.engine.remote import filters as remote_filters
from one_tui.engine.remote import records as remote
from one_tui.engine.tables import Tables

if TYPE_CHECKING:
    from one_tui.engine.remote.client import AlyxClient

_DETAIL_FIELDS = ("subject", "start_time", "number", "lab", "projects", "url", "task_protocol")

#: Gets the rows received so far after each page of a remote session search.
RowsCallback = Callable[[pd.DataFrame], None]


class _SessionPages:
    """A remote session search's pages as they arrive: each session kept once, at its first
    place (Alyx repeats a session per matching dataset when ``dataset_qc_lte`` is used alone),
    merged into the tables, then ``on_rows`` gets the rows so far."""

    def __init__(self, backend: AlyxBackend, on_rows: RowsCallback | None) -> None:
        self.backend = backend
        self.on_rows = on_rows
        self.pages = 0
        self.seen: set[str] = set()
        self.records: list[dict[str, Any]] = []
        self.frames: list[pd.DataFrame] = []

    def __call__(self, page: list[dict[str, Any]]) -> None:
        self.pages += 1
        fresh = []
        for record in page:
            eid = remote.eid_of(record)
            if eid not in self.seen:
                self.seen.add(eid)
                fresh.append(record)
        if fresh:
            rows = remote.sessions_from_records(fresh)
            self.backend.merge(sessions=rows)
            self.records.extend(fresh)
            self.frames.append(rows)
        if self.on_rows is not None:
            self.on_rows(self.rows())

    def rows(self) -> pd.DataFrame:
        if not self.frames:
            return remote.sessions_from_records([])
        return self.frames[0] if len(self.frames) == 1 else pd.concat(self.frames)


class _Merged:
    """Counts the records a paged REST call merged page by page (an insertion search)."""

    def __init__(self, merge: Callable[[list[dict[str, Any]]], None]) -> None:
        self.merge = merge
        self.count = 0

    def __call__(self, page: list[dict[str, Any]]) -> None:
        self.count += len(page)
        self.merge(page)


class AlyxBackend:
    """What one call asks Alyx, merged into the tables."""

    def __init__(self, client: AlyxClient, tables: Tables, policy: ModePolicy,
                 notices: Notices) -> None:
        self.client = client
        self.tables = tables
        self.policy = policy
        self.notices = notices

    def rest(self, endpoint: str, action: str = "list", **kwargs: Any) -> Any:
        """``client.rest`` recording where the answer came from; a login failure falls back."""
        try:
            result = self.client.rest(endpoint, action, **kwargs)
        except (AuthenticationError, LoginRequired) as exc:
            if self.policy.current is not Mode.LOCAL:  # local by choice stays local: no fallback
                self.policy.fall_back(*why_failed(exc, endpoint))
            raise
        finally:
            self.notices.take_from(self.client.notices.pending)
        return result

    def read(self, endpoint: str, id_: str, missing: str | None = None) -> Any:
        """One record, None when Alyx has none (404: with ``missing`` as a notice)."""
        try:
            return self.rest(endpoint, "read", id=id_)
        except HTTPError as exc:
            if exc.status_code != 404:
                raise
        if missing:
            self.notices.warn(missing)
        return None

    def merge(self, sessions: pd.DataFrame | None = None, datasets: pd.DataFrame | None = None,
              insertions: pd.DataFrame | None = None) -> None:
        """Merge REST rows into the in-memory tables, with this database as their origin."""
        self.tables.merge(self.client.base_url, sessions=sessions, datasets=datasets,
                          insertions=insertions)

    def merge_insertions(self, records: list[dict[str, Any]]) -> None:
        if records:
            ins, ses = remote.insertions_from_records(records)
            self.merge(sessions=ses if len(ses) else None, insertions=ins)

    # -- sessions ---------------------------------------------------------------------------------
    def search_sessions(self, terms: dict[str, Any], cancel: threading.Event | None = None,
                        on_page: Progress | None = None, on_rows: RowsCallback | None = None,
                        ) -> tuple[list[dict[str, Any]], pd.DataFrame]:
        """Remote session search: (records, their sessions rows), merged page by page (§2.8).

        Each page is merged into the tables as it arrives, then ``on_rows`` gets the rows so
        far (server order), so a long search fills the table while it runs and a cancel keeps
        what arrived.
        """
        pages = _SessionPages(self, on_rows)
        answer = self.rest("sessions", "list", cancel=cancel, on_page=on_page,
                           on_records=pages, **remote_filters.session_filters(**terms))
        if not pages.pages and answer:  # a client that does not report pages: merge at the end
            pages(list(answer))
        return pages.records, pages.rows()

    def to_eid(self, id_: Any) -> str | None:
        """Any identifier ONE accepts to an eid; paths and refs not in the tables are looked up
        on Alyx when online."""
        with self.tables.lock:
            eid: str | None = converters.to_eid(id_, self.tables.cache)
        if eid is None and not self.policy.offline and isinstance(id_, str | os.PathLike):
            text = os.fspath(id_)
            parts = converters.parse_session_path(text)
            if parts is None and converters.is_exp_ref(text):
                day, number, subject = text.split("_", 2)
                parts = {"lab": None, "subject": subject, "date": day, "number": int(number)}
            if parts is not None:
                eid = self.path2eid(parts)
        return eid

    def eid(self, eid: Any) -> str:
        """A session id for a REST call; ONE's error when it cannot be resolved."""
        resolved = self.to_eid(eid)
        if resolved is None:
            raise ValueError(f'Cannot parse session ID "{eid}" (session may not exist)')
        return resolved

    def fetch_session(self, eid: Any, with_datasets: bool = True) -> dict[str, Any]:
        """``GET /sessions/<eid>``, its session (and dataset) rows merged into the tables, once
        per distinct answer."""
        eid = self.eid(eid)
        try:
            record: dict[str, Any] = self.rest("sessions", "read", id=eid)
        except HTTPError as exc:
            if exc.status_code == 404:
                raise ALFObjectNotFound(f"Session {eid} not found on Alyx") from None
            raise
        if not with_datasets:
            self.merge(sessions=remote.sessions_from_records([record]))
            return record
        if self.tables.merged_before(eid, record):
            return record
        ses, datasets = remote.datasets_from_session(record)
        self.merge(sessions=ses, datasets=datasets)
        self.tables.note_merged(eid, record)
        return record

    def details(self, eid: Any, full: bool) -> Any:
        """One session's details from ``GET /sessions/<eid>`` (ONE 2.11.2's fields)."""
        record = self.fetch_session(eid, with_datasets=False)
        if full:
            return record
        out = {k: v for k, v in record.items() if k in _DETAIL_FIELDS}  # ONE's order: Alyx's
        if "projects" in out:
            projects = out["projects"]
            out["projects"] = ",".join(map(str, projects)) if isinstance(
                projects, list | tuple) else projects
        with self.tables.lock:  # the row was just merged: the path needs no second request
            out["local_path"] = converters.eid2path(self.tables.cache, remote.eid_of(record),
                                                    self.tables.cache_dir)
        out["date"] = remote.session_details(record)["date"]
        return out

    def path2eid(self, parts: dict[str, Any]) -> str | None:
        """``search(subject, date_range=day, number, query_type='remote')`` -> one eid."""
        records, _ = self.search_sessions(
            {"subject": parts["subject"], "date_range": str(parts["date"]),
             "number": parts.get("number_text", parts["number"])})  # ONE: '001'
        if parts.get("lab"):
            records = [r for r in records if r.get("lab") == parts["lab"]] or records
        return remote.eid_of(records[0]) if records else None

    def session_path(self, eid: Any) -> Any:
        """The local folder of a session looked up on Alyx (its row merged first)."""
        records = self.rest("sessions", "list", id=self.eid(eid))
        if not records:
            return None
        self.merge(sessions=remote.sessions_from_records(records))
        with self.tables.lock:
            return converters.eid2path(self.tables.cache, remote.eid_of(records[0]),
                                       self.tables.cache_dir)

    # -- insertions -------------------------------------------------------------------------------
    def search_insertions(self, terms: dict[str, Any], details: bool,
                          cancel: threading.Event | None = None,
                          on_page: Progress | None = None) -> Any:
        """Probe insertion ids (``details`` -> ``(pids, records)``), merged page by page."""
        merged = _Merged(self.merge_insertions)
        records = list(self.rest("insertions", "list", cancel=cancel, on_page=on_page,
                                 on_records=merged, **remote_filters.insertion_filters(**terms)))
        if merged.count < len(records):  # a client that does not report pages
            self.merge_insertions(records[merged.count:])
        # Alyx repeats an insertion once per matching dataset (dataset_qc_lte) or project:
        # each is kept once, at its first place, as for sessions
        first: dict[str, dict[str, Any]] = {}
        for r in records:
            first.setdefault(str(r["id"]), r)
        records = list(first.values())
        pids = [str(r["id"]) for r in records]
        if not details:
            return pids
        return (pids, records) if pids else ([], None)

    def pid2eid(self, pid: Any) -> tuple[str | None, str | None]:
        """(eid, probe name) of an insertion from Alyx; an unknown pid gives (None, None)."""
        pid = str(pid).lower()
        record = self.read("insertions", pid, f"Probe {pid} not found in Alyx")
        if record is None:
            return None, None
        self.merge_insertions([record])
        return str(record["session"]).lower()[-36:], record.get("name")

    def eid2pid(self, eid: Any, details: bool) -> Any:
        """(pids, names[, records]) of a session's insertions from Alyx, sorted by name."""
        records = list(self.rest("insertions", "list", session=self.eid(eid)))
        if not records:
            return (None, None, None) if details else (None, None)
        self.merge_insertions(records)
        records.sort(key=lambda r: str(r.get("name")))
        pids = [str(r["id"]) for r in records]
        names = [r.get("name") for r in records]
        return (pids, names, records) if details else (pids, names)

    # -- descriptions -----------------------------------------------------------------------------
    def describe_revision(self, name: str, full: bool = False) -> Any:
        """A revision's description (``full``: its record); None with a notice if unknown."""
        self.policy.require_online("describe_revision")
        record = self.read("revisions", name, f'revision "{name}" not found')
        if record is None:
            return None
        return record if full else record.get("description")

    def describe_dataset(self, dataset_type: str | None = None) -> Any:
        """All dataset types (no argument) or one type's record, found by type name or, as ONE
        does, by a file name in the local datasets table."""
        self.policy.require_online("describe_dataset")
        if dataset_type is None:
            return self.rest("dataset-types", "list")
        found = self.read("dataset-types", dataset_type)
        if found is not None:
            return found
        record = self.rest("datasets", "read", id=self._dataset_id_of(dataset_type))
        return self.rest("dataset-types", "read", id=record["dataset_type"])

    def _dataset_id_of(self, filename: str) -> str:
        """Id of a dataset whose file name is ``filename``, from the local table."""
        with self.tables.lock:
            datasets = self.tables.cache.datasets
            paths = datasets["rel_path"].astype(str)
            hits = datasets[(paths.str.rsplit("/", n=1).str[-1] == filename).to_numpy()]
        if len(hits) == 0:
            raise ValueError(f"Dataset {filename} not found in cache")
        return str(hits.index[0][-1])
