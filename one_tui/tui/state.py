"""The one state the screen is drawn from, and the pure functions that change it.

``OneApp.state`` holds an :class:`AppState`; message handlers on the UI thread replace it
(``self.state = update(self.state, ...)``), never a worker thread. The status line, the Cache
pane, the top bar and the filters' match rule are bound to it (``data_bind``) together with
the ticking ``now``, so nothing is redrawn by hand and every rule here is tested without an
app (tests/tui/test_state.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from one_tui.engine.core.types import Mode, Source
from one_tui.engine.core.values import EngineState, Suggestions


class Job(StrEnum):
    """Every kind of thread worker the app runs: its worker group, its label in the status
    line, and whether escape cancels it. The one list (no group name is written elsewhere)."""

    CONNECT = "connect"
    DETAILS = "details"
    EXPORT = "export"
    LOGIN = "login"
    MODE = "mode"
    PRELOAD = "preload"
    REFRESH = "refresh"
    REST = "rest"
    SEARCH = "search"
    #: switching the table set (a release tag or the full tables), downloading it if newer
    TABLES = "tables"
    #: writing a frozen ONE cache folder for a node without network
    FREEZE = "freeze"
    SUBJECT = "subject"
    #: fetching dataset files into ONE's layout (escape cancels; partials kept to resume)
    DOWNLOAD = "download"
    #: the disk doctor: checking (and fixing) a session's files on this disk
    DOCTOR = "doctor"
    #: re-reading the engine's state after a failed worker: quick, never shown, never cancelled
    STATE = "engine-state"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def escape_cancels(self) -> bool:
        """Long jobs on the tables: escape stops the download, the tables on disk stay.
        (A search is cancelled by escape on its own, before these.)"""
        return self in (Job.CONNECT, Job.LOGIN, Job.REFRESH, Job.TABLES, Job.FREEZE,
                        Job.DOWNLOAD, Job.DOCTOR)


_LABELS = {Job.CONNECT: "connecting", Job.SEARCH: "searching", Job.DETAILS: "loading details",
           Job.REFRESH: "refreshing", Job.EXPORT: "exporting", Job.MODE: "switching mode",
           Job.REST: "clearing REST cache", Job.LOGIN: "logging in",
           Job.PRELOAD: "loading datasets", Job.STATE: "reading the engine's state",
           Job.TABLES: "switching tables", Job.FREEZE: "freezing",
           Job.SUBJECT: "reading subject history", Job.DOWNLOAD: "downloading",
           Job.DOCTOR: "checking the disk"}


class Pane(StrEnum):
    """The four panes, in the order 1-4 and ctrl+n visit them."""

    FILTERS = "filters"
    RESULTS = "results"
    DETAILS = "details"
    CACHE = "cache"

    @property
    def heading(self) -> str:
        return "Sessions" if self is Pane.RESULTS else self.value.capitalize()


@dataclass(frozen=True)
class SearchStatus:
    """The search on screen: its number (a late answer of a superseded one is dropped),
    whether it runs, where the last answer came from and when."""

    seq: int = 0
    running: bool = False
    last_source: str | None = None
    answered_at: dt.datetime | None = None


_EMPTY: Mapping[str, tuple[str, ...]] = MappingProxyType({})
_NO_JOBS: Mapping[Job, str] = MappingProxyType({})


@dataclass(frozen=True)
class AppState:
    """What the screen shows, as one value: the engine's state (None until it is opened), the
    app's own choices (panes, REST bypass), the jobs running with their phase, the search."""

    engine: EngineState | None = None
    connect_failed: bool = False       # the engine could not be opened here (x: why)
    unreachable: bool = False          # the last call that went to Alyx found it unreachable
    bypass_rest: bool = False
    pane: Pane = Pane.RESULTS          # the pane shown (narrow) or focused (wide)
    side: Pane = Pane.DETAILS          # details or cache: the one under the sessions (wide)
    # each running job and its phase ('' : its label)
    jobs: Mapping[Job, str] = field(default_factory=lambda: _NO_JOBS)
    search: SearchStatus = SearchStatus()
    last_error: tuple[str, str] | None = None  # (title, full text) for x
    suggestions: Suggestions = field(default_factory=lambda: _EMPTY)
    absolute: bool = False             # --low-bandwidth: the tables' time, not a ticking age

    @property
    def online(self) -> bool | None:
        """None while connecting, then the engine's own rule (offline when it failed)."""
        if self.engine is None:
            return False if self.connect_failed else None
        return self.engine.online

    @property
    def remote_mode(self) -> bool:
        return self.engine is not None and self.engine.mode is Mode.REMOTE

    @property
    def busy(self) -> str:
        """'connecting, searching': each running job by its phase, else its label."""
        return self.busy_besides(None)

    def busy_besides(self, shown: Job | None) -> str:
        """:attr:`busy` without ``shown``, a job the caller already names elsewhere."""
        return ", ".join(self.jobs[job] or job.label for job in sorted(self.jobs)
                         if job is not shown)


# ---------------------------------------------------------------- updates (pure)

def engine_changed(state: AppState, engine: EngineState) -> AppState:
    return replace(state, engine=engine, connect_failed=False)


def connecting(state: AppState) -> AppState:
    return replace(state, connect_failed=False)


def connect_failed(state: AppState) -> AppState:
    return replace(state, connect_failed=True)


def jobs_running(state: AppState, running: Iterable[str]) -> AppState:
    """The jobs whose workers run now (pending or running), each keeping its phase."""
    groups = set(running)
    jobs: dict[Job, str] = {job: state.jobs.get(job, "") for job in Job
                            if job.value in groups and job is not Job.STATE}
    if jobs == dict(state.jobs):
        return state
    return replace(state, jobs=MappingProxyType(jobs))


def job_phase(state: AppState, job: Job, text: str) -> AppState:
    """A running job reached a phase; a late phase of a job that ended is dropped."""
    if job not in state.jobs or state.jobs[job] == text:
        return state
    return replace(state, jobs=MappingProxyType({**state.jobs, job: text}))


def search_started(state: AppState) -> AppState:
    search = replace(state.search, seq=state.search.seq + 1, running=True)
    return replace(state, search=search)


def search_stopped(state: AppState) -> AppState:
    """The running search was cancelled or its worker failed."""
    return replace(state, search=replace(state.search, running=False))


def search_answered(state: AppState, source: Source, at: dt.datetime) -> AppState:
    """An answer is on screen; Alyx answering means the connection is back."""
    search = replace(state.search, running=False, last_source=str(source), answered_at=at)
    unreachable = False if source is Source.ALYX else state.unreachable
    return replace(state, search=search, unreachable=unreachable)


def details_answered(state: AppState, source: Source) -> AppState:
    """Details were fetched: the status line's "last:" names where from (Details in auto
    mode reads Alyx or the REST cache even when the search read the tables)."""
    search = replace(state.search, last_source=f"{source} (details)")
    unreachable = False if source is Source.ALYX else state.unreachable
    return replace(state, search=search, unreachable=unreachable)


def search_failed(state: AppState, unreachable: bool) -> AppState:
    search = replace(state.search, running=False, last_source="search failed")
    return replace(state, search=search, unreachable=state.unreachable or unreachable)


def reachability(state: AppState, unreachable: bool) -> AppState:
    return state if state.unreachable == unreachable else replace(state, unreachable=unreachable)


def error_recorded(state: AppState, title: str, detail: str) -> AppState:
    return replace(state, last_error=(title, detail))


def bypass_toggled(state: AppState) -> AppState:
    return replace(state, bypass_rest=not state.bypass_rest)


def pane_shown(state: AppState, pane: Pane) -> AppState:
    """A pane key: details and cache share the place under the sessions."""
    side = pane if pane in (Pane.DETAILS, Pane.CACHE) else state.side
    return replace(state, pane=pane, side=side)


def details_opened(state: AppState, narrow: bool) -> AppState:
    """enter on a session: Details goes under the sessions (and is shown alone, narrow)."""
    return replace(state, side=Pane.DETAILS, pane=Pane.DETAILS if narrow else state.pane)


def suggestions_found(state: AppState, values: Suggestions) -> AppState:
    return replace(state, suggestions=MappingProxyType(dict(values)))
