"""The four modes against the demo Alyx on loopback: the HTTP requests of each situation in
one-behaviour.md §1.2, and the fallback to local (§1.3 as one-tui adopts it)."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from one_tui.engine.core.errors import AuthenticationError, LoginRequired, OfflineError
from one_tui.engine.one import One
from one_tui.engine.remote.client import no_cache

NOW = datetime.now().replace(second=0, microsecond=0)
OLD = NOW - timedelta(days=3)


@pytest.fixture(scope="module")
def db(make_db: Any) -> Any:
    return make_db(80, 3)


@pytest.fixture
def server(db: Any, demo_server: Any) -> Any:
    return demo_server(db, tables_date=NOW)



def tables_on_disk(db: Any, folder: Path, created: datetime) -> dict[str, bytes]:
    """Write the tables with this creation date; returns their bytes to check they are kept."""
    db.write_tables(folder, date_created=created)
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.pqt"))}


def calls(server: Any, start: int = 0) -> list[str]:
    """'METHOD /path' of the requests since ``start`` (query and trailing slash dropped).

    ONE asks ``cache/info``; Alyx (Django, APPEND_SLASH) answers 301 to ``cache/info/``, which
    the client follows: that pair is one ONE request and is shown once.
    """
    out: list[str] = []
    raw = server.requests[start:]
    for i, r in enumerate(raw):
        if r.startswith("GET /cache/info/") and i and raw[i - 1].startswith("GET /cache/info?") \
                or r.startswith("GET /cache/info/") and i and raw[i - 1] == "GET /cache/info":
            continue
        out.append(r.split("?")[0].rstrip("/"))
    return out


def connect(server: Any, folder: Path, **kw: Any) -> One:
    kw.setdefault("username", "demo")
    kw.setdefault("password", "demo")
    return One(server.url, cache_dir=folder, **kw)


# ---------------------------------------------------------------------------------------------
# §1.2 request sequences


def test_first_start_logs_in_and_downloads_the_tables(server: Any, db: Any, cache_dir: Path):
    one = connect(server, cache_dir)
    assert calls(server) == ["POST /auth-token", "GET /cache/info", "GET /cache.zip"]
    assert one.mode == "auto" and one.fallback_reason is None
    assert {"sessions.pqt", "datasets.pqt"} <= {p.name for p in cache_dir.iterdir()}
    assert not [p for p in cache_dir.iterdir() if p.name.startswith(".one-tui-download")]
    subject = db.sessions["subject"].iloc[0]
    answer = one.ask("search", subject=subject)
    assert set(answer.value) == set(
        db.sessions.index[db.sessions["subject"].str.contains(subject)])
    assert answer.source == "local tables"
    info = one.cache_info()
    assert set(info) == {"cache_dir", "tables", "created_time", "loaded_time", "expired",
                         "cache_expiry", "next_refresh", "rest_cache", "mode", "requested_mode",
                         "fallback_reason", "base_url", "user", "read_only"}
    assert info["user"] == "demo" and info["base_url"] == server.url
    assert info["tables"]["sessions"]["rows"] == len(db.sessions)
    assert info["next_refresh"] == NOW + timedelta(hours=24) and not info["expired"]


def test_fresh_tables_make_no_request(server: Any, db: Any, cache_dir: Path):
    tables_on_disk(db, cache_dir, NOW)
    one = connect(server, cache_dir)
    one.list_datasets(db.sessions.index[0])
    one.get_details(db.sessions.index[0], query_type="local")
    one.search(subject="x")
    assert server.requests == []
    assert one.mode == "auto" and repr(one) == f"One (online, {server.url})"


@pytest.mark.parametrize("mode", ["auto", "refresh", "remote"])
def test_get_details_reads_the_session_from_alyx_outside_local_mode(server: Any, db: Any,
                                                                    cache_dir: Path, mode: str):
    """ONE 2.11.2's get_details reads ``/sessions/<eid>`` in auto, refresh and remote ("if
    'auto' uses whichever mode ONE is in") and returns its fields with projects comma-joined;
    only local mode or ``query_type='local'`` answers from the tables."""
    tables_on_disk(db, cache_dir, NOW)
    server.set_tables_date(NOW)
    one = connect(server, cache_dir, mode=mode)
    eid = db.sessions.index[0]
    n = len(server.requests)
    details = one.get_details(eid)
    before = {"auto": ["POST /auth-token"], "refresh": ["POST /auth-token", "GET /cache/info"],
              "remote": []}[mode]  # fresh tables: auto and refresh log in at the first request
    assert calls(server, n) == [*before, f"GET /sessions/{eid}"]
    assert sorted(details) == sorted(["subject", "start_time", "number", "lab", "projects", "url",
                                      "task_protocol", "local_path", "date"])
    row = db.sessions.loc[eid]
    full = one.get_details(eid, full=True)  # the record: projects is a list there
    assert isinstance(full["projects"], list) and details["projects"] == ",".join(full["projects"])
    assert details["projects"] == row["projects"]  # as the tables hold it
    assert details["start_time"].startswith(str(row["date"]))
    assert details["url"].endswith(f"/sessions/{eid}")
    assert details["local_path"] == one.cache_dir / row["lab"] / "Subjects" / row["subject"] / \
        str(row["date"]) / f"{int(row['number']):03d}"
    n = len(server.requests)
    assert one.get_details(eid, query_type="local").name == eid
    assert calls(server, n) == []
    local = connect(server, cache_dir, mode="local", password=None)
    assert local.get_details(eid).name == eid and len(server.requests) == n


def test_cache_expiry_shows_in_the_page_spelling_of_the_metadata(server: Any, db: Any,
                                                                cache_dir: Path):
    """``one.cache_expiry = timedelta(hours=1)`` then ``one._cache._meta`` (the modes page):
    ONE's spelling works and shows the new expiry, and tables two hours old are now expired."""
    tables_on_disk(db, cache_dir, NOW - timedelta(hours=2))
    server.set_tables_date(NOW - timedelta(hours=2))
    one = connect(server, cache_dir)
    meta = one._cache._meta
    assert meta is one._cache.meta
    assert meta["expired"] is False and meta["cache_expiry"] == timedelta(hours=24)
    one.cache_expiry = timedelta(hours=1)
    meta = one._cache._meta
    assert meta["cache_expiry"] == timedelta(hours=1) and meta["expired"] is True
    assert meta["created_time"] == NOW - timedelta(hours=2)
    assert one.cache_info()["expired"] is True
    one.load_cache()  # a reload keeps the new expiry
    assert one._cache._meta["cache_expiry"] == timedelta(hours=1)


def test_expired_tables_and_remote_not_newer_only_asks_cache_info(server: Any, db: Any,
                                                                  cache_dir: Path):
    before = tables_on_disk(db, cache_dir, OLD)
    server.set_tables_date(OLD + timedelta(seconds=30))  # less than a minute newer: "fresh"
    one = connect(server, cache_dir)
    assert calls(server) == ["POST /auth-token", "GET /cache/info"]
    assert one.cache_info()["expired"] is True and one.mode == "auto"
    assert {p.name: p.read_bytes() for p in sorted(cache_dir.glob("*.pqt"))} == before


def test_expired_tables_and_remote_newer_downloads(server: Any, db: Any, cache_dir: Path):
    tables_on_disk(db, cache_dir, OLD)
    one = connect(server, cache_dir)
    assert calls(server) == ["POST /auth-token", "GET /cache/info", "GET /cache.zip"]
    info = one.cache_info()
    assert info["created_time"] == NOW and info["expired"] is False


@pytest.mark.parametrize("mode", ["remote", "local"])
def test_remote_and_local_modes_never_refresh_at_start(server: Any, db: Any, cache_dir: Path,
                                                       mode: str):
    tables_on_disk(db, cache_dir, OLD)
    one = connect(server, cache_dir, mode=mode, password=None)
    one.list_subjects()
    one.get_details(db.sessions.index[0], query_type="local")
    assert server.requests == []
    assert one.mode == mode and one.cache_info()["next_refresh"] is None
    assert len(one.search(query_type="local")) == len(db.sessions)


def test_refresh_mode_asks_cache_info_before_every_call(server: Any, db: Any, cache_dir: Path):
    tables_on_disk(db, cache_dir, OLD)
    server.set_tables_date(OLD)
    one = connect(server, cache_dir, mode="refresh")
    assert calls(server) == ["POST /auth-token", "GET /cache/info"]
    eid = db.sessions.index[0]
    for call in (lambda: one.list_datasets(eid), lambda: one.search(subject="x"),
                 lambda: one.list_subjects()):
        n = len(server.requests)
        call()
        assert calls(server, n) == ["GET /cache/info"]
    server.set_tables_date(NOW)
    n = len(server.requests)
    one.list_datasets(eid)
    assert calls(server, n) == ["GET /cache/info", "GET /cache.zip"]
    assert one.cache_info()["created_time"] == NOW


def test_auto_reloads_after_cache_expiry_and_asks_alyx_only_if_expired(server: Any, db: Any,
                                                                       cache_dir: Path):
    tables_on_disk(db, cache_dir, NOW)
    one = connect(server, cache_dir)
    loaded = one.cache_info()["loaded_time"]
    one._cache.meta["loaded_time"] = loaded - timedelta(hours=25)  # simulate a day-long session
    one.list_subjects()
    assert server.requests == []  # tables not expired: the reload is local only
    assert one.cache_info()["loaded_time"] >= loaded

    tables_on_disk(db, cache_dir, OLD)  # now the tables on disk are expired
    server.set_tables_date(OLD)
    one._cache.meta["loaded_time"] -= timedelta(hours=25)
    one.search(subject="x")
    assert server.requests == []  # search is not refreshed in auto mode
    one.list_datasets(db.sessions.index[0])
    assert calls(server) == ["POST /auth-token", "GET /cache/info"]


def test_remote_search_goes_to_alyx_then_to_the_rest_cache(server: Any, db: Any, cache_dir: Path):
    tables_on_disk(db, cache_dir, NOW)
    one = connect(server, cache_dir)
    subject = db.sessions["subject"].iloc[0]
    answer = one.ask("search", subject=subject, query_type="remote")
    eids = answer.value
    assert server.requests[-1] == f"GET /sessions?subject={subject}"
    assert answer.source == "Alyx"
    assert set(eids) == set(db.sessions.index[db.sessions["subject"] == subject])
    n = len(server.requests)
    again = one.ask("search", subject=subject, query_type="remote")
    assert again.value == eids
    assert len(server.requests) == n and again.source == "REST cache"
    assert one.cache_info()["rest_cache"]["hits"] >= 1
    with no_cache(one.alyx):
        one.search(subject=subject, query_type="remote")
        bypassed = one.ask("search", subject=subject, query_type="remote")
    assert calls(server, n) == ["GET /sessions", "GET /sessions"]
    assert bypassed.source == "Alyx"


def test_query_type_remote_in_local_mode_asks_alyx_and_logs_in_then(server: Any, db: Any,
                                                                     cache_dir: Path):
    """ONE's modes page: "in 'auto'/'local' mode, a remote query can be made by specifying
    query_type='remote'". Local mode sends nothing by itself; the first call asking for Alyx
    logs in (the password was given) and the mode stays local."""
    tables_on_disk(db, cache_dir, NOW)
    one = connect(server, cache_dir, mode="local")
    subject = db.sessions["subject"].iloc[0]
    assert one.search(subject="x") == [] and one.list_subjects()
    assert server.requests == [] and one.offline
    assert repr(one) == f"One (offline, {server.url})"
    answer = one.ask("search", subject=subject, query_type="remote")
    eids = answer.value
    assert calls(server) == ["POST /auth-token", "GET /sessions"]
    assert set(eids) == set(db.sessions.index[db.sessions["subject"] == subject])
    assert answer.source == "Alyx" and one.mode == "local" and one.fallback_reason is None
    eid = eids[0]
    assert one.get_details(eid, query_type="remote")["subject"] == subject
    assert calls(server)[-1] == f"GET /sessions/{eid}"
    n = len(server.requests)
    back = one.ask("search", subject=subject)  # back to the tables
    assert len(server.requests) == n and back.source == "local tables"


def test_query_type_remote_in_local_mode_with_a_wrong_password_says_so(server: Any, db: Any,
                                                                       cache_dir: Path):
    tables_on_disk(db, cache_dir, NOW)
    one = connect(server, cache_dir, mode="local", password="wrong")
    assert server.requests == []
    with pytest.raises(AuthenticationError):
        one.search(subject="x", query_type="remote")
    assert one.mode == "local" and one.fallback_reason is None  # chosen local stays as it was


def test_query_type_remote_without_a_database_is_an_offline_error(db: Any, cache_dir: Path):
    """The page's note: "The 'remote' query type is not valid in offline mode as there is no
    database associated to the local cache directory"."""
    tables_on_disk(db, cache_dir, NOW)
    one = One(cache_dir=cache_dir, mode="local")
    with pytest.raises(OfflineError, match=r"query_type='remote' needs a connection to Alyx; "
                                           r"one-tui is in local mode \(no Alyx database is "
                                           r"set up\)"):
        one.search(subject="x", query_type="remote")
    assert one.offline and repr(one) == f"One (offline, {cache_dir})"


# ---------------------------------------------------------------------------------------------
# Fallback to local


def test_server_down_falls_back_to_the_tables_on_disk(server: Any, db: Any, cache_dir: Path):
    before = tables_on_disk(db, cache_dir, OLD)
    url = server.url
    server.stop()
    one = One(url, username="demo", password="demo", cache_dir=cache_dir)
    assert one.mode == "local" and one.requested_mode == "auto" and one.offline
    assert one.fallback_reason == "auto → local: Alyx unreachable (connection refused)"
    assert one.fallback_reason in one.notices
    assert len(one.search()) == len(db.sessions)
    assert {p.name: p.read_bytes() for p in sorted(cache_dir.glob("*.pqt"))} == before
    with pytest.raises(OfflineError, match="Alyx unreachable"):
        one.search(query_type="remote")


def test_login_refused_falls_back_then_login_restores_the_mode(server: Any, db: Any,
                                                                cache_dir: Path):
    tables_on_disk(db, cache_dir, OLD)
    one = connect(server, cache_dir, password="wrong")
    assert one.mode == "local" and one.requested_mode == "auto"
    assert one.fallback_reason == "auto → local: login refused (400)"
    assert calls(server) == ["POST /auth-token"]
    with pytest.raises(AuthenticationError):
        one.login("demo", "still wrong")
    assert one.mode == "local"
    one.login("demo", "demo")
    assert one.mode == "auto" and one.fallback_reason is None and not one.offline
    assert calls(server)[-2:] == ["GET /cache/info", "GET /cache.zip"]  # expired: refreshed
    assert one.cache_info()["created_time"] == NOW


def test_no_password_and_no_token_falls_back_asking_for_a_login(server: Any, db: Any,
                                                                cache_dir: Path):
    tables_on_disk(db, cache_dir, OLD)
    one = connect(server, cache_dir, password=None)
    assert one.mode == "local"
    assert one.fallback_reason == "auto → local: login needed (no password or saved token)"
    # one GET of the API root tells "login needed" from "unreachable"; nothing else is asked
    assert server.requests == ["GET /"]


@pytest.mark.parametrize(("fault", "reason"), [
    ("truncated_zip", "auto → local: cache.zip was truncated; kept the tables on disk"),
    ("corrupt_zip_parquet", "auto → local: cache.zip held a corrupt table"),
])
def test_bad_download_keeps_the_good_tables(server: Any, db: Any, cache_dir: Path, fault: str,
                                            reason: str):
    before = tables_on_disk(db, cache_dir, OLD)
    setattr(server.faults, fault, True)
    one = connect(server, cache_dir)
    assert one.mode == "local" and one.fallback_reason.startswith(reason)
    assert "GET /cache.zip" in calls(server)
    assert {p.name: p.read_bytes() for p in sorted(cache_dir.glob("*.pqt"))} == before
    assert not [p for p in cache_dir.iterdir() if p.name.startswith(".one-tui-download")]
    again = One(cache_dir=cache_dir, mode="local")  # still loadable
    assert len(again.search()) == len(db.sessions)
    assert one.cache_info()["created_time"] == OLD


def test_no_tables_and_server_down_says_so(server: Any, cache_dir: Path):
    url = server.url
    server.stop()
    one = One(url, username="demo", password="demo", cache_dir=cache_dir)
    assert one.fallback_reason == "auto → local: Alyx unreachable (connection refused)"
    assert one.search() == [] and one.cache_info()["tables"] == {}


def test_read_only_cache_folder(server: Any, db: Any, cache_dir: Path,
                                monkeypatch: pytest.MonkeyPatch):
    tables_on_disk(db, cache_dir, OLD)
    real_access = os.access

    def access(path: Any, mode: int, *a: Any, **kw: Any) -> bool:
        if mode & os.W_OK and Path(path) == cache_dir:
            return False
        return real_access(path, mode, *a, **kw)

    monkeypatch.setattr(os, "access", access)
    local = One(cache_dir=cache_dir, mode="local")
    assert "cache folder is read-only: nothing will be saved" in local.notices
    assert local.cache_info()["read_only"] is True
    assert len(local.search()) == len(db.sessions) and local.save_cache() is False
    auto = connect(server, cache_dir)  # expired tables cannot be replaced: local, no request
    assert auto.mode == "local" and "read-only" in auto.fallback_reason
    assert server.requests == []


def test_mode_setter_validates_and_clears_the_fallback(server: Any, db: Any, cache_dir: Path):
    tables_on_disk(db, cache_dir, NOW)
    one = connect(server, cache_dir, password="wrong", mode="remote")
    assert one.mode == "local" and one.fallback_reason == "remote → local: login refused (400)"
    with pytest.raises(ValueError, match='Mode "online" not recognized'):
        one.mode = "online"
    one.mode = "local"
    assert one.requested_mode == "local" and one.fallback_reason is None
    with pytest.raises(OfflineError):
        One(cache_dir=cache_dir, mode="local").mode = "remote"


def test_parallel_calls_from_worker_threads(server: Any, db: Any, cache_dir: Path):
    """A remote search and detail loads at the same time: all merged, nothing raised."""
    one = connect(server, cache_dir, mode="remote")
    eids = list(db.sessions.index[:6])
    errors: list[BaseException] = []

    def run(fn: Any) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    jobs = [threading.Thread(target=run, args=(lambda: one.search(limit=10),))]
    jobs += [threading.Thread(target=run, args=(lambda e=e: one.list_datasets(e),))
             for e in eids]
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(30)
    assert errors == []
    assert set(eids) <= set(one.search(query_type="local"))
    for e in eids:
        assert one.list_datasets(e, query_type="local")


@pytest.mark.parametrize(("path", "reason"), [
    ("/cache/info", "auto → local: cache/info failed (HTTP 500)"),
    ("/cache.zip", "auto → local: cache.zip download failed (HTTP 500); kept the tables on disk"),
])
def test_server_error_on_the_tables_falls_back(server: Any, db: Any, cache_dir: Path, path: str,
                                               reason: str):
    before = tables_on_disk(db, cache_dir, OLD)
    server.faults.paths = (path,)
    server.faults.status_500 = True
    one = connect(server, cache_dir)
    assert one.mode == "local" and one.fallback_reason == reason
    assert {p.name: p.read_bytes() for p in sorted(cache_dir.glob("*.pqt"))} == before


def test_remote_query_needing_a_login_falls_back_and_login_restores(server: Any, db: Any,
                                                                     cache_dir: Path):
    """Remote mode starts without a request; the first query finds no password or token."""
    one = connect(server, cache_dir, mode="remote", password=None)
    with pytest.raises(LoginRequired):
        one.search(subject="x")
    assert one.mode == "local" and one.requested_mode == "remote"
    assert one.fallback_reason == "remote → local: login needed (no password or saved token)"
    one.login("demo", "demo")
    assert one.mode == "remote" and one.fallback_reason is None
    # the root probe that told "login needed" from "unreachable", then the login; remote mode:
    # no table download on login
    assert calls(server) == ["GET ", "POST /auth-token"]
    subject = db.sessions["subject"].iloc[0]
    assert set(one.search(subject=subject)) == set(
        db.sessions.index[db.sessions["subject"] == subject])


def test_revoked_token_without_a_password_falls_back(server: Any, db: Any, cache_dir: Path):
    connect(server, cache_dir, mode="remote").search(subject="x")  # logs in, saves the token
    one = connect(server, cache_dir, mode="remote", password=None)  # reuses the saved token
    server.faults.invalid_token = True
    with pytest.raises(LoginRequired):
        one.search(subject="y")
    assert one.fallback_reason.startswith("remote → local: login needed")


def test_explicit_refresh_after_a_fallback_retries_alyx(server: Any, db: Any, cache_dir: Path):
    tables_on_disk(db, cache_dir, OLD)
    server.faults.status_500 = True
    one = connect(server, cache_dir)
    assert one.mode == "local"
    n = len(server.requests)
    one.search(subject="x")
    one.list_datasets(db.sessions.index[0])
    assert len(server.requests) == n  # fallen back: implicit calls stay local
    assert one.refresh_cache("refresh") and one.mode == "local"  # still failing: still local
    # the password forces a login first, and that POST /auth-token is what answers 500
    assert one.fallback_reason == "auto → local: login failed (HTTP 500)"
    server.faults.reset()
    one.refresh_cache("auto")
    assert one.mode == "auto" and one.fallback_reason is None
    assert calls(server, n)[-2:] == ["GET /cache/info", "GET /cache.zip"]
    assert "Alyx reachable again: back to auto mode" in one.notices
    chosen = connect(server, cache_dir, mode="local")
    n = len(server.requests)
    chosen.refresh_cache("refresh")
    assert len(server.requests) == n  # local chosen by the user: never the network


def test_cache_dir_comes_from_one_settings_else_one_default(server: Any, db: Any, tmp_path: Path,
                                                             home: Path):
    from one_tui.engine import params
    folder = tmp_path / "from-settings"
    params.register_database(server.url, cache_dir=folder, username="demo")
    one = One(server.url, password="demo", mode="remote")
    assert one.cache_dir == folder and folder.is_dir()
    assert one.alyx.cache_dir == folder and one.alyx.user == "demo"  # REST cache there too
    same = One(cache_dir=folder, mode="local")  # ONE's rule: a database's folder -> its client
    assert same.alyx is not None and same.alyx.base_url == server.url
    assert One(mode="local").alyx.base_url == server.url  # the default database
    elsewhere = One(cache_dir=tmp_path / "plain", mode="local")
    assert elsewhere.alyx is None and repr(elsewhere) == f"One (offline, {tmp_path / 'plain'})"
    other = One("http://127.0.0.1:9", mode="local")
    assert other.cache_dir == home / "Downloads" / "ONE" / "127.0.0.1_9"  # ONE's default
    assert calls(server) == ["POST /auth-token"]  # remote + password: the login at start only


def test_an_old_saved_insertions_table_does_not_make_fresh_tables_expire(server: Any, db: Any,
                                                                          cache_dir: Path):
    """ONE issue #139: the minimum date over all tables re-downloads at every start."""
    from one_tui.engine.local.filewrite import save_table
    tables_on_disk(db, cache_dir, NOW)
    save_table(db.insertions, cache_dir / "insertions.pqt",
               {"date_created": OLD.strftime("%Y-%m-%d %H:%M"), "origin": server.url})
    one = connect(server, cache_dir)
    assert server.requests == []
    info = one.cache_info()
    assert info["created_time"] == NOW and info["expired"] is False
    assert info["tables"]["insertions"]["rows"] == len(db.insertions)
    assert one.pid2eid(db.insertions.index[0][1]) == (db.insertions.index[0][0],
                                                      db.insertions["name"].iloc[0])
    assert server.requests == []  # answered by the saved insertions table


def test_the_mode_policy_and_ones_meta_judge_expiry_by_one_rule_and_one_clock(
        server: Any, db: Any, cache_dir: Path) -> None:
    """Issue 21: with fresh sessions/datasets and a 3-day-old insertions table, cache_info()
    said "not expired" while ``_cache._meta`` (ONE's spelling, read by its modes page) said
    "expired": two definitions of "created", two clocks. Both now read Cache.freshness, judged
    by the One's clock, at every clock time."""
    from one_tui.engine.local.filewrite import save_table
    tables_on_disk(db, cache_dir, NOW)
    save_table(db.insertions, cache_dir / "insertions.pqt",
               {"date_created": OLD.strftime("%Y-%m-%d %H:%M"), "origin": server.url})
    now = [NOW + timedelta(hours=1)]
    one = connect(server, cache_dir, clock=lambda: now[0])
    assert one._cache.freshness.created == NOW
    assert one._cache.meta["loaded_time"] == now[0]  # the load is timed by the same clock
    assert one.cache_info()["expired"] is False
    assert one._cache._meta["expired"] is False and one._cache._meta["created_time"] == NOW
    now[0] = NOW + timedelta(hours=25)
    one.cache_expiry = timedelta(hours=24)  # what the modes page does, then reads _meta
    assert one.cache_info()["expired"] is True and one._cache._meta["expired"] is True
    assert one._cache.is_expired() is True


def test_tables_locked_by_another_process_keep_the_old_ones(server: Any, db: Any,
                                                            cache_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    import one_tui.engine.jobs as jobs_mod  # the download swaps the files under FileLock
    from one_tui.engine.local.lock import FileLock

    before = tables_on_disk(db, cache_dir, OLD)
    monkeypatch.setattr(jobs_mod, "FileLock", lambda folder: FileLock(folder, timeout=0.3))
    with FileLock(cache_dir):  # another live process holds .ONE.lock during the download
        one = connect(server, cache_dir)
    assert one.mode == "local"
    assert one.fallback_reason.startswith("auto → local: could not write the new tables (Timed")
    assert one.fallback_reason.endswith("; kept the tables on disk")
    assert {p.name: p.read_bytes() for p in sorted(cache_dir.glob("*.pqt"))} == before


def test_download_folders_left_by_killed_processes_are_removed(server: Any, db: Any,
                                                               cache_dir: Path):
    tables_on_disk(db, cache_dir, OLD)
    dead = cache_dir / ".one-tui-download-dead"
    live = cache_dir / ".one-tui-download-live"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "cache.zip").write_bytes(b"x" * 1000)
    hour_ago = datetime.now().timestamp() - 3600
    for p in (dead / "cache.zip", dead):
        os.utime(p, (hour_ago, hour_ago))
    one = connect(server, cache_dir)
    assert one.mode == "auto" and "GET /cache.zip" in calls(server)
    assert not dead.exists() and live.exists()  # another process may still be writing there


def test_a_table_download_can_be_cancelled_and_reports_progress(server: Any, db: Any,
                                                                cache_dir: Path):
    before = tables_on_disk(db, cache_dir, OLD)
    server.set_tables_date(OLD)
    one = connect(server, cache_dir)  # expired, remote not newer: tables kept, still auto
    server.set_tables_date(NOW)
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def on_progress(phase: str, done: int | None, total: int | None) -> None:
        if phase == "downloading" and total:
            seen.append((done, total))
            cancel.set()

    out = one.refresh("refresh", cancel=cancel, on_progress=on_progress)
    assert out.kind == "cancelled" and one.mode == "auto" and one.fallback_reason is None
    assert seen and seen[0][1] > 0
    assert {p.name: p.read_bytes() for p in sorted(cache_dir.glob("*.pqt"))} == before
    assert not [p for p in cache_dir.iterdir() if p.name.startswith(".one-tui-download")]
    assert one.refresh("refresh").kind == "new-tables"
    assert one.cache_info()["created_time"] == NOW


def test_an_alyx_without_cache_tables_says_to_use_remote_mode(server: Any, cache_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    from one_tui.engine.core.errors import HTTPError

    one = connect(server, cache_dir, mode="local")
    one.mode = "auto"

    def no_tables(*_a: Any, **_kw: Any) -> Any:
        raise HTTPError(404, "/cache/info/", "Not found.")

    monkeypatch.setattr(one.alyx, "get", no_tables)
    one.refresh_cache("refresh")
    assert one.fallback_reason == ("auto → local: this Alyx publishes no cache tables "
                                   "(cache/info: 404); use remote mode")


def test_a_corrupt_datasets_table_is_reported_once_when_first_read(fixture_cache: Path,
                                                                     home: Path):
    """datasets.pqt is read on first use, long after load: its warning still reaches the app."""
    data = bytearray((fixture_cache / "datasets.pqt").read_bytes())
    data[8: len(data) // 2] = bytes(len(data) // 2 - 8)  # pages zeroed, footer intact
    (fixture_cache / "datasets.pqt").write_bytes(bytes(data))
    one = One(cache_dir=fixture_cache, mode="local")
    assert len(one.search()) == 26 and one.notices == []  # datasets not needed: not read yet
    assert one.search(dataset="spikes.times") == []
    assert len(one.notices) == 1 and one.notices[0].startswith("datasets.pqt could not be read")
    assert "\n" not in one.notices[0]
    one.notices.clear()  # the app drained it
    assert one.list_datasets() == [] and one.search(dataset="spikes.times") == []
    assert one.notices == []  # not repeated
