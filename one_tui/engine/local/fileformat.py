"""ONE's cache table files, read: the format, its legacy patches and a low-memory reader.

This module exists so that what a ONE table file *is* lives in one place: the index as str UUID
columns named by the ``pandas`` metadata, ``one_metadata`` JSON in the Arrow schema metadata
(``date_created`` as ``DATE_FORMAT``), ``qc`` as an ordered dictionary column, ``date`` as
``date32``, the columns of an empty table. Legacy tables (ONE's own test fixtures) are patched on
load as ONE's ``patch_tables`` does. It changes when ONE's file format or the way a file is
decoded (column by column, Arrow's memory pool) changes; writing is ``filewrite``.
"""

from __future__ import annotations

import os
import sys

# Arrow's C++ readers take their buffers from the default pool chosen when pyarrow is first
# imported; jemalloc (with decay 0, see _prefer_jemalloc) keeps the resident size of a loaded
# 1.5M-row table near its data size. A user's own setting wins. Only on Linux, where the pyarrow
# wheels include jemalloc (elsewhere Arrow would print a warning about an unknown backend).
# ``cache`` imports this module before anything that imports pyarrow.
if sys.platform.startswith("linux"):
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from one_tui.engine.core.bounded import loads
from one_tui.engine.core.spec import QC_CATEGORIES, one_line
from one_tui.engine.local.repairs import UNKNOWN_QC, Repairs, binary_ids, qc_name, sizes

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
ID_COLUMN = re.compile(r".?id")


class InvalidTableError(ValueError):
    """A ``.pqt`` file that is not a ONE table (no ``one_metadata``) or cannot be read."""


class Cancelled(Exception):
    """A background read stopped by its ``cancel`` event (nothing was kept)."""


def _one_metadata(schema: pa.Schema) -> dict[str, Any] | None:
    """The ``one_metadata`` dict of a parquet schema, None if absent or not JSON."""
    raw = (schema.metadata or {}).get(b"one_metadata")
    if raw is None:
        return None
    try:
        meta = loads(raw)
    except ValueError:
        return None
    return meta if isinstance(meta, dict) and "date_created" in meta else None


def read_metadata(path: str | os.PathLike[str]) -> tuple[dict[str, Any], int]:
    """The ONE metadata and row count of a table file, reading only its footer."""
    path = Path(path)
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise InvalidTableError(f"{path.name} could not be read ({one_line(exc)}). Skipping"
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


def qc_categorical(values: Any, repairs: Repairs | None = None) -> pd.Categorical:
    """QC values given as names, ints or QC members as an ordered categorical; a value no QC
    level has is ``UNKNOWN_QC`` (counted in ``repairs``)."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype) and list(s.cat.categories) == QC_CATEGORIES:
        return pd.Categorical(s, dtype=QC_DTYPE)
    names = [qc_name(v) for v in s.astype(object)]
    if repairs is not None:
        repairs.add("qc", sum(n is None for n in names))
    return pd.Categorical([n or UNKNOWN_QC for n in names], dtype=QC_DTYPE)


def patch_table(df: pd.DataFrame, meta: dict[str, Any],
                repairs: Repairs | None = None) -> pd.DataFrame:
    """Bring a table read from disk to the current format (ONE's ``patch_tables``, §2.3), and
    its values to ONE's types (see ``Repairs``)."""
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
            df["file_size"] = sizes(df["file_size"], repairs)
    if "qc" in df.columns and df["qc"].dtype != QC_DTYPE:
        df["qc"] = qc_categorical(df["qc"], repairs)
    if repairs is not None:
        keys = [c for c in ("eid", "id") if c in df.columns]
        if keys:
            repairs.add("no key", int(df[keys].isna().any(axis=1).sum()))
    return _set_index(df)


def _set_index(df: pd.DataFrame) -> pd.DataFrame:
    """Index on the id columns (``id`` or ``eid, id``), sorted as ONE sorts them on load."""
    if not isinstance(df.index, pd.RangeIndex):
        return df
    cols = sorted(c for c in df.columns if ID_COLUMN.fullmatch(c))
    if not cols:
        raise KeyError("Failed to set index")
    df = df.set_index(cols)
    if not df.index.is_monotonic_increasing:
        df = df.sort_index()
    return df


DICTIONARY_COLUMNS = ("rel_path", "eid")  # few unique values over many rows


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


def pandas_meta(schema: pa.Schema) -> dict[str, Any]:
    """The ``pandas`` metadata pyarrow writes with ``Table.from_pandas`` (ONE and Alyx do), or
    an empty dict."""
    raw = (schema.metadata or {}).get(b"pandas")
    try:
        meta = loads(raw) if raw else {}
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


def index_names(pmeta: dict[str, Any], table: str) -> dict[str, str]:
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


def extension_dtypes(pmeta: dict[str, Any]) -> dict[str, Any]:
    """{column: pandas extension dtype} recorded in the pandas metadata."""
    out: dict[str, Any] = {}
    for col in pmeta.get("columns", []):
        if isinstance(col, dict) and col.get("numpy_type") in _EXTENSION_TYPES:
            out[str(col.get("field_name"))] = pd.api.types.pandas_dtype(col["numpy_type"])
    return out


def _column(pf: pq.ParquetFile, name: str, extension: Any, repairs: Repairs | None,
            cancel: threading.Event | None) -> pd.Series:
    """One column as ONE's ``to_pandas`` gives it, whatever type someone stored it as."""
    kind = pf.schema_arrow.field(name).type
    if (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)) and ID_COLUMN.fullmatch(
            name):
        return binary_ids(pf.read(columns=[name]).column(0), repairs)
    if extension is not None:
        arrow = pf.read(columns=[name]).column(0)
        try:
            return pd.Series(extension.__from_arrow__(arrow))
        except (TypeError, ValueError, pa.ArrowException):  # e.g. sizes stored as text
            return arrow.to_pandas()  # patch_table brings the values to ONE's type
    return _read_column(pf, name, cancel)


def read_frame(path: Path, columns: list[str] | None,
               cancel: threading.Event | None = None,
               repairs: Repairs | None = None) -> pd.DataFrame:
    """Read a parquet table column by column (low peak memory) into a RangeIndex DataFrame.

    Columns the pandas metadata marks as unnamed index levels get their ONE name, and columns
    it records with a nullable dtype (``UInt64``, ``boolean``) get that dtype, as ONE's
    ``to_pandas`` gives them; ids stored as binary are read as text (``repairs.binary_ids``).
    """
    _prefer_jemalloc()
    schema = pq.read_schema(path)
    pmeta = pandas_meta(schema)
    renames = index_names(pmeta, path.stem)
    extension = extension_dtypes(pmeta)
    names = schema.names
    dictionary = [n for n in DICTIONARY_COLUMNS if n in names]
    pf = pq.ParquetFile(path, read_dictionary=dictionary or None)
    names = [n for n in names if columns is None or renames.get(n, n) in columns]
    data = {}
    for name in names:
        if cancel is not None and cancel.is_set():
            raise Cancelled
        data[renames.get(name, name)] = _column(pf, name, extension.get(name), repairs, cancel)
    return pd.DataFrame(data, copy=False)


def _fast_index(df: pd.DataFrame) -> pd.DataFrame | None:
    """(eid, id) MultiIndex built from the eid categorical and the id strings, without hashing
    1.5M ids; None when the table is not in that shape."""
    if not ({"eid", "id"} <= set(df.columns) and isinstance(df["eid"].dtype, pd.CategoricalDtype)):
        return None
    if df["eid"].isna().any() or df["id"].isna().any():
        return None
    eid = df.pop("eid")
    ids, id_codes = _id_level(df.pop("id"))
    index = pd.MultiIndex(levels=[eid.cat.categories.astype("str"), ids],
                          codes=[eid.cat.codes.to_numpy(), id_codes],
                          names=["eid", "id"], verify_integrity=False)
    return df.set_axis(index, axis=0)


#: A UUID's 36 characters as five unsigned integers (8+8+8+8+4 bytes), for fingerprints.
_UUID_TEXT = np.dtype([("a", "<u8"), ("b", "<u8"), ("c", "<u8"), ("d", "<u8"), ("e", "<u4")])
_MIX = [np.uint64(k) for k in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                               0x27D4EB2F165667C5)]


def _ids_unique(data: pa.ChunkedArray) -> bool:
    """True when no id is written twice, told from a 64-bit fingerprint of each id's 36
    characters, read in place from Arrow's buffers and sorted (a tenth of a second at 1.5M
    ids, no string hashed); False when that cannot tell (ids not all 36 characters, or two
    fingerprints equal): the caller then compares the ids themselves."""
    prints = []
    for chunk in data.chunks:
        if chunk.null_count or not (pa.types.is_string(chunk.type)
                                    or pa.types.is_large_string(chunk.type)):
            return False
        if not len(chunk):
            continue
        width = np.int32 if pa.types.is_string(chunk.type) else np.int64
        _, offsets_buf, data_buf = chunk.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=width)[chunk.offset:chunk.offset + len(chunk)
                                                          + 1]
        if not (np.diff(offsets) == 36).all():
            return False
        text = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]:offsets[-1]].view(_UUID_TEXT)
        prints.append(text["a"] * _MIX[0] ^ text["b"] * _MIX[1] ^ text["c"] * _MIX[2]
                      ^ text["d"] * _MIX[3] ^ text["e"].astype(np.uint64))
    if not prints:
        return True
    every = np.sort(np.concatenate(prints))
    return not bool((every[1:] == every[:-1]).any())


def _id_level(ids: pd.Series) -> tuple[pd.Index, np.ndarray]:
    """(id level, codes) of the ids of a datasets table: the ids themselves in file order
    when no id is written twice, else their unique values. A level must hold each value
    once: pandas builds a concat's or a merge's index from the level values, so one id at
    two codes gave rows each other's ids (a table with duplicate (eid, id) rows lost distinct
    rows at every save). Uniqueness is told by fingerprints (:func:`_ids_unique`); only a
    table it cannot vouch for has its ids hashed."""
    try:
        data = ids.array.__arrow_array__()
    except (AttributeError, TypeError, pa.ArrowException):  # not Arrow-backed
        data = None
    if isinstance(data, pa.Array):
        data = pa.chunked_array([data])
    if data is not None and _ids_unique(data):
        return pd.Index(ids.array, name="id"), np.arange(len(ids))
    codes, uniques = pd.factorize(ids)
    if len(uniques) == len(ids):
        return pd.Index(ids.array, name="id"), np.arange(len(ids))
    return pd.Index(uniques, name="id", dtype=ids.dtype), np.asarray(codes, dtype=np.int64)


def read_table(path: str | os.PathLike[str], columns: list[str] | None = None,
               repairs: Repairs | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read one cache table: (DataFrame with its index set and legacy patches applied, metadata).

    ``rel_path`` and ``eid`` are read as categoricals: few unique values make filters fast and
    the table small. Modern datasets tables keep their file order; legacy ones are sorted as
    ONE sorts them. Raises InvalidTableError for a file without ONE metadata or a corrupt one.
    """
    path = Path(path)
    meta, _ = read_metadata(path)
    try:
        df = read_frame(path, columns, repairs=repairs)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise InvalidTableError(f"{path.name} could not be read ({one_line(exc)}). Skipping"
                                ) from None
    if "id_0" not in df.columns and (fast := _fast_index(df)) is not None:
        return patch_table(fast, meta, repairs), meta
    if "eid" in df.columns and isinstance(df["eid"].dtype, pd.CategoricalDtype):
        df["eid"] = df["eid"].astype("str")
    return patch_table(df, meta, repairs), meta


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
        raise InvalidTableError(f"{path.name} could not be read ({one_line(exc)}). Skipping"
                                ) from None


def empty_table(name: str) -> pd.DataFrame:
    """An empty table with ONE's columns, dtypes and index names."""
    cols = _EMPTY_COLUMNS.get(name, {})
    df = pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    names = INDEX.get(name, ["id"])
    arrays = [pd.Index([], dtype="str", name=n) for n in names]
    index = arrays[0] if len(arrays) == 1 else pd.MultiIndex.from_arrays(arrays, names=names)
    return df.set_axis(index, axis=0)


def patch_columns(df: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """patch_table's column fixes (qc, file_size) for rows already indexed by the caller."""
    rows = pd.Index(np.arange(len(df), dtype=np.int64))  # not a RangeIndex: no index is set
    return patch_table(df.set_axis(rows, axis=0), meta).reset_index(drop=True)
