"""Contracts: the demo Alyx answers every request one-tui sends as the real Alyx 3.6.1 does.

Why the two servers are compared on their own data rather than on one loaded database: the
real Alyx is shared read-only by every test (its data is what populate.py made, and the engine
tests check against it), and loading the demo's synthetic database into it through the Django
ORM would mean a second PostgreSQL database and populate run per CI job (minutes, and a second
gunicorn), or rewriting the one the other tests read. Instead each test states what an answer
must be *in terms of the same server's own records* (the unfiltered list, the detail records,
the dataset list), with values picked from each server's data (conftest.gather_facts), and runs
on both servers; data-independent answers (errors, redirects, schemas, record fields and types,
link formats) are compared between the two directly. The demo drifting from Alyx on any of
them fails a test here.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pyarrow.parquet as pq
import pytest

from one_tui.demo.schema import DETAIL_KEY, INSERTION_PARAMS, LIST_PARAMS, SESSION_PARAMS
from one_tui.engine import One
from one_tui.engine.core.errors import HTTPError
from one_tui.engine.remote.client import AlyxClient
from tests.real_alyx.conftest import UUID_RE, Recorder, Server, searches_for

pytestmark = pytest.mark.real_alyx

QC_ORDER = ["NOT_SET", "PASS", "WARNING", "FAIL", "CRITICAL"]
FREE_FORM = {"json", "extended_qc"}  # JSON fields whose keys are data, not schema


# --- record schemas --------------------------------------------------------------------------
def schema(obj: Any, free: bool = False) -> dict:
    """The type tree of a JSON value; lists merge their items; ``null`` is kept apart."""
    if isinstance(obj, dict):
        if free:
            return {"dict": {}}
        return {"dict": {k: schema(v, k in FREE_FORM) for k, v in obj.items()}}
    if isinstance(obj, list):
        out: dict = {}
        for item in obj:
            out = merge(out, schema(item, free))
        return {"list": out}
    return {"null" if obj is None else type(obj).__name__: {}}


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for kind, sub in b.items():
        if kind == "dict" and "dict" in out:
            keys = dict(out["dict"])
            for k, v in sub.items():
                keys[k] = merge(keys.get(k, {}), v)
            out["dict"] = keys
        elif kind == "list" and "list" in out:
            out["list"] = merge(out["list"], sub)
        else:
            out[kind] = sub
    return out


def schema_diff(demo: dict, real: dict, path: str = "") -> list[str]:
    """Field names missing on one side, or types that differ where neither is null."""
    out = []
    kinds_d, kinds_r = set(demo) - {"null"}, set(real) - {"null"}
    if kinds_d and kinds_r and kinds_d != kinds_r:
        out.append(f"{path or '.'}: demo {sorted(kinds_d)}, real {sorted(kinds_r)}")
    if "dict" in demo and "dict" in real:
        d, r = demo["dict"], real["dict"]
        out += [f"{path}.{k}: only on the real Alyx" for k in sorted(set(r) - set(d))]
        out += [f"{path}.{k}: only on the demo" for k in sorted(set(d) - set(r))]
        for k in sorted(set(d) & set(r)):
            out += schema_diff(d[k], r[k], f"{path}.{k}")
    if demo.get("list") and real.get("list"):
        out += schema_diff(demo["list"], real["list"], f"{path}[]")
    return out


def schema_of(server: Server, queries: list[str]) -> dict:
    out: dict = {}
    for q, r in zip(queries, server.get_many(queries), strict=True):
        assert r.status_code == 200, (server.name, q, r.status_code, r.text[:200])
        assert r.headers["content-type"] == "application/json"
        out = merge(out, schema(r.json()))
    return out


def _records(server: Server) -> dict[str, list[str]]:
    """Requests whose answers (together) show every field of each record kind one-tui reads."""
    f = server.facts
    sessions = [r["id"] for r in server.all("/sessions")]
    pids = [r["id"] for r in server.all("/insertions")]
    datasets = [r["url"][-36:] for r in server.all(f"/datasets?session={f['eid']}")]
    return {
        "session list": ["/sessions?limit=1000"],
        "session detail": [f"/sessions/{e}" for e in sessions[:30]],
        "insertion list": ["/insertions?limit=1000"],
        "insertion detail": [f"/insertions/{p}" for p in pids[:20]],
        "dataset list": [f"/datasets?session={f['eid']}&limit=1000"],
        "dataset detail": [f"/datasets/{d}" for d in datasets[:10]],
        "revision list": ["/revisions"],
        "revision detail": [f"/revisions/{f['revision']}"],
        "dataset-type list": ["/dataset-types?limit=20"],
        "cache info": ["/cache/info/"],
        "subject list": ["/subjects"],
        "lab list": ["/labs"],
    }


def test_every_record_kind_has_the_same_fields_and_types(demo: Server, real: Server) -> None:
    """Session, insertion, dataset, revision... records: same field names, same JSON types
    (a field null on one server is not a difference; a field missing is)."""
    d, r = _records(demo), _records(real)
    problems = {kind: schema_diff(schema_of(demo, d[kind]), schema_of(real, r[kind]))
                for kind in d}
    assert {k: v for k, v in problems.items() if v} == {}


def test_default_revision_is_a_string_in_session_details_and_a_bool_in_datasets(
        either: Server) -> None:
    """Alyx's quirk the engine must parse: "True"/"False" strings in the session detail's
    dataset list, a real boolean ``default_dataset`` in /datasets."""
    eid = either.facts["eid"]
    related = either.get(f"/sessions/{eid}").json()["data_dataset_session_related"]
    assert {d["default_revision"] for d in related} <= {"True", "False"}
    assert "True" in {d["default_revision"] for d in related}
    listed = either.all(f"/datasets?session={eid}")
    assert {type(d["default_dataset"]) for d in listed} == {bool}
    assert {type(d["qc"]) for d in related} == {str}  # names here, ints in insertion details


# --- answers that do not depend on the data: compared directly ----------------------------
BAD_REQUESTS = [
    "/sessions?qc=BAD", "/sessions?number=x", "/sessions?date_range=2020-01-01",
    "/sessions?date_range=x,y", "/sessions?dataset_qc_lte=BAD",
    "/sessions?datasets=a.npy&dataset_qc_lte=BAD", "/sessions?performance_gte=x",
    "/sessions?performance_lte=x", "/sessions?atlas_id=x", "/sessions?id=notauuid",
    "/sessions?start_time=x", "/sessions?extended_qc=task", "/sessions?django=nofield,1",
    "/insertions?django=nofield,1", "/datasets?django=nofield,1", "/insertions?date=x",
    "/insertions?dataset_qc_lte=BAD", "/insertions?experiment_number=x",
    "/insertions?session=notauuid", "/datasets?date=x", "/datasets?qc=BAD",
    "/sessions/00000000-0000-4000-8000-000000000000",
    "/insertions/00000000-0000-4000-8000-000000000000",
    "/datasets/00000000-0000-4000-8000-000000000000", "/revisions/nope",
    "/dataset-types/nope", "/subjects/nope", "/sessions/notauuid", "/insertions/notauuid",
    "/datasets/notauuid", "/sessions/", "/nothing", "/cache/info/x/",
]


def _answer(server: Server, query: str, client: httpx.Client | None = None,
            **kw: Any) -> tuple[int, str, str | None, Any]:
    r = (client or server.client).get(query, **kw)
    body: Any = r.json() if r.headers.get("content-type") == "application/json" else r.text
    return r.status_code, r.headers.get("content-type", ""), r.headers.get("location"), body


@pytest.mark.parametrize("query", BAD_REQUESTS)
def test_errors_have_the_same_status_type_and_body(demo: Server, real: Server,
                                                   query: str) -> None:
    """400 / 404 / 500 answers: same status, content type and body (JSON or HTML)."""
    assert _answer(demo, query) == _answer(real, query)


@pytest.mark.parametrize("query", ["/cache/info", "/cache/info?x=1", "/docs", "/cache/info/x"])
def test_redirects_are_the_same(demo: Server, real: Server, query: str) -> None:
    """Django's APPEND_SLASH: a 301 to the path with a slash, query kept, before any login."""
    bare = httpx.Client(base_url=demo.base_url), httpx.Client(base_url=real.base_url)
    for client, server in zip(bare, (demo, real), strict=True):
        status, _, location, _ = _answer(server, query, client)
        assert (status, location) == (301, query.replace("?", "/?") if "?" in query
                                      else query + "/"), server.name


def test_unauthenticated_and_bad_logins_answer_the_same(demo: Server, real: Server) -> None:
    """No token, a malformed header, a wrong token, a wrong password, a missing field."""
    def answers(server: Server) -> list[Any]:
        url = server.base_url
        out = [_answer(server, q, httpx.Client(base_url=url))
               for q in ("/sessions", "/cache/info/", "/cache.zip")]
        for header in ("Token", "Token a b", "Token " + "0" * 40, "Bearer x"):
            out.append(_answer(server, "/sessions", httpx.Client(
                base_url=url, headers={"Authorization": header})))
        for data in ({"username": server.username, "password": "wrong"},
                     {"username": server.username}, {}):
            r = httpx.post(f"{url}/auth-token", data=data)
            out.append((r.status_code, r.headers["content-type"], r.json()))
        return out

    assert answers(demo) == answers(real)


def test_a_login_answers_a_40_character_token(either: Server) -> None:
    r = httpx.post(f"{either.base_url}/auth-token",
                   data={"username": either.username, "password": either.password})
    assert r.status_code == 200 and list(r.json()) == ["token"]
    assert len(r.json()["token"]) == 40


def test_docs_coreapi_lists_the_same_search_filters(demo: Server, real: Server) -> None:
    """``/docs`` with ONE 2.x's Accept header: the sessions and insertions filters ONE 2.x
    offers as remote search terms are the same names; every endpoint the demo serves is
    there with list and read links of the same URL."""
    def doc(server: Server) -> dict:
        r = httpx.get(f"{server.base_url}/docs", follow_redirects=True,
                      headers={"Accept": "application/coreapi+json"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        return r.json()

    d, r = doc(demo), doc(real)
    assert d["_type"] == r["_type"] == "document"
    for ep in ("sessions", "insertions"):
        assert ({f["name"] for f in d[ep]["list"]["fields"]}
                == {f["name"] for f in r[ep]["list"]["fields"]})
    for ep in LIST_PARAMS:
        for action in ("list", "read"):
            assert d[ep][action]["url"] == r[ep][action]["url"], (ep, action)
            assert d[ep][action]["action"] == r[ep][action]["action"] == "get"
        assert {f["name"] for f in d[ep]["list"]["fields"]} <= {
            f["name"] for f in r[ep]["list"]["fields"]}, ep
    for ep, action in (("cache.zip", "list"), ("auth-token", "create")):
        assert {k: d[ep][action][k] for k in ("url", "action")} == {
            k: r[ep][action][k] for k in ("url", "action")}, ep
    assert d["cache"]["info"]["list"]["url"] == r["cache"]["info"]["list"]["url"]


def test_api_schema_lists_the_same_filters(demo: Server, real: Server) -> None:
    """``/api/schema`` (ONE 3.x): same sessions and insertions filters; the demo's filters of
    the other endpoints all exist on Alyx; the same detail routes."""
    def params(server: Server) -> dict[str, set[str]]:
        r = httpx.get(f"{server.base_url}/api/schema", headers={"Accept": "application/json"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/")
        paths = r.json()["paths"]
        out = {ep: {p["name"] for p in paths[f"/{ep}"]["get"]["parameters"]}
               for ep in LIST_PARAMS}
        for ep, key in DETAIL_KEY.items():
            assert f"/{ep}/{{{key}}}" in paths, (server.name, ep)
        return out

    d, r = params(demo), params(real)
    assert d["sessions"] == r["sessions"] == set(SESSION_PARAMS)
    assert d["insertions"] == r["insertions"] == set(INSERTION_PARAMS)
    assert {ep: d[ep] - r[ep] for ep in d if d[ep] - r[ep]} == {}


def test_docs_without_the_coreapi_header_is_a_web_page(either: Server) -> None:
    r = httpx.get(f"{either.base_url}/docs/")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"


# --- pagination -------------------------------------------------------------------------------
def test_pagination_envelope_and_links(either: Server) -> None:
    """``count/next/previous/results``; absolute links with the filters kept, sorted keys,
    ``offset`` dropped on the way back to the first page, ``next`` null on the last page."""
    base, lab = either.base_url, either.facts["lab"]
    body = either.get(f"/sessions?lab={lab}&limit=1").json()
    assert list(body) == ["count", "next", "previous", "results"]
    assert body["count"] >= 2 and body["previous"] is None
    assert body["next"] == f"{base}/sessions?lab={lab}&limit=1&offset=1"
    second = either.get(body["next"]).json()
    assert second["previous"] == f"{base}/sessions?lab={lab}&limit=1"
    third = either.get(f"/sessions?lab={lab}&limit=1&offset=2").json()
    assert third["previous"] == f"{base}/sessions?lab={lab}&limit=1&offset=1"
    last = either.get(f"/sessions?lab={lab}&limit=1&offset={body['count'] - 1}").json()
    assert last["next"] is None and len(last["results"]) == 1
    past = either.get("/sessions?offset=100000").json()
    assert past["results"] == [] and past["next"] is None
    assert past["previous"] == f"{base}/sessions?limit=250&offset=99750"
    default = either.get("/sessions").json()
    assert len(default["results"]) == min(250, default["count"])
    for bad in ("limit=x", "limit=0", "limit=-3&offset=-1"):
        assert len(either.get(f"/sessions?{bad}").json()["results"]) == len(
            default["results"]), bad


def test_pages_put_together_are_the_whole_list(either: Server) -> None:
    whole = [r["id"] for r in either.all("/sessions")]
    pages, url = [], "/sessions?limit=7"
    while url:
        body = either.get(url).json()
        pages += [r["id"] for r in body["results"]]
        url = body["next"]
    assert pages == whole


# --- ordering -----------------------------------------------------------------------------------
def test_sessions_newest_first_and_insertions_by_session_then_name(either: Server) -> None:
    starts = [r["start_time"] for r in either.all("/sessions")]
    assert starts == sorted(starts, reverse=True)
    ins = [(r["session_info"]["start_time"], r["name"]) for r in either.all("/insertions")]
    assert ins == sorted(ins, key=lambda k: k[0], reverse=True)
    for a, b in zip(ins, ins[1:], strict=False):
        if a[0] == b[0]:
            assert a[1] <= b[1]


def test_revisions_by_name(either: Server) -> None:
    names = [r["name"] for r in either.all("/revisions")]
    assert names == sorted(names)


# --- what each filter returns, against the server's own records --------------------------------
Rel = Callable[[Server], tuple[str, Counter]]


def _ids(server: Server, query: str) -> list[str]:
    return [r["id"] for r in server.all(query)]


def _expect(server: Server, pred: Callable[[dict], int]) -> Counter:
    """Expected multiplicity per session id, from the unfiltered list records."""
    return Counter({r["id"]: n for r in server.all("/sessions") if (n := int(pred(r)))})


def _detail_records(server: Server, endpoint: str) -> dict[str, dict]:
    """Every ``/<endpoint>/<id>`` record of the server, fetched once per run (kept in facts)."""
    key = f"_details_{endpoint}"
    if key not in server.facts:
        ids = [r["id"] for r in server.all(f"/{endpoint}")]
        answers = server.get_many([f"/{endpoint}/{i}" for i in ids])
        server.facts[key] = {i: r.json() for i, r in zip(ids, answers, strict=True)}
    return server.facts[key]


def _details(server: Server) -> dict[str, dict]:
    return _detail_records(server, "sessions")


def _insertion_details(server: Server) -> dict[str, dict]:
    return _detail_records(server, "insertions")


def _datasets(server: Server) -> list[dict]:
    key = "_datasets"
    if key not in server.facts:
        rows: list[dict] = []
        url: str | None = "/datasets?limit=1000"
        while url:
            body = server.get(url).json()
            rows += body["results"]
            url = body["next"]
        server.facts[key] = rows
    return server.facts[key]


def _qc_at_most(server: Server, qc: str, eid_of: Callable[[dict], str | None]) -> Counter:
    limit = QC_ORDER.index(qc)
    return Counter(e for d in _datasets(server)
                   if QC_ORDER.index(d["qc"]) <= limit and (e := eid_of(d)))


def rel_subject(s: Server) -> tuple[str, Counter]:
    subj = s.facts["subject"]
    return f"subject={subj.lower()}", _expect(s, lambda r: r["subject"] == subj)


def rel_lab(s: Server) -> tuple[str, Counter]:
    lab = s.facts["lab"]
    return f"lab={lab.upper()}", _expect(s, lambda r: r["lab"] == lab)


def rel_date_range(s: Server) -> tuple[str, Counter]:
    day = s.facts["day"]
    return f"date_range={day},{day}", _expect(s, lambda r: r["start_time"][:10] == day)


def rel_number(s: Server) -> tuple[str, Counter]:
    return "number=2", _expect(s, lambda r: r["number"] == 2)


def rel_task(s: Server) -> tuple[str, Counter]:
    part = s.facts["task_part"].lower()
    return f"task_protocol={part}", _expect(s, lambda r: part in r["task_protocol"].lower())


def rel_projects(s: Server) -> tuple[str, Counter]:
    """Repeated once per matching project (a many-to-many join, no DISTINCT)."""
    part = s.facts["project_part"]
    return f"projects={part}", _expect(s, lambda r: sum(part in p for p in r["projects"]))


def rel_project(s: Server) -> tuple[str, Counter]:
    part = s.facts["project_part"]
    return f"project={part}", _expect(s, lambda r: sum(part in p for p in r["projects"]))


def rel_dataset_qc_lte(s: Server) -> tuple[str, Counter]:
    """Alone: once per dataset at or under the QC."""
    return "dataset_qc_lte=PASS", _qc_at_most(s, "PASS", lambda d: d["session"][-36:])


def rel_projects_and_qc(s: Server) -> tuple[str, Counter]:
    """Two multiplying joins multiply."""
    part = s.facts["project_part"]
    per_project = _expect(s, lambda r: sum(part in p for p in r["projects"]))
    per_qc = _qc_at_most(s, "WARNING", lambda d: d["session"][-36:])
    return (f"projects={part}&dataset_qc_lte=WARNING",
            Counter({e: n * per_qc[e] for e, n in per_project.items() if per_qc[e]}))


def rel_projects_and_django(s: Server) -> tuple[str, Counter]:
    """A django filter ends in distinct(): every session once."""
    part, lab = s.facts["project_part"], s.facts["lab"]
    return (f"projects={part}&django=lab__name,{lab}",
            _expect(s, lambda r: r["lab"] == lab and any(part in p for p in r["projects"])))


def rel_datasets(s: Server) -> tuple[str, Counter]:
    """``datasets``: sessions with an existing dataset of that name under FAIL QC, once."""
    name = s.facts["dataset"]
    ok = {d["session"][-36:] for d in _datasets(s) if d["name"] == name
          and QC_ORDER.index(d["qc"]) <= QC_ORDER.index("FAIL")
          and any(f["exists"] and f["data_url"] for f in d["file_records"])}
    return f"datasets={name}", Counter(ok)


def rel_dataset_django(s: Server) -> tuple[str, Counter]:
    """one-tui's ``dataset`` term: a django icontains on the session's dataset names."""
    part = s.facts["dataset_part"]
    ok = {d["session"][-36:] for d in _datasets(s) if part in d["name"].lower()}
    return f"django=data_dataset_session_related__name__icontains,{part}", Counter(ok)


def rel_qc(s: Server) -> tuple[str, Counter]:
    det = _details(s)
    return "qc=PASS", Counter({e for e, d in det.items() if d["qc"] == "PASS"})


def rel_performance(s: Server) -> tuple[str, Counter]:
    det = _details(s)
    return "performance_gte=60", Counter({
        e for e, d in det.items()
        if d["n_trials"] and d["n_correct_trials"] is not None
        and 100 * d["n_correct_trials"] / d["n_trials"] >= 60})


def rel_histology(s: Server) -> tuple[str, Counter]:
    det = _details(s)
    subjects = {d["subject"] for d in det.values() if "Histology" in d["procedures"]}
    return "histology=True", Counter({e for e, d in det.items() if d["subject"] in subjects})


def rel_not_histology(s: Server) -> tuple[str, Counter]:
    det = _details(s)
    subjects = {d["subject"] for d in det.values() if "Histology" in d["procedures"]}
    return "histology=False", Counter({e for e, d in det.items() if d["subject"] not in subjects})


def rel_histology_ignored(s: Server) -> tuple[str, Counter]:
    """Not a boolean Django's NullBooleanSelect knows: no filter at all."""
    return "histology=1", _expect(s, lambda r: 1)


def rel_narrative(s: Server) -> tuple[str, Counter]:
    word = s.facts["narrative_word"]
    det = _details(s)
    return (f"django=narrative__icontains,{quote(word)}",
            Counter({e for e, d in det.items() if word.lower() in d["narrative"].lower()}))


def rel_users(s: Server) -> tuple[str, Counter]:
    det = _details(s)
    user = det[s.facts["eid"]]["users"][0]
    return f"users={user}", Counter({e for e, d in det.items() if user in d["users"]})


def rel_procedures(s: Server) -> tuple[str, Counter]:
    """icontains over a many-to-many: once per matching procedure."""
    det = _details(s)
    return "procedures=e", Counter({e: n for e, d in det.items()
                                    if (n := sum("e" in p.lower() for p in d["procedures"]))})


def _atlas_sessions(s: Server, param: str) -> tuple[str, Counter]:
    """Once per insertion with a channel in the region (the insertions endpoint's answer to
    the same filter is the truth for which insertions those are)."""
    value = s.facts[param]
    hits = s.all(f"/insertions?{param}={quote(str(value))}")
    return f"{param}={quote(str(value))}", Counter(r["session"] for r in hits)


def rel_atlas_acronym(s: Server) -> tuple[str, Counter]:
    return _atlas_sessions(s, "atlas_acronym")


def rel_atlas_id(s: Server) -> tuple[str, Counter]:
    return _atlas_sessions(s, "atlas_id")


def rel_atlas_name(s: Server) -> tuple[str, Counter]:
    return _atlas_sessions(s, "atlas_name")


def rel_id(s: Server) -> tuple[str, Counter]:
    return f"id={s.facts['eid'].upper()}", Counter([s.facts["eid"]])


def rel_extended_qc(s: Server) -> tuple[str, Counter]:
    """``extended_qc=key,value`` pairs against the JSON in the session details."""
    det = _details(s)
    return "extended_qc=task,PASS", Counter({e for e, d in det.items()
                                             if (d["extended_qc"] or {}).get("task") == "PASS"})


def rel_extended_qc_gte(s: Server) -> tuple[str, Counter]:
    det = _details(s)
    return "extended_qc=behavior__gte,1", Counter({
        e for e, d in det.items()
        if isinstance((d["extended_qc"] or {}).get("behavior"), int | float)
        and d["extended_qc"]["behavior"] >= 1})


def rel_django_exclude(s: Server) -> tuple[str, Counter]:
    lab = s.facts["lab"]
    return f"django=~lab__name,{lab}", _expect(s, lambda r: r["lab"] != lab)


def rel_django_date_lookup(s: Server) -> tuple[str, Counter]:
    day = s.facts["day"]
    return (f"django=start_time__date__lt,{day}",
            _expect(s, lambda r: r["start_time"][:10] < day))


RELATIONS = [rel_extended_qc, rel_extended_qc_gte, rel_django_exclude, rel_django_date_lookup,
             rel_subject, rel_lab, rel_date_range, rel_number, rel_task, rel_projects,
             rel_project, rel_dataset_qc_lte, rel_projects_and_qc, rel_projects_and_django,
             rel_datasets, rel_dataset_django, rel_qc, rel_performance, rel_histology,
             rel_not_histology, rel_histology_ignored, rel_narrative, rel_users, rel_procedures,
             rel_atlas_acronym, rel_atlas_id, rel_atlas_name, rel_id]


@pytest.mark.parametrize("relation", RELATIONS, ids=lambda f: f.__name__[4:])
def test_session_filter_answers_what_the_records_say(either: Server, relation: Rel) -> None:
    """Each /sessions filter one-tui sends: the sessions (with Alyx's repeats) that the
    server's own records say, newest first, repeats next to each other."""
    query, expected = relation(either)
    got = _ids(either, f"/sessions?{query}")
    assert Counter(got) == expected, query
    starts = {r["id"]: r["start_time"] for r in either.all("/sessions")}
    assert [starts[e] for e in got] == sorted((starts[e] for e in got), reverse=True)


def test_some_filters_repeat_sessions_on_both_servers(either: Server) -> None:
    """The data shows the quirk on both servers (else the relations above prove little)."""
    for query in (f"projects={either.facts['project_part']}", "dataset_qc_lte=PASS"):
        ids = _ids(either, f"/sessions?{query}")
        assert len(ids) > len(set(ids)), (either.name, query)


INSERTION_RELATIONS = {
    "session": lambda s: (f"session={s.facts['eid']}", Counter(
        r["id"] for r in s.all("/insertions") if r["session"] == s.facts["eid"])),
    "subject": lambda s: (f"subject={s.facts['subject']}", Counter(
        r["id"] for r in s.all("/insertions")
        if r["session_info"]["subject"] == s.facts["subject"])),
    "number": lambda s: (f"experiment_number={s.facts['number']}", Counter(
        r["id"] for r in s.all("/insertions") if r["session_info"]["number"] == s.facts["number"])),
    "lab": lambda s: (f"lab={s.facts['lab']}", Counter(
        r["id"] for r in s.all("/insertions") if r["session_info"]["lab"] == s.facts["lab"])),
    "project": lambda s: (f"project={s.facts['project_part']}", Counter({
        r["id"]: n for r in s.all("/insertions")
        if (n := sum(s.facts["project_part"] in p for p in r["session_info"]["projects"]))})),
    "name": lambda s: ("name=probe01", Counter(
        r["id"] for r in s.all("/insertions") if r["name"] == "probe01")),
    "id": lambda s: (f"id={s.facts['pid']}", Counter([s.facts["pid"]])),
    "dataset_qc_lte": lambda s: ("dataset_qc_lte=PASS", Counter({  # once per dataset
        r["id"]: n for r in s.all("/insertions")
        if (n := sum(d["qc"] <= 10 for d in _insertion_details(s)[r["id"]]["datasets"]))})),
    "django": lambda s: ("django=datasets__name__icontains,spikes", Counter({
        r["id"] for r in s.all("/insertions")
        if any("spikes" in d["name"] for d in _insertion_details(s)[r["id"]]["datasets"])})),
}


@pytest.mark.parametrize("name", sorted(INSERTION_RELATIONS))
def test_insertion_filter_answers_what_the_records_say(either: Server, name: str) -> None:
    query, expected = INSERTION_RELATIONS[name](either)
    got = [r["id"] for r in either.all(f"/insertions?{query}")]
    assert Counter(got) == expected, query


def test_atlas_filters_match_the_region_subtree(either: Server) -> None:
    """A parent region matches what its child region matches; acronym, Allen id and name of
    one region give the same insertions."""
    f = either.facts
    by = {p: {r["id"] for r in either.all(f"/insertions?{p}={quote(str(f[p]))}")}
          for p in ("atlas_acronym", "atlas_id", "atlas_name")}
    assert by["atlas_acronym"] and by["atlas_acronym"] == by["atlas_id"]
    assert by["atlas_acronym"] <= by["atlas_name"]  # a name matches regions containing it
    grey = {r["id"] for r in either.all("/insertions?atlas_acronym=grey")}
    assert by["atlas_acronym"] <= grey
    assert not either.all("/insertions?atlas_acronym=NOPE")


# --- every request one-tui sends, through the engine, on both servers ---------------------------
def _template(request: httpx.Request, server: Server) -> str:
    """``METHOD /path?keys``: UUIDs and names of the server's own data abstracted away, later
    pages folded into their query's template."""
    path = UUID_RE.sub("{uuid}", request.url.path)
    path = path.replace(f"/revisions/{server.facts['revision']}", "/revisions/{name}")
    if path.startswith("/dataset-types/"):
        path = "/dataset-types/{name}"
    keys = sorted({k for k, _ in request.url.params.multi_items()})
    if "offset" in keys:  # a later page: how many there are depends on the data
        keys = [k for k in keys if k not in ("limit", "offset")]
    return f"{request.method} {path}" + (f"?{'&'.join(keys)}" if keys else "")


def _drive(server: Server, tmp: Any) -> dict[str, list[httpx.Response]]:
    """Run the engine through every remote call the app makes; answers by request template."""
    recorder = Recorder()
    client = AlyxClient(server.base_url, username=server.username, password=server.password,
                        cache_dir=tmp, cache_rest=None, transport=recorder)
    f = server.facts
    one = One(client=client, mode="auto")  # login, cache/info -> cache/info/, cache.zip
    assert one.mode == "auto", one.notices
    one.refresh_cache("refresh")
    for terms in searches_for(f).values():
        one.search(query_type="remote", **terms)
    one.get_details(f["eid"], full=True, query_type="remote")
    one.list_datasets(f["eid"], query_type="remote")
    one.search_insertions(query_type="remote")
    one.search_insertions(query_type="remote", dataset_qc_lte="PASS", details=True)
    one.pid2eid(f["pid"], query_type="remote")
    one.pid2eid("00000000-0000-4000-8000-000000000000", query_type="remote")
    one.eid2pid(f["eid"], query_type="remote")
    one.describe_revision(f["revision"])
    one.describe_revision("no-such-revision")
    types = one.describe_dataset()  # every dataset type (pages), then one by name
    one.describe_dataset(types[0]["name"])
    one.alyx.rest("sessions", "list", limit=7)  # pages of 7, from the envelope's next
    with pytest.raises(HTTPError):
        one.alyx.rest("sessions", "read", id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(HTTPError):
        one.alyx.rest("sessions", "list", number="x")
    with pytest.raises(HTTPError):
        one.alyx.rest("sessions", "list", qc="BAD")
    client.close()
    out: dict[str, list[httpx.Response]] = {}
    for request, response in recorder.exchanges:
        out.setdefault(_template(request, server), []).append(response)
    return out


def _kind(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.headers.get("content-type", "")


def test_every_request_one_tui_sends_gets_the_same_kind_of_answer(
        demo: Server, real: Server, tmp_path: Any) -> None:
    """The same engine calls on both servers send the same requests (by template) and get
    answers of the same status, content type and record shape: if the demo drifts from Alyx
    on anything one-tui asks, this names the request."""
    d, r = _drive(demo, tmp_path / "demo"), _drive(real, tmp_path / "real")
    assert sorted(d) == sorted(r)
    for template in d:
        assert {_kind(x) for x in d[template]} == {_kind(x) for x in r[template]}, template
        if _kind(d[template][0])[1] == "application/json":
            shapes = [merge_all([schema(x.json()) for x in side]) for side in (d[template],
                                                                               r[template])]
            assert schema_diff(*shapes) == [], template
    assert "GET /cache/info" in d and "GET /docs" not in d  # one-tui needs no schema


def merge_all(schemas: list[dict]) -> dict:
    out: dict = {}
    for s in schemas:
        out = merge(out, s)
    return out


def test_cache_zip_is_built_as_one_cache_builds_it(demo: Server, real: Server) -> None:
    """Members in one_cache's order; each table's columns, Arrow types, index columns and
    metadata keys; cache_info's keys; QC.json's record keys; the download headers."""
    def contents(server: Server) -> dict:
        r = server.get("/cache.zip")
        assert r.status_code == 200
        zf = zipfile.ZipFile(io.BytesIO(r.content))
        out: dict[str, Any] = {"names": zf.namelist(),
                               "headers": (r.headers["content-type"],
                                           r.headers["content-disposition"].split(";")[0])}
        for name in ("sessions", "datasets"):
            table = pq.read_table(io.BytesIO(zf.read(f"{name}.pqt")))
            pandas_meta = json.loads(table.schema.metadata[b"pandas"])
            out[name] = ([(f.name, str(f.type)) for f in table.schema],
                         sorted(table.schema.metadata), pandas_meta["index_columns"],
                         sorted(json.loads(table.schema.metadata[b"one_metadata"])))
        info = json.loads(zf.read("cache_info.json"))
        out["info"] = (sorted(info), sorted(info["tables"]),
                       {k: sorted(v) for k, v in info["tables"].items()})
        qc = json.loads(zf.read("QC.json"))
        out["qc"] = (sorted({k for x in qc for k in x}),
                     sorted({k for x in qc for p in x.get("probe_insertions", []) for k in p}))
        return out

    assert contents(demo) == contents(real)


def test_one_tui_keeps_each_repeated_session_and_insertion_once(either: Server,
                                                                tmp_path: Any) -> None:
    """On both servers: the repeats Alyx sends are dropped, in the server's order."""
    one = One(base_url=either.base_url, username=either.username, password=either.password,
              cache_dir=tmp_path, mode="remote", cache_rest=None)
    part = either.facts["project_part"]
    raw = _ids(either, f"/sessions?projects={part}")
    assert one.search(query_type="remote", projects=part) == list(dict.fromkeys(raw))
    raw = [r["id"] for r in either.all("/insertions?dataset_qc_lte=PASS")]
    assert len(raw) > len(set(raw))
    assert one.search_insertions(query_type="remote", dataset_qc_lte="PASS") == list(
        dict.fromkeys(raw))
    one.alyx.close()
