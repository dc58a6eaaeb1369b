"""One table file written as Alyx and ONE write it, atomically.

This module exists for the write side of ONE's format: each column in its on-disk type (str ids,
dictionary ``qc``, ``date32``), the index as the last columns with the ``pandas`` metadata that
``to_pandas`` needs to give it (and ``UInt64`` sizes) back, ``one_metadata`` with ``origin`` as
one string, row groups of ``ROW_GROUP_SIZE``; each file written whole or not at all
(``core.atomic``). It changes when what ONE-api can read back changes.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from one_tui.engine.core.atomic import atomic_write
from one_tui.engine.core.freshness import DATE_FORMAT
from one_tui.engine.local.fileformat import ID_COLUMN, qc_categorical
from one_tui.engine.local.lock import ReadOnlyCacheError

MIN_API_VERSION = "2.10"
ROW_GROUP_SIZE = 262_144  # bounded read buffers; any parquet reader handles row groups
_PLAIN_COLUMNS = ("id", "hash")  # unique per row: dictionary encoding only costs time


def _column_to_arrow(name: str, s: pd.Series) -> pa.Array | pa.ChunkedArray:
    """One column in ONE's on-disk type, vectorised (no Python loop over 1.5M rows)."""
    if name == "qc":
        return pa.array(qc_categorical(s))  # ordered dictionary
    if name == "date":
        days = pd.to_datetime(s)
        return pa.array([d.date() if pd.notna(d) else None for d in days], type=pa.date32())
    if isinstance(s.dtype, pd.CategoricalDtype):
        arr = pa.array(s.array, from_pandas=True)
        return arr.dictionary_decode().cast(pa.string())
    if ID_COLUMN.fullmatch(name):
        if not isinstance(s.dtype, pd.StringDtype):  # e.g. uuid.UUID objects
            s = s.astype("str")
        return pa.array(s, from_pandas=True).cast(pa.string())
    arr = pa.array(s, from_pandas=True)
    return arr.cast(pa.string()) if pa.types.is_large_string(arr.type) else arr


def _to_arrow(df: pd.DataFrame) -> pa.Table:
    """DataFrame to an Arrow table in ONE's on-disk types: str ids, dictionary qc, date32.

    As Alyx and ONE write them (``Table.from_pandas``): the index levels are the last columns
    and the ``pandas`` metadata names them as the index and records each column's dtype, so
    ONE's ``to_pandas`` gives back ``UInt64`` file sizes and the index (not float64 sizes).
    """
    indexed = not isinstance(df.index, pd.RangeIndex)
    index_names = [str(n) for n in df.index.names] if indexed else []
    flat = df.reset_index() if indexed else df
    names = [str(c) for c in flat.columns]
    order = [n for n in names if n not in index_names] + index_names
    position = {n: i for i, n in enumerate(names)}
    arrays = [_column_to_arrow(n, flat.iloc[:, position[n]]) for n in order]
    table = pa.Table.from_arrays(arrays, names=order)
    pandas_meta = _pandas_metadata(df)
    if pandas_meta is not None:
        table = table.replace_schema_metadata({b"pandas": pandas_meta})
    return table


def _pandas_metadata(df: pd.DataFrame) -> bytes | None:
    """The ``pandas`` metadata ``Table.from_pandas`` would write for ``df`` (computed on a few
    rows: the dtypes are what matter), with categorical paths recorded as the plain strings
    they are written as. None when pyarrow cannot describe a column (then none is written)."""
    sample = df.head(64).copy()
    for col in sample.columns:
        if isinstance(sample[col].dtype, pd.CategoricalDtype) and col != "qc":
            sample[col] = sample[col].astype(object)
    if "qc" in sample.columns:
        sample["qc"] = qc_categorical(sample["qc"])
    if "date" in sample.columns:  # written as date32, read back as datetime.date objects
        days = pd.to_datetime(sample["date"], errors="coerce")
        sample["date"] = pd.Series([d.date() if pd.notna(d) else None for d in days],
                                   index=sample.index, dtype=object)
    if isinstance(sample.index, pd.RangeIndex):
        preserve: bool | None = False
    else:
        preserve = True
        sample.index = sample.index.set_names([str(n) for n in sample.index.names])
    try:
        schema = pa.Schema.from_pandas(sample, preserve_index=preserve)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    return (schema.metadata or {}).get(b"pandas")


def file_origin(origin: Any) -> str | None:
    """The ``origin`` to write in a table's metadata: one string, as Alyx writes it.

    ONE 3.x keeps a set in memory and accepts a string or a list on disk; ONE 2.11.2 puts each
    table's origin in a set (``refresh_cache`` raises ``TypeError: unhashable type: 'list'`` on
    a list). The first origin is the table's source (the one ONE compares with cache/info's);
    origins added by REST merges come after it.
    """
    if origin is None or isinstance(origin, str):
        return origin
    values = [str(o) for o in origin if o]
    return values[0] if values else None


def save_table(df: pd.DataFrame, path: str | os.PathLike[str], metadata: dict[str, Any]) -> None:
    """Write a table in ONE's format, atomically (``core.atomic.atomic_write``); a folder we
    may not write raises ReadOnlyCacheError.

    ``metadata`` goes in as ``one_metadata``; ``date_created`` defaults to now, ``origin`` is
    written as one string (:func:`file_origin`), and ``min_api_version`` defaults to what Alyx
    writes.
    """
    path = Path(path)
    meta = dict(metadata)
    meta.setdefault("date_created", datetime.now().strftime(DATE_FORMAT))
    meta.setdefault("min_api_version", MIN_API_VERSION)
    if "origin" in meta:
        origin = file_origin(meta["origin"])
        if origin is None:
            meta.pop("origin")
        else:
            meta["origin"] = origin
    table = _to_arrow(df)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"one_metadata": json.dumps(meta).encode()})
    dictionary = [n for n in table.column_names if n not in _PLAIN_COLUMNS]

    def write(tmp: Path) -> None:
        pq.write_table(table, tmp, use_dictionary=dictionary, row_group_size=ROW_GROUP_SIZE)

    try:
        atomic_write(path, write)
    except PermissionError:
        raise ReadOnlyCacheError(f"Cache directory is read-only: {path.parent}") from None
