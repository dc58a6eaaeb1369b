"""The Alyx endpoints: what each path answers (the JSON of every view, the error pages).

Exists so that what the demo answers (sessions, datasets, insertions, the small lists, details,
``/cache/info/``, ``/cache.zip``, ``/auth-token``, ``/docs/``, Django's 404 page) changes in
one place, apart from how HTTP is spoken (``demo/http.py``: sockets, faults, auth header,
pagination, response writing) and from what the filters select (``demo/query.py``).
:class:`Views` is a mixin of the request handler in ``demo/http.py``; it calls the handler's
``_json``, ``_send``, ``_page``, ``_params``, ``_authenticate`` and ``base``.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from one_tui.demo import records
from one_tui.demo.catalogue import LABS, REVISIONS
from one_tui.demo.lookups import bool_param
from one_tui.demo.schema import DETAIL_KEY, DOCS_HTML, LIST_PARAMS, build_coreapi, build_schema

if TYPE_CHECKING:  # annotations only: http.py imports this module
    from one_tui.demo.http import DemoServer

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

#: Django's 404 page with DEBUG off (Alyx in production), for any path no route matches,
#: including a detail path whose UUID does not parse (``/sessions/abc``).
_HTML_404 = (
    "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n"
    "<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n"
    "</body>\n</html>\n"
)
_HTML_500 = ("<!doctype html>\n<html lang=\"en\">\n<head><title>Server Error (500)</title></head>"
             "\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n")


_ROUTE = re.compile(r"^/(?P<ep>[a-z-]+)(?:/(?P<key>[^/]+))?$")
_CACHE_TAG = re.compile(r"^/cache/info/[^/]+$")


class Views:
    """The endpoints, as methods of the request handler (``demo/http.py``) that mixes them in."""

    def _html_404(self, path: str) -> None:
        self._send(404, _HTML_404.encode(), "text/html; charset=utf-8")

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
            return self._page(len(pos), lambda a, b: records.session_list(
                db, eids[pos[a:b]], base))
        if ep == "insertions":
            rows = srv.filter_insertions(params)
            iv = srv.insertion_view
            keys = list(zip(iv["eid"], iv["id"], strict=True))
            return self._page(len(rows), lambda a, b: records.insertion_list(
                db, [keys[r] for r in rows[a:b]], base))
        if ep == "datasets":
            rows = srv.filter_datasets(params)
            return self._page(len(rows), lambda a, b: records.dataset_list(db, rows[a:b], base))
        small = self._small_list(ep, params)
        return self._page(len(small), lambda a, b: small[a:b])

    def _small_list(self, ep: str, params: dict[str, str]) -> list[dict]:
        records = _SMALL_LISTS[ep](self.srv, self.base)
        for name in LIST_PARAMS[ep]:
            if name in ("limit", "offset", "django") or params.get(name) is None:
                continue
            value = params[name]
            records = [r for r in records if _small_match(r.get(name), value)]
        return records

    # -- detail endpoints --
    def _detail_view(self, ep: str, key: str) -> dict:
        srv, db, base = self.srv, self.srv.db, self.base
        if ep == "sessions":
            eid = key.lower()
            if eid not in db.dataset_slices:
                raise _not_found("Session")
            return records.session_detail(db, eid, base)
        if ep == "insertions":
            pid = key.lower()
            if pid not in srv.pid_to_eid:
                raise _not_found("ProbeInsertion")
            return records.insertion(db, srv.pid_to_eid[pid], pid, base, detail=True)
        if ep == "datasets":
            did = key.lower()
            rows = srv.filter_datasets({"django": f"id,{did}"}) if _is_uuid(did) else []
            if not len(rows):
                raise _not_found("Dataset")
            record = records.dataset_list(db, rows[:1], base)[0]
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



def _small_match(got: Any, value: str) -> bool:
    if isinstance(got, bool):
        wanted = bool_param(value, rest=True)
        return wanted is None or got == wanted
    if isinstance(got, list):
        return value in got
    return str(got) == value


# --- the small endpoints ------------------------------------------------------------------------
def _revisions(srv: DemoServer, base: str) -> list[dict]:
    return [{"id": str(uuid.uuid5(_NS, r)), "json": None, "name": r,
             "description": f"Re-extraction of {r}", "created_datetime": f"{r}T12:00:00"}
            for r in sorted(REVISIONS)]


def _dataset_types(srv: DemoServer, base: str) -> list[dict]:
    return [{"id": str(uuid.uuid5(_NS, t)), "name": t, "created_by": None, "description": "",
             "filename_pattern": f"*{t}.*"} for t in srv.dataset_types]


def _labs(srv: DemoServer, base: str) -> list[dict]:
    return [dict(r) for r in srv.db.labs.to_dict("records")]


def _projects(srv: DemoServer, base: str) -> list[dict]:
    return [{"name": p, "description": "", "users": []} for p in srv.db.projects]


def _subjects(srv: DemoServer, base: str) -> list[dict]:
    s = srv.db.subjects.reset_index(drop=True).sort_values("nickname")
    sv = srv.session_view
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
    for lab, info in LABS.items():
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
