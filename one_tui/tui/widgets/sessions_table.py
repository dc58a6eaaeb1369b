"""The sessions table: textual-fastdatatable's ``DataTable`` over an Arrow table, and the one
place in one-tui that touches that widget's internals.

Why internals at all: fastdatatable has no public way to give a mounted table new data
(``DataTable.clear()`` raises "unmount this table and mount a new one"). A new widget per
answer (harlequin's way) costs a mount of the table and a focus hand-over for every page of a
growing remote search; the hand-over is what three focus bugs came from (keys typed during the
swap landed in a filter field), and the cursor would jump back to the top on every page. So a
new answer of the same columns swaps the Arrow data under the mounted widget, as toolong grows
its virtual size. :meth:`SessionsTable.replace_data` is that swap; it relies on five attributes
of fastdatatable 0.19.5, listed in :data:`INTERNALS` and checked by
tests/tui/test_sessions_table.py, so an upgrade that renames one fails there, not on screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual_fastdatatable import ArrowBackend
from textual_fastdatatable.data_table import DataTable

if TYPE_CHECKING:
    import pyarrow as pa

#: fastdatatable's internals replace_data relies on (name -> what it is for).
INTERNALS = {
    "_column_widths": "the widths given at construction, used to build the columns",
    "_ordered_columns": "the columns built from the backend; None rebuilds them",
    "_require_update_dimensions": "True: the virtual size is measured again",
    "_update_count": "part of the render caches' keys: bumping it drops the cached lines",
}
BACKEND_INTERNALS = {
    "_column_content_widths": "the backend's measured content widths (a list, [] = measure)",
}


def _skip_measuring(backend: ArrowBackend, widths: Sequence[int]) -> None:
    """Give the backend the columns' widths as their content widths. Left empty, it measures
    every cell of every column (~100 ms at 20,000 sessions, on the UI thread, for each new
    answer and each page of a remote search that doubled the rows); with explicit widths the
    table draws nothing from them."""
    backend._column_content_widths = list(widths)  # noqa: SLF001 - the adapter


class SessionsTable(DataTable):
    """A row-cursor table of sessions whose data can be replaced while it stays mounted."""

    def __init__(self, view: pa.Table, columns: Sequence[str], labels: Sequence[str],
                 widths: Sequence[int], fixed_columns: int, **kwargs: Any) -> None:
        backend = ArrowBackend(view)
        _skip_measuring(backend, widths)  # before __init__, which already lays columns out
        super().__init__(
            backend=backend,
            column_labels=list(labels),
            column_widths=list(widths),
            fixed_columns=fixed_columns,
            cursor_type="row",
            render_markup=False,
            zebra_stripes=False,
            show_row_labels=False,
            null_rep="–",
            **kwargs,
        )
        self.shown_columns: tuple[str, ...] = tuple(columns)
    @property
    def data(self) -> pa.Table:
        """The Arrow table shown."""
        backend = self.backend
        assert isinstance(backend, ArrowBackend)
        return backend.data

    def reorder(self, view: pa.Table) -> None:
        """Show the same rows in another order, as the widget's own ``sort`` does (widths
        and cursor kept): the pane sorts them itself, without regard to case."""
        backend = self.backend
        assert isinstance(backend, ArrowBackend)
        backend.data = view
        self._update_count += 1
        self.refresh()

    def replace_data(self, view: pa.Table, widths: Sequence[int], keep_cursor: bool) -> None:
        """Show ``view`` (the same columns) in this widget; the cursor stays where it is when
        ``keep_cursor`` (rows growing page by page), else it goes to the first row."""
        backend = self.backend
        assert isinstance(backend, ArrowBackend)
        backend.data = view
        _skip_measuring(backend, widths)
        self._column_widths = list(widths)
        self._ordered_columns = None
        self._require_update_dimensions = True
        self._update_count += 1
        if not keep_cursor:
            self.move_cursor(row=0, column=0, animate=False)
        self.cursor_coordinate = self.cursor_coordinate  # clamp to the new size
        self.refresh()
