"""AlyxClient against a fake Alyx (httpx.MockTransport): the requests ONE would make."""

from __future__ import annotations

import io
import json
import logging
import shutil
import stat
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from one_tui.engine import params
from one_tui.engine.core import results as outcome
from one_tui.engine.core.errors import (
    AlyxConnectionError,
    AlyxError,
    AuthenticationError,
    HTTPError,
    LoginRequired,
    ReadOnlyError,
)
from one_tui.engine.remote.client import AlyxClient, no_cache
from one_tui.engine.remote.urls import list_query

BASE = "http://alyx.test"
PASSWORD = "Pa55-w0rd-secret"
TOKEN = "t0k3n"
SESSIONS = [{"id": f"00000000-0000-4000-8000-{i:012d}", "number": i} for i in range(7)]
FIXTURES = Path(__file__).parent / "fixtures" / "one-api" / "rest_responses"


class FakeAlyx:
    """A tiny Alyx: login, paginated /sessions, other endpoints from ``routes``."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.valid_tokens = {TOKEN}
        self.page_size = 3
        self.page_delay = 0.0
        self.routes: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.down = False
        self.token = TOKEN

    @property
    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.raw_path.decode()}" for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if path == "/auth-token":
            form = parse_qs(request.content.decode())
            if form == {"username": ["demo"], "password": [PASSWORD]}:
                return httpx.Response(200, json={"token": self.token})
            return httpx.Response(400, json={"non_field_errors": ["Unable to log in"]})
        if path in self.routes:
            return self.routes[path](request)
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Token ") not in self.valid_tokens:
            return httpx.Response(403, json={"detail": "Invalid token.", "status_code": 403})
        if path == "/sessions":
            return self.sessions(request)
        return httpx.Response(404, text="<html><title>Not Found</title><body>x</body></html>")

    def sessions(self, request: httpx.Request) -> httpx.Response:
        time.sleep(self.page_delay)
        q = dict(request.url.params)
        limit, offset = int(q.get("limit", self.page_size)), int(q.get("offset", 0))
        rows = SESSIONS[offset : offset + limit]
        nxt = None
        if offset + limit < len(SESSIONS):
            nxt = str(request.url.copy_merge_params({"limit": limit, "offset": offset + limit}))
        body = {"count": len(SESSIONS), "next": nxt, "previous": None, "results": rows}
        return httpx.Response(200, json=body)


@pytest.fixture
def fake() -> FakeAlyx:
    return FakeAlyx()


@pytest.fixture
def make_client(home: Path, tmp_path: Path, fake: FakeAlyx) -> Callable[..., AlyxClient]:
    def make(**kw: Any) -> AlyxClient:
        kw.setdefault("username", "demo")
        kw.setdefault("password", PASSWORD)
        kw.setdefault("cache_dir", tmp_path / "cache")
        kw.setdefault("max_retry_wait", 0.05)
        return AlyxClient(BASE, transport=httpx.MockTransport(fake), **kw)

    return make


# --- URL building and the REST cache key ---------------------------------------------------------


def test_list_query_matches_one_example() -> None:
    """ONE's ``search`` sorts the terms (django first) and its ``rest`` keeps that order."""
    from one_tui.engine.remote.filters import session_filters

    q = list_query("sessions", **session_filters(
        django="foo,bar", task_protocol="training", subject="KS005",
        projects="brainwide", number=1, lab="cortexlab", date_range=["2019-04-01", "2019-04-10"],
        datasets=["a.b.npy", "c.d.npy"], dataset_qc_lte="WARNING",
    ))
    assert q == (
        "/sessions?django=foo%2Cbar&dataset_qc_lte=WARNING&datasets=a.b.npy%2Cc.d.npy"
        "&date_range=2019-04-01%2C2019-04-10&lab=cortexlab&number=1&projects=brainwide"
        "&subject=KS005&task_protocol=training"
    )


def test_list_query_keeps_the_order_it_is_given_as_one_rest_does() -> None:
    """``AlyxClient.rest('datasets', 'list', session=..., limit=100)`` in ONE requests (and
    hashes) ``/datasets?session=...&limit=100``; sorted, the sha1 name was another file."""
    assert list_query("datasets", session="abc", limit=100) == "/datasets?session=abc&limit=100"
    assert list_query("insertions", session="abc", id="x") == (
        "/insertions?session=abc&django=pk%2Cx")


def test_list_query_id_and_none() -> None:
    assert list_query("sessions", id="abc", django=None) == "/sessions?django=pk%2Cabc"
    assert list_query("sessions", id="abc", django="lab__name,x") == (
        "/sessions?django=lab__name%2Cx%2Cpk%2Cabc"
    )
    assert list_query("labs") == "/labs"


def test_rest_cache_key_and_format(make_client: Callable[..., AlyxClient], tmp_path: Path,
                                   fake: FakeAlyx) -> None:
    fake.page_size = 10
    client = make_client()
    assert len(client.rest("sessions", subject="KS005")) == 7
    f = tmp_path / "cache" / ".rest" / "b4626d8c50e1531343fee3d514114f5515b2acb8"
    raw, expiry = json.loads(f.read_text())
    assert raw["count"] == 7 and "results" in raw  # stored before unwrapping, as ONE does
    assert isinstance(expiry, str)
    assert "GET /sessions?subject=KS005" in fake.paths


def test_reads_one_fixture_cache(make_client: Callable[..., AlyxClient],
                                 fixture_cache: Path, fake: FakeAlyx) -> None:
    client = make_client(cache_dir=fixture_cache, password=None, token="saved-token")
    types = client.rest("dataset-types")
    assert len(types) == 7 and {"name": "wheel.position"}.items() <= types[1].items()
    with outcome.recording() as rec:
        ins = client.rest("insertions", "read", id="b529f2d8-cdae-4d59-aba2-cbd1b5572e36")
    assert ins["session"] == "fc737f3c-2a57-4165-9763-905413e7e341"
    assert rec.source == "REST cache"
    assert fake.requests == []  # everything came from ONE's cache, not even a login


def test_a_password_given_logs_in_even_when_the_answer_is_cached(
        make_client: Callable[..., AlyxClient], fixture_cache: Path, fake: FakeAlyx) -> None:
    """ONE logs in whenever a password is given: a saved token or a cached answer must not
    make a wrong password look right."""
    params.save_token(BASE, "demo", "saved-token")
    client = make_client(cache_dir=fixture_cache, password="wrong")
    with pytest.raises(AuthenticationError):
        client.rest("dataset-types")
    assert [r.method + " " + r.url.path for r in fake.requests] == ["POST /auth-token"]


# --- REST cache behaviour ---------------------------------------------------------------------


def test_warm_hit_makes_no_request(make_client: Callable[..., AlyxClient], fake: FakeAlyx) -> None:
    client = make_client()
    first = client.rest("sessions")
    n = len(fake.requests)
    with outcome.recording() as rec:
        second = client.rest("sessions")
    assert second == first and len(fake.requests) == n and rec.source == "REST cache"
    assert client.rest_cache_stats["hits"] == 3  # three pages


def test_expiry_is_24_hours(make_client: Callable[..., AlyxClient], tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    client = make_client()
    assert client.default_expiry == timedelta(hours=24)
    client.rest("sessions", subject="KS005")
    f = tmp_path / "cache" / ".rest" / "b4626d8c50e1531343fee3d514114f5515b2acb8"
    left = datetime.fromisoformat(json.loads(f.read_text())[1]) - datetime.now()
    assert timedelta(hours=23, minutes=59) < left <= timedelta(hours=24)


def test_no_cache_per_call_always_asks_and_expires(make_client: Callable[..., AlyxClient],
                                                   fake: FakeAlyx) -> None:
    client = make_client()
    client.rest("sessions", subject="KS005")
    n = len(fake.requests)
    with outcome.recording() as rec:
        client.rest("sessions", subject="KS005", no_cache=True)
    assert len(fake.requests) == n + 3 and rec.source == "Alyx" and not rec.cached
    client.rest("sessions", subject="KS005")  # stored already expired -> asked again
    assert len(fake.requests) == n + 6


def test_no_cache_context_reads_and_writes_nothing(make_client: Callable[..., AlyxClient],
                                                   fake: FakeAlyx, tmp_path: Path) -> None:
    client = make_client()
    client.rest("sessions")
    n, entries = len(fake.requests), client.rest_cache_stats["entries"]
    with no_cache(client):
        client.rest("sessions")
        client.rest("sessions", subject="new")
    assert len(fake.requests) == n + 6
    assert client.rest_cache_stats["entries"] == entries
    assert client.cache_rest == "GET"


def test_cache_rest_none_creates_no_folder(make_client: Callable[..., AlyxClient],
                                           tmp_path: Path) -> None:
    client = make_client(cache_rest=None)
    client.rest("sessions")
    assert not (tmp_path / "cache" / ".rest").exists()
    assert client.rest_cache_stats["enabled"] is False


def test_stale_entry_returned_when_offline(make_client: Callable[..., AlyxClient],
                                           fake: FakeAlyx) -> None:
    client = make_client()
    client.rest("sessions", subject="KS005", expires=True)  # cached but already stale
    fake.down = True
    with outcome.recording() as rec:
        rows = client.rest("sessions", subject="KS005")
    assert len(rows) == 7 and rec.source == "REST cache" and rec.stale
    assert "Failed to connect, returning cached response" in rec.notices
    with pytest.raises(AlyxConnectionError):  # never under no_cache
        client.rest("sessions", subject="KS005", no_cache=True)


def test_connection_error_message(make_client: Callable[..., AlyxClient], fake: FakeAlyx) -> None:
    fake.down = True
    with pytest.raises(AlyxConnectionError) as info:
        make_client().rest("sessions")
    assert str(info.value).startswith(f"Can't connect to {BASE}.")
    assert "firewall" in str(info.value)


# --- authentication ---------------------------------------------------------------------------


def test_login_then_token_saved_and_reused(make_client: Callable[..., AlyxClient],
                                           fake: FakeAlyx, home: Path) -> None:
    client = make_client()
    client.rest("sessions", no_cache=True)
    login = fake.requests[0]
    assert login.method == "POST" and login.url.path == "/auth-token"
    assert login.headers["Content-Type"] == "application/x-www-form-urlencoded"
    get = fake.requests[1]
    assert get.headers["Authorization"] == f"Token {TOKEN}"
    assert get.headers["Accept"] == "application/json"
    f = home / ".one" / f".{params.client_key(BASE)}"
    assert json.loads(f.read_text())["TOKEN"] == {"demo": {"token": TOKEN}}
    assert stat.S_IMODE(f.stat().st_mode) == 0o600

    fake.requests.clear()
    again = make_client(password=None)  # a new run: the saved token, no login call
    again.rest("sessions", no_cache=True)
    assert all(r.url.path != "/auth-token" for r in fake.requests)
    assert again.is_logged_in and again.user == "demo"


def test_invalid_token_logs_in_again_once(make_client: Callable[..., AlyxClient],
                                          fake: FakeAlyx) -> None:
    client = make_client()
    client.authenticate()
    fake.valid_tokens = {"fresh"}  # an admin revoked the token; the next login gives a new one
    fake.token = "fresh"
    fake.requests.clear()
    assert len(client.rest("sessions", no_cache=True)) == 7
    assert [p.split("?")[0] for p in fake.paths[:3]] == [
        "GET /sessions", "POST /auth-token", "GET /sessions"]
    assert params.get_settings(BASE).token_for("demo") == "fresh"


def test_invalid_token_relogin_with_one_stored_password(
    make_client: Callable[..., AlyxClient], fake: FakeAlyx, home: Path
) -> None:
    f = home / ".one" / f".{params.client_key(BASE)}"
    f.parent.mkdir()
    f.write_text(json.dumps({"ALYX_URL": BASE, "ALYX_LOGIN": "demo", "ALYX_PWD": PASSWORD,
                             "TOKEN": {"demo": {"token": "revoked"}}}))
    client = make_client(username=None, password=None)
    assert len(client.rest("sessions", no_cache=True)) == 7
    assert fake.paths.count("POST /auth-token") == 1
    assert json.loads(f.read_text())["ALYX_PWD"] == PASSWORD  # ONE's key left alone


def test_invalid_token_without_password_needs_login(make_client: Callable[..., AlyxClient],
                                                    fake: FakeAlyx) -> None:
    params.save_token(BASE, "demo", "revoked")
    client = make_client(password=None)
    with pytest.raises(LoginRequired):
        client.rest("sessions")
    assert params.get_settings(BASE).token_for("demo") is None  # the bad token is forgotten


def test_no_credentials_needs_login(make_client: Callable[..., AlyxClient],
                                    fake: FakeAlyx) -> None:
    with pytest.raises(LoginRequired):
        make_client(username=None, password=None).rest("sessions")
    with pytest.raises(LoginRequired):
        make_client(password=None).rest("sessions")
    # nothing but a look whether Alyx answers at all (an unreachable one is not "login needed")
    assert [(r.method, r.url.path) for r in fake.requests] == [("GET", "/")]


def test_bad_password_is_authentication_error(make_client: Callable[..., AlyxClient],
                                              caplog: pytest.LogCaptureFixture,
                                              home: Path, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wr0ng-" + PASSWORD
    client = make_client(password=wrong)
    with pytest.raises(AuthenticationError) as info:
        client.rest("sessions")
    msg = str(info.value)
    assert info.value.status_code == 400
    assert "Alyx authentication failed with credentials: user = demo, password = ****" in msg
    # the password is nowhere: exception, repr, logs, files
    assert wrong not in msg and wrong not in repr(client) and PASSWORD not in repr(client)
    assert all(wrong not in r.getMessage() for r in caplog.records)
    for f in [*home.rglob("*"), *tmp_path.rglob("*")]:
        if f.is_file():
            assert wrong.encode() not in f.read_bytes()


def test_password_never_written_or_logged(make_client: Callable[..., AlyxClient],
                                          caplog: pytest.LogCaptureFixture, home: Path,
                                          tmp_path: Path, fake: FakeAlyx) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client()
    client.rest("sessions")
    fake.down = True
    with pytest.raises(AlyxConnectionError) as info:
        client.rest("labs")
    assert PASSWORD not in str(info.value)
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)
    for f in [*home.rglob("*"), *tmp_path.rglob("*")]:
        if f.is_file():
            assert PASSWORD.encode() not in f.read_bytes(), f


def test_read_only(make_client: Callable[..., AlyxClient], fake: FakeAlyx) -> None:
    for action in ("create", "update", "partial_update", "delete"):
        with pytest.raises(ReadOnlyError, match="one-tui only reads from Alyx"):
            make_client().rest("sessions", action, id="x")
    assert fake.requests == []


def test_logout_forgets_token_and_cache(make_client: Callable[..., AlyxClient]) -> None:
    client = make_client()
    client.rest("sessions")
    client.logout()
    assert not client.is_logged_in and client.rest_cache_stats["entries"] == 0
    assert params.get_settings(BASE).token_for("demo") is None


# --- errors and throttling ----------------------------------------------------------------------


def test_http_errors_carry_alyx_detail(make_client: Callable[..., AlyxClient],
                                       fake: FakeAlyx) -> None:
    fake.routes["/insertions/abc"] = lambda r: httpx.Response(
        404, json={"detail": "No ProbeInsertion matches the given query.", "status_code": 404})
    client = make_client()
    with pytest.raises(HTTPError) as info:
        client.rest("insertions", "read", id="abc")
    assert str(info.value) == (
        "[Errno 404] /insertions/abc: 'No ProbeInsertion matches the given query.'")
    with pytest.raises(HTTPError) as info:
        client.rest("nowhere")
    assert info.value.detail == "Not Found"  # the HTML page's title, one line


def test_malformed_json_is_clear(make_client: Callable[..., AlyxClient], fake: FakeAlyx) -> None:
    fake.routes["/labs"] = lambda r: httpx.Response(200, text='{"count": 3, "resu')
    with pytest.raises(AlyxError, match="not valid JSON"):
        make_client().rest("labs")


def test_429_retry_after_is_honoured(make_client: Callable[..., AlyxClient],
                                     fake: FakeAlyx) -> None:
    calls: list[float] = []

    def throttled(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) < 3:
            return httpx.Response(429, headers={"Retry-After": "0.02"},
                                  json={"detail": "Request was throttled."})
        return httpx.Response(200, json=[{"name": "cortexlab"}])

    fake.routes["/labs"] = throttled
    assert make_client().rest("labs") == [{"name": "cortexlab"}]
    assert len(calls) == 3 and calls[2] - calls[0] >= 0.04


def test_429_gives_up_after_max_retries(make_client: Callable[..., AlyxClient],
                                        fake: FakeAlyx) -> None:
    fake.routes["/labs"] = lambda r: httpx.Response(
        503, headers={"Retry-After": "3600"}, json={"detail": "busy"})
    t0 = time.monotonic()
    with pytest.raises(HTTPError) as info:
        make_client(max_retries=2).rest("labs")
    assert info.value.status_code == 503 and time.monotonic() - t0 < 1  # wait capped
    assert fake.paths.count("GET /labs") == 3


# --- pagination -------------------------------------------------------------------------------


def test_pages_fetched_like_one(make_client: Callable[..., AlyxClient], fake: FakeAlyx) -> None:
    seen: list[tuple[int, int]] = []
    rows = make_client().rest("sessions", subject="KS005", on_page=lambda n, c: seen.append((n, c)))
    assert rows == SESSIONS
    assert seen == [(3, 7), (6, 7), (7, 7)]
    gets = [p for p in fake.paths if p.startswith("GET")]
    assert gets == [
        "GET /sessions?subject=KS005",
        "GET /sessions?subject=KS005&limit=3&offset=3",
        "GET /sessions?subject=KS005&limit=3&offset=6",
    ]


def test_page_cache_keys_are_full_next_urls(make_client: Callable[..., AlyxClient],
                                            tmp_path: Path) -> None:
    from one_tui.engine.remote.rest_cache import cache_key

    make_client().rest("sessions", subject="KS005")
    names = {p.name for p in (tmp_path / "cache" / ".rest").iterdir()}
    assert cache_key(f"{BASE}/sessions?subject=KS005&limit=3&offset=3") in names
    assert cache_key("/sessions?subject=KS005") in names


def test_cancel_between_pages_returns_promptly(make_client: Callable[..., AlyxClient],
                                               fake: FakeAlyx) -> None:
    fake.page_delay = 0.3
    cancel = threading.Event()
    client = make_client()
    client.authenticate()
    t0 = time.monotonic()
    with outcome.recording() as rec:
        rows = client.rest("sessions", cancel=cancel, on_page=lambda n, c: cancel.set())
    assert rows == SESSIONS[:3] and rec.cancelled
    assert time.monotonic() - t0 < 0.5  # one page, not three


def test_cancel_during_retry_wait(make_client: Callable[..., AlyxClient], fake: FakeAlyx) -> None:
    fake.routes["/labs"] = lambda r: httpx.Response(429, headers={"Retry-After": "30"})
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    client = make_client(max_retry_wait=10)
    t0 = time.monotonic()
    with outcome.recording() as rec:
        assert client.rest("labs", cancel=cancel) == []
    assert rec.cancelled and time.monotonic() - t0 < 2


def test_count_change_warns_and_continues(make_client: Callable[..., AlyxClient],
                                          fake: FakeAlyx) -> None:
    original = fake.sessions

    def drifting(request: httpx.Request) -> httpx.Response:
        rep = original(request)
        body = rep.json()
        if "offset" in request.url.params:
            body["count"] = 8
        return httpx.Response(200, json=body)

    fake.routes["/sessions"] = drifting
    client = make_client()
    assert len(client.rest("sessions")) == 7
    assert any("/sessions endpoint changed; results may be inconsistent" in n
               for n in client.notices.pending)


# --- cache tables download ----------------------------------------------------------------------


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_download_cache_tables(make_client: Callable[..., AlyxClient], fake: FakeAlyx,
                               tmp_path: Path) -> None:
    payload = _zip_bytes({"sessions.pqt": b"S" * 5000, "datasets.pqt": b"D" * 9000,
                          "cache_info.json": b"{}"})
    fake.routes["/cache.zip"] = lambda r: httpx.Response(200, content=payload)
    dest = tmp_path / "tables"
    progress: list[tuple[int, int]] = []
    client = make_client()
    files = client.download_cache_tables(
        None, dest, on_progress=lambda d, t: progress.append((d, t))
    )
    assert sorted(f.name for f in files) == ["cache_info.json", "datasets.pqt", "sessions.pqt"]
    assert all(f.is_relative_to(dest) and f.parent != dest for f in files)
    assert (files[0].parent.parent.parent == dest)
    assert progress[-1] == (len(payload), len(payload))
    zip_req = next(r for r in fake.requests if r.url.path == "/cache.zip")
    assert zip_req.headers["Authorization"] == f"Token {TOKEN}"
    shutil.rmtree(files[0].parent.parent)


def test_token_only_sent_to_own_alyx(make_client: Callable[..., AlyxClient], fake: FakeAlyx,
                                     tmp_path: Path) -> None:
    payload = _zip_bytes({"sessions.pqt": b"S"})
    fake.routes["/tables/cache.zip"] = lambda r: httpx.Response(200, content=payload)
    files = make_client(password=None, username=None).download_cache_tables(
        "http://s3.test/tables/cache.zip", tmp_path / "t")
    assert [f.name for f in files] == ["sessions.pqt"]
    assert "Authorization" not in fake.requests[-1].headers


def test_truncated_zip_leaves_dest_untouched(make_client: Callable[..., AlyxClient],
                                             fake: FakeAlyx, tmp_path: Path) -> None:
    payload = _zip_bytes({"sessions.pqt": b"S" * 50_000})
    fake.routes["/cache.zip"] = lambda r: httpx.Response(200, content=payload[: len(payload) // 2])
    dest = tmp_path / "tables"
    dest.mkdir()
    (dest / "sessions.pqt").write_bytes(b"old")
    with pytest.raises(AlyxError, match="not a complete zip file"):
        make_client().download_cache_tables(None, dest)
    assert [p.name for p in dest.iterdir()] == ["sessions.pqt"]
    assert (dest / "sessions.pqt").read_bytes() == b"old"


def test_download_cancel(make_client: Callable[..., AlyxClient], fake: FakeAlyx,
                         tmp_path: Path) -> None:
    payload = _zip_bytes({"sessions.pqt": bytes(range(256)) * 2000})
    fake.routes["/cache.zip"] = lambda r: httpx.Response(200, content=payload)
    cancel = threading.Event()
    cancel.set()
    client = make_client()
    with outcome.recording() as rec:
        assert client.download_cache_tables(None, tmp_path, cancel=cancel) == []
    assert rec.cancelled and not list(tmp_path.glob(".one-tui-download-*"))


def test_download_relogs_in_on_invalid_token(make_client: Callable[..., AlyxClient],
                                             fake: FakeAlyx, tmp_path: Path) -> None:
    payload = _zip_bytes({"sessions.pqt": b"S"})

    def guarded(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != "Token fresh":
            return httpx.Response(403, json={"detail": "Invalid token.", "status_code": 403})
        return httpx.Response(200, content=payload)

    fake.routes["/cache.zip"] = guarded
    client = make_client()
    client.authenticate()
    fake.token = "fresh"
    files = client.download_cache_tables(None, tmp_path / "t")
    assert [f.name for f in files] == ["sessions.pqt"]


# --- real loopback against the demo Alyx server ---------------------------------------------------


@pytest.fixture(scope="module")
def demo_db(make_db: Any) -> Any:
    return make_db(50, 0)


@pytest.fixture
def demo(demo_db: Any, demo_server: Any) -> Any:
    return demo_server(demo_db)


def demo_client(server: Any, tmp_path: Path, **kw: Any) -> AlyxClient:
    kw.setdefault("username", "demo")
    kw.setdefault("password", "demo")
    return AlyxClient(server.url, cache_dir=tmp_path / "cache", max_retry_wait=0.05, **kw)


def test_demo_login_and_pagination(demo: Any, home: Path, tmp_path: Path) -> None:
    client = demo_client(demo, tmp_path)
    seen: list[tuple[int, int]] = []
    rows = client.rest("sessions", limit=20, on_page=lambda n, c: seen.append((n, c)))
    assert len(rows) == 50 and len({r["id"] for r in rows}) == 50
    assert seen == [(20, 50), (40, 50), (50, 50)]
    assert demo.requests[0].startswith("POST /auth-token")
    assert [r for r in demo.requests if r.startswith("GET /sessions")] == [
        "GET /sessions?limit=20",
        "GET /sessions?limit=20&offset=20",
        "GET /sessions?limit=20&offset=40",
    ]
    n = len(demo.requests)
    again = demo_client(demo, tmp_path, password=None)  # saved token, warm REST cache
    with outcome.recording() as rec:
        assert again.rest("sessions", limit=20) == rows
    assert len(demo.requests) == n and rec.source == "REST cache"


def test_demo_bad_password(demo: Any, home: Path, tmp_path: Path) -> None:
    with pytest.raises(AuthenticationError, match="user = demo, password = \\*\\*\\*\\*"):
        demo_client(demo, tmp_path, password="not-the-password").rest("sessions")


def test_demo_download_cache_tables(demo: Any, home: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    client = demo_client(demo, tmp_path)
    info = client.cache_info()
    files = client.download_cache_tables(info.get("location"), tmp_path / "tables")
    names = {f.name for f in files}
    assert {"sessions.pqt", "datasets.pqt"} <= names
    sessions = next(f for f in files if f.name == "sessions.pqt")
    assert pq.read_metadata(sessions).num_rows == 50


def test_demo_truncated_zip(demo: Any, home: Path, tmp_path: Path) -> None:
    demo.faults.truncated_zip = True
    dest = tmp_path / "tables"
    with pytest.raises(AlyxError) as info:
        demo_client(demo, tmp_path).download_cache_tables(None, dest)
    assert "untouched" in str(info.value)
    assert list(dest.iterdir()) == []


def test_demo_server_gone_uses_stale_cache(demo: Any, home: Path, tmp_path: Path) -> None:
    client = demo_client(demo, tmp_path)
    rows = client.rest("sessions", limit=100, expires=True)
    client.close()
    demo.stop()
    offline = demo_client(demo, tmp_path, password=None)  # saved token: no login needed
    with outcome.recording() as rec:
        assert offline.rest("sessions", limit=100) == rows
    assert rec.stale
    assert "Failed to connect, returning cached response" in rec.notices
    with pytest.raises(AlyxConnectionError):
        offline.rest("sessions", limit=100, no_cache=True)


def test_next_url_from_a_proxy_goes_to_our_alyx(make_client: Callable[..., AlyxClient],
                                                fake: FakeAlyx) -> None:
    original = fake.sessions

    def proxied(request: httpx.Request) -> httpx.Response:
        body = original(request).json()
        if body["next"]:
            body["next"] = body["next"].replace(BASE, "http://internal:8000")
        return httpx.Response(200, json=body)

    fake.routes["/sessions"] = proxied
    assert make_client().rest("sessions") == SESSIONS
    assert {r.url.host for r in fake.requests} == {"alyx.test"}


def test_demo_invalid_token_relogin(demo: Any, home: Path, tmp_path: Path) -> None:
    client = demo_client(demo, tmp_path)
    client.rest("labs", no_cache=True)
    old = params.get_settings(demo.url).token_for("demo")
    demo.faults.invalid_token = True
    assert client.rest("labs", no_cache=True)
    assert demo.requests.count("POST /auth-token") == 2
    assert params.get_settings(demo.url).token_for("demo") not in (None, old)


def test_demo_throttled_then_served(demo: Any, home: Path, tmp_path: Path) -> None:
    client = demo_client(demo, tmp_path)
    client.authenticate()
    demo.faults.retry_after = 1
    demo.faults.status_429 = 2  # the next two requests are throttled
    t0 = time.monotonic()
    assert client.rest("labs")
    assert time.monotonic() - t0 < 1  # waits capped by max_retry_wait in tests
    assert [r for r in demo.requests if r.startswith("GET /labs")] == ["GET /labs"] * 3


@pytest.mark.parametrize(
    "fault, error, text",
    [
        ("status_500", HTTPError, "[Errno 500]"),
        ("status_500_html", HTTPError, "[Errno 500]"),
        ("malformed_json", AlyxError, "not valid JSON"),
        ("drop_connections", AlyxConnectionError, "Can't connect to"),
    ],
)
def test_demo_faults_are_one_line_errors(demo: Any, home: Path, tmp_path: Path, fault: str,
                                         error: type[Exception], text: str) -> None:
    client = demo_client(demo, tmp_path)
    client.authenticate()
    setattr(demo.faults, fault, True)
    with pytest.raises(error) as info:
        client.rest("labs", no_cache=True)
    msg = str(info.value)
    assert text in msg and "\n" not in msg and len(msg) < 400


def test_demo_count_drift_warns(demo: Any, home: Path, tmp_path: Path) -> None:
    demo.faults.count_drift = True
    client = demo_client(demo, tmp_path)
    rows = client.rest("sessions", limit=20)
    assert len(rows) == 50
    assert any("endpoint changed" in n for n in client.notices.pending)


def test_demo_on_records_gets_each_page_before_the_next_is_requested(
        demo: Any, home: Path, tmp_path: Path) -> None:
    client = demo_client(demo, tmp_path)
    events: list[tuple[str, Any]] = []

    def on_records(page: list[dict]) -> None:
        asked = [r for r in demo.requests if r.startswith("GET /sessions")]
        events.append(("records", ([r["id"] for r in page], len(asked))))

    rows = client.rest("sessions", limit=20, on_records=on_records,
                       on_page=lambda n, c: events.append(("page", n)))
    pages = [e[1] for e in events if e[0] == "records"]
    assert [ids for ids, _ in pages] == [[r["id"] for r in rows[i:i + 20]] for i in (0, 20, 40)]
    assert [asked for _, asked in pages] == [1, 2, 3]  # page k seen while k requests were made
    assert [e[0] for e in events] == ["records", "page"] * 3  # records before the count


def test_overlapping_calls_each_record_their_own_source(demo: Any, home: Path,
                                                         tmp_path: Path) -> None:
    """Two overlapping calls on one client: each call's record says where its own answer came
    from, whatever the other did meanwhile (nothing is kept on the shared client)."""
    client = demo_client(demo, tmp_path)
    client.rest("sessions", limit=10)  # now in the REST cache
    seen: dict[str, str] = {}
    alyx_done, cached_done = threading.Event(), threading.Event()

    def from_alyx() -> None:
        with outcome.recording() as rec:
            client.rest("sessions", limit=7)
            alyx_done.set()
            cached_done.wait(5)
        seen["alyx"] = rec.source

    def from_cache() -> None:
        alyx_done.wait(5)
        with outcome.recording() as rec:
            client.rest("sessions", limit=10)
        cached_done.set()
        seen["cache"] = rec.source

    threads = [threading.Thread(target=from_alyx), threading.Thread(target=from_cache)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"alyx": "Alyx", "cache": "REST cache"}
