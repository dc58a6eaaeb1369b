"""The results pane: sessions in a textual-fastdatatable (Arrow backend), sortable, eid on demand.

The Arrow table arrives from the search worker; the widget module (which imports pyarrow) is only
imported when the first results are shown, so the first frame does not wait for it.
"""

from __future__ import annotations

import re
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

COLUMNS = ("date", "subject", "number", "lab", "task_protocol", "projects")
LABELS = {"task_protocol": "protocol", "number": "#"}
FIXED = 2  # date and subject stay in place when the table scrolls right
CELL_PADDING = 2  # fastdatatable's space either side of a cell
# (widest a column grows to, narrowest it shrinks to when the terminal is too narrow)
LIMITS = {"date": (10, 10), "subject": (20, 8), "number": (4, 3), "lab": (20, 9),
          "task_protocol": (32, 22), "projects": (40, 10), "eid": (36, 36)}
SHRINK_ORDER = ("projects", "task_protocol", "lab", "subject")
# Every IBL protocol starts with this; the part after it is what tells them apart.
PROTOCOL_PREFIX = re.compile(r"(^|/)_?iblrig_tasks_")


def short_protocol(value: str | None) -> str | None:
    """'_iblrig_tasks_ephysChoiceWorld6.4.2' -> 'ephysChoiceWorld6.4.2' (each part of a
    '/'-joined list); other protocols as they are. The full text is in Details and exports."""
    return PROTOCOL_PREFIX.sub(r"\1", value) if value else value


def fit_widths(content: dict[str, int], available: int) -> dict[str, int]:
    """Column widths from their content (and label), shrunk in SHRINK_ORDER to fit
    ``available`` cells; what still does not fit scrolls, the FIXED first columns in place."""
    widths = {}
    for name, need in content.items():
        most, _ = LIMITS.get(name, (30, 8))
        widths[name] = min(max(need, len(LABELS.get(name, name))), most)
    over = sum(w + CELL_PADDING for w in widths.values()) - available
    for name in SHRINK_ORDER:
        if over <= 0:
            break
        if name in widths:
            least = max(LIMITS[name][1], len(LABELS.get(name, name)))
            cut = min(over, max(widths[name] - least, 0))
            widths[name] -= cut
            over -= cut
    return widths


EMPTY_HINT = "No search yet. Set filters and press enter (F9 from anywhere); / focuses the filters."


class ResultsPane(Vertical):
    """Header line (progress or summary) and the sessions table."""

    BORDER_TITLE = "Sessions"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.full: Any = None  # the whole result (pyarrow.Table), in the current sort order
        self.show_eid = False
        self.sort_by: tuple[str, str] | None = None
        self.summary = ""
        self._table: Any = None
        self._first_eid: str | None = None  # of the rows shown: same first row = growing

    def compose(self) -> ComposeResult:
        yield Static(EMPTY_HINT, id="results-status")

    @property
    def row_count(self) -> int:
        return 0 if self.full is None else self.full.num_rows

    def set_status(self, text: str) -> None:
        self.query_one("#results-status", Static).update(text)

    def show_progress(self, done: int, total: int) -> None:
        of = f" of {total:,}" if total else ""
        self.set_status(f"{done:,}{of} sessions — esc to cancel")
        self.border_title = f"Sessions · {done:,}{of}"  # in step with the count below it

    def show_running(self, where: str) -> None:
        self.set_status(f"Searching {where}… — esc to cancel")

    def show_failed(self, reason: str, answered_at: Any = None) -> None:
        """A failed search: say so and why; rows still shown are marked as the previous
        answer, with its time (the next answer replaces this line and the title)."""
        if self.full is not None and self.full.num_rows and answered_at is not None:
            when = answered_at.strftime("%H:%M:%S")
            self.border_title = f"Sessions · previous answer ({when}) · search failed"
            self.set_status(f"Search failed: {reason} — the rows below are the previous "
                            f"answer, from {when} (x: details)")
        else:
            self.border_title = "Sessions · search failed"
            self.set_status(f"Search failed: {reason} (x: details)")

    def show_table(self, table: Any, summary: str) -> None:
        """Show a new result: the Arrow data under the table widget is replaced (a new widget
        only for the first result or other columns)."""
        self.full = table
        self.summary = summary
        if summary:  # a partial table while streaming keeps the progress title
            self.border_title = f"Sessions · {table.num_rows:,}"
        if self.sort_by:
            self.full = table.sort_by([self.sort_by])
        self._mount_table()

    def _replace_data(self, view: Any, widths: dict[str, int], columns: list[str]) -> bool:
        """Show ``view`` in the table already mounted (same columns): results that grow page by
        page, or a new answer, change the Arrow data under one widget, as toolong grows its
        virtual size, so focus and the cursor stay where they are. False when not possible."""
        table = self._table
        if (table is None or not table.is_attached or getattr(table, "_shown_columns", None)
                != columns or not hasattr(table.backend, "data")):
            return False
        old = table.backend.data
        grows = (old.num_rows and view.num_rows >= old.num_rows and "eid" in self.full.column_names
                 and self._first_eid == self._eid0())
        table.backend.data = view
        table.backend._reset_content_widths()
        table._column_widths = [widths[c] for c in columns]
        table._ordered_columns = None
        table._require_update_dimensions = True
        table._update_count += 1
        if not grows:
            table.move_cursor(row=0, column=0, animate=False)
        table.cursor_coordinate = table.cursor_coordinate  # clamp to the new size
        table.refresh()
        self.set_status(self.summary + self._sort_text())
        return True

    def _eid0(self) -> str | None:
        if self.full is None or not self.full.num_rows or "eid" not in self.full.column_names:
            return None
        return str(self.full.column("eid")[0].as_py())

    def _mount_table(self) -> None:
        from textual_fastdatatable import ArrowBackend
        from textual_fastdatatable.data_table import DataTable

        columns = self.columns
        view = self._view(columns)
        widths = fit_widths(self._content_widths(view), self._available_width())
        replaced = self._replace_data(view, widths, columns)
        self._first_eid = self._eid0()
        if replaced:
            return
        old_tables = list(self.query(DataTable))
        had_focus = any(old.has_focus for old in old_tables)
        backend = ArrowBackend(view)
        table = DataTable(
            backend=backend,
            column_labels=[LABELS.get(c, c) for c in columns],
            column_widths=[widths[c] for c in columns],
            fixed_columns=FIXED,
            cursor_type="row",
            render_markup=False,
            zebra_stripes=False,
            show_row_labels=False,
            null_rep="–",
            classes="sessions-table",
        )
        table._shown_columns = columns
        self._table = table
        self.mount(table)
        self.set_status(self.summary + self._sort_text())

        def swap() -> None:
            """Focus the new table before the old one goes: removing a focused widget first
            hands focus to a filter field, and keys typed meanwhile (b, r, ...) would land in it."""
            focused = self.app.focused
            if had_focus or focused is None or focused in old_tables:  # (taken since mount)
                self.screen.set_focus(table)  # at once; Widget.focus() is deferred
            for old in old_tables:
                if old.is_attached:  # a quicker second remount may have removed it already
                    old.remove()

        self.call_after_refresh(swap)

    @property
    def columns(self) -> list[str]:
        """The columns shown, in order: the eid (when shown) right after the fixed ones and the
        number, so `i` brings it on screen instead of ~130 columns to the right."""
        if not self.show_eid:
            return list(COLUMNS)
        return ["date", "subject", "number", "eid", "lab", "task_protocol", "projects"]

    def _view(self, columns: list[str]) -> Any:
        """What the table shows: the protocols by the part that tells them apart."""
        import pyarrow as pa
        import pyarrow.compute as pc

        view = self.full.select(columns)
        if "task_protocol" in columns and view.num_rows:
            # short_protocol's rule, vectorised (RE2 reads the same pattern): 200,000 rows in
            # ~30 ms instead of ~300 ms row by row, paid on every answer and protocol sort
            index = columns.index("task_protocol")
            column = pc.cast(view.column(index), pa.string())
            short = pc.replace_substring_regex(column, pattern=PROTOCOL_PREFIX.pattern,
                                               replacement=r"\1")
            view = view.set_column(index, "task_protocol", short)
        return view

    @staticmethod
    def _content_widths(view: Any) -> dict[str, int]:
        """The widest value of each column, in characters (vectorised: 20,000 rows)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        out = {}
        for name in view.column_names:
            col = view.column(name)
            if name == "date":
                out[name] = 10
                continue
            if not pa.types.is_string(col.type):
                col = pc.cast(col, pa.string())
            longest = pc.max(pc.utf8_length(col)).as_py() if view.num_rows else 0
            out[name] = int(longest or 1)
        return out

    def _available_width(self) -> int:
        """Cells the table has: this pane's width inside its border, less the scrollbar."""
        if self.size.width:
            return max(self.size.width - 1, 20)  # size: inside the border
        return max(self.app.size.width - 3, 20)

    def _sort_text(self) -> str:
        if not self.sort_by:
            return ""
        arrow = "↑" if self.sort_by[1] == "ascending" else "↓"
        return f" · sorted by {LABELS.get(self.sort_by[0], self.sort_by[0])} {arrow}"

    def toggle_eid(self) -> bool:
        self.show_eid = not self.show_eid
        if self.full is not None:
            self._remount_keeping_cursor()
        return self.show_eid

    def sort(self, column: str, direction: str | None = None) -> None:
        """Sort by a column; choosing the current column again reverses the direction."""
        if self.full is None:
            return
        if direction is None:
            same = self.sort_by and self.sort_by[0] == column
            direction = "descending" if same and self.sort_by[1] == "ascending" else "ascending"
        self.sort_by = (column, direction)
        self.full = self.full.sort_by([self.sort_by])  # Arrow's sort is stable: same order
        table = self.table
        if (table is not None and column in table.backend.data.column_names
                and column != "task_protocol"):  # shown shortened: sorted through a remount
            table.sort([self.sort_by])  # in place: no new widget for 20,000 rows
            self.set_status(self.summary + self._sort_text())
        else:
            self._mount_table()

    def _remount_keeping_cursor(self) -> None:
        row = self.cursor_row
        self._mount_table()
        table = self.table
        if table is not None:
            self.call_after_refresh(table.move_cursor, row=row)

    @property
    def table(self) -> Any:
        """The current sessions table widget (None before the first results)."""
        return self._table

    @property
    def cursor_row(self) -> int:
        return self.table.cursor_row if self.table is not None else 0

    def eid_at(self, row: int | None = None) -> str | None:
        """The eid of a row (the cursor row by default)."""
        if self.full is None or self.full.num_rows == 0:
            return None
        row = self.cursor_row if row is None else row
        if not 0 <= row < self.full.num_rows:
            return None
        return str(self.full.column("eid")[row].as_py())

    def row_dict(self, row: int | None = None) -> dict[str, Any] | None:
        """The session fields of a row, for the details pane header."""
        if self.full is None or self.full.num_rows == 0:
            return None
        row = self.cursor_row if row is None else row
        return {name: self.full.column(name)[row].as_py() for name in self.full.column_names}
