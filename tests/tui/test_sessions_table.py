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
        assert callable(getattr(backend, name)), name
    assert table.data is view and table.shown_columns == ("date", "subject")
