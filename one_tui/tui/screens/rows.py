"""The main screen's actions on the sessions shown: copy (y, o, L, E), the subject view (S),
counts (c) and sort (s).

:class:`RowActions` is composed into the main screen, whose ``action_*`` methods (the key
table's targets) hand over to it, as :class:`~one_tui.tui.screens.data.DataFlow` does for
D, K and V; it reads the panes through the screen and the state through the app, and opens
the modals on the app. Workers and message handlers stay on the screen (Textual delivers
them there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.screen import Screen

from one_tui.engine.core.spec import one_line
from one_tui.engine.core.types import Mode
from one_tui.text import plural
from one_tui.tui import session_tools as tools
from one_tui.tui.clipboard import copied_title
from one_tui.tui.screens.data import FlowHost
from one_tui.tui.state import Pane
from one_tui.tui.widgets.details import DetailsPane
from one_tui.tui.widgets.filters import FiltersPane
from one_tui.tui.widgets.results import ResultsPane


class RowActions:
    """What the keys do with the session under the cursor and the results shown."""

    def __init__(self, screen: Screen[Any], host: FlowHost,
                 filters: Callable[[], FiltersPane | None],
                 last_search: Callable[[], tuple[dict[str, Any], bool] | None],
                 search: Callable[[], None]) -> None:
        self.screen = screen
        self.host = host
        self.filters = filters  # the filters pane (None at 80x24 before it was shown)
        self.last_search = last_search  # (terms, went to Alyx) of the results shown
        self.search = search  # run the search with the filters as they are

    def copy(self, text: str, what: str) -> None:
        self.screen.app.copy_to_clipboard(text)
        title, severity = copied_title(what)  # "sent", or why it will not arrive (tmux)
        self.screen.notify(toast_lines(text), title=title, severity=severity, markup=False)

    def eid(self) -> str | None:
        """The session acted on: the one in Details when Details is the pane, else the row."""
        details = self.screen.query_one(DetailsPane)
        eid = details.eid if self.host.state.pane is Pane.DETAILS else None
        return eid or self.screen.query_one(ResultsPane).eid_at()

    def copy_eid(self) -> None:
        eid = self.eid()
        if eid is None:
            self.screen.notify("No session selected.", severity="warning")
            return
        self.copy(eid, "eid")

    def copy_load(self) -> None:
        """o: the ONE lines that fit the session (its objects and datasets once its details
        are loaded), to pick one and copy it."""
        eid = self.eid()
        if eid is None:
            self.screen.notify("No session selected.", severity="warning")
            return
        from one_tui.tui.screens.load import LoadModal, load_lines

        shown = self.screen.query_one(DetailsPane).details
        datasets = shown.datasets if shown is not None and shown.eid == eid else None
        engine = self.host.state.engine
        base_url = engine.base_url if engine is not None else None
        cache_dir = engine.cache_dir if engine is not None else None
        note = "" if datasets is not None else "enter on the session first for its datasets"
        tag = engine.tag if engine is not None else None
        self.screen.app.push_screen(LoadModal(load_lines(eid, datasets, base_url, cache_dir, tag),
                                       note, eid), self._on_load_line)

    def _on_load_line(self, line: str | None) -> None:
        if line:
            self.copy(line, "ONE line")

    def subject_view(self) -> None:
        """S: the training history of the session's subject (or the subject searched)."""
        from one_tui.tui.screens.subject import SubjectScreen, subject_of

        host, filters = self.host, self.filters()
        service, s = host.service, host.state
        if service is None or s.engine is None:
            self.screen.notify("Not connected yet.", severity="warning")
            return
        nickname = subject_of(self.screen.query_one(DetailsPane).details, s.pane is Pane.DETAILS,
                              self.screen.query_one(ResultsPane).row_dict(),
                              filters.value("subject") if filters is not None else "")
        if nickname is None:
            self.screen.notify("No subject: select a session, or search one subject.",
                        severity="warning")
            return
        self.screen.app.push_screen(SubjectScreen(service, nickname, ask_alyx=s.engine.online,
                                           no_cache=s.bypass_rest))

    def counts(self) -> None:
        """c: counts of the results; enter on one narrows the search by it."""
        from one_tui.tui.screens.counts import CountsScreen

        table, service = self.screen.query_one(ResultsPane).full, self.host.service
        if table is None or service is None:
            self.screen.notify("Nothing to count yet: run a search first.", severity="warning")
            return
        last = self.last_search()
        terms = last[0] if last is not None else {}
        answer = service.count_sessions(table, terms)
        if answer.value is None:
            self.screen.notify(f"No counts: {one_line(answer.error)}", severity="error")
            return
        self.screen.app.push_screen(CountsScreen(answer.value), self._narrow)

    def _narrow(self, chosen: tuple[str, str] | None) -> None:
        """A count chosen: its filter gets the value, the search runs."""
        from one_tui.tui.screens.counts import filter_value

        filters, engine = self.filters(), self.host.state.engine
        if chosen is None or filters is None:
            return
        field, value = chosen
        remote = engine is not None and engine.mode is Mode.REMOTE
        filters.set_value(field, filter_value(field, value, remote))
        self.search()

    def copy_search(self) -> None:
        """L: the last search as a ONE call."""
        last = self.last_search()
        if last is None:
            self.screen.notify("No search yet.", severity="warning")
            return
        terms, remote = last
        note = tools.version_note(terms)
        self.copy(tools.one_search_line(terms, remote), f"search{f' ({note})' if note else ''}")

    def copy_eids(self) -> None:
        """E: the eids of the marked sessions, else of all shown, as a Python list (the toast
        says how many, not all of them)."""
        table = self.screen.query_one(ResultsPane).chosen()
        line = tools.eids_line(table)
        if line is None or table is None:
            self.screen.notify("No sessions to copy.", severity="warning")
            return
        self.screen.app.copy_to_clipboard(line)
        n = table.num_rows
        title, severity = copied_title("eids")
        self.screen.notify(f"{plural(n, 'eid')} as a Python list ({len(line):,} characters)",
                    title=title, severity=severity)

    def sort(self) -> None:
        results = self.screen.query_one(ResultsPane)
        if results.full is None:
            self.screen.notify("Nothing to sort yet.", severity="warning")
            return
        from one_tui.tui.screens.sort import SortModal

        self.screen.app.push_screen(SortModal(results.sort_by), self._on_sort)

    def _on_sort(self, column: str | None) -> None:
        if column:
            self.screen.query_one(ResultsPane).sort(column)


def toast_lines(text: str) -> str:
    """A copied line as the toast shows it: broken after '(' and ', ' so that a UUID never
    wraps mid-way at 80 columns (the clipboard gets the line unchanged)."""
    if len(text) <= 36:
        return text
    return text.replace("(", "(\n  ", 1).replace(", ", ",\n  ")
