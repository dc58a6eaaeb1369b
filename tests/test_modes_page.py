"""ONE 2.x's "API modes" page, its code cells run in order against one-tui's engine (the import
line aside), on the demo server and on the real Alyx, asserting what the page says happens.

The page: https://int-brain-lab.github.io/ONE/notebooks/one_modes.html, from int-brain-lab/ONE
tag v2.11.2, ``docs/notebooks/one_modes.ipynb``; its cells are quoted in
tests/real_alyx_app/modes_page.py (``CELLS``). What the server received is read from the demo's
request list or, on the real Alyx, from its access log (cut at marker requests).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from one_tui.demo import synth
from one_tui.demo.server import DemoServer
from one_tui.engine.core import results as outcome
from one_tui.engine.core.errors import OfflineError
from one_tui.engine.one import One
from one_tui.engine.remote import client as webclient
from tests.real_alyx_app import modes_page as page

NOW = datetime.now().replace(second=0, microsecond=0)


@dataclass
class Backend:
    """A server the page runs against, and what it holds."""

    url: str
    username: str
    password: str
    cortexlab: set[str]  # eids of the lab the page searches
    two_projects: str  # a session with two projects (for the comma-joined details)
    tables_created: datetime  # date_created of the tables it publishes
    offset: Callable[[], Any]
    since: Callable[[Any], list[str]]  # "METHOD /path?query" received since an offset


def _fold_redirects(requests: list[str]) -> list[str]:
    """Django's APPEND_SLASH: ``GET /cache/info`` answered 301, then ``/cache/info/``: one call."""
    out: list[str] = []
    for r in requests:
        method, _, path = r.partition(" ")
        base = path.split("?")[0]
        if base.endswith("/") and out and out[-1].split("?")[0] == f"{method} {base.rstrip('/')}":
            continue
        out.append(r)
    return out


@contextlib.contextmanager
def _demo() -> Iterator[Backend]:
    db = synth.generate(n_sessions=80, seed=3)
    srv = DemoServer(db)
    srv.set_tables_date(NOW)
    ses = db.sessions
    with srv:
        yield Backend(
            url=srv.url, username="demo", password="demo",
            cortexlab=set(ses.index[ses["lab"] == "cortexlab"]),
            two_projects=str(ses.index[ses["projects"].str.contains(",")][0]),
            tables_created=NOW, offset=lambda: len(srv.requests),
            since=lambda n: _fold_redirects(srv.requests[n:]))


@contextlib.contextmanager
def _real(real_alyx: Any) -> Iterator[Backend]:
    run = Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run"))
    populated = json.loads((run / "populated.json").read_text())
    tables = real_alyx.tables or run / "tables"  # what its one_cache command published
    created = json.loads((tables / "cache_info.json").read_text())["date_created"]
    log = page.AccessLog(real_alyx)
    yield Backend(
        url=real_alyx.base_url, username=real_alyx.username, password=real_alyx.password,
        cortexlab={s[0] for s in populated["sessions"] if s[1] == "cortexlab"},
        two_projects=next(s[0] for s in populated["sessions"] if len(s[7]) > 1),
        tables_created=datetime.strptime(created, "%Y-%m-%d %H:%M"),
        offset=log.start, since=log.since)


@pytest.fixture(params=["demo", pytest.param("real_alyx", marks=pytest.mark.real_alyx)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "demo":
        with _demo() as b:
            yield b
    else:
        with _real(request.getfixturevalue("real_alyx")) as b:
            yield b


def _rest_entries(cache: Path) -> dict[str, tuple[Any, datetime]]:
    """The REST cache on disk (ONE's format): {file: (response, expiry)}."""
    out = {}
    for f in sorted((cache / ".rest").glob("*")):
        value, expiry = json.loads(f.read_text())
        out[f.name] = (value, datetime.fromisoformat(expiry))
    return out


def test_the_modes_page_cell_by_cell(backend: Backend, tmp_path: Path, home: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the page's ONE(cache_dir=r'C:\data') is a relative folder
    cache = tmp_path / "cache"
    page.write_one_params(home, backend.url, backend.username, backend.password, cache)
    ns: dict[str, Any] = {"ONE": One, "webclient": webclient}

    answered: dict[str, str] = {}

    def cell(index: int, error: type[Exception] | None = None) -> tuple[str, list[str]]:
        """Run a cell; (what it printed, the requests the server received meanwhile)."""
        n = backend.offset()
        out = io.StringIO()
        with contextlib.redirect_stdout(out), outcome.recording() as rec, (
                pytest.raises(error) if error else contextlib.nullcontext()):
            exec(page.engine_cell(index), ns)  # noqa: S102 - the page's own code
        answered["source"] = rec.source  # where the cell's calls were answered
        return out.getvalue(), backend.since(n)

    def sent(call: Callable[[], Any]) -> tuple[Any, list[str]]:
        n = backend.offset()
        result = call()
        return result, backend.since(n)

    lab_query = "GET /sessions?lab=cortexlab"

    # [1] online and offline: "One (online, <url>) auto" / "One (offline, C:\data) local"
    printed, requests = cell(1)
    assert printed == page.CELL1_OUTPUT.format(url=backend.url)
    assert requests == ["POST /auth-token", "GET /cache/info", "GET /cache.zip"]
    one = ns["one"]
    assert one.mode == "auto" and not one.offline
    assert ns["one_offline"].mode == "local" and ns["one_offline"].offline

    # [3] "Search Alyx instead of the local cache"
    _, requests = cell(3)
    assert set(ns["eids"]) == backend.cortexlab and len(ns["eids"]) == len(backend.cortexlab)
    assert requests == [lab_query] and answered["source"] == "Alyx"
    rest = _rest_entries(cache)
    fresh = {k for k, (_, expiry) in rest.items() if expiry > datetime.now() + timedelta(hours=23)}
    assert len(fresh) == 1  # the search, for 24 h (cache/info is stored already expired)
    (search_entry,) = fresh
    assert rest[search_entry][1] < datetime.now() + timedelta(hours=24, minutes=1)

    # [5] "Cache results for up to 20 days": the next answer written keeps 20 days
    _, requests = cell(5)
    assert requests == [] and one.alyx.default_expiry == timedelta(days=20)
    details, requests = sent(lambda: one.get_details(backend.two_projects))
    assert requests == [f"GET /sessions/{backend.two_projects}"]
    (new,) = set(_rest_entries(cache)) - set(rest)
    expiry = _rest_entries(cache)[new][1]
    assert datetime.now() + timedelta(days=19) < expiry < datetime.now() + timedelta(days=20)
    record, requests = sent(lambda: one.get_details(backend.two_projects, full=True))
    assert requests == []  # the REST cache
    assert "," in details["projects"] and details["projects"] == ",".join(record["projects"])

    # [7] no_cache: the search goes to Alyx though a fresh answer is cached, and nothing is
    # written. The cell unpacks search() without details=True: with other than two sessions
    # it fails as in ONE 2.11.2 (checked in tests/real_alyx_app), after the request was sent.
    rest = _rest_entries(cache)
    _, requests = cell(7, ValueError if len(backend.cortexlab) != 2 else None)
    assert requests == [lab_query] and _rest_entries(cache) == rest
    with webclient.no_cache(one.alyx):  # the cell as it was meant, with details=True
        (found, det), requests = sent(lambda: one.search(lab="cortexlab", query_type="remote",
                                                         details=True))
    assert requests == [lab_query] and set(found) == backend.cortexlab and len(det) == len(found)
    assert _rest_entries(cache) == rest
    assert one.alyx.cache_rest == "GET"  # the context gives the REST cache back

    # [9] rest(..., no_cache=True): asked again, and stored already expired (as ONE does)
    _, requests = cell(9)
    assert requests == [lab_query]
    assert {s["id"] for s in ns["ses"]} == backend.cortexlab
    after = _rest_entries(cache)
    assert set(after) == set(rest) and after[search_entry][1] <= datetime.now()

    # [11] cache_rest=None, remote mode: nothing at start, every query asks Alyx, none stored
    _, requests = cell(11)
    assert requests == []
    one = ns["one"]
    assert one.mode == "remote" and one.cache_info()["rest_cache"]["enabled"] is False
    for _ in range(2):
        _, requests = sent(lambda: one.search(lab="cortexlab", query_type="remote"))
        assert requests == [lab_query]
    assert _rest_entries(cache) == after

    # [13] cache_expiry and ONE's _cache._meta: the new expiry shows, and says if now expired
    _, requests = cell(13)
    assert requests == []
    meta = one._cache._meta
    assert {"expired", "created_time", "loaded_time", "raw"} <= set(meta)
    assert meta["cache_expiry"] == timedelta(hours=1) == one.cache_expiry
    assert meta["created_time"] == backend.tables_created
    assert meta["expired"] is (datetime.now() - backend.tables_created > timedelta(hours=1))
    assert {"sessions", "datasets"} <= set(meta["raw"])
    assert meta["raw"]["sessions"]["date_created"] == backend.tables_created.strftime(
        "%Y-%m-%d %H:%M")

    # [15] refresh_cache('refresh') asks cache/info (tables not newer: no download), and
    # query_type='refresh' "Calls `refresh_cache` before searching" the tables
    _, requests = cell(15)
    assert requests == ["GET /cache/info", "GET /cache/info"]
    assert isinstance(ns["loaded_time"], datetime)
    assert ns["loaded_time"] <= one._cache._meta["loaded_time"]
    assert set(ns["eids"]) == backend.cortexlab and answered["source"] == "local tables"

    # [2] the cross-mode rules: local -> remote works, remote -> local reads the tables,
    # "The 'remote' query type is not valid in offline mode"
    local, requests = sent(lambda: One(mode="local"))
    assert requests == [] and local.offline and local.mode == "local"
    found, requests = sent(lambda: local.search(lab="cortexlab", query_type="remote"))
    assert set(found) == backend.cortexlab and requests == [lab_query]
    assert local.mode == "local"
    found, requests = sent(lambda: one.search(lab="cortexlab", query_type="local"))
    assert set(found) == backend.cortexlab and requests == []
    with pytest.raises(OfflineError, match="query_type='remote' needs a connection to Alyx"):
        ns["one_offline"].search(lab="cortexlab", query_type="remote")
