"""The one adapter over textual-fastdatatable's internals: if an upgrade renames what
``SessionsTable.replace_data`` sets, this fails (not the screen)."""

from __future__ import annotations

import pyarrow as pa
from textual_fastdatatable import ArrowBackend

from one_tui.tui.widgets.sessions_table import BACKEND_INTERNALS, INTERNALS, SessionsTable


def test_the_internals_replace_data_relies_on_are_there() -> None:
    view = pa.table({"date": ["2025-01-01"], "subject": ["s"]})
    table = SessionsTable(view, ["date", "subject"], ["date", "subject"], [10, 8], 1)
    for name in INTERNALS:
        assert hasattr(table, name), name
    assert isinstance(table._update_count, int)  # noqa: SLF001 - what the adapter bumps
    backend = table.backend
    assert isinstance(backend, ArrowBackend)
    for name in BACKEND_INTERNALS:
        assert isinstance(getattr(backend, name), list), name
    assert table.data is view and table.shown_columns == ("date", "subject")


async def test_new_data_is_not_measured_cell_by_cell(monkeypatch) -> None:
    """The backend measured every cell of every column of each new answer on the UI thread
    (~100 ms at 20,000 sessions, each time a remote search's rows doubled), for widths the
    table is given anyway."""
    from textual.app import App, ComposeResult

    measured: list[int] = []
    real = ArrowBackend._measure  # noqa: SLF001 - counted, not changed

    def counting(self: ArrowBackend, arr: pa.ChunkedArray) -> int:
        measured.append(len(arr))
        return real(self, arr)

    monkeypatch.setattr(ArrowBackend, "_measure", counting)
    rows = 2_000
    view = pa.table({"date": ["2025-01-01"] * rows, "subject": ["süßer_Ω"] * rows})
    table = SessionsTable(view, ["date", "subject"], ["date", "subject"], [10, 8], 1)

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield table

    async with Host().run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        table.replace_data(pa.concat_tables([view, view]), [10, 8], keep_cursor=True)
        await pilot.pause()
        assert table.data.num_rows == 2 * rows and table.ordered_columns[1].render_width == 10
    assert measured == []
