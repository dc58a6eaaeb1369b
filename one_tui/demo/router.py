"""The Alyx endpoints: which path answers what (lists, details, login, cache, docs, 404 pages).

Exists so that what the demo answers changes in one place, apart from how HTTP is spoken
(``demo/http.py``: sockets, the transport faults, writing the bytes), from what the filters
select (``demo/query.py``) and from the shape of each record (``demo/records.py``).
:class:`Router` is an object the handler calls with a :class:`~one_tui.demo.reply.Request`;
it returns a :class:`~one_tui.demo.reply.Reply` and never touches a socket.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from one_tui.demo import records
from one_tui.demo.auth import Accounts
from one_tui.demo.faults import FaultGate
from one_tui.demo.filters import BadValue, FilterError
from one_tui.demo.lookups import bool_param
from one_tui.demo.query import DemoQueries
from one_tui.demo.reply import HTML_404, EarlyReply, Reply, Request, detail, not_found
from one_tui.demo.schema import DETAIL_KEY, DOCS_HTML, LIST_PARAMS, build_coreapi, build_schema
from one_tui.demo.synth import SyntheticDB
from one_tui.demo.tables import PublishedTables
from one_tui.demo.tags import PUBLIC_PREFIX, TagTables

__all__ = ["Router", "Paging"]

log = logging.getLogger(__name__)

_ROUTE = re.compile(r"^/(?P<ep>[a-z-]+)(?:/(?P<key>[^/]+))?$")
_CACHE_TAG = re.compile(r"^/cache/info/[^/]+$")
_SMALL_DETAIL = {"revisions": ("Revision", "name"), "dataset-types": ("DatasetType", "name"),
                 "labs": ("Lab", "name"), "projects": ("Project", "name"),
                 "subjects": ("Subject", "nickname"), "users": ("LabMember", "username")}


@dataclass(frozen=True)
class Paging:
    """Alyx's LimitOffsetPagination: the page without ``limit``, and the cap on ``limit``."""

    page_size: int = 250
    max_limit: int = 1000


class Router:
    """Answers a :class:`Request` as Alyx 3.6 does, from the database and its queries."""

    def __init__(self, db: SyntheticDB, queries: DemoQueries, accounts: Accounts,
                 tables: PublishedTables, gate: FaultGate, paging: Paging) -> None:
        self.db = db
        self.queries = queries
        self.accounts = accounts
        self.tables = tables
        self.gate = gate
        self.paging = paging
        self.tags = TagTables(db)

    def handle(self, request: Request) -> Reply:
        """The reply to ``request``, errors included: a filter's 400 or 500, a bug's 500."""
        try:
            return self._route(request)
        except EarlyReply as early:
            return early.reply
        except BadValue as e:
            return Reply.json(400, {e.field: [e.message], "status_code": 400})
        except FilterError as e:
            return Reply.json(500, {"status_code": 500, "detail": str(e)})
        except Exception as e:  # a bug in a route: answer as Django does, log it, keep serving
            log.exception("demo Alyx: %s %s failed", request.method, request.target)
            return Reply.json(500, {"status_code": 500, "detail": f"{type(e).__name__}: {e}"})

    # -- routing --
    def _route(self, request: Request) -> Reply:
        path = request.path
        if path == "/auth-token":
            return self._auth_token(request)
        if path == "/api/schema":
            return Reply.json(200, build_schema())
        if path == "/":
            return Reply(302, b"", "text/html", {"Location": "/admin"})
        if path in ("/cache/info", "/docs") or _CACHE_TAG.match(path):  # Django's APPEND_SLASH
            query = request.query
            return Reply.html(301, "", {"Location": f"{path}/" + (f"?{query}" if query else "")})
        if path == "/docs/":
            return self._docs(request)
        if path.startswith("/cache/info/"):
            self._check_read(request)
            if path != "/cache/info/":  # Alyx: /cache/info/<tag>/ (demo/tags.py)
                return self._tag_info(request, path[len("/cache/info/"):].strip("/"))
            return Reply.json(200, self.tables.cache_zip()[1])
        if path.startswith(PUBLIC_PREFIX) and path.endswith("/cache.zip"):  # no login
            tag = path[len(PUBLIC_PREFIX):-len("/cache.zip")]
            if not self.tags.known(tag):
                return Reply.html(404, HTML_404)
            blob = self.tags.cache_zip(tag, self.tables.date, request.base)[0]
            return Reply(200, blob, "application/zip")
        if path == "/tags":
            self._check_read(request)
            found = self.tags.records()
            return self._page(request, len(found), lambda a, b: found[a:b])
        if path == "/cache.zip":
            self._check_read(request)
            return self._cache_zip()
        m = _ROUTE.match(path)
        if not m or m["ep"] not in LIST_PARAMS:
            return Reply.html(404, HTML_404)
        self._check_read(request)
        ep, key = m["ep"], m["key"]
        if key is None:
            return self._list(request, ep)
        if DETAIL_KEY[ep] == "id" and not _is_uuid(key):  # the route only takes a UUID
            return Reply.html(404, HTML_404)
        return Reply.json(200, self._detail(ep, key, request.base))

    def _check_read(self, request: Request) -> None:
        """A token, then a GET: every write is refused, as for IBL's public accounts."""
        self.accounts.authenticate(request.header("Authorization"))
        if request.method != "GET":
            raise detail(403, "You do not have permission to perform this action.")

    def _auth_token(self, request: Request) -> Reply:
        if request.method != "POST":
            raise detail(405, f'Method "{request.method}" not allowed.')
        ctype = request.header("Content-Type") or ""
        try:
            data = json.loads(request.body or b"{}") if "json" in ctype else {
                k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        except (ValueError, UnicodeDecodeError):
            raise detail(400, "JSON parse error") from None
        missing = {k: ["This field is required."] for k in ("username", "password")
                   if not data.get(k)}
        if missing:
            return Reply.json(400, {**missing, "status_code": 400})
        user, password = str(data["username"]), str(data["password"])
        refused = self.gate.fires("refuse_login", "/auth-token")
        if refused or not self.accounts.check_password(user, password):
            return Reply.json(400, {"non_field_errors": ["Unable to log in with provided "
                                                         "credentials."], "status_code": 400})
        return Reply.json(200, {"token": self.accounts.token_for(user)})

    def _docs(self, request: Request) -> Reply:
        """Alyx's ``/docs/``: the Core API document for ONE 2.x's Accept header, else HTML.

        No login needed, as on Alyx (the schema views allow anyone).
        """
        if (request.header("Accept") or "").startswith("application/coreapi+json"):
            return Reply.json(200, build_coreapi(request.base))
        return Reply.html(200, DOCS_HTML)

    def _tag_info(self, request: Request, tag: str) -> Reply:
        if not self.tags.known(tag):
            return Reply.html(404, "Tag matching query does not exist.")
        return Reply.json(200, self.tags.cache_zip(tag, self.tables.date, request.base)[1])

    def _cache_zip(self) -> Reply:
        blob, _ = self.tables.cache_zip()
        if self.gate.fires("corrupt_zip_parquet", "/cache.zip"):
            out = io.BytesIO()
            with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w") as dst:
                for name in src.namelist():
                    data = b"PAR1 this is not parquet" if name == "sessions.pqt" else \
                        src.read(name)
                    dst.writestr(name, data)
            blob = out.getvalue()
        elif self.gate.fires("truncated_zip", "/cache.zip"):
            blob = blob[: len(blob) // 2]
        return Reply(200, blob, "application/zip",
                     {"Content-Disposition": 'inline; filename="cache.zip"'})

    # -- list endpoints --
    def _list(self, request: Request, ep: str) -> Reply:
        params = request.params()
        db, q, base = self.db, self.queries, request.base
        if ep == "sessions":
            pos = q.filter_sessions(params)
            eids = db.sessions.index
            return self._page(request, len(pos), lambda a, b: records.session_list(
                db, eids[pos[a:b]], base))
        if ep == "insertions":
            rows = q.filter_insertions(params)
            iv = q.insertion_view
            keys = list(zip(iv["eid"], iv["id"], strict=True))
            return self._page(request, len(rows), lambda a, b: records.insertion_list(
                db, [keys[r] for r in rows[a:b]], base))
        if ep == "datasets":
            rows = q.filter_datasets(params)
            return self._page(request, len(rows), lambda a, b: records.dataset_list(
                db, rows[a:b], base))
        small = self._small_list(ep, params, base)
        return self._page(request, len(small), lambda a, b: small[a:b])

    def _page(self, request: Request, count: int,
              page: Callable[[int, int], list[dict[str, Any]]]) -> Reply:
        """Alyx's LimitOffsetPagination envelope with absolute, filter-keeping links."""
        params = request.params()
        limit = min(_positive(params.get("limit"), self.paging.page_size), self.paging.max_limit)
        offset = _positive(params.get("offset"), 0, allow_zero=True)
        results = page(offset, offset + limit) if offset < count else []
        nxt = _link(request, limit, offset + limit) if offset + limit < count else None
        prev = None
        if offset > 0:
            prev = _link(request, limit, offset - limit if offset - limit > 0 else None)
        shown = count + 1 if self.gate.faults.count_drift and offset > 0 else count
        return Reply.json(200, {"count": shown, "next": nxt, "previous": prev,
                                "results": results})

    def _small_lists(self, ep: str, base: str) -> list[dict[str, Any]]:
        """Every record of a small endpoint (revisions, labs, users...)."""
        if ep == "revisions":
            return records.revisions()
        if ep == "dataset-types":
            return records.dataset_types(self.queries.dataset_types)
        if ep == "labs":
            return records.labs(self.db)
        if ep == "projects":
            return records.projects(self.db)
        if ep == "subjects":
            return records.subjects(self.db, self.queries.session_view, base)
        return records.users(self.db, list(self.accounts.users))

    def _small_list(self, ep: str, params: dict[str, str], base: str) -> list[dict[str, Any]]:
        out = self._small_lists(ep, base)
        for name in LIST_PARAMS[ep]:
            if name in ("limit", "offset", "django") or params.get(name) is None:
                continue
            value = params[name]
            out = [r for r in out if _small_match(r.get(name), value)]
        return out

    # -- detail endpoints --
    def _detail(self, ep: str, key: str, base: str) -> dict[str, Any]:
        db, q = self.db, self.queries
        if ep == "sessions":
            eid = key.lower()
            if eid not in db.dataset_slices:
                raise not_found("Session")
            return records.session_detail(db, eid, base)
        if ep == "insertions":
            pid = key.lower()
            session = q.pid_to_eid.get(pid)
            if session is None:
                raise not_found("ProbeInsertion")
            return records.insertion(db, session, pid, base, detail=True)
        if ep == "datasets":
            did = key.lower()
            if not _is_uuid(did):
                raise not_found("Dataset")
            rows = q.filter_datasets({"django": f"id,{did}"})
            if not len(rows):
                raise not_found("Dataset")
            record = records.dataset_list(db, rows[:1], base)[0]
            for name in ("protected", "public"):  # annotations of the list query only
                record.pop(name, None)
            return record
        model, field_name = _SMALL_DETAIL[ep]
        for rec in self._small_lists(ep, base):
            if rec[field_name] == key:
                return rec
        raise not_found(model)


def _link(request: Request, limit: int, offset: int | None) -> str:
    """The URL of another page: the same query with this limit and offset."""
    query = parse_qs(request.query, keep_blank_values=True)
    query["limit"] = [str(limit)]
    query.pop("offset", None)
    if offset is not None:
        query["offset"] = [str(offset)]
    return f"{request.base}{request.path}?{urlencode(sorted(query.items()), doseq=True)}"


def _positive(text: str | None, default: int, allow_zero: bool = False) -> int:
    try:
        value = int(text) if text is not None else default
    except ValueError:
        return default
    if value < 0 or (value == 0 and not allow_zero):
        return default
    return value


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _small_match(got: Any, value: str) -> bool:
    if isinstance(got, bool):
        wanted = bool_param(value, rest=True)
        return wanted is None or got == wanted
    if isinstance(got, list):
        return value in got
    return str(got) == value
