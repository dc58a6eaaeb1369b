"""A demo Alyx on loopback: the REST endpoints ONE and one-tui read, with fault injection.

It serves a :class:`~one_tui.demo.synth.SyntheticDB` the way Alyx 3.6 answers (see
``shared/reference/alyx-api.md``): token auth with 403s, limit/offset pagination capped at 1000,
the sessions filters with their 500 quirks, HTML 404s for unknown paths and trailing slashes,
``/cache/info/`` and ``/cache.zip``, and a small ``/api/schema``. Nothing is written: every write
is refused with 403, as for IBL's public accounts.

Faults (``server.faults``, a :class:`Faults`) let tests and the demo show what a flaky network or
server does to the app. A "switch" field takes ``True`` (always), an ``int`` N (the next N
requests) or ``False``; ``faults.paths`` limits every fault to request paths with those prefixes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import io
import json
import math
import re
import socket
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import numpy as np
import pandas as pd

from one_tui.demo import synth
from one_tui.demo.faults import Faults, Switch  # noqa: F401 - re-exported (server.Faults)
from one_tui.demo.filters import (
    BadValue,
    Field,
    FilterError,
    django_mask,
    json_pairs_mask,
    lookup_mask,
)
from one_tui.demo.schema import (
    DATASET_PARAMS,
    DETAIL_KEY,
    DOCS_HTML,
    INSERTION_PARAMS,
    LIST_PARAMS,
    SESSION_PARAMS,
    build_coreapi,
    build_schema,
)

__all__ = ["DemoServer", "Faults", "main", "build_schema", "build_coreapi", "LIST_PARAMS",
           "SESSION_PARAMS", "INSERTION_PARAMS", "DATASET_PARAMS", "DETAIL_KEY"]

QC_CHOICES = "CRITICAL, FAIL, WARNING, NOT_SET, PASS"
_NS = uuid.UUID("6f1b4a4e-3c57-4b0e-9a8e-0d6c1d2f7a10")


class _Reply(Exception):
    """Raised inside a view to answer immediately with this status and JSON body."""

    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _detail(status: int, text: str) -> _Reply:
    return _Reply(status, {"detail": text, "status_code": status})


def _not_found(model: str) -> _Reply:
    return _detail(404, f"No {model} matches the given query.")


#: The model fields Alyx 3.6.1 names when a ``django`` filter has an unknown keyword.
SESSION_MODEL_FIELDS = [
    "auto_datetime", "data_dataset_session_related", "end_time", "extended_qc", "field_of_view",
    "id", "json", "lab", "lab_id", "location", "location_id", "n_correct_trials", "n_trials",
    "name", "narrative", "number", "parent_session", "parent_session_id", "probe_insertion",
    "procedures", "projects", "qc", "session", "start_time", "subject", "subject_id",
    "task_protocol", "tasks", "type", "users", "wateradmin_session_related",
]
INSERTION_MODEL_FIELDS = [
    "auto_datetime", "chronic_insertion", "chronic_insertion_id", "datasets", "id", "json",
    "model", "model_id", "name", "serial", "session", "session_id", "trajectory_estimate",
]
DATASET_MODEL_FIELDS = [
    "auto_datetime", "collection", "content_object", "content_type", "content_type_id",
    "created_by", "created_by_id", "created_datetime", "data_dataset_provenance_related",
    "data_format", "data_format_id", "data_notices", "dataset_type", "dataset_type_id",
    "default_dataset", "download", "field_of_view", "file_records", "file_size",
    "generating_software", "hash", "id", "json", "md5", "name", "object_id", "probe_insertion",
    "protected", "provenance_directory", "provenance_directory_id", "public", "qc", "revision",
    "revision_id", "session", "session_id", "tags", "version",
]
#: Django's 404 page with DEBUG off (Alyx in production), for any path no route matches,
#: including a detail path whose UUID does not parse (``/sessions/abc``).
_HTML_404 = (
    "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n"
    "<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n"
    "</body>\n</html>\n"
)
_HTML_500 = ("<!doctype html>\n<html lang=\"en\">\n<head><title>Server Error (500)</title></head>"
             "\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n")


def _qc_validate(value: str) -> int:
    """Category code (0-4) as ONE's ``QC.validate`` (what Alyx's dataset QC filters call)."""
    if value.isnumeric():
        by_value = {v: synth.QC_NAMES.index(k) for k, v in synth.QC_VALUES.items()}
        if int(value) in by_value:
            return by_value[int(value)]
        raise FilterError(f"{int(value)} is not a valid QC")
    if value.upper() in synth.QC_NAMES:
        return synth.QC_NAMES.index(value.upper())
    raise FilterError(f"{value} is not a valid QC")


def _qc_index(name: str, param: str = "qc") -> int:
    """Category code (0-4) of a QC name or enum value; Alyx's 500 text otherwise."""
    text = name.strip().upper()
    if text in synth.QC_NAMES:
        return synth.QC_NAMES.index(text)
    by_value = {str(v): synth.QC_NAMES.index(k) for k, v in synth.QC_VALUES.items()}
    if text in by_value:
        return by_value[text]
    raise FilterError(f"Invalid{param}, choices are: {QC_CHOICES}")


def _int_param(params: dict[str, str], name: str) -> int | None:
    v = params.get(name)
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        raise BadValue(name, "Enter a number.") from None


def _float_param(params: dict[str, str], name: str) -> float | None:
    v = params.get(name)
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        raise BadValue(name, "Enter a number.") from None


def _bool_param(value: str, rest: bool = False) -> bool | None:
    """A boolean filter value as Django reads it; None means "not a boolean": no filter at all.

    Filters declared as ``django_filters.BooleanFilter`` (``histology``, datasets' ``exists``)
    take only ``True``/``true``/``False``/``false`` (``NullBooleanSelect``); the ones generated
    from a model field (``rest``: ``default_dataset``) also take ``1``/``0``, in any case.
    """
    if rest:
        return {"1": True, "true": True, "0": False, "false": False}.get(value.lower())
    return {"True": True, "true": True, "2": True, "False": False, "false": False,
            "3": False}.get(value)


def _date(value: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(dt.date.fromisoformat(value.strip()))
    except ValueError:  # Django's ValidationError, as str() shows its message list
        raise FilterError(f"['“{value}” value has an invalid date format. It must be in "
                          "YYYY-MM-DD format.']") from None


def _uuid_param(params: dict[str, str], name: str) -> str | None:
    """A UUID filter (``id``, ``session``): lower-case text, or Django's 400."""
    v = params.get(name)
    if v is None:
        return None
    try:
        return str(uuid.UUID(v))
    except ValueError:
        raise BadValue(name, "Enter a valid UUID.") from None


# --- the dataset index: per-row codes for fast filters over 1.5M rows ---------------------------
class _DatasetIndex:
    """Codes per dataset row (session position, path) and per unique path (name, type...)."""

    def __init__(self, db: synth.SyntheticDB) -> None:
        d = db.datasets
        level0 = db.sessions.index.get_indexer(d.index.levels[0])
        self.sess = level0[d.index.codes[0]].astype(np.int64)
        codes, uniques = pd.factorize(d["rel_path"])
        self.path = codes
        parts = [synth._split_rel_path(p) for p in uniques]
        self.collection = pd.Series([p[0] for p in parts], dtype="str")
        self.revision = pd.Series([p[1] for p in parts], dtype="str")
        self.name = pd.Series([p[2] for p in parts], dtype="str")
        self.dataset_type = pd.Series([synth.dataset_type_of(p[2]) for p in parts], dtype="str")
        self.probe = np.array([_probe_number(p[0]) for p in parts], dtype=np.int64)[codes]
        self.qc = d["qc"].cat.codes.to_numpy()
        self.exists = d["exists"].to_numpy()
        self.ids = d.index.get_level_values(1)
        self.n_sessions = len(db.sessions)

    def rows_where(self, unique_mask: np.ndarray) -> np.ndarray:
        """Row mask from a mask over the unique paths."""
        return unique_mask[self.path]

    def sessions_with_all(self, per_item: list[np.ndarray], key: np.ndarray, n: int
                          ) -> np.ndarray:
        """Keys (session or insertion) having rows in every one of the ``per_item`` row masks."""
        out = np.ones(n, dtype=bool)
        for rows in per_item:
            hit = np.zeros(n, dtype=bool)
            k = key[rows]
            hit[k[k >= 0]] = True
            out &= hit
        return out

    def type_masks(self, types: str) -> list[np.ndarray]:
        return [self.rows_where((self.dataset_type == t).to_numpy()) for t in types.split(",")]

    def name_masks(self, names: str, qc_lte: int) -> list[np.ndarray]:
        ok = self.exists & (self.qc <= qc_lte)
        return [self.rows_where((self.name == n).to_numpy()) & ok for n in names.split(",")]


def _probe_number(collection: str) -> int:
    m = re.search(r"probe(\d\d)", collection)
    return int(m.group(1)) if m else -1


# --- the server -----------------------------------------------------------------------------------
class DemoServer:
    """The demo Alyx. ``with DemoServer(db) as srv: httpx.get(srv.url + '/sessions', ...)``."""

    def __init__(self, db: synth.SyntheticDB, host: str = "127.0.0.1", port: int = 0,
                 users: dict[str, str] | None = None, page_size: int = 250,
                 max_limit: int = 1000) -> None:
        self.db = db
        self.host = host
        self.port = port
        self.users = dict(users or {"demo": "demo"})
        self.page_size = page_size
        self.max_limit = max_limit
        self.faults = Faults()
        self._requests: list[str] = []
        self._lock = threading.Lock()
        self._zip_lock = threading.Lock()
        self._build_lock = threading.RLock()  # the lazy indices are built once, not per thread
        self._stopping = threading.Event()
        self._token_epoch = 0
        self._tables_date = db.date_created
        self._zip: tuple[dt.datetime, bytes, dict] | None = None
        self._throttle: dict[str, deque[float]] = {}
        self._built: dict[str, Any] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()  # open keep-alive sockets, closed on stop

    # -- lifecycle --
    def start(self) -> DemoServer:
        """Bind (a free port when ``port=0``) and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"server_ref": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={
            "poll_interval": 0.05}, name="one-tui-demo-alyx", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; stalled responses are released and keep-alive connections closed.

        Closing the open connections matters: a client holding a keep-alive connection would
        otherwise still be answered, and a "server gone" test would pass against a live server.
        """
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        with self._lock:
            open_sockets, self._connections = list(self._connections), set()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- request log --
    @property
    def requests(self) -> list[str]:
        """A copy of ``"METHOD /path?query"`` of every request received so far."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _log(self, line: str) -> None:
        with self._lock:
            self._requests.append(line)

    # -- tokens --
    def token_for(self, username: str) -> str:
        """The user's current token (the same on every login until tokens are revoked)."""
        raw = f"{self.db.seed}:{username}:{self._token_epoch}".encode()
        return hashlib.sha1(raw).hexdigest()

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far ("Invalid token." until the client logs in)."""
        with self._lock:
            self._token_epoch += 1

    def user_of(self, token: str) -> str | None:
        for user in self.users:
            if self.token_for(user) == token:
                return user
        return None

    # -- cache tables --
    def set_tables_date(self, when: dt.datetime) -> None:
        """Pretend the cache tables were (re)built at ``when``: info and zip metadata follow."""
        with self._zip_lock:
            self._tables_date = when.replace(second=0, microsecond=0)

    @property
    def tables_date(self) -> dt.datetime:
        return self._tables_date

    def cache_zip(self) -> tuple[bytes, dict]:
        """The cache.zip bytes and cache_info for the current tables date (built once each)."""
        with self._zip_lock:
            when = self._tables_date
            if self._zip is None or self._zip[0] != when:
                blob = self.db.cache_zip_bytes(when)
                with zipfile.ZipFile(io.BytesIO(blob)) as zf:
                    info = json.loads(zf.read("cache_info.json"))
                self._zip = (when, blob, info)
            return self._zip[1], self._zip[2]

    def warm_up(self) -> None:
        """Build the zip and the filter indices now, not on the first request."""
        self.cache_zip()
        _ = self._ds_index, self._session_view

    # -- faults --
    def _take(self, name: str, path: str) -> bool:
        """Whether switch ``name`` fires for this request (and count it down)."""
        if self.faults.paths and not path.startswith(tuple(self.faults.paths)):
            return False
        with self._lock:
            value = getattr(self.faults, name)
            if value is True:
                return True
            if isinstance(value, int) and value > 0:
                setattr(self.faults, name, value - 1)
                return True
            return False

    def _applies(self, path: str) -> bool:
        return not self.faults.paths or path.startswith(tuple(self.faults.paths))

    def _throttled(self, key: str) -> int | None:
        """Seconds to wait if ``key`` exceeded throttle_per_minute, else None."""
        rate = self.faults.throttle_per_minute
        if not rate:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._throttle.setdefault(key, deque())
            while hits and now - hits[0] >= 60:
                hits.popleft()
            if len(hits) >= rate:
                return max(1, math.ceil(60 - (now - hits[0])))
            hits.append(now)
            return None

    # -- views: lookups shared by the filters --
    def _once(self, name: str, build: Callable[[], Any]) -> Any:
        """Build a lazy index once even when the first requests arrive together."""
        with self._build_lock:
            if name not in self._built:
                self._built[name] = build()
            return self._built[name]

    @property
    def _ds_index(self) -> _DatasetIndex:
        return self._once("ds_index", lambda: _DatasetIndex(self.db))

    @property
    def _session_view(self) -> pd.DataFrame:
        """Sessions in Alyx's list order (-start_time) with the REST-only columns."""
        return self._once("session_view", self._build_session_view)

    def _build_session_view(self) -> pd.DataFrame:
        db = self.db
        sv = db.sessions.join(db.session_extra)
        sv = sv.iloc[np.argsort(-sv["start_time"].to_numpy().astype(np.int64), kind="stable")]
        sv["pos"] = db.sessions.index.get_indexer(sv.index)
        sv["day"] = sv["start_time"].dt.normalize()
        sv["projects_list"] = sv["projects"].map(synth._split)
        sv["atlas_all"] = sv["atlas_acronyms"].map(
            lambda leaves: {a.lower() for leaf in leaves for a in synth.atlas_ancestors(leaf)})
        # per insertion, the regions its channels are in (with every region above them): the
        # atlas filters return a session once per insertion in the region, as Alyx's join does
        probes: dict[str, list[set[str]]] = {}
        for (eid, _pid), j in zip(db.insertions.index, db.insertions["json"], strict=True):
            probes.setdefault(eid, []).append(_regions_of(j))
        sv["probe_regions"] = [probes.get(eid, []) for eid in sv.index]
        sv["json"] = None
        histo = {s for s, p in zip(sv["subject"], sv["procedures"], strict=True)
                 if "Histology" in p}
        sv["histology"] = sv["subject"].isin(histo)
        return sv

    @property
    def _insertion_view(self) -> pd.DataFrame:
        """Insertions with their session's fields (newest session first, then probe name)."""
        return self._once("insertion_view", self._build_insertion_view)

    def _build_insertion_view(self) -> pd.DataFrame:
        db = self.db
        iv = db.insertions.reset_index()
        sv = self._session_view
        iv = iv.join(sv.drop(columns=["json"]), on="eid")
        iv["probe"] = iv["name"].str[-2:].astype(int)
        iv["key"] = iv["pos"].to_numpy() * 4 + iv["probe"].to_numpy()
        iv["regions"] = iv["json"].map(_regions_of)
        order = np.lexsort((iv["name"].to_numpy(), -iv["start_time"].to_numpy().astype(np.int64)))
        return iv.iloc[order].reset_index(drop=True)

    @cached_property
    def _pid_to_eid(self) -> dict[str, str]:
        return {pid: eid for eid, pid in self.db.insertions.index}

    @cached_property
    def _dataset_types(self) -> list[str]:
        return sorted(set(self._ds_index.dataset_type))

    # -- sessions --
    def _session_fields(self, sv: pd.DataFrame) -> dict[str, Field]:
        def col(name: str, kind: str = "str") -> Field:
            return Field(lambda: sv[name], kind)

        qc_int = Field(lambda: sv["qc"].map(synth.QC_VALUES).astype(int), "number")
        idx = self._ds_index

        def any_session(rows: np.ndarray) -> np.ndarray:
            hit = np.zeros(len(self.db.sessions), dtype=bool)
            hit[idx.sess[rows]] = True
            return hit[sv["pos"].to_numpy()]

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
        sv = self._session_view
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
                and _bool_param(params["histology"]) is not None):
            rows = np.minimum(rows, 1)
        return np.repeat(sv["pos"].to_numpy(), rows)

    # -- insertions --
    def filter_insertions(self, params: dict[str, str]) -> np.ndarray:
        """Row positions into ``_insertion_view`` matching an /insertions query."""
        iv = self._insertion_view
        m = np.ones(len(iv), dtype=bool)
        rows = np.ones(len(iv), dtype=np.int64)
        for param in ("id", "session"):
            if (value := _uuid_param(params, param)) is not None:
                m &= iv["id" if param == "id" else "eid"].to_numpy() == value
        for param in ("subject", "name", "model", "serial"):
            if params.get(param) is not None:
                m &= iv[param].to_numpy() == params[param]
        if params.get("auto_datetime") is not None:
            m &= _f_datetime_exact("auto_datetime")(self, iv.assign(
                auto_datetime=pd.to_datetime(iv["auto_datetime"])), params["auto_datetime"],
                params)
        if params.get("date") is not None:
            m &= (iv["day"] == _date(params["date"])).to_numpy()
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
                wanted = _atlas_regions(param, params)
                m &= np.array([bool(wanted & r) for r in iv["regions"]], dtype=bool)
        if params.get("tag") is not None:
            m &= False
        m &= self._dataset_filter(params, iv["key"].to_numpy(), 4 * len(self.db.sessions), True)
        if params.get("dataset_qc_lte") is not None and params.get("datasets") is None:
            rows *= self._qc_counts(params["dataset_qc_lte"], iv["key"].to_numpy(),
                                    4 * len(self.db.sessions), True)
        if params.get("django"):
            m &= django_mask(params["django"], self._insertion_fields(iv), len(iv),
                             INSERTION_MODEL_FIELDS)
        if any(params.get(k) for k in ("django", "tag", "datasets", "dataset_types")):
            rows = np.minimum(rows, 1)
        return np.repeat(np.arange(len(iv)), rows * m)

    def _qc_counts(self, value: str, keys: np.ndarray, n: int, by_probe: bool) -> np.ndarray:
        """Per key (session or insertion), its datasets with QC at or under ``value``."""
        idx = self._ds_index
        thr = _qc_validate(value)
        row_key = idx.sess * 4 + idx.probe if by_probe else idx.sess
        ok = idx.qc <= thr
        if by_probe:
            ok &= idx.probe >= 0
        return np.bincount(row_key[ok], minlength=n)[keys]

    def _dataset_filter(self, params: dict[str, str], keys: np.ndarray, n: int,
                        by_probe: bool) -> np.ndarray:
        """``dataset_types`` / ``datasets`` (+``dataset_qc_lte``) as a mask over ``keys``."""
        out = np.ones(len(keys), dtype=bool)
        idx = self._ds_index
        row_key = idx.sess * 4 + idx.probe if by_probe else idx.sess
        if by_probe:
            row_key = np.where(idx.probe >= 0, row_key, -1)
        if params.get("dataset_types") is not None:
            ok = idx.sessions_with_all(idx.type_masks(params["dataset_types"]), row_key, n)
            out &= ok[keys]
        if params.get("datasets") is not None:
            thr = _qc_validate(params.get("dataset_qc_lte") or "FAIL")
            ok = idx.sessions_with_all(idx.name_masks(params["datasets"], thr), row_key, n)
            out &= ok[keys]
        return out

    def _insertion_fields(self, iv: pd.DataFrame) -> dict[str, Field]:
        idx = self._ds_index

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
        idx = self._ds_index
        sv = self._session_view
        n_rows = len(idx.sess)
        smask = np.ones(len(sv), dtype=bool)
        for param, col in (("subject", "subject"), ("lab", "lab")):
            if params.get(param) is not None:
                smask &= sv[col].to_numpy() == params[param]
        if params.get("date") is not None:
            smask &= (sv["day"] == _date(params["date"])).to_numpy()
        if (num := _int_param(params, "experiment_number")) is not None:
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
            m &= idx.qc == _qc_index(params["qc"])
        if params.get("exists") is not None and (
                exists := _bool_param(params["exists"])) is not None:
            m &= idx.exists == exists
        if params.get("default_dataset") is not None and (
                default := _bool_param(params["default_dataset"], rest=True)) is not None:
            m &= self.db.datasets["default_revision"].to_numpy() == default
        if params.get("hash") is not None:
            m &= self.db.datasets["hash"].to_numpy() == params["hash"]
        if params.get("django"):
            m &= django_mask(params["django"], self._dataset_fields(by_pos), n_rows,
                             DATASET_MODEL_FIELDS)
        return np.flatnonzero(m)

    def _dataset_fields(self, by_pos: np.ndarray) -> dict[str, Field]:
        idx = self._ds_index
        d = self.db.datasets
        sessions = self.db.sessions
        extra = self.db.session_extra

        def unique(series: pd.Series) -> Field:
            return Field(lambda: series, "str", lambda: idx.path)

        def session_col(values: Callable[[], pd.Series], kind: str = "str") -> Field:
            return Field(values, kind, lambda: idx.sess)

        qc_int = pd.Series(np.array([0, 10, 30, 40, 50])[idx.qc])
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
    return lambda srv, sv, v, p: sv[col].str.lower().to_numpy() == v.lower()


def _f_icontains(col: str, multi: bool = False) -> Callable[..., np.ndarray]:
    if multi:  # a many-to-many join: one row per matching value
        return lambda srv, sv, v, p: _count_icontains(sv[col], v)
    return lambda srv, sv, v, p: lookup_mask(sv[col], "str", "icontains", v)


def _count_icontains(values: pd.Series, v: str) -> np.ndarray:
    """Per row, how many of its names contain ``v`` (case-insensitive)."""
    low = v.lower()
    return np.array([sum(low in str(x).lower() for x in names) for names in values],
                    dtype=np.int64)


def _regions_of(json_: Any) -> set[str]:
    """The (lower-case) acronyms an insertion's channels are in, with every region above."""
    leaves = (json_ or {}).get("brain_regions") or []
    return {a.lower() for leaf in leaves for a in synth.atlas_ancestors(leaf)}


def _atlas_regions(param: str, params: dict[str, str]) -> set[str]:
    """Lower-case acronyms an atlas filter selects (their subtrees are matched by the caller):
    ``atlas_acronym`` iexact, ``atlas_id`` the Allen id (a number, else 400), ``atlas_name``
    icontains."""
    if param == "atlas_id":
        value = _float_param(params, "atlas_id")
        return {a.lower() for a, (pk, _) in synth.ATLAS_INFO.items() if pk == value}
    if param == "atlas_name":
        low = params[param].lower()
        return {a.lower() for a, (_, name) in synth.ATLAS_INFO.items() if low in name.lower()}
    return {params[param].lower()}


def _f_exact(col: str) -> Callable[..., np.ndarray]:
    return lambda srv, sv, v, p: (sv[col].astype("str") == v).to_numpy()


def _f_users(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
    wanted = set(v.split(","))
    return np.array([wanted <= set(u) for u in sv["users"]], dtype=bool)


def _f_date_range(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
    parts = v.split(",")
    if len(parts) < 2:
        raise FilterError("list index out of range")
    day = sv["day"]
    return ((day >= _date(parts[0])) & (day <= _date(parts[1]))).to_numpy()


def _f_number(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
    return sv["number"].to_numpy() == _int_param(p, "number")


def _f_qc(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
    return sv["qc"].cat.codes.to_numpy() == _qc_index(v)


def _f_json(col: str) -> Callable[..., np.ndarray]:
    return lambda srv, sv, v, p: json_pairs_mask(v, sv[col])


def _f_performance(op: str) -> Callable[..., np.ndarray]:
    def f(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
        value = _float_param(p, f"performance_{op}")
        perf = sv["performance"]
        cmp = perf >= value if op == "gte" else perf <= value
        return (perf.notna() & cmp).to_numpy()
    return f


def _f_dataset_types(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
    only = {k: p[k] for k in ("dataset_types",)}
    return srv._dataset_filter(only, sv["pos"].to_numpy(), len(sv), False)


def _f_datasets(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
    only = {k: p[k] for k in ("datasets", "dataset_qc_lte") if p.get(k) is not None}
    return srv._dataset_filter(only, sv["pos"].to_numpy(), len(sv), False)


def _f_histology(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
    h = sv["histology"].to_numpy()
    wanted = _bool_param(v)
    if wanted is None:  # not a boolean: Django drops the filter
        return np.ones(len(sv), dtype=bool)
    return h if wanted else ~h


def _f_dataset_qc_lte(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
    if p.get("datasets") is not None:  # then it is the QC bound of ``datasets``
        return np.ones(len(sv), dtype=bool)
    return srv._qc_counts(v, sv["pos"].to_numpy(), len(sv), False)


def _f_atlas(param: str) -> Callable[..., np.ndarray]:
    def f(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
        wanted = _atlas_regions(param, p)
        return np.array([sum(bool(wanted & r) for r in probes) for probes in
                         sv["probe_regions"]], dtype=np.int64)
    return f


def _f_id(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
    return sv.index.to_numpy() == _uuid_param(p, "id")


def _f_int_exact(col: str) -> Callable[..., np.ndarray]:
    def f(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
        return (sv[col] == _int_param(p, col)).fillna(False).to_numpy(dtype=bool)
    return f


def _f_datetime_exact(col: str) -> Callable[..., np.ndarray]:
    def f(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
        try:
            when = pd.Timestamp(v)
        except ValueError:
            raise BadValue(col, "Enter a valid date/time.") from None
        return (sv[col] == when).to_numpy()
    return f


def _f_nothing(srv: DemoServer, sv: pd.DataFrame, v: str, p: dict) -> np.ndarray:
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


# --- HTTP ---------------------------------------------------------------------------------------
_ROUTE = re.compile(r"^/(?P<ep>[a-z-]+)(?:/(?P<key>[^/]+))?$")
_CACHE_TAG = re.compile(r"^/cache/info/[^/]+$")


class _Handler(BaseHTTPRequestHandler):
    """One request: log it, apply faults, authenticate, route, answer like Alyx."""

    server_ref: DemoServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "one-tui-demo-alyx"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with self.server_ref._lock:
            self.server_ref._connections.add(self.connection)

    def finish(self) -> None:
        with self.server_ref._lock:
            self.server_ref._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        """Quiet: requests are recorded in ``DemoServer.requests`` instead."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # -- plumbing --
    @property
    def srv(self) -> DemoServer:
        return self.server_ref

    def _handle(self) -> None:
        srv = self.srv
        srv._log(f"{self.command} {self.path}")
        if srv.faults.invalid_token:  # the switch: every token issued until now is revoked
            srv.faults.invalid_token = False
            srv.revoke_tokens()
        body = self._read_body()
        path = urlsplit(self.path).path
        try:
            if self._faults(path):
                return
            self._route(path, body)
        except _Reply as r:
            self._json(r.status, r.body, r.headers)
        except BadValue as e:
            self._json(400, {e.field: [e.message], "status_code": 400})
        except FilterError as e:
            self._json(500, {"status_code": 500, "detail": str(e)})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug in a view: answer as Django does, keep serving
            self._json(500, {"status_code": 500, "detail": f"{type(e).__name__}: {e}"})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _faults(self, path: str) -> bool:
        """Apply injected faults; True when the request was answered (or dropped)."""
        srv, f = self.srv, self.srv.faults
        if f.latency and srv._applies(path):
            srv._stopping.wait(f.latency)
        if srv._take("drop_connections", path):
            self.close_connection = True
            return True
        if path != "/auth-token":
            key = self.headers.get("Authorization") or self.client_address[0]
            wait = srv._throttled(key) if srv._applies(path) else None
            if wait is None and srv._take("status_429", path):
                wait = f.retry_after
            if wait is not None:
                raise _Reply(429, {"detail": f"Request was throttled. Expected available in "
                                             f"{wait} seconds.", "status_code": 429},
                             {"Retry-After": str(wait)})
        if srv._take("status_500", path):
            raise _Reply(500, {"status_code": 500, "detail": "Injected server error (demo)"})
        if srv._take("status_500_html", path):
            self._send(500, _HTML_500.encode(), "text/html; charset=utf-8")
            return True
        return False

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        srv = self.srv
        path = urlsplit(self.path).path
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        stall = srv.faults.read_timeout_after_bytes
        if stall is not None and srv._applies(path):
            self.wfile.write(body[:stall])
            self.wfile.flush()
            srv._stopping.wait(srv.faults.stall_seconds)
            self.close_connection = True
            return
        self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj, separators=(",", ":"), default=str, ensure_ascii=False).encode()
        if self.srv._take("malformed_json", urlsplit(self.path).path):
            body = body[: max(1, len(body) // 2)]
        self._send(status, body, "application/json", headers)

    def _html_404(self, path: str) -> None:
        self._send(404, _HTML_404.encode(), "text/html; charset=utf-8")

    @property
    def base(self) -> str:
        return f"http://{self.headers.get('Host') or self.srv.url.split('//', 1)[1]}"

    def _params(self) -> dict[str, str]:
        """Query parameters, the last value winning, blank ones dropped (django-filter)."""
        return {k: v for k, v in parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
                if v != ""}

    # -- auth --
    def _authenticate(self) -> str:
        srv = self.srv
        parts = (self.headers.get("Authorization") or "").split()
        if not parts or parts[0].lower() != "token":
            raise _detail(403, "Authentication credentials were not provided.")
        if len(parts) == 1:
            raise _detail(403, "Invalid token header. No credentials provided.")
        if len(parts) > 2:
            raise _detail(403, "Invalid token header. Token string should not contain spaces.")
        user = srv.user_of(parts[1])
        if user is None:
            raise _detail(403, "Invalid token.")
        return user

    def _auth_token(self, body: bytes) -> None:
        if self.command != "POST":
            raise _detail(405, f'Method "{self.command}" not allowed.')
        ctype = self.headers.get("Content-Type") or ""
        try:
            data = json.loads(body or b"{}") if "json" in ctype else {
                k: v[-1] for k, v in parse_qs(body.decode()).items()}
        except (ValueError, UnicodeDecodeError):
            raise _detail(400, "JSON parse error") from None
        missing = {k: ["This field is required."] for k in ("username", "password")
                   if not data.get(k)}
        if missing:
            raise _Reply(400, {**missing, "status_code": 400})
        user, password = str(data["username"]), str(data["password"])
        refused = self.srv._take("refuse_login", "/auth-token")
        if refused or self.srv.users.get(user) != password:
            raise _Reply(400, {"non_field_errors": ["Unable to log in with provided "
                                                    "credentials."], "status_code": 400})
        self._json(200, {"token": self.srv.token_for(user)})

    # -- routing --
    def _route(self, path: str, body: bytes) -> None:
        if path == "/auth-token":
            return self._auth_token(body)
        if path == "/api/schema":
            return self._json(200, build_schema())
        if path == "/":
            return self._send(302, b"", "text/html", {"Location": "/admin"})
        if path in ("/cache/info", "/docs") or _CACHE_TAG.match(path):  # Django's APPEND_SLASH
            query = urlsplit(self.path).query
            return self._send(301, b"", "text/html; charset=utf-8",
                              {"Location": f"{path}/" + (f"?{query}" if query else "")})
        if path == "/docs/":
            return self._docs()
        if path.startswith("/cache/info/"):
            self._authenticate()
            self._read_only()
            if path != "/cache/info/":  # the demo has no tags (Alyx: /cache/info/<tag>/)
                return self._send(404, b"Tag matching query does not exist.",
                                  "text/html; charset=utf-8")
            return self._json(200, self.srv.cache_zip()[1])
        if path == "/cache.zip":
            self._authenticate()
            self._read_only()
            return self._cache_zip()
        m = _ROUTE.match(path)
        if not m or m["ep"] not in LIST_PARAMS:
            return self._html_404(path)
        self._authenticate()
        self._read_only()
        ep, key = m["ep"], m["key"]
        if key is None:
            return self._list(ep)
        if DETAIL_KEY[ep] == "id" and not _is_uuid(key):  # the route only takes a UUID
            return self._html_404(path)
        return self._json(200, self._detail_view(ep, key))

    def _docs(self) -> None:
        """Alyx's ``/docs/``: the Core API document for ONE 2.x's Accept header, else HTML.

        No login needed, as on Alyx (the schema views allow anyone).
        """
        if (self.headers.get("Accept") or "").startswith("application/coreapi+json"):
            return self._json(200, build_coreapi(self.base))
        return self._send(200, DOCS_HTML.encode(), "text/html; charset=utf-8")

    def _read_only(self) -> None:
        if self.command != "GET":
            raise _detail(403, "You do not have permission to perform this action.")

    def _cache_zip(self) -> None:
        srv = self.srv
        blob, _ = srv.cache_zip()
        if srv._take("corrupt_zip_parquet", "/cache.zip"):
            out = io.BytesIO()
            with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w") as dst:
                for name in src.namelist():
                    data = b"PAR1 this is not parquet" if name == "sessions.pqt" else \
                        src.read(name)
                    dst.writestr(name, data)
            blob = out.getvalue()
        elif srv._take("truncated_zip", "/cache.zip"):
            blob = blob[: len(blob) // 2]
        self._send(200, blob, "application/zip",
                   {"Content-Disposition": 'inline; filename="cache.zip"'})

    # -- list endpoints --
    def _list(self, ep: str) -> None:
        params = self._params()
        srv, db, base = self.srv, self.srv.db, self.base
        if ep == "sessions":
            pos = srv.filter_sessions(params)
            eids = db.sessions.index
            return self._page(len(pos), lambda a, b: db.session_list_records(
                eids[pos[a:b]], base))
        if ep == "insertions":
            rows = srv.filter_insertions(params)
            iv = srv._insertion_view
            keys = list(zip(iv["eid"], iv["id"], strict=True))
            return self._page(len(rows), lambda a, b: db.insertion_records(
                [keys[r] for r in rows[a:b]], base))
        if ep == "datasets":
            rows = srv.filter_datasets(params)
            return self._page(len(rows), lambda a, b: db.dataset_records(rows[a:b], base))
        records = self._small_list(ep, params)
        return self._page(len(records), lambda a, b: records[a:b])

    def _small_list(self, ep: str, params: dict[str, str]) -> list[dict]:
        records = _SMALL_LISTS[ep](self.srv, self.base)
        for name in LIST_PARAMS[ep]:
            if name in ("limit", "offset", "django") or params.get(name) is None:
                continue
            value = params[name]
            records = [r for r in records if _small_match(r.get(name), value)]
        return records

    def _page(self, count: int, records: Callable[[int, int], list[dict]]) -> None:
        """Alyx's LimitOffsetPagination envelope with absolute, filter-keeping links."""
        params = self._params()
        limit = _positive(params.get("limit"), self.srv.page_size)
        limit = min(limit, self.srv.max_limit)
        offset = _positive(params.get("offset"), 0, allow_zero=True)
        results = records(offset, offset + limit) if offset < count else []
        nxt = self._link(limit, offset + limit) if offset + limit < count else None
        prev = None
        if offset > 0:
            prev = self._link(limit, offset - limit if offset - limit > 0 else None)
        shown = count + 1 if self.srv.faults.count_drift and offset > 0 else count
        self._json(200, {"count": shown, "next": nxt, "previous": prev, "results": results})

    def _link(self, limit: int, offset: int | None) -> str:
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        query["limit"] = [str(limit)]
        query.pop("offset", None)
        if offset is not None:
            query["offset"] = [str(offset)]
        return f"{self.base}{split.path}?{urlencode(sorted(query.items()), doseq=True)}"

    # -- detail endpoints --
    def _detail_view(self, ep: str, key: str) -> dict:
        srv, db, base = self.srv, self.srv.db, self.base
        if ep == "sessions":
            eid = key.lower()
            if eid not in db.dataset_slices:
                raise _not_found("Session")
            return db.session_detail_record(eid, base)
        if ep == "insertions":
            pid = key.lower()
            if pid not in srv._pid_to_eid:
                raise _not_found("ProbeInsertion")
            return db.insertion_record(srv._pid_to_eid[pid], pid, base, detail=True)
        if ep == "datasets":
            did = key.lower()
            rows = srv.filter_datasets({"django": f"id,{did}"}) if _is_uuid(did) else []
            if not len(rows):
                raise _not_found("Dataset")
            record = db.dataset_records(rows[:1], base)[0]
            for key in ("protected", "public"):  # annotations of the list query only
                record.pop(key, None)
            return record
        model, field_name = _SMALL_DETAIL[ep]
        for rec in _SMALL_LISTS[ep](srv, base):
            if rec[field_name] == key:
                return rec
        raise _not_found(model)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _positive(text: str | None, default: int, allow_zero: bool = False) -> int:
    try:
        value = int(text) if text is not None else default
    except ValueError:
        return default
    if value < 0 or (value == 0 and not allow_zero):
        return default
    return value


def _small_match(got: Any, value: str) -> bool:
    if isinstance(got, bool):
        wanted = _bool_param(value, rest=True)
        return wanted is None or got == wanted
    if isinstance(got, list):
        return value in got
    return str(got) == value


# --- the small endpoints ------------------------------------------------------------------------
def _revisions(srv: DemoServer, base: str) -> list[dict]:
    return [{"id": str(uuid.uuid5(_NS, r)), "json": None, "name": r,
             "description": f"Re-extraction of {r}", "created_datetime": f"{r}T12:00:00"}
            for r in sorted(synth.REVISIONS)]


def _dataset_types(srv: DemoServer, base: str) -> list[dict]:
    return [{"id": str(uuid.uuid5(_NS, t)), "name": t, "created_by": None, "description": "",
             "filename_pattern": f"*{t}.*"} for t in srv._dataset_types]


def _labs(srv: DemoServer, base: str) -> list[dict]:
    return [dict(r) for r in srv.db.labs.to_dict("records")]


def _projects(srv: DemoServer, base: str) -> list[dict]:
    return [{"name": p, "description": "", "users": []} for p in srv.db.projects]


def _subjects(srv: DemoServer, base: str) -> list[dict]:
    s = srv.db.subjects.reset_index(drop=True).sort_values("nickname")
    sv = srv._session_view
    projects = sv.groupby("subject")["projects_list"].agg(lambda x: sorted({p for ps in x
                                                                            for p in ps}))
    return [{
        "nickname": r["nickname"], "url": f"{base}/subjects/{r['nickname']}", "id": r["id"],
        "responsible_user": r["responsible_user"], "birth_date": str(r["birth_date"]),
        "age_weeks": 0, "death_date": None, "species": r["species"], "sex": r["sex"],
        "litter": None, "strain": r["strain"], "source": None, "line": None,
        "projects": projects.get(r["nickname"], []), "session_projects":
            projects.get(r["nickname"], []), "lab": r["lab"], "genotype": [], "description": "",
        "alive": False, "reference_weight": 22.0, "last_water_restriction": None,
        "expected_water": 0.0, "remaining_water": 0.0, "json": None,
    } for r in s.to_dict("records")]


def _users(srv: DemoServer, base: str) -> list[dict]:
    labs: dict[str, list[str]] = {}
    for lab, info in synth.LABS.items():
        for u in info[4]:
            labs.setdefault(u, []).append(lab)
    names = sorted(set(srv.db.users) | set(srv.users))
    return [{"id": str(uuid.uuid5(_NS, "user:" + u)), "username": u,
             "email": f"{u}@example.org", "subjects_responsible": [], "lab": labs.get(u, []),
             "allowed_users": [], "is_stock_manager": False} for u in names]


_SMALL_LISTS: dict[str, Callable[[DemoServer, str], list[dict]]] = {
    "revisions": _revisions, "dataset-types": _dataset_types, "labs": _labs,
    "projects": _projects, "subjects": _subjects, "users": _users,
}
_SMALL_DETAIL = {"revisions": ("Revision", "name"), "dataset-types": ("DatasetType", "name"),
                 "labs": ("Lab", "name"), "projects": ("Project", "name"),
                 "subjects": ("Subject", "nickname"), "users": ("LabMember", "username")}


# --- command line -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``one-tui demo-server``: serve a synthetic database until interrupted."""
    ap = argparse.ArgumentParser(prog="one-tui demo-server",
                                 description="Serve a synthetic IBL-like Alyx on loopback.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--page-size", type=int, default=250)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    ap.add_argument("--throttle", type=int, default=None, help="requests per minute per user")
    args = ap.parse_args(argv)
    db = synth.generate(args.sessions, seed=args.seed)
    server = DemoServer(db, host=args.host, port=args.port, page_size=args.page_size)
    server.faults.latency = args.latency
    server.faults.throttle_per_minute = args.throttle
    server.start()
    server.warm_up()
    print(f"Demo Alyx at {server.url} ({len(db.sessions)} sessions, {len(db.datasets)} "
          f"datasets); log in with demo / demo. Ctrl+C to stop.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
