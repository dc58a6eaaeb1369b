"""Cache tables: read and write parquet files in ONE's format, with a lazily loaded datasets table.

Files are the ones ONE-api reads and writes (``sessions.pqt``, ``datasets.pqt``; one-tui keeps
its insertions in ``.one-tui/insertions.pqt``, see ``SAVED_TABLES``): the index as str UUID
columns named by the ``pandas`` metadata, ``one_metadata`` JSON in the Arrow schema metadata,
``qc`` as an ordered dictionary column and ``date`` as ``date32``. Legacy tables (ONE's own test
fixtures) are patched on load as ONE's ``patch_tables`` does.

Sharing a folder with ONE-api (docs/sharing-with-one-api.md): a table file this module could not
read is never written over, and every save merges with the disk under ONE's locks.

For speed at IBL scale the datasets table keeps ``rel_path`` as a categorical (a few hundred unique
paths over a million rows) and is only read the first time it is needed.
"""

from __future__ import annotations

import os
import sys

# Arrow's C++ readers take their buffers from the default pool chosen when pyarrow is first
# imported; jemalloc (with decay 0, see _prefer_jemalloc) keeps the resident size of a loaded
# 1.5M-row table near its data size. A user's own setting wins. Only on Linux, where the pyarrow
# wheels include jemalloc (elsewhere Arrow would print a warning about an unknown backend).
if sys.platform.startswith("linux"):
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

import json  # noqa: E402
import logging
import re
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from one_tui.engine.exceptions import CacheDirError
from one_tui.engine.lock import FileLock, LockTimeout, ReadOnlyCacheError
from one_tui.engine.spec import QC, QC_CATEGORIES, shown

__all__ = [
    "Cache",
    "InvalidTableError",
    "read_table",
    "save_table",
    "load_cache",
    "merge_tables",
    "save_cache",
    "empty_table",
    "qc_categorical",
    "DATE_FORMAT",
    "SAVED_TABLES",
    "PRIVATE_DIR",
    "table_path",
    "file_origin",
    "DatasetCodes",
    "Cancelled",
    "check_table",
]

log = logging.getLogger("one_tui.engine")

DATE_FORMAT = "%Y-%m-%d %H:%M"
MIN_API_VERSION = "2.10"
ROW_GROUP_SIZE = 262_144  # bounded read buffers; any parquet reader handles row groups
INDEX = {"sessions": ["id"], "datasets": ["eid", "id"], "insertions": ["eid", "id"]}
QC_DTYPE = pd.CategoricalDtype(QC_CATEGORIES, ordered=True)

# Columns and dtypes of empty tables (what Alyx publishes; insertions as ONE 3.x builds them).
_EMPTY_COLUMNS: dict[str, dict[str, Any]] = {
    "sessions": {"lab": "str", "subject": "str", "date": "object", "number": "uint16",
                 "task_protocol": "str", "projects": "str"},
    "datasets": {"rel_path": "str", "file_size": "UInt64", "hash": "str", "exists": "bool",
                 "qc": QC_DTYPE, "default_revision": "bool"},
    "insertions": {"model": "str", "name": "str", "json": "object", "serial": "str",
                   "datasets": "object", "auto_datetime": "str"},
}
_ID_COLUMN = re.compile(r".?id")


class InvalidTableError(ValueError):
    """A ``.pqt`` file that is not a ONE table (no ``one_metadata``) or cannot be read."""


# ---------------------------------------------------------------------------------------------
# Reading


def _one_metadata(schema: pa.Schema) -> dict | None:
    """The ``one_metadata`` dict of a parquet schema, None if absent or not JSON."""
    raw = (schema.metadata or {}).get(b"one_metadata")
    if raw is None:
        return None
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    return meta if isinstance(meta, dict) and "date_created" in meta else None


def _one_line(exc: BaseException) -> str:
    """An exception's text on one line (Arrow's thrift errors span several; notices are one)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def read_metadata(path: str | os.PathLike[str]) -> tuple[dict, int]:
    """The ONE metadata and row count of a table file, reading only its footer."""
    path = Path(path)
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise InvalidTableError(f"{path.name} could not be read ({_one_line(exc)}). Skipping"
                                ) from None
    meta = _one_metadata(pf.schema_arrow)
    if meta is None:
        raise InvalidTableError(f"{path.name} does not appear to be a valid table. Skipping")
    return meta, pf.metadata.num_rows


def _version(text: Any) -> tuple[int, ...]:
    """'2.10' -> (2, 10); anything unparsable counts as the oldest version."""
    try:
        return tuple(int(x) for x in str(text).split(".")[:3])
    except ValueError:
        return (0,)


def _int_pairs_to_uuid(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Legacy int64 id pairs to canonical UUID strings (little-endian bytes, as ONE does)."""
    raw = np.column_stack([np.asarray(low), np.asarray(high)]).astype("<i8")
    hexes = raw.view(np.uint8).reshape(-1, 16).tobytes().hex()
    out = np.empty(len(raw), dtype=object)
    for i in range(len(raw)):
        h = hexes[32 * i: 32 * i + 32]
        out[i] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return out


def qc_categorical(values: Any) -> pd.Categorical:
    """QC values given as names, ints or QC members as an ordered categorical."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype) and list(s.cat.categories) == QC_CATEGORIES:
        return pd.Categorical(s, dtype=QC_DTYPE)
    names = [QC.validate(v).name if pd.notna(v) else "NOT_SET" for v in s.astype(object)]
    return pd.Categorical(names, dtype=QC_DTYPE)


def patch_table(df: pd.DataFrame, meta: dict) -> pd.DataFrame:
    """Bring a table read from disk to the current format (ONE's ``patch_tables``, §2.3)."""
    for prefix in ("eid", "id"):
        if f"{prefix}_0" in df.columns and f"{prefix}_1" in df.columns:
            uuids = _int_pairs_to_uuid(df.pop(f"{prefix}_0").to_numpy(),
                                       df.pop(f"{prefix}_1").to_numpy())
            df[prefix] = pd.array(uuids, dtype="str")
    min_api = _version(meta.get("min_api_version", "0"))
    if "project" in df.columns and "projects" not in df.columns and min_api < (1, 13):
        df = df.rename(columns={"project": "projects"})
    if "session_path" in df.columns:
        df = df.drop(columns="session_path")
    if "rel_path" in df.columns:
        if "qc" not in df.columns and min_api < (2, 7):
            df["qc"] = pd.Categorical(["NOT_SET"] * len(df), dtype=QC_DTYPE)
        if "file_size" in df.columns and df["file_size"].dtype != "UInt64":
            size = df["file_size"]
            if not pd.api.types.is_integer_dtype(size.dtype):
                size = pd.array(size.to_numpy(dtype="float64", na_value=np.nan), dtype="Float64")
            df["file_size"] = size.astype("UInt64")
    if "qc" in df.columns and df["qc"].dtype != QC_DTYPE:
        df["qc"] = qc_categorical(df["qc"])
    return _set_index(df)


def _set_index(df: pd.DataFrame) -> pd.DataFrame:
    """Index on the id columns (``id`` or ``eid, id``), sorted as ONE sorts them on load."""
    if not isinstance(df.index, pd.RangeIndex):
        return df
    cols = sorted(c for c in df.columns if _ID_COLUMN.fullmatch(c))
    if not cols:
        raise KeyError("Failed to set index")
    df = df.set_index(cols)
    if not df.index.is_monotonic_increasing:
        df = df.sort_index()
    return df


_DICTIONARY_COLUMNS = ("rel_path", "eid")  # few unique values over many rows
_PLAIN_COLUMNS = ("id", "hash")  # unique per row: dictionary encoding only costs time


def _prefer_jemalloc() -> None:
    """Use jemalloc for Arrow, returning freed decode buffers to the OS at once.

    Reading a 1.5M-row datasets table otherwise leaves ~90 MiB of freed buffers resident. The
    environment default set at the top of this module only takes effect when pyarrow was not
    imported yet; this covers the Python-level pool in any case.
    """
    global _POOL_SET
    if _POOL_SET:
        return
    _POOL_SET = True
    try:
        pa.jemalloc_set_decay_ms(0)
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, AttributeError, pa.ArrowException):  # pragma: no cover
        pass


_POOL_SET = False


def _read_column(pf: pq.ParquetFile, name: str, cancel: threading.Event | None = None
                 ) -> pd.Series:
    """One column, row group by row group, strings widened per chunk so that the conversion to
    pandas copies nothing (the peak stays near the column's own size)."""
    chunks: list[pa.Array] = []
    for i in range(pf.num_row_groups):
        if cancel is not None and cancel.is_set():
            raise Cancelled
        arr = pf.read_row_group(i, columns=[name], use_threads=False).column(0)
        if pa.types.is_string(arr.type):
            arr = arr.cast(pa.large_string())
        chunks.extend(arr.chunks)
        del arr
    column = pa.chunked_array(chunks, type=chunks[0].type if chunks else None) if chunks else \
        pf.read(columns=[name]).column(0)
    del chunks
    return column.to_pandas()


def _pandas_meta(schema: pa.Schema) -> dict:
    """The ``pandas`` metadata pyarrow writes with ``Table.from_pandas`` (ONE and Alyx do), or
    an empty dict."""
    raw = (schema.metadata or {}).get(b"pandas")
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _index_names(pmeta: dict, table: str) -> dict[str, str]:
    """{column on disk: index name} for the unnamed index levels pandas stores as
    ``__index_level_N__`` (ONE 3.6.1 saves sessions so after a remote search: its index lost its
    name). They are named as ONE names them once read: ``id``, or ``eid, id``."""
    fields = [f for f in pmeta.get("index_columns", []) if isinstance(f, str)]
    unnamed = [f for f in fields if re.fullmatch(r"__index_level_\d+__", f)]
    if not unnamed:
        return {}
    named = {c.get("field_name"): c.get("name") for c in pmeta.get("columns", [])
             if isinstance(c, dict)}
    default = INDEX.get(table) or (["id"] if len(fields) == 1 else ["eid", "id"])
    if len(default) != len(fields):
        default = ["id"] if len(fields) == 1 else ["eid", "id"][-len(fields):]
    out = {}
    for field, fallback in zip(fields, default, strict=False):
        if field in unnamed:
            out[field] = named.get(field) or fallback
    return out


#: pandas dtypes ONE's tables use that Arrow alone does not restore (a uint64 column with nulls
#: would read as float64, a bool one with nulls as object): taken from the pandas metadata.
_EXTENSION_TYPES = {"UInt8", "UInt16", "UInt32", "UInt64", "Int8", "Int16", "Int32", "Int64",
                    "Float32", "Float64", "boolean"}


def _extension_dtypes(pmeta: dict) -> dict[str, Any]:
    """{column: pandas extension dtype} recorded in the pandas metadata."""
    out = {}
    for col in pmeta.get("columns", []):
        if isinstance(col, dict) and col.get("numpy_type") in _EXTENSION_TYPES:
            out[col.get("field_name")] = pd.api.types.pandas_dtype(col["numpy_type"])
    return out


class Cancelled(Exception):
    """A background read stopped by its ``cancel`` event (nothing was kept)."""


def _read_frame(path: Path, columns: list[str] | None,
                cancel: threading.Event | None = None) -> pd.DataFrame:
    """Read a parquet table column by column (low peak memory) into a RangeIndex DataFrame.

    Columns the pandas metadata marks as unnamed index levels get their ONE name, and columns
    it records with a nullable dtype (``UInt64``, ``boolean``) get that dtype, as ONE's
    ``to_pandas`` gives them.
    """
    _prefer_jemalloc()
    schema = pq.read_schema(path)
    pmeta = _pandas_meta(schema)
    renames = _index_names(pmeta, path.stem)
    extension = _extension_dtypes(pmeta)
    names = schema.names
    dictionary = [n for n in _DICTIONARY_COLUMNS if n in names]
    pf = pq.ParquetFile(path, read_dictionary=dictionary or None)
    names = [n for n in names if columns is None or renames.get(n, n) in columns]
    data = {}
    for name in names:
        if cancel is not None and cancel.is_set():
            raise Cancelled
        if name in extension:
            arrow = pf.read(columns=[name]).column(0)
            data[renames.get(name, name)] = pd.Series(extension[name].__from_arrow__(arrow))
        else:
            data[renames.get(name, name)] = _read_column(pf, name, cancel)
    return pd.DataFrame(data, copy=False)


def _fast_index(df: pd.DataFrame) -> pd.DataFrame | None:
    """(eid, id) MultiIndex built from the eid categorical and the id strings, without hashing
    1.5M ids; None when the table is not in that shape."""
    if not ({"eid", "id"} <= set(df.columns) and isinstance(df["eid"].dtype, pd.CategoricalDtype)):
        return None
    eid = df.pop("eid")
    ids = pd.Index(df.pop("id").array, name="id")
    if eid.isna().any():
        return None
    index = pd.MultiIndex(levels=[eid.cat.categories.astype("str"), ids],
                          codes=[eid.cat.codes.to_numpy(), np.arange(len(ids))],
                          names=["eid", "id"], verify_integrity=False)
    return df.set_axis(index, axis=0)


def read_table(path: str | os.PathLike[str], columns: list[str] | None = None,
               ) -> tuple[pd.DataFrame, dict]:
    """Read one cache table: (DataFrame with its index set and legacy patches applied, metadata).

    ``rel_path`` and ``eid`` are read as categoricals: few unique values make filters fast and
    the table small. Modern datasets tables keep their file order; legacy ones are sorted as
    ONE sorts them. Raises InvalidTableError for a file without ONE metadata or a corrupt one.
    """
    path = Path(path)
    meta, _ = read_metadata(path)
    try:
        df = _read_frame(path, columns)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise InvalidTableError(f"{path.name} could not be read ({_one_line(exc)}). Skipping"
                                ) from None
    if "id_0" not in df.columns and (fast := _fast_index(df)) is not None:
        return patch_table(fast, meta), meta
    if "eid" in df.columns and isinstance(df["eid"].dtype, pd.CategoricalDtype):
        df["eid"] = df["eid"].astype("str")
    return patch_table(df, meta), meta


def check_table(path: str | os.PathLike[str]) -> None:
    """Raise InvalidTableError unless ``path`` is a ONE table whose every row group decodes (a
    truncated or corrupt download fails here), without building pandas rows: how a downloaded
    datasets table is checked before it replaces the one on disk (its rows are read later,
    as codes, when a query needs them)."""
    path = Path(path)
    read_metadata(path)
    _prefer_jemalloc()
    try:
        pf = pq.ParquetFile(path)
        for i in range(pf.num_row_groups):
            pf.read_row_group(i)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise InvalidTableError(f"{path.name} could not be read ({_one_line(exc)}). Skipping"
                                ) from None


def empty_table(name: str) -> pd.DataFrame:
    """An empty table with ONE's columns, dtypes and index names."""
    cols = _EMPTY_COLUMNS.get(name, {})
    df = pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    names = INDEX.get(name, ["id"])
    arrays = [pd.Index([], dtype="str", name=n) for n in names]
    index = arrays[0] if len(arrays) == 1 else pd.MultiIndex.from_arrays(arrays, names=names)
    return df.set_axis(index, axis=0)


# ---------------------------------------------------------------------------------------------
# The datasets table as codes: what queries need, without the rows


#: Columns a query over the datasets table reads (the per-row facts are codes and flags).
CODE_COLUMNS = ("eid", "rel_path", "qc", "exists", "default_revision")


def _qc_lookup(categories: Any) -> np.ndarray:
    """QC code (0 NOT_SET ... 4 CRITICAL) of each value in ``categories``, then 0 for null."""
    out = [QC_CATEGORIES.index(QC.validate(v).name) if pd.notna(v) else 0 for v in categories]
    return np.array(out + [0], dtype=np.int8)


_BATCH = 8192  # rows decoded at a time when a few rows are read from a row group


class DatasetCodes:
    """The datasets table of a file as integer codes: what every query filters on, a few bytes
    a row instead of the pandas rows (15 million UUID strings at 10x IBL scale).

    ``eid`` and ``rel_path`` are read as Arrow dictionaries and kept as their codes over the
    unique values (the same categories the full read gives, so codes are interchangeable with
    the loaded frame's); QC is an int8 code, ``exists`` / ``default_revision`` are bool arrays.
    Rows are made into pandas only for what a query returns (:meth:`rows`, read from the row
    groups that hold them); ids only where ONE's order needs them (:meth:`ids`). Row positions
    are the file's, which is the loaded frame's order for a modern table (legacy tables, sorted
    on load, are never read this way).
    """

    def __init__(self, path: Path, frame: pd.DataFrame, meta: dict) -> None:
        self.path = path
        self.meta = meta
        self.n_file = len(frame)
        eid = frame["eid"]
        self.eid_codes = np.asarray(eid.cat.codes, dtype=np.int32)
        self.eids = eid.cat.categories.astype("str")
        self.path_dtype = frame["rel_path"].dtype
        self.path_codes = np.asarray(frame["rel_path"].cat.codes, dtype=np.int32)
        self.paths = np.asarray(frame["rel_path"].cat.categories, dtype=object)
        if "qc" in frame.columns:
            qc = frame["qc"]
            if isinstance(qc.dtype, pd.CategoricalDtype):
                codes, uniques = np.asarray(qc.cat.codes), qc.cat.categories
            else:
                codes, uniques = pd.factorize(qc.astype(object))
            self.qc_codes = _qc_lookup(uniques)[codes]
        else:
            self.qc_codes = np.zeros(len(frame), dtype=np.int8)
        self.exists = (frame["exists"].fillna(False).to_numpy(dtype=bool)
                       if "exists" in frame.columns else np.ones(len(frame), dtype=bool))
        self.default_revision = (frame["default_revision"].fillna(False).to_numpy(dtype=bool)
                                 if "default_revision" in frame.columns else None)
        self._ranks: tuple[np.ndarray, np.ndarray] | None = None
        self._first: np.ndarray | None = None
        self._ids: dict[int, str] = {}
        # each session's rows in one run (as Alyx and ONE write the table): its file rows are
        # found by their range, not by a pass over every row
        starts = np.flatnonzero(np.diff(self.eid_codes)) + 1
        runs = np.concatenate([[0], starts])
        self._ranges: tuple[np.ndarray, np.ndarray] | None = None
        if len(runs) == len(self.eids) and len(np.unique(self.eid_codes[runs])) == len(runs):
            first = np.empty(len(self.eids), dtype=np.int64)
            first[self.eid_codes[runs]] = runs
            last = np.empty(len(self.eids), dtype=np.int64)
            last[self.eid_codes[runs]] = np.concatenate([starts, [len(self.eid_codes)]])
            self._ranges = (first, last)
        #: rows merged in (see :meth:`merge`): current values of updated file rows (index: row
        #: position) and the rows appended after the file's (index (eid, id)); None: none yet
        self.patch: pd.DataFrame | None = None
        self.extra: pd.DataFrame | None = None
        self._like: pd.DataFrame | None = None
        pf = pq.ParquetFile(path)
        self._starts = np.cumsum(
            [0] + [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)])

    def __len__(self) -> int:
        return len(self.eid_codes)

    def rows_of(self, eid_codes: np.ndarray) -> np.ndarray:
        """Sorted positions of the rows of the sessions ``eid_codes`` (codes into ``eids``)."""
        eid_codes = np.asarray(eid_codes, dtype=np.int64)
        eid_codes = eid_codes[(eid_codes >= 0) & (eid_codes < len(self.eids))]
        if self._ranges is None:
            return np.flatnonzero(np.isin(self.eid_codes, eid_codes))
        first, last = self._ranges
        known = eid_codes[eid_codes < len(first)]
        parts = [np.arange(first[e], last[e]) for e in np.unique(known)]
        if len(self.eid_codes) > self.n_file:  # appended rows: few, scanned
            tail = np.flatnonzero(np.isin(self.eid_codes[self.n_file:], eid_codes))
            parts.append(tail + self.n_file)
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def first_ranks(self) -> np.ndarray:
        """For every path, QC code and default_revision flag, the smallest eid rank of a row
        with them (int32 max: none), shape (paths, 5, 2): list_datasets() finds each path's
        first session in ONE's order from it without a pass over the rows. Computed once (in
        chunks: small temporaries), again after a merge."""
        if self._first is None:
            rank, _ = self.eid_ranks()
            n_paths = len(self.paths)
            first = np.full(n_paths * 10 + 1, np.iinfo(np.int32).max, dtype=np.int32)
            step = 1 << 21
            for start in range(0, len(self), step):
                stop = min(start + step, len(self))
                path = self.path_codes[start:stop]
                key = path * 10 + self.qc_codes[start:stop].astype(np.int32) * 2
                if self.default_revision is not None:
                    key += self.default_revision[start:stop]
                key[path < 0] = n_paths * 10  # a null path: the spare last slot
                np.minimum.at(first, key, rank[self.eid_codes[start:stop]])
            self._first = first[:-1].reshape(n_paths, 5, 2)
        return self._first

    def eid_ranks(self) -> tuple[np.ndarray, np.ndarray]:
        """(rank of each eid in sorted order, eid code at each rank), computed once."""
        if self._ranks is None:
            by_rank = pc.sort_indices(pa.array(np.asarray(self.eids, dtype=object),
                                               type=pa.string())).to_numpy()
            rank = np.empty(len(self.eids), dtype=np.int32)
            rank[by_rank] = np.arange(len(self.eids), dtype=np.int32)
            self._ranks = (rank, by_rank.astype(np.int32))
        return self._ranks

    @classmethod
    def read(cls, path: str | os.PathLike[str], cancel: threading.Event | None = None
             ) -> DatasetCodes | None:
        """The codes of a datasets file; None when the file is not a modern (eid, id) table
        (legacy id pairs, a missing eid): queries then use the loaded frame. Raises
        InvalidTableError as read_table does, Cancelled when ``cancel`` is set."""
        path = Path(path)
        meta, nrows = read_metadata(path)
        if nrows == 0:
            return None
        try:
            schema = pq.read_schema(path)
            renames = _index_names(_pandas_meta(schema), path.stem)
            names = {renames.get(n, n) for n in schema.names}
            if not {"eid", "id", "rel_path"} <= names or "id_0" in names or "eid_0" in names:
                return None
            frame = _read_frame(path, list(CODE_COLUMNS), cancel)
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
            raise InvalidTableError(f"{path.name} could not be read ({_one_line(exc)}). Skipping"
                                    ) from None
        if not all(isinstance(frame[c].dtype, pd.CategoricalDtype) for c in ("eid", "rel_path")):
            return None
        if frame["eid"].isna().any():
            return None
        codes = cls(path, frame, meta)
        codes.first_ranks()  # ONE's (eid, id) order needs these; paid here, off the query path
        return codes

    def _parts(self, pos: np.ndarray, columns: list[str] | None) -> pa.Table:
        """The rows at sorted positions ``pos`` as one Arrow table, read row group by row
        group (only the groups holding them)."""
        dictionary = [n for n in _DICTIONARY_COLUMNS if n in pq.read_schema(self.path).names]
        pf = pq.ParquetFile(self.path, read_dictionary=dictionary or None)
        which = np.searchsorted(self._starts, pos, side="right") - 1
        if not len(pos):
            return pf.read_row_group(0, columns=columns, use_threads=False).slice(0, 0)
        parts = []
        for k in np.unique(which):
            local = pos[which == k] - self._starts[k]
            # batch by batch, stopping after the last row wanted: a row group is decoded only
            # up to there (half of it on average; a session's details cost ~2x less)
            start = 0
            for batch in pf.iter_batches(batch_size=_BATCH, row_groups=[int(k)],
                                         columns=columns, use_threads=False):
                end = start + batch.num_rows
                here = local[(local >= start) & (local < end)] - start
                if len(here):
                    parts.append(pa.Table.from_batches([batch.take(pa.array(here))]))
                start = end
                if start > local[-1]:
                    break
        return pa.concat_tables(parts)

    def ids(self, pos: np.ndarray) -> list[str]:
        """The dataset ids of the rows at ``pos`` (any order); the few read are remembered
        (the file's ids never change under these codes)."""
        wanted = [int(p) for p in pos]
        missing = np.array(sorted({p for p in wanted if p < self.n_file} - self._ids.keys()),
                           dtype=np.int64)
        if len(missing):
            schema = pq.read_schema(self.path)
            renames = _index_names(_pandas_meta(schema), self.path.stem)
            field = next(n for n in schema.names if renames.get(n, n) == "id")
            taken = self._parts(missing, [field]).column(0).to_pylist()
            self._ids.update(zip(missing.tolist(), map(str, taken), strict=True))
        extra = (self.extra.index.get_level_values("id") if self.extra is not None else None)
        return [self._ids[p] if p < self.n_file else str(extra[p - self.n_file])
                for p in wanted]

    def _file_rows(self, pos: np.ndarray) -> tuple[pd.DataFrame, pd.Index]:
        """(data columns but ``rel_path``, ids) of file rows at sorted ``pos``, in the loaded
        frame's dtypes, merged updates applied."""
        table = self._parts(pos, None)
        pmeta = _pandas_meta(pq.read_schema(self.path))
        renames = _index_names(pmeta, self.path.stem)
        extension = _extension_dtypes(pmeta)
        data: dict[str, Any] = {}
        ids = None
        for name in table.schema.names:
            col = renames.get(name, name)
            if col == "eid":
                continue
            arrow = table.column(name)
            if name in extension:
                series = pd.Series(extension[name].__from_arrow__(arrow))
            elif col == "rel_path":  # placeholder: taken from the codes by rows()
                series = pd.Series(pd.Categorical.from_codes(
                    np.full(len(pos), -1), dtype=self.path_dtype))
            else:
                if pa.types.is_string(arrow.type):
                    arrow = arrow.cast(pa.large_string())
                series = arrow.to_pandas()
            if col == "id":
                ids = pd.Index(series.array, name="id")
                continue
            data[col] = series
        df = _patch_columns(pd.DataFrame(data, copy=False), self.meta)
        if self.patch is not None and len(pos):
            hit = self.patch.index.get_indexer(pos)
            sel = np.flatnonzero(hit >= 0)
            if len(sel):
                for col in self.patch.columns:
                    values = df[col].copy()
                    values.iloc[sel] = self.patch[col].iloc[hit[sel]].array
                    df[col] = values
        return df, ids

    def rows(self, pos: np.ndarray) -> pd.DataFrame:
        """The rows at sorted positions ``pos`` as the loaded frame would give them
        (``frame.iloc[pos]``): same columns, dtypes, categories and (eid, id) index."""
        pos = np.asarray(pos, dtype=np.int64)
        in_file = pos[pos < self.n_file]
        added = pos[pos >= self.n_file] - self.n_file
        df, ids = self._file_rows(in_file)
        if len(added):
            more = self.extra.iloc[added]
            df = pd.concat([df, more.reset_index(drop=True)], ignore_index=True)
            ids = pd.Index(np.concatenate([np.asarray(ids, dtype=object),
                                           np.asarray(more.index.get_level_values("id"),
                                                      dtype=object)]),
                           dtype=ids.dtype, name="id")
        if "rel_path" in df.columns:
            df["rel_path"] = pd.Categorical.from_codes(self.path_codes[pos],
                                                       dtype=self.path_dtype)
        index = pd.MultiIndex(levels=[self.eids, ids], codes=[self.eid_codes[pos],
                                                               np.arange(len(pos))],
                              names=["eid", "id"], verify_integrity=False)
        return df.set_axis(index, axis=0)

    # -- merges -----------------------------------------------------------------------------
    def merge(self, new: pd.DataFrame) -> bool:
        """Merge new rows as ``_merge_frames`` would merge them into the loaded frame (matched
        (eid, id) rows updated where the new value is not NA, the others appended in order),
        on the codes and the few rows concerned. False, with nothing changed, when that merge
        would not be the big-table merge or would change a column's dtype: the caller loads
        the frame then."""
        if len(self) <= LARGE_TABLE:
            return False
        if self._like is None:
            self._like = self.rows(np.zeros(0, dtype=np.int64))
        like = self._like
        new = _prepare_new(like, new, "datasets")
        if list(new.columns) != list(like.columns) or "rel_path" not in like.columns:
            return False
        if any(new[c].dtype != like[c].dtype for c in like.columns if c != "rel_path"):
            return False
        for name in ("eid_codes", "path_codes", "qc_codes", "exists", "default_revision"):
            array = getattr(self, name)
            if array is not None and not array.flags.writeable:  # a view of Arrow memory
                setattr(self, name, array.copy())
        self._first = None
        pos, src_rows = self._matches(new)
        matched = np.zeros(len(new), dtype=bool)
        if len(pos):
            matched[src_rows] = True
            self._update(pos, new.iloc[src_rows])
        rest = new[~matched]
        if len(rest):
            self._append(rest)
        return True

    def _matches(self, new: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(rows matching new rows on (eid, id), the new row each matches), as _matches."""
        new_eids = [str(e) for e in new.index.get_level_values("eid")]
        new_ids = [str(i) for i in new.index.get_level_values("id")]
        keys = {key: k for k, key in enumerate(zip(new_eids, new_ids, strict=True))}
        wanted = self.eids.get_indexer(sorted(set(new_eids)))
        wanted = wanted[wanted >= 0]
        none = np.zeros(0, dtype=np.int64)
        if not len(wanted):
            return none, none
        rows = self.rows_of(wanted)
        eids = [str(e) for e in self.eids.take(self.eid_codes[rows])]
        hit = np.fromiter((keys.get(key, -1) for key in zip(eids, self.ids(rows), strict=True)),
                          dtype=np.int64, count=len(rows))
        found = hit >= 0
        return rows[found], hit[found]

    def _add_paths(self, values: pd.Series) -> None:
        """Extend the path categories as _with_categories does (sorted new values)."""
        missing = sorted(set(values.dropna().astype(str)) - set(self.path_dtype.categories))
        if missing:
            cats = self.path_dtype.categories.append(pd.Index(missing,
                                                              dtype=self.path_dtype.categories.dtype))
            self.path_dtype = pd.CategoricalDtype(cats, ordered=self.path_dtype.ordered)
            self.paths = np.asarray(cats, dtype=object)

    def _set_codes(self, pos: np.ndarray, rows: pd.DataFrame) -> None:
        """The per-row codes of ``pos`` from frame-typed rows."""
        paths = rows["rel_path"].astype(object)
        self.path_codes[pos] = self.path_dtype.categories.get_indexer(paths)
        if "qc" in rows.columns:
            self.qc_codes[pos] = _qc_lookup(QC_CATEGORIES)[np.asarray(rows["qc"].cat.codes)]
        if "exists" in rows.columns:
            self.exists[pos] = rows["exists"].fillna(False).to_numpy(dtype=bool)
        if self.default_revision is not None and "default_revision" in rows.columns:
            self.default_revision[pos] = rows["default_revision"].fillna(False).to_numpy(
                dtype=bool)

    def _update(self, pos: np.ndarray, src: pd.DataFrame) -> None:
        old = self.rows(pos)
        current = {}
        for col in old.columns:
            fresh = src[col].reset_index(drop=True)
            before = old[col].reset_index(drop=True)
            merged = fresh.where(fresh.notna(), before)
            changed = np.array([not _same(a, b) for a, b in zip(merged, before, strict=True)],
                               dtype=bool)
            if col == "rel_path":
                if changed.any():
                    self._add_paths(merged)
                current[col] = before.astype(object).where(~changed, merged.astype(object))
                continue
            value = before.copy()
            if changed.any():
                value.iloc[np.flatnonzero(changed)] = merged[changed].to_numpy()
            current[col] = value
        rows = pd.DataFrame(current, copy=False)
        self._set_codes(pos, rows)
        data = rows.drop(columns="rel_path")
        in_file = pos < self.n_file
        if in_file.any():
            part = data[in_file].set_axis(pd.Index(pos[in_file]), axis=0)
            if self.patch is None:
                self.patch = part
            else:
                kept = self.patch[~self.patch.index.isin(part.index)]
                self.patch = pd.concat([kept, part])
        if (~in_file).any():
            where = pos[~in_file] - self.n_file
            for col in data.columns:
                values = self.extra[col].copy()
                values.iloc[where] = data[col][~in_file].array
                self.extra[col] = values

    def _append(self, rest: pd.DataFrame) -> None:
        eids = pd.Index([str(e) for e in rest.index.get_level_values("eid")])
        extra = eids[self.eids.get_indexer(eids) < 0].unique()
        if len(extra):
            self.eids = self.eids.append(pd.Index(extra, dtype=self.eids.dtype))
            self._ranks = None
            self._first = None
        self._add_paths(rest["rel_path"])
        n = len(self)
        pos = np.arange(n, n + len(rest))
        self.eid_codes = np.concatenate([self.eid_codes,
                                         self.eids.get_indexer(eids).astype(np.int32)])
        self.path_codes = np.concatenate([self.path_codes, np.full(len(rest), -1, np.int32)])
        self.qc_codes = np.concatenate([self.qc_codes, np.zeros(len(rest), np.int8)])
        self.exists = np.concatenate([self.exists, np.ones(len(rest), bool)])
        if self.default_revision is not None:
            self.default_revision = np.concatenate([self.default_revision,
                                                    np.zeros(len(rest), bool)])
        self._set_codes(pos, rest)
        rows = rest.drop(columns="rel_path")
        self.extra = rows if self.extra is None else pd.concat([self.extra, rows])


def _patch_columns(df: pd.DataFrame, meta: dict) -> pd.DataFrame:
    """patch_table's column fixes (qc, file_size) for rows already indexed by the caller."""
    rows = pd.Index(np.arange(len(df), dtype=np.int64))  # not a RangeIndex: no index is set
    return patch_table(df.set_axis(rows, axis=0), meta).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Writing


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
    if _ID_COLUMN.fullmatch(name):
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


def _origins(*values: Any) -> list[str]:
    """Origins (strings, lists or sets) as one list in first-seen order, without repeats."""
    out: list[str] = []
    for value in values:
        items = [value] if isinstance(value, str) else sorted(value) if isinstance(
            value, set) else list(value or [])
        for item in items:
            if item and str(item) not in out:
                out.append(str(item))
    return out


def _fsync_replace(tmp: Path, dest: Path) -> None:
    """fsync a finished temporary file and move it over ``dest`` atomically."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, dest)
    try:  # make the rename durable too; not possible on every platform
        dfd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save_table(df: pd.DataFrame, path: str | os.PathLike[str], metadata: dict) -> None:
    """Write a table in ONE's format, atomically (temporary file in the same folder + replace).

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
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        dictionary = [n for n in table.column_names if n not in _PLAIN_COLUMNS]
        pq.write_table(table, tmp, use_dictionary=dictionary, row_group_size=ROW_GROUP_SIZE)
        _fsync_replace(tmp, path)
    except PermissionError:
        tmp.unlink(missing_ok=True)
        raise ReadOnlyCacheError(f"Cache directory is read-only: {path.parent}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# The Cache


def _parse_created(meta: dict) -> datetime | None:
    try:
        return datetime.strptime(str(meta.get("date_created"))[:16], DATE_FORMAT)
    except ValueError:
        try:
            return datetime.fromisoformat(str(meta.get("date_created"))).replace(tzinfo=None)
        except ValueError:
            return None


class Cache:
    """The tables of one folder: ``sessions`` eagerly, ``datasets`` on first access.

    ``meta`` mirrors ONE 2.x's ``_meta``; ``warnings`` collects one line per skipped file.
    ``on_warning``, when set, also gets each warning as it happens: the deferred ``datasets``
    read finds a corrupt file long after load time, when nobody looks at ``warnings``.
    """

    def __init__(self, tables_dir: str | os.PathLike[str],
                 cache_expiry: timedelta = timedelta(hours=24)) -> None:
        self.tables_dir = Path(tables_dir)
        self.warnings: list[str] = []
        self.on_warning: Callable[[str], None] | None = None
        self.row_counts: dict[str, int] = {}
        self._tables: dict[str, pd.DataFrame] = {}
        self._pending: dict[str, Path] = {}
        self._modified: set[str] = set()
        self._file_stats: dict[str, tuple[int, int]] = {}  # what was read: (mtime_ns, size)
        #: tables found on disk that could not be read: {name: why}. Never written over.
        self.unreadable: dict[str, str] = {}
        self._sources: dict[str, Path] = {}  # the file each table was read from
        #: the datasets file as codes while its rows are not loaded (see ``for_query``)
        self._codes: DatasetCodes | None = None
        #: the datasets merged into the codes, in order: replayed onto the frame when it loads
        self._deltas: list[pd.DataFrame] = []
        self.meta: dict[str, Any] = {
            "created_time": None, "loaded_time": None, "expired": True, "raw": {},
            "modified_time": None, "saved_time": None, "cache_expiry": cache_expiry,
        }

    @property
    def _meta(self) -> dict[str, Any]:
        """ONE's spelling of ``meta`` (``one._cache._meta`` in ONE's modes page): the same dict."""
        return self.meta

    # -- table access -------------------------------------------------------------------------
    def _warn(self, message: str) -> None:
        message = shown(message, limit=500)  # file names in a shared folder can hold anything
        log.warning(message)
        self.warnings.append(message)
        if self.on_warning is not None:
            self.on_warning(message)

    def table(self, name: str) -> pd.DataFrame:
        """A table by name, reading it now if it was deferred; empty if there is none."""
        if name not in self._tables and name in self._pending:
            path = self._pending.pop(name)
            try:
                stat = _stat(path)  # before the read: a later change makes the save merge
                df, meta = read_table(path)
                self.meta["raw"][name] = meta
                self.row_counts[name] = len(df)
                self._file_stats[name] = stat
                self._sources[name] = path
                self.unreadable.pop(name, None)
            except (InvalidTableError, KeyError, OSError) as exc:
                message = (str(exc) if isinstance(exc, InvalidTableError)
                           else f"{path.name} could not be read ({_one_line(exc)}). Skipping")
                self._warn(message)
                self._mark_unreadable(name, message)
                df = empty_table(name)
            if name == "datasets":
                # rows merged into the codes meanwhile, merged again in the same order
                for new in self._deltas:
                    df = _merge_frames(df, new, name)
                    if "rel_path" in df.columns and df["rel_path"].dtype != "category":
                        df["rel_path"] = df["rel_path"].astype("category")
                if self._deltas:
                    self.row_counts[name] = len(df)
                self._deltas = []
                self._codes = None  # the frame answers from now on (and takes merges)
            self._tables[name] = df
        if name not in self._tables:
            self._tables[name] = empty_table(name)
        return self._tables[name]

    def datasets_for_query(self) -> pd.DataFrame | DatasetCodes:
        """The datasets table as a query reads it: the loaded frame when there is one, else the
        file's codes (read now if needed: a few bytes a row, no pandas rows). A table the codes
        cannot describe (legacy, corrupt) is loaded as a frame, with its warning."""
        if "datasets" in self._tables or "datasets" not in self._pending:
            return self.datasets
        if self._codes is None:
            codes = self.read_dataset_codes()
            if codes is None:
                return self.datasets
            self._codes = codes
        return self._codes

    def read_dataset_codes(self, cancel: threading.Event | None = None
                           ) -> DatasetCodes | None:
        """Read the pending datasets file as codes without keeping them (``adopt_codes`` does);
        None when there is nothing to read that way or the file is bad (the frame load then
        reports it). Safe outside the caller's lock: it only reads the file. Raises Cancelled."""
        path = self._pending.get("datasets")
        if path is None or "datasets" in self._tables:
            return None
        try:
            return DatasetCodes.read(path, cancel)
        except (InvalidTableError, OSError):
            return None

    def adopt_codes(self, codes: DatasetCodes | None) -> bool:
        """Keep codes read by ``read_dataset_codes`` (e.g. in a background worker) if the table
        is still unloaded and from that file; True when the datasets are ready to query."""
        if "datasets" in self._tables or self._codes is not None:
            return True
        if codes is None or self._pending.get("datasets") != codes.path:
            return False
        self._codes = codes
        return True

    def _merge_codes(self, new: pd.DataFrame) -> bool:
        """Merge new datasets rows into the codes when the frame is not loaded (see
        DatasetCodes.merge); False when the frame must take them."""
        codes = self._codes
        if codes is None or "datasets" in self._tables or "datasets" not in self._pending:
            return False
        if not codes.merge(new):
            return False
        self._deltas.append(new.copy())
        return True

    def datasets_ready(self) -> bool:
        """True when a dataset query answers without reading the file first."""
        return ("datasets" in self._tables or self._codes is not None
                or "datasets" not in self._pending)

    def _mark_unreadable(self, name: str, why: str) -> None:
        """Remember that the file of ``name`` exists but was not read: a save must not replace
        it with what this Cache holds (it never saw the rows in it)."""
        self.unreadable[name] = why
        self._file_stats.pop(name, None)
        self.meta["raw"].pop(name, None)
        self.row_counts.pop(name, None)
        self._update_times()

    def is_loaded(self, name: str) -> bool:
        """True once a table is in memory (``datasets`` stays unloaded until first used)."""
        return name in self._tables

    @property
    def table_names(self) -> list[str]:
        """Names of the tables found on disk or merged in memory."""
        return sorted(set(self._pending) | set(self._tables) | set(self.meta["raw"]))

    @property
    def sessions(self) -> pd.DataFrame:
        return self.table("sessions")

    @sessions.setter
    def sessions(self, df: pd.DataFrame) -> None:
        self._tables["sessions"] = df

    @property
    def datasets(self) -> pd.DataFrame:
        return self.table("datasets")

    @datasets.setter
    def datasets(self, df: pd.DataFrame) -> None:
        self._pending.pop("datasets", None)
        self._codes = None
        self._deltas = []
        self._tables["datasets"] = df

    @property
    def insertions(self) -> pd.DataFrame:
        return self.table("insertions")

    @insertions.setter
    def insertions(self, df: pd.DataFrame) -> None:
        self._pending.pop("insertions", None)
        self._tables["insertions"] = df

    @property
    def has_insertions(self) -> bool:
        """True when an insertions table exists on disk or was merged in memory."""
        return "insertions" in self._pending or (
            "insertions" in self._tables and "insertions" in self.meta["raw"])

    # -- _meta --------------------------------------------------------------------------------
    def _update_times(self) -> None:
        created = [t for t in map(_parse_created, self.meta["raw"].values()) if t is not None]
        self.meta["created_time"] = min(created) if created else None
        self.meta["expired"] = self.is_expired()

    def is_expired(self, now: datetime | None = None) -> bool:
        """ONE 2.x rule: no tables, or the oldest table is older than ``cache_expiry``."""
        created = self.meta["created_time"]
        if created is None:
            return True
        return (now or datetime.now()) - created > self.meta["cache_expiry"]

    def __repr__(self) -> str:
        tables = ", ".join(f"{n}={self.row_counts.get(n, '?')}" for n in self.table_names)
        return f"<Cache {self.tables_dir} ({tables or 'no tables'})>"


_DEFERRED = {"datasets"}


def load_cache(tables_dir: str | os.PathLike[str],
               cache_expiry: timedelta = timedelta(hours=24)) -> Cache:
    """Load every ``*.pqt`` of a folder; ``datasets`` is deferred until first accessed.

    A missing folder gives an empty (expired) cache; an unreadable one raises CacheDirError. A file
    that is not a ONE table, or is corrupt, is skipped with a warning (never deleted).
    """
    cache = Cache(tables_dir, cache_expiry)
    folder = cache.tables_dir
    if not folder.exists():
        return cache
    try:  # every *.pqt name, as ONE's glob sees them: a symlink loop or a folder is a table
        files = sorted(p for p in folder.iterdir() if p.name.endswith(".pqt"))  # we cannot read
    except OSError as exc:
        raise CacheDirError(
            f"Cache directory not accessible: {folder} ({exc.strerror or exc}). Please provide "
            "valid tables_dir / cache_dir kwargs or run ONE.setup to update the default directory."
        ) from None
    names = {p.name[:-4] for p in files}
    for name in PRIVATE_TABLES:  # one-tui's own copy, when ONE has none of that table
        private = folder / PRIVATE_DIR / f"{name}.pqt"
        if name not in names and private.is_file():
            files.append(private)
    for path in files:
        name = path.name[:-4]
        try:
            meta, nrows = read_metadata(path)
        except (InvalidTableError, OSError) as exc:
            message = str(exc) if isinstance(exc, InvalidTableError) else (
                f"{path.name} could not be read ({_one_line(exc)}). Skipping")
            cache._warn(message)
            cache._mark_unreadable(name, message)
            continue
        cache.meta["raw"][name] = meta
        cache.row_counts[name] = nrows
        cache._pending[name] = path
        if name not in _DEFERRED:
            cache.table(name)
    if cache.meta["raw"]:
        cache.meta["loaded_time"] = datetime.now()
    cache._update_times()
    return cache


# ---------------------------------------------------------------------------------------------
# Merging and saving


def _as_indexed(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Index a frame of new records like the table it goes into."""
    names = INDEX.get(name, ["id"])
    if isinstance(df.index, pd.RangeIndex) or list(df.index.names) != names:
        if isinstance(df.index, pd.RangeIndex):
            df = df.set_index(names)
        else:
            df = df.reset_index().set_index(names)
    return df


def _prepare_new(existing: pd.DataFrame, new: pd.DataFrame, name: str) -> pd.DataFrame:
    """New records indexed, de-duplicated, with the existing table's columns and dtypes."""
    new = _as_indexed(new.copy(), name)
    new = new[~new.index.duplicated(keep="last")]
    if "qc" in new.columns:
        new["qc"] = qc_categorical(new["qc"])  # a Series keeps the categorical fast path
    if "date" in new.columns:  # REST gives 'YYYY-MM-DD' strings; tables hold datetime.date
        days = pd.to_datetime(new["date"], errors="coerce")
        new["date"] = pd.Series([d.date() if pd.notna(d) else None for d in days],
                                index=new.index, dtype=object)
    if len(existing.columns):
        for col in existing.columns:
            if col not in new.columns:
                fill = new["exists"] if col.startswith("exists_") and "exists" in new else pd.NA
                new[col] = fill
        new = new[list(existing.columns)]
        for col in existing.columns:
            new[col] = _cast_like(new[col], existing[col])
    return new


#: Above this many rows a merge updates in place and appends, instead of ONE's full re-sort
#: (sorting 1.5M string ids costs seconds and doubles memory).
LARGE_TABLE = 100_000


def _merge_frames(existing: pd.DataFrame, new: pd.DataFrame, name: str) -> pd.DataFrame:
    """ONE's merge: new rows appended, existing rows updated with new non-NA values."""
    new = _prepare_new(existing, new, name)
    if len(existing) == 0:
        return new.sort_index()
    if (len(existing) > LARGE_TABLE and isinstance(existing.index, pd.MultiIndex)
            and "id" in existing.index.names):
        return _merge_large(existing, new)
    # big.isin(small) hashes the few new keys; new.index.isin(existing.index) would hash the
    # whole table (pandas turns every Arrow string into a Python object: 120 ms at 20k sessions)
    replaced = existing.index.isin(new.index)
    overlap = np.asarray(new.index.isin(existing.index[replaced]))
    if overlap.any():
        updated = new[overlap]
        old = existing.loc[updated.index]
        new = pd.concat([updated.where(updated.notna(), old), new[~overlap]])
    kept = existing[~replaced]
    return pd.concat([kept, new]).sort_index()


def _arrow_chunks(values: pd.Series | pd.Index) -> pa.ChunkedArray | None:
    """The Arrow data behind a pyarrow-backed string column or index, else None."""
    arr = values.array
    if not isinstance(arr, pd.arrays.ArrowStringArray):
        return None
    try:
        data = arr.__arrow_array__()
    except (pa.ArrowException, TypeError):
        return None
    return data if isinstance(data, pa.ChunkedArray) else pa.chunked_array([data])


def _index_in(index: pd.Index, values: list[str]) -> np.ndarray:
    """For every index value, its position in the small list ``values`` (-1: absent).

    Only ``values`` is hashed (by Arrow when the index is Arrow strings): hashing 1.5M ids
    would cost far more than the scan.
    """
    data = _arrow_chunks(index)
    if data is not None:
        try:
            found = pc.index_in(data, value_set=pa.array(values, type=data.type))
            return np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=np.int64)
        except (pa.ArrowException, TypeError):
            pass
    return pd.Index(values).get_indexer(index.astype(object))


def _chunk_of(data: pa.ChunkedArray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(chunk number, chunk start) of each sorted row position."""
    starts = np.cumsum([0] + [len(c) for c in data.chunks])
    which = np.searchsorted(starts, pos, side="right") - 1
    return which, starts


def _level_values(level: pd.Index, pos: np.ndarray) -> list[str]:
    """``level[pos]`` as str for a few positions in any order, chunk by chunk for Arrow data."""
    data = _arrow_chunks(level)
    if data is None or data.num_chunks <= 1 or len(pos) == 0:
        return [str(v) for v in level.take(pos)]
    order = np.argsort(pos, kind="stable")
    taken = _take_few(pd.Series(level.array), pos[order]).tolist()
    out: list[str] = [""] * len(pos)
    for o, v in zip(order, taken, strict=True):
        out[o] = str(v)
    return out


def _matches(mi: pd.MultiIndex, new: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(rows of a big (eid, id) table, the new row each one matches), on the whole key as
    ONE's merge. Only the rows of the new rows' sessions are looked at: the eid codes find them
    in one gather, and no id of the 1.5M is hashed or scanned."""
    i_eid, i_id = mi.names.index("eid"), mi.names.index("id")
    new_eids = [str(e) for e in new.index.get_level_values("eid")]
    new_ids = [str(i) for i in new.index.get_level_values("id")]
    keys = {key: k for k, key in enumerate(zip(new_eids, new_ids, strict=True))}
    wanted = _index_in(mi.levels[i_eid], sorted(set(new_eids))) >= 0
    none = np.zeros(0, dtype=np.int64)
    if not wanted.any():
        return none, none
    eid_codes, id_codes = np.asarray(mi.codes[i_eid]), np.asarray(mi.codes[i_id])
    rows = np.flatnonzero(wanted[eid_codes])
    eids = _level_values(mi.levels[i_eid], eid_codes[rows])
    ids = _level_values(mi.levels[i_id], id_codes[rows])
    hit = np.fromiter((keys.get(key, -1) for key in zip(eids, ids, strict=True)),
                      dtype=np.int64, count=len(rows))
    found = hit >= 0
    return rows[found], hit[found]


def _take_few(col: pd.Series, pos: np.ndarray) -> pd.Series:
    """``col.iloc[pos]`` (RangeIndex) for a few sorted positions; Arrow columns are taken chunk
    by chunk (Arrow's take on a chunked string array first concatenates all of it: 50 ms)."""
    data = _arrow_chunks(col)
    if data is None or data.num_chunks <= 1 or len(pos) == 0:
        return col.iloc[pos].reset_index(drop=True)
    which, starts = _chunk_of(data, pos)
    parts = [data.chunk(k).take(pa.array(pos[which == k] - starts[k])) for k in np.unique(which)]
    taken = pa.chunked_array(parts, type=data.type)
    return pd.Series(type(col.array)(taken, dtype=col.dtype))


def _put_few(col: pd.Series, pos: np.ndarray, values: pd.Series) -> Any:
    """``col`` with the sorted rows ``pos`` set to ``values``; an Arrow column rebuilds only the
    chunks those rows are in. Returns the new column's array (None: not an Arrow column)."""
    data = _arrow_chunks(col)
    if data is None:
        return None
    which, starts = _chunk_of(data, pos)
    fresh = pa.array(values.to_numpy(dtype=object), type=data.type, from_pandas=True)
    chunks = list(data.chunks)
    for k in np.unique(which):
        here = which == k
        mask = np.zeros(len(chunks[k]), dtype=bool)
        mask[pos[here] - starts[k]] = True
        chunks[k] = pc.replace_with_mask(chunks[k], pa.array(mask),
                                         fresh.filter(pa.array(here)))
    return type(col.array)(pa.chunked_array(chunks, type=data.type), dtype=col.dtype)


def _same(a: Any, b: Any) -> bool:
    """Equal values, NA equal to NA (anything not comparable counts as changed)."""
    try:
        a_na, b_na = pd.isna(a), pd.isna(b)
        if a_na or b_na:
            return bool(a_na and b_na)
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _with_categories(col: pd.Series, values: pd.Series) -> pd.Series:
    """A categorical column extended with the categories ``values`` need (QC is fixed)."""
    if not isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == QC_DTYPE:
        return col
    missing = sorted(set(values.dropna().astype(str)) - set(col.cat.categories))
    return col.cat.add_categories(missing) if missing else col


def _merge_large(existing: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Merge into a big (eid, id) table: matched rows are updated in place (only the values that
    changed), the others are appended (table order is kept; only the new rows are hashed)."""
    mi = existing.index
    i_eid, i_id = mi.names.index("eid"), mi.names.index("id")
    id_level = mi.levels[i_id]
    pos, src_rows = _matches(mi, new)
    out = existing.copy(deep=False)
    matched = np.zeros(len(new), dtype=bool)
    if len(pos):
        matched[src_rows] = True
        src = new.iloc[src_rows]
        for j, col in enumerate(out.columns):
            fresh = src[col].reset_index(drop=True)
            old = _take_few(out[col], pos)
            merged = fresh.where(fresh.notna(), old)
            changed = np.array([not _same(a, b) for a, b in zip(merged, old, strict=True)],
                               dtype=bool)
            if not changed.any():  # an answer merged again: nothing to rewrite
                continue
            out[col] = _with_categories(out[col], merged)
            rows, values = pos[changed], merged[changed]
            arrow = _put_few(out[col], rows, values)
            if arrow is not None:
                out[col] = arrow
            else:
                out.iloc[rows, j] = values.to_numpy()
    rest = new[~matched]
    if len(rest) == 0:
        return out
    eids = pd.Index([str(e) for e in rest.index.get_level_values("eid")])
    eid_level = mi.levels[i_eid]
    extra = eids[eid_level.get_indexer(eids) < 0].unique()
    eid_level = eid_level.append(pd.Index(extra, dtype=eid_level.dtype))
    ids = rest.index.get_level_values("id").astype(id_level.dtype)
    levels, codes = list(mi.levels), list(mi.codes)
    levels[i_eid], levels[i_id] = eid_level, id_level.append(pd.Index(ids))
    codes[i_eid] = np.concatenate([mi.codes[i_eid], eid_level.get_indexer(eids)])
    codes[i_id] = np.concatenate([mi.codes[i_id],
                                  np.arange(len(id_level), len(id_level) + len(rest))])
    index = pd.MultiIndex(levels=levels, codes=codes, names=mi.names, verify_integrity=False)
    columns = {}
    for col in out.columns:
        a = _with_categories(out[col], rest[col])
        b = rest[col].astype(a.dtype) if isinstance(a.dtype, pd.CategoricalDtype) else rest[col]
        columns[col] = pd.concat([a.reset_index(drop=True), b.reset_index(drop=True)],
                                 ignore_index=True)
    return pd.DataFrame(columns, copy=False).set_axis(index, axis=0)


def _cast_like(values: pd.Series, like: pd.Series) -> pd.Series:
    """Cast new values to an existing column's dtype (categorical paths add categories)."""
    if isinstance(like.dtype, pd.CategoricalDtype):
        if like.dtype == QC_DTYPE:
            return pd.Series(qc_categorical(values), index=values.index)
        return values.astype(object)
    try:
        return values.astype(like.dtype)
    except (TypeError, ValueError):
        return values


def merge_tables(cache: Cache, origin: str | None = None, sessions: pd.DataFrame | None = None,
                 datasets: pd.DataFrame | None = None,
                 insertions: pd.DataFrame | None = None) -> None:
    """Merge new records (e.g. from Alyx) into the cache tables in memory (ONE §2.8)."""
    now = datetime.now()
    for name, new in (("sessions", sessions), ("datasets", datasets), ("insertions", insertions)):
        if new is None:
            continue
        if name == "datasets" and cache._merge_codes(new):
            cache.row_counts[name] = len(cache._codes)
        else:
            merged = _merge_frames(cache.table(name), new, name)
            if "rel_path" in merged.columns and merged["rel_path"].dtype != "category":
                merged["rel_path"] = merged["rel_path"].astype("category")
            cache._tables[name] = merged
            cache._pending.pop(name, None)
            cache.row_counts[name] = len(merged)
        cache._modified.add(name)
        raw = cache.meta["raw"].setdefault(
            name, {"date_created": now.strftime(DATE_FORMAT), "origin": []})
        if origin:  # the table's own origin first (see file_origin), REST origins after it
            raw["origin"] = _origins(raw.get("origin"), origin)
    cache.meta["modified_time"] = now
    cache._update_times()


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def _earliest(a: dict, b: dict) -> str | None:
    times = [(t, m["date_created"]) for m in (a, b) if (t := _parse_created(m)) is not None]
    return min(times)[1] if times else None


#: A table's temporary file untouched this long was left by a save that was killed.
STALE_TEMP = timedelta(minutes=10)


def _remove_stale_temps(folder: Path) -> None:
    """Delete ``<table>.pqt.tmp-*`` files left by killed saves (each as big as its table).
    Called under the lock, so no live save of ours is writing one; the age spares a writer on
    another host whose lock was broken as stale."""
    cutoff = (datetime.now() - STALE_TEMP).timestamp()
    for path in [*folder.glob("*.pqt.tmp-*"), *(folder / PRIVATE_DIR).glob("*.pqt.tmp-*")]:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


#: Tables save_cache writes beside ONE's. ``insertions.pqt`` is not among them: ONE 3.6.1's
#: save_cache merges its memory into the tables on disk and then looks every disk table up in
#: its own metadata, so an insertions.pqt it did not load (ONE 3.x starts in remote mode with
#: no tables) raises ``KeyError: 'insertions'`` (and one it holds that the disk lacks raises
#: ``KeyError: 'Table "insertions" not in cache'``). one-tui keeps the insertions it merged in
#: ``PRIVATE_DIR/insertions.pqt``, out of ONE's ``*.pqt`` glob (which is not recursive).
SAVED_TABLES = ("sessions", "datasets", "insertions")
#: Seconds a save waits for another program's lock before giving up (tables stay modified).
SAVE_LOCK_TIMEOUT = 10.0
PRIVATE_DIR = ".one-tui"
PRIVATE_TABLES = ("insertions",)


def table_path(folder: Path, name: str) -> Path:
    """Where save_cache writes table ``name`` in ``folder``."""
    return folder / PRIVATE_DIR / f"{name}.pqt" if name in PRIVATE_TABLES else \
        folder / f"{name}.pqt"


def _exists(path: Path) -> bool:
    """A name is taken (a broken or looping symlink counts: it is not ours to replace)."""
    return os.path.lexists(path)


def _save_one(cache: Cache, name: str, folder: Path, now: datetime) -> str | None:
    """Write one table merged with the file on disk; the reason when it was refused."""
    df = cache._tables[name]
    meta = dict(cache.meta["raw"].get(name, {}))
    path = table_path(folder, name)
    ours = folder == cache.tables_dir and cache._sources.get(name) == path
    path.parent.mkdir(exist_ok=True)
    if _exists(path):
        try:
            same_file = (ours and name not in cache.unreadable
                         and cache._file_stats.get(name) == _stat(path))
        except OSError:
            same_file = False
        if not same_file:  # changed on disk since we read it, or never read: merge with it
            try:
                disk, disk_meta = read_table(path)
            except (InvalidTableError, KeyError, OSError) as exc:
                why = str(exc) if isinstance(exc, InvalidTableError) else _one_line(exc)
                return why.removesuffix(". Skipping")
            df = _merge_frames(disk, df, name) if len(disk) else df
            meta["date_created"] = _earliest(meta, disk_meta) or meta.get("date_created")
            meta["origin"] = _origins(disk_meta.get("origin"), meta.get("origin"))
    meta["date_modified"] = now.strftime(DATE_FORMAT)
    save_table(df, path, meta)
    cache.meta["raw"][name] = meta
    if folder == cache.tables_dir:
        # memory now holds what the file holds: the next save may skip the merge only because
        # of that (a stat matching our own write used to drop the rows merged from disk)
        if df is not cache._tables[name]:
            if "rel_path" in df.columns and df["rel_path"].dtype != "category":
                df["rel_path"] = df["rel_path"].astype("category")
            cache._tables[name] = df
            cache.row_counts[name] = len(df)
        cache._file_stats[name] = _stat(path)
        cache._sources[name] = path
        if path.parent == folder:
            cache.unreadable.pop(name, None)
    return None


def save_cache(cache: Cache, save_dir: str | os.PathLike[str] | None = None) -> bool:
    """Write the tables changed since load/save, merged with what is on disk, under the lock.

    The rule: **a table file this Cache could not read is never written over.** Under the
    lock every changed table is merged with its file on disk (rows another program wrote since
    we read it survive); a file that cannot be read then (another user's, truncated, not a ONE
    table, a symlink loop, being unzipped) is left as it is and that table is not saved. Each
    refusal, and a lock held too long by another program, is one warning line (``warnings`` /
    ``on_warning``, which One shows as a notice). Tables refused stay modified in memory, so a
    later save tries again.

    Returns True when at least one table was written, False when there was nothing to save or
    nothing could be. A read-only folder raises ReadOnlyCacheError (a PermissionError).
    """
    modified = cache.meta["modified_time"]
    later = [t for t in (cache.meta["loaded_time"], cache.meta["saved_time"]) if t is not None]
    if modified is None or any(modified <= t for t in later):
        return False
    if "datasets" in cache._modified and cache._deltas:
        cache.table("datasets")  # rows merged into the codes: the file is written from a frame
    names = [n for n in sorted(cache._modified)
             if n in SAVED_TABLES and len(cache._tables.get(n, ())) > 0]
    if not names:
        return False
    folder = Path(save_dir or cache.tables_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise ReadOnlyCacheError(f"Cache directory is read-only: {folder}") from None
    if not os.access(folder, os.W_OK):
        raise ReadOnlyCacheError(f"Cache directory is read-only: {folder}")
    now = datetime.now()
    saved, refused = [], []
    try:
        with FileLock(folder, timeout=SAVE_LOCK_TIMEOUT):
            _remove_stale_temps(folder)
            for name in names:
                why = _save_one(cache, name, folder, now)
                if why is None:
                    saved.append(name)
                else:
                    refused.append(name)
                    cache._warn(f"{name}.pqt not saved: it could not be read ({why}); the file "
                                "on disk was left as it is")
    except LockTimeout as exc:
        cache._warn(f"tables not saved: {_one_line(exc)}; they stay in memory and the next "
                    "save tries again")
        return False
    cache._modified.difference_update(saved)
    if not refused:
        cache._modified.clear()
        cache.meta["saved_time"] = now
    cache._update_times()
    return bool(saved)
