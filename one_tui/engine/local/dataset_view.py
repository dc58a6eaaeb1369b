"""The datasets table as a query reads it: the loaded frame or the file's codes, one interface.

This module exists so that a query never asks which of the two it holds: ``for_query`` gives the
file's ``DatasetCodes`` until the rows are loaded (a few bytes a row), else the frame, and the
accessors here (eid / path / QC codes, ``exists``, the rows of a mask or of one session, in ONE's
order) answer the same for both. It changes when the datasets table gets a new in-memory form.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from one_tui.engine.core.spec import QC, QC_CATEGORIES
from one_tui.engine.local import patterns
from one_tui.engine.local.codes import DatasetCodes
from one_tui.engine.local.converters import to_eid

__all__ = ["eid_codes", "eids_with", "exists_flags", "for_query", "no_rows", "path_codes",
           "qc_codes", "rows_where", "session_rows"]


def for_query(cache: Any) -> pd.DataFrame | DatasetCodes:
    """The datasets a query reads: the file's codes until the rows are loaded (Cache), else
    the frame (any object with a ``datasets`` frame)."""
    get = getattr(cache, "datasets_for_query", None)
    return get() if get is not None else cache.datasets


def rows_where(datasets: pd.DataFrame | DatasetCodes, mask: np.ndarray) -> pd.DataFrame:
    """The rows of ``mask`` as a DataFrame (from the file's row groups for codes)."""
    if isinstance(datasets, DatasetCodes):
        return datasets.rows(np.flatnonzero(mask))
    return datasets[mask] if len(datasets) else datasets.copy()


def no_rows(cache: Any) -> pd.DataFrame:
    """An empty datasets frame with the table's columns and dtypes."""
    datasets = for_query(cache)
    if isinstance(datasets, DatasetCodes):
        return datasets.rows(np.zeros(0, dtype=np.int64))
    return datasets.iloc[0:0].copy()


def eid_codes(datasets: pd.DataFrame | DatasetCodes) -> tuple[np.ndarray, pd.Index]:
    """For every dataset row, the code of its eid, and the eids the codes index."""
    if isinstance(datasets, DatasetCodes):
        return datasets.eid_codes, datasets.eids
    idx = datasets.index
    if isinstance(idx, pd.MultiIndex) and "eid" in idx.names:
        level = idx.names.index("eid")
        return np.asarray(idx.codes[level]), idx.levels[level]
    values = datasets["eid"] if "eid" in datasets.columns else idx.to_series()
    codes, uniques = pd.factorize(values)
    return np.asarray(codes), pd.Index(uniques)


def path_codes(datasets: pd.DataFrame | DatasetCodes) -> tuple[np.ndarray, np.ndarray]:
    """Per-row code of ``rel_path`` and the unique paths."""
    if isinstance(datasets, DatasetCodes):
        return datasets.path_codes, datasets.paths
    return patterns.codes_and_uniques(datasets["rel_path"])


def qc_codes(datasets: pd.DataFrame | DatasetCodes) -> np.ndarray:
    """QC category code per row (0 NOT_SET ... 4 CRITICAL); missing QC counts as NOT_SET."""
    if isinstance(datasets, DatasetCodes):
        return datasets.qc_codes
    if "qc" not in datasets.columns:
        return np.zeros(len(datasets), dtype=np.int8)
    qc = datasets["qc"]
    if isinstance(qc.dtype, pd.CategoricalDtype) and list(qc.cat.categories) == QC_CATEGORIES:
        codes = np.asarray(qc.cat.codes)
    else:
        codes = np.array([QC_CATEGORIES.index(QC.validate(v).name) if pd.notna(v) else 0
                          for v in qc.astype(object)], dtype=np.int8)
    return np.where(codes < 0, 0, codes)


def exists_flags(datasets: pd.DataFrame | DatasetCodes) -> np.ndarray:
    if isinstance(datasets, DatasetCodes):
        return datasets.exists
    if "exists" not in datasets.columns:
        return np.ones(len(datasets), dtype=bool)
    return np.asarray(datasets["exists"].fillna(False).to_numpy(dtype=bool), dtype=bool)


def eids_with(datasets: pd.DataFrame | DatasetCodes, row_mask: np.ndarray) -> np.ndarray:
    """Boolean per eid level value: has at least one row in ``row_mask``."""
    codes, eids = eid_codes(datasets)
    present = np.zeros(len(eids) + 1, dtype=bool)
    present[codes[row_mask]] = True
    return present[:-1]


def session_rows(cache: Any, eid: Any) -> pd.DataFrame | None:
    """The datasets of one session (index still (eid, id)); None if the eid is unknown."""
    eid = to_eid(eid, cache)
    if eid is None:
        return None
    datasets = for_query(cache)
    if isinstance(datasets, DatasetCodes):
        pos = datasets.eids.get_indexer([eid])[0]
        if pos < 0:
            return no_rows(cache)
        return _one_order(datasets.rows(datasets.rows_of(np.array([pos]))))
    codes, eids = eid_codes(datasets)
    pos = eids.get_indexer([eid])[0]
    if pos < 0:
        return no_rows(cache)
    return _one_order(rows_where(datasets, codes == pos))


def _one_positions(df: pd.DataFrame) -> np.ndarray | None:
    """Row positions of ``df`` (a session's rows: small) in ONE's order; None if in it.

    ONE sorts a table's index when it loads one that is not sorted (api.py ``_load_cache``),
    so its per-session rows follow ``(eid, id)``, not the file's order. A plain sort of the
    few keys: ``sort_index`` took 8 s on a 94-row slice of a 1.5M-row table (it re-sorts the
    index levels, which parquet leaves unsorted).
    """
    if len(df) < 2:
        return None
    idx = df.index
    if isinstance(idx, pd.MultiIndex):  # from the codes: idx.values would convert every level
        columns = [list(map(str, idx.levels[i].take(np.asarray(idx.codes[i]))))
                   for i in range(idx.nlevels)]
        keys: list[Any] = list(zip(*columns, strict=True))
    else:
        keys = [str(k) for k in idx]
    order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.intp)
    return None if (np.diff(order) > 0).all() else order


def _one_order(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` in ONE's ``(eid, id)`` row order (see :func:`_one_positions`)."""
    order = _one_positions(df)
    return df if order is None else df.iloc[order]
