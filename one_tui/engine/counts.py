"""Counts of what a search found: sessions per lab, subject, project and protocol, and per
week or month of the result's date range.

Computed on the Arrow table the results pane holds (``pyarrow.compute``: one ``value_counts``
a column, no Python loop over rows), so the counts panel opens at once at 200,000 results
(benchmarks/bench_counts.py). A project column holds comma-joined names: a session counts once
for each of its projects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from one_tui.engine.core.history import CountRow, SessionCounts
from one_tui.engine.core.spec import QC_CATEGORIES

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["COUNTED", "NONE", "MAX_WEEKS", "dataset_qc_counts", "session_counts"]

#: The result columns counted, in the panel's order.
COUNTED = ("lab", "subject", "projects", "task_protocol")
#: How an empty or missing value is listed (it narrows nothing).
NONE = "(none)"
#: Above this many weeks between the first and last session, bins are months.
MAX_WEEKS = 104
_EPOCH = date(1970, 1, 1)


def session_counts(table: pa.Table, columns: Iterable[str] = COUNTED) -> SessionCounts:
    """Sessions per value of each of ``columns`` present in ``table`` (most first, then by
    value), and the sessions per week (or month) of its ``date`` column."""
    by = {}
    for name in columns:
        if name in table.column_names:
            by[name] = _counts(table.column(name), split=name == "projects")
    period, timeline = _timeline(table.column("date")) if "date" in table.column_names \
        else ("week", ())
    return SessionCounts(table.num_rows, by, period, timeline)


def _counts(column: Any, split: bool) -> tuple[CountRow, ...]:
    import pyarrow as pa
    import pyarrow.compute as pc

    values = column
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = pc.cast(values, pa.string())
    if split:  # "a, b" -> a, b (only this column needs the passes over every row)
        values = pc.list_flatten(pc.split_pattern(pc.fill_null(values, ""), ","))
        values = pc.utf8_trim_whitespace(values)
    found = pc.value_counts(values)
    merged: dict[str, int] = {}
    for value, n in zip(found.field("values").to_pylist(), found.field("counts").to_pylist(),
                        strict=True):
        key = value.strip() if value else NONE  # empty and missing are one row
        merged[key or NONE] = merged.get(key or NONE, 0) + int(n)
    rows = [CountRow(v, n) for v, n in merged.items()]
    rows.sort(key=lambda r: (-r.sessions, r.value == NONE, r.value))
    return tuple(rows)


def _timeline(column: Any) -> tuple[str, tuple[tuple[date, int], ...]]:
    """("week" | "month", (first day of each bin, sessions)), empty bins included."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    days = pc.cast(column, pa.date32()) if column.type != pa.date32() else column
    days = pc.drop_null(days)
    if len(days) == 0:
        return "week", ()
    n = pc.cast(days, pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    lo, hi = int(n.min()), int(n.max())
    if (hi - lo) // 7 <= MAX_WEEKS:
        weeks = (n + 3) // 7  # 1970-01-01 was a Thursday: +3 makes weeks start on Monday
        first = int(weeks.min())
        counts = np.bincount(weeks - first)
        return "week", tuple((_EPOCH + timedelta(days=int(7 * (first + i) - 3)), int(c))
                             for i, c in enumerate(counts))
    years = pc.year(days).to_numpy(zero_copy_only=False).astype(np.int64)
    months = pc.month(days).to_numpy(zero_copy_only=False).astype(np.int64)
    index = years * 12 + months - 1
    first = int(index.min())
    counts = np.bincount(index - first)
    return "month", tuple((date((first + i) // 12, (first + i) % 12 + 1, 1), int(c))
                          for i, c in enumerate(counts))


def dataset_qc_counts(cache: Any, eids: Iterable[str], terms: Mapping[str, Any],
                      wildcards: bool = True) -> tuple[CountRow, ...]:
    """Sessions of ``eids`` per QC of their datasets that the search's dataset terms name
    (``dataset``: ONE 2.x's contains on rel_path; ``datasets``: 3.x's full match on the file
    name), existing datasets only, as the search counted them. A session whose matching
    datasets have two QC levels counts under each; most first."""
    import numpy as np

    from one_tui.engine.local import dataset_view as view
    from one_tui.engine.local import patterns

    datasets = view.for_query(cache)
    path_codes, paths = view.path_codes(datasets)
    hit = np.ones(len(paths), dtype=bool)
    for term in ("dataset", "datasets"):
        for name in patterns.ensure_list(terms.get(term)):
            if term == "dataset":
                test = patterns.text_matcher(name, wildcards)
                hit &= np.fromiter((test(str(p)) for p in paths), dtype=bool, count=len(paths))
            else:
                rx = patterns.compile_pattern(str(name))
                hit &= np.fromiter((rx.fullmatch(str(p).rsplit("/", 1)[-1]) is not None
                                    for p in paths), dtype=bool, count=len(paths))
    codes, eid_index = view.eid_codes(datasets)
    wanted = np.zeros(len(eid_index) + 1, dtype=bool)
    pos = eid_index.get_indexer(list(eids))
    wanted[pos[pos >= 0]] = True
    rows = np.append(hit, False)[path_codes] & view.exists_flags(datasets) & wanted[codes]
    levels = len(QC_CATEGORIES)
    pairs = np.unique(codes[rows].astype(np.int64) * levels + view.qc_codes(datasets)[rows])
    per_qc = np.bincount(pairs % levels, minlength=levels)
    out = [CountRow(QC_CATEGORIES[i], int(n)) for i, n in enumerate(per_qc) if n]
    out.sort(key=lambda r: -r.sessions)
    return tuple(out)
