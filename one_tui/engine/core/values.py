"""The values the engine's service hands the app: frozen, typed, drawn as they are.

They are vocabulary (plain dataclasses over the enums in ``types``), so the app can hold and
compare them without importing anything that does work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from one_tui.engine.core.freshness import Freshness
from one_tui.engine.core.results import Fallback
from one_tui.engine.core.types import DiskState, Mode

__all__ = ["EngineState", "TableInfo", "RestCacheInfo", "SearchRequest", "SessionDetails",
           "DatasetRow", "Insertion", "DiskTotals", "RemoteError", "RemoteErrorKind",
           "Suggestions"]

#: Distinct labs, subjects and projects, for the filter fields' suggestions.
Suggestions = Mapping[str, tuple[str, ...]]

@dataclass(frozen=True)
class TableInfo:
    """One cache table as the Cache pane lists it."""

    name: str
    rows: int | None
    date_created: str | None
    origin: str | None


@dataclass(frozen=True)
class RestCacheInfo:
    """ONE's REST cache (``<cache_dir>/.rest``) as this process has used it."""

    enabled: bool = False
    entries: int = 0
    bytes: int = 0
    hits: int = 0
    misses: int = 0
    default_expiry: timedelta | None = None


@dataclass(frozen=True)
class EngineState:
    """Everything the screen shows about the engine, as one value taken at one moment."""

    mode: Mode
    requested: Mode
    fallback: Fallback | None
    has_alyx: bool
    logged_in: bool
    freshness: Freshness
    tables: tuple[TableInfo, ...]
    rest: RestCacheInfo
    base_url: str | None
    user: str | None
    read_only: bool
    cache_dir: Path
    #: changes when the tables in memory are replaced (a download, a reload)
    tables_id: int = 0
    #: the active table set: None for the full tables, or a release tag (``cache_dir/<tag>``)
    tag: str | None = None
    #: where the active set's tables are (ONE's ``tables_dir``; None: ``cache_dir``)
    tables_dir: Path | None = None
    #: a search with ``query_type='remote'`` may ask Alyx now (``ModePolicy.remote_allowed``)
    remote_allowed: bool = False
    #: when a table job last asked Alyx (or was cancelled): auto's rule needs it
    tables_checked_at: datetime | None = None

    @property
    def alyx_on_request(self) -> bool:
        """Local mode chosen with a database: offline by ONE's rule, yet ctrl+r and the
        Alyx-only filters still ask Alyx (``LOCAL_MEANS``), so the screen must not say
        "offline"."""
        return self.mode is Mode.LOCAL and self.remote_allowed

    @property
    def online(self) -> bool:
        """ONE's rule: not local mode and an Alyx database is set up."""
        return self.has_alyx and self.mode is not Mode.LOCAL

    def refresh_at_next_search(self, now: datetime) -> bool:
        """auto's rule (``Freshness.refresh_due``): the next search of the tables refreshes
        them first."""
        return (self.online and self.mode is Mode.AUTO
                and self.freshness.refresh_due(now, self.tables_checked_at))

    @property
    def next_refresh(self) -> datetime | None:
        """When ``auto``/``refresh`` will next ask Alyx by themselves (None: never)."""
        if not self.online or self.mode not in (Mode.AUTO, Mode.REFRESH):
            return None
        return self.freshness.expires_at


@dataclass(frozen=True)
class SearchRequest:
    """A session search as the filters put it: ONE's terms plus how to run it."""

    terms: Mapping[str, Any] = field(default_factory=dict)
    query_type: Mode | None = None
    no_cache: bool = False
    #: Alyx's page size for a remote search (None: the client's default)
    page_size: int | None = None
    #: a term only Alyx can answer is set (session QC, performance, ...): the search goes there
    alyx_only: bool = False


@dataclass(frozen=True)
class DatasetRow:
    """One dataset of a session, as Details lists it."""

    id: str
    rel_path: str
    name: str
    collection: str
    revision: str
    file_size: int | None
    qc: str
    exists: bool
    #: ONE-api would load it without downloading: the file is where ONE looks, with the
    #: table's size (None: not known). A file of another size is not on disk: ``disk`` says
    #: "size mismatch".
    on_disk: bool | None = None
    #: what is on this disk for it (None: not known): on disk, missing, size mismatch,
    #: stranded ``name.<uuid>.ext``, one-tui's partial (``local/ondisk.py``)
    disk: DiskState | None = None
    #: the revision ONE loads by default (the tables' ``default_revision``)
    default_revision: bool = True
    #: its bytes were checked against the table's hash (one-tui's verify-once record) and
    #: the file has not changed since
    verified: bool = False
    #: the table's hash (md5 or sha1; None: none)
    hash: str | None = None


@dataclass(frozen=True)
class Insertion:
    pid: str
    name: str
    model: str | None = None


@dataclass(frozen=True)
class DiskTotals:
    """A session's datasets on this disk against those on the server (default revisions
    only: what ONE loads; a dataset of another size is not on disk)."""

    folder: str
    n_datasets: int
    n_on_disk: int
    bytes_on_disk: int
    bytes_on_server: int


class RemoteErrorKind(StrEnum):
    UNREACHABLE = "unreachable"
    LOGIN = "login"
    OTHER = "other"


@dataclass(frozen=True)
class RemoteError:
    """Why a session's Alyx record could not be had (Details shows the rest anyway)."""

    kind: RemoteErrorKind
    text: str


@dataclass(frozen=True)
class SessionDetails:
    eid: str
    session: Mapping[str, Any]
    datasets: tuple[DatasetRow, ...]
    insertions: tuple[Insertion, ...]
    remote: Mapping[str, Any] | None = None
    remote_error: RemoteError | None = None
    disk: DiskTotals | None = None
    #: why the insertions are not known (None: ``insertions`` is the whole list). ONE's
    #: cache.zip has no insertions table, so in local mode "none found" is not "zero".
    insertions_unknown: str | None = None
    #: where the Alyx record came from (``Source``'s words: "Alyx", "REST cache"); None when
    #: it was not asked for
    remote_source: str | None = None
