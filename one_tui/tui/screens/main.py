"""The main screen: the four panes, their layout and focus, the search and details flows, and
what a user does with the rows (copy, sort, export).

The app (``tui.app``) owns the state, the engine's service and the long jobs; this screen reads
the state (bound: ``state``/``now`` follow the app's) and changes it only through the
:class:`Host` it is given, on the UI thread. The layout is a view of the state too: the pane
shown and the side pane are CSS classes on ``#panes`` (app.tcss), so a pane mounted late (the
lazy filters) is laid out without being told.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.lazy import Lazy
from textual.reactive import var
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from one_tui.engine.core.errors import AlyxConnectionError, AuthenticationError, LoginRequired
from one_tui.engine.core.spec import inert, one_line
from one_tui.engine.core.types import Mode
from one_tui.engine.core.values import RemoteErrorKind, SearchRequest
from one_tui.text import fit_place, plural
from one_tui.tui import keys, state
from one_tui.tui import session_tools as tools
from one_tui.tui import work as bodies
from one_tui.tui.messages import (
    DetailsReady,
    DiskChecked,
    DownloadDone,
    DownloadFileDone,
    DownloadPlanned,
    DownloadProgress,
    ExportExists,
    JobDone,
    SearchDone,
    SearchProgress,
)
from one_tui.tui.screens.data import DataFlow
from one_tui.tui.screens.rows import RowActions
from one_tui.tui.state import AppState, Job, Pane
from one_tui.tui.widgets.cache_pane import CachePane
from one_tui.tui.widgets.details import DetailsPane
from one_tui.tui.widgets.download_panel import DownloadPanel
from one_tui.tui.widgets.filters import FiltersPane
from one_tui.tui.widgets.results import ResultsPane
from one_tui.tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from collections.abc import Iterable

    from one_tui.engine import EngineService

NARROW_WIDTH = 120  # below this, one pane at a time (80x24 over SSH)
ROOMY_WIDTH = 160  # from this, a wider filters column (its hints whole)
PANES = tuple(Pane)


class Host(Protocol):
    """What the main screen needs of the app (``OneApp``): its state and the engine."""

    @property
    def state(self) -> AppState: ...
    def update_state(self, new: AppState) -> None: ...
    @property
    def service(self) -> EngineService | None: ...
    def clock(self) -> dt.datetime: ...
    def timer(self) -> float: ...
    @property
    def remote_page_size(self) -> int | None: ...
    @property
    def place(self) -> str: ...
    def phases(self, job: Job) -> bodies.PhaseReporter: ...
    def cancel_jobs(self) -> bool: ...
    def record_error(self, title: str, exc: BaseException) -> None: ...
    def show_notices(self, notices: Iterable[str], skip: str | None = None) -> None: ...
    def ask_login_once(self, reason: str) -> None: ...
    def start_preload(self) -> None: ...
    def jobs_started(self) -> None: ...


class MainScreen(Screen[None]):
    """Filters | sessions over details-or-cache (wide); one pane at a time (narrow)."""

    BINDINGS = keys.bindings()

    state: var[AppState] = var(AppState, init=False)
    now: var[dt.datetime] = var(dt.datetime.min, init=False)

    def __init__(self, host: Host) -> None:
        super().__init__()
        self.host = host
        self._search_worker: Worker[None] | None = None
        # the last search run: its terms and whether it went to Alyx (L copies it as a ONE
        # call; the counts panel's dataset QC reads its terms)
        self._last_search: tuple[dict[str, Any], bool] | None = None
        self._topbar: Text | None = None
        # D, K, V: downloads and the disk doctor
        self.data = DataFlow(self, host, self.last_terms, self.reload_details)
        self.rows = RowActions(self, host, self.filters, lambda: self._last_search,
                               self.action_search)

    # ---------------------------------------------------------------- compose and layout

    def compose(self) -> ComposeResult:
        yield Static("", id="topbar")
        with Horizontal(id="panes"):
            # mounted right after the first frame (its ~50 widgets are the bulk of the layout)
            yield Lazy(FiltersPane(id="filters", classes="pane").data_bind(MainScreen.state))
            with Vertical(id="right"):
                yield ResultsPane(id="results", classes="pane")
                yield DetailsPane(id="details", classes="pane")
                yield CachePane(id="cache", classes="pane").data_bind(MainScreen.state,
                                                                        MainScreen.now)
        yield DownloadPanel(id="download-panel")
        yield StatusLine("", id="status").data_bind(MainScreen.state, MainScreen.now)
        yield Footer(compact=True)  # at 80 columns the spaced footer cut "Refresh"

    def on_mount(self) -> None:
        for pane in self.query(".pane"):
            pane.border_title = Pane(pane.id).heading if pane.id else ""
        self.refresh_layout()

    def on_resize(self, event: events.Resize) -> None:
        self.refresh_layout()

    def watch_state(self) -> None:
        self.refresh_layout()

    @property
    def narrow(self) -> bool:
        return self.app.size.width < NARROW_WIDTH

    def refresh_layout(self) -> None:
        """Wide: filters | sessions over details-or-cache. Narrow: only the chosen pane.
        (app.tcss draws these classes.)"""
        if not self.is_mounted:
            return
        s = self.host.state
        panes = self.query_one("#panes")
        panes.set_class(self.narrow, "-narrow")
        panes.set_class(self.app.size.width >= ROOMY_WIDTH, "-roomy")
        for pane in PANES:
            panes.set_class(s.pane is pane, f"-pane-{pane}")
            panes.set_class(s.side is pane, f"-side-{pane}")
        self._render_topbar()

    def _render_topbar(self) -> None:
        s = self.host.state
        # every pane named, at 80 columns too (a bare "1" told nothing); the app's name when
        # the database's fits beside it, else the database's name gets the room, cut last
        panes = Text()
        for i, pane in enumerate(PANES, 1):
            shown = pane is s.pane if self.narrow else pane in (Pane.FILTERS, Pane.RESULTS,
                                                                 s.side)
            panes.append(f" {i} {pane.heading} ", style="reverse" if shown else "dim")
        place = inert(self.host.place) if self.host.place else ""
        name = " one-tui "
        width = self.app.size.width
        if len(name) + panes.cell_len + 2 + len(place) > width:
            name = ""
        out = Text(name, style="bold") + panes
        if place:
            out.append(f"  {fit_place(place, width - out.cell_len - 2)}", style="dim")
        if out != self._topbar:
            self._topbar = out
            self.query_one("#topbar", Static).update(out)

    def filters(self) -> FiltersPane | None:
        """The filters pane, None in the instant before its lazy mount."""
        found = self.query(FiltersPane)
        return found.first() if found else None

    # ---------------------------------------------------------------- panes and focus

    def action_show_pane(self, name: str) -> None:
        """Show (narrow) or focus (wide) a pane; details and cache share the right column."""
        pane = Pane(name)
        self.host.update_state(state.pane_shown(self.host.state, pane))
        self._focus_pane(pane)

    def _focus_pane(self, pane: Pane) -> None:
        """Focus a pane at once (``Widget.focus()`` is deferred: keys typed right after the pane
        key would still reach the old widget, where letters are commands)."""
        target: Widget | None
        if pane is Pane.FILTERS:
            target = next(iter(self.query("#f-lab")), None)
        elif pane is Pane.RESULTS:
            results = self.query_one(ResultsPane)
            target = results.table or results
        else:
            target = self.query_one(f"#{pane}")
        if target is not None:
            self.set_focus(target)

    def action_focus_step(self, step: int) -> None:
        """tab / shift+tab. Inside the filters, the focus cycles through the filters only: tab
        past the last one used to land in the sessions table, where the letters still being
        typed (s, o, q, C) are commands."""
        focused = self.focused
        filters = self.filters()
        if filters is not None and focused is not None and filters in focused.ancestors:
            chain = [w for w in self.focus_chain if filters in w.ancestors]
            if focused in chain:
                self.set_focus(chain[(chain.index(focused) + step) % len(chain)])
                return
        if step > 0:
            self.focus_next()
        else:
            self.focus_previous()

    def action_next_pane(self) -> None:
        """ctrl+n: the next pane (filters, sessions, details, cache), also from inside a field."""
        current = self.host.state.pane
        focused = self.focused
        if focused is not None:
            for pane in PANES:
                widget = self.query_one(f"#{pane}")
                if focused is widget or widget in focused.ancestors:
                    current = pane
        self.action_show_pane(PANES[(PANES.index(current) + 1) % len(PANES)])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The priority pane keys act outside a text field only (there they are typed)."""
        typing = isinstance(self.focused, Input)
        return not (typing and action in ("focus_filters", "show_pane"))

    def action_focus_filters(self) -> None:
        self.action_show_pane(Pane.FILTERS)

    # ---------------------------------------------------------------- search

    @on(FiltersPane.Submitted)
    def _filters_submitted(self, event: FiltersPane.Submitted) -> None:
        self.search(event.terms, event.alyx_only)

    def action_search(self, query_type: str | None = None) -> None:
        """F9 / ctrl+r: validate the filters, then search."""
        filters = self.filters()
        terms: dict[str, Any] = {}
        alyx_only = False
        if filters is not None:  # before its mount nothing can have been typed: all sessions
            try:
                terms, alyx_only = filters.collect()
            except ValueError as exc:  # FilterError: the fields say which
                self.notify(str(exc), severity="error")
                return
        self.search(terms, alyx_only, Mode(query_type) if query_type else None)

    def action_search_remote(self) -> None:
        self.action_search(Mode.REMOTE)

    def search(self, terms: dict[str, Any], alyx_only: bool,
               query_type: Mode | None = None) -> None:
        """Run a search (remote-only filters send it to Alyx: the engine decides)."""
        service = self.host.service
        s = self.host.state
        if service is None or s.engine is None:
            self.notify("Not connected yet.", severity="warning")
            return
        request = SearchRequest(terms=terms, query_type=query_type,
                                no_cache=s.bypass_rest, page_size=self.host.remote_page_size,
                                alyx_only=alyx_only)
        remote = service.goes_to_alyx(request)
        if remote and not s.engine.has_alyx:
            self.notify("No Alyx database: remote searches are not possible here.",
                        severity="error")
            return
        self.host.update_state(state.search_started(s))
        self._last_search = (dict(terms), remote)  # L copies it as a ONE call
        self.query_one(ResultsPane).show_running("on Alyx" if remote else "the local tables")
        if isinstance(self.focused, Input) or (self.narrow
                                               and self.host.state.pane is Pane.FILTERS):
            # to the rows: 2, 3, s typed next act on them instead of landing in the filter
            self.action_show_pane(Pane.RESULTS)
        self._search_worker = self._search(service, request, self.host.state.search.seq)

    @work(thread=True, exclusive=True, group=Job.SEARCH, exit_on_error=False,
          description="search sessions")
    def _search(self, service: EngineService, request: SearchRequest, search_id: int) -> None:
        bodies.search(service, request, search_id, get_current_worker().cancelled_event,
                      self.post_message, self.host.phases(Job.SEARCH),
                      now=self.host.clock, timer=self.host.timer)

    def on_search_progress(self, message: SearchProgress) -> None:
        s = self.host.state.search
        if message.search_id == s.seq and s.running:
            results = self.query_one(ResultsPane)
            if message.table is not None:
                results.show_table(message.table, "")
            results.show_progress(message.done, message.total)

    def on_search_done(self, message: SearchDone) -> None:
        if message.search_id != self.host.state.search.seq:
            return  # a superseded search: its rows are not shown
        self._search_worker = None
        answer = message.answer
        if answer.error is not None or message.table is None:
            self._search_failed(answer.error)
            return
        n = message.table.num_rows
        source = answer.source
        summary = f"{plural(n, 'session')} · {source} · {message.seconds:.2f} s"
        if n == 0 and not answer.cancelled:
            summary = f"Nothing matched these filters ({source}) · ctrl+l clears them"
        if answer.cancelled:
            summary = f"cancelled: {summary} (partial)"
        self.query_one(ResultsPane).show_table(message.table, summary)
        self.host.update_state(state.search_answered(self.host.state, source,
                                                     self.host.clock()))
        # once the results are on screen (started here it held their drawing up by the GIL,
        # ~75 ms at IBL scale): then the next dataset search is quick
        self.call_after_refresh(self.host.start_preload)

    def _search_failed(self, exc: BaseException | None) -> None:
        """The pane says the search failed and why; the rows left are marked as the previous
        answer with its time; a lost connection shows in the status line at once."""
        error = exc or RuntimeError("the search returned nothing")
        self.host.record_error(Job.SEARCH, error)
        reason = one_line(error, named=True)
        answered_at = self.host.state.search.answered_at
        self.query_one(ResultsPane).show_failed(reason, answered_at)
        self.host.update_state(state.search_failed(self.host.state,
                                                   isinstance(exc, AlyxConnectionError)))
        if isinstance(exc, LoginRequired | AuthenticationError):
            self.host.ask_login_once(reason)

    @on(Worker.StateChanged)
    def _worker_ended(self, event: Worker.StateChanged) -> None:
        """A search or details worker that failed or was cancelled (the app's own handler
        then records the failure)."""
        worker = event.worker
        if event.state not in (WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if worker is self._search_worker:
            self._search_worker = None
            self.host.update_state(state.search_stopped(self.host.state))
            self.query_one(ResultsPane).set_status(
                "Search cancelled; the page in flight ends, then its rows show."
                if event.state == WorkerState.CANCELLED else "Search failed (x: details).")
        if worker.group == Job.DETAILS:
            self.query_one(DetailsPane).show_error("Details could not be loaded (x: why).")

    def action_cancel(self) -> None:
        """escape: cancel a running search, then a running job (connect, login, refresh: the
        download stops, the tables on disk stay); otherwise leave the filters for the
        results."""
        if self.host.state.search.running:
            self.app.workers.cancel_group(self, Job.SEARCH)
            self.notify("Search cancelled", severity="warning")
            return
        if self.host.cancel_jobs():
            return
        focused = self.focused
        if isinstance(focused, Input) or (focused is not None
                                          and focused.id in (Pane.DETAILS, Pane.CACHE)):
            self.action_show_pane(Pane.RESULTS)  # at 80x24: back from details / cache too

    def action_clear_filters(self) -> None:
        filters = self.filters()
        if filters is not None:
            filters.clear()

    # ---------------------------------------------------------------- details

    @on(ResultsPane.RowChosen)
    def _row_chosen(self, event: ResultsPane.RowChosen) -> None:
        self.open_details(event.eid, event.row)

    def action_details(self) -> None:
        if self.host.service is None or not self.query_one(ResultsPane).choose():
            self.notify("No session selected.", severity="warning")

    def open_details(self, eid: str, row: dict[str, Any]) -> None:
        service = self.host.service
        if service is None:
            self.notify("No session selected.", severity="warning")
            return
        narrow = self.narrow
        self.host.update_state(state.details_opened(self.host.state, narrow))
        details = self.query_one(DetailsPane)
        if narrow:
            # the keys that follow (pgdn, arrows, end) scroll the details, not the hidden table
            self.set_focus(details)
        details.show_loading(eid)
        self._details(service, eid, row, self.host.state.bypass_rest)

    @work(thread=True, exclusive=True, group=Job.DETAILS, exit_on_error=False,
          description="session details")
    def _details(self, service: EngineService, eid: str, row: dict[str, Any],
                 no_cache: bool) -> None:
        bodies.details(service, eid, row, no_cache, self.post_message)

    def on_details_ready(self, message: DetailsReady) -> None:
        answer = message.answer
        value = answer.value
        if answer.error is not None or value is None:
            self.host.record_error(Job.DETAILS, answer.error or RuntimeError("no details"))
            if message.eid == self.query_one(DetailsPane).eid:
                self.query_one(DetailsPane).show_error("Details could not be loaded (x: why).")
            return
        lost = value.remote_error is not None and (
            value.remote_error.kind is RemoteErrorKind.UNREACHABLE)
        self.host.update_state(state.details_answered(self.host.state, answer.source))
        if lost:  # the status line says so at once
            self.host.update_state(state.reachability(self.host.state, True))
        self.query_one(DetailsPane).show(value)

    def reload_details(self, eid: str) -> None:
        """Read the session's details again (after a download or a fix: the disk changed);
        the pane keeps its folds, marks and cursor."""
        service = self.host.service
        if service is not None:
            self._details(service, eid, {}, self.host.state.bypass_rest)

    # ---------------------------------------------------------------- data: D, K, V

    def last_terms(self) -> dict[str, Any]:
        """The terms of the search whose results are shown (their dataset filter)."""
        return dict(self._last_search[0]) if self._last_search is not None else {}

    def action_download(self) -> None:
        self.data.download()

    def action_disk_doctor(self) -> None:
        self.data.check(verify=False)

    def action_verify_all(self) -> None:
        self.data.check(verify=True)

    def on_download_planned(self, message: DownloadPlanned) -> None:
        self.data.planned(message)

    def on_download_progress(self, message: DownloadProgress) -> None:
        self.data.progress(message)

    def on_download_file_done(self, message: DownloadFileDone) -> None:
        self.data.file_done(message)

    def on_download_done(self, message: DownloadDone) -> None:
        self.data.done(message)

    def on_disk_checked(self, message: DiskChecked) -> None:
        self.data.checked(message)

    def on_job_done(self, message: JobDone) -> None:
        if message.job is Job.DOCTOR:
            self.data.fixed()  # the app's handler shows its toast

    # ---------------------------------------------------------------- row actions (rows.py)

    def action_copy_eid(self) -> None:
        self.rows.copy_eid()

    def action_copy_load(self) -> None:
        self.rows.copy_load()

    def action_subject_view(self) -> None:
        self.rows.subject_view()

    def action_counts(self) -> None:
        self.rows.counts()

    def action_copy_search(self) -> None:
        self.rows.copy_search()

    def action_copy_eids(self) -> None:
        self.rows.copy_eids()

    def action_sort(self) -> None:
        self.rows.sort()

    def action_goto(self) -> None:
        """g: open a session by a pasted eid or folder."""
        from one_tui.tui.screens.goto import GotoModal

        self.app.push_screen(GotoModal(), self._on_goto)

    def _on_goto(self, text: str | None) -> None:
        service = self.host.service
        if text and service is None:
            self.notify("Not connected yet.", severity="warning")
        elif text and service is not None:
            self._goto(service, text)

    @work(thread=True, exclusive=True, group=Job.DETAILS, exit_on_error=False,
          description="find a session")
    def _goto(self, service: EngineService, text: str) -> None:
        tools.goto(service, text, self.post_message)

    def on_session_found(self, message: tools.SessionFound) -> None:
        answer = message.answer
        if answer.error is not None or answer.value is None:
            why = one_line(answer.error) if answer.error is not None else (
                f"no such session ({answer.source})")
            self.notify(f"{message.text[:80]}: {why}", severity="warning")
            return
        self.open_details(answer.value, {})

    def action_toggle_eid(self) -> None:
        shown = self.query_one(ResultsPane).toggle_eid()
        self.notify(f"eid column {'shown' if shown else 'hidden'}")

    def action_export(self) -> None:
        results = self.query_one(ResultsPane)
        if results.full is None:
            self.notify("Nothing to export yet: run a search first.", severity="warning")
            return
        from one_tui.tui.screens.export import ExportModal

        self.app.push_screen(ExportModal("sessions.csv", results.row_count), self._on_export)

    def _on_export(self, choice: tuple[str, str] | None) -> None:
        table = self.query_one(ResultsPane).full
        if choice and table is not None:
            self._export(table, *choice)

    @work(thread=True, exclusive=True, group=Job.EXPORT, exit_on_error=False,
          description="export results")
    def _export(self, table: Any, path: str, fmt: str, overwrite: bool = False) -> None:
        bodies.export(table, path, fmt, overwrite, self.post_message)

    def on_export_exists(self, message: ExportExists) -> None:
        from one_tui.tui.screens.confirm import ConfirmModal

        table = self.query_one(ResultsPane).full

        def answered(yes: bool | None) -> None:
            if yes and table is not None:
                self._export(table, message.path, message.fmt, overwrite=True)
            else:
                self.notify(f"Not exported: {message.path} is kept as it was.")

        self.app.push_screen(ConfirmModal(f"{message.path} exists. Write over it?"), answered)
