"""The demo Alyx over real loopback HTTP: what a ONE client sees, including injected faults."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import zipfile
from collections.abc import Iterator

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from one_tui.demo import synth
from one_tui.demo.atlas import ATLAS_PARENTS
from one_tui.demo.catalogue import LABS, REVISIONS
from one_tui.demo.schema import SESSION_PARAMS
from one_tui.demo.server import DemoServer


@pytest.fixture(scope="module")
def db() -> synth.SyntheticDB:
    return synth.generate(150, seed=7)


@pytest.fixture(scope="module")
def server(db: synth.SyntheticDB) -> Iterator[DemoServer]:
    with DemoServer(db) as srv:
        yield srv


@pytest.fixture
def srv(server: DemoServer) -> Iterator[DemoServer]:
    """The shared server, healthy and with an empty request log for each test."""
    server.faults.reset()
    server.clear_requests()
    yield server
    server.faults.reset()


@pytest.fixture
def client(srv: DemoServer) -> Iterator[httpx.Client]:
    token = httpx.post(f"{srv.url}/auth-token", data={"username": "demo", "password": "demo"})
    with httpx.Client(base_url=srv.url, timeout=10,
                      headers={"Authorization": f"Token {token.json()['token']}"}) as c:
        yield c


def all_ids(client: httpx.Client, query: str) -> list[str]:
    r = client.get(f"/sessions?{query}&limit=1000" if query else "/sessions?limit=1000")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(body["results"])
    return [rec["id"] for rec in body["results"]]


def frame(db: synth.SyntheticDB) -> pd.DataFrame:
    return db.sessions.join(db.session_extra)


# --- authentication -----------------------------------------------------------------------------
def test_login_returns_the_same_token_each_time(srv: DemoServer) -> None:
    a = httpx.post(f"{srv.url}/auth-token", data={"username": "demo", "password": "demo"})
    b = httpx.post(f"{srv.url}/auth-token", json={"username": "demo", "password": "demo"})
    assert a.status_code == b.status_code == 200
    assert a.json()["token"] == b.json()["token"]
    assert len(a.json()["token"]) == 40


def test_bad_login_is_a_400_with_non_field_errors(srv: DemoServer) -> None:
    r = httpx.post(f"{srv.url}/auth-token", data={"username": "demo", "password": "nope"})
    assert r.status_code == 400
    assert r.json() == {"non_field_errors": ["Unable to log in with provided credentials."],
                        "status_code": 400}
    r = httpx.post(f"{srv.url}/auth-token", data={"username": "demo"})
    assert r.json() == {"password": ["This field is required."], "status_code": 400}


def test_requests_without_or_with_a_bad_token_are_403(srv: DemoServer) -> None:
    r = httpx.get(f"{srv.url}/sessions")
    assert r.status_code == 403
    assert r.json()["detail"] == "Authentication credentials were not provided."
    r = httpx.get(f"{srv.url}/sessions", headers={"Authorization": "Token " + "0" * 40})
    assert (r.status_code, r.json()["detail"]) == (403, "Invalid token.")


def test_schema_needs_no_login_and_lists_session_filters(srv: DemoServer) -> None:
    r = httpx.get(f"{srv.url}/api/schema")
    assert r.status_code == 200
    params = {p["name"] for p in r.json()["paths"]["/sessions"]["get"]["parameters"]}
    assert params == set(SESSION_PARAMS)
    assert {"date_range", "django", "dataset_types", "atlas_acronym"} <= params


def test_docs_redirects_and_serves_the_coreapi_document_one_2x_reads(srv: DemoServer) -> None:
    """ONE 2.x's rest() checks every endpoint against ``/docs`` (Core API JSON): without it
    ONE 2.11.2 cannot search the demo at all."""
    r = httpx.get(f"{srv.url}/docs")
    assert r.status_code == 301 and r.headers["location"] == "/docs/"
    coreapi = {"Accept": "application/coreapi+json"}
    doc = httpx.get(f"{srv.url}/docs", headers=coreapi, follow_redirects=True)
    assert doc.status_code == 200 and doc.headers["content-type"] == "application/json"
    body = doc.json()
    assert body["_type"] == "document"
    fields = [f["name"] for f in body["sessions"]["list"]["fields"]]
    assert fields[:2] == ["limit", "offset"] and set(fields) == set(SESSION_PARAMS)
    assert body["sessions"]["read"]["url"] == "/sessions/{id}"
    assert {"insertions", "datasets", "revisions", "cache", "cache.zip"} <= set(body)
    page = httpx.get(f"{srv.url}/docs/")  # a browser gets the HTML page
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


@pytest.mark.oracle
def test_one_api_2_searches_the_demo(oracle, srv: DemoServer, db: synth.SyntheticDB,
                                     tmp_path) -> None:
    """ONE 2.11.2 itself: remote session and insertion searches against the demo succeed."""
    subject = db.sessions["subject"].iloc[0]
    got = oracle("2.11.2", """
from one.api import ONE
one = ONE(base_url=ARGS['url'], username='demo', password='demo', silent=True,
          cache_dir=ARGS['cache'])
eids = one.search(subject=ARGS['subject'], query_type='remote')
pids = one.search_insertions(query_type='remote')
emit({'eids': [str(e) for e in eids], 'pids': [str(p) for p in pids],
      'terms': sorted(one.search_terms(query_type='remote'))})
""", home=tmp_path, args={"url": srv.url, "cache": str(tmp_path / "cache"), "subject": subject})
    frame_ = frame(db)
    mine = frame_[frame_["subject"] == subject].sort_values("start_time", ascending=False)
    assert got["eids"] == list(mine.index)
    assert sorted(got["pids"]) == sorted(db.insertions.index.get_level_values(1))
    assert {"date_range", "atlas_acronym", "dataset_qc_lte"} <= set(got["terms"])


def test_writes_are_refused(client: httpx.Client) -> None:
    r = client.post("/sessions", json={"subject": "KS005"})
    assert r.status_code == 403
    assert r.json()["detail"] == "You do not have permission to perform this action."


def test_requests_are_logged_as_received(srv: DemoServer, client: httpx.Client) -> None:
    client.get("/sessions?lab=cortexlab&limit=3")
    assert srv.requests[-1] == "GET /sessions?lab=cortexlab&limit=3"
    assert "POST /auth-token" in srv.requests


# --- pagination ---------------------------------------------------------------------------------
def test_envelope_and_links_keep_every_filter(srv: DemoServer, client: httpx.Client,
                                              db: synth.SyntheticDB) -> None:
    body = client.get("/sessions?limit=40").json()
    assert body["count"] == len(db.sessions)
    assert len(body["results"]) == 40 and body["previous"] is None
    assert body["next"] == f"{srv.url}/sessions?limit=40&offset=40"
    page2 = client.get(body["next"]).json()
    assert page2["previous"] == f"{srv.url}/sessions?limit=40"
    assert not {r["id"] for r in body["results"]} & {r["id"] for r in page2["results"]}
    lab = db.sessions["lab"].value_counts().index[0]
    body = client.get(f"/sessions?lab={lab}&limit=2&offset=2").json()
    assert body["next"] == f"{srv.url}/sessions?lab={lab}&limit=2&offset=4"
    assert body["previous"] == f"{srv.url}/sessions?lab={lab}&limit=2"


def test_default_page_and_offset_past_the_end(client: httpx.Client, db: synth.SyntheticDB) -> None:
    body = client.get("/sessions").json()
    assert len(body["results"]) == min(250, len(db.sessions))
    body = client.get("/sessions?offset=100000").json()
    assert body["results"] == [] and body["next"] is None


def test_limit_is_capped_and_bad_limits_fall_back(db: synth.SyntheticDB) -> None:
    with DemoServer(db, page_size=10, max_limit=25) as srv:
        token = httpx.post(f"{srv.url}/auth-token", data={"username": "demo", "password": "demo"})
        h = {"Authorization": f"Token {token.json()['token']}"}
        assert len(httpx.get(f"{srv.url}/sessions?limit=5000", headers=h).json()["results"]) == 25
        assert len(httpx.get(f"{srv.url}/sessions?limit=0", headers=h).json()["results"]) == 10
        assert len(httpx.get(f"{srv.url}/sessions?limit=x", headers=h).json()["results"]) == 10


def test_sessions_are_newest_first(client: httpx.Client, db: synth.SyntheticDB) -> None:
    starts = [r["start_time"] for r in client.get("/sessions?limit=1000").json()["results"]]
    assert starts == sorted(starts, reverse=True)
    assert len(starts) == len(db.sessions)


def test_list_record_has_alyx_fields(srv: DemoServer, client: httpx.Client) -> None:
    rec = client.get("/sessions?limit=1").json()["results"][0]
    assert set(rec) == {"id", "subject", "start_time", "number", "lab", "projects", "url",
                        "task_protocol"}
    assert rec["url"] == f"{srv.url}/sessions/{rec['id']}" and isinstance(rec["projects"], list)


# --- sessions filters against the data ----------------------------------------------------------
def expect(mask: pd.Series) -> set[str]:
    return set(mask.index[mask.fillna(False).to_numpy(dtype=bool)])


def test_subject_and_lab_are_case_insensitive_exact(client: httpx.Client,
                                                    db: synth.SyntheticDB) -> None:
    s = frame(db)
    subject = s["subject"].iloc[0]
    assert set(all_ids(client, f"subject={subject.lower()}")) == expect(s["subject"] == subject)
    assert all_ids(client, f"subject={subject[:-1]}") == []  # no partial match
    assert set(all_ids(client, f"nickname={subject}")) == expect(s["subject"] == subject)
    assert set(all_ids(client, "lab=CORTEXLAB")) == expect(s["lab"] == "cortexlab")


def test_users_must_all_be_on_the_session(client: httpx.Client, db: synth.SyntheticDB) -> None:
    s = frame(db)
    pair = next(u for u in s["users"] if len(u) == 2)
    got = set(all_ids(client, "users=" + ",".join(pair)))
    assert got == expect(s["users"].map(lambda u: set(pair) <= set(u)))
    assert got < expect(s["users"].map(lambda u: pair[0] in u))


def test_date_range_is_inclusive(client: httpx.Client, db: synth.SyntheticDB) -> None:
    s = frame(db)
    d0, d1 = sorted(s["date"])[20], sorted(s["date"])[60]
    got = set(all_ids(client, f"date_range={d0},{d1}"))
    assert got == expect((s["date"] >= d0) & (s["date"] <= d1))
    assert len(got) >= 41


def test_number_protocol_project_location_procedures_type(client: httpx.Client,
                                                          db: synth.SyntheticDB) -> None:
    s = frame(db)
    assert set(all_ids(client, "number=2")) == expect(s["number"] == 2)
    assert set(all_ids(client, "task_protocol=EPHYS")) == \
        expect(s["task_protocol"].str.contains("ephys", case=False))
    assert set(all_ids(client, "projects=brainwide")) == \
        expect(s["projects"].str.contains("brainwide"))
    assert set(all_ids(client, "project=repeated")) == expect(s["projects"].str.contains("repeat"))
    assert set(all_ids(client, "location=ephys")) == expect(s["location"].str.contains("ephys"))
    assert set(all_ids(client, "procedures=histo")) == \
        expect(s["procedures"].map(lambda p: "Histology" in p))
    assert len(all_ids(client, "type=experiment")) == len(s)


def test_qc_extended_qc_and_performance(client: httpx.Client, db: synth.SyntheticDB) -> None:
    s = frame(db)
    assert set(all_ids(client, "qc=FAIL")) == expect(s["qc"] == "FAIL")
    ext = s["extended_qc"]
    want = ext.map(lambda e: e is not None and e["_task_passed_trial_checks"] >= 0.9
                   and e["behavior"] == 1)
    got = set(all_ids(client, "extended_qc=_task_passed_trial_checks__gte,0.9,behavior,1"))
    assert got == expect(want) and got
    assert set(all_ids(client, "performance_gte=80")) == expect(s["performance"] >= 80)
    both = set(all_ids(client, "performance_gte=60&performance_lte=70"))
    assert both == expect(s["performance"].between(60, 70))


def test_dataset_types_and_datasets(client: httpx.Client, db: synth.SyntheticDB) -> None:
    d = db.datasets.reset_index()
    d["name"] = d["rel_path"].str.rsplit("/", n=1).str[-1]
    has = lambda m: set(d.loc[m, "eid"])  # noqa: E731
    got = set(all_ids(client, "dataset_types=trials.table,spikes.times"))
    assert got == has(d["name"] == "_ibl_trials.table.pqt") & has(d["name"] == "spikes.times.npy")
    ok = d["exists"] & (d["qc"] <= "FAIL")
    want = has((d["name"] == "spikes.times.npy") & ok) & has((d["name"] == "licks.times.npy") & ok)
    assert set(all_ids(client, "datasets=spikes.times.npy,licks.times.npy")) == want
    strict = has((d["name"] == "spikes.times.npy") & d["exists"] & (d["qc"] <= "PASS"))
    assert set(all_ids(client, "datasets=spikes.times.npy&dataset_qc_lte=PASS")) == strict


def test_dataset_qc_lte_alone_repeats_sessions(client: httpx.Client,
                                              db: synth.SyntheticDB) -> None:
    """Alyx's quirk: alone, it returns one row per matching dataset."""
    body = client.get("/sessions?dataset_qc_lte=NOT_SET&limit=1").json()
    assert body["count"] == int((db.datasets["qc"] == "NOT_SET").sum()) > len(db.sessions)


def test_histology_and_atlas(client: httpx.Client, db: synth.SyntheticDB) -> None:
    s = frame(db)
    histo_subjects = set(s.loc[s["procedures"].map(lambda p: "Histology" in p), "subject"])
    assert set(all_ids(client, "histology=True")) == expect(s["subject"].isin(histo_subjects))
    assert set(all_ids(client, "histology=False")) == expect(~s["subject"].isin(histo_subjects))
    leaf = next(a for acr in s["atlas_acronyms"] for a in acr)
    got = set(all_ids(client, f"atlas_acronym={leaf.lower()}"))
    assert got == expect(s["atlas_acronyms"].map(lambda a: leaf in a))
    # a parent region matches the regions below it
    parent = ATLAS_PARENTS[leaf]
    assert got <= set(all_ids(client, f"atlas_acronym={parent}"))


def test_id_narrative_and_unknown_params(client: httpx.Client, db: synth.SyntheticDB) -> None:
    s = frame(db)
    eid = s.index[5]
    assert all_ids(client, f"id={eid}") == [eid]
    text = next(n for n in s["narrative"] if n)
    assert set(all_ids(client, f"narrative={text}")) == expect(s["narrative"] == text)
    assert len(all_ids(client, "subjekt=nobody")) == len(s)  # silently ignored


def test_django_lookups(client: httpx.Client, db: synth.SyntheticDB) -> None:
    s = frame(db)
    cut = sorted(s["date"])[50]
    got = set(all_ids(client, f"django=start_time__date__lt,{cut}"))
    assert got == expect(s["date"] < cut)
    got = set(all_ids(client, "django=~lab__name,cortexlab"))
    assert got == expect(s["lab"] != "cortexlab")
    eids = list(s.index[:3])
    assert set(all_ids(client, f"django=pk__in,{eids}")) == set(eids)
    got = set(all_ids(client, "django=subject__nickname__startswith,KS,n_trials__gte,500"))
    assert got == expect(s["subject"].str.startswith("KS") & (s["n_trials"] >= 500))
    got = set(all_ids(client, "django=projects__name__icontains,brainwide,qc__gte,40"))
    assert got == expect(s["projects"].str.contains("brainwide") & s["qc"].isin(["FAIL",
                                                                                    "CRITICAL"]))
    assert set(all_ids(client, "django=narrative,")) == expect(s["narrative"] == "")


def test_bad_filters_give_alyx_500s(client: httpx.Client) -> None:
    r = client.get("/sessions?qc=BOGUS")
    assert r.status_code == 500
    assert r.json()["detail"] == "Invalidqc, choices are: CRITICAL, FAIL, WARNING, NOT_SET, PASS"
    r = client.get("/sessions?date_range=2024-01-01")
    assert (r.status_code, r.json()["detail"]) == (500, "list index out of range")
    r = client.get("/sessions?django=bogus,1")
    assert r.status_code == 500
    assert r.json()["detail"].startswith("Cannot resolve keyword 'bogus' into field. Choices are:")
    r = client.get("/sessions?number=abc")
    assert r.status_code == 400 and r.json()["number"] == ["Enter a number."]


# --- details and 404s ---------------------------------------------------------------------------
def test_session_detail_and_json_404(client: httpx.Client, db: synth.SyntheticDB) -> None:
    eid = db.insertions.index[0][0]
    rec = client.get(f"/sessions/{eid}").json()
    assert rec["id"] == eid and rec["subject"] == db.sessions.at[eid, "subject"]
    related = rec["data_dataset_session_related"]
    n_existing = int(db.datasets.loc[eid, "exists"].sum())
    assert len(related) == n_existing
    assert {r["default_revision"] for r in related} <= {"True", "False"}
    assert rec["probe_insertion"]
    r = client.get("/sessions/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404
    assert r.json() == {"detail": "No Session matches the given query.", "status_code": 404}


def test_trailing_slash_and_unknown_paths_are_html_404(client: httpx.Client,
                                                       db: synth.SyntheticDB) -> None:
    for path in ("/sessions/", f"/sessions/{db.sessions.index[0]}/", "/nothing-here"):
        r = client.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")


def test_insertions_list_filters_and_detail(client: httpx.Client, db: synth.SyntheticDB) -> None:
    eid, pid = db.insertions.index[0]
    body = client.get(f"/insertions?session={eid}").json()
    assert {r["id"] for r in body["results"]} == set(db.insertions.loc[eid].index)
    lab = db.sessions.at[eid, "lab"]
    body = client.get(f"/insertions?lab={lab.upper()}&limit=1000").json()
    want = db.insertions.index.get_level_values(0).map(db.sessions["lab"]) == lab
    assert body["count"] == int(want.sum())
    spikes = client.get("/insertions?datasets=spikes.times.npy&limit=1000").json()
    d = db.datasets.reset_index()
    ok = d["rel_path"].str.endswith("/spikes.times.npy") & d["exists"] & (d["qc"] <= "FAIL")
    want = {(e, p) for e, p in db.insertions.index
            if d.loc[ok & (d["eid"] == e), "rel_path"].str.contains(
                db.insertions.at[(e, p), "name"]).any()}
    assert {(r["session"], r["id"]) for r in spikes["results"]} == want
    detail = client.get(f"/insertions/{pid}").json()
    assert detail["session"] == eid and detail["datasets"]
    assert all(isinstance(d["qc"], int) for d in detail["datasets"])
    assert client.get("/insertions/00000000-0000-4000-8000-000000000000").status_code == 404


def test_datasets_list_filters_and_detail(client: httpx.Client, db: synth.SyntheticDB) -> None:
    eid = db.sessions.index[0]
    body = client.get(f"/datasets?session={eid}&limit=1000").json()
    assert body["count"] == len(db.datasets.loc[eid])
    crit = client.get("/datasets?qc=CRITICAL&limit=1000").json()
    assert crit["count"] == int((db.datasets["qc"] == "CRITICAL").sum())
    assert {r["qc"] for r in crit["results"]} == {"CRITICAL"}
    missing = client.get("/datasets?exists=False&limit=1000").json()
    assert missing["count"] == int((~db.datasets["exists"]).sum())
    did = body["results"][0]["url"].rsplit("/", 1)[1]
    assert client.get(f"/datasets/{did}").json()["name"] == body["results"][0]["name"]


def test_small_endpoints(client: httpx.Client, db: synth.SyntheticDB) -> None:
    revs = client.get("/revisions").json()["results"]
    assert [r["name"] for r in revs] == sorted(REVISIONS)
    assert client.get(f"/revisions/{revs[0]['name']}").json()["name"] == revs[0]["name"]
    assert client.get("/revisions/nope").status_code == 404
    types = client.get("/dataset-types?limit=1000").json()["results"]
    assert "trials.table" in {t["name"] for t in types}
    assert client.get("/dataset-types/trials.table").json()["name"] == "trials.table"
    labs = client.get("/labs").json()
    assert labs["count"] == len(LABS) and "id" not in labs["results"][0]
    nick = db.subjects.index[0]
    assert client.get(f"/subjects/{nick}").json()["nickname"] == nick
    assert client.get(f"/subjects?lab={db.subjects.iloc[0]['lab']}").json()["count"] >= 1
    assert client.get("/projects").json()["count"] == len(db.projects)
    assert "demo" in {u["username"] for u in client.get("/users?limit=1000").json()["results"]}


# --- cache tables -------------------------------------------------------------------------------
def test_cache_info_redirect_and_zip(srv: DemoServer, client: httpx.Client,
                                     db: synth.SyntheticDB) -> None:
    r = client.get("/cache/info")
    assert r.status_code == 301 and r.headers["location"] == "/cache/info/"
    when = dt.datetime(2024, 5, 20, 10, 40)
    srv.set_tables_date(when)
    info = client.get("/cache/info", follow_redirects=True).json()
    assert info["date_created"] == "2024-05-20 10:40" and info["min_api_version"] == "2.10"
    assert info["tables"]["sessions"]["nrecs"] == len(db.sessions)
    r = client.get("/cache.zip")
    assert r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    # as Alyx's one_cache --compress --qc writes it (see tests/real_alyx/test_contract.py)
    assert zf.namelist() == ["sessions.pqt", "datasets.pqt", "QC.json", "cache_info.json"]
    table = pq.read_table(io.BytesIO(zf.read("datasets.pqt")))
    # as one_cache: only datasets with an existing server file, so `exists` is all True
    assert table.num_rows == int(db.datasets["exists"].sum()) < len(db.datasets)
    assert info["tables"]["datasets"]["nrecs"] == table.num_rows
    assert table.column("exists").to_pylist() == [True] * table.num_rows
    meta = json.loads(table.schema.metadata[b"one_metadata"])
    assert meta["date_created"] == "2024-05-20 10:40"
    srv.set_tables_date(dt.datetime(2025, 1, 2, 3, 4))
    assert client.get("/cache/info/").json()["date_created"] == "2025-01-02 03:04"
    assert client.get("/cache/info/sometag/").text == "Tag matching query does not exist."


# --- faults -------------------------------------------------------------------------------------
def test_fault_latency(srv: DemoServer, client: httpx.Client) -> None:
    srv.faults.latency = 0.3
    t0 = time.perf_counter()
    client.get("/labs")
    assert time.perf_counter() - t0 >= 0.3


def test_fault_drop_connection_once(srv: DemoServer, client: httpx.Client) -> None:
    srv.faults.drop_connections = 1
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/labs")
    assert client.get("/labs").status_code == 200


def test_fault_500_json_and_html(srv: DemoServer, client: httpx.Client) -> None:
    srv.faults.status_500 = 2
    assert [client.get("/labs").status_code for _ in range(3)] == [500, 500, 200]
    srv.faults.status_500_html = True
    r = client.get("/labs")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")


def test_fault_429_and_throttle(srv: DemoServer, client: httpx.Client) -> None:
    srv.faults.status_429 = 1
    srv.faults.retry_after = 7
    r = client.get("/labs")
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert "throttled" in r.json()["detail"]
    srv.faults.throttle_per_minute = 3
    codes = [client.get("/labs").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert 0 < int(client.get("/labs").headers["retry-after"]) <= 60


def test_fault_invalid_token_until_login_again(srv: DemoServer, client: httpx.Client) -> None:
    srv.faults.invalid_token = True
    r = client.get("/labs")
    assert (r.status_code, r.json()["detail"]) == (403, "Invalid token.")
    new = httpx.post(f"{srv.url}/auth-token", data={"username": "demo", "password": "demo"})
    assert new.json()["token"] != client.headers["Authorization"].split()[1]
    r = client.get("/labs", headers={"Authorization": f"Token {new.json()['token']}"})
    assert r.status_code == 200


def test_fault_invalid_token_spares_logins_after_the_switch(srv: DemoServer) -> None:
    old = httpx.post(f"{srv.url}/auth-token", data={"username": "demo", "password": "demo"})
    srv.faults.invalid_token = True
    new = httpx.post(f"{srv.url}/auth-token", data={"username": "demo", "password": "demo"})
    assert new.json()["token"] != old.json()["token"]
    ok = httpx.get(f"{srv.url}/labs", headers={"Authorization": f"Token {new.json()['token']}"})
    bad = httpx.get(f"{srv.url}/labs", headers={"Authorization": f"Token {old.json()['token']}"})
    assert (ok.status_code, bad.status_code) == (200, 403)


def test_fault_refuse_login(srv: DemoServer) -> None:
    srv.faults.refuse_login = True
    r = httpx.post(f"{srv.url}/auth-token", data={"username": "demo", "password": "demo"})
    assert r.status_code == 400 and "non_field_errors" in r.json()


def test_fault_truncated_and_corrupt_zip(srv: DemoServer, client: httpx.Client) -> None:
    srv.faults.truncated_zip = 1
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(client.get("/cache.zip").content))
    srv.faults.corrupt_zip_parquet = 1
    zf = zipfile.ZipFile(io.BytesIO(client.get("/cache.zip").content))
    with pytest.raises(pa.ArrowInvalid):
        pq.read_table(io.BytesIO(zf.read("sessions.pqt")))
    pq.read_table(io.BytesIO(zf.read("datasets.pqt")))  # the other table is intact
    zipfile.ZipFile(io.BytesIO(client.get("/cache.zip").content)).testzip()  # healthy again


def test_fault_malformed_json(srv: DemoServer, client: httpx.Client) -> None:
    srv.faults.malformed_json = 1
    r = client.get("/sessions")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_fault_count_drift(srv: DemoServer, client: httpx.Client) -> None:
    srv.faults.count_drift = True
    first = client.get("/sessions?limit=10").json()
    second = client.get(first["next"]).json()
    assert second["count"] != first["count"]


def test_fault_stall_mid_body_times_out(srv: DemoServer, client: httpx.Client) -> None:
    srv.faults.read_timeout_after_bytes = 10
    srv.faults.stall_seconds = 2
    with pytest.raises(httpx.ReadTimeout):
        client.get("/sessions", timeout=httpx.Timeout(5, read=0.3))


def test_faults_limited_to_paths(srv: DemoServer, client: httpx.Client) -> None:
    srv.faults.paths = ("/cache.zip",)
    srv.faults.status_500 = True
    assert client.get("/cache/info/").status_code == 200
    assert client.get("/cache.zip").status_code == 500


def test_stop_closes_keep_alive_connections(db: synth.SyntheticDB) -> None:
    """A "server gone" test must not be answered over a connection opened before the stop."""
    demo = DemoServer(db).start()
    with httpx.Client(base_url=demo.url, timeout=2) as keep_alive:
        token = keep_alive.post("/auth-token", data={"username": "demo", "password": "demo"})
        headers = {"Authorization": f"Token {token.json()['token']}"}
        assert keep_alive.get("/labs", headers=headers).status_code == 200
        demo.stop()
        with pytest.raises(httpx.TransportError):
            keep_alive.get("/labs", headers=headers)
