"""ONE 2.x's "API modes" page, cell by cell, and what both one-tui and ONE-api run from it.

Source: int-brain-lab/ONE at tag v2.11.2 (the last 2.x release), ``docs/notebooks/one_modes.ipynb``,
published as https://int-brain-lab.github.io/ONE/notebooks/one_modes.html ("ONE API modes").
The code cells are quoted exactly as the page has them; only the import line differs when they
run against one-tui's engine (``ONE`` is one-tui's ``One``, ``webclient`` its ``alyx`` module).

``SCENARIO`` runs the cells in order, then the calls the page's text describes (the cross-mode
``query_type`` rules) and the calls of each mode, sending a marker request (``GET
/__mark__/<label>``, a 404 the server logs) before each step so the access log can be cut into
steps. The same text runs in ONE-api 2.11.2 (tests/oracles.py) and in-process with one-tui, each
with its own HOME and cache folder, so their request sequences can be compared step by step.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

PAGE = "https://int-brain-lab.github.io/ONE/notebooks/one_modes.html (ONE v2.11.2)"

#: The page's code cells, by their index in the notebook, verbatim.
CELLS: dict[int, str] = {
    1: """import one.webclient as webclient
from one.api import ONE

one = ONE()
print(one, one.mode)  # online, 'auto' mode
assert not one.offline

one_offline = ONE(cache_dir=r'C:\\data')
print(one_offline, one_offline.mode)  # offline, 'local' mode
assert one_offline.offline
""",
    3: "eids = one.search(lab='cortexlab', query_type='remote')  # Search Alyx instead of the local cache",  # noqa: E501
    5: """from datetime import timedelta
one.alyx.default_expiry = timedelta(days=20)  # Cache results for up to 20 days""",
    7: """with webclient.no_cache(one.alyx):
    eids, det = one.search(lab='cortexlab', query_type='remote')""",
    9: "ses = one.alyx.rest('sessions', 'list', lab='cortexlab', no_cache=True)",
    11: "one = ONE(cache_rest=None, mode='remote')",
    13: """from datetime import timedelta
one.cache_expiry = timedelta(hours=1)  # Check for new remote cache every hour

# The time when the cache was generated can be found in the cache metadata:
one._cache._meta""",
    15: """loaded_time = one.refresh_cache('refresh')  # Explicitly refresh the cache
eids = one.search(lab='cortexlab', query_type='refresh')  # Calls `refresh_cache` before searching""",  # noqa: E501
}

#: The page's printed output of cell 1 (its URL is the server's).
CELL1_OUTPUT = "One (online, {url}) auto\nOne (offline, C:\\data) local\n"

IMPORTS = "import one.webclient as webclient\nfrom one.api import ONE\n"


def engine_cell(index: int) -> str:
    """A cell as it runs against one-tui: the import line aside."""
    text = CELLS[index]
    return text[len(IMPORTS):] if text.startswith(IMPORTS) else text


def write_one_params(home: Path, base_url: str, username: str, password: str,
                     cache_dir: Path) -> None:
    """``~/.one`` as ``ONE.setup`` leaves it for a default database (the page's ``ONE()``).

    ``ALYX_PWD`` is stored as ONE does for its public database, so ``ONE()`` logs in silently.
    """
    from one_tui.engine.params import client_key

    key = client_key(base_url)
    folder = home / ".one"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".caches").write_text(json.dumps(
        {"CLIENT_MAP": {key: str(cache_dir)}, "DEFAULT": key}))
    (folder / f".{key}").write_text(json.dumps({
        "ALYX_URL": base_url, "ALYX_LOGIN": username, "ALYX_PWD": password,
        "HTTP_DATA_SERVER": base_url, "HTTP_DATA_SERVER_LOGIN": None,
        "HTTP_DATA_SERVER_PWD": None}))


#: Sends a marker request and waits (bounded) until the server has logged it, so every request
#: of the next step is logged after it. Before the marker it waits for the log to stop growing:
#: a gunicorn worker writes a request's line just *after* sending the response, so without that a
#: request answered by one worker could be logged after a marker the other worker answered next
#: (seen once in ~20 runs: a step's last request filed under the next step). Runs in both
#: interpreters (no one-tui import).
MARK_SOURCE = '''
import os as _os
import time as _time
import urllib.error as _uerr
import urllib.request as _ureq

def _log_settled():
    last, same = -1, 0
    deadline = _time.monotonic() + 5
    while _time.monotonic() < deadline and same < 2:
        size = _os.path.getsize(MARK_LOG)
        same = same + 1 if size == last else 0
        last = size
        _time.sleep(0.05)

def mark(label):
    _log_settled()
    try:
        _ureq.urlopen(MARK_URL + "/__mark__/" + MARK_RUN + "/" + label, timeout=30).read()
    except _uerr.HTTPError as exc:
        exc.read()
    needle = ("GET /__mark__/" + MARK_RUN + "/" + label + " ").encode()
    deadline = _time.monotonic() + 30
    while _time.monotonic() < deadline:
        with open(MARK_LOG, "rb") as f:
            if needle in f.read():
                return
        _time.sleep(0.05)
    raise RuntimeError("marker " + label + " never reached the access log")
'''

#: The steps, the same for ONE-api 2.11.2 and one-tui. ``record(key, value)`` keeps a result.
SCENARIO = '''
import contextlib as _ctx
import io as _io
from datetime import datetime as _dt

def cell(index):
    mark("page-%d" % index)
    out = _io.StringIO()
    try:
        with _ctx.redirect_stdout(out):
            exec(CELL_TEXT[index], NS)
    except Exception as exc:
        record("error-%d" % index, type(exc).__name__ + ": " + str(exc))
    record("stdout-%d" % index, out.getvalue())

NS = {"ONE": ONE, "webclient": webclient}
for _i in (1, 3, 5, 7, 9, 11, 13, 15):
    cell(_i)
record("eids-15", sorted(str(e) for e in NS["eids"]))

def step(label, call):
    """One marked step; an error is kept (ONE 2.11.2 fails some with today's pandas)."""
    mark(label)
    try:
        return call()
    except Exception as exc:
        record("error-" + label, type(exc).__name__ + ": " + str(exc)[:200])
        return None

def eids(found):
    return sorted(str(e) for e in found or [])

# the text of the page: local -> remote, remote -> local, offline -> remote refused
local = step("page-local", lambda: ONE(mode="local"))
record("local-remote", eids(step("page-local-to-remote", lambda: local.search(
    lab="cortexlab", query_type="remote"))))
record("remote-local", eids(step("page-remote-to-local", lambda: NS["one"].search(
    lab="cortexlab", query_type="local"))))
step("page-offline-to-remote", lambda: NS["one_offline"].search(lab="cortexlab",
                                                                query_type="remote"))

# each mode: its start, a search, details, a dataset list, a remote search
for _mode in ("local", "remote", "auto", "refresh"):
    _one = step(_mode + "-start", lambda: ONE(mode=_mode, cache_rest=None))
    step(_mode + "-search", lambda: _one.search(subject="KS003"))
    _det = step(_mode + "-get_details", lambda: _one.get_details(EID))
    _det = dict(_det) if _det is not None else {}
    record(_mode + "-details", {k: str(v) for k, v in _det.items()})
    step(_mode + "-list_datasets", lambda: _one.list_datasets(EID))
    step(_mode + "-remote-search", lambda: _one.search(subject="KS003", query_type="remote"))

# local with the password given: ONE logs in at once, one-tui on the first call asking Alyx
_one = step("password-local-start", lambda: ONE(base_url=URL, username=USER, password=PASSWORD,
                                                mode="local", cache_rest=None))
step("password-local-search", lambda: _one.search(subject="KS003"))
step("password-local-remote-search", lambda: _one.search(subject="KS003", query_type="remote"))
mark("end")
'''


def steps(requests: list[str], run: str) -> dict[str, list[str]]:
    """The access log cut at run ``run``'s markers: {label: requests of that step}, Django's
    APPEND_SLASH redirect targets (``/cache/info/``, ``/docs/``) folded into the request that
    was redirected, and query strings kept."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    prefix = f"GET /__mark__/{run}/"
    for line in requests:
        if line.startswith("GET /__mark__/"):  # another run's markers end this run's steps
            current = out.setdefault(line[len(prefix):], []) if line.startswith(prefix) else None
            continue
        if current is None:
            continue
        method, _, path = line.partition(" ")
        if path.split("?")[0].endswith("/") and current and \
                current[-1] == f"{method} {path.split('?')[0].rstrip('/')}":
            continue  # the 301's target, fetched by the client that was redirected
        current.append(line)
    return out


def multiset(requests: list[str]) -> Counter[str]:
    """Requests as a multiset: the access log's order between requests of one step is the order
    the server logged them, which two workers can swap."""
    return Counter(requests)


def _globals(url: str, username: str, password: str, eid: str, run: str, log: Path,
             cells: dict[int, str], results: dict) -> dict:
    g: dict = {"MARK_URL": url, "MARK_LOG": str(log), "MARK_RUN": run, "URL": url,
               "USER": username, "PASSWORD": password, "EID": eid, "CELL_TEXT": cells,
               "record": results.__setitem__}
    exec(MARK_SOURCE, g)  # noqa: S102 - our own text, shared with the oracle
    return g


def run_engine(url: str, username: str, password: str, eid: str, run: str, log: Path) -> dict:
    """SCENARIO against one-tui's engine, in this process (HOME and cwd set by the caller)."""
    from one_tui.engine.one import One
    from one_tui.engine.remote import client as webclient

    results: dict = {}
    g = _globals(url, username, password, eid, run, log,
                 {i: engine_cell(i) for i in CELLS}, results)
    g.update(ONE=One, webclient=webclient)
    exec(SCENARIO, g)  # noqa: S102
    return results


#: SCENARIO in ONE-api 2.11.2 (run by tests/oracles.py, whose HOME and cwd are the test's).
ORACLE_CODE = '''
import one.webclient as webclient
from one.api import ONE
RESULTS = {}
g = {"MARK_URL": ARGS["url"], "MARK_LOG": ARGS["log"], "MARK_RUN": ARGS["run"],
     "URL": ARGS["url"], "USER": ARGS["user"], "PASSWORD": ARGS["password"], "EID": ARGS["eid"],
     "CELL_TEXT": {int(k): v for k, v in ARGS["cells"].items()},
     "record": RESULTS.__setitem__, "ONE": ONE, "webclient": webclient}
exec(ARGS["mark"], g)
exec(ARGS["scenario"], g)
emit(RESULTS)
'''


def oracle_args(url: str, username: str, password: str, eid: str, run: str, log: Path) -> dict:
    return {"url": url, "user": username, "password": password, "eid": eid, "run": run,
            "log": str(log), "cells": {str(k): v for k, v in CELLS.items()},
            "mark": MARK_SOURCE, "scenario": SCENARIO}


class AccessLog:
    """What a real Alyx received between two points, cut with marker requests.

    ``start()`` sends a marker and returns its label; ``since(label)`` sends a closing marker
    and returns the requests logged between the two (redirect targets folded), so a step that
    sends nothing costs two small requests, not a wait for the log to settle.
    """

    def __init__(self, real_alyx: object) -> None:
        self._alyx = real_alyx
        log = real_alyx.access_log  # type: ignore[attr-defined]
        assert log is not None, "the real Alyx's access log is needed (ALYX_RUN)"
        self.run = "t-" + uuid.uuid4().hex[:8]
        g = {"MARK_URL": real_alyx.base_url, "MARK_LOG": str(log),  # type: ignore[attr-defined]
             "MARK_RUN": self.run}
        exec(MARK_SOURCE, g)  # noqa: S102 - our own helper text
        self._mark = g["mark"]
        self._offset = real_alyx.log_offset()  # type: ignore[attr-defined]
        self._count = 0

    def start(self) -> str:
        self._count += 1
        label = f"m{self._count}"
        self._mark(label)
        return label

    def since(self, label: str) -> list[str]:
        self.start()
        return steps(self._alyx.requests_since(self._offset), self.run)[label]  # type: ignore
