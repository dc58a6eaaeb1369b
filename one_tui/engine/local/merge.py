"""Merging new rows (an Alyx answer, a table on disk) into a cache table: ONE's §2.8 rules.

This module exists so that the merge rule lives in one place, on DataFrames only (it knows
nothing of a ``Cache``: ``Cache.merge`` and the save in ``store`` call :func:`merge_frames`):
new rows appended, matched rows updated with the new values that are not NA, the new rows cast
to the table's dtypes. A key held by several rows (a table someone wrote with duplicate (eid,
id) rows) is several rows, not one record: its rows are never matched, every distinct row of
both sides is kept (exact copies once), so a save never loses a row that was on disk or in
memory. Tables above ``LARGE_TABLE`` rows are merged in place and appended (ONE
re-sorts; sorting 1.5M string ids costs seconds), touching only the rows concerned;
``DatasetCodes.merge`` follows the same rules on codes and reads ``LARGE_TABLE`` from here. It
changes when ONE's merge rules, or the way a big table is merged fast, change.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from one_tui.engine.local.fileformat import INDEX, QC_DTYPE, qc_categorical

#: Above this many rows a merge updates in place and appends, instead of ONE's full re-sort
#: (sorting 1.5M string ids costs seconds and doubles memory).
LARGE_TABLE = 100_000


def _as_indexed(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Index a frame of new records like the table it goes into."""
    names = INDEX.get(name, ["id"])
    if isinstance(df.index, pd.RangeIndex) or list(df.index.names) != names:
        if isinstance(df.index, pd.RangeIndex):
            df = df.set_index(names)
        else:
            df = df.reset_index().set_index(names)
    return df


def prepare_new(existing: pd.DataFrame, new: pd.DataFrame, name: str) -> pd.DataFrame:
    """New records indexed, de-duplicated, with the existing table's columns and dtypes."""
    new = _as_indexed(new.copy(), name)
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
    several = held_by_several(new.index)
    if several.any():  # exact copies of a row once (an answer read twice); distinct rows stay
        seen: set[tuple[str, ...]] = set()
        copy = np.zeros(len(new), dtype=bool)
        for k, sig in zip(np.flatnonzero(several), _signatures(new[several]), strict=True):
            copy[k] = sig in seen
            seen.add(sig)
        new = new[~copy]
    return new


def held_by_several(index: pd.Index) -> np.ndarray:
    """For each row, whether another row has the same key, compared by value (each level
    factorized in file order: no sort of 1.5M ids), whatever the levels' codes say."""
    if not isinstance(index, pd.MultiIndex):
        return np.asarray(index.duplicated(keep=False), dtype=bool)
    key = np.zeros(len(index), dtype=np.int64)
    for i in range(index.nlevels):
        codes, uniques = pd.factorize(index.get_level_values(i), sort=False)
        key = key * (len(uniques) + 1) + (codes + 1)  # -1 (NA) is a value of its own
    return np.asarray(pd.Series(key).duplicated(keep=False), dtype=bool)


def _cell(value: Any) -> str:
    """A value as text for comparing whole rows (every kind of NA alike)."""
    try:
        if np.ndim(value) == 0 and bool(pd.isna(value)):
            return "\x00NA"
    except (TypeError, ValueError):
        pass
    return str(value)


def _signatures(df: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each row, key included, as a tuple of text (rows of a few duplicated keys only)."""
    return [tuple(_cell(v) for v in row)
            for row in df.reset_index().itertuples(index=False, name=None)]


def _pairs(existing: pd.DataFrame, new: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(positions of the existing rows whose key is a new row's, that new row), compared by
    value: an (eid, id) index read from a file may hold an id twice in its id level, where
    pandas' own lookups (isin, loc) go wrong. Only the new keys are hashed: the rows of the
    new rows' sessions (:func:`_matches`), or big.isin(small) for ids alone (pandas turns
    every Arrow string into a Python object: 120 ms at 20k sessions)."""
    index = existing.index
    if isinstance(index, pd.MultiIndex) and {"eid", "id"} <= set(index.names):
        return _matches(index, new)
    pos = np.flatnonzero(index.isin(new.index))
    keys = {_key(key): k for k, key in enumerate(new.index)}
    hit = np.fromiter((keys.get(_key(key), -1) for key in index[pos]),
                      dtype=np.int64, count=len(pos))
    return pos[hit >= 0], hit[hit >= 0]


def _key(key: Any) -> Any:
    return tuple(str(k) for k in key) if isinstance(key, tuple) else str(key)


def _set_aside(existing: pd.DataFrame, new: pd.DataFrame, pos: np.ndarray, hit: np.ndarray
               ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, pd.DataFrame]:
    """Take the new rows whose key several rows hold (on either side) out of the merge.

    Returns (new rows to merge, their pairs ``pos, hit``, rows to append): the rows set aside
    are appended unless an exact copy of an existing row of their key; the existing rows of
    those keys are left as they are."""
    several = held_by_several(new.index) | (np.bincount(hit, minlength=len(new)) > 1)
    if not several.any():
        return new, pos, hit, new.iloc[:0]
    aside, keep = new[several], ~several[hit]
    on_disk = set(_signatures(existing.iloc[np.sort(pos[~keep])]))
    fresh = np.array([sig not in on_disk for sig in _signatures(aside)], dtype=bool)
    renumber = np.cumsum(~several) - 1
    return new[~several], pos[keep], renumber[hit[keep]], aside[fresh]


def merge_frames(existing: pd.DataFrame, new: pd.DataFrame, name: str) -> pd.DataFrame:
    """ONE's merge: new rows appended, existing rows updated with new non-NA values; the rows
    of a key held several times are all kept (see the module doc)."""
    new = prepare_new(existing, new, name)
    if len(existing) == 0:
        return new.sort_index()
    big = (len(existing) > LARGE_TABLE and isinstance(existing.index, pd.MultiIndex)
           and "id" in existing.index.names)
    new, pos, hit, appended = _set_aside(existing, new, *_pairs(existing, new))
    if big:
        return _merge_large(existing, new, pos, hit, appended)
    replaced = np.zeros(len(existing), dtype=bool)
    replaced[pos] = True
    overlap = np.zeros(len(new), dtype=bool)
    overlap[hit] = True
    if overlap.any():  # by position: a key's label may sit at two codes of an id level
        updated = new[overlap]
        old = existing.iloc[pos[np.argsort(hit)]].set_axis(updated.index, axis=0)
        new = pd.concat([updated.where(updated.notna(), old), new[~overlap]])
    kept = existing[~replaced]
    return pd.concat([kept, new, appended]).sort_index()


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
    return np.asarray(pd.Index(values).get_indexer(index.astype(object)), dtype=np.int64)


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


def same_value(a: Any, b: Any) -> bool:
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


def _merge_large(existing: pd.DataFrame, new: pd.DataFrame, pos: np.ndarray,
                 src_rows: np.ndarray, appended: pd.DataFrame) -> pd.DataFrame:
    """Merge into a big (eid, id) table: matched rows (``pos``, each matching the new row
    ``src_rows``) are updated in place (only the values that changed), the others and
    ``appended`` are appended (table order is kept; only the new rows are hashed)."""
    mi = existing.index
    i_eid, i_id = mi.names.index("eid"), mi.names.index("id")
    id_level = mi.levels[i_id]
    out = existing.copy(deep=False)
    matched = np.zeros(len(new), dtype=bool)
    if len(pos):
        matched[src_rows] = True
        src = new.iloc[src_rows]
        for j, col in enumerate(out.columns):
            fresh = src[col].reset_index(drop=True)
            old = _take_few(out[col], pos)
            merged = fresh.where(fresh.notna(), old)
            changed = np.array([not same_value(a, b) for a, b in zip(merged, old, strict=True)],
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
    rest = pd.concat([new[~matched], appended]) if len(appended) else new[~matched]
    if len(rest) == 0:
        return out
    eids = pd.Index([str(e) for e in rest.index.get_level_values("eid")])
    eid_level = mi.levels[i_eid]
    extra = eids[eid_level.get_indexer(eids) < 0].unique()
    eid_level = eid_level.append(pd.Index(extra, dtype=eid_level.dtype))
    ids = rest.index.get_level_values("id").astype(id_level.dtype)
    levels, codes = list(mi.levels), list(mi.codes)
    if len(appended) or ids.has_duplicates:  # some ids are in the level already
        levels[i_id], added = _id_codes(id_level, ids)
    else:  # new keys: new ids (no id of the 1.5M hashed or scanned)
        levels[i_id] = id_level.append(pd.Index(ids))
        added = np.arange(len(id_level), len(id_level) + len(rest))
    levels[i_eid] = eid_level
    codes[i_eid] = np.concatenate([mi.codes[i_eid], eid_level.get_indexer(eids)])
    codes[i_id] = np.concatenate([mi.codes[i_id], added])
    index = pd.MultiIndex(levels=levels, codes=codes, names=mi.names, verify_integrity=False)
    columns = {}
    for col in out.columns:
        a = _with_categories(out[col], rest[col])
        b = rest[col].astype(a.dtype) if isinstance(a.dtype, pd.CategoricalDtype) else rest[col]
        columns[col] = pd.concat([a.reset_index(drop=True), b.reset_index(drop=True)],
                                 ignore_index=True)
    return pd.DataFrame(columns, copy=False).set_axis(index, axis=0)


def _id_codes(level: pd.Index, ids: pd.Index) -> tuple[pd.Index, np.ndarray]:
    """(the id level with the ids it lacks appended, the code of each of ``ids``): a level
    holds each id once (see ``fileformat._id_level``). The level is scanned once against the
    few ids (a tenth of a second at 1.5M), only for rows of a key held several times."""
    values = [str(i) for i in ids]
    unique = list(dict.fromkeys(values))
    where = _index_in(level, unique)
    pos = np.full(len(unique), -1, dtype=np.int64)
    hit = np.flatnonzero(where >= 0)
    pos[where[hit]] = hit
    missing = [u for u, p in zip(unique, pos, strict=True) if p < 0]
    pos[pos < 0] = np.arange(len(level), len(level) + len(missing))
    if missing:
        level = level.append(pd.Index(missing, dtype=level.dtype))
    code = dict(zip(unique, pos.tolist(), strict=True))
    return level, np.array([code[v] for v in values], dtype=np.int64)


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


def merge_origins(*values: Any) -> list[str]:
    """Origins (strings, lists or sets) as one list in first-seen order, without repeats: a
    table's own origin first (see ``filewrite.file_origin``), origins merged in after it."""
    out: list[str] = []
    for value in values:
        items = [value] if isinstance(value, str) else sorted(value) if isinstance(
            value, set) else list(value or [])
        for item in items:
            if item and str(item) not in out:
                out.append(str(item))
    return out
