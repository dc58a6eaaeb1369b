"""What each list query selects: the demo's sessions, insertions and datasets filters.

Exists so that Alyx's filter semantics (joins that repeat rows, ``distinct()``, the ``django``
lookups, QC bounds) change in one place, apart from HTTP (``demo/http.py``), the routes
(``demo/router.py``) and the shape of the answers (``demo/records.py``). The server holds one
:class:`DemoQueries`: it builds its lazy views of the synthetic database once (whatever request
thread asks first) and answers ``filter_*`` with row positions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from one_tui.demo.atlas import insertion_regions, regions_above
from one_tui.demo.catalogue import split_projects
from one_tui.demo.filters import (
    BadValue,
    Field,
    FilterError,
    django_mask,
    json_pairs_mask,
    lookup_mask,
)
from one_tui.demo.lookups import (
    DATASET_MODEL_FIELDS,
    INSERTION_MODEL_FIELDS,
    QC_VALUE_OF_CODE,
    SESSION_MODEL_FIELDS,
    DatasetIndex,
    atlas_param,
    bool_param,
    date_param,
    float_param,
    int_param,
    qc_bound,
    qc_code,
    uuid_param,
)
from one_tui.demo.synth import SyntheticDB

T = TypeVar("T")


class DemoQueries:
    """The lazy views of ``self.db`` (built once, thread-safe) and the ``filter_*`` queries."""

    def __init__(self, db: SyntheticDB) -> None:
        self.db = db
        self._build_lock = threading.RLock()  # the lazy indices are built once, not per thread
        self._built: dict[str, Any] = {}

    def warm_up(self) -> None:
        """Build the indices every filter uses now, not on the first request."""
        _ = self.dataset_index, self.session_view

    # -- views: lookups shared by the filters --
    def _once(self, name: str, build: Callable[[], T]) -> T:
        """Build a lazy index once even when the first requests arrive together."""
        with self._build_lock:
            if name not in self._built:
                self._built[name] = build()
            built: T = self._built[name]
            return built

    @property
    def dataset_index(self) -> DatasetIndex:
        return self._once("ds_index", lambda: DatasetIndex(self.db))

    @property
    def session_view(self) -> pd.DataFrame:
        """Sessions in Alyx's list order (-start_time) with the REST-only columns."""
        return self._once("session_view", self._build_session_view)

    def _build_session_view(self) -> pd.DataFrame:
        db = self.db
        sv = db.sessions.join(db.session_extra)
        sv = sv.iloc[np.argsort(-sv["start_time"].to_numpy().astype(np.int64), kind="stable")]
        sv["pos"] = db.sessions.index.get_indexer(sv.index)
        sv["day"] = sv["start_time"].dt.normalize()
        sv["projects_list"] = sv["projects"].map(split_projects)
        sv["atlas_all"] = sv["atlas_acronyms"].map(
            lambda leaves: regions_above(leaves))
        # per insertion, the regions its channels are in (with every region above them): the
        # atlas filters return a session once per insertion in the region, as Alyx's join does
        probes: dict[str, list[set[str]]] = {}
        for (eid, _pid), j in zip(db.insertions.index, db.insertions["json"], strict=True):
            probes.setdefault(eid, []).append(insertion_regions(j))
        sv["probe_regions"] = [probes.get(eid, []) for eid in sv.index]
        sv["json"] = None
        histo = {s for s, p in zip(sv["subject"], sv["procedures"], strict=True)
                 if "Histology" in p}
        sv["histology"] = sv["subject"].isin(histo)
        return sv

    @property
    def insertion_view(self) -> pd.DataFrame:
        """Insertions with their session's fields (newest session first, then probe name)."""
        return self._once("insertion_view", self._build_insertion_view)

    def _build_insertion_view(self) -> pd.DataFrame:
        db = self.db
        iv = db.insertions.reset_index()
        sv = self.session_view
        iv = iv.join(sv.drop(columns=["json"]), on="eid")
        iv["probe"] = iv["name"].str[-2:].astype(int)
        iv["key"] = iv["pos"].to_numpy() * 4 + iv["probe"].to_numpy()
        iv["regions"] = iv["json"].map(insertion_regions)
        order = np.lexsort((iv["name"].to_numpy(), -iv["start_time"].to_numpy().astype(np.int64)))
        return iv.iloc[order].reset_index(drop=True)

    @cached_property
    def pid_to_eid(self) -> dict[str, str]:
        return {pid: eid for eid, pid in self.db.insertions.index}

    @cached_property
    def dataset_types(self) -> list[str]:
        return sorted(set(self.dataset_index.dataset_type))

    # -- sessions --
    def _session_fields(self, sv: pd.DataFrame) -> dict[str, Field]:
        def col(name: str, kind: str = "str") -> Field:
            return Field(lambda: sv[name], kind)

        qc_int = Field(lambda: pd.Series(QC_VALUE_OF_CODE[sv["qc"].cat.codes.to_numpy()],
                                         index=sv.index), "number")
        idx = self.dataset_index

        def any_session(rows: np.ndarray) -> np.ndarray:
            hit = np.zeros(len(self.db.sessions), dtype=bool)
            hit[idx.sess[rows]] = True
            return np.asarray(hit[sv["pos"].to_numpy()])

        return {
            "id": Field(lambda: pd.Series(sv.index)), "pk": Field(lambda: pd.Series(sv.index)),
            "subject__nickname": col("subject"), "lab__name": col("lab"),
            "subject__lab__name": col("lab"), "start_time": col("start_time", "datetime"),
            "end_time": col("end_time", "datetime"), "number": col("number", "number"),
            "task_protocol": col("task_protocol"), "projects__name": col("projects_list", "multi"),
            "users__username": col("users", "multi"), "procedures__name": col("procedures",
                                                                              "multi"),
            "narrative": col("narrative"), "qc": qc_int, "n_trials": col("n_trials", "number"),
            "n_correct_trials": col("n_correct_trials", "number"),
            "location__name": col("location"), "type": col("type"),
            "extended_qc": col("extended_qc", "json"), "json": col("json", "json"),
            # one-tui's (and ONE 2.x's) ``dataset`` term: any dataset of the session
            "data_dataset_session_related__name": Field(
                lambda: idx.name, "str", lambda: idx.path, any_session),
        }

    def filter_sessions(self, params: dict[str, str]) -> np.ndarray:
        """Positions (into db.sessions) of the sessions a /sessions query returns, in order.

        As on Alyx (PostgreSQL joins, no DISTINCT), a session comes back once per matching
        related row for the filters that join a many-valued relation: ``projects``/``project``
        (per matching project), ``procedures``, ``dataset_qc_lte`` alone (per dataset at or
        under the QC), the atlas filters (per insertion in the region); several such filters
        multiply. A filter that ends in ``distinct()`` or a ``GROUP BY`` (``django``,
        ``histology``, ``tag``, ``datasets``, ``dataset_types``, ``users``) makes every
        session appear once again.
        """
        sv = self.session_view
        rows = np.ones(len(sv), dtype=np.int64)
        for name, fn in _SESSION_FILTERS:
            if params.get(name) is not None:
                rows *= fn(self, sv, params[name], params)
        if params.get("subject") is None and params.get("nickname") is not None:
            rows *= sv["subject"].str.lower().to_numpy() == params["nickname"].lower()
        if params.get("django"):
            rows *= django_mask(params["django"], self._session_fields(sv), len(sv),
                                SESSION_MODEL_FIELDS)
        distinct = {"django", "tag", "datasets", "dataset_types", "users"}
        if any(params.get(k) for k in distinct) or (
                params.get("histology") is not None
                and bool_param(params["histology"]) is not None):
            rows = np.minimum(rows, 1)
        return np.repeat(sv["pos"].to_numpy(), rows)

    # -- insertions --
    def filter_insertions(self, params: dict[str, str]) -> np.ndarray:
        """Row positions into ``_insertion_view`` matching an /insertions query."""
        iv = self.insertion_view
        m = np.ones(len(iv), dtype=bool)
        rows = np.ones(len(iv), dtype=np.int64)
        for param in ("id", "session"):
            if (value := uuid_param(params, param)) is not None:
                m &= iv["id" if param == "id" else "eid"].to_numpy() == value
        for param in ("subject", "name", "model", "serial"):
            if params.get(param) is not None:
                m &= iv[param].to_numpy() == params[param]
        if params.get("auto_datetime") is not None:
            m &= _f_datetime_exact("auto_datetime")(self, iv.assign(
                auto_datetime=pd.to_datetime(iv["auto_datetime"])), params["auto_datetime"],
                params)
        if params.get("date") is not None:
            m &= (iv["day"] == date_param(params["date"])).to_numpy()
        if params.get("experiment_number") is not None:  # a CharFilter: the database refuses
            text = params["experiment_number"]
            if not text.strip().lstrip("-").isdigit():
                raise FilterError(f"Field 'number' expected a number but got '{text}'.")
            m &= iv["number"].to_numpy() == int(text)
        if params.get("lab") is not None:
            m &= iv["lab"].str.lower().to_numpy() == params["lab"].lower()
        if params.get("project") is not None:  # one row per matching project of the session
            rows *= _count_icontains(iv["projects_list"], params["project"])
        if params.get("task_protocol") is not None:
            m &= lookup_mask(iv["task_protocol"], "str", "icontains", params["task_protocol"])
        for param in ("atlas_acronym", "atlas_id", "atlas_name"):
            if params.get(param) is not None:
                wanted = atlas_param(param, params)
                m &= np.array([bool(wanted & r) for r in iv["regions"]], dtype=bool)
        if params.get("tag") is not None:
            m &= False
        m &= self.dataset_filter(params, iv["key"].to_numpy(), 4 * len(self.db.sessions), True)
        if params.get("dataset_qc_lte") is not None and params.get("datasets") is None:
            rows *= self.qc_counts(params["dataset_qc_lte"], iv["key"].to_numpy(),
                                    4 * len(self.db.sessions), True)
        if params.get("django"):
            m &= django_mask(params["django"], self._insertion_fields(iv), len(iv),
                             INSERTION_MODEL_FIELDS)
        if any(params.get(k) for k in ("django", "tag", "datasets", "dataset_types")):
            rows = np.minimum(rows, 1)
        return np.repeat(np.arange(len(iv)), rows * m)

    def qc_counts(self, value: str, keys: np.ndarray, n: int, by_probe: bool) -> np.ndarray:
        """Per key (session or insertion), its datasets with QC at or under ``value``."""
        idx = self.dataset_index
        thr = qc_bound(value)
        row_key = idx.sess * 4 + idx.probe if by_probe else idx.sess
        ok = idx.qc <= thr
        if by_probe:
            ok &= idx.probe >= 0
        return np.asarray(np.bincount(row_key[ok], minlength=n)[keys])

    def dataset_filter(self, params: dict[str, str], keys: np.ndarray, n: int,
                        by_probe: bool) -> np.ndarray:
        """``dataset_types`` / ``datasets`` (+``dataset_qc_lte``) as a mask over ``keys``."""
        out = np.ones(len(keys), dtype=bool)
        idx = self.dataset_index
        row_key = idx.sess * 4 + idx.probe if by_probe else idx.sess
        if by_probe:
            row_key = np.where(idx.probe >= 0, row_key, -1)
        if params.get("dataset_types") is not None:
            ok = idx.sessions_with_all(idx.type_masks(params["dataset_types"]), row_key, n)
            out &= ok[keys]
        if params.get("datasets") is not None:
            thr = qc_bound(params.get("dataset_qc_lte") or "FAIL")
            ok = idx.sessions_with_all(idx.name_masks(params["datasets"], thr), row_key, n)
            out &= ok[keys]
        return out

    def _insertion_fields(self, iv: pd.DataFrame) -> dict[str, Field]:
        idx = self.dataset_index

        def col(name: str, kind: str = "str") -> Field:
            return Field(lambda: iv[name], kind)

        def dataset_names() -> pd.Series:
            names = idx.name.to_numpy()
            id_pos = pd.Index(idx.ids)
            return iv["datasets"].map(lambda ids: list(names[idx.path[id_pos.get_indexer(ids)]]))

        return {
            "id": col("id"), "pk": col("id"), "name": col("name"), "serial": col("serial"),
            "model__probe_model": col("model"), "model__name": col("model"),
            "session": col("eid"), "session__id": col("eid"),
            "session__subject__nickname": col("subject"), "session__lab__name": col("lab"),
            "session__start_time": col("start_time", "datetime"),
            "session__number": col("number", "number"),
            "session__task_protocol": col("task_protocol"),
            "session__projects__name": col("projects_list", "multi"),
            "datasets__name": Field(dataset_names, "multi"), "json": col("json", "json"),
            "chronic_insertion": col("chronic_insertion"),
        }

    # -- datasets --
    def filter_datasets(self, params: dict[str, str]) -> np.ndarray:
        """Row positions into db.datasets matching a /datasets query (no defined order)."""
        idx = self.dataset_index
        sv = self.session_view
        n_rows = len(idx.sess)
        smask = np.ones(len(sv), dtype=bool)
        for param, col in (("subject", "subject"), ("lab", "lab")):
            if params.get(param) is not None:
                smask &= sv[col].to_numpy() == params[param]
        if params.get("date") is not None:
            smask &= (sv["day"] == date_param(params["date"])).to_numpy()
        if (num := int_param(params, "experiment_number")) is not None:
            smask &= sv["number"].to_numpy() == num
        if params.get("session") is not None:
            smask &= sv.index.to_numpy() == params["session"].lower()
        by_pos = np.zeros(len(sv), dtype=bool)
        by_pos[sv["pos"].to_numpy()] = smask
        m = by_pos[idx.sess]
        for param, series in (("name", idx.name), ("collection", idx.collection),
                              ("revision", idx.revision), ("dataset_type", idx.dataset_type)):
            if params.get(param) is not None:
                m &= idx.rows_where((series == params[param]).to_numpy())
        if params.get("qc") is not None:
            m &= idx.qc == qc_code(params["qc"])
        if params.get("exists") is not None and (
                exists := bool_param(params["exists"])) is not None:
            m &= idx.exists == exists
        if params.get("default_dataset") is not None and (
                default := bool_param(params["default_dataset"], rest=True)) is not None:
            m &= self.db.datasets["default_revision"].to_numpy() == default
        if params.get("hash") is not None:
            m &= self.db.datasets["hash"].to_numpy() == params["hash"]
        if params.get("django"):
            m &= django_mask(params["django"], self._dataset_fields(by_pos), n_rows,
                             DATASET_MODEL_FIELDS)
        return np.flatnonzero(m)

    def _dataset_fields(self, by_pos: np.ndarray) -> dict[str, Field]:
        idx = self.dataset_index
        d = self.db.datasets
        sessions = self.db.sessions
        extra = self.db.session_extra

        def unique(series: pd.Series) -> Field:
            return Field(lambda: series, "str", lambda: idx.path)

        def session_col(values: Callable[[], pd.Series], kind: str = "str") -> Field:
            return Field(values, kind, lambda: idx.sess)

        qc_int = pd.Series(QC_VALUE_OF_CODE[idx.qc])
        return {
            "id": Field(lambda: pd.Series(idx.ids)), "pk": Field(lambda: pd.Series(idx.ids)),
            "name": unique(idx.name), "collection": unique(idx.collection),
            "revision__name": unique(idx.revision), "revision": unique(idx.revision),
            "dataset_type__name": unique(idx.dataset_type), "qc": Field(lambda: qc_int,
                                                                         "number"),
            "file_size": Field(lambda: d["file_size"].reset_index(drop=True), "number"),
            "hash": Field(lambda: d["hash"].reset_index(drop=True)),
            "default_dataset": Field(lambda: d["default_revision"].reset_index(drop=True),
                                     "bool"),
            "session": session_col(lambda: pd.Series(sessions.index)),
            "session__id": session_col(lambda: pd.Series(sessions.index)),
            "session__isnull": session_col(lambda: pd.Series(False, index=range(len(sessions)))),
            "session__subject__nickname": session_col(
                lambda: sessions["subject"].reset_index(drop=True)),
            "session__lab__name": session_col(lambda: sessions["lab"].reset_index(drop=True)),
            "session__number": session_col(lambda: sessions["number"].reset_index(drop=True),
                                           "number"),
            "session__start_time": session_col(
                lambda: extra["start_time"].reset_index(drop=True), "datetime"),
        }


# --- the sessions filters (name, function(server, view, value, params) -> mask) ----------------
def _f_iexact(col: str) -> Callable[..., np.ndarray]:
    return lambda q, sv, v, p: sv[col].str.lower().to_numpy() == v.lower()


def _f_icontains(col: str, multi: bool = False) -> Callable[..., np.ndarray]:
    if multi:  # a many-to-many join: one row per matching value
        return lambda q, sv, v, p: _count_icontains(sv[col], v)
    return lambda q, sv, v, p: lookup_mask(sv[col], "str", "icontains", v)


def _count_icontains(values: pd.Series, v: str) -> np.ndarray:
    """Per row, how many of its names contain ``v`` (case-insensitive)."""
    low = v.lower()
    return np.array([sum(low in str(x).lower() for x in names) for names in values],
                    dtype=np.int64)


def _f_exact(col: str) -> Callable[..., np.ndarray]:
    return lambda q, sv, v, p: (sv[col].astype("str") == v).to_numpy()


def _f_users(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
    wanted = set(v.split(","))
    return np.array([wanted <= set(u) for u in sv["users"]], dtype=bool)


def _f_date_range(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
    parts = v.split(",")
    if len(parts) < 2:
        raise FilterError("list index out of range")
    day = sv["day"]
    return np.asarray(((day >= date_param(parts[0])) & (day <= date_param(parts[1]))).to_numpy())


def _f_number(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
    return np.asarray(sv["number"].to_numpy() == int_param(p, "number"))


def _f_qc(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
    return np.asarray(sv["qc"].cat.codes.to_numpy() == qc_code(v))


def _f_json(col: str) -> Callable[..., np.ndarray]:
    return lambda q, sv, v, p: json_pairs_mask(v, sv[col])


def _f_performance(op: str) -> Callable[..., np.ndarray]:
    def f(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
        value = float_param(p, f"performance_{op}")
        perf = sv["performance"]
        cmp = perf >= value if op == "gte" else perf <= value
        return np.asarray((perf.notna() & cmp).to_numpy())
    return f


def _f_dataset_types(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
    only = {k: p[k] for k in ("dataset_types",)}
    return q.dataset_filter(only, sv["pos"].to_numpy(), len(sv), False)


def _f_datasets(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
    only = {k: p[k] for k in ("datasets", "dataset_qc_lte") if p.get(k) is not None}
    return q.dataset_filter(only, sv["pos"].to_numpy(), len(sv), False)


def _f_histology(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
    h = sv["histology"].to_numpy()
    wanted = bool_param(v)
    if wanted is None:  # not a boolean: Django drops the filter
        return np.ones(len(sv), dtype=bool)
    return np.asarray(h if wanted else ~h)


def _f_dataset_qc_lte(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
    if p.get("datasets") is not None:  # then it is the QC bound of ``datasets``
        return np.ones(len(sv), dtype=bool)
    return q.qc_counts(v, sv["pos"].to_numpy(), len(sv), False)


def _f_atlas(param: str) -> Callable[..., np.ndarray]:
    def f(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
        wanted = atlas_param(param, p)
        return np.array([sum(bool(wanted & r) for r in probes) for probes in
                         sv["probe_regions"]], dtype=np.int64)
    return f


def _f_id(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
    return np.asarray(sv.index.to_numpy() == uuid_param(p, "id"))


def _f_int_exact(col: str) -> Callable[..., np.ndarray]:
    def f(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
        return np.asarray((sv[col] == int_param(p, col)).fillna(False).to_numpy(dtype=bool))
    return f


def _f_datetime_exact(col: str) -> Callable[..., np.ndarray]:
    def f(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
        try:
            when = pd.Timestamp(v)
        except ValueError:
            raise BadValue(col, "Enter a valid date/time.") from None
        return np.asarray((sv[col] == when).to_numpy())
    return f


def _f_nothing(q: DemoQueries, sv: pd.DataFrame, v: str, p: dict[str, str]) -> np.ndarray:
    """Filters on things the demo has none of (tags, parent sessions, names)."""
    return np.zeros(len(sv), dtype=bool)


_SESSION_FILTERS: list[tuple[str, Callable[..., np.ndarray]]] = [
    ("subject", _f_iexact("subject")), ("lab", _f_iexact("lab")), ("users", _f_users),
    ("date_range", _f_date_range), ("number", _f_number),
    ("task_protocol", _f_icontains("task_protocol")),
    ("projects", _f_icontains("projects_list", True)),
    ("project", _f_icontains("projects_list", True)), ("location", _f_icontains("location")),
    ("procedures", _f_icontains("procedures", True)), ("type", _f_iexact("type")),
    ("qc", _f_qc), ("extended_qc", _f_json("extended_qc")), ("json", _f_json("json")),
    ("performance_gte", _f_performance("gte")), ("performance_lte", _f_performance("lte")),
    ("dataset_types", _f_dataset_types), ("datasets", _f_datasets), ("histology", _f_histology),
    ("dataset_qc_lte", _f_dataset_qc_lte), ("atlas_acronym", _f_atlas("atlas_acronym")),
    ("atlas_id", _f_atlas("atlas_id")), ("atlas_name", _f_atlas("atlas_name")),
    ("id", _f_id), ("narrative", _f_exact("narrative")),
    ("n_trials", _f_int_exact("n_trials")), ("n_correct_trials", _f_int_exact("n_correct_trials")),
    ("start_time", _f_datetime_exact("start_time")), ("end_time", _f_datetime_exact("end_time")),
    ("tag", _f_nothing), ("name", _f_nothing), ("parent_session", _f_nothing),
]
