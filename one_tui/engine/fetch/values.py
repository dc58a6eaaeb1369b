"""The download manager's values: what the app and the CLI hold, compare and draw.

Frozen dataclasses over enums, no work in them: a :class:`FileTask` is one dataset file to
fetch (from a table row: where from, where to, what it must be), a :class:`DownloadPlan` the
files of a selection with the bytes still to fetch and whether they fit on the target disk, a
:class:`FetchProgress` one coalescable progress event, a :class:`FileOutcome` how one file
ended, a :class:`DownloadReport` how the whole job ended; the disk doctor's
:class:`DiskFinding` says what one dataset's files on this disk are (ONE's name, a stranded
``name.<uuid>.ext``, one-tui's partial) and which :class:`DiskAction` fixes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from one_tui.engine.core.types import DiskState

__all__ = ["DiskState", "FetchKind", "FailCause", "DiskAction", "FileTask", "FileOutcome",
           "ActiveFile", "FetchProgress", "OnFetchProgress", "DownloadPlan", "DownloadReport",
           "DiskFinding", "DiskReport", "Selection"]


class FetchKind(StrEnum):
    """How one file of a download ended."""

    DONE = "done"                  # downloaded, size and hash verified, renamed into place
    VERIFIED = "verified"          # already on this disk and right: not downloaded again
    FAILED = "failed"              # ``reason`` says why (HTTP status in ``status``)
    CANCELLED = "cancelled"        # the user cancelled; the partial file is kept for resume

    @property
    def ok(self) -> bool:
        return self in (FetchKind.DONE, FetchKind.VERIFIED)


class FailCause(StrEnum):
    """Why a file failed, for a script's exit code and the app's hint (the reason says more)."""

    LOGIN = "login"                # 401/403: HTTP_DATA_SERVER_LOGIN / _PWD
    NOT_FOUND = "not-found"        # 404: not on the data server
    SERVER = "server"              # 429/5xx/other HTTP status after the retries
    NETWORK = "network"            # timeouts, refused or lost connections after the retries
    CONTENT = "content"            # the bytes never matched the table's size or hash
    DISK = "disk"                  # the disk is full, or a file could not be written
    OTHER = "other"


class DiskAction(StrEnum):
    """What the disk doctor offers for a finding."""

    DOWNLOAD = "download"          # fetch it (missing, damaged, partial: resumed)
    FINALISE = "finalise"          # rename a stranded ``name.<uuid>.ext`` after a hash check
    REMOVE = "remove"              # delete the damaged file, the stranded file or the partial


@dataclass(frozen=True)
class Selection:
    """Which datasets of the sessions: the CLI's selectors and the app's marks, as values.

    ``dataset``: a partial match on ``rel_path`` (ONE 2.x's ``dataset`` search term, matched
    as the tables' queries match it: ``local/patterns.text_matcher``); ``datasets``: exact
    file names (``_ibl_trials.table.pqt``) or exact ``rel_path``s; ``collection`` /
    ``revision``: ONE's ``list_datasets`` filters; ``dataset_ids``: exact ids (the app's
    marks). Only the default revision unless ``revision`` or ``all_revisions``."""

    dataset: str | None = None
    datasets: tuple[str, ...] = ()
    collection: str | None = None
    revision: str | None = None
    dataset_ids: tuple[str, ...] = ()
    all_revisions: bool = False

    def describe(self) -> str:
        """The selectors in words, for "nothing matches ..."."""
        parts = []
        if self.dataset:
            parts.append(f"dataset ~ {self.dataset!r}")
        if self.datasets:
            parts.append("datasets " + ", ".join(self.datasets))
        if self.collection is not None:
            parts.append(f"collection {self.collection!r}")
        if self.revision is not None:
            parts.append(f"revision {self.revision!r}")
        if self.dataset_ids:
            parts.append(f"{len(self.dataset_ids)} chosen dataset ids")
        if not self.all_revisions and self.revision is None:
            parts.append("default revisions")
        return "; ".join(parts) or "all datasets"


@dataclass(frozen=True)
class FileTask:
    """One dataset file: its table row, its URL and where ONE-api looks for it."""

    eid: str
    dataset_id: str
    rel_path: str                  # ONE's, e.g. ``alf/#2024-05-06#/_ibl_trials.table.pqt``
    collection: str
    revision: str                  # '' when none
    file_size: int | None          # the table's (None: unknown, not checked)
    hash: str | None               # md5 (32 hex) or sha1 (40 hex); None or '' = not checked
    url: str                       # HTTP_DATA_SERVER/<session path>/<rel_path with the id>
    target: Path                   # the final file (ONE's name; with the id if uuid_filenames)
    session_path: str              # ``lab/Subjects/subject/date/NNN``
    default_revision: bool = True

    @property
    def name(self) -> str:
        return self.rel_path.rsplit("/", 1)[-1]

    @property
    def label(self) -> str:
        """How a line names the file: the session path and the rel_path."""
        return f"{self.session_path}/{self.rel_path}"


@dataclass(frozen=True)
class FileOutcome:
    """How one file ended: a kind, one line, the HTTP status of a failure."""

    task: FileTask
    kind: FetchKind
    reason: str = ""               # one line ("HTTP 404: not on the file server", ...)
    status: int | None = None      # the HTTP status that decided a failure, if any
    bytes: int = 0                 # body bytes received for this file in this job
    resumed_from: int = 0          # bytes of a partial file kept (a 206 continued it)
    seconds: float = 0.0
    cause: FailCause | None = None  # why it failed (None unless FAILED)


@dataclass(frozen=True)
class ActiveFile:
    """A file being fetched right now."""

    task: FileTask
    done: int                      # bytes of this file on disk so far (partial included)
    total: int | None


@dataclass(frozen=True)
class FetchProgress:
    """One progress event of a download (coalescable: each one is the whole picture)."""

    done_bytes: int                # of all the plan's files to fetch, resumed bytes included
    total_bytes: int
    rate: float                    # bytes per second over the last few seconds
    eta: float | None              # seconds left (None: not known yet)
    files_done: int                # finished (any kind)
    files_total: int
    active: tuple[ActiveFile, ...] = ()
    finished: FileOutcome | None = None   # the file that just finished, if this event says so
    phase: str = "download"        # "check" while files already on disk are verified

    @property
    def files_left(self) -> int:
        return self.files_total - self.files_done


#: ``on_progress`` of a download or a check
OnFetchProgress = Callable[[FetchProgress], None]


@dataclass(frozen=True)
class DownloadPlan:
    """The files a selection names, before anything is fetched."""

    tasks: tuple[FileTask, ...]            # every selected file (present ones included)
    to_fetch: tuple[FileTask, ...]         # not on this disk as ONE would load them
    total_bytes: int                       # the selection's size on the server
    fetch_bytes: int                       # bytes still to fetch (partials counted as had)
    free_bytes: int | None                 # free space on the target filesystem
    cache_dir: Path
    refusal: str | None = None             # why it cannot start (does not fit, no server)
    selection: Selection = Selection()
    notices: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        return self.refusal is None


@dataclass(frozen=True)
class DownloadReport:
    """How a download ended: every file's outcome and the totals."""

    outcomes: tuple[FileOutcome, ...]
    bytes: int                             # body bytes received
    seconds: float
    cancelled: bool = False

    def count(self, kind: FetchKind) -> int:
        return sum(o.kind is kind for o in self.outcomes)

    @property
    def failed(self) -> tuple[FileOutcome, ...]:
        return tuple(o for o in self.outcomes if o.kind is FetchKind.FAILED)

    @property
    def ok(self) -> bool:
        """Every requested file is on this disk and verified."""
        return all(o.kind.ok for o in self.outcomes) and not self.cancelled

    @property
    def message(self) -> str:
        """One line: "12 downloaded, 3 already on disk, 1 failed (…), 40.1 MB in 2.3 s"."""
        parts = [f"{self.count(FetchKind.DONE)} downloaded",
                 f"{self.count(FetchKind.VERIFIED)} already on disk"]
        failed = self.failed
        if failed:
            first = failed[0]
            parts.append(f"{len(failed)} failed ({first.task.name}: {first.reason}"
                         + (", ..." if len(failed) > 1 else "") + ")")
        if self.count(FetchKind.CANCELLED):
            parts.append(f"{self.count(FetchKind.CANCELLED)} cancelled (partials kept)")
        return (", ".join(parts)
                + f"; {self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s")


@dataclass(frozen=True)
class DiskFinding:
    """One dataset's files on this disk, as the doctor found them."""

    task: FileTask
    state: DiskState
    path: Path | None                      # the file the finding is about (None: missing)
    size: int | None                       # its size on disk
    reason: str                            # one line
    actions: tuple[DiskAction, ...] = ()
    verified: bool = False                 # hash checked (now or earlier, unchanged since)


@dataclass(frozen=True)
class DiskReport:
    """The doctor's findings for a selection (one per dataset, plus leftovers)."""

    findings: tuple[DiskFinding, ...]
    hashed_bytes: int = 0                  # bytes hashed by this check
    seconds: float = 0.0
    cancelled: bool = False

    def of(self, state: DiskState) -> tuple[DiskFinding, ...]:
        return tuple(f for f in self.findings if f.state is state)

    @property
    def problems(self) -> tuple[DiskFinding, ...]:
        return tuple(f for f in self.findings if f.state is not DiskState.OK)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.cancelled
