"""Messages the thread workers (``tui.work``) post: the only way results reach the screen.

A worker never touches the app's state; the handlers of these messages, on the UI thread,
replace it. Widgets' own intents (``FiltersPane.Submitted``, ``ResultsPane.RowChosen``) live
with their widgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

from one_tui.engine.core.results import Answer, Outcome
from one_tui.engine.core.values import EngineState, SessionDetails, Suggestions
from one_tui.tui.state import Job

if TYPE_CHECKING:
    import pyarrow as pa

    from one_tui.engine import (
        DiskReport,
        DownloadPlan,
        DownloadReport,
        EngineService,
        FetchProgress,
        FileOutcome,
    )


@dataclass
class EngineOpened(Message):
    """The engine is open and its connect (or login) job ended with ``outcome``."""

    service: EngineService
    outcome: Outcome | None
    login_needed: bool = False
    error: str | None = None      # a refused password: shown on the login form, not a toast
    notices: tuple[str, ...] = ()


@dataclass
class LoginNeeded(Message):
    """Alyx wants a password (none is cached, or the one given was refused)."""

    reason: str
    username: str | None = None
    error: str | None = None  # set when a password was refused: shown on the form


@dataclass
class EngineStateChanged(Message):
    """A fresh ``EngineState`` after a call (mode, tables, REST cache may have changed)."""

    state: EngineState

    def can_replace(self, message: Message) -> bool:  # only the latest state matters
        return isinstance(message, EngineStateChanged)


@dataclass
class JobProgress(Message):
    """A job reached a phase: "downloading 34.0 MB / 87.0 MB — esc cancels". Coalesced: a
    queued phase is dropped when a newer one of the same job arrives (tests read the phases
    where they are produced, ``work.PhaseReporter``, never here)."""

    job: Job
    text: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobProgress) and message.job == self.job


@dataclass
class JobDone(Message):
    """A job ended; ``text`` is its toast. ``outcome`` says how (None for exports)."""

    job: Job
    text: str
    outcome: Outcome | None = None
    severity: str = "information"


@dataclass
class Notices(Message):
    """Warnings a call returned (a toast each, once)."""

    notices: tuple[str, ...]
    skip: str | None = None  # said elsewhere (the job's own toast)


@dataclass
class SearchProgress(Message):
    """A page of remote results arrived (at most every ~0.25 s); ``table`` holds the rows so
    far (only when they doubled since last shown), so the results grow while it runs."""

    search_id: int
    done: int
    total: int
    table: pa.Table | None = None

    def can_replace(self, message: Message) -> bool:  # coalesce a burst of pages
        return isinstance(message, SearchProgress) and message.search_id == self.search_id


@dataclass
class SearchDone(Message):
    """A search ended: its answer (failed: ``answer.error``), the rows as Arrow, its time."""

    search_id: int
    answer: Answer[Any]
    table: pa.Table | None
    seconds: float
    remote: bool


@dataclass
class DetailsReady(Message):
    """A session's details (or why they could not be had)."""

    eid: str
    answer: Answer[SessionDetails]


@dataclass
class SuggestionsReady(Message):
    """Values for the lab, subject and project suggesters, from the loaded tables."""

    values: Suggestions = field(default_factory=dict)


@dataclass
class DatasetsPreloaded(Message):
    """The background read of the datasets table ended (``ready``: queries need no read)."""

    ready: bool
    seconds: float
    notices: tuple[str, ...] = ()


@dataclass
class ExportExists(Message):
    """The export target exists: the app asks before writing over it."""

    path: str
    fmt: str


@dataclass
class DownloadPlanned(Message):
    """The files a download would fetch, the bytes and the free space (or why not)."""

    answer: Answer[DownloadPlan]
    what: str                       # the selection in words ("3 marked datasets of …")


@dataclass
class DownloadProgress(Message):
    """The download's whole picture now (bytes, rate, ETA, files left, active files).
    Coalesced: only the latest matters."""

    progress: FetchProgress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DownloadProgress)


@dataclass
class DownloadFileDone(Message):
    """One file of the download ended (never coalesced: Details marks it at once)."""

    outcome: FileOutcome


@dataclass
class DownloadDone(Message):
    """The download ended: every file's outcome, or why it could not run."""

    answer: Answer[DownloadReport]
    what: str


@dataclass
class DiskChecked(Message):
    """The disk doctor's findings for a session (or why it could not look)."""

    answer: Answer[DiskReport]
    eid: str
    verify: bool
