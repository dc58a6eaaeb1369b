"""The app's seam (issue 21): typed calls that say what happened, and one state value.

What a screen relies on: a search's answer names its source as an enum; a refused login is an
outcome, not an exception; the details of a session come whole from the engine; the state
agrees with itself at any clock; auto's "refresh before the first search after expiry" is the
engine's decision.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from one_tui.demo import synth
from one_tui.demo.server import DemoServer
from one_tui.engine import (
    EngineService,
    FallbackReason,
    Mode,
    OutcomeKind,
    RemoteErrorKind,
    SearchRequest,
    Source,
)

NOW = datetime.now().replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def db() -> Any:
    return synth.generate(n_sessions=40, seed=21)


@pytest.fixture
def server(db: Any) -> Any:
    srv = DemoServer(db)
    srv.set_tables_date(NOW)
    with srv:
        yield srv


def open_service(server: Any, folder: Path, **kw: Any) -> EngineService:
    kw.setdefault("username", "demo")
    kw.setdefault("password", "demo")
    return EngineService.open(base_url=server.url, cache_dir=folder, **kw)


def test_open_sends_nothing_then_connect_fetches_the_tables(server, cache_dir):
    svc = open_service(server, cache_dir)
    assert server.requests == []
    state = svc.state()
    assert state.mode is Mode.AUTO and state.freshness.created is None
    assert state.freshness.expired(NOW)
    out = svc.connect()
    assert out.kind is OutcomeKind.NEW_TABLES
    state = svc.state()
    assert state.online and {t.name for t in state.tables} >= {"sessions", "datasets"}
    assert not state.freshness.expired(NOW) and state.next_refresh == state.freshness.expires_at


def test_search_answers_with_its_source_and_never_raises(server, cache_dir):
    svc = open_service(server, cache_dir)
    svc.connect()
    local = svc.search_sessions(SearchRequest({"subject": "nobody"}))
    assert local.ok and local.source is Source.LOCAL and local.value is not None
    remote = SearchRequest({}, query_type=Mode.REMOTE)
    assert svc.goes_to_alyx(remote) and not svc.goes_to_alyx(SearchRequest())
    assert svc.goes_to_alyx(SearchRequest({"performance_gte": 50}, alyx_only=True))
    first, again = svc.search_sessions(remote), svc.search_sessions(remote)
    assert (first.source, again.source) == (Source.ALYX, Source.REST_CACHE)
    bypassed = svc.search_sessions(SearchRequest({}, Mode.REMOTE, no_cache=True))
    assert bypassed.source is Source.ALYX
    server.faults.status_500 = True
    failed = svc.search_sessions(SearchRequest({"subject": "x"}, Mode.REMOTE, no_cache=True))
    assert not failed.ok and "500" in str(failed.error)


def test_refused_login_is_an_outcome(server, cache_dir):
    svc = open_service(server, cache_dir, password=None, mode=Mode.REMOTE)
    out = svc.login("demo", "wrong")
    assert out.kind is OutcomeKind.LOGIN_REFUSED and out.kind.failed
    assert "wrong" not in out.message + (out.detail or "")
    assert svc.login("demo", "demo").kind is OutcomeKind.CONNECTED


def test_fallback_is_typed(server, cache_dir):
    server.stop()
    svc = open_service(server, cache_dir)
    out = svc.connect()
    assert out.kind is OutcomeKind.UNREACHABLE
    state = svc.state()
    assert state.mode is Mode.LOCAL and state.requested is Mode.AUTO and not state.online
    assert state.fallback is not None and state.fallback.reason is FallbackReason.UNREACHABLE


def test_session_details_come_whole_from_the_engine(server, db, cache_dir):
    svc = open_service(server, cache_dir)
    svc.connect()
    frame = svc.search_sessions(SearchRequest()).value
    assert frame is not None
    eid = str(frame.index[0])
    answer = svc.session_details(eid, {"subject": frame.iloc[0]["subject"]})
    assert answer.ok and answer.value is not None
    details = answer.value
    rows = db.datasets.reset_index()
    rows = rows[(rows["eid"].astype(str) == eid) & rows["exists"]]  # ONE lists existing ones
    assert {d.id for d in details.datasets} == set(rows["id"].astype(str)) != set()
    assert details.disk is not None and details.disk.n_on_disk == 0
    assert all(d.on_disk is False for d in details.datasets)
    assert details.remote is not None and details.remote_error is None  # auto: the Alyx record
    server.stop()
    offline = svc.session_details(eid, {}, no_cache=True).value
    assert offline is not None and offline.remote is None
    assert offline.remote_error is not None
    assert offline.remote_error.kind is RemoteErrorKind.UNREACHABLE


def test_auto_refresh_is_due_once_expired_until_a_table_job_ran(server, cache_dir):
    now = [NOW]
    svc = open_service(server, cache_dir, clock=lambda: now[0])
    svc.connect()
    assert not svc.refresh_due(now[0])
    now[0] += timedelta(hours=25)
    assert svc.state().freshness.expired(now[0]) and svc.refresh_due(now[0])
    out = svc.refresh(Mode.AUTO)
    assert out.asked_alyx
    assert not svc.refresh_due(now[0])  # a table job ran since they expired: not again


def test_set_mode_and_clear_rest_cache(server, cache_dir):
    svc = open_service(server, cache_dir)
    svc.connect()
    svc.search_sessions(SearchRequest({}, Mode.REMOTE))
    assert svc.state().rest.entries > 0
    assert svc.clear_rest_cache().kind is OutcomeKind.DONE
    assert svc.state().rest.entries == 0
    assert svc.set_mode(Mode.LOCAL).kind is OutcomeKind.LOCAL
    assert svc.state().mode is Mode.LOCAL and svc.state().fallback is None


def test_a_merged_table_names_its_origins_as_text(server, cache_dir):
    """After a session's Alyx record is merged, the sessions table has two origins: the state
    (Cache pane, cache-info) lists them as words, not as a Python list."""
    svc = open_service(server, cache_dir)
    svc.connect()
    frame = svc.search_sessions(SearchRequest()).value
    assert frame is not None
    svc.session_details(str(frame.index[0]))  # auto: /sessions/<eid>, merged into the tables
    origins = {t.name: t.origin for t in svc.state().tables}
    assert origins["sessions"] is not None and server.url in origins["sessions"]
    assert not any(o and o.startswith("[") for o in origins.values())
