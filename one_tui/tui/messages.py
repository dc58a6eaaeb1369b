"""Messages the thread workers post back to the app: the only way results reach the widgets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class Connected(Message):
    """The `One` object is built (or failed to be: ``error``); ``login_needed`` opens the modal."""

    one: Any
    login_needed: bool = False
    reason: str | None = None
    error: str | None = None      # a refused password: shown on the login form, not a toast
    cancelled: str | None = None  # the table download was cancelled: what was kept


@dataclass
class LoginNeeded(Message):
    """The server wants a password and none is cached."""

    reason: str
    username: str | None = None
    error: str | None = None  # set when a password was refused: shown on the modal


@dataclass
class SearchProgress(Message):
    """A page of remote results arrived (posted at most every ~0.25 s).

    ``table`` holds the sessions received so far, so the results grow while the search runs.
    """

    search_id: int
    done: int
    total: int
    table: Any = None  # pyarrow.Table of the rows so far, or None

    def can_replace(self, message: Message) -> bool:  # coalesce a burst of pages
        return isinstance(message, SearchProgress) and message.search_id == self.search_id


@dataclass
class SearchDone(Message):
    """A search finished (possibly cancelled, then with what it had)."""

    search_id: int
    table: Any  # pyarrow.Table with the session columns and eid
    source: str
    seconds: float
    cancelled: bool
    remote: bool
    total: int | None = None


@dataclass
class DetailsReady(Message):
    """Everything the details pane shows for one session, as plain Python values."""

    eid: str
    session: dict[str, Any]
    datasets: list[dict[str, Any]]
    insertions: list[dict[str, Any]]
    remote: dict[str, Any] | None = None
    remote_error: str | None = None
    disk: dict[str, Any] | None = None  # on this disk: folder, counts and bytes (ondisk.Totals)


@dataclass
class JobProgress(Message):
    """A job (connect, log in, refresh) reached a phase: "downloading 34.0 MB / 87.0 MB"."""

    group: str
    text: str

    def can_replace(self, message: Message) -> bool:  # only the latest phase matters
        return isinstance(message, JobProgress) and message.group == self.group


@dataclass
class SearchFailed(Message):
    """A search ended in an error: the pane says so; ``connection`` when Alyx was unreachable."""

    search_id: int
    reason: str
    connection: bool = False
    login: bool = False  # Alyx wants a (new) login: the form opens


@dataclass
class CacheInfoReady(Message):
    """A fresh ``one.cache_info()`` and the engine state the status line shows."""

    info: dict[str, Any]
    offline: bool
    last_source: str | None


@dataclass
class SuggestionsReady(Message):
    """Values for the lab, subject and project suggesters, from the loaded tables."""

    values: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class TaskDone(Message):
    """A refresh, REST cache clear, export or mode change finished; ``text`` is the toast."""

    text: str
    kind: str
    severity: str = "information"


@dataclass
class ExportExists(Message):
    """The export target exists: the app asks before writing over it."""

    path: str
    fmt: str
