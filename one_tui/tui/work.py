"""The bodies of the app's thread workers, as plain functions: (service, request, cancel, post).

Each calls the engine's service, then posts what happened (``tui.messages``); none reads or
writes the app's state, and none imports Textual's app, so tests run them with a fake service
and a list as ``post`` (tests/tui/test_work.py). The app wraps each in a ``@work(thread=True,
group=Job...)`` method that passes ``worker.cancelled_event`` as ``cancel``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from textual.message import Message

from one_tui.engine.core.errors import AuthenticationError, LoginRequired
from one_tui.engine.core.results import Answer, Outcome, recording
from one_tui.engine.core.spec import one_line
from one_tui.engine.core.types import Mode, OutcomeKind
from one_tui.engine.core.values import EngineState, SearchRequest, SessionDetails, Suggestions
from one_tui.text import fmt_size, plural
from one_tui.tui import convert
from one_tui.tui.messages import (
    DatasetsPreloaded,
    DetailsReady,
    EngineOpened,
    EngineStateChanged,
    ExportExists,
    JobDone,
    JobProgress,
    LoginNeeded,
    Notices,
    SearchDone,
    SearchProgress,
    SuggestionsReady,
)
from one_tui.tui.state import Job

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from one_tui.tui.connect import Connector

PROGRESS_EVERY = 0.25  # seconds between progress messages (toolong's batching)

Post = Callable[[Message], object]


class Service(Protocol):
    """What the workers use of ``one_tui.engine.EngineService`` (a fake in the tests)."""

    def state(self) -> EngineState: ...
    def refresh_due(self, now: datetime) -> bool: ...
    def goes_to_alyx(self, request: SearchRequest) -> bool: ...
    def search_sessions(self, request: SearchRequest, *, cancel: threading.Event | None = ...,
                        on_page: Callable[[int, int], None] | None = ...,
                        on_rows: Callable[[pd.DataFrame], None] | None = ...
                        ) -> Answer[pd.DataFrame]: ...
    def suggestions(self) -> Answer[Suggestions]: ...
    def session_details(self, eid: str, row: Any = ..., *,
                        no_cache: bool = ...) -> Answer[SessionDetails]: ...
    def preload_datasets(self, *, cancel: threading.Event | None = ...) -> Answer[bool]: ...
    def connect(self, *, cancel: threading.Event | None = ...,
                on_progress: Callable[[str, int | None, int | None], None] | None = ...
                ) -> Outcome: ...
    def login(self, username: str, password: str, *, cancel: threading.Event | None = ...,
              on_progress: Callable[[str, int | None, int | None], None] | None = ...
              ) -> Outcome: ...
    def refresh(self, how: Mode, *, cancel: threading.Event | None = ...,
                on_progress: Callable[[str, int | None, int | None], None] | None = ...
                ) -> Outcome: ...
    def set_mode(self, mode: Mode) -> Outcome: ...
    def clear_rest_cache(self) -> Outcome: ...


@dataclass
class PhaseReporter:
    """A job's ``on_progress``: its phase in the status line ("asking Alyx for newer tables",
    "downloading 3.4 MB / 8.7 MB"), bytes at most every 0.25 s. Every phase sent is appended
    to ``log`` when one is given, here where it is produced: the messages coalesce, so a phase
    may never reach a handler."""

    job: Job
    post: Post
    log: list[str] | None = None
    clock: Callable[[], float] = time.monotonic
    _last: tuple[float, str] = field(default=(float("-inf"), ""), init=False)

    def __call__(self, phase: str, done: int | None = None, total: int | None = None) -> None:
        now = self.clock()
        if phase == self._last[1] and now - self._last[0] < PROGRESS_EVERY:
            return
        self._last = (now, phase)
        text = phase
        if done is not None:
            text = f"{phase} {fmt_size(done)}" + (f" / {fmt_size(total)}" if total else "")
        if self.log is not None:
            self.log.append(f"{self.job}: {text}")
        self.post(JobProgress(self.job, f"{text} — esc cancels"))


def _severity(out: Outcome) -> str:
    return "warning" if out.failed or out.kind == OutcomeKind.CANCELLED else "information"


def _state(service: Service, post: Post) -> EngineState:
    state = service.state()
    post(EngineStateChanged(state))
    return state


def post_state(service: Service, post: Post) -> EngineState:
    """Post the engine's state after a job (for the bodies of ``tui/sets.py``)."""
    return _state(service, post)


def needs_login(out: Outcome | None, state: EngineState) -> bool:
    """The login form opens: the job says so, or the mode fell back for want of a login."""
    if out is not None and out.kind in (OutcomeKind.LOGIN_NEEDED, OutcomeKind.LOGIN_REFUSED):
        return True
    fallback = state.fallback
    return (state.has_alyx and not state.logged_in and fallback is not None
            and fallback.reason.wants_login)


def after_connect(service: Service, out: Outcome | None, post: Post, *,
                  search_after: bool, notices: tuple[str, ...] = ()) -> None:
    """The engine is open: tell the app (which searches next unless in remote mode or the
    form opens), then the suggestions when no first search will bring them."""
    state = _state(service, post)
    login = needs_login(out, state)
    error = None
    if out is not None and out.kind == OutcomeKind.LOGIN_REFUSED:
        error = f"Login refused: {out.detail or out.message}"
    post(EngineOpened(service, out, login_needed=login, error=error,
                      notices=(*notices, *(out.notices if out is not None else ()))))
    if login or state.mode is Mode.REMOTE or not search_after:
        suggestions(service, post)


def connect(service: Service, cancel: threading.Event | None, post: Post,
            progress: PhaseReporter, *, search_after: bool, notices: tuple[str, ...] = ()
            ) -> None:
    """The connect job: log in, ask Alyx for newer tables, download them; escape cancels.
    ``notices``: what opening the engine said (a plain-http URL)."""
    out = service.connect(cancel=cancel, on_progress=progress)
    after_connect(service, out, post, search_after=search_after, notices=notices)


def open_and_connect(connector: Connector, username: str | None, secret: list[str],
                     clock: Callable[[], datetime], cancel: threading.Event | None, post: Post,
                     progress: PhaseReporter, *, search_after: bool) -> None:
    """The connect job from the start: open the engine (no network; a login it needs is the
    form), then ``connect``. ``secret`` (the password, if any) is emptied here: the Worker
    keeps its arguments, not the password, which is dropped once the engine is open."""
    password = secret.pop() if secret else None
    try:
        with recording() as opened:  # what opening said (a plain-http URL) is a toast
            service = connector.open(username, password, clock=clock)
    except LoginRequired as exc:
        post(LoginNeeded(str(exc), username or connector.username))
        return
    except AuthenticationError as exc:
        post(LoginNeeded("Alyx refused the login.", username,
                         error=f"Login refused: {one_line(exc)}"))
        return
    finally:
        password = None
    connect(service, cancel, post, progress, search_after=search_after,
            notices=tuple(opened.notices))


def login(service: Service, username: str, password: str, cancel: threading.Event | None,
          post: Post, progress: PhaseReporter, *, search_after: bool) -> None:
    """Log in (the password is not kept), then the table update that follows."""
    out = service.login(username, password, cancel=cancel, on_progress=progress)
    if out.kind in (OutcomeKind.LOGIN_REFUSED, OutcomeKind.LOGIN_NEEDED):
        post(LoginNeeded("Alyx refused the login.", username,
                         error=f"Login refused: {out.detail or out.message}"))
        _state(service, post)
        return
    state = service.state()
    post(JobDone(Job.LOGIN, f"Logged in as {username}; mode {state.mode}", out))
    after_connect(service, out, post, search_after=search_after)


def set_mode(service: Service, mode: Mode, post: Post) -> None:
    out = service.set_mode(mode)
    post(Notices(out.notices))
    state = _state(service, post)
    if out.failed:
        post(JobDone(Job.MODE, f"Mode: {out.message}", out, "warning"))
        return
    from one_tui.tui.widgets.cache_pane import mode_line

    post(JobDone(Job.MODE, f"Mode: {mode_line(state)}", out))


def refresh(service: Service, how: Mode, cancel: threading.Event | None, post: Post,
            progress: PhaseReporter) -> None:
    """r / R: the toast says what happened (not expired: Alyx not asked / nothing newer / new
    tables from <time> / unreachable: why)."""
    out = service.refresh(how, cancel=cancel, on_progress=progress)
    verb = "Forced refresh" if how is Mode.REFRESH else "Refresh"
    post(JobDone(Job.REFRESH, f"{verb}: {out.message}", out, _severity(out)))
    post(Notices(out.notices, skip=out.message))
    _state(service, post)
    suggestions(service, post)


def clear_rest(service: Service, post: Post) -> None:
    out = service.clear_rest_cache()
    post(JobDone(Job.REST, out.message, out, _severity(out)))
    _state(service, post)


def suggestions(service: Service, post: Post) -> None:
    """Suggestions from the local tables (none yet: none, not an error)."""
    answer = service.suggestions()
    if answer.ok and answer.value is not None:
        post(SuggestionsReady(answer.value))


@dataclass
class GrowingRows:
    """A remote search's rows so far, converted only once they doubled since last shown:
    mounting rows costs the UI thread time in proportion to their number, so a 20,000-session
    search is redrawn about log2(80 pages) times, not once per page."""

    rows: pd.DataFrame | None = None
    shown: int = 0

    def __call__(self, df: pd.DataFrame) -> None:
        self.rows = df  # converted only when a progress message carries it

    def table(self) -> pa.Table | None:
        rows = self.rows
        if rows is None or len(rows) < 2 * self.shown:
            return None
        self.shown = len(rows)
        return convert.sessions_table(rows)


def search(service: Service, request: SearchRequest, search_id: int,
           cancel: threading.Event | None, post: Post, progress: PhaseReporter, *,
           now: Callable[[], datetime], timer: Callable[[], float]) -> None:
    """A session search; in auto mode the first one after the tables expired asks Alyx for
    newer tables first (the engine decides: ``refresh_due``)."""
    remote = service.goes_to_alyx(request)
    growing = GrowingRows()
    last = [float("-inf")]

    def on_page(done: int, total: int) -> None:
        moment = time.monotonic()
        if done < total and moment - last[0] >= PROGRESS_EVERY:
            last[0] = moment
            post(SearchProgress(search_id, done, total, growing.table()))

    started = timer()
    if not remote and service.refresh_due(now()):
        out = service.refresh(Mode.AUTO, cancel=cancel, on_progress=progress)
        post(JobDone(Job.SEARCH, f"Tables expired: {out.message}", out, _severity(out)))
        post(Notices(out.notices, skip=out.message))
    answer = service.search_sessions(request, cancel=cancel,
                                     on_page=on_page if remote else None,
                                     on_rows=growing if remote else None)
    post(Notices(answer.notices))
    table = convert.sessions_table(answer.value) if answer.ok else None
    post(SearchDone(search_id, answer, table, timer() - started, remote))
    if answer.ok and not request.terms and not remote and answer.value is not None:
        from one_tui.engine import suggestions_of

        post(SuggestionsReady(suggestions_of(answer.value)))
    _state(service, post)


def details(service: Service, eid: str, row: dict[str, Any], no_cache: bool,
            post: Post) -> None:
    answer = service.session_details(eid, row, no_cache=no_cache)
    post(DetailsReady(eid, answer))
    post(Notices(answer.notices))
    _state(service, post)


def preload(service: Service, cancel: threading.Event | None, post: Post,
            timer: Callable[[], float] = time.perf_counter) -> None:
    """Read the datasets table in the background; what the read found (a corrupt file)
    comes back as the answer's notices."""
    started = timer()
    answer = service.preload_datasets(cancel=cancel)
    notices = answer.notices + ((f"datasets not loaded: {answer.error}",)
                                if answer.error is not None else ())
    post(DatasetsPreloaded(bool(answer.ok and answer.value), timer() - started, notices))


def export(table: pa.Table, path: str, fmt: str, overwrite: bool, post: Post) -> None:
    from one_tui.tui.export import ExportError, write_table

    target = Path(path).expanduser().absolute()
    try:
        rows = write_table(table, target, fmt, overwrite=overwrite)
    except FileExistsError:
        post(ExportExists(str(target), fmt))
        return
    except ExportError as exc:
        post(JobDone(Job.EXPORT, f"Not exported: {exc}", severity="error"))
        return
    post(JobDone(Job.EXPORT, f"Wrote {plural(rows, 'session')} to {target}"))
