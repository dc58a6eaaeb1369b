"""The fault matrix: every injected fault in each of the four modes, against the demo Alyx.

``MATRIX`` says, per (fault, mode) cell, what the user must get (one-behaviour.md §0, §1.3,
§3.7; alyx-api.md §2, §4, §5). ``run_cell`` plays one cell for real over loopback and
``problems`` compares what happened with the table; ``benchmarks/fault_matrix.py`` prints the
same table with PASS/FAIL per cell. Each cell:

1. a fresh cache folder holding expired tables (3 days old, so auto/refresh must ask Alyx) and
   a stale REST-cache copy of the probe search, and a saved token (unless the fault says not);
2. the fault on, then ``One(...)`` built in the mode, the probe search ``search()`` (all
   sessions: three pages when remote) and, in remote mode, a search not in the REST cache;
3. the tables on disk read back with ``load_cache`` and compared with those before;
4. the fault off (the server back), then the user's next action: an explicit
   ``refresh_cache('refresh')`` after a fallback, the search again after a remote error.

Waits are not slept: the client's retry waits (429 Retry-After) go to a ``FakeSleep`` that
records them and returns at once (``client.time`` replaced for the matrix's life), and a cell's
``seconds`` is its wall time plus the waits it asked for, i.e. what the user would have waited.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from one_tui.demo.server import DemoServer
from one_tui.demo.synth import SyntheticDB, generate
from one_tui.engine import params
from one_tui.engine.core.types import MODES
from one_tui.engine.local.store import load_cache
from one_tui.engine.one import One
from one_tui.engine.remote import retries as retries_module
from one_tui.engine.remote.client import AlyxClient

N_SESSIONS = 60
PAGE_SIZE = 20  # the probe search is three pages when it goes to Alyx
NOW = datetime.now().replace(second=0, microsecond=0)
OLD = NOW - timedelta(days=3)
USER = "demo"
#: Short network budgets (a stalled read costs 1.5 s), with margin for a loaded 2-core machine.
#: Retry waits cost nothing: they go to ``FakeSleep`` (the cap still applies before it).
CLIENT = {"timeout": (0.5, 1.5), "max_retries": 2, "max_retry_wait": 1.5}
STALE_NOTICE = "Failed to connect, returning cached response"


# ---------------------------------------------------------------------------------------------
# The faults and the expected outcome of each cell (the matrix is data)


@dataclass(frozen=True)
class Fault:
    """How a fault is produced: demo-server switches, or a network trick on 127.0.0.1."""

    label: str
    switches: dict[str, Any] = field(default_factory=dict)
    network: str | None = None  # "refused" (nothing listens) | "blackhole" (accept queue full)
    saved_token: bool = True  # a token in ~/.one from an earlier session (no login request)
    password: bool = False  # the password is in memory (command line / login form): the client
    # then logs in again on its first request, as ONE does when given a password


FAULTS: dict[str, Fault] = {
    "refused": Fault("connection refused (server stopped)", network="refused"),
    "connect_timeout": Fault("connect timeout (accept queue full)", network="blackhole"),
    "dropped": Fault("connection dropped (no response)", {"drop_connections": True}),
    "read_timeout": Fault("read timeout mid-body (server stalls)",
                          {"read_timeout_after_bytes": 40, "stall_seconds": 3.0}),
    "http_500_json": Fault("500 with JSON detail", {"status_500": True}),
    "http_500_html": Fault("500 with an HTML body", {"status_500_html": True}),
    "http_429_once": Fault("429 once, Retry-After: 1", {"status_429": 1, "retry_after": 1}),
    "http_429_always": Fault("429 on every request", {"status_429": True, "retry_after": 1}),
    "http_500_login": Fault("500 on the first login", {"status_500": True},
                            saved_token=False, password=True),
    "invalid_token": Fault('403 "Invalid token." (password in memory)',
                           {"invalid_token": True}, password=True),
    "invalid_token_no_password": Fault('403 "Invalid token." (saved token only)',
                                       {"invalid_token": True}),
    "login_400": Fault("400 on the first login", {"refuse_login": True},
                       saved_token=False, password=True),
    "truncated_zip": Fault("truncated cache.zip", {"truncated_zip": True}),
    "corrupt_parquet": Fault("cache.zip holding a corrupt parquet",
                             {"corrupt_zip_parquet": True}),
    "malformed_json": Fault("malformed JSON (body cut in half)", {"malformed_json": True}),
    "count_drift": Fault("count changes between pages", {"count_drift": True}),
}


@dataclass(frozen=True)
class Expect:
    """One cell. ``outcome``:

    - ``untouched``: local mode chosen by the user: no request at all, the tables as they were;
    - ``ok``: the call works despite the fault (``detail``: how; the tables as usual);
    - ``warns``: it works and the user gets the one-line notice ``detail``;
    - ``fallback``: the mode becomes local, ``fallback_reason`` is ``"<mode> → local: <detail>"``
      (also a notice), searches read the tables on disk, which are kept; an explicit refresh
      once the fault is gone brings the requested mode back;
    - ``stale``: remote search answered from the stale REST cache with the notice "Failed to
      connect, returning cached response"; a search not in the REST cache raises
      AlyxConnectionError with one line; the mode stays remote;
    - ``raises``: the remote search raises ``detail`` ("ExcName: message start") in one line,
      the mode stays remote, and the same search works once the fault is gone.
    """

    outcome: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.outcome}: {self.detail}" if self.detail else self.outcome


UNTOUCHED = Expect("untouched")
UNAFFECTED = Expect("ok", "fault not reached")
DOWNLOADED = Expect("ok", "tables downloaded")
UNREACHABLE_REFUSED = Expect("fallback", "Alyx unreachable (connection refused)")
UNREACHABLE_TIMEOUT = Expect("fallback", "Alyx unreachable (timed out)")
STALE = Expect("stale", "REST cache + notice")

MATRIX: dict[tuple[str, str], Expect] = {}
_ROWS: dict[str, tuple[Expect, Expect, Expect]] = {  # (remote, auto, refresh); local: untouched
    "refused": (STALE, UNREACHABLE_REFUSED, UNREACHABLE_REFUSED),
    "connect_timeout": (STALE, UNREACHABLE_TIMEOUT, UNREACHABLE_TIMEOUT),
    "dropped": (STALE, Expect("fallback", "Alyx unreachable (connection dropped)"),
                Expect("fallback", "Alyx unreachable (connection dropped)")),
    "read_timeout": (STALE, UNREACHABLE_TIMEOUT, UNREACHABLE_TIMEOUT),
    "http_500_json": (Expect("raises", "HTTPError: [Errno 500] /sessions: 'Injected server error"),
                      Expect("fallback", "cache/info failed (HTTP 500)"),
                      Expect("fallback", "cache/info failed (HTTP 500)")),
    "http_500_html": (Expect("raises", "HTTPError: [Errno 500] /sessions: 'Server Error (500)'"),
                      Expect("fallback", "cache/info failed (HTTP 500)"),
                      Expect("fallback", "cache/info failed (HTTP 500)")),
    "http_429_once": (Expect("ok", "waited Retry-After, retried"),
                      Expect("ok", "waited Retry-After, retried; tables downloaded"),
                      Expect("ok", "waited Retry-After, retried; tables downloaded")),
    "http_429_always": (Expect("raises", "HTTPError: [Errno 429] /sessions: 'Request was thrott"),
                        Expect("fallback", "cache/info failed (HTTP 429)"),
                        Expect("fallback", "cache/info failed (HTTP 429)")),
    "http_500_login": (Expect("fallback", "login failed (HTTP 500)"),
                       Expect("fallback", "login failed (HTTP 500)"),
                       Expect("fallback", "login failed (HTTP 500)")),
    "invalid_token": (Expect("ok", "logged in again, retried"),
                      Expect("ok", "logged in again; tables downloaded"),
                      Expect("ok", "logged in again; tables downloaded")),
    "invalid_token_no_password": (
        Expect("fallback", "login needed (no password or saved token)"),
        Expect("fallback", "login needed (no password or saved token)"),
        Expect("fallback", "login needed (no password or saved token)")),
    "login_400": (Expect("fallback", "login refused (400)"),
                  Expect("fallback", "login refused (400)"),
                  Expect("fallback", "login refused (400)")),
    "truncated_zip": (UNAFFECTED,
                      Expect("fallback", "cache.zip was truncated; kept the tables on disk"),
                      Expect("fallback", "cache.zip was truncated; kept the tables on disk")),
    "corrupt_parquet": (UNAFFECTED,
                        Expect("fallback", "cache.zip held a corrupt table (sessions.pqt"),
                        Expect("fallback", "cache.zip held a corrupt table (sessions.pqt")),
    "malformed_json": (
        Expect("raises", "AlyxError: Alyx sent a response to /sessions that is not valid JSON"),
        Expect("fallback", "cache/info failed (Alyx sent a response to /cache/info that is "
                           "not valid JSON"),
        Expect("fallback", "cache/info failed (Alyx sent a response to /cache/info that is "
                           "not valid JSON")),
    "count_drift": (Expect("warns", "remote results for /sessions endpoint changed; results "
                                    "may be inconsistent"),
                    DOWNLOADED, DOWNLOADED),
}
for _fault, (_remote, _auto, _refresh) in _ROWS.items():
    MATRIX[(_fault, "local")] = UNTOUCHED
    MATRIX[(_fault, "remote")] = _remote
    MATRIX[(_fault, "auto")] = _auto
    MATRIX[(_fault, "refresh")] = _refresh
assert set(FAULTS) == set(_ROWS) and len(MATRIX) == len(FAULTS) * len(MODES)


# ---------------------------------------------------------------------------------------------
# Playing one cell


@dataclass
class Observed:
    """What one cell did, as a user would see it."""

    mode: str = ""
    requested_mode: str = ""
    fallback_reason: str | None = None
    rows: int | None = None  # of the probe search
    source: str | None = None
    error: str | None = None  # "ExcName: first line" of the probe search
    error_lines: int = 0
    uncached_error: str | None = None  # remote only: a search not in the REST cache
    notices: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    tables: str = ""  # "kept" | "replaced" | what went wrong
    recovered: str = ""  # "yes" or what went wrong after the fault was switched off
    seconds: float = 0.0  # wall time + the waits asked for (the time the user would wait)
    waits: list[float] = field(default_factory=list)  # the client's retry waits, in order


class FakeSleep:
    """Stands in for ``time`` in the retries module (only ``time.sleep`` is used there): records
    each wait the client asks for and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def module(self) -> SimpleNamespace:
        return SimpleNamespace(sleep=self.sleep)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Blackhole:
    """A listening socket whose accept queue is full: a new connect hangs until it times out."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers: list[socket.socket] = []
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(c)
        time.sleep(0.05)

    def close(self) -> None:
        for c in self.fillers:
            c.close()
        self.sock.close()


def _snapshot(folder: Path) -> tuple[pd.DataFrame, datetime | None]:
    cache = load_cache(folder)
    return cache.sessions.copy(), cache.meta["created_time"]


class MatrixEnv:
    """One demo server for every cell, a template cache folder copied per cell.

    The client's waits go to ``sleeper`` (installed by the caller over ``retries_module.time``).
    """

    def __init__(self, root: Path, sleeper: FakeSleep, db: SyntheticDB | None = None) -> None:
        self.root = root
        self.sleeper = sleeper
        self.db = db or generate(n_sessions=N_SESSIONS, seed=7)
        self.server = DemoServer(self.db, page_size=PAGE_SIZE)
        self.server.set_tables_date(NOW)
        self.server.start()
        self.server.warm_up()
        self.subject = str(self.db.sessions["subject"].iloc[0])
        self.template = root / "template"
        self.template.mkdir()
        self.db.write_tables(self.template, date_created=OLD)
        self._token(self.server.url)
        warm = One(client=self._client(self.server.url, password=True), cache_dir=self.template,
                   mode="remote")
        warm.alyx.default_expiry = timedelta(0)  # stored already stale: only an offline fallback
        assert len(warm.search()) == N_SESSIONS
        warm.alyx.close()
        self.before = _snapshot(self.template)
        self._cells = 0

    def close(self) -> None:
        self.server.stop()

    def _client(self, url: str, password: bool, folder: Path | None = None) -> AlyxClient:
        return AlyxClient(url, username=USER, password=USER if password else None,
                          cache_dir=folder or self.template, **CLIENT)

    def _token(self, url: str) -> None:
        params.save_token(url, USER, self.server.token_for(USER))

    def run_cell(self, fault_name: str, mode: str) -> Observed:
        """Play one (fault, mode) cell; never raises for what the fault does."""
        fault = FAULTS[fault_name]
        self._cells += 1
        folder = self.root / f"cell{self._cells}-{fault_name}-{mode}"
        shutil.copytree(self.template, folder)
        obs = Observed()
        server = self.server
        server.faults.reset()
        blackhole: _Blackhole | None = None
        revived: DemoServer | None = None
        if fault.network == "refused":
            url = f"http://127.0.0.1:{_free_port()}"
        elif fault.network == "blackhole":
            blackhole = _Blackhole()
            url = f"http://127.0.0.1:{blackhole.port}"
        else:
            url = server.url
        if fault.saved_token:
            self._token(url)
        else:
            params.clear_token(url, USER)
        for name, value in fault.switches.items():
            setattr(server.faults, name, value)
        start = len(server.requests)
        self.sleeper.waits.clear()
        t0 = time.perf_counter()
        one: One | None = None
        try:
            # password= as the app passes it: remote mode then logs in (or reuses the token) now
            one = One(client=self._client(url, fault.password, folder), cache_dir=folder,
                      mode=mode, password=USER if fault.password else None)
            self._probe(one, obs, mode)
            obs.waits = list(self.sleeper.waits)
            obs.seconds = time.perf_counter() - t0 + sum(obs.waits)
            obs.requests = server.requests[start:] if not fault.network else []
            obs.tables = self._tables_state(folder)
            server.faults.reset()
            if blackhole is not None:
                blackhole.close()
                blackhole = None
            if fault.network:
                revived = DemoServer(self.db, port=int(url.rsplit(":", 1)[1]),
                                     page_size=PAGE_SIZE)
                revived.set_tables_date(NOW)
                revived.start()
            obs.recovered = self._recover(one, mode)
        except Exception as exc:  # noqa: BLE001 - reported in the cell, never hides the rest
            obs.error = obs.error or f"unexpected {_one_line(exc)}"
            obs.tables = obs.tables or self._tables_state(folder)
        finally:
            server.faults.reset()
            if blackhole is not None:
                blackhole.close()
            if revived is not None:
                revived.stop()
            if one is not None and one.alyx is not None:
                one.alyx.close()
            shutil.rmtree(folder, ignore_errors=True)
        return obs

    def _probe(self, one: One, obs: Observed, mode: str) -> None:
        """The user's first search, and in remote mode one the REST cache has never seen."""
        answer = one.ask("search")  # returns its error and notices, never raises
        try:
            obs.rows = len(answer.unwrap())
            obs.source = answer.source
        except Exception as exc:  # noqa: BLE001 - what the user would see
            obs.error = _one_line(exc)
            obs.error_lines = len(str(exc).strip().splitlines())
        if mode == "remote":
            try:
                one.search(subject=self.subject)
            except Exception as exc:  # noqa: BLE001
                obs.uncached_error = _one_line(exc)
        obs.mode, obs.requested_mode = one.mode, one.requested_mode
        obs.fallback_reason = one.fallback_reason
        # the search's own notices, and those of connecting (kept on One for scripts)
        obs.notices = [*one.notices, *answer.notices]

    def _tables_state(self, folder: Path) -> str:
        """The tables on disk read back: 'kept' (as before), 'replaced' (a newer whole copy)."""
        leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".one-tui-download")]
        if leftovers:
            return f"download folder left behind: {leftovers}"
        try:
            sessions, created = _snapshot(folder)
        except Exception as exc:  # noqa: BLE001
            return f"tables do not load: {_one_line(exc)}"
        before, before_created = self.before
        if not sessions.sort_index().equals(before.sort_index()):
            return f"sessions differ ({len(sessions)} rows, {len(before)} before)"
        if created == before_created:
            return "kept"
        return "replaced" if created == NOW else f"created_time {created}"

    def _recover(self, one: One, mode: str) -> str:
        """The user's next action once the fault is gone: log in when asked to (the app's
        login form), else an explicit refresh (R) after a fallback, then search again."""
        try:
            if one.fallback_reason is not None and "login needed" in one.fallback_reason:
                one.login(USER, USER)
            elif one.fallback_reason is not None:
                one.refresh_cache("refresh")
            if one.mode != mode or one.fallback_reason is not None:
                return f"still {one.mode} ({one.fallback_reason})"
            n = len(one.search())
            if n != N_SESSIONS:
                return f"search found {n}"
        except Exception as exc:  # noqa: BLE001
            return f"raised {_one_line(exc)}"
        return "yes"


# ---------------------------------------------------------------------------------------------
# Judging a cell


def problems(fault_name: str, mode: str, expect: Expect, obs: Observed) -> list[str]:
    """Where the observed cell differs from the expected one ([] = PASS)."""
    out: list[str] = []

    def want(cond: bool, what: str) -> None:
        if not cond:
            out.append(what)

    fault = FAULTS[fault_name]
    unexpected = obs.error and obs.error.startswith("unexpected ")
    want(not unexpected, f"{obs.error}")
    kind = expect.outcome
    if kind == "untouched":
        want(obs.requests == [], f"requests sent in local mode: {obs.requests}")
        want(obs.mode == "local" and obs.fallback_reason is None,
             f"mode {obs.mode} ({obs.fallback_reason})")
        want(obs.rows == N_SESSIONS and obs.source == "local tables",
             f"search: {obs.rows} rows from {obs.source} ({obs.error})")
        want(obs.tables == "kept", f"tables: {obs.tables}")
    elif kind in ("ok", "warns"):
        want(obs.error is None, f"search raised {obs.error}")
        want(obs.mode == mode and obs.fallback_reason is None,
             f"mode {obs.mode} ({obs.fallback_reason})")
        want(obs.rows == N_SESSIONS, f"search found {obs.rows}")
        want(obs.source == ("Alyx" if mode == "remote" else "local tables"),
             f"search source {obs.source}")
        tables_now = "kept" if mode == "remote" else "replaced"
        want(obs.tables == tables_now, f"tables: {obs.tables} (expected {tables_now})")
        if kind == "warns":
            want(expect.detail in obs.notices, f"notice missing: {obs.notices}")
        if expect.detail == "fault not reached":
            want(not any("/cache.zip" in r for r in obs.requests), "cache.zip was asked for")
        if "logged in again" in expect.detail:
            want(any(r.startswith("POST /auth-token") for r in obs.requests),
                 "no login after the 403")
        if "Retry-After" in expect.detail:  # Retry-After: 1, under the 1.5 s cap
            want(obs.seconds >= 0.9 and 1.0 in obs.waits,
                 f"did not wait Retry-After ({obs.seconds:.2f} s, waits {obs.waits})")
    elif kind == "fallback":
        want(obs.mode == "local" and obs.requested_mode == mode,
             f"mode {obs.mode}, requested {obs.requested_mode}")
        reason = f"{mode} → local: {expect.detail}"
        want(bool(obs.fallback_reason) and obs.fallback_reason.startswith(reason),
             f"reason {obs.fallback_reason!r}")
        want(bool(obs.fallback_reason) and "\n" not in obs.fallback_reason
             and obs.fallback_reason in obs.notices, "reason not a one-line notice")
        if mode == "remote" and "login" in expect.detail and fault.saved_token:
            want(obs.error is not None and obs.error.startswith("LoginRequired"),
                 f"the search should say a login is needed: {obs.error}")
        else:
            want(obs.error is None and obs.rows == N_SESSIONS and obs.source == "local tables",
                 f"search: {obs.rows} rows from {obs.source} ({obs.error})")
        want(obs.tables == "kept", f"tables: {obs.tables}")
        want(obs.recovered == "yes", f"recovery: {obs.recovered}")
    elif kind == "stale":
        want(obs.mode == "remote", f"mode {obs.mode} ({obs.fallback_reason})")
        want(obs.error is None and obs.rows == N_SESSIONS and obs.source == "REST cache",
             f"search: {obs.rows} rows from {obs.source} ({obs.error})")
        want(STALE_NOTICE in obs.notices, f"notice missing: {obs.notices}")
        want(bool(obs.uncached_error)
             and obs.uncached_error.startswith("AlyxConnectionError: Can't connect to"),
             f"uncached search: {obs.uncached_error}")
        want(obs.tables == "kept", f"tables: {obs.tables}")
        want(obs.recovered == "yes", f"recovery: {obs.recovered}")
    elif kind == "raises":
        want(obs.mode == "remote" and obs.fallback_reason is None,
             f"mode {obs.mode} ({obs.fallback_reason})")
        want(bool(obs.error) and obs.error.startswith(expect.detail), f"raised {obs.error}")
        want(obs.error_lines == 1, f"message has {obs.error_lines} lines")
        want(obs.tables == "kept", f"tables: {obs.tables}")
        want(obs.recovered == "yes", f"recovery: {obs.recovered}")
    else:
        out.append(f"unknown outcome {kind}")
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, make_db: Any) -> Iterator[MatrixEnv]:
    shutil.rmtree(Path.home() / ".one", ignore_errors=True)
    sleeper = FakeSleep()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(retries_module, "time", sleeper.module())
        matrix_env = MatrixEnv(tmp_path_factory.mktemp("fault-matrix"), sleeper,
                               make_db(N_SESSIONS, 7))
        yield matrix_env
        matrix_env.close()


@pytest.mark.parametrize(("fault", "mode"), list(MATRIX), ids=[f"{f}-{m}" for f, m in MATRIX])
def test_fault_cell(env: MatrixEnv, fault: str, mode: str) -> None:
    expect = MATRIX[(fault, mode)]
    obs = env.run_cell(fault, mode)
    assert problems(fault, mode, expect, obs) == [], (str(expect), obs)


def run_matrix(root: Path | None = None) -> list[tuple[str, str, Expect, Observed, list[str]]]:
    """Every cell, for the printing script: (fault, mode, expected, observed, problems)."""
    folder = root or Path(tempfile.mkdtemp(prefix="one-tui-fault-matrix-"))
    sleeper = FakeSleep()
    patch = pytest.MonkeyPatch()
    patch.setattr(retries_module, "time", sleeper.module())
    matrix_env = MatrixEnv(folder, sleeper)
    try:
        out = []
        for fault, mode in MATRIX:
            obs = matrix_env.run_cell(fault, mode)
            out.append((fault, mode, MATRIX[(fault, mode)], obs,
                        problems(fault, mode, MATRIX[(fault, mode)], obs)))
        return out
    finally:
        matrix_env.close()
        patch.undo()
        if root is None:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("fault", ["read_timeout", "http_500_json", "http_429_always",
                                   "truncated_zip", "corrupt_parquet", "malformed_json"])
def test_fault_mid_session_in_refresh_mode(env: MatrixEnv, tmp_path: Path, fault: str) -> None:
    """A healthy start, then the fault: refresh mode's next decorated call falls back with the
    same one-line reason as at start-up, answers from the tables, and keeps them on disk."""
    server = env.server
    folder = tmp_path / "cache"
    shutil.copytree(env.template, folder)
    env._token(server.url)
    one = One(client=env._client(server.url, password=False, folder=folder), cache_dir=folder,
              mode="refresh")
    try:
        assert one.mode == "refresh" and one.fallback_reason is None
        downloaded = _snapshot(folder)
        assert downloaded[1] == NOW
        eid = str(env.db.sessions.index[0])
        listed = list(one.list_datasets(eid))
        assert listed
        server.set_tables_date(NOW + timedelta(hours=1))  # Alyx now has newer tables
        for name, value in FAULTS[fault].switches.items():
            setattr(server.faults, name, value)
        assert list(one.list_datasets(eid)) == listed  # from the tables, after the fallback
        assert one.mode == "local" and one.requested_mode == "refresh"
        reason = f"refresh → local: {MATRIX[(fault, 'refresh')].detail}"
        assert one.fallback_reason.startswith(reason)
        assert one.fallback_reason in one.notices
        sessions, created = _snapshot(folder)
        assert created == NOW and sessions.sort_index().equals(downloaded[0].sort_index())
        server.faults.reset()
        one.refresh_cache("refresh")
        assert one.mode == "refresh" and _snapshot(folder)[1] == NOW + timedelta(hours=1)
    finally:
        server.faults.reset()
        server.set_tables_date(NOW)
        one.alyx.close()
