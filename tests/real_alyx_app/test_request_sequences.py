"""The requests one-tui sends per mode, step by step, against ONE-api 2.11.2's on the real Alyx.

Both run the same steps (tests/real_alyx_app/modes_page.py: the "API modes" page's cells in
order, the page's cross-mode ``query_type`` rules, then in each mode a start, a search, details,
a dataset list and a remote search), each with its own HOME and cache folder; the server's access
log is cut at marker requests. Where one-tui deliberately differs, the step is named in
``DEVIATIONS`` with the requests only ONE sends and those only one-tui sends; every other step
must send exactly the same requests.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.real_alyx_app import modes_page as page

pytestmark = [pytest.mark.real_alyx, pytest.mark.oracle]

_SCHEMA = "GET /docs"  # ONE 2.x reads the REST schema once per client before its first rest()
_SESSION = "GET /sessions/{eid}"

#: step -> (requests only ONE 2.11.2 sends, requests only one-tui sends, why). The README's
#: deviation table lists the same cases.
DEVIATIONS: dict[str, tuple[list[str], list[str], str]] = {
    "page-3": ([_SCHEMA], [], "one-tui's remote search terms are a fixed list: no /docs"),
    "remote-search": ([_SCHEMA], [], "no /docs (fixed search terms)"),
    "local-remote-search": ([_SCHEMA], [], "no /docs (fixed search terms)"),
    "auto-get_details": ([_SCHEMA], [], "no /docs (one-tui validates no endpoint names)"),
    "page-15": ([], ["GET /cache/info"],
                "search(query_type='refresh') asks cache/info first, as the page's comment "
                "says; ONE 2.11.2's One.search is not decorated and refreshes nothing"),
    "refresh-search": ([], ["GET /cache/info"], "refresh mode: search asks cache/info too"),
    "remote-get_details": (["GET /sessions?django=pk%2C{eid}"], [],
                           "local_path from the session row just merged, not a second query"),
    "refresh-get_details": (["GET /cache/info", _SCHEMA], [],
                            "one refresh step per call (ONE's eid2path inside get_details is "
                            "decorated too) and no /docs"),
    "refresh-list_datasets": (["GET /cache/info"], [],
                              "one refresh step per call (ONE decorates list_datasets twice)"),
    "password-local-start": (["POST /auth-token"], [],
                             "local mode sends nothing by itself, even with a password"),
    "password-local-remote-search": ([_SCHEMA], ["POST /auth-token"],
                                     "the login happens at the first call asking for Alyx"),
}


@pytest.fixture(scope="module")
def runs(real_alyx: Any, oracle: Any, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Both runs, once: {"one": results, "tui": results, "steps": {...}, "eid": ..., dirs}."""
    populated = json.loads((Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run")) /
                            "populated.json").read_text())
    eid = next(s[0] for s in populated["sessions"] if len(s[7]) > 1)  # two projects
    log = real_alyx.access_log
    assert log is not None, "the real Alyx's access log is needed (ALYX_RUN)"
    root = tmp_path_factory.mktemp("sequences")
    start = real_alyx.log_offset()
    creds = (real_alyx.base_url, real_alyx.username, real_alyx.password)

    one_home = root / "one-home"
    page.write_one_params(one_home, *creds, one_home / "cache")
    one_run = "one-" + uuid.uuid4().hex[:8]
    theirs = oracle("2.11.2", page.ORACLE_CODE, home=one_home,
                    args=page.oracle_args(*creds, eid, one_run, log))

    tui_home = Path.home()  # tests/conftest.py's isolated HOME
    params_dir = tui_home / ".one"
    saved = {p.name: p.read_bytes() for p in params_dir.glob(".*")} if params_dir.exists() else {}
    for p in params_dir.glob(".*") if params_dir.exists() else []:
        p.unlink()
    page.write_one_params(tui_home, *creds, root / "tui-cache")
    tui_run = "tui-" + uuid.uuid4().hex[:8]
    cwd = Path.cwd()
    os.chdir(root)  # the page's ONE(cache_dir=r'C:\data') is a relative folder here
    try:
        ours = page.run_engine(*creds, eid, tui_run, log)
    finally:
        os.chdir(cwd)
        for p in params_dir.glob(".*"):
            p.unlink()
        for name, data in saved.items():
            (params_dir / name).write_bytes(data)
    requests = real_alyx.requests_since(start)
    info = (real_alyx.tables or Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run")) / "tables")
    created = json.loads((info / "cache_info.json").read_text())["date_created"]
    return {"one": theirs, "tui": ours, "eid": eid, "one_cache": one_home / "cache",
            "tables_created": datetime.strptime(created, "%Y-%m-%d %H:%M"),
            "tui_cache": root / "tui-cache",
            "steps": {"one": page.steps(requests, one_run), "tui": page.steps(requests, tui_run)}}


def _expected(runs: dict, label: str) -> tuple[Counter[str], Counter[str]]:
    only_one, only_tui, _why = DEVIATIONS.get(label, ([], [], ""))
    fill = {"eid": runs["eid"]}
    return (Counter(r.format(**fill) for r in only_one),
            Counter(r.format(**fill) for r in only_tui))


def test_every_step_ran_in_both(runs: dict) -> None:
    steps = runs["steps"]
    assert list(steps["one"]) == list(steps["tui"])
    assert len(steps["tui"]) == 8 + 4 + 4 * 5 + 3 + 1  # cells, page rules, modes, password, end
    assert set(DEVIATIONS) <= set(steps["tui"])


def test_each_step_sends_what_one_2_11_2_sends_but_the_named_deviations(runs: dict) -> None:
    """Step by step, as multisets (two server workers may log one step's requests in either
    order): ONE's requests minus one-tui's are exactly the named ONE-only ones, and the other
    way round."""
    mismatches = {}
    for label, theirs in runs["steps"]["one"].items():
        ours = runs["steps"]["tui"].get(label, [])
        only_one, only_tui = _expected(runs, label)
        got = (Counter(theirs) - Counter(ours), Counter(ours) - Counter(theirs))
        if got != (only_one, only_tui):
            mismatches[label] = {"ONE 2.11.2": theirs, "one-tui": ours}
    assert not mismatches, json.dumps(mismatches, indent=1)


def test_the_page_cells_send_these_requests(runs: dict) -> None:
    """What the page's cells cost on a real Alyx (one-tui), the user-visible side of the table:
    the first ONE() logs in and downloads the tables, the REST-cache cells each ask Alyx once,
    cache_rest=None and cache_expiry send nothing, refresh_cache('refresh') asks cache/info."""
    s = runs["steps"]["tui"]
    assert s["page-1"] == ["POST /auth-token", "GET /cache/info", "GET /cache.zip"]
    for cell in ("page-3", "page-7", "page-9"):
        assert s[cell] == ["GET /sessions?lab=cortexlab"]
    assert s["page-5"] == s["page-11"] == s["page-13"] == []
    assert s["page-15"] == ["GET /cache/info", "GET /cache/info"]
    assert s["page-local"] == s["page-remote-to-local"] == s["page-offline-to-remote"] == []
    assert s["page-local-to-remote"] == ["GET /sessions?lab=cortexlab"]
    assert s["local-start"] == s["remote-start"] == []  # neither refreshes at start
    # auto and refresh ask cache/info at start only when the tables are older than a day
    expired = datetime.now() - runs["tables_created"] > timedelta(hours=24)
    assert s["auto-start"] == s["refresh-start"] == (["GET /cache/info"] if expired else [])
    assert s["local-search"] == s["local-get_details"] == s["local-list_datasets"] == []


def test_the_answers_are_those_of_one_2_11_2(runs: dict) -> None:
    """Same eids, same details dicts (keys in the same order, projects comma-joined, the
    session folder under each one's own cache), same printed reprs."""
    theirs, ours = runs["one"], runs["tui"]
    for key in ("eids-15", "local-remote", "remote-local"):
        assert ours[key] == theirs[key] and len(ours[key]) == 18, key
    for mode in ("local", "remote", "auto", "refresh"):
        want = {k: v.replace(str(runs["one_cache"]), "<cache>")
                for k, v in theirs[f"{mode}-details"].items()}
        got = {k: v.replace(str(runs["tui_cache"]), "<cache>")
               for k, v in ours[f"{mode}-details"].items()}
        assert list(got.items()) == list(want.items()), mode
    assert "," in ours["auto-details"]["projects"]
    # ONE prints "Connected to ..." and a download line (not silent); the reprs are the page's
    url = runs["one"]["stdout-1"].split("Connected to ")[1].split(" ")[0]
    assert theirs["stdout-1"].endswith(page.CELL1_OUTPUT.format(url=url))
    assert ours["stdout-1"] == page.CELL1_OUTPUT.format(url=url)
    # the page's cell 7 unpacks search() without details=True: both fail the same way
    assert ours["error-7"] == theirs["error-7"] == "ValueError: too many values to unpack " \
                                                  "(expected 2)"


def test_offline_remote_is_refused_where_one_2_11_2_searches_nothing(runs: dict) -> None:
    """The page: "The 'remote' query type is not valid in offline mode". ONE 2.11.2's plain One
    ignores query_type and searches its (empty) tables; one-tui refuses with OfflineError."""
    assert "error-page-offline-to-remote" not in runs["one"]
    assert runs["tui"]["error-page-offline-to-remote"].startswith(
        "OfflineError: query_type='remote' needs a connection to Alyx")
