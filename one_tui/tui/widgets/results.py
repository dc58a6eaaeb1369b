"""The results pane: sessions in a :class:`SessionsTable` (Arrow backend), sortable, eid on
demand, marked with space (D, E and F then take the marked sessions, else all of them). It owns
its data (the whole answer, the sort, the eid column, the marks) and says what the user chose
with :class:`ResultsPane.RowChosen`.

The Arrow table arrives from the search worker; the table module (which imports pyarrow) is only
imported when the first results are shown, so the first frame does not wait for it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from one_tui.tui import keys
from one_tui.tui.convert import COLUMNS
from one_tui.tui.inert import inert_view
from one_tui.tui.sorting import sort_table

if TYPE_CHECKING:
    import pyarrow as pa
    from textual_fastdatatable.data_table import DataTable

    from one_tui.tui.widgets.sessions_table import SessionsTable
MARK = "✓"  # a marked session's cell in the mark column (shown while any session is marked)
LABELS = {"task_protocol": "protocol", "number": "#", "mark": MARK}
FIXED = 2  # date and subject (and the mark column) stay in place when the table scrolls right
CELL_PADDING = 2  # fastdatatable's space either side of a cell
# (widest a column grows to, narrowest it shrinks to when the terminal is too narrow)
LIMITS = {"mark": (1, 1), "date": (10, 10), "subject": (20, 8), "number": (4, 3), "lab": (20, 9),
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
    ``available`` cells; what still does not fit scrolls, the FIXED first columns in place.
    Room left over goes to the columns cut at their usual widest (LIMITS), in SHRINK_ORDER:
    at 200 columns protocol and projects were cut beside 75 empty ones."""
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
    for name in SHRINK_ORDER:
        if over >= 0:
            break
        if name in widths and content[name] > widths[name]:
            grow = min(-over, content[name] - widths[name])
            widths[name] += grow
            over += grow
    return widths


#: (column, direction), as Arrow's sort_by takes it
SortKey = tuple[str, Literal["ascending", "descending"]]

EMPTY_HINT = "No search yet. Set filters and press enter (F9 from anywhere); / focuses the filters."


class ResultsPane(Vertical):
    """Header line (progress or summary) and the sessions table."""

    BORDER_TITLE = "Sessions"
    BINDINGS = keys.results_bindings()

    @dataclass
    class RowChosen(Message):
        """enter on a session: open its details (``row``: its fields, for the header)."""

        eid: str
        row: dict[str, Any]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.full: pa.Table | None = None  # the whole result, in the current sort order
        self._answer: pa.Table | None = None  # the same rows as answered (ONE's order)
        self.show_eid = False
        self.sort_by: SortKey | None = None
        self.summary = ""
        self._table: SessionsTable | None = None
        self._first_eid: str | None = None  # of the rows shown: same first row = growing
        self.marked: set[str] = set()  # eids; kept across sorts and pages, dropped with rows
        self._base: tuple[pa.Table, tuple[str, ...], pa.Table] | None = None  # view cache

    def compose(self) -> ComposeResult:
        yield Static(EMPTY_HINT, id="results-status")

    @property
    def row_count(self) -> int:
        return 0 if self.full is None else int(self.full.num_rows)

    def set_status(self, text: str) -> None:
        self.query_one("#results-status", Static).update(text)

    def show_progress(self, done: int, total: int) -> None:
        of = f" of {total:,}" if total else ""
        self.set_status(f"{done:,}{of} sessions — esc to cancel")
        self.border_title = f"Sessions · {done:,}{of}"  # in step with the count below it

    def show_running(self, where: str) -> None:
        self.set_status(f"Searching {where}… — esc to cancel")

    def show_failed(self, reason: str, answered_at: dt.datetime | None = None) -> None:
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

    def show_table(self, table: pa.Table, summary: str) -> None:
        """Show a new result: the Arrow data under the table widget is replaced (a new widget
        only for the first result or other columns)."""
        self.full = self._answer = table  # the answer in ONE's order: every sort starts here
        self.summary = summary
        if self.marked:  # a new answer keeps the marks of the sessions it still holds
            self.marked = set(self._eids(self._marked_mask()).to_pylist())
        if summary:  # a partial table while streaming keeps the progress title
            self.border_title = f"Sessions · {table.num_rows:,}"
        if self.sort_by:
            self.full = sort_table(table, *self.sort_by)
        self._mount_table()

    def _eid0(self) -> str | None:
        if self.full is None or not self.full.num_rows or "eid" not in self.full.column_names:
            return None
        return str(self.full.column("eid")[0].as_py())

    def _mount_table(self) -> None:
        from one_tui.tui.widgets.sessions_table import SessionsTable

        columns = self.columns
        view = self._view(columns)
        fitted = fit_widths(self._content_widths(view), self._available_width())
        widths = [fitted[c] for c in columns]
        table = self._table
        if (table is not None and table.is_attached
                and table.shown_columns == tuple(columns)):
            old = table.data
            grows = bool(old.num_rows and view.num_rows >= old.num_rows
                         and self._first_eid == self._eid0())
            table.replace_data(view, widths, keep_cursor=grows)
            self._first_eid = self._eid0()
            self.set_status(self._status_text())
            return
        self._first_eid = self._eid0()
        old_tables = list(self.query(SessionsTable))
        had_focus = any(old.has_focus for old in old_tables)
        table = SessionsTable(view, columns, [LABELS.get(c, c) for c in columns], widths,
                              FIXED + ("mark" in columns), classes="sessions-table")
        self._table = table
        self.mount(table)
        self.set_status(self._status_text())

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
        shown = (list(COLUMNS) if not self.show_eid else
                 ["date", "subject", "number", "eid", "lab", "task_protocol", "projects"])
        return ["mark", *shown] if self.marked else shown

    def _view(self, columns: list[str]) -> pa.Table:
        """What the table shows: the mark column (while any session is marked), then the rest
        (kept for the next mark, which at 200,000 rows costs the mark column only)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        assert self.full is not None
        rest = tuple(c for c in columns if c != "mark")
        cached = self._base
        if cached is not None and cached[0] is self.full and cached[1] == rest:
            view = cached[2]
        else:
            view = self._rest_view(list(rest))
            self._base = (self.full, rest, view)
        if "mark" in columns:
            marks = pc.if_else(self._marked_mask(), MARK, "")
            view = view.add_column(0, "mark", marks.cast(pa.string()))
        return view

    def _rest_view(self, columns: list[str]) -> pa.Table:
        """The session columns: the protocols by the part that tells them apart."""
        import pyarrow as pa
        import pyarrow.compute as pc

        assert self.full is not None
        view = self.full.select(columns)
        if "task_protocol" in columns and view.num_rows:
            # short_protocol's rule, vectorised (RE2 reads the same pattern): 200,000 rows in
            # ~30 ms instead of ~300 ms row by row, paid on every answer and protocol sort;
            # short_protocol stays as the readable oracle the tests compare this with
            index = columns.index("task_protocol")
            column = pc.cast(view.column(index), pa.string())
            short = pc.replace_substring_regex(column, pattern=PROTOCOL_PREFIX.pattern,
                                               replacement=r"\1")
            view = view.set_column(index, "task_protocol", short)
        return inert_view(view)  # outside text drawn inert (widths are measured on this)

    @staticmethod
    def _content_widths(view: pa.Table) -> dict[str, int]:
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
            # size: inside the border; the vertical scrollbar takes 2 (with 1, a table that
            # filled the pane scrolled by one cell)
            return max(self.size.width - 2, 20)
        return max(self.app.size.width - 3, 20)

    def _status_text(self) -> str:
        marks = f" · {len(self.marked):,} marked (D, E, F take them)" if self.marked else ""
        return self.summary + self._sort_text() + marks

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

    def sort(self, column: str,
             direction: Literal["ascending", "descending"] | None = None) -> None:
        """Sort by a column; choosing the current column again reverses the direction."""
        if self.full is None:
            return
        if direction is None:
            same = self.sort_by is not None and self.sort_by[0] == column
            ascending = self.sort_by is not None and self.sort_by[1] == "ascending"
            direction = "descending" if same and ascending else "ascending"
        self.sort_by = (column, direction)
        # case-insensitive, ties in ONE's order (tui/sorting.py); the widget's own sort
        # compares bytes, so the rows are reordered under it (no new widget, widths kept)
        self.full = sort_table(self._answer if self._answer is not None else self.full,
                               column, direction)
        table = self.table
        if table is not None and table.is_attached and table.shown_columns == tuple(
                self.columns):
            table.reorder(self._view(self.columns))
            self.set_status(self._status_text())
        else:
            self._mount_table()

    def _remount_keeping_cursor(self) -> None:
        row = self.cursor_row
        self._mount_table()
        table = self.table
        if table is not None:
            self.call_after_refresh(table.move_cursor, row=row)

    @property
    def table(self) -> SessionsTable | None:
        """The current sessions table widget (None before the first results)."""
        return self._table

    @property
    def cursor_row(self) -> int:
        return self.table.cursor_row if self.table is not None else 0

    # ---------------------------------------------------------------- marks

    def _eids(self, mask: pa.ChunkedArray | None = None) -> pa.ChunkedArray:
        """The eids of the rows (where ``mask``), in the order shown, as strings."""
        import pyarrow as pa
        import pyarrow.compute as pc

        assert self.full is not None
        eids = pc.cast(self.full.column("eid"), pa.string())
        return eids if mask is None else eids.filter(mask)

    def _marked_mask(self) -> pa.ChunkedArray:
        import pyarrow as pa
        import pyarrow.compute as pc

        return pc.is_in(self._eids(), value_set=pa.array(list(self.marked), pa.string()))

    def action_mark(self) -> None:
        """space: mark / unmark the session under the cursor, then the cursor goes down."""
        eid = self.eid_at()
        if eid is None:
            return
        self.marked ^= {eid}
        self._show_marks(min(self.cursor_row + 1, self.row_count - 1))

    def action_mark_all(self) -> None:
        """a: mark every session of the results; with all marked, none."""
        if self.full is None or not self.full.num_rows:
            return
        every = set(self._eids().to_pylist())
        self.marked = set() if self.marked >= every else every
        self._show_marks(self.cursor_row)

    def _show_marks(self, row: int) -> None:
        """The mark column and the count, the cursor on ``row``: a column that comes or goes
        is a new widget; otherwise only the rows' data changes under the mounted one."""
        table = self.table
        if table is not None and table.is_attached and table.shown_columns == tuple(
                self.columns):
            table.reorder(self._view(self.columns))
            table.move_cursor(row=row, animate=False)
            self.set_status(self._status_text())
            return
        self._mount_table()
        if self.table is not None:
            self.call_after_refresh(self.table.move_cursor, row=row, animate=False)

    def chosen(self) -> pa.Table | None:
        """What D, E and F act on: the marked sessions, or every session when none is."""
        if self.full is None or not self.marked:
            return self.full
        return self.full.filter(self._marked_mask())

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

    def choose(self) -> bool:
        """Say which session is under the cursor (RowChosen); False when there is none."""
        eid = self.eid_at()
        if eid is None:
            return False
        self.post_message(self.RowChosen(eid, self.row_dict() or {}))
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """enter on a session row."""
        event.stop()
        self.choose()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a header sorts by that column."""
        event.stop()
        columns = self.columns
        if 0 <= event.column_index < len(columns):
            self.sort(columns[event.column_index])
