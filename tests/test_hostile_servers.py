"""Issue 16, classes 5 and 6: a hostile Alyx, hostile files, and where the token and paths go.

A tiny server of our own on a free loopback port plays the hostile part (the demo Alyx is too
well-behaved to): JSON nested 100,000 deep, a gzip bomb, a body sent one byte at a time, a
count of 10^9 with every page full, a ``cache.zip`` location on another origin whose URL starts
with the base URL's text. Each test states what the user is promised: one line, no traceback,
bounded memory and time, the token kept to its origin, nothing outside the cache folder.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from one_tui.engine.core.bounded import Limits
from one_tui.engine.core.errors import AlyxConnectionError, AlyxError, LoginRequired
from one_tui.engine.remote.client import AlyxClient
from one_tui.engine.remote.rest_cache import cache_key

DEEP = "[" * 100_000 + "]" * 100_000
TOKEN = "f" * 40
Handler = Callable[[BaseHTTPRequestHandler], None]


def send_json(h: BaseHTTPRequestHandler, body: str | bytes, status: int = 200,
              headers: dict[str, str] | None = None) -> None:
    data = body.encode() if isinstance(body, str) else body
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


class Hostile:
    """A loopback HTTP server whose GET answers are ``self.get`` (the test sets it); POST
    /auth-token gives a token. ``seen`` keeps (path, Authorization header) of each request."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.get: Handler = lambda h: send_json(h, "{}")
        self.seen: list[tuple[str, str | None]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.seen.append((self.path, self.headers.get("Authorization")))
                try:
                    outer.get(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                send_json(self, json.dumps({"token": TOKEN}))

        class Server(ThreadingHTTPServer):
            def handle_error(self, *_a: Any) -> None:  # a client hanging up is the point
                pass

        self.httpd = Server((host, 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    srv = Hostile()
    yield srv
    srv.close()


def client_of(srv: Hostile, cache: Path, **kw: Any) -> AlyxClient:
    kw.setdefault("timeout", (2.0, 5.0))
    return AlyxClient(srv.url, username="u", password="p", cache_dir=cache, **kw)


def finished(target: Callable[[], Any], within: float = 60.0) -> Any:
    """Run ``target`` in a thread; its result or exception, or AssertionError if it is still
    running after ``within`` seconds (what an unbounded read does)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = target()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(within)
    assert not t.is_alive(), f"still running after {within:.0f} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


# --- class 5: unbounded input ---------------------------------------------------------------

def test_deeply_nested_json_from_alyx_is_one_line(hostile: Hostile, tmp_path: Path,
                                                  home: Path) -> None:
    hostile.get = lambda h: send_json(h, DEEP)
    with pytest.raises(AlyxError) as info:
        client_of(hostile, tmp_path).rest("sessions", subject="KS005")
    assert "deep" in str(info.value) and "\n" not in str(info.value)


def test_a_deeply_nested_error_page_is_one_line(hostile: Hostile, tmp_path: Path,
                                                 home: Path) -> None:
    from one_tui.engine.core.errors import HTTPError

    hostile.get = lambda h: send_json(h, DEEP, status=500)
    with pytest.raises(HTTPError) as info:
        client_of(hostile, tmp_path, max_retries=0).rest("sessions", subject="KS005")
    assert "500" in str(info.value) and len(str(info.value)) < 400


def test_a_deeply_nested_rest_cache_entry_is_removed_with_a_notice(hostile: Hostile,
                                                                   tmp_path: Path,
                                                                   home: Path) -> None:
    records = [{"id": "a", "subject": "KS005"}]
    hostile.get = lambda h: send_json(h, json.dumps(records))
    entry = tmp_path / ".rest" / cache_key("/sessions?subject=KS005")
    entry.parent.mkdir()
    entry.write_text(f'[{DEEP}, "2999-01-01T00:00:00"]')
    client = client_of(hostile, tmp_path)
    assert client.rest("sessions", subject="KS005") == records
    assert any("REST cache entry" in n and str(entry) in n for n in client.notices.pending)
    assert json.loads(entry.read_text())[0] == records  # replaced by Alyx's answer


@pytest.mark.parametrize("cached", ["a string", {"count": 1}, [1, 2, 3]],
                         ids=["string", "half-envelope", "read-as-list"])
def test_a_rest_cache_entry_of_the_wrong_shape_is_removed_and_alyx_not_blamed(
        hostile: Hostile, tmp_path: Path, home: Path, cached: Any) -> None:
    page = {"count": 1, "next": None, "results": [{"id": "a", "subject": "KS005"}]}
    record = {"id": "a", "subject": "KS005"}
    hostile.get = lambda h: send_json(h, json.dumps(record if "/sessions/a" in h.path else page))
    query = "/sessions/a" if isinstance(cached, list) else "/sessions?subject=KS005"
    entry = tmp_path / ".rest" / cache_key(query)
    entry.parent.mkdir()
    entry.write_text(json.dumps([cached, "2999-01-01T00:00:00"]))
    client = client_of(hostile, tmp_path)
    if isinstance(cached, list):
        assert client.rest("sessions", "read", id="a") == record
    else:
        assert client.rest("sessions", subject="KS005") == page["results"]
    notes = client.notices.pending
    assert any("wrong-shape REST cache entry" in n for n in notes), notes
    assert not any("Alyx sent" in n for n in notes)


def test_deeply_nested_one_settings_are_one_line_naming_the_file(home: Path) -> None:
    from one_tui.engine import params

    (home / ".one").mkdir()
    (home / ".one" / ".caches").write_text(DEEP)
    place = params.resolve_place()
    assert place.problem is not None and ".caches" in place.problem
    assert "\n" not in place.problem


def bomb(size: int) -> bytes:
    """gzip of ``size`` zero bytes, built chunk by chunk (about size/1000 on the wire)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    parts = [comp.compress(chunk) for _ in range(size >> 20)]
    return b"".join([*parts, comp.flush()])


PEAK = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_a_gzip_bomb_does_not_inflate_in_memory(hostile: Hostile, tmp_path: Path,
                                                home: Path) -> None:
    body = bomb(1536 << 20)  # 1.5 GiB of zeros in ~1.5 MB
    hostile.get = lambda h: send_json(h, body, headers={"Content-Encoding": "gzip"})
    cmd = [sys.executable, "-m", "one_tui", "search", "--mode", "remote", "--base-url",
           hostile.url, "--cache-dir", str(tmp_path), "--username", "u"]
    env = {**dict(__import__("os").environ), "ONE_TUI_PASSWORD": "p"}
    out = subprocess.run([sys.executable, "-c", PEAK, *cmd], capture_output=True, text=True,
                         timeout=300, env=env)
    peak_mb = int(out.stdout.split()[-1]) / 1024  # ru_maxrss is in kB on Linux
    assert peak_mb < 700, f"peak {peak_mb:.0f} MB"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert "Traceback" not in proc.stderr and "MB" in proc.stderr, proc.stderr


def no_length(body: bytes) -> Handler:
    """A 200 whose body is delimited by the connection closing (no Content-Length)."""
    def send(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\n"
                      b"Connection: close\r\n\r\n")
        for i in range(0, len(body), 1 << 16):
            h.wfile.write(body[i:i + (1 << 16)])
        h.close_connection = True
    return send


def test_a_tables_zip_of_no_stated_size_stops_at_the_cap(hostile: Hostile, tmp_path: Path,
                                                          home: Path) -> None:
    """cache.zip sent without a Content-Length was written to disk for as long as the server
    sent it (a full disk, not an error); now it stops past the cap, says so, leaves nothing."""
    hostile.get = no_length(bytes(8 << 20))
    client = client_of(hostile, tmp_path, limits=Limits(max_tables_zip=1 << 20))
    dest = tmp_path / "dl"
    with pytest.raises(AlyxError) as err:
        finished(lambda: client.download_cache_tables(None, dest))
    assert "without saying its size" in str(err.value) and "\n" not in str(err.value)
    assert not list(dest.iterdir())  # the temporary folder is gone


def test_a_tables_zip_that_would_unzip_past_the_cap_is_refused(hostile: Hostile,
                                                                 tmp_path: Path,
                                                                 home: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("sessions.pqt", bytes(4 << 20))  # 4 MB of zeros in ~4 kB
    body = buf.getvalue()
    hostile.get = lambda h: send_json(h, body)
    client = client_of(hostile, tmp_path, limits=Limits(max_tables_zip=1 << 20))
    dest = tmp_path / "dl"
    with pytest.raises(AlyxError) as err:
        finished(lambda: client.download_cache_tables(None, dest))
    assert "would unzip to 4,194,304 bytes" in str(err.value)
    assert not list(dest.iterdir())


def trickle(h: BaseHTTPRequestHandler, headers_too: bool = False) -> None:
    """A response that never ends: one byte every 0.2 s (each read well within its timeout)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 999999\r\n\r\n"
    if not headers_too:
        h.wfile.write(head)
        head = b"[" + b" " * 999998
    for byte in head:
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.2)


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_server_sending_one_byte_at_a_time_is_cut_off(hostile: Hostile, tmp_path: Path,
                                                        home: Path, headers_too: bool) -> None:
    from one_tui.engine.core.bounded import Limits

    hostile.get = lambda h: trickle(h, headers_too)
    client = client_of(hostile, tmp_path, limits=Limits(max_seconds=3))
    client.ensure_auth()
    with pytest.raises(AlyxConnectionError) as info:
        finished(lambda: client.rest("sessions", subject="KS005"))
    assert "took more than 3 s" in str(info.value)


def test_a_count_of_a_thousand_million_with_full_pages_is_refused(hostile: Hostile,
                                                                  tmp_path: Path,
                                                                  home: Path) -> None:
    def full_page(h: BaseHTTPRequestHandler) -> None:
        rows = [{"id": f"{h.path}-{i}", "subject": "KS005"} for i in range(2)]
        send_json(h, json.dumps({"count": 10**9, "next": f"{hostile.url}/sessions?limit=2&"
                                 "offset=2", "results": rows}))

    hostile.get = full_page
    client = client_of(hostile, tmp_path)
    with pytest.raises(AlyxError) as info:
        finished(lambda: client.rest("sessions"))
    assert "1,000,000,000" in str(info.value)
    assert len(list((tmp_path / ".rest").iterdir())) <= 1


# --- class 6: secrets and paths -------------------------------------------------------------

def test_the_token_never_goes_to_another_origin_whose_url_starts_like_alyx(
        tmp_path: Path, home: Path) -> None:
    elsewhere = Hostile("127.0.0.12")  # another host (on loopback) whose URL starts like...
    try:
        elsewhere.get = lambda h: send_json(h, b"not a zip")
        base = "http://127.0.0.1"  # ...this Alyx's (no request is made to it: the token is held)
        location = f"{elsewhere.url}/cache.zip"
        assert location.startswith(base)
        client = AlyxClient(base, username="u", token=TOKEN, cache_dir=tmp_path)
        with pytest.raises(AlyxError):
            client.download_cache_tables(location, tmp_path / "dl")
        assert elsewhere.seen, "the download did not reach the other origin"
        assert all(auth is None for _, auth in elsewhere.seen), elsewhere.seen
    finally:
        elsewhere.close()


def test_a_token_holding_a_newline_is_reported_as_such(hostile: Hostile, tmp_path: Path,
                                                       home: Path) -> None:
    hostile.get = lambda h: send_json(h, "[]")
    client = AlyxClient(hostile.url, username="u", token="abc\ndef", cache_dir=tmp_path)
    with pytest.raises(LoginRequired) as info:
        client.rest("sessions", subject="KS005")
    assert "token" in str(info.value) and "\\n" in str(info.value)
    assert "connect" not in str(info.value).lower()


@pytest.mark.parametrize("rel_path", ["/etc/hostname", "../" * 20 + "etc/hostname",
                                      "alf/" + "../" * 20 + "etc/hostname"])
def test_the_on_disk_check_never_looks_outside_the_cache_folder(tmp_path: Path,
                                                                rel_path: str) -> None:
    from one_tui.engine.local.ondisk import check_datasets

    assert Path("/etc/hostname").exists()
    session = {"lab": "cortexlab", "subject": "KS005", "date": "2024-01-01", "number": 1}
    (tmp_path / "cortexlab/Subjects/KS005/2024-01-01/001/alf").mkdir(parents=True)  # on disk
    found, totals = check_datasets(tmp_path, session, [{"rel_path": rel_path}])
    assert not found[0].present and totals.bytes_on_disk == 0


@pytest.mark.parametrize("field", ["subject", "lab"])
def test_session_fields_cannot_lead_outside_the_cache_folder(tmp_path: Path, field: str) -> None:
    from one_tui.engine.local.ondisk import check_datasets

    cache = tmp_path / "cache"
    cache.mkdir()
    if field == "subject":  # an absolute subject: /…/outside/2024-01-01/001/alf/x.npy
        session = {"subject": str(tmp_path / "outside"), "date": "2024-01-01", "number": 1}
        target = tmp_path / "outside" / "2024-01-01" / "001" / "alf" / "x.npy"
    else:  # a lab "..": <cache>/../Subjects/KS005/…
        session = {"lab": "..", "subject": "KS005", "date": "2024-01-01", "number": 1}
        target = tmp_path / "Subjects" / "KS005" / "2024-01-01" / "001" / "alf" / "x.npy"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"secret")
    found, totals = check_datasets(cache, session, [{"rel_path": "alf/x.npy"}])
    assert not found[0].present and totals.bytes_on_disk == 0
