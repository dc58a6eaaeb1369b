"""Listing a cache's datasets with ONE's filters: ``filter_datasets`` and ``list_*``.

This module exists for ONE's dataset listings: which rows pass the ALF filters and the QC bound
(:class:`DatasetFilter`, the one copy of those parameters), and in which order ONE lists their
paths (by each path's first row in ONE's ``(eid, id)`` order, found on codes without a pass over
a million rows). It changes when ONE's listing rules or their fast paths change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from one_tui.engine.core.errors import ALFError
from one_tui.engine.core.spec import QC, QC_CATEGORIES
from one_tui.engine.local import dataset_view as view
from one_tui.engine.local import patterns
from one_tui.engine.local.codes import DatasetCodes

__all__ = ["DatasetFilter", "filter_datasets", "list_collections", "list_datasets",
           "list_revisions"]


@dataclass(frozen=True)
class DatasetFilter:
    """ONE's dataset filters, in the order of ``filter_datasets``' parameters: what a row must
    match (ALF ``filename`` / ``collection`` / ``revision`` patterns, ``qc`` at most, QC set,
    default revision) and how patterns read (``wildcards``: glob, else regex)."""

    filename: Any = None
    collection: Any = None
    revision: Any = None
    qc: Any = QC.FAIL
    ignore_qc_not_set: bool = False
    default_revisions_only: bool = False
    wildcards: bool = True


def _paths_mask(datasets: pd.DataFrame, pattern: patterns.Bounded) -> np.ndarray:
    codes, paths = view.path_codes(datasets)
    hit = np.fromiter((pattern.match(str(p)) is not None for p in paths), dtype=bool,
                      count=len(paths))
    return np.asarray(np.append(hit, False)[codes], dtype=bool)


def _filter_mask(datasets: pd.DataFrame | DatasetCodes, where: DatasetFilter) -> np.ndarray:
    """Row mask of ``filter_datasets`` (no rows copied: listings only need the codes)."""
    qc = QC.validate(where.qc)
    if isinstance(datasets, DatasetCodes):
        flags = datasets.default_revision
    elif "default_revision" in datasets.columns:
        flags = datasets["default_revision"].fillna(False).to_numpy(dtype=bool)
    else:
        flags = None
    if where.default_revisions_only and flags is None:
        raise ALFError("No default revisions specified")
    if len(datasets) == 0:
        return np.zeros(0, dtype=bool)
    pattern = patterns.dataset_regex(where.filename, where.collection, where.revision,
                                     where.wildcards)
    mask = _paths_mask(datasets, pattern)
    qc_codes = view.qc_codes(datasets)
    mask &= qc_codes <= QC_CATEGORIES.index(qc.name)
    if where.ignore_qc_not_set:
        mask &= qc_codes != 0
    if where.default_revisions_only and flags is not None:
        mask &= flags
    return mask


def filter_datasets(datasets: pd.DataFrame, filename: Any = None, collection: Any = None,
                    revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                    default_revisions_only: bool = False, wildcards: bool = True,
                    ) -> pd.DataFrame:
    """Datasets whose rel_path matches the ALF filters and whose QC is at most ``qc``.

    The default ``qc=FAIL`` hides CRITICAL datasets; ``revision`` is matched as a pattern.
    """
    mask = _filter_mask(datasets, DatasetFilter(filename, collection, revision, qc,
                                                ignore_qc_not_set, default_revisions_only,
                                                wildcards))
    return datasets[mask] if len(datasets) else datasets.copy()


def _selected(cache: Any, eid: Any, where: DatasetFilter
              ) -> tuple[pd.DataFrame | None, np.ndarray | None, bool]:
    """(rows considered, mask of those passing the filters, one session?); (None, None, True)
    for an unknown session."""
    if eid is None:
        rows = view.for_query(cache)
        return rows, _filter_mask(rows, where), False
    rows = view.session_rows(cache, eid)
    if rows is None:
        return None, None, True
    return rows, _filter_mask(rows, where), True


def _unique_paths(df: pd.DataFrame, mask: np.ndarray) -> list[str]:
    """Unique rel_path values of the masked rows, in table order."""
    codes, paths = view.path_codes(df)
    codes = codes[mask]
    if len(codes) == 0:
        return []
    uniq = pd.unique(codes[codes >= 0])
    return [str(paths[c]) for c in uniq]


def _unique_paths_in_one_order(df: pd.DataFrame, mask: np.ndarray) -> list[str]:
    """Unique rel_paths of the masked rows in the order ONE lists them: by the first row of
    each path in ONE's sorted ``(eid, id)`` order.

    Cheap at IBL scale (1.5M rows): the eid levels (tens of thousands) are ranked once, each
    path's smallest eid rank is found with integer arrays, and only those few candidate rows
    (about one per path) are compared by id.
    """
    codes, paths = view.path_codes(df)
    pos = np.flatnonzero(mask & (codes >= 0))
    idx = df.index
    if not len(pos) or not (isinstance(idx, pd.MultiIndex) and list(idx.names) == ["eid", "id"]):
        return _unique_paths(df, mask)
    eid_level, eid_codes = idx.levels[0], np.asarray(idx.codes[0])
    rank = np.empty(len(eid_level), dtype=np.int32)  # int32 arrays of 1.5M rows: half the peak
    rank[np.argsort(np.asarray(eid_level.astype(str), dtype=object), kind="stable")] = (
        np.arange(len(eid_level)))
    eid_rank = rank[eid_codes[pos]]
    path_code = codes[pos]
    first = np.full(len(paths), np.iinfo(np.int32).max, dtype=np.int32)
    np.minimum.at(first, path_code, eid_rank)
    cand = np.flatnonzero(eid_rank == first[path_code])
    # one scalar lookup per candidate (about one per path): taking an array from the id level
    # makes Arrow combine the 1.5M ids into one buffer first (+60 MiB peak at IBL scale)
    id_level = idx.levels[1]
    ids = [str(id_level[int(c)]) for c in np.asarray(idx.codes[1])[pos[cand]]]
    keyed = sorted(zip(eid_rank[cand].tolist(), ids, path_code[cand].tolist(), strict=True))
    out: list[str] = []
    seen: set[int] = set()
    for _, _, c in keyed:
        if c not in seen:
            seen.add(c)
            out.append(str(paths[c]))
    return out


def _codes_paths_in_one_order(df: DatasetCodes, where: DatasetFilter) -> list[str]:
    """:func:`_unique_paths_in_one_order` on codes, from the filters rather than a row mask.

    The row mask of ``filter_datasets`` is a path test (per unique path) and a test of the
    row's QC code and default_revision flag, so each path's first session in ONE's order is
    the smallest of ``first_ranks()`` over the allowed (QC, flag) cells: no pass over the rows.
    Ids are read only for paths whose first session is another path's first session too, the
    one case where ONE's (eid, id) order compares ids.
    """
    qc = QC.validate(where.qc)
    if where.default_revisions_only and df.default_revision is None:
        raise ALFError("No default revisions specified")
    if len(df) == 0:
        return []
    pattern = patterns.dataset_regex(where.filename, where.collection, where.revision,
                                     where.wildcards)
    hit = np.fromiter((pattern.match(str(p)) is not None for p in df.paths), dtype=bool,
                      count=len(df.paths))
    top_qc = QC_CATEGORIES.index(qc.name)
    low_qc = 1 if where.ignore_qc_not_set else 0
    flags = [1] if where.default_revisions_only else [0, 1]
    cells = df.first_ranks()[:, low_qc:top_qc + 1][:, :, flags]
    top = np.iinfo(np.int32).max
    first = cells.reshape(len(df.paths), -1).min(axis=1, initial=top)
    first[~hit] = top
    used = np.flatnonzero(first < top)
    if not len(used):
        return []
    rank, by_rank = df.eid_ranks()
    ranks, counts = np.unique(first[used], return_counts=True)
    tied_ranks = ranks[counts > 1]
    first_id: dict[int, str] = {}
    if len(tied_ranks):
        rows = df.rows_of(by_rank[tied_ranks])
        codes = df.path_codes[rows]
        qcs = df.qc_codes[rows]
        ok = (codes >= 0) & (qcs <= top_qc) & (qcs >= low_qc)
        if where.default_revisions_only and df.default_revision is not None:
            ok &= df.default_revision[rows]
        ok &= np.append(hit, False)[codes]
        rows, codes = rows[ok], codes[ok]
        ok = rank[df.eid_codes[rows]] == first[codes]
        rows, codes = rows[ok], codes[ok]
        for code, id_ in zip(codes.tolist(), df.ids(rows), strict=True):
            if code not in first_id or id_ < first_id[code]:
                first_id[code] = id_
    keyed = sorted((int(first[c]), first_id.get(c, ""), c) for c in used.tolist())
    return [str(df.paths[c]) for _, _, c in keyed]


def list_datasets(cache: Any, eid: Any = None, filename: Any = None, collection: Any = None,
                  revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                  details: bool = False, default_revisions_only: bool = False,
                  keep_eid_index: bool = False, wildcards: bool = True) -> Any:
    """Datasets in the cache, optionally of one session, filtered as ``filter_datasets``.

    Without ``details``: unique rel_paths (ONE's ``(eid, id)`` row order; sorted for one
    session). With ``details``: the rows (index ``(eid, id)``; ``id`` only for one session unless
    ``keep_eid_index``). An unknown session gives an empty result.
    """
    where = DatasetFilter(filename, collection, revision, qc, ignore_qc_not_set,
                          default_revisions_only, wildcards)
    if eid is None and not details:
        datasets = view.for_query(cache)
        if isinstance(datasets, DatasetCodes):
            return _codes_paths_in_one_order(datasets, where)
    rows, mask, one_session = _selected(cache, eid, where)
    if rows is None or mask is None:
        return view.no_rows(cache) if details else []
    if not details:
        if one_session:
            return sorted(_unique_paths(rows, mask))
        return _unique_paths_in_one_order(rows, mask)
    found = view.rows_where(rows, mask)
    if one_session and not keep_eid_index and isinstance(found.index, pd.MultiIndex):
        found = found.droplevel("eid")
    return found


def _split_path(path: str) -> tuple[str, str]:
    """(collection, revision) of a rel_path; '' where there is none."""
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    revision = ""
    parts = folder.split("/") if folder else []
    if parts and parts[-1].startswith("#") and parts[-1].endswith("#") and len(parts[-1]) > 1:
        revision = parts.pop()[1:-1]
    return "/".join(parts), revision


def _list_parts(cache: Any, which: int, eid: Any, details: bool, where: DatasetFilter) -> Any:
    """Sorted collections (``which`` 0) or revisions (1) of the rows passing ``where``."""
    rows, mask, _ = _selected(cache, eid, where)
    if rows is None or mask is None or not mask.any():
        return {} if details else []
    codes, paths = view.path_codes(rows)
    keys = [_split_path(str(p))[which] for p in paths]
    used = np.unique(codes[mask])
    names = sorted({keys[c] for c in used if c >= 0})
    if not details:
        return names
    found = view.rows_where(rows, mask)
    per_row = np.array(keys + [""], dtype=object)[codes[mask]]
    return {k: found[per_row == k] for k in names}


def list_collections(cache: Any, eid: Any = None, filename: Any = None, collection: Any = None,
                     revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                     details: bool = False, default_revisions_only: bool = False,
                     wildcards: bool = True) -> Any:
    """Sorted unique collections ('' is the session root); ``details`` -> {collection: rows}."""
    return _list_parts(cache, 0, eid, details,
                       DatasetFilter(filename, collection, revision, qc, ignore_qc_not_set,
                                     default_revisions_only, wildcards))


def list_revisions(cache: Any, eid: Any = None, filename: Any = None, collection: Any = None,
                   revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                   details: bool = False, default_revisions_only: bool = False,
                   wildcards: bool = True) -> Any:
    """Sorted unique revisions without the '#' marks ('' for none); ``details`` -> dict."""
    return _list_parts(cache, 1, eid, details,
                       DatasetFilter(filename, collection, revision, qc, ignore_qc_not_set,
                                     default_revisions_only, wildcards))
