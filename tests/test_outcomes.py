"""The engine/app seam (issue 10): calls return what happened, long work is a job with phases
and an outcome, the REST-cache bypass belongs to the calling thread."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from one_tui.demo import synth
from one_tui.engine.one import One
from one_tui.engine.remote.client import no_cache

NOW = datetime.now().replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def db(make_db: Any) -> Any:
    return make_db(60, 5)


@pytest.fixture
def server(db: Any, demo_server: Any) -> Any:
    return demo_server(db, tables_date=NOW)



def make(server: Any, folder: Path, **kw: Any) -> One:
    return One(server.url, cache_dir=folder, username="demo", password="demo", **kw)


def test_no_network_in_constructor_then_connect_job_reports_phases(server, cache_dir):
    one = make(server, cache_dir, connect=False)
    assert server.requests == []
    phases: list[tuple[str, Any, Any]] = []
    out = one.connect(on_progress=lambda *p: phases.append(p))
    names = [p[0] for p in phases]
    assert names[:2] == ["logging in", "asking Alyx for newer tables"]
    assert "downloading" in names and names[-2:] == ["validating", "replacing"]
    done = [p for p in phases if p[0] == "downloading" and p[1]]
    assert done and done[-1][1] == done[-1][2]  # bytes, with a total
    assert out.kind == "new-tables" and out.message.startswith("new tables from ")
    assert one.search_sessions().shape[0] == 60


def test_download_cancel_keeps_the_old_tables(server, db, cache_dir):
    db.write_tables(cache_dir, date_created=NOW - timedelta(days=3))
    one = make(server, cache_dir, connect=False)
    cancel = threading.Event()

    def on_progress(phase: str, done: Any, total: Any) -> None:
        if phase == "downloading":
            cancel.set()

    out = one.connect(cancel=cancel, on_progress=on_progress)
    assert out.kind == "cancelled" and "kept the tables" in out.message
    assert one.mode == "auto" and one.fallback_reason is None


def test_each_refresh_outcome_says_what_happened(server, db, cache_dir):
    one = make(server, cache_dir)
    start = len(server.requests)
    out = one.refresh("auto")
    assert out.kind == "not-expired" and "Alyx not asked" in out.message
    assert server.requests[start:] == []  # r never says "nothing newer" without asking
    out = one.refresh("refresh")
    assert out.kind == "nothing-newer" and out.message.startswith("Alyx has nothing newer")
    server.set_tables_date(NOW + timedelta(hours=1))
    out = one.refresh("refresh")
    assert out.kind == "new-tables" and out.replaced
    server.stop()
    out = one.refresh("refresh")
    assert out.kind == "unreachable" and "unreachable" in out.message
    assert "nothing newer" not in out.message and out.failed


def test_auto_refresh_asks_once_the_clock_says_expired(server, cache_dir):
    now = [datetime.now()]
    one = make(server, cache_dir, clock=lambda: now[0])
    assert one.refresh("auto").kind == "not-expired"
    now[0] += timedelta(hours=25)
    assert one.cache_info()["expired"]
    out = one.refresh("auto")
    assert out.asked_alyx and out.kind in ("nothing-newer", "new-tables")


def test_ask_returns_source_and_notices(server, cache_dir):
    one = make(server, cache_dir)
    local = one.ask("search_sessions", subject="nobody")
    assert local.ok and local.source == "local tables" and len(local.value) == 0
    first = one.ask("search_sessions", query_type="remote")
    again = one.ask("search_sessions", query_type="remote")
    assert (first.source, again.source) == ("Alyx", "REST cache")
    bypassed = one.ask("search_sessions", query_type="remote", no_cache=True)
    assert bypassed.source == "Alyx"
    server.faults.status_500 = True
    failed = one.ask("search_sessions", query_type="remote", subject="x", no_cache=True)
    assert not failed.ok and "500" in str(failed.error)
    assert one.notices == []  # nothing left for anyone to drain


def test_bypass_with_overlapping_workers(server, cache_dir):
    """Two overlapping no_cache blocks: each thread's own; the shared setting never changes."""
    one = make(server, cache_dir)
    alyx = one.alyx
    one.search_sessions(query_type="remote")  # now in the REST cache
    a_in, b_in, a_out, b_done = (threading.Event() for _ in range(4))
    seen: dict[str, Any] = {}

    def a() -> None:
        with no_cache(alyx):
            a_in.set()
            b_in.wait(5)
        a_out.set()
        seen["a_after"] = one.ask("search_sessions", query_type="remote").source

    def b() -> None:
        a_in.wait(5)
        with no_cache(alyx):
            b_in.set()
            a_out.wait(5)  # a's block ended while b's is still open
            seen["b"] = one.ask("search_sessions", query_type="remote").source
        b_done.set()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"b": "Alyx", "a_after": "REST cache"}
    assert alyx.cache_rest == "GET"
    assert one.ask("search_sessions", query_type="remote").source == "REST cache"


def test_regex_bomb_gives_up_with_one_line(tmp_path, monkeypatch, capsys, home):
    """A pathological pattern on unique subject values stops at the time limit (CLI: exit 3)."""
    import pandas as pd

    from one_tui.cli import main
    from one_tui.engine.local import patterns
    monkeypatch.setattr(patterns, "REGEX_TIME_LIMIT", 0.5)
    values = pd.Series(["a" * 40 + "!", "abc"], dtype="category")
    import time

    started = time.monotonic()
    with pytest.raises(patterns.RegexTimeLimit, match="gave up after 0.5 s"):
        patterns.unique_mask(values, patterns.text_matcher("(a|a)+$", True))
    assert time.monotonic() - started < 30  # unbounded, (a|a)+$ on 40 a's runs for hours
    db = synth.generate(n_sessions=10, seed=1)
    sessions = db.sessions.copy()
    sessions["subject"] = sessions["subject"].astype(object)
    sessions.iloc[0, sessions.columns.get_loc("subject")] = "a" * 40 + "!"
    db.sessions = sessions
    folder = tmp_path / "tables"
    db.write_tables(folder)
    code = main(["search", "--cache-dir", str(folder), "--subject", "(a|a)+$"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and err[-1].startswith("one-tui: Regular expression") and len(err) == 1
