"""The datasets table as integer codes: what every query filters on, without the pandas rows.

This module exists for ``DatasetCodes`` (issue 12): a datasets file read as a few bytes a row
(eid and path codes over the same categories the full read gives, int8 QC, bool flags), the rows
a query returns made into pandas from the row groups that hold them, and new rows merged into
the codes by the big-table merge's rules (``merge``). It changes when the query-side
representation of the datasets table changes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from one_tui.engine.core.spec import QC_CATEGORIES, one_line
from one_tui.engine.local import merge
from one_tui.engine.local.fileformat import (
    DICTIONARY_COLUMNS,
    Cancelled,
    InvalidTableError,
    extension_dtypes,
    index_names,
    pandas_meta,
    patch_columns,
    read_frame,
    read_metadata,
)
from one_tui.engine.local.merge import held_by_several, prepare_new, same_value
from one_tui.engine.local.repairs import UNKNOWN_QC, Repairs, qc_name

#: Columns a query over the datasets table reads (the per-row facts are codes and flags).
CODE_COLUMNS = ("eid", "rel_path", "qc", "exists", "default_revision")


def _qc_lookup(categories: Any) -> np.ndarray:
    """QC code (0 NOT_SET ... 4 CRITICAL) of each value in ``categories``, then 0 for null; a
    value no QC level has is ``repairs.UNKNOWN_QC``, as a full read makes it."""
    out = [QC_CATEGORIES.index(qc_name(v) or UNKNOWN_QC) for v in categories]
    return np.array(out + [0], dtype=np.int8)


def _ones_types(schema: pa.Schema, renames: dict[str, str]) -> bool:
    """True when the ids are text and the sizes numbers, as ONE writes them: a table stored
    otherwise is read whole, where ``repairs.Repairs`` brings it to ONE's types."""
    for field in schema:
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        name = renames.get(field.name, field.name)
        if name in ("eid", "id") and not (pa.types.is_string(kind)
                                          or pa.types.is_large_string(kind)):
            return False
        if name == "file_size" and not pa.types.is_integer(kind):
            return False
    return True


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

    def __init__(self, path: Path, frame: pd.DataFrame, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta
        self.n_file = len(frame)
        #: what reading the file as ONE's types took (see ``repairs.Repairs``)
        self.repairs = Repairs()
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
            self.qc_codes: np.ndarray = _qc_lookup(uniques)[codes]
            unknown = np.array([qc_name(v) is None for v in uniques] + [False], dtype=bool)
            self.repairs.add("qc", int(unknown[codes].sum()))
        else:
            self.qc_codes = np.zeros(len(frame), dtype=np.int8)
        self.exists: np.ndarray = (
            frame["exists"].fillna(False).to_numpy(dtype=bool) if "exists" in frame.columns
            else np.ones(len(frame), dtype=bool))
        self.default_revision: np.ndarray | None = (
            frame["default_revision"].fillna(False).to_numpy(dtype=bool)
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
            renames = index_names(pandas_meta(schema), path.stem)
            names = {renames.get(n, n) for n in schema.names}
            if not {"eid", "id", "rel_path"} <= names or "id_0" in names or "eid_0" in names:
                return None
            if not _ones_types(schema, renames):
                return None
            frame = read_frame(path, list(CODE_COLUMNS), cancel)
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
            raise InvalidTableError(f"{path.name} could not be read ({one_line(exc)}). Skipping"
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
        dictionary = [n for n in DICTIONARY_COLUMNS if n in pq.read_schema(self.path).names]
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
            renames = index_names(pandas_meta(schema), self.path.stem)
            field = next(n for n in schema.names if renames.get(n, n) == "id")
            taken = self._parts(missing, [field]).column(0).to_pylist()
            self._ids.update(zip(missing.tolist(), map(str, taken), strict=True))
        extra = [] if self.extra is None else self.extra.index.get_level_values("id")
        return [self._ids[p] if p < self.n_file else str(extra[p - self.n_file])
                for p in wanted]

    def _file_rows(self, pos: np.ndarray) -> tuple[pd.DataFrame, pd.Index]:
        """(data columns but ``rel_path``, ids) of file rows at sorted ``pos``, in the loaded
        frame's dtypes, merged updates applied."""
        table = self._parts(pos, None)
        pmeta = pandas_meta(pq.read_schema(self.path))
        renames = index_names(pmeta, self.path.stem)
        extension = extension_dtypes(pmeta)
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
        df = patch_columns(pd.DataFrame(data, copy=False), self.meta)
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
        if len(added) and self.extra is not None:  # rows past the file's are merged ones
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
        """Merge new rows as ``merge_frames`` would merge them into the loaded frame (matched
        (eid, id) rows updated where the new value is not NA, the others appended in order),
        on the codes and the few rows concerned. False, with nothing changed, when that merge
        would not be the big-table merge, would change a column's dtype or meets a key several
        rows hold (``merge_frames`` keeps them all): the caller loads the frame then."""
        if len(self) <= merge.LARGE_TABLE:  # the merge module's, read at each call
            return False
        if self._like is None:
            self._like = self.rows(np.zeros(0, dtype=np.int64))
        like = self._like
        new = prepare_new(like, new, "datasets")
        if list(new.columns) != list(like.columns) or "rel_path" not in like.columns:
            return False
        if any(new[c].dtype != like[c].dtype for c in like.columns if c != "rel_path"):
            return False
        pos, src_rows = self._matches(new)
        if held_by_several(new.index).any() or len(np.unique(src_rows)) < len(src_rows):
            return False
        for name in ("eid_codes", "path_codes", "qc_codes", "exists", "default_revision"):
            array = getattr(self, name)
            if array is not None and not array.flags.writeable:  # a view of Arrow memory
                setattr(self, name, array.copy())
        self._first = None
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
            changed = np.array([not same_value(a, b) for a, b in zip(merged, before, strict=True)],
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
        if (~in_file).any() and self.extra is not None:  # rows past the file's: merged ones
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
