"""ONE's REST cache (``<cache_dir>/.rest/<sha1>``) shared with ONE-api 2.11.2 and 3.6.1.

The same calls against the real Alyx must give the same sha1 file names in one-tui and in ONE
(the query strings ONE builds, in its order, ``number=002`` as the folder says), and each side
must answer from the other's entries without asking Alyx. Entries that ONE does not use (an
empty ``[null, expiry]``) or cannot read (not UTF-8) are misses for one-tui, never an error.

``/docs`` (ONE 2.x) and ``/api/schema`` (ONE 3.x) are ONE's own: one-tui never requests the
schema (its search terms are static), so those two are the only names ONE has and one-tui not.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from one_tui.engine.one import One
from one_tui.engine.remote.client import AlyxClient
from tests.oracles import VERSIONS

pytestmark = [pytest.mark.oracle, pytest.mark.real_alyx]

VERSION_IDS = sorted(VERSIONS)
SCHEMA_FILES = {hashlib.sha1(q.encode()).hexdigest() for q in ("/docs", "/api/schema")}


def _populated() -> dict[str, Any]:
    import os

    run = Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run"))
    return json.loads((run / "populated.json").read_text())


def _calls(version: str) -> list[list[Any]]:
    """[method, args, kwargs] run in this order by both sides (lookups first: one-tui answers
    path2eid/pid2eid from its tables once a search has merged the session)."""
    pop = _populated()
    lab, subject, day, number = pop["sessions"][2][1:5]
    eid = pop["sessions"][2][0]
    calls: list[list[Any]] = [
        ["path2eid", [f"{lab}/Subjects/{subject}/{day}/{number:03d}"], {}],
        ["pid2eid", [pop["pids"][0]], {}],
        ["eid2pid", [pop["sessions"][5][0]], {}],  # an ephys session: it has insertions
        ["search", [], {"subject": "KS001"}],
        ["search", [], {"lab": "cortexlab", "date_range": ["2024-02-20", "2024-02-25"],
                        "task_protocol": "training"}],
        ["search", [], {"datasets": ["_ibl_trials.table.pqt"]}],
        ["search", [], {"narrative": "lethargic"}],
        ["search", [], {"subject": "KS00", "limit": 7}],  # paginated: page URLs hashed whole
        ["search_insertions", [], {"laboratory": "cortexlab", "number": 1}],
        ["search_insertions", [], {"lab": "cortexlab"}],
        ["get_details", [eid], {"full": True}],
    ]
    if version.startswith("2."):  # 3.x: "dataset" is ambiguous remotely (dataset_qc_lte, ...)
        calls.append(["search", [], {"dataset": "trials", "subject": "KS00"}])
    return calls


_ONE_CALLS = textwrap.dedent("""
    import functools
    from pathlib import Path
    import one.webclient as wc
    from one.api import ONE
    gets = []
    _get = wc.requests.get
    @functools.wraps(_get)
    def get(url, *a, **k):
        gets.append(url)
        return _get(url, *a, **k)
    wc.requests.get = get
    o = ONE(base_url=ARGS['url'], username=ARGS['user'], password=ARGS['pwd'],
            cache_dir=ARGS['dir'], silent=True, mode='remote')
    results = []
    for name, args, kwargs in ARGS['calls']:
        out = getattr(o, name)(*args, query_type='remote', **kwargs)
        if name in ('search', 'search_insertions'):
            out = [str(x) for x in out]
        results.append(out if not isinstance(out, dict) else sorted(out))
    rest = Path(ARGS['dir'], '.rest')
    emit({'files': sorted(p.name for p in rest.iterdir()),
          'gets': [g.split(ARGS['url'], 1)[-1] for g in gets], 'results': results})
""")


def _run_one(oracle: Any, version: str, home: Path, real_alyx: Any, folder: Path,
             calls: list) -> dict:
    return oracle(version, _ONE_CALLS, home=home, args={
        "url": real_alyx.base_url, "user": real_alyx.username, "pwd": real_alyx.password,
        "dir": str(folder), "calls": calls})


def _run_one_tui(one: One, calls: list) -> list:
    results = []
    for name, args, kwargs in calls:
        out = getattr(one, name)(*args, query_type="remote", **kwargs)
        if name in ("search", "search_insertions"):
            out = [str(x) for x in out]
        results.append(out if not isinstance(out, dict) else sorted(out))
    return json.loads(json.dumps(results, default=str))  # tuples as ONE's JSON gives them


class _Recorder:
    """A transport that fails every request, recording it: the cache must answer all."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.raw_path.decode()}")
        return httpx.Response(503, json={"detail": "the test forbids the network"})


def _offline_one(real_alyx: Any, folder: Path) -> tuple[One, _Recorder]:
    rec = _Recorder()
    client = AlyxClient(real_alyx.base_url, username=real_alyx.username, token="unused",
                        cache_dir=folder, transport=httpx.MockTransport(rec), max_retries=0)
    return One(client=client, cache_dir=folder, mode="remote"), rec


@pytest.mark.parametrize("version", VERSION_IDS)
def test_same_calls_write_the_same_rest_cache_files(oracle, version: str, home: Path,
                                                     tmp_path: Path, real_alyx) -> None:
    calls = _calls(version)
    ones = _run_one(oracle, version, home, real_alyx, tmp_path / "one", calls)
    mine = One(real_alyx.base_url, username=real_alyx.username, password=real_alyx.password,
               cache_dir=tmp_path / "one-tui", mode="remote")
    results = _run_one_tui(mine, calls)
    assert results == ones["results"]
    files = sorted(p.name for p in (tmp_path / "one-tui" / ".rest").iterdir())
    assert files == sorted(set(ones["files"]) - SCHEMA_FILES)
    assert set(ones["files"]) - set(files) <= SCHEMA_FILES


@pytest.mark.parametrize("version", VERSION_IDS)
def test_one_tui_answers_from_the_entries_one_wrote(oracle, version: str, home: Path,
                                                    tmp_path: Path, real_alyx) -> None:
    calls = _calls(version)
    folder = tmp_path / "shared"
    ones = _run_one(oracle, version, home, real_alyx, folder, calls)
    one, rec = _offline_one(real_alyx, folder)
    assert _run_one_tui(one, calls) == ones["results"]
    assert rec.requests == []  # every answer from ONE's files


@pytest.mark.parametrize("version", VERSION_IDS)
def test_one_answers_from_the_entries_one_tui_wrote(oracle, version: str, home: Path,
                                                    tmp_path: Path, real_alyx) -> None:
    calls = _calls(version)
    folder = tmp_path / "shared"
    mine = One(real_alyx.base_url, username=real_alyx.username, password=real_alyx.password,
               cache_dir=folder, mode="remote")
    results = _run_one_tui(mine, calls)
    ones = _run_one(oracle, version, home, real_alyx, folder, calls)
    assert ones["results"] == results
    asked = [g for g in ones["gets"] if g not in ("/docs", "/docs/", "/api/schema")]
    assert asked == []  # ONE asked Alyx for its schema only


def _entry(folder: Path, query: str) -> Path:
    rest = folder / ".rest"
    rest.mkdir(parents=True, exist_ok=True)
    return rest / hashlib.sha1(query.encode()).hexdigest()


_ONE_SEARCH = textwrap.dedent("""
    from one.api import ONE
    o = ONE(base_url=ARGS['url'], username=ARGS['user'], password=ARGS['pwd'],
            cache_dir=ARGS['dir'], silent=True, mode='remote')
    try:
        emit({'eids': [str(e) for e in o.search(subject='KS001', query_type='remote')]})
    except Exception as exc:
        emit({'raised': type(exc).__name__})
""")


def _one_search(oracle: Any, version: str, home: Path, real_alyx: Any, folder: Path) -> dict:
    return oracle(version, _ONE_SEARCH, home=home, args={
        "url": real_alyx.base_url, "user": real_alyx.username, "pwd": real_alyx.password,
        "dir": str(folder)})


def test_an_empty_fresh_entry_is_a_miss_as_in_one_3(oracle, home: Path, tmp_path: Path,
                                                    real_alyx) -> None:
    """``[null, expiry]`` answered "0 sessions (REST cache)"; ONE 3.x asks Alyx instead."""
    folder = tmp_path / "null"
    fresh = (datetime.now() + timedelta(hours=1)).isoformat()
    entry = _entry(folder, "/sessions?subject=KS001")
    entry.write_text(json.dumps([None, fresh]))
    ones = _one_search(oracle, "3.6.1", home, real_alyx, folder)
    assert len(ones["eids"]) > 0  # the authority: a miss, Alyx answered
    entry.write_text(json.dumps([None, fresh]))
    mine = One(real_alyx.base_url, username=real_alyx.username, password=real_alyx.password,
               cache_dir=folder, mode="remote")
    assert mine.search(subject="KS001", query_type="remote") == ones["eids"]
    assert json.loads(entry.read_text())[0]["count"] == len(ones["eids"])  # replaced


@pytest.mark.parametrize("version", VERSION_IDS)
def test_a_non_utf8_entry_is_a_miss_and_is_replaced(oracle, version: str, home: Path,
                                                    tmp_path: Path, real_alyx) -> None:
    """ONE-api raises UnicodeDecodeError at every call for that query (its except catches
    JSONDecodeError only); one-tui treats the entry as a miss, online or not, and the entry
    it writes instead serves ONE again."""
    folder = tmp_path / "binary"
    entry = _entry(folder, "/sessions?subject=KS001")
    entry.write_bytes(b"\xff\xfe\x00garbage\x80")
    assert _one_search(oracle, version, home, real_alyx, folder) == {
        "raised": "UnicodeDecodeError"}
    offline, rec = _offline_one(real_alyx, folder)
    with pytest.raises(Exception) as info:  # a miss, and the network is forbidden here
        offline.search(subject="KS001", query_type="remote")
    assert not isinstance(info.value, UnicodeDecodeError) and rec.requests
    entry.write_bytes(b"\xff\xfe\x00garbage\x80")
    mine = One(real_alyx.base_url, username=real_alyx.username, password=real_alyx.password,
               cache_dir=folder, mode="remote")
    eids = mine.search(subject="KS001", query_type="remote")
    assert eids and _one_search(oracle, version, home, real_alyx, folder) == {"eids": eids}


@pytest.fixture(scope="module")
def narratives(real_alyx: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every session's narrative, read one by one (the list endpoint does not carry it)."""
    client = AlyxClient(real_alyx.base_url, username=real_alyx.username,
                        password=real_alyx.password, cache_dir=tmp_path_factory.mktemp("n"),
                        cache_rest=None)
    return {s[0]: client.rest("sessions", "read", id=s[0])["narrative"] or ""
            for s in _populated()["sessions"]}


@pytest.mark.parametrize("text", ["lethargic, stopped", "0", "session 1:", "x) , (y", "true",
                                  "probe01 drifted"])
def test_a_narrative_filter_with_any_text_is_answered_by_alyx(
        text: str, tmp_path: Path, real_alyx: Any, narratives: dict[str, str]) -> None:
    """Alyx splits ``django=`` on commas outside brackets (alyx/base.py
    ``split_comma_outside_brackets``) and turns ``0``/``true`` into numbers and booleans: a
    comma sent raw was a dangling field (HTTP 500), ``0`` searched for ``0.0``. The escaped
    value finds exactly the sessions whose narrative contains the text."""
    from one_tui.engine.core.errors import HTTPError
    from one_tui.engine.remote import filters as remote

    client = AlyxClient(real_alyx.base_url, username=real_alyx.username,
                        password=real_alyx.password, cache_dir=tmp_path, cache_rest=None)
    expected = {e for e, n in narratives.items() if text.lower() in n.lower()}
    found = client.rest("sessions", "list",
                        django=remote.django_clause("narrative__icontains", text))
    assert {r["id"] for r in found} == expected
    if "," in text:  # what was sent before: Alyx fails on it
        with pytest.raises(HTTPError) as info:
            client.rest("sessions", "list", django=f"narrative__icontains,{text}")
        assert info.value.status_code == 500
