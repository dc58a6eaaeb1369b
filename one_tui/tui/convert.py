"""A search's sessions (a pandas frame) -> the Arrow table the sessions pane shows. Runs in
worker threads.

pandas and pyarrow are imported inside the functions: this module is imported by the app before
the first frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

#: The session columns the pane shows, in order (the eid follows, shown on demand).
COLUMNS = ("date", "subject", "number", "lab", "task_protocol", "projects")


def sessions_table(df: pd.DataFrame | None) -> pa.Table:
    """A pyarrow.Table with COLUMNS + eid (strings for text, date as date32) in ONE's order."""
    import pandas as pd
    import pyarrow as pa

    if df is None or len(df) == 0:
        names = [*COLUMNS, "eid"]
        types = [pa.date32(), pa.string(), pa.int64(), pa.string(), pa.string(), pa.string(),
                 pa.string()]
        return pa.table({n: pa.array([], type=t) for n, t in zip(names, types, strict=True)})
    eids = [str(e) for e in df.index]
    cols: dict[str, Any] = {}
    for name in COLUMNS:
        col = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index)
        cols[name] = _column(name, col)
    cols["eid"] = pa.array(eids, type=pa.string())
    return pa.table(cols)


def _column(name: str, col: pd.Series) -> pa.Array:
    """One column as Arrow, vectorised (20,000+ rows must not loop in Python)."""
    import pandas as pd
    import pyarrow as pa

    if name == "date":
        days = pd.to_datetime(col, errors="coerce").to_numpy(dtype="datetime64[D]")
        return pa.array(days, type=pa.date32(), from_pandas=True)
    if name == "number":
        return pa.array(pd.to_numeric(col, errors="coerce").astype("Int64"), type=pa.int64())
    if col.dtype == object and col.map(lambda v: isinstance(v, list | tuple)).any():
        col = col.map(lambda v: ", ".join(map(str, v)) if isinstance(v, list | tuple) else v)
    return pa.array(col.astype("string"), type=pa.string(), from_pandas=True)
