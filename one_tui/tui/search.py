"""Searching sessions and loading one session's details: the actions, their thread workers and
the messages they post back (progress, done, failed, suggestions, details).

Its own module because a search's life (the filters, ``auto``'s refresh when the tables
expired, rows growing page by page, cancel, a failure shown as one) changes with the queries,
not with the jobs or the layout. A mixin of :class:`one_tui.tui.app.OneApp`.
"""

from __future__ import annotations

import time
from typing import Any

from textual import work
from textual.widgets import Input
from textual.worker import WorkerState, get_current_worker

from one_tui.engine.core import results as engine_outcome
from one_tui.engine.core.errors import AlyxConnectionError, AuthenticationError, LoginRequired
from one_tui.tui import convert
from one_tui.tui.details import DetailsPane
from one_tui.tui.filters import FilterError
from one_tui.tui.formatting import one_line, plural
from one_tui.tui.jobs import JOB_GROUPS
from one_tui.tui.messages import (
    DetailsReady,
    SearchDone,
    SearchFailed,
    SearchProgress,
    SuggestionsReady,
    TaskDone,
)
from one_tui.tui.plumbing import PROGRESS_EVERY
from one_tui.tui.results import ResultsPane


class SearchAndDetails:
    """Mixin for the App: searching sessions and opening one session's details."""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id and event.input.id.startswith("f-"):
            self.action_search()

    def action_search(self, query_type: str | None = None) -> None:
        """Validate the filters, then search (remote-only filters send it to Alyx)."""
        if self.one is None:
            self.notify("Not connected yet.", severity="warning")
            return
        filters = self._filters_pane()
        try:  # before the filters are mounted nothing can have been typed: all sessions
            terms, remote_only = filters.collect() if filters is not None else ({}, False)
        except FilterError as exc:
            self.notify(str(exc), severity="error")
            return
        if remote_only and query_type is None and self.one.mode != "remote":
            query_type = "remote"
        if query_type == "remote" and getattr(self.one, "alyx", None) is None:
            self.notify("No Alyx database: remote searches are not possible here.",
                        severity="error")
            return
        self.search_seq += 1
        self.searching = True
        remote = query_type == "remote" or self.one.mode == "remote"
        self.query_one(ResultsPane).show_running("on Alyx" if remote else "the local tables")
        if self.narrow and self.pane == "filters":
            self.action_show_pane("results")  # one pane at a time: show where the rows come
        self._search_worker = self._search(self.search_seq, terms, query_type)
        self._render_status()

    def action_search_remote(self) -> None:
        self.action_search("remote")

    @work(thread=True, exclusive=True, group="search", exit_on_error=False,
          description="search sessions")
    def _search(self, search_id: int, terms: dict[str, Any], query_type: str | None) -> None:
        worker = get_current_worker()
        one = self.one
        remote = query_type == "remote" or one.mode == "remote"
        last = [0.0]
        rows_so_far: list[Any] = [None]
        rows_shown = [0]

        def on_rows(df: Any) -> None:
            rows_so_far[0] = df  # converted only when a progress message carries it

        def partial_table() -> Any:
            """The rows so far, only once they have doubled since last shown: mounting a new
            table costs the UI thread time in proportion to its rows, so a 20,000-session search
            is redrawn about log2(80 pages) times, not once per page."""
            partial = rows_so_far[0]
            if partial is None or len(partial) < 2 * rows_shown[0]:
                return None
            rows_shown[0] = len(partial)
            return convert.sessions_table(partial)

        def on_page(done: int, total: int) -> None:
            now = time.monotonic()
            if done < total and now - last[0] >= PROGRESS_EVERY:
                last[0] = now
                self.post_message(SearchProgress(search_id, done, total, partial_table()))

        if remote and self.remote_page_size:
            terms = {**terms, "limit": self.remote_page_size}
        started = self.timer()
        if not remote and getattr(one, "mode", None) == "auto" and self.status.refresh_due(
                self.clock()) and callable(getattr(one, "refresh", None)):
            # ONE's auto: the first query after the tables expired asks Alyx for newer ones
            out = one.refresh("auto", cancel=worker.cancelled_event,
                              on_progress=self._progress("search"))
            self.status.tables_checked_at = self.clock()
            severity = "warning" if out.failed or out.kind == "cancelled" else "information"
            self.post_message(TaskDone(f"Tables expired: {out.message}", "auto-refresh",
                                       severity))
            self._show_notices(out.notices, skip=out.message)
        answer = one.ask("search_sessions", no_cache=self.bypass_rest, query_type=query_type,
                         cancel=worker.cancelled_event, on_page=on_page if remote else None,
                         on_rows=on_rows if remote else None, **terms)
        self._show_notices(answer.notices)
        if not answer.ok:  # shown as a failure: the pane and status line say so
            exc = answer.error
            self._record_error("search", exc)
            self.post_message(SearchFailed(search_id, one_line(exc),
                                           isinstance(exc, AlyxConnectionError),
                                           isinstance(exc, LoginRequired | AuthenticationError)))
            self._post_state(one)
            return
        df = answer.value
        table = convert.sessions_table(df)
        seconds = self.timer() - started
        self.post_message(SearchDone(search_id, table, answer.source, seconds,
                                     answer.cancelled, remote))
        if not terms and not remote:
            self.post_message(SuggestionsReady(convert.suggestions(df)))
        self._post_state(one)

    def on_search_progress(self, message: SearchProgress) -> None:
        if message.search_id == self.search_seq and self.searching:
            results = self.query_one(ResultsPane)
            if message.table is not None:
                results.show_table(message.table, "")
            results.show_progress(message.done, message.total)

    def on_search_done(self, message: SearchDone) -> None:
        if message.search_id != self.search_seq or not self.query(ResultsPane):
            return  # a superseded search (or the app is closing): its rows are not shown
        self.searching = False
        self._search_worker = None
        n = message.table.num_rows
        summary = f"{plural(n, 'session')} · {message.source} · {message.seconds:.2f} s"
        if n == 0 and not message.cancelled:
            summary = (f"Nothing matched these filters ({message.source}) · ctrl+l clears "
                       "them")
        if message.cancelled:
            summary = f"cancelled: {summary} (partial)"
        self.query_one(ResultsPane).show_table(message.table, summary)
        self.status.last_source = message.source
        self.status.answered_at = self.clock()
        if message.source == "Alyx":
            self.status.unreachable = False  # Alyx answered: the connection is back
        # once the results are on screen (started here it held their drawing up by the GIL,
        # ~75 ms at IBL scale): then the next dataset search is quick
        self.call_after_refresh(self.start_dataset_preload)
        self._render_status()

    def on_search_failed(self, message: SearchFailed) -> None:
        """The pane says the search failed and why; the rows left are marked as the previous
        answer with its time; a lost connection shows in the status line at once."""
        if message.search_id != self.search_seq or not self.query(ResultsPane):
            return
        self.searching = False
        self._search_worker = None
        self.query_one(ResultsPane).show_failed(message.reason, self.status.answered_at)
        self.status.last_source = "search failed"
        if message.connection:
            self.status.unreachable = True
        self._render_status()
        if message.login:
            self._ask_login_once(message.reason)

    def _search_finished(self, how: str) -> None:
        self.searching = False
        self._search_worker = None
        results = self.query_one(ResultsPane)
        if how == "cancelled":
            results.set_status("Search cancelled; the page in flight ends, then its rows show.")
        elif how == "failed":
            results.set_status("Search failed (x: details).")

    def on_suggestions_ready(self, message: SuggestionsReady) -> None:
        self.suggestions = message.values
        filters = self._filters_pane()
        if filters is not None:
            filters.set_suggestions(message.values)

    def action_cancel(self) -> None:
        """escape: cancel a running search, then a running job (connect, login, refresh: the
        download stops, the tables on disk stay); otherwise leave the filters for the
        results."""
        if self.searching:
            self.workers.cancel_group(self, "search")
            self.notify("Search cancelled", severity="warning")
            return
        jobs = [w for w in self.workers if w.group in JOB_GROUPS and w.state in (
            WorkerState.PENDING, WorkerState.RUNNING)]
        if jobs:
            for worker in jobs:
                worker.cancel()
            self.notify("Cancelling: the tables on disk are kept", severity="warning")
            return
        if isinstance(self.focused, Input) or (
                self.focused is not None and self.focused.id in ("details", "cache")):
            self.action_show_pane("results")  # at 80x24: back from details / cache too

    def action_clear_filters(self) -> None:
        filters = self._filters_pane()
        if filters is not None:
            filters.clear()

    def on_data_table_row_selected(self, event: Any) -> None:
        """enter on a session row opens its details."""
        self.action_details()

    def action_details(self) -> None:
        eid = self.query_one(ResultsPane).eid_at()
        if eid is None or self.one is None:
            self.notify("No session selected.", severity="warning")
            return
        self.details_eid = eid
        self.side = "details"
        if self.narrow:
            self.pane = "details"
            # the keys that follow (pgdn, arrows, end) scroll the details, not the hidden table
            self.screen.set_focus(self.query_one(DetailsPane))
        self._layout()
        self.query_one(DetailsPane).show_loading(eid)
        self._details(eid, self.query_one(ResultsPane).row_dict() or {})

    @work(thread=True, exclusive=True, group="details", exit_on_error=False,
          description="session details")
    def _details(self, eid: str, row: dict[str, Any]) -> None:
        one = self.one
        with engine_outcome.recording() as rec, self._rest_context(one):
            ready = convert.details(one, eid, row)
        self.post_message(ready)
        self._show_notices(rec.notices)
        self._post_state(one)

    def on_details_ready(self, message: DetailsReady) -> None:
        if message.remote_error and "AlyxConnectionError" in message.remote_error:
            self.status.unreachable = True  # the status line says so at once
            self._render_status()
        if message.eid == self.details_eid:
            self.details_ready = message
            self.query_one(DetailsPane).show(message)
