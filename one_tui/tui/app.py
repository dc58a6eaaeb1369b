"""The one-tui application: the state the screen is drawn from, the key bindings, and the
mixins that act on them.

`OneApp` holds the state (``status``, ``cache_info``, the pane shown, the running search) and
the bindings: ids that users remap in their keymap, every action in the command palette as
'category: action'. What the keys and workers do lives in one mixin per seam, each in its own
module: ``panes`` (layout and focus), ``plumbing`` (the state drawn and what workers post into
it), ``jobs`` (connect, login, mode, refresh, REST cache), ``search`` (search and details),
``row_actions`` (copy, sort, export) and ``preload`` (the datasets table in the background).

Every engine call runs in a ``@work(thread=True, exclusive=True, ...)`` worker; results come back
as Messages (one_tui.tui.messages). One ``Worker.StateChanged`` handler, here, turns failures into
a one-line toast (full text on ``x``) and clears the loading state, so the UI is never stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.lazy import Lazy
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from one_tui.engine.core.errors import AuthenticationError, LoginRequired
from one_tui.tui.cache_pane import CachePane
from one_tui.tui.config import TuiConfig
from one_tui.tui.connect import Connector
from one_tui.tui.details import DetailsPane
from one_tui.tui.filters import FiltersPane
from one_tui.tui.formatting import one_line
from one_tui.tui.jobs import Jobs
from one_tui.tui.messages import (
    DetailsReady,
)
from one_tui.tui.panes import PANE_TITLES, PaneLayout
from one_tui.tui.plumbing import WorkerPlumbing
from one_tui.tui.preload import DatasetPreload
from one_tui.tui.results import ResultsPane
from one_tui.tui.row_actions import RowActions
from one_tui.tui.search import SearchAndDetails
from one_tui.tui.status import StatusLine, StatusState

HANGUP_GRACE = 1.5  # seconds a hung-up app may take to exit cleanly before it is ended
TICK = 1.0  # seconds between clock ticks (ages, expiry); nothing repaints unless a text changes
TICK_LOW_BANDWIDTH = 5.0  # --low-bandwidth: ages to the minute, so rarely a change at all

# (binding id, keys, action, description, shown in footer, palette title)
KEYS: tuple[tuple[str, str, str, str, bool, str], ...] = (
    ("quit", "q", "quit", "Quit", True, "app: quit"),
    ("help", "f1,question_mark", "help", "Help", True, "app: help and keys"),
    ("focus_filters", "slash", "focus_filters", "Filters", True, "search: focus the filters"),
    ("search", "f9", "search", "Search", True, "search: run"),
    ("search_remote", "f7,ctrl+r", "search_remote", "On Alyx", True,
     "search: run once on Alyx (query_type='remote')"),
    ("cancel", "escape", "cancel", "Cancel", False, "search: cancel"),
    ("clear_filters", "ctrl+l", "clear_filters", "Clear filters", False, "search: clear filters"),
    ("cycle_mode", "m", "cycle_mode", "Mode", True, "mode: cycle"),
    ("mode_local", "f2", "set_mode('local')", "local", False, "mode: local"),
    ("mode_remote", "f3", "set_mode('remote')", "remote", False, "mode: remote"),
    ("mode_auto", "f4", "set_mode('auto')", "auto", False, "mode: auto"),
    ("mode_refresh", "f5", "set_mode('refresh')", "refresh", False, "mode: refresh"),
    ("refresh", "r", "refresh", "Refresh", True, "cache: refresh tables as auto would"),
    ("force_refresh", "R,f6", "force_refresh", "Force refresh", False,
     "cache: force a refresh from Alyx"),
    ("toggle_bypass", "b,f8", "toggle_bypass", "Bypass REST", True,
     "cache: toggle REST cache bypass"),
    ("clear_rest_cache", "C", "clear_rest_cache", "Clear REST cache", False,
     "cache: clear the REST cache"),
    ("details", "d", "details", "Details", False, "session: open details"),
    ("copy_eid", "y", "copy_eid", "Copy eid", True, "session: copy eid"),
    ("copy_load", "o,Y", "copy_load", "Copy ONE line", False,
     "session: copy a ONE line (load_dataset, load_object, ONE(...))"),
    ("toggle_eid", "i", "toggle_eid", "eid column", False, "results: show/hide the eid column"),
    ("sort", "s", "sort", "Sort", False, "results: sort by a column"),
    ("export", "e", "export", "Export", True, "results: export to CSV or Parquet"),
    ("show_error", "x", "show_error", "Last error", False, "app: show the last error in full"),
    ("pane_filters", "1", "show_pane('filters')", "Filters pane", False, "pane: filters"),
    ("pane_results", "2", "show_pane('results')", "Sessions pane", False, "pane: sessions"),
    ("pane_details", "3", "show_pane('details')", "Details pane", False, "pane: details"),
    ("pane_cache", "4", "show_pane('cache')", "Cache pane", False, "pane: cache"),
)


# Keys handled outside KEYS (priority bindings, widgets' own), listed in the help as well.
EXTRA_KEYS: tuple[tuple[str, str, str], ...] = (
    ("ctrl+q", "quit (also inside a field)", "quit_now"),
    ("enter", "search (in a filter) · open the session's details (in the table)", "-"),
    ("tab,shift+tab", "next / previous filter (cycles within the filters)", "focus_next"),
    ("ctrl+n", "next pane, also from inside a field", "next_pane"),
    ("escape", "cancel a search, a download or a refresh · back to the sessions", "cancel"),
)


def display_keys(keys: str) -> str:
    """'f1,question_mark' -> 'f1, ?': the characters a user types, as the README names them."""
    from textual.keys import format_key

    shown = []
    for key in keys.split(","):
        key = key.strip()
        char = format_key(key) if len(key) > 1 and "+" not in key else key
        shown.append(char if len(char) == 1 and char.isascii() and char.isprintable()
                     and not char.isspace() else key)
    return ", ".join(shown)


# Pane keys handled when the app reads them (priority), so a burst like "/abc" typed in the
# table puts "abc" in the filter instead of running b (bypass) and c; inside a field they are
# disabled (check_action) and typed into it.
PRIORITY_OUTSIDE_FIELDS = frozenset({"focus_filters", "pane_filters", "pane_results",
                                     "pane_details", "pane_cache"})


def _bindings() -> list[Binding]:
    out = []
    for bid, keys, action, desc, show, _ in KEYS:
        out.append(Binding(keys, action, desc, show=show, id=bid,
                           priority=bid in PRIORITY_OUTSIDE_FIELDS))
    # ctrl+q quits even while an Input has focus
    out.append(Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="quit_now"))
    # Priority: handled when the key reaches the app, before the next key is forwarded. As plain
    # bindings, a burst "150<tab>5" over SSH had its 5 forwarded to the old field (1505) before
    # the tab, bubbling up from that field, moved the focus.
    out.append(Binding("tab", "focus_step(1)", "Next field", show=False, priority=True,
                       id="focus_next"))
    out.append(Binding("shift+tab", "focus_step(-1)", "Previous field", show=False,
                       priority=True, id="focus_previous"))
    # Pane keys that also work inside a filter field (1-4 and / are typed into it there).
    out.append(Binding("ctrl+n", "next_pane", "Next pane", show=False, priority=True,
                       id="next_pane"))
    return out


class OneApp(Jobs, SearchAndDetails, RowActions, PaneLayout, WorkerPlumbing, DatasetPreload, App):
    """The full-screen browser of sessions, details and caches."""

    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "one-tui"
    AUTO_FOCUS = None  # the sessions table takes focus when the first results arrive
    BINDINGS = _bindings()

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
        self.requested_theme = theme or self.config.theme
        self.low_bandwidth = bool(low_bandwidth or self.config.low_bandwidth)
        self.blink_cursor = not self.low_bandwidth
        if self.low_bandwidth:
            self.animation_level = "none"
        self.clock = clock
        self.timer = timer
        self.demo_factory = demo_factory
        self.initial_search = initial_search
        self.one: Any = None
        self.bypass_rest = False
        self.searching = False
        self.search_seq = 0
        self._search_worker: Worker | None = None
        self.last_error: tuple[str, str] | None = None
        self.pane = "results"
        self.side = "details"
        # the one state the screen shows; --low-bandwidth: the tables' time, not a ticking age
        self.status = StatusState(absolute=self.low_bandwidth)
        self._job_phase: dict[str, str] = {}  # worker group -> its current phase text
        self.cache_info: dict[str, Any] = {}
        self.details_eid: str | None = None
        self.details_ready: DetailsReady | None = None  # what the details pane shows
        self.suggestions: dict[str, list[str]] = {}
        self.remote_page_size: int | None = None  # Alyx's own page size (250) when None

    # ---------------------------------------------------------------- compose, mount, exit

    def compose(self) -> ComposeResult:
        yield Static("", id="topbar")
        with Horizontal(id="panes"):
            # mounted right after the first frame (its ~50 widgets are the bulk of the layout)
            yield Lazy(FiltersPane(id="filters", classes="pane"))
            with Vertical(id="right"):
                yield ResultsPane(id="results", classes="pane")
                yield DetailsPane(id="details", classes="pane")
                yield CachePane(id="cache", classes="pane")
        yield StatusLine("", id="status")
        yield Footer(compact=True)  # at 80 columns the spaced footer cut "Refresh"

    def on_mount(self) -> None:
        self._install_signal_handlers()
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        if self.config.error:
            self.notify(self.config.error, severity="warning")
        self._apply_theme()
        for pane in self.query(".pane"):
            pane.border_title = PANE_TITLES.get(pane.id or "", "")
        self._layout()
        self._render_status()
        # the clock: ages advance and ``expired`` flips while the app is open
        self.set_interval(TICK_LOW_BANDWIDTH if self.low_bandwidth else TICK, self._tick)
        if self.connector is None:
            from one_tui.tui.setup_screen import SetupScreen

            self.push_screen(SetupScreen())
        elif self.connector.ask_create is not None:
            self._ask_create(self.connector.ask_create)
        else:
            # after the first frame: the worker's imports (pandas, pyarrow) would compete with
            # it for the GIL
            self.call_after_refresh(self._start_connect)

    def _apply_theme(self) -> None:
        if not self.requested_theme:
            return
        if self.requested_theme in self.available_themes:
            self.theme = self.requested_theme
        else:
            names = ", ".join(sorted(self.available_themes))
            self.notify(f"Unknown theme {self.requested_theme!r}; available: {names}",
                        severity="warning")

    def _install_signal_handlers(self) -> None:
        """SIGHUP (SSH dropped) and SIGTERM end the app through its normal exit path."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._exit_soon)

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
        if self.is_headless or not self._busy_text():
            return  # nothing can hold the exit up (and tests must never be os._exit-ed)
        timer = threading.Timer(HANGUP_GRACE, os._exit, args=(0,))
        timer.daemon = True
        timer.start()

    def on_unmount(self) -> None:
        with contextlib.suppress(Exception):
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGHUP, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    # ---------------------------------------------------------------- worker failures

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures become toasts and loading states are cleared."""
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            self._record_error(worker.group, worker.error)
            if self.one is not None and worker.group != "state":
                self._refresh_state()  # a failure may have changed the mode (fallback)
            if isinstance(worker.error, LoginRequired | AuthenticationError):
                self._ask_login_once(one_line(worker.error))
        if event.state in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            self._job_phase.pop(worker.group, None)
        if event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            if worker is self._search_worker:
                self._search_finished("cancelled" if event.state == WorkerState.CANCELLED
                                      else "failed")
            if worker.group == "details":
                self.query_one(DetailsPane).show_error("Details could not be loaded (x: why).")
            if worker.group == "connect" and self.one is None and (
                    event.state == WorkerState.ERROR):
                self.status.online = False
                self.query_one(ResultsPane).set_status(
                    "Could not open ONE here (x: why). Check --base-url / --cache-dir.")
        self._render_status()


    # ---------------------------------------------------------------- help, errors, palette

    def action_help(self) -> None:
        from one_tui.tui.help import HelpModal, help_text

        self.push_screen(HelpModal(self.key_rows(), self.terminal_line(), help_text()))

    def terminal_line(self) -> str:
        """What the terminal looks like to Textual: over SSH COLORTERM is usually dropped."""
        import os

        system = getattr(self.console, "color_system", None) or "none"
        return (f"TERM={os.environ.get('TERM', '?')} · COLORTERM="
                f"{os.environ.get('COLORTERM', 'unset')} · colours: {system} · theme: "
                f"{self.theme} · low bandwidth: {'on' if self.low_bandwidth else 'off'}")

    def key_rows(self) -> list[tuple[str, str, str]]:
        """(keys, description, id) for each binding, after the user's keymap."""
        keymap = self._keymap or {}
        rows = [(display_keys(keymap.get(bid, keys)), title.split(": ", 1)[-1], bid)
                for bid, keys, _a, _d, _s, title in KEYS]
        rows += [(display_keys(keymap.get(bid, keys)), desc, bid)
                 for keys, desc, bid in EXTRA_KEYS]
        return rows

    def action_show_error(self) -> None:
        if self.last_error is None:
            self.notify("No error so far.")
            return
        from one_tui.tui.error import ErrorModal

        self.push_screen(ErrorModal(*self.last_error))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the key table in the palette, named 'category: action'; Textual's
        own Quit is left out (ours, 'app: quit', is the one)."""
        for command in super().get_system_commands(screen):
            if command.title.lower() != "quit":
                yield command
        for _bid, keys, action, desc, _show, title in KEYS:
            yield SystemCommand(title, f"{desc} ({display_keys(keys)})",
                                partial(self.run_action, action))
