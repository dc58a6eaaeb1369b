"""The subject view (``S``): a subject's training history as plots, or a table where plots
cannot be read.

The protocol timeline (the tables) is drawn at once; in a mode that may ask Alyx the sessions'
records follow, a few at a time, with progress in the status line, and the plots are redrawn
with performance and trials when they are in. Escape cancels the reads (what arrived is kept
and drawn), a second escape goes back. ``c`` copies the data behind the plot as CSV, then
the ONE lines that fetch it; ``S`` again shows the history as a table (or the plots again).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState, get_current_worker

from one_tui.engine.core.results import Answer
from one_tui.engine.core.spec import one_line
from one_tui.text import plural
from one_tui.tui.clipboard import copied_title
from one_tui.tui.inert import Copies
from one_tui.tui.state import Job
from one_tui.tui.widgets import history_plot as hp

if TYPE_CHECKING:
    from collections.abc import Mapping

    from one_tui.engine import EngineService
    from one_tui.engine.core.history import SubjectHistory
    from one_tui.engine.core.values import SessionDetails

PROGRESS_EVERY = 0.2  # seconds between progress messages


@dataclass
class HistoryProgress(Message):
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HistoryProgress)


@dataclass
class HistoryReady(Message):
    """A history: ``final`` False for the tables' timeline drawn while records are read."""

    answer: Answer[Any]
    final: bool
    seconds: float


def fetch_history(service: Any, nickname: str, ask_alyx: bool, no_cache: bool,
                  cancel: threading.Event, post: Any) -> None:
    """The worker's body: the timeline from the tables first, then (asking Alyx) the records."""
    start = time.perf_counter()
    local = service.subject_history(nickname, ask_alyx=False)
    post(HistoryReady(local, final=not ask_alyx, seconds=time.perf_counter() - start))
    if not ask_alyx or cancel.is_set():
        return
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= PROGRESS_EVERY or done == total:
            last[0] = now
            post(HistoryProgress(done, total))

    full = service.subject_history(nickname, cancel=cancel, on_progress=progress,
                                   no_cache=no_cache)
    post(HistoryReady(full, final=True, seconds=time.perf_counter() - start))


class SubjectScreen(Screen[None]):
    """Title, what is known, the plots (or the table), the protocol line, the footer."""

    DEFAULT_CSS = """
    SubjectScreen #subject-title { text-style: bold; padding: 0 1; }
    SubjectScreen #subject-status, SubjectScreen #subject-protocols { padding: 0 1; }
    SubjectScreen #subject-plots { height: 1fr; }
    SubjectScreen #subject-plots PlotextPlot { height: 1fr; }
    SubjectScreen #subject-table { height: 1fr; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back / cancel"),
        Binding("c", "copy_data", "Copy CSV + ONE"),
        Binding("S", "toggle_table", "Table/plot"),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    def __init__(self, service: EngineService, nickname: str, *, ask_alyx: bool,
                 no_cache: bool = False) -> None:
        super().__init__()
        self.service = service
        self.nickname = nickname
        self.ask_alyx = ask_alyx
        self.no_cache = no_cache
        self.history: SubjectHistory | None = None
        self.final = False
        self.as_table = False  # the user's choice (narrow terminals always get the table)
        #: ``time.perf_counter()`` when each history was drawn (the benchmarks read it)
        self.drawn_at: list[float] = []
        self._worker: Worker[None] | None = None
        self._status = ""

    def compose(self) -> ComposeResult:
        from textual_plotext import PlotextPlot

        yield Static(f"Subject {self.nickname}", id="subject-title")
        yield Static("reading the tables…", id="subject-status")
        with Vertical(id="subject-plots"):
            yield PlotextPlot(id="subject-perf")
            yield PlotextPlot(id="subject-trials")
        with VerticalScroll(id="subject-table"):
            yield Static("", id="subject-table-text")
        yield Static("", id="subject-protocols")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._worker = self._fetch()
        self._layout()

    @work(thread=True, exclusive=True, group=Job.SUBJECT, exit_on_error=False,
          description="subject history")
    def _fetch(self) -> None:
        fetch_history(self.service, self.nickname, self.ask_alyx, self.no_cache,
                      get_current_worker().cancelled_event, self.post_message)

    @property
    def fetching(self) -> bool:
        """The reads run and escape has not stopped them (a stopped worker's last read may
        still be on its way: its answer is drawn when it comes)."""
        w = self._worker
        return w is not None and w.state in (WorkerState.PENDING, WorkerState.RUNNING)

    # ---------------------------------------------------------------- messages

    def on_history_progress(self, message: HistoryProgress) -> None:
        if not self.final:
            self._set_status(f"reading session records on Alyx: {message.done}/{message.total}"
                             " — esc to cancel")

    def on_history_ready(self, message: HistoryReady) -> None:
        answer = message.answer
        if answer.error is not None:
            self._set_status(f"no history: {one_line(answer.error, named=True)}")
            self.final = message.final
            return
        if self.final and not message.final:
            return
        self.history = answer.value
        self.final = message.final
        self._set_status(self._describe(answer, message.final))
        self._draw()
        self.drawn_at.append(time.perf_counter())

    def _describe(self, answer: Answer[Any], final: bool) -> str:
        h = self.history
        if h is None:
            return ""
        parts = [plural(len(h.sessions), "session")]
        if h.lab:
            parts.append(h.lab)
        if h.training_status:
            parts.append(f"status {h.training_status} ({h.training_status_date or '?'})")
        if not final:
            parts.append("reading session records on Alyx — esc to cancel")
        elif h.lacking is not None:
            parts.append(str(h.lacking))
        else:
            parts.append(f"records: {answer.source}")
        return " · ".join(parts)

    def _set_status(self, text: str) -> None:
        self._status = text
        self.query_one("#subject-status", Static).update(text)

    # ---------------------------------------------------------------- drawing

    def on_resize(self, event: events.Resize) -> None:
        self._layout()
        self._draw()

    @property
    def table_mode(self) -> bool:
        size = self.app.size
        return self.as_table or size.width < hp.MIN_PLOT_WIDTH or \
            size.height < hp.MIN_PLOT_HEIGHT

    def _layout(self) -> None:
        table = self.table_mode
        self.query_one("#subject-plots").display = not table
        self.query_one("#subject-table").display = table
        history = self.history
        trials = self.query_one("#subject-trials")
        trials.display = history is not None and history.has_performance

    def _draw(self) -> None:
        from textual_plotext import PlotextPlot

        history = self.history
        if history is None:
            return
        self._layout()
        self.query_one("#subject-protocols", Static).update(
            f"protocol: {hp.protocol_line(history)}" if history.sessions else
            f"No session of {self.nickname} in the tables.")
        self.query_one("#subject-table-text", Static).update(hp.table_text(history))
        width = self.app.size.width
        perf = self.query_one("#subject-perf", PlotextPlot)
        hp.draw_performance(perf.plt, history, width)
        perf.refresh()
        if history.has_performance:
            trials = self.query_one("#subject-trials", PlotextPlot)
            hp.draw_trials(trials.plt, history, width)
            trials.refresh()

    # ---------------------------------------------------------------- actions

    def action_back(self) -> None:
        """Escape: cancel the reads if they run (what arrived is drawn), else go back."""
        if self.fetching and self._worker is not None:
            self._worker.cancel()
            self.notify("Stopped reading the session records; showing what arrived.")
            return
        self.app.pop_screen()

    def action_toggle_table(self) -> None:
        self.as_table = not self.as_table
        self._layout()

    def action_copy_data(self) -> None:
        history = self.history
        if history is None:
            self.notify("Nothing to copy yet.", severity="warning")
            return
        text = f"{history.csv()}\n# ONE-api lines that fetch the same data:\n" \
               f"{history.one_lines()}\n"
        cast(Copies, self.app).copy_to_clipboard(text, lines=True)  # CSV keeps its lines
        title, severity = copied_title("CSV")
        self.notify(f"{plural(len(history.sessions), 'session')} as CSV and the ONE lines",
                    title=title, severity=severity)



def subject_of(details: SessionDetails | None, in_details: bool,
               row: Mapping[str, Any] | None, typed: str) -> str | None:
    """The subject acted on: Details' session when Details is shown, else the cursor row's,
    else the subject filter when it names one subject (``KS001`` or ``^KS001$``)."""
    if in_details and details is not None and details.session.get("subject"):
        return str(details.session["subject"])
    if row and row.get("subject"):
        return str(row["subject"])
    plain = typed.strip().removeprefix("^").removesuffix("$")
    return plain if plain and re.fullmatch(r"[\w.-]+", plain) else None
