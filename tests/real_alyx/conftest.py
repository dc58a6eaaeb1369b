"""Fixtures for the tests against the real Alyx, and for the demo <-> real Alyx contracts.

Both servers are read through the same small ``Server`` wrapper. Each has its own data (the
real one what populate.py made, the demo a synthetic database), so every value a test filters
on is picked from the server's own answers (``Facts``): a test then states a relation that
must hold on both (a filter's answer against the unfiltered records), never a hard-coded
answer. See tests/real_alyx/test_contract.py for why the demo's data is not loaded into the
real Alyx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from one_tui.demo import synth
from one_tui.demo.atlas import ATLAS_INFO
from one_tui.demo.server import DemoServer

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Recorder(httpx.HTTPTransport):
    """An httpx transport that keeps every (request, response) one-tui exchanged."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        self.exchanges.append((request, response))
        return response


@dataclass
class Server:
    """One Alyx (demo or real) with a logged-in client and its login."""

    name: str
    base_url: str
    username: str
    password: str
    client: httpx.Client
    facts: dict[str, Any] = field(default_factory=dict)

    def get(self, query: str, **kw: Any) -> httpx.Response:
        return self.client.get(query, **kw)

    def get_many(self, queries: list[str]) -> list[httpx.Response]:
        """GET each query, four at a time (the real Alyx has two workers), in order."""
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(self.client.get, queries))

    def all(self, query: str) -> list[dict]:
        """Every record of a list query, following ``next`` (pages of 1000, Alyx's cap)."""
        sep = "&" if "?" in query else "?"
        url: str | None = f"{query}{sep}limit=1000"
        out: list[dict] = []
        count = None
        while url:
            r = self.client.get(url)
            assert r.status_code == 200, (self.name, query, r.status_code, r.text[:300])
            body = r.json()
            count = body["count"]
            out += body["results"]
            url = body["next"]
        assert count == len(out), (self.name, query)
        return out


def _login(base_url: str, username: str, password: str) -> httpx.Client:
    r = httpx.post(f"{base_url}/auth-token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return httpx.Client(base_url=base_url, timeout=60, headers={
        "Authorization": f"Token {r.json()['token']}", "Accept": "application/json"})


def _first_with(server: Server, param: str, candidates: list[str]) -> str:
    for value in candidates:
        if server.get(f"/sessions?{param}={value}&limit=1").json()["count"]:
            return value
    raise AssertionError(f"{server.name}: no {param} among {candidates} matches any session")


def gather_facts(server: Server) -> dict[str, Any]:
    """Values to filter on, taken from the server's own data (same recipe on both servers).

    An ephys session (one with insertions and datasets), its subject, lab, day, number, a
    project with a common substring, a dataset file name, a revision, a recorded brain region.
    """
    sessions = server.all("/sessions")
    insertions = server.all("/insertions")
    assert sessions and insertions, f"{server.name} has no sessions or insertions"
    eid = insertions[0]["session"]
    detail = server.get(f"/sessions/{eid}").json()
    datasets = detail["data_dataset_session_related"]
    assert datasets, f"{server.name}: the ephys session {eid} lists no datasets"
    narrative = next(s for s in (server.get(f"/sessions/{r['id']}").json()["narrative"]
                                 for r in sessions[:25]) if s)
    revisions = server.all("/revisions")
    acronym = _first_with(server, "atlas_acronym", ["CA1", "VISp", "DG", "LP", "PO", "MOs",
                                                    "TH", "HPF", "Isocortex"])
    # a project substring that two projects of one session contain (Alyx then lists it twice)
    part = next((p for p in ("brainwide", "ibl", "_") if any(
        sum(p in name for name in r["projects"]) > 1 for r in sessions)), "brainwide")
    atlas_id, atlas_name = ATLAS_INFO[acronym]
    return {
        "eid": eid, "pid": insertions[0]["id"], "subject": detail["subject"],
        "lab": detail["lab"], "day": detail["start_time"][:10], "number": detail["number"],
        "project_part": part, "dataset": datasets[0]["name"],
        "dataset_part": "trials", "revision": revisions[0]["name"],
        "task_part": "ChoiceWorld", "atlas_acronym": acronym, "atlas_id": atlas_id,
        "atlas_name": atlas_name, "narrative_word": narrative.split()[0],
        "n_sessions": len(sessions), "n_insertions": len(insertions),
    }


@pytest.fixture(scope="session")
def real(real_alyx: Any) -> Iterator[Server]:
    """The real Alyx of ``ONE_TUI_REAL_ALYX``, logged in, with facts from its data."""
    client = _login(real_alyx.base_url, real_alyx.username, real_alyx.password)
    server = Server("real", real_alyx.base_url, real_alyx.username, real_alyx.password, client)
    server.facts = gather_facts(server)
    yield server
    client.close()


@pytest.fixture(scope="session")
def demo_db() -> synth.SyntheticDB:
    """A demo database near the real one's size (its own data, IBL-like)."""
    return synth.generate(80, seed=11)


@pytest.fixture(scope="session")
def demo(demo_db: synth.SyntheticDB) -> Iterator[Server]:
    """The demo Alyx on a free port, logged in, with facts from its data."""
    with DemoServer(demo_db) as srv:
        client = _login(srv.url, "demo", "demo")
        server = Server("demo", srv.url, "demo", "demo", client)
        server.facts = gather_facts(server)
        yield server
        client.close()


@pytest.fixture(scope="session", params=["demo", "real"])
def either(request: pytest.FixtureRequest) -> Server:
    """Each server in turn: a relation test runs once per server."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def populated(real_alyx: Any) -> dict[str, Any]:
    """What populate.py made (``$ALYX_RUN/populated.json``), for the engine tests' truths."""
    path = Path(real_alyx.access_log).parents[1] / "populated.json" if real_alyx.access_log \
        else None
    if path is None or not path.exists():
        pytest.fail("populated.json of the real Alyx not found (set ALYX_RUN)")
    return json.loads(path.read_text())


def searches_for(f: dict) -> dict[str, dict]:
    """One remote search per term one-tui offers, with values from a server's facts."""
    return {
        "lab": {"laboratory": f["lab"]}, "subject": {"subject": f["subject"]},
        "date_range": {"date_range": [f["day"], f["day"]]}, "number": {"number": 2},
        "projects": {"projects": f["project_part"]},
        "task_protocol": {"task_protocol": f["task_part"]},
        "dataset": {"dataset": f["dataset_part"]}, "datasets": {"datasets": [f["dataset"]]},
        "qc": {"qc": "PASS"}, "performance": {"performance_gte": 60},
        "histology": {"histology": True}, "atlas_acronym": {"atlas_acronym": f["atlas_acronym"]},
        "atlas_id": {"atlas_id": f["atlas_id"]}, "atlas_name": {"atlas_name": f["atlas_name"]},
        "django": {"django": f"lab__name,{f['lab']}"},
        "dataset_qc_lte": {"dataset_qc_lte": "PASS"},
    }
