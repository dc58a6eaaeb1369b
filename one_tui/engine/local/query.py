"""Searching a Cache's sessions and insertions with ONE's terms, sort order and messages.

This module exists for ONE's local ``search`` / ``search_insertions`` and the session lookups
around them (``get_details``, ``list_subjects``, probe ids): which terms there are, how each
narrows the sessions (a dataset term through the datasets table, read as codes), and ONE's
order. Matching is ``patterns``; the datasets table's two forms are ``dataset_view``; dataset
listings are ``listing``. It changes when ONE's search terms or their meaning change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from one_tui.engine.core.errors import ALFMultipleObjectsFound, ALFObjectNotFound
from one_tui.engine.core.spec import QC, QC_CATEGORIES, shown
from one_tui.engine.local import dataset_view as view
from one_tui.engine.local import patterns
from one_tui.engine.local.codes import DatasetCodes
from one_tui.engine.local.converters import to_eid

__all__ = ["INSERTION_TEXT_TERMS", "SEARCH_TERMS", "autocomplete", "eid2pid", "get_details",
           "list_subjects", "pid2eid", "search", "search_insertions", "search_sessions",
           "search_terms"]

log = logging.getLogger("one_tui.engine")

#: Local search terms: ONE 3.x's, plus 2.x's ``dataset`` (partial match on the relative path).
SEARCH_TERMS = ("dataset", "datasets", "date_range", "laboratory", "number", "projects",
                "subject", "task_protocol", "dataset_qc_lte")
_TEXT_COLUMNS = {"subject": "subject", "laboratory": "lab", "projects": "projects",
                 "task_protocol": "task_protocol"}
INSERTION_TEXT_TERMS = ("model", "name", "serial")


def search_terms() -> tuple[str, ...]:
    """The local search term names, as ``One.search_terms(query_type='local')``."""
    return SEARCH_TERMS


def autocomplete(term: str, allowed: Iterable[str] = SEARCH_TERMS) -> str:
    """Full term name from an exact name or a unique case-insensitive prefix (ONE's rule)."""
    allowed = tuple(allowed)
    key = term.casefold()
    if key in allowed:
        return key
    hits = [x for x in allowed if x.startswith(key)]
    if not hits:
        raise ValueError(f'Invalid search term "{shown(term)}", see `one.search_terms()`')
    if len(hits) > 1:
        raise ValueError(f'Ambiguous search term "{shown(term)}"')
    return hits[0]


def _to_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f'Invalid session number "{shown(value)}"; expected an integer') from None


def _dataset_session_filter(datasets: pd.DataFrame | DatasetCodes, names: list[Any],
                            qc_lte: QC | None, partial: bool, wildcards: bool) -> np.ndarray:
    """Per eid level value: has, for every name, an existing dataset that matches with
    QC <= ``qc_lte``.

    ``partial`` is ONE 2.x's ``dataset`` (contains on rel_path); otherwise 3.x's ``datasets``
    (``re.fullmatch`` on the file name). Work is per unique path, then numpy gathers per row.
    """
    path_codes, paths = view.path_codes(datasets)
    ok = view.exists_flags(datasets)
    if qc_lte is not None:
        ok = ok & (view.qc_codes(datasets) <= QC_CATEGORIES.index(qc_lte.name))
    if not names:  # dataset_qc_lte alone: any existing dataset within the QC bound (2.x)
        return view.eids_with(datasets, ok)
    basenames = [p.rsplit("/", 1)[-1] for p in map(str, paths)]
    result: np.ndarray | None = None
    for name in names:
        if partial:
            test = patterns.text_matcher(name, wildcards)
            hit = np.fromiter((test(str(p)) for p in paths), dtype=bool, count=len(paths))
        else:
            rx = patterns.compile_pattern(str(name))
            hit = np.fromiter((rx.fullmatch(b) is not None for b in basenames), dtype=bool,
                              count=len(paths))
        rows = np.append(hit, False)[path_codes] & ok
        present = view.eids_with(datasets, rows)
        result = present if result is None else result & present
        if not result.any():
            break
    assert result is not None  # names is not empty: the loop ran
    return result


def _session_mask(sessions: pd.DataFrame, datasets: pd.DataFrame, present: np.ndarray
                  ) -> np.ndarray:
    """Sessions mask from a per-eid-level mask (a hash lookup of the hits, not an isin)."""
    _, eids = view.eid_codes(datasets)
    mask = np.zeros(len(sessions), dtype=bool)
    pos = sessions.index.get_indexer(eids[present])
    mask[pos[pos >= 0]] = True
    return mask


# ---------------------------------------------------------------------------------------------
# search


def _normalise_terms(terms: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in terms.items():
        out[autocomplete(key)] = value
    return out


def search_sessions(cache: Any, wildcards: bool = True, **terms: Any) -> pd.DataFrame:
    """Sessions rows matching every term, sorted by date, subject and number (descending).

    The index holds the eids. Only a dataset term (``dataset``, ``datasets``, ``dataset_qc_lte``)
    reads the datasets table.
    """
    terms = _normalise_terms(terms)
    sessions = cache.sessions
    mask = np.ones(len(sessions), dtype=bool)
    for term, column in _TEXT_COLUMNS.items():
        if term in terms and terms[term] is not None:
            if column not in sessions.columns:
                mask[:] = False
                continue
            test = patterns.text_matcher(terms[term], wildcards)
            mask &= patterns.unique_mask(sessions[column], test)
    if terms.get("date_range") is not None:
        lo, hi = patterns.validate_date_range(terms["date_range"])
        days = pd.to_datetime(sessions["date"]).to_numpy().astype("datetime64[D]")
        if not np.isnat(lo):
            mask &= days >= lo
        if not np.isnat(hi):
            mask &= days <= hi
    if terms.get("number") is not None:
        numbers = [_to_int(n) for n in patterns.ensure_list(terms["number"])]
        mask &= sessions["number"].isin(numbers).to_numpy()
    qc = terms.get("dataset_qc_lte")
    qc = QC.validate(qc) if qc is not None else None
    dataset_terms = [t for t in ("dataset", "datasets") if terms.get(t) is not None]
    if (dataset_terms or qc is not None) and mask.any():
        datasets = view.for_query(cache)
        keep: np.ndarray | None = None
        for term in dataset_terms:
            # ONE 2.11.2 (``dataset``) and 3.x (``datasets``) both default to FAIL: a dataset
            # with CRITICAL QC does not count unless dataset_qc_lte says so
            qc_lte = QC.FAIL if qc is None else qc  # NOT_SET is 0: not "or"
            present = _dataset_session_filter(datasets, patterns.ensure_list(terms[term]), qc_lte,
                                              partial=term == "dataset", wildcards=wildcards)
            keep = present if keep is None else keep & present
        if keep is None:
            keep = _dataset_session_filter(datasets, [], qc, partial=False, wildcards=wildcards)
        mask &= _session_mask(sessions, datasets, keep)
    found = sessions[mask]
    return _sort_sessions(found)


def _sort_sessions(df: pd.DataFrame) -> pd.DataFrame:
    """ONE's order: date, subject, number, all descending."""
    keys = [k for k in ("date", "subject", "number") if k in df.columns]
    if not keys or len(df) < 2:
        return df
    return df.sort_values(keys, ascending=False, kind="stable")


def search(cache: Any, details: bool = False, wildcards: bool = True, **terms: Any) -> Any:
    """Eids of the sessions matching every term (ONE's local ``search``).

    With ``details`` returns ``(eids, [session dict without eid, ...])`` or ``([], None)``.
    """
    found = search_sessions(cache, wildcards=wildcards, **terms)
    eids = list(map(str, found.index.tolist()))
    if not details:
        return eids
    if not eids:
        return [], None
    return eids, found.reset_index(drop=True).to_dict("records")


def list_subjects(cache: Any) -> list[str]:
    """Sorted unique subject nicknames of the sessions table."""
    return sorted(str(s) for s in cache.sessions["subject"].dropna().unique())


def get_details(cache: Any, eid: Any, full: bool = False) -> Any:
    """The session row (a Series named by its eid); ``full`` -> its datasets with session columns.

    Raises ALFObjectNotFound when the session is not in the table.
    """
    given = eid
    eid = to_eid(eid, cache)
    if eid is None:
        raise ALFObjectNotFound(f"Session {shown(given)} not found in the cache tables")
    ses = cache.sessions
    rows = ses[ses.index == eid]
    if len(rows) == 0:
        raise ALFObjectNotFound(f"Session {eid} not found in the cache tables")
    if len(rows) > 1:
        raise ALFMultipleObjectsFound(f"Multiple sessions in cache for eid {eid}")
    row = rows.iloc[0].copy()
    row.name = eid
    if not full:
        return row
    datasets = view.session_rows(cache, eid)
    datasets = datasets.copy() if datasets is not None else view.no_rows(cache)
    for col, value in row.items():
        if col not in datasets.columns:
            datasets[col] = value
    return datasets


# ---------------------------------------------------------------------------------------------
# Insertions


def _require_insertions(cache: Any, message: str) -> pd.DataFrame:
    if not getattr(cache, "has_insertions", False):
        raise NotImplementedError(message)
    return cache.insertions


def search_insertions(cache: Any, details: bool = False, wildcards: bool = True,
                      **terms: Any) -> Any:
    """Probe insertion ids matching session terms and ``model``/``name``/``serial`` (ONE 3.x).

    Sorted by session date, subject, number and probe name, descending. Without an insertions
    table: a warning and ``[]``.
    """
    if not getattr(cache, "has_insertions", False):
        log.warning("No insertions data loaded.")
        return ([], None) if details else []
    ins = cache.insertions
    session_terms: dict[str, Any] = {}
    mask = np.ones(len(ins), dtype=bool)
    for key, value in terms.items():
        if key in INSERTION_TEXT_TERMS:
            if value is not None:
                test = patterns.text_matcher(value, wildcards)
                mask &= patterns.unique_mask(ins[key].astype("str"), test)
            continue
        try:
            session_terms[autocomplete(key)] = value
        except ValueError:
            raise NotImplementedError(key) from None
    eids = ins.index.get_level_values("eid")
    if session_terms:
        keep = search_sessions(cache, wildcards=wildcards, **session_terms).index
        mask &= np.asarray(eids.isin(keep))
    found = ins[mask].reset_index()
    ses = cache.sessions[["date", "subject", "number"]]
    found = found.join(ses, on="eid")
    found = found.sort_values(["date", "subject", "number", "name"], ascending=False,
                              kind="stable")
    pids = [str(p) for p in found["id"]]
    if not details:
        return pids
    if not pids:
        return [], None
    return pids, found.drop(columns=["id"]).to_dict("records")


def pid2eid(cache: Any, pid: Any) -> tuple[str, str]:
    """(eid, probe name) of a probe insertion id, from the local insertions table."""
    ins = _require_insertions(cache, "Converting probe IDs requires remote connection")
    pid = str(pid).lower()
    ids = ins.index.get_level_values("id")
    hits = ins[np.asarray(ids == pid)]
    if len(hits) == 0:
        raise ALFObjectNotFound(f"Probe {pid} not found in the insertions table")
    return str(hits.index[0][0]), str(hits["name"].iloc[0])


def eid2pid(cache: Any, eid: Any, details: bool = False) -> Any:
    """(pids, names) of a session's probe insertions sorted by name; (None, None) if none."""
    ins = _require_insertions(cache, "Converting to probe ID requires remote connection")
    eid = to_eid(eid, cache)
    rows = ins[np.asarray(ins.index.get_level_values("eid") == eid)]
    if len(rows) == 0:
        return (None, None, None) if details else (None, None)
    rows = rows.sort_values("name", kind="stable")
    pids = [str(i) for i in rows.index.get_level_values("id")]
    names = [str(n) for n in rows["name"]]
    if details:
        return pids, names, rows.reset_index().to_dict("records")
    return pids, names
