"""Local queries on a Cache, with ONE's terms, matching rules, sort order and messages.

Text filters run once per *unique* value (a few labs, a few hundred dataset paths) and are mapped
back to rows through category codes, so a search over a million dataset rows is a few numpy
gathers rather than a million regex calls. Regexes use Python's ``re`` (as ONE does), never the
pyarrow regex engine, so patterns behave the same on every pandas string backend.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

try:  # a time limit on user patterns (see _Bounded); optional
    import regex as _regex
except ImportError:  # pragma: no cover
    _regex = None

from one_tui.engine.core.errors import (
    ALFError,
    ALFMultipleObjectsFound,
    ALFObjectNotFound,
)
from one_tui.engine.core.spec import (
    DEFAULTS,
    FILE_PARTS,
    FILE_SPEC,
    QC,
    QC_CATEGORIES,
    parse_date,
    shown,
)
from one_tui.engine.local.codes import DatasetCodes
from one_tui.engine.local.converters import to_eid

__all__ = [
    "SEARCH_TERMS",
    "search_terms",
    "autocomplete",
    "search",
    "search_sessions",
    "filter_datasets",
    "list_datasets",
    "list_collections",
    "list_revisions",
    "list_subjects",
    "get_details",
    "search_insertions",
    "pid2eid",
    "eid2pid",
    "validate_date_range",
]

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


# ---------------------------------------------------------------------------------------------
# Matching helpers


def _ensure_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Index, pd.Series)):
        return list(value)
    return [value]


#: Seconds one user pattern may spend matching the unique values of a query: a catastrophic
#: pattern such as ``(a+)+$`` on 40 a's and a '!' would otherwise run for minutes.
REGEX_TIME_LIMIT = 5.0


class RegexTimeLimit(ValueError):
    """A user's regular expression took longer than ``REGEX_TIME_LIMIT`` (one-line message)."""


class _Bounded:
    """A compiled pattern whose calls share one time budget. With the ``regex`` package the
    match runs with ``timeout`` and releases the GIL (``concurrent``), so the app stays
    responsive and escape works while it runs; without it, Python's ``re`` (unbounded)."""

    def __init__(self, pattern: str, flags: int) -> None:
        self.pattern = pattern
        self._re = re.compile(pattern, flags)  # ONE's syntax and error messages
        self._rx: Any = None
        self._deadline: float | None = None
        if _regex is not None:
            try:
                self._rx = _regex.compile(pattern, flags | _regex.V0)
            except _regex.error:
                self._rx = None

    def _call(self, name: str, text: str) -> Any:
        if self._rx is None:
            return getattr(self._re, name)(text)
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + REGEX_TIME_LIMIT
        try:
            return getattr(self._rx, name)(text, concurrent=True,
                                            timeout=max(self._deadline - now, 0.001))
        except TimeoutError:
            raise RegexTimeLimit(
                f'Regular expression "{shown(self.pattern, limit=60)}" gave up after '
                f"{REGEX_TIME_LIMIT:g} s (catastrophic backtracking?); simplify it") from None

    def search(self, text: str) -> Any:
        return self._call("search", text)

    def match(self, text: str) -> Any:
        return self._call("match", text)

    def fullmatch(self, text: str) -> Any:
        return self._call("fullmatch", text)


def _compile(pattern: str, flags: int = 0) -> _Bounded:
    try:
        return _Bounded(pattern, flags)
    except re.error as exc:
        raise ValueError(f'Invalid regular expression "{shown(pattern)}": {exc}') from None


def _text_matcher(values: Any, wildcards: bool) -> Callable[[str], bool]:
    """ONE's ``str.contains``: regex search when ``wildcards``, else substring; a list is OR."""
    queries = [str(v) for v in _ensure_list(values)]
    if wildcards:
        rx = _compile("|".join(queries))
        return lambda s: rx.search(s) is not None
    return lambda s: any(q in s for q in queries)


def _codes_and_uniques(values: pd.Series | pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes per row and the unique values (categoricals are used as they are)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.cat if isinstance(values, pd.Series) else values
        return np.asarray(cat.codes), np.asarray(cat.categories, dtype=object)
    codes, uniques = pd.factorize(values)
    return np.asarray(codes), np.asarray(uniques, dtype=object)


def _unique_mask(values: pd.Series, test: Callable[[str], bool]) -> np.ndarray:
    """Row mask of ``test`` evaluated once per unique non-null value."""
    codes, uniques = _codes_and_uniques(values)
    hit = np.fromiter((bool(test(str(u))) for u in uniques), dtype=bool, count=len(uniques))
    hit = np.append(hit, False)  # code -1 (null) -> last element -> False
    return hit[codes]


def validate_date_range(date_range: Any) -> tuple[np.datetime64, np.datetime64]:
    """Inclusive day bounds from a date, a 1-list (from) or a 2-list with optional None ends."""
    lo, hi = np.datetime64("NaT"), np.datetime64("NaT")
    if isinstance(date_range, (list, tuple)):
        if len(date_range) > 2:
            raise ValueError("date_range must be a date or a list of at most two dates")
        if len(date_range) == 0:
            return lo, hi
        first = date_range[0]
        second = date_range[1] if len(date_range) == 2 else None
        lo = np.datetime64(parse_date(first), "D") if first is not None else lo
        hi = np.datetime64(parse_date(second), "D") if second is not None else hi
        return lo, hi
    day = np.datetime64(parse_date(date_range), "D")
    return day, day


def _to_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f'Invalid session number "{shown(value)}"; expected an integer') from None


# ---------------------------------------------------------------------------------------------
# Dataset views: per-row codes and per-unique-path facts


def _for_query(cache: Any) -> pd.DataFrame | DatasetCodes:
    """The datasets a query reads: the file's codes until the rows are loaded (Cache), else
    the frame (any object with a ``datasets`` frame)."""
    get = getattr(cache, "datasets_for_query", None)
    return get() if get is not None else cache.datasets


def _rows_where(datasets: pd.DataFrame | DatasetCodes, mask: np.ndarray) -> pd.DataFrame:
    """The rows of ``mask`` as a DataFrame (from the file's row groups for codes)."""
    if isinstance(datasets, DatasetCodes):
        return datasets.rows(np.flatnonzero(mask))
    return datasets[mask] if len(datasets) else datasets.copy()


def _no_rows(cache: Any) -> pd.DataFrame:
    """An empty datasets frame with the table's columns and dtypes."""
    datasets = _for_query(cache)
    if isinstance(datasets, DatasetCodes):
        return datasets.rows(np.zeros(0, dtype=np.int64))
    return datasets.iloc[0:0].copy()


def _eid_codes(datasets: pd.DataFrame | DatasetCodes) -> tuple[np.ndarray, pd.Index]:
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


def _path_codes(datasets: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-row code of ``rel_path`` and the unique paths."""
    if isinstance(datasets, DatasetCodes):
        return datasets.path_codes, datasets.paths
    return _codes_and_uniques(datasets["rel_path"])


def _qc_codes(datasets: pd.DataFrame) -> np.ndarray:
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


def _exists(datasets: pd.DataFrame) -> np.ndarray:
    if isinstance(datasets, DatasetCodes):
        return datasets.exists
    if "exists" not in datasets.columns:
        return np.ones(len(datasets), dtype=bool)
    return datasets["exists"].fillna(False).to_numpy(dtype=bool)


def _eids_with(datasets: pd.DataFrame, row_mask: np.ndarray) -> np.ndarray:
    """Boolean per eid level value: has at least one row in ``row_mask``."""
    codes, eids = _eid_codes(datasets)
    present = np.zeros(len(eids) + 1, dtype=bool)
    present[codes[row_mask]] = True
    return present[:-1]


def _dataset_session_filter(datasets: pd.DataFrame, names: list, qc_lte: QC | None,
                            partial: bool, wildcards: bool) -> np.ndarray:
    """Per eid level value: has, for every name, an existing dataset that matches with
    QC <= ``qc_lte``.

    ``partial`` is ONE 2.x's ``dataset`` (contains on rel_path); otherwise 3.x's ``datasets``
    (``re.fullmatch`` on the file name). Work is per unique path, then numpy gathers per row.
    """
    path_codes, paths = _path_codes(datasets)
    ok = _exists(datasets)
    if qc_lte is not None:
        ok = ok & (_qc_codes(datasets) <= QC_CATEGORIES.index(qc_lte.name))
    if not names:  # dataset_qc_lte alone: any existing dataset within the QC bound (2.x)
        return _eids_with(datasets, ok)
    basenames = [p.rsplit("/", 1)[-1] for p in map(str, paths)]
    result: np.ndarray | None = None
    for name in names:
        if partial:
            test = _text_matcher(name, wildcards)
            hit = np.fromiter((test(str(p)) for p in paths), dtype=bool, count=len(paths))
        else:
            rx = _compile(str(name))
            hit = np.fromiter((rx.fullmatch(b) is not None for b in basenames), dtype=bool,
                              count=len(paths))
        rows = np.append(hit, False)[path_codes] & ok
        present = _eids_with(datasets, rows)
        result = present if result is None else result & present
        if not result.any():
            break
    return result


def _session_mask(sessions: pd.DataFrame, datasets: pd.DataFrame, present: np.ndarray
                  ) -> np.ndarray:
    """Sessions mask from a per-eid-level mask (a hash lookup of the hits, not an isin)."""
    _, eids = _eid_codes(datasets)
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
            mask &= _unique_mask(sessions[column], _text_matcher(terms[term], wildcards))
    if terms.get("date_range") is not None:
        lo, hi = validate_date_range(terms["date_range"])
        days = pd.to_datetime(sessions["date"]).to_numpy().astype("datetime64[D]")
        if not np.isnat(lo):
            mask &= days >= lo
        if not np.isnat(hi):
            mask &= days <= hi
    if terms.get("number") is not None:
        numbers = [_to_int(n) for n in _ensure_list(terms["number"])]
        mask &= sessions["number"].isin(numbers).to_numpy()
    qc = terms.get("dataset_qc_lte")
    qc = QC.validate(qc) if qc is not None else None
    dataset_terms = [t for t in ("dataset", "datasets") if terms.get(t) is not None]
    if (dataset_terms or qc is not None) and mask.any():
        datasets = _for_query(cache)
        keep: np.ndarray | None = None
        for term in dataset_terms:
            # ONE 2.11.2 (``dataset``) and 3.x (``datasets``) both default to FAIL: a dataset
            # with CRITICAL QC does not count unless dataset_qc_lte says so
            qc_lte = QC.FAIL if qc is None else qc  # NOT_SET is 0: not "or"
            present = _dataset_session_filter(datasets, _ensure_list(terms[term]), qc_lte,
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


# ---------------------------------------------------------------------------------------------
# filter_datasets and list_*


def _translate(value: str, wildcards: bool) -> str:
    """A part value as a regex: fnmatch when ``wildcards`` (without the end anchor)."""
    return fnmatch.translate(value).replace("\\Z", "") if wildcards else value


def _part_regex(value: Any, wildcards: bool) -> str:
    return "|".join(_translate(str(v), wildcards) for v in _ensure_list(value))


def _fill(template: str, parts: dict[str, str]) -> str:
    """Replace ``{part}`` placeholders with named groups (user text is never str.format-ted)."""
    return re.sub(r"\{(\w+)\}",
                  lambda m: f"(?P<{m[1]}>{parts.get(m[1]) or DEFAULTS[m[1]]})", template)


def _collection_template(collection: Any, revision: Any) -> str:
    """None matches anything including nothing; '' matches only none; a value is required."""
    spec = ""
    for value, piece in zip((collection, revision), ("{collection}/", "#{revision}#/"),
                            strict=True):
        if value is None:
            spec += f"({piece})?"
        elif value == "" or value == []:
            continue
        else:
            spec += piece
    return spec


def dataset_regex(filename: Any = None, collection: Any = None, revision: Any = None,
                  wildcards: bool = True) -> _Bounded:
    """The regex ONE builds to select ``rel_path`` values (anchored at the start)."""
    parts: dict[str, str] = {}
    if collection not in (None, ""):
        parts["collection"] = _part_regex(collection, wildcards)
    if revision not in (None, ""):
        parts["revision"] = _part_regex(revision, wildcards)
    head = _fill(_collection_template(collection, revision), parts)
    if isinstance(filename, dict) or not filename:
        given = dict(filename or {})
        unknown = set(given) - set(FILE_PARTS)
        if unknown:
            part = shown(sorted(unknown)[0])
            raise ValueError(f'Unknown ALF part "{part}"; expected {FILE_PARTS}')
        template = FILE_SPEC
        if given.get("namespace") is not None:
            template = template.replace("{namespace}?", "{namespace}")
        if given.get("timescale") is not None:
            template = template.replace("(?:_{timescale})?", "_{timescale}")
        file_parts = {k: _part_regex(v, wildcards) for k, v in given.items() if v is not None}
        tail = _fill(template, file_parts)
    else:
        names = []
        for name in _ensure_list(filename):
            rx = fnmatch.translate(str(name)) if wildcards else f"{name}$"
            # a leading '*' must not swallow the collection: '.*' -> '[^/]*'
            rx = re.sub(r"^(\(\?s:)?\.\*", r"\1[^/]*", rx)
            names.append(rx)
        tail = "(?:" + "|".join(names) + ")"
    return _compile("^" + head + tail)


def _paths_mask(datasets: pd.DataFrame, pattern: _Bounded) -> np.ndarray:
    codes, paths = _path_codes(datasets)
    hit = np.fromiter((pattern.match(str(p)) is not None for p in paths), dtype=bool,
                      count=len(paths))
    return np.append(hit, False)[codes]


def _filter_mask(datasets: pd.DataFrame, filename: Any = None, collection: Any = None,
                 revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                 default_revisions_only: bool = False, wildcards: bool = True) -> np.ndarray:
    """Row mask of ``filter_datasets`` (no rows copied: listings only need the codes)."""
    qc = QC.validate(qc)
    codes = datasets if isinstance(datasets, DatasetCodes) else None
    if default_revisions_only and (datasets.default_revision is None if codes is not None
                                   else "default_revision" not in datasets.columns):
        raise ALFError("No default revisions specified")
    if len(datasets) == 0:
        return np.zeros(0, dtype=bool)
    pattern = dataset_regex(filename, collection, revision, wildcards)
    mask = _paths_mask(datasets, pattern)
    qc_codes = _qc_codes(datasets)
    mask &= qc_codes <= QC_CATEGORIES.index(qc.name)
    if ignore_qc_not_set:
        mask &= qc_codes != 0
    if default_revisions_only:
        mask &= (codes.default_revision if codes is not None
                 else datasets["default_revision"].fillna(False).to_numpy(dtype=bool))
    return mask


def filter_datasets(datasets: pd.DataFrame, filename: Any = None, collection: Any = None,
                    revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                    default_revisions_only: bool = False, wildcards: bool = True,
                    ) -> pd.DataFrame:
    """Datasets whose rel_path matches the ALF filters and whose QC is at most ``qc``.

    The default ``qc=FAIL`` hides CRITICAL datasets; ``revision`` is matched as a pattern.
    """
    mask = _filter_mask(datasets, filename, collection, revision, qc, ignore_qc_not_set,
                        default_revisions_only, wildcards)
    return datasets[mask] if len(datasets) else datasets.copy()


def _session_rows(cache: Any, eid: Any) -> pd.DataFrame | None:
    """The datasets of one session (index still (eid, id)); None if the eid is unknown."""
    eid = to_eid(eid, cache)
    if eid is None:
        return None
    datasets = _for_query(cache)
    if isinstance(datasets, DatasetCodes):
        pos = datasets.eids.get_indexer([eid])[0]
        if pos < 0:
            return _no_rows(cache)
        return _one_order(datasets.rows(datasets.rows_of(np.array([pos]))))
    codes, eids = _eid_codes(datasets)
    pos = eids.get_indexer([eid])[0]
    if pos < 0:
        return _no_rows(cache)
    return _one_order(_rows_where(datasets, codes == pos))


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


def _selected(cache: Any, eid: Any, filters: dict[str, Any]
              ) -> tuple[pd.DataFrame | None, np.ndarray | None, bool]:
    """(rows considered, mask of those passing the filters, one session?); (None, None, True)
    for an unknown session."""
    if eid is None:
        rows = _for_query(cache)
        return rows, _filter_mask(rows, **filters), False
    rows = _session_rows(cache, eid)
    if rows is None:
        return None, None, True
    return rows, _filter_mask(rows, **filters), True


def _unique_paths(df: pd.DataFrame, mask: np.ndarray) -> list[str]:
    """Unique rel_path values of the masked rows, in table order."""
    codes, paths = _path_codes(df)
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
    codes, paths = _path_codes(df)
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


def _codes_paths_in_one_order(df: DatasetCodes, filters: dict[str, Any]) -> list[str]:
    """:func:`_unique_paths_in_one_order` on codes, from the filters rather than a row mask.

    The row mask of ``filter_datasets`` is a path test (per unique path) and a test of the
    row's QC code and default_revision flag, so each path's first session in ONE's order is
    the smallest of ``first_ranks()`` over the allowed (QC, flag) cells: no pass over the rows.
    Ids are read only for paths whose first session is another path's first session too, the
    one case where ONE's (eid, id) order compares ids.
    """
    qc = QC.validate(filters["qc"])
    if filters["default_revisions_only"] and df.default_revision is None:
        raise ALFError("No default revisions specified")
    if len(df) == 0:
        return []
    pattern = dataset_regex(filters["filename"], filters["collection"], filters["revision"],
                            filters["wildcards"])
    hit = np.fromiter((pattern.match(str(p)) is not None for p in df.paths), dtype=bool,
                      count=len(df.paths))
    top_qc = QC_CATEGORIES.index(qc.name)
    low_qc = 1 if filters["ignore_qc_not_set"] else 0
    flags = [1] if filters["default_revisions_only"] else [0, 1]
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
        if filters["default_revisions_only"]:
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
    session). With
    ``details``: the rows (index ``(eid, id)``; ``id`` only for one session unless
    ``keep_eid_index``). An unknown session gives an empty result.
    """
    filters = dict(filename=filename, collection=collection, revision=revision, qc=qc,
                   ignore_qc_not_set=ignore_qc_not_set,
                   default_revisions_only=default_revisions_only, wildcards=wildcards)
    if eid is None and not details:
        datasets = _for_query(cache)
        if isinstance(datasets, DatasetCodes):
            return _codes_paths_in_one_order(datasets, filters)
    rows, mask, one_session = _selected(cache, eid, filters)
    if rows is None or mask is None:
        return _no_rows(cache) if details else []
    if not details:
        if one_session:
            return sorted(_unique_paths(rows, mask))
        return _unique_paths_in_one_order(rows, mask)
    found = _rows_where(rows, mask)
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


def _list_parts(cache: Any, which: int, eid: Any, details: bool, filters: dict) -> Any:
    rows, mask, _ = _selected(cache, eid, filters)
    if rows is None or mask is None or not mask.any():
        return {} if details else []
    codes, paths = _path_codes(rows)
    keys = [_split_path(str(p))[which] for p in paths]
    used = np.unique(codes[mask])
    names = sorted({keys[c] for c in used if c >= 0})
    if not details:
        return names
    found = _rows_where(rows, mask)
    per_row = np.array(keys + [""], dtype=object)[codes[mask]]
    return {k: found[per_row == k] for k in names}


def list_collections(cache: Any, eid: Any = None, filename: Any = None, collection: Any = None,
                     revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                     details: bool = False, default_revisions_only: bool = False,
                     wildcards: bool = True) -> Any:
    """Sorted unique collections ('' is the session root); ``details`` -> {collection: rows}."""
    filters = dict(filename=filename, collection=collection, revision=revision, qc=qc,
                   ignore_qc_not_set=ignore_qc_not_set,
                   default_revisions_only=default_revisions_only, wildcards=wildcards)
    return _list_parts(cache, 0, eid, details, filters)


def list_revisions(cache: Any, eid: Any = None, filename: Any = None, collection: Any = None,
                   revision: Any = None, qc: Any = QC.FAIL, ignore_qc_not_set: bool = False,
                   details: bool = False, default_revisions_only: bool = False,
                   wildcards: bool = True) -> Any:
    """Sorted unique revisions without the '#' marks ('' for none); ``details`` -> dict."""
    filters = dict(filename=filename, collection=collection, revision=revision, qc=qc,
                   ignore_qc_not_set=ignore_qc_not_set,
                   default_revisions_only=default_revisions_only, wildcards=wildcards)
    return _list_parts(cache, 1, eid, details, filters)


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
    datasets = _session_rows(cache, eid)
    datasets = datasets.copy() if datasets is not None else _no_rows(cache)
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
                mask &= _unique_mask(ins[key].astype("str"), _text_matcher(value, wildcards))
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
