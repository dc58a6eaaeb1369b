"""The one-tui application: the state the screen is drawn from, the engine's service, the long
jobs on it (connect, log in, mode, refresh, REST cache, the datasets preload), errors and the
clock. The panes and what is done in them are the main screen's (``screens/main.py``).

``state`` (an :class:`AppState`) and ``now`` are reactives that only message handlers change,
on the UI thread; the main screen, and through it the status line, the Cache pane and the
filters, are bound to them (``data_bind``). Every engine call runs in a ``@work(thread=True,
exclusive=True, group=Job...)`` worker whose body is a plain function of ``tui.work`` that
posts messages. One ``Worker.StateChanged`` handler, here, turns failures into a one-line toast
(full text on ``x``) and keeps the list of running jobs, so the UI is never stuck.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState, get_current_worker

from one_tui.engine.core.errors import AuthenticationError, LoginRequired
from one_tui.engine.core.spec import inert, one_line
from one_tui.engine.core.types import MODES, Mode, OutcomeKind
from one_tui.tui import hangup, sets, state
from one_tui.tui import work as bodies
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector
from one_tui.tui.keys import key_rows, palette_commands, unknown_ids
from one_tui.tui.messages import (
    DatasetsPreloaded,
    EngineOpened,
    EngineStateChanged,
    JobDone,
    JobProgress,
    LoginNeeded,
    Notices,
    SuggestionsReady,
)
from one_tui.tui.screens.login import LoginFlow
from one_tui.tui.screens.main import MainScreen
from one_tui.tui.state import AppState, Job
from one_tui.tui.widgets.results import ResultsPane

if TYPE_CHECKING:
    from one_tui.engine import EngineService

HANGUP_GRACE = 1.5  # seconds a hung-up app may take to exit cleanly before it is ended
TICK = 1.0  # seconds between clock ticks (ages, expiry); nothing repaints unless a text changes
TICK_LOW_BANDWIDTH = 5.0  # --low-bandwidth: ages to the minute, so rarely a change at all
RUNNING = (WorkerState.PENDING, WorkerState.RUNNING)


class OneApp(App[None]):
    """The full-screen browser of sessions, details and caches."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "one-tui"
    AUTO_FOCUS = None  # the sessions table takes focus when the first results arrive
    # ctrl+q quits even while an Input has focus, on any screen (the rest: keys.py)
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="quit_now")]

    state: var[AppState] = var(AppState, init=False)
    now: var[dt.datetime] = var(dt.datetime.min, init=False)

    def __init__(
        self,
        connector: Connector | None,
        *,
        config: TuiConfig | None = None,
        theme: str | None = None,
        low_bandwidth: bool = False,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
        timer: Callable[[], float] = time.perf_counter,
        demo_factory: Callable[[], Connector] | None = None,
        initial_search: bool = True,
    ) -> None:
        super().__init__()
        self.connector = connector
        self.config = config or TuiConfig()
        self.keymap = dict(self.config.keymap)  # given to set_keymap; the help lists it
        self.requested_theme = theme or self.config.theme
        self.low_bandwidth = bool(low_bandwidth or self.config.low_bandwidth)
        self.blink_cursor = not self.low_bandwidth
        if self.low_bandwidth:
            self.animation_level = "none"
        self.clock = clock
        self.timer = timer
        self.demo_factory = demo_factory
        self.initial_search = initial_search
        self.remote_page_size: int | None = None  # Alyx's own page size (250) when None
        self.phase_log: list[str] | None = None  # tests: every job phase, as produced
        self._service: EngineService | None = None
        self._preloaded_tables: int | None = None  # tables_id the last preload was for
        self._help_shown: tuple[tuple[tuple[str, str, str], ...], str] | None = None
        # --low-bandwidth: the tables' time, not a ticking age
        self.set_reactive(OneApp.state, AppState(absolute=self.low_bandwidth))
        self.set_reactive(OneApp.now, clock())
        self.main = MainScreen(self)
        self.login_flow = LoginFlow(self, self)

    def get_default_screen(self) -> Screen[None]:
        return self.main.data_bind(OneApp.state, OneApp.now)

    # ---------------------------------------------------------------- what the screen uses

    @property
    def service(self) -> EngineService | None:
        return self._service

    @property
    def place(self) -> str:
        """Where the app looks, for the top bar: the database's label or URL."""
        conn = self.connector
        return (conn.label or conn.base_url or "") if conn is not None else ""

    def update_state(self, new: AppState) -> None:
        self.state = new

    # ---------------------------------------------------------------- outside text out

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every toast (screens' and widgets' ``notify`` come here): its text made inert
        (``spec.inert``) and never read as markup, as toasts carry notices, errors and paths
        from outside (a ``[`` in a file name is text, an ESC is shown as ``\x1b``)."""
        super().notify(inert(message, lines=True), title=inert(title), severity=severity,
                       timeout=timeout, markup=False)

    def copy_to_clipboard(self, text: str, *, lines: bool = False) -> None:
        """OSC 52 carries the text as shown, control characters (newlines too, unless
        ``lines``: the error modal's text) as their escapes: a copied eid or ONE line pasted
        into a shell cannot run a second command it did not show."""
        super().copy_to_clipboard(inert(text, lines=lines))

    def phases(self, job: Job) -> bodies.PhaseReporter:
        return bodies.PhaseReporter(job, self.post_message, self.phase_log)

    # ---------------------------------------------------------------- mount, exit

    def on_mount(self) -> None:
        if not self.is_headless:  # a real terminal: its loss always ends the process
            hangup.install(self._exit_soon, HANGUP_GRACE)
        if self.keymap:
            self.set_keymap(self.keymap)
        if self.config.error:
            self.notify(self.config.error, severity="warning")
        if unknown := unknown_ids(self.keymap):
            self.notify(f"[keymap] in {self.config.path}: no key id {', '.join(unknown)} "
                        "(ignored; F1 lists the ids)", severity="warning", timeout=12)
        self._apply_theme()
        # the clock: ages advance and ``expired`` flips while the app is open
        self.set_interval(TICK_LOW_BANDWIDTH if self.low_bandwidth else TICK, self._tick)
        if self.connector is None:
            from one_tui.tui.screens.setup import SetupScreen

            self.push_screen(SetupScreen())
        elif self.connector.ask_create is not None:
            self.login_flow.ask_create(self.connector.ask_create)
        else:
            # after the first frame: the worker's imports (pandas, pyarrow) would compete with
            # it for the GIL
            self.call_after_refresh(self.start_connect)

    def _tick(self) -> None:
        self.now = self.clock()

    def _apply_theme(self) -> None:
        if not self.requested_theme:
            return
        if self.requested_theme in self.available_themes:
            self.theme = self.requested_theme
        else:
            names = ", ".join(sorted(self.available_themes))
            self.notify(f"Unknown theme {self.requested_theme!r}; available: {names}",
                        severity="warning")

    async def action_quit(self) -> None:
        """q / ctrl+q: quit now, even with a request stalled on Alyx."""
        self._exit_soon()

    def _exit_soon(self) -> None:
        """Exit; if a worker thread is stuck in a request, do not outlive the SSH session.

        asyncio joins worker threads at exit, so a request on a stalled Alyx would keep the
        process alive until its read timeout. Cache files are written atomically, so a hard
        exit after the grace period cannot leave a half-written table.
        """
        self.exit()
        if self.is_headless or not self._running_groups():
            return  # nothing can hold the exit up (and tests must never be os._exit-ed)
        timer = threading.Timer(HANGUP_GRACE, os._exit, args=(0,))
        timer.daemon = True
        timer.start()

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run; the hang-up watch lasts until the very end (a dead terminal could block
        Textual's own exit, after the unmount); its tty watcher stops when ``run`` returns, its
        signal handlers stay for the rest of the exit. Returns ``App.run``'s value."""
        try:
            return super().run(*args, **kwargs)
        except OSError:  # EIO: Textual's exit wrote to the terminal that was lost
            if hangup.lost() is None:
                raise
            return None
        finally:
            hangup.remove()
            if hangup.lost() is not None:
                self._return_code = 0  # nothing went wrong here: the terminal went away

    # ---------------------------------------------------------------- workers: the one handler

    def _running_groups(self) -> set[str]:
        return {w.group for w in self.workers if w.state in RUNNING}

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures become toasts; the running jobs follow the workers."""
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            self.record_error(worker.group, worker.error)
            if self._service is not None:
                self._post_engine_state(self._service)  # a failure may have changed the mode
            if isinstance(worker.error, LoginRequired | AuthenticationError):
                self.ask_login_once(one_line(worker.error, named=True))
            if worker.group == Job.CONNECT and self._service is None:
                self.state = state.connect_failed(self.state)
                self.main.query_one(ResultsPane).set_status(
                    "Could not open ONE here (x: why). Check --base-url / --cache-dir.")
        self.state = state.jobs_running(self.state, self._running_groups())

    @work(thread=True, exclusive=True, group=Job.STATE, exit_on_error=False,
          description="engine state")
    def _post_engine_state(self, service: EngineService) -> None:
        """After a failed worker: the state as it is now (not a job: never shown or cancelled)."""
        self.post_message(EngineStateChanged(service.state()))

    def _jobs_started(self) -> None:
        """A worker was just started: it shows in the status line at once."""
        self.state = state.jobs_running(self.state, self._running_groups())

    def on_job_progress(self, message: JobProgress) -> None:
        self.state = state.job_phase(self.state, message.job, message.text)

    def on_engine_state_changed(self, message: EngineStateChanged) -> None:
        # the state's times (loaded, created) are read against a clock reading as fresh
        self.now = self.clock()
        self.state = state.engine_changed(self.state, message.state)

    def on_suggestions_ready(self, message: SuggestionsReady) -> None:
        self.state = state.suggestions_found(self.state, message.values)

    def on_notices(self, message: Notices) -> None:
        self.show_notices(message.notices, message.skip)

    def show_notices(self, notices: Iterable[str], skip: str | None = None) -> None:
        """Toasts for the notices a call returned (each once; ``skip`` is said elsewhere)."""
        for note in dict.fromkeys(notices):
            if not skip or note not in skip:
                self.notify(note, severity="warning", timeout=8)

    def record_error(self, title: str, exc: BaseException) -> None:
        detail = "".join(traceback.format_exception(exc))
        line = one_line(exc, named=True)
        self.state = state.error_recorded(self.state, f"{title}: {line}", detail)
        self.notify(f"{line}  (x: details)", title=title, severity="error")

    def cancel_jobs(self) -> bool:
        """escape after the search: cancel connect / login / refresh (the tables on disk
        stay); False when none runs."""
        jobs = [w for w in self.workers if w.state in RUNNING
                and w.group in {j.value for j in Job if j.escape_cancels}]
        for worker in jobs:
            worker.cancel()
        groups = {w.group for w in jobs}
        if Job.DOWNLOAD in groups or Job.DOCTOR in groups:
            self.notify("Cancelling the download: partial files are kept, D again resumes "
                        "them", severity="warning")
        elif jobs:
            self.notify("Cancelling: the tables on disk are kept", severity="warning")
        return bool(jobs)

    # ---------------------------------------------------------------- connect and log in

    def start_connect(self, username: str | None = None, password: str | None = None) -> None:
        self.state = state.connecting(self.state)
        self._connect(username, [password] if password else [])
        self._jobs_started()

    @work(thread=True, exclusive=True, group=Job.CONNECT, exit_on_error=False,
          description="open the engine")
    def _connect(self, username: str | None, secret: list[str]) -> None:
        """Open the engine (no network), then its connect job: log in, ask Alyx for newer
        tables, download them, each phase in the status line; escape cancels it."""
        connector = self.connector
        assert connector is not None
        bodies.open_and_connect(connector, username, secret, self.clock,
                                get_current_worker().cancelled_event, self.post_message,
                                self.phases(Job.CONNECT), search_after=self.initial_search)
        import textual_fastdatatable.data_table  # noqa: F401 - imported here, not on the UI

    def on_engine_opened(self, message: EngineOpened) -> None:
        """The engine is open: say once why the mode differs (on the login form when a
        password is needed), then search, outside remote mode."""
        self._service = message.service
        conn = self.connector
        if conn and conn.base_url and not conn.label:
            conn.label = conn.base_url
        self.main.refresh_layout()
        engine = self.state.engine
        reason = engine.fallback.text if engine is not None and engine.fallback else None
        out = message.outcome
        if conn and conn.login_hint and not message.login_needed:
            self.notify(f"{conn.label}: {conn.login_hint}", timeout=8)
            conn.login_hint = None  # said once
        if out is not None and out.kind == OutcomeKind.CANCELLED:
            self.notify(f"Connecting: {out.message}", severity="warning", timeout=8)
        if reason and not message.login_needed:  # the login form says it otherwise
            self.notify(reason, severity="warning", timeout=8)
        self.show_notices(message.notices, skip=reason)
        if message.login_needed:
            self.login_flow.ask(reason or "Alyx needs a password.", error=message.error)
        elif (self.initial_search and not self.state.remote_mode
              and not self.state.search.running):
            self.main.action_search()

    def on_login_needed(self, message: LoginNeeded) -> None:
        self.login_flow.ask(message.reason, message.username, message.error)

    def ask_login_once(self, reason: str) -> None:
        self.login_flow.ask_once(reason)

    def search_tables(self) -> None:
        self.main.action_search()

    def start_login(self, service: EngineService, username: str, password: str) -> None:
        self._login(service, username, [password])
        self._jobs_started()

    @work(thread=True, exclusive=True, group=Job.LOGIN, exit_on_error=False,
          description="log in")
    def _login(self, service: EngineService, username: str, secret: list[str]) -> None:
        password = secret.pop()
        try:
            bodies.login(service, username, password, get_current_worker().cancelled_event,
                         self.post_message, self.phases(Job.LOGIN),
                         search_after=self.initial_search)
        finally:
            password = ""

    def action_start_demo(self) -> None:
        """From the set-up screen: serve the synthetic database and connect to it."""
        if self.demo_factory is None:
            from one_tui.tui.connect import demo_connector

            self.demo_factory = demo_connector
        self.connector = self.demo_factory()
        if self.screen is not self.main:
            self.pop_screen()
        self.notify("Starting the demo Alyx on this machine…")
        self.start_connect()

    # ---------------------------------------------------------------- tables, databases

    def action_pick_tag(self) -> None:
        sets.pick_tag(self)

    def action_pick_database(self) -> None:
        sets.pick_database(self)

    def action_freeze(self) -> None:
        sets.freeze_results(self)

    def action_start_public(self) -> None:
        """From the set-up screen: ONE's public database with ONE's public login."""
        if self.screen is not self.main:
            self.pop_screen()
        self.reopen(sets.public_connector())

    def results_eids(self) -> list[str] | None:
        """The eids of the marked sessions, else of all the results (None before a search)."""
        table = self.main.query_one(ResultsPane).chosen()
        return None if table is None else [str(e) for e in table.column("eid").to_pylist()]

    def jobs_started(self) -> None:
        self._jobs_started()

    def reopen(self, connector: Connector) -> None:
        """Open the engine on another database (the database picker): the old one's jobs
        stop, its connector is closed, and the connect job runs as at start."""
        self.cancel_jobs()
        old, self.connector = self.connector, connector
        self._service = None
        if old is not None and old is not connector:
            old.close()
        self.start_connect()

    # ---------------------------------------------------------------- mode, refresh, caches

    def _connected(self) -> EngineService | None:
        if self._service is None:
            self.notify("Not connected yet.", severity="warning")
        return self._service

    def action_cycle_mode(self) -> None:
        engine = self.state.engine
        current = engine.requested if engine is not None else Mode.AUTO
        self.action_set_mode(MODES[(MODES.index(current) + 1) % len(MODES)])

    def action_set_mode(self, mode: str) -> None:
        service = self._connected()
        if service is not None:
            self._set_mode(service, Mode(mode))
            self._jobs_started()

    @work(thread=True, exclusive=True, group=Job.MODE, exit_on_error=False, description="mode")
    def _set_mode(self, service: EngineService, mode: Mode) -> None:
        bodies.set_mode(service, mode, self.post_message)

    def action_refresh(self) -> None:
        self._refresh(Mode.AUTO)

    def action_force_refresh(self) -> None:
        self._refresh(Mode.REFRESH)

    def _refresh(self, how: Mode) -> None:
        service = self._connected()
        if service is not None:
            self._refresh_worker(service, how)
            self._jobs_started()

    @work(thread=True, exclusive=True, group=Job.REFRESH, exit_on_error=False,
          description="refresh cache tables")
    def _refresh_worker(self, service: EngineService, how: Mode) -> None:
        bodies.refresh(service, how, get_current_worker().cancelled_event, self.post_message,
                       self.phases(Job.REFRESH))

    def action_toggle_bypass(self) -> None:
        self.state = state.bypass_toggled(self.state)
        said = "bypassed for the following queries" if self.state.bypass_rest else "used again"
        self.notify(f"REST cache {said}")

    def action_clear_rest_cache(self) -> None:
        engine = self.state.engine
        if self._service is None or engine is None or not engine.has_alyx:
            self.notify("No REST cache: not connected to Alyx.", severity="warning")
            return
        from one_tui.tui.screens.confirm import ConfirmModal

        question = (f"Delete the REST cache ({engine.rest.entries} responses) in "
                    f"{engine.cache_dir}/.rest ?")
        self.push_screen(ConfirmModal(question), self._on_clear_confirmed)

    def _on_clear_confirmed(self, yes: bool | None) -> None:
        if yes and self._service is not None:
            self._clear_rest(self._service)
            self._jobs_started()

    @work(thread=True, exclusive=True, group=Job.REST, exit_on_error=False,
          description="clear REST cache")
    def _clear_rest(self, service: EngineService) -> None:
        bodies.clear_rest(service, self.post_message)

    def on_job_done(self, message: JobDone) -> None:
        self.notify(message.text, severity=message.severity)  # type: ignore[arg-type]
        out = message.outcome
        if out is None or message.job not in (Job.REFRESH, Job.TABLES):
            return
        if out.asked_alyx:
            self.state = state.reachability(self.state, out.kind == OutcomeKind.UNREACHABLE)
        if ((out.kind == OutcomeKind.NEW_TABLES or message.job is Job.TABLES)
                and not self.state.search.running
                and self._service is not None):
            self.main.action_search()  # the rows on screen came from the old tables

    # ---------------------------------------------------------------- datasets preload

    def start_preload(self) -> None:
        """Read the datasets table in the background once per set of tables (a download or a
        refresh replaces them: read again); not in remote mode (queries ask Alyx)."""
        engine = self.state.engine
        service = self._service
        if service is None or engine is None or engine.mode is Mode.REMOTE:
            return
        if engine.tables_id == self._preloaded_tables:
            return
        self._preloaded_tables = engine.tables_id
        self._preload(service)
        self._jobs_started()

    @work(thread=True, exclusive=True, group=Job.PRELOAD, exit_on_error=False,
          description="load datasets")
    def _preload(self, service: EngineService) -> None:
        bodies.preload(service, get_current_worker().cancelled_event, self.post_message)

    def on_datasets_preloaded(self, message: DatasetsPreloaded) -> None:
        self.show_notices(message.notices)

    # ---------------------------------------------------------------- help, errors, palette

    def action_help(self) -> None:
        """The help, kept installed while its text stays the same: Rich lays its Markdown
        (a table of ~70 keys) out in ~150 ms, and a screen pushed again keeps its rendering."""
        from one_tui.tui.screens.help import HelpModal, help_text

        if any(isinstance(screen, HelpModal) for screen in self.screen_stack):
            return  # already open (the palette's "app: help" from inside it)
        shown = (tuple(key_rows(self.keymap)), self.terminal_line())
        if shown != self._help_shown:
            if self._help_shown is not None:
                self.uninstall_screen("help")
            self.install_screen(HelpModal(list(shown[0]), shown[1], help_text()), "help")
            self._help_shown = shown
        self.push_screen("help")

    def terminal_line(self) -> str:
        """What the terminal looks like to Textual: over SSH COLORTERM is usually dropped."""
        system = self.console.color_system or "none"
        return (f"TERM={os.environ.get('TERM', '?')} · COLORTERM="
                f"{os.environ.get('COLORTERM', 'unset')} · colours: {system} · theme: "
                f"{self.theme} · low bandwidth: {'on' if self.low_bandwidth else 'off'}")

    def action_show_error(self) -> None:
        if self.state.last_error is None:
            self.notify("No error so far.")
            return
        from one_tui.tui.screens.error import ErrorModal

        self.push_screen(ErrorModal(*self.state.last_error))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every action of the key table in the palette, named 'category: action'; Textual's
        own Quit is left out (ours, 'app: quit', is the one)."""
        for command in super().get_system_commands(screen):
            if command.title.lower() != "quit":
                yield command
        from one_tui.tui.widgets.details import DetailsPane

        yield from palette_commands(self.main, self.main.query_one(ResultsPane),
                                    self.main.query_one(DetailsPane))
