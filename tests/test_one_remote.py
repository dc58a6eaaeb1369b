"""Remote queries of ``One`` against the demo Alyx: results, merges into the tables, cancel,
insertions, details and descriptions."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from one_tui.engine.core.errors import ALFObjectNotFound
from one_tui.engine.one import One


@pytest.fixture(scope="module")
def db(make_db: Any) -> Any:
    return make_db(150, 5)


@pytest.fixture
def server(db: Any, demo_server: Any) -> Any:
    return demo_server(db)


@pytest.fixture
def one(server: Any, tmp_path: Path, home: Path) -> One:
    """A remote-mode One with no tables on disk (the tables fill from REST results)."""
    return One(server.url, username="demo", password="demo", cache_dir=tmp_path / "c",
               mode="remote")


def gets(server: Any, start: int = 0, prefix: str = "GET /") -> list[str]:
    return [r for r in server.requests[start:] if r.startswith(prefix)]


def test_remote_search_results_are_merged_into_the_tables(one: One, server: Any, db: Any):
    lab = db.sessions["lab"].iloc[0]
    answer = one.ask("search", laboratory=lab, details=True)
    eids, dicts = answer.value
    expected = db.sessions.index[db.sessions["lab"] == lab]
    assert set(eids) == set(expected) and len(eids) == len(expected)
    starts = [d["start_time"] for d in dicts]
    assert starts == sorted(starts, reverse=True)  # the server's order: -start_time
    assert all(isinstance(d["date"], date) and d["lab"] == lab for d in dicts)
    assert answer.source == "Alyx" and answer.cancelled is False
    local = one.search(laboratory=lab, query_type="local")
    assert set(local) == set(eids)  # now in the sessions table, ONE's local order
    frame = one.search_sessions(laboratory=lab)
    assert list(frame.index) == eids and frame.loc[eids[0], "lab"] == lab
    assert one.cache_info()["tables"]["sessions"]["origin"] == [server.url]


def test_remote_search_terms_reach_alyx(one: One, server: Any, db: Any):
    row = db.sessions.iloc[3]
    one.search(subject=row["subject"], date_range=row["date"], number=int(row["number"]))
    d = row["date"]
    assert gets(server)[-1] == (f"GET /sessions?date_range={d}%2C{d}&number={row['number']}"
                                f"&subject={row['subject']}")
    assert one.search(subject=row["subject"], date_range=row["date"],
                      number=int(row["number"])) == [db.sessions.index[3]]
    assert "performance_gte" in one.search_terms() and "performance_gte" not in \
        one.search_terms("local")


def test_cancelled_search_returns_the_pages_so_far_promptly(one: One, server: Any):
    cancel = threading.Event()
    pages: list[tuple[int, int]] = []

    def on_page(n: int, total: int) -> None:
        pages.append((n, total))
        cancel.set()  # the user pressed Esc while the first page was shown

    server.faults.latency = 0.3
    t0 = time.perf_counter()
    answer = one.ask("search", limit=20, cancel=cancel, on_page=on_page)
    elapsed = time.perf_counter() - t0
    assert len(answer.value) == 20 and pages == [(20, 150)]
    assert answer.cancelled is True
    assert len(gets(server, prefix="GET /sessions")) == 1
    assert elapsed < 1.5
    assert len(one.search(query_type="local")) == 20  # the page so far was merged
    assert one.ask("search", limit=50).cancelled is False


def test_remote_list_datasets_reads_the_session_and_merges_its_datasets(one: One, server: Any,
                                                                         db: Any):
    eid = db.sessions.index[7]
    paths = one.list_datasets(eid)
    assert gets(server)[-1] == f"GET /sessions/{eid}"
    rows = db.session_datasets(eid)
    shown = rows[rows["exists"].to_numpy() & (rows["qc"] != "CRITICAL").to_numpy()]
    assert paths == sorted(set(shown["rel_path"].astype(str)))
    assert one.list_datasets(eid, query_type="local") == paths
    details = one.list_datasets(eid, details=True, query_type="local")
    assert set(details.index) == set(shown.index)
    assert details["default_revision"].dtype == bool
    assert one.list_collections(eid, query_type="local")


def test_remote_get_details(one: One, db: Any):
    eid = db.sessions.index[2]
    full = one.get_details(eid, full=True)
    assert full["id"] == eid and "narrative" in full and "data_dataset_session_related" in full
    brief = one.get_details(eid)
    row = db.sessions.loc[eid]
    assert brief["subject"] == row["subject"] and brief["date"] == row["date"]
    assert brief["local_path"] == one.cache_dir / row["lab"] / "Subjects" / row["subject"] / \
        str(row["date"]) / f"{int(row['number']):03d}"
    assert one.get_details(eid, query_type="local").name == eid
    with pytest.raises(ALFObjectNotFound):
        one.get_details("0b0b0b0b-0000-4000-8000-000000000000")


def test_insertions_remote_then_local(one: One, server: Any, db: Any):
    (eid, pid), row = next(iter(db.insertions.iterrows()))
    assert one.pid2eid(pid) == (eid, row["name"])
    assert gets(server)[-1] == f"GET /insertions/{pid}"
    assert one.pid2eid(pid, query_type="local") == (eid, row["name"])
    missing = "0b0b0b0b-0000-4000-8000-000000000000"
    assert one.pid2eid(missing) == (None, None)
    assert f"Probe {missing} not found in Alyx" in one.notices
    expected = db.insertions.loc[[eid]].sort_values("name")
    pids, names = one.eid2pid(eid)
    assert pids == list(expected.index.get_level_values(1)) and names == list(expected["name"])
    found = one.search_insertions(name=row["name"], laboratory=db.sessions.loc[eid, "lab"])
    assert pid in found
    assert one.search_insertions(name=row["name"], query_type="local")


def test_ids_and_paths_looked_up_on_alyx_when_missing(one: One, server: Any, db: Any):
    eid = db.sessions.index[11]
    row = db.sessions.loc[eid]
    path = one.eid2path(eid)
    assert path is not None and path.name == f"{int(row['number']):03d}"
    assert "django=pk" in gets(server)[-1]
    fresh = One(server.url, username="demo", cache_dir=one.cache_dir / "other", mode="remote")
    assert fresh.path2eid(path) == eid  # saved token, empty tables: asked to Alyx
    other = db.sessions.iloc[12]
    ref = f"{other['date']}_{int(other['number'])}_{other['subject']}"
    assert fresh.to_eid(ref) == db.sessions.index[12]


def test_describe_revision_and_dataset(one: One):
    assert one.describe_revision("no-such-revision") is None
    assert 'revision "no-such-revision" not found' in one.notices
    types = one.describe_dataset()
    assert types and "name" in types[0]
    name = types[0]["name"]
    assert one.describe_dataset(name)["name"] == name


def test_remote_merges_can_be_saved_and_reloaded(one: One, db: Any):
    (eid, pid), _ = next(iter(db.insertions.iterrows()))
    one.search(limit=30)
    one.list_datasets(eid)
    one.pid2eid(pid)
    assert one.save_cache() is True
    again = One(cache_dir=one.cache_dir, mode="local")
    assert set(one.search(query_type="local")) == set(again.search())
    assert again.pid2eid(pid)[0] == eid
    assert again.list_datasets(eid) == one.list_datasets(eid, query_type="local")


def test_sessions_repeated_by_alyx_are_listed_once(one: One, server: Any, db: Any):
    """``dataset_qc_lte`` alone makes Alyx list a session once per matching dataset."""
    lab = db.sessions["lab"].iloc[0]
    raw = one.alyx.rest("sessions", lab=lab, dataset_qc_lte="PASS")
    assert len(raw) > len({r["id"] for r in raw})  # the quirk is there
    eids = one.search(laboratory=lab, dataset_qc_lte="PASS")
    assert len(eids) == len(set(eids)) == len({r["id"] for r in raw})
    assert eids == list(dict.fromkeys(r["id"] for r in raw))  # first places kept


def test_a_session_answer_is_merged_once_and_again_when_it_changes(
        one: One, db: Any, monkeypatch: pytest.MonkeyPatch):
    eid = db.sessions.index[9]
    first = one.list_datasets(eid)
    stamp = one._cache.meta["modified_time"]
    again = one.ask("list_datasets", eid)
    assert again.value == first and again.source == "REST cache"
    assert one._cache.meta["modified_time"] == stamp  # same answer: no second merge
    real_rest = one.alyx.rest

    def with_new_dataset(endpoint: str, action: str = "list", **kw: Any) -> Any:
        record = real_rest(endpoint, action, **kw)
        if endpoint == "sessions" and action == "read":
            extra = dict(record["data_dataset_session_related"][0])
            extra.update(id="0b0b0b0b-0000-4000-8000-00000000000a", name="new.thing.npy",
                         data_url=None, collection="alf", revision="", qc="PASS")
            record = {**record, "data_dataset_session_related": [
                *record["data_dataset_session_related"], extra]}
        return record

    monkeypatch.setattr(one.alyx, "rest", with_new_dataset)
    assert one.list_datasets(eid) == sorted([*first, "alf/new.thing.npy"])
    assert "alf/new.thing.npy" in one.list_datasets(eid, query_type="local")


def test_remote_search_rows_arrive_page_by_page(one: One, server: Any):
    """Each page is merged before the next is asked for; the app sees the table grow."""
    server.faults.latency = 0.05
    seen: list[tuple[list[str], int, bool]] = []

    def on_rows(frame: Any) -> None:
        local = set(one.search(query_type="local"))
        asked = len(gets(server, prefix="GET /sessions"))
        seen.append((list(frame.index), asked, set(frame.index) <= local))

    answer = one.ask("search_sessions", limit=40, on_rows=on_rows)
    final = list(answer.value.index)
    assert len(final) == 150 and answer.source == "Alyx"
    assert [len(ids) for ids, _, _ in seen] == [40, 80, 120, 150]
    assert all(ids == final[: len(ids)] for ids, _, _ in seen)  # growing, server order
    assert [asked for _, asked, _ in seen] == [1, 2, 3, 4]  # before the next page is requested
    assert all(merged for _, _, merged in seen)  # page k's sessions are in the tables already


def test_cancelled_search_keeps_the_pages_that_arrived(one: One, server: Any):
    server.faults.latency = 0.1
    cancel = threading.Event()
    sizes: list[int] = []

    def on_rows(frame: Any) -> None:
        sizes.append(len(frame))
        if len(sizes) == 2:
            cancel.set()  # Esc while the second page is shown

    answer = one.ask("search_sessions", limit=30, cancel=cancel, on_rows=on_rows)
    frame = answer.value
    assert sizes == [30, 60] and len(frame) == 60 and answer.cancelled is True
    assert len(gets(server, prefix="GET /sessions")) == 2
    assert set(one.search(query_type="local")) == set(frame.index)


def test_overlapping_calls_each_report_their_own_source(one: One, server: Any, db: Any):
    """A search answered by Alyx and a details load answered by the REST cache, at once."""
    eid = db.sessions.index[4]
    one.get_details(eid)  # the session is now in the REST cache
    seen: dict[str, str] = {}
    search_done, details_done = threading.Event(), threading.Event()

    def search() -> None:
        answer = one.ask("search_sessions", limit=50, subject=db.sessions.loc[eid, "subject"])
        search_done.set()
        details_done.wait(5)
        seen["search"] = answer.source

    def details() -> None:
        search_done.wait(5)
        answer = one.ask("get_details", eid)
        details_done.set()
        seen["details"] = answer.source

    threads = [threading.Thread(target=search), threading.Thread(target=details)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"search": "Alyx", "details": "REST cache"}
