"""What a user does with the sessions on screen: copy an eid or a ONE line, show the eid
column, sort, export to CSV or Parquet (a thread worker, and the overwrite question).

Its own module because these act on rows already shown and change with what users take away
from the app, never with how the rows were found. A mixin of :class:`one_tui.tui.app.OneApp`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work

from one_tui.tui import convert
from one_tui.tui.formatting import plural
from one_tui.tui.messages import ExportExists, TaskDone
from one_tui.tui.results import ResultsPane


def toast_lines(text: str) -> str:
    """A copied line as the toast shows it: broken after '(' and ', ' so that a UUID never
    wraps mid-way at 80 columns (the clipboard gets the line unchanged)."""
    if len(text) <= 36:
        return text
    return text.replace("(", "(\n  ", 1).replace(", ", ",\n  ")


class RowActions:
    """Mixin for the App: copy, ONE lines, eid column, sort and export."""

    def _copy(self, text: str, what: str) -> None:
        self.copy_to_clipboard(text)
        self.notify(toast_lines(text), title=f"Copied {what} (OSC 52)", markup=False)

    def action_copy_eid(self) -> None:
        eid = self.details_eid if self.pane == "details" else None
        eid = eid or self.query_one(ResultsPane).eid_at()
        if eid is None:
            self.notify("No session selected.", severity="warning")
            return
        self._copy(eid, "eid")

    def action_copy_load(self) -> None:
        """o: the ONE lines that fit the session (its objects and datasets once its details
        are loaded), to pick one and copy it."""
        results = self.query_one(ResultsPane)
        ready = self.details_ready
        eid = (ready.eid if ready is not None and self.pane == "details" else None)
        eid = eid or results.eid_at()
        if eid is None:
            self.notify("No session selected.", severity="warning")
            return
        from one_tui.tui.load import LoadModal, load_lines

        datasets = ready.datasets if ready is not None and ready.eid == eid else None
        conn = self.connector
        base_url = getattr(getattr(self.one, "alyx", None), "base_url", None) or (
            conn.base_url if conn else None)
        cache_dir = getattr(self.one, "cache_dir", None) or (conn.cache_dir if conn else None)
        note = "" if datasets is not None else "enter on the session first for its datasets"
        self.push_screen(LoadModal(load_lines(eid, datasets, base_url, cache_dir), note, eid),
                         self._on_load_line)

    def _on_load_line(self, line: str | None) -> None:
        if line:
            self._copy(line, "ONE line")

    def action_toggle_eid(self) -> None:
        results = self.query_one(ResultsPane)
        shown = results.toggle_eid()
        self.notify(f"eid column {'shown' if shown else 'hidden'}")

    def on_data_table_header_selected(self, event: Any) -> None:
        """A click on a header sorts by that column."""
        columns = self.query_one(ResultsPane).columns
        if 0 <= event.column_index < len(columns):
            self.query_one(ResultsPane).sort(columns[event.column_index])

    def action_sort(self) -> None:
        results = self.query_one(ResultsPane)
        if results.full is None:
            self.notify("Nothing to sort yet.", severity="warning")
            return
        from one_tui.tui.sort import SortModal

        self.push_screen(SortModal(results.sort_by), self._on_sort)

    def _on_sort(self, column: str | None) -> None:
        if column:
            self.query_one(ResultsPane).sort(column)

    def action_export(self) -> None:
        results = self.query_one(ResultsPane)
        if results.full is None:
            self.notify("Nothing to export yet: run a search first.", severity="warning")
            return
        from one_tui.tui.export import ExportModal

        self.push_screen(ExportModal("sessions.csv", results.row_count), self._on_export)

    def _on_export(self, choice: tuple[str, str] | None) -> None:
        if choice:
            self._export(self.query_one(ResultsPane).full, *choice)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False,
          description="export results")
    def _export(self, table: Any, path: str, fmt: str, overwrite: bool = False) -> None:
        target = Path(path).expanduser().absolute()
        try:
            rows = convert.write_table(table, target, fmt, overwrite=overwrite)
        except FileExistsError:
            self.post_message(ExportExists(str(target), fmt))
            return
        except convert.ExportError as exc:
            self.post_message(TaskDone(f"Not exported: {exc}", "export", "error"))
            return
        self.post_message(TaskDone(f"Wrote {plural(rows, 'session')} to {target}", "export"))

    def on_export_exists(self, message: ExportExists) -> None:
        from one_tui.tui.confirm import ConfirmModal

        table = self.query_one(ResultsPane).full

        def answered(yes: bool | None) -> None:
            if yes:
                self._export(table, message.path, message.fmt, overwrite=True)
            else:
                self.notify(f"Not exported: {message.path} is kept as it was.")

        self.push_screen(ConfirmModal(f"{message.path} exists. Write over it?"), answered)
