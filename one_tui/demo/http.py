"""How the demo speaks HTTP: the request handler and the :class:`DemoServer` around it.

Exists so that sockets, keep-alive, fault injection, the auth header check, the pagination
envelope and its links, and JSON/HTML response writing change in one place, apart from what
each endpoint answers (``demo/views.py``) and what the filters select (``demo/query.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import math
import socket
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from one_tui.demo import synth
from one_tui.demo.faults import Faults
from one_tui.demo.filters import BadValue, FilterError
from one_tui.demo.query import DemoQueries
from one_tui.demo.views import _HTML_500, Views, _detail, _Reply


# --- the server -----------------------------------------------------------------------------------
class DemoServer(DemoQueries):
    """The demo Alyx. ``with DemoServer(db) as srv: httpx.get(srv.url + '/sessions', ...)``."""

    def __init__(self, db: synth.SyntheticDB, host: str = "127.0.0.1", port: int = 0,
                 users: dict[str, str] | None = None, page_size: int = 250,
                 max_limit: int = 1000) -> None:
        super().__init__(db)
        self.host = host
        self.port = port
        self.users = dict(users or {"demo": "demo"})
        self.page_size = page_size
        self.max_limit = max_limit
        self.faults = Faults()
        self._requests: list[str] = []
        self._lock = threading.Lock()
        self._zip_lock = threading.Lock()
        self._stopping = threading.Event()
        self._token_epoch = 0
        self._tables_date = db.date_created
        self._zip: tuple[dt.datetime, bytes, dict] | None = None
        self._throttle: dict[str, deque[float]] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()  # open keep-alive sockets, closed on stop

    # -- lifecycle --
    def start(self) -> DemoServer:
        """Bind (a free port when ``port=0``) and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"server_ref": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={
            "poll_interval": 0.05}, name="one-tui-demo-alyx", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; stalled responses are released and keep-alive connections closed.

        Closing the open connections matters: a client holding a keep-alive connection would
        otherwise still be answered, and a "server gone" test would pass against a live server.
        """
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        with self._lock:
            open_sockets, self._connections = list(self._connections), set()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- request log --
    @property
    def requests(self) -> list[str]:
        """A copy of ``"METHOD /path?query"`` of every request received so far."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _log(self, line: str) -> None:
        with self._lock:
            self._requests.append(line)

    # -- tokens --
    def token_for(self, username: str) -> str:
        """The user's current token (the same on every login until tokens are revoked)."""
        raw = f"{self.db.seed}:{username}:{self._token_epoch}".encode()
        return hashlib.sha1(raw).hexdigest()

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far ("Invalid token." until the client logs in)."""
        with self._lock:
            self._token_epoch += 1

    def user_of(self, token: str) -> str | None:
        for user in self.users:
            if self.token_for(user) == token:
                return user
        return None

    # -- cache tables --
    def set_tables_date(self, when: dt.datetime) -> None:
        """Pretend the cache tables were (re)built at ``when``: info and zip metadata follow."""
        with self._zip_lock:
            self._tables_date = when.replace(second=0, microsecond=0)

    @property
    def tables_date(self) -> dt.datetime:
        return self._tables_date

    def cache_zip(self) -> tuple[bytes, dict]:
        """The cache.zip bytes and cache_info for the current tables date (built once each)."""
        with self._zip_lock:
            when = self._tables_date
            if self._zip is None or self._zip[0] != when:
                blob = self.db.cache_zip_bytes(when)
                with zipfile.ZipFile(io.BytesIO(blob)) as zf:
                    info = json.loads(zf.read("cache_info.json"))
                self._zip = (when, blob, info)
            return self._zip[1], self._zip[2]

    def warm_up(self) -> None:
        """Build the zip and the filter indices now, not on the first request."""
        self.cache_zip()
        _ = self.dataset_index, self.session_view

    # -- faults --
    def _take(self, name: str, path: str) -> bool:
        """Whether switch ``name`` fires for this request (and count it down)."""
        if self.faults.paths and not path.startswith(tuple(self.faults.paths)):
            return False
        with self._lock:
            value = getattr(self.faults, name)
            if value is True:
                return True
            if isinstance(value, int) and value > 0:
                setattr(self.faults, name, value - 1)
                return True
            return False

    def _applies(self, path: str) -> bool:
        return not self.faults.paths or path.startswith(tuple(self.faults.paths))

    def _throttled(self, key: str) -> int | None:
        """Seconds to wait if ``key`` exceeded throttle_per_minute, else None."""
        rate = self.faults.throttle_per_minute
        if not rate:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._throttle.setdefault(key, deque())
            while hits and now - hits[0] >= 60:
                hits.popleft()
            if len(hits) >= rate:
                return max(1, math.ceil(60 - (now - hits[0])))
            hits.append(now)
            return None



# --- HTTP ---------------------------------------------------------------------------------------
class _Handler(Views, BaseHTTPRequestHandler):
    """One request: log it, apply faults, authenticate, route, answer like Alyx."""

    server_ref: DemoServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "one-tui-demo-alyx"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with self.server_ref._lock:
            self.server_ref._connections.add(self.connection)

    def finish(self) -> None:
        with self.server_ref._lock:
            self.server_ref._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        """Quiet: requests are recorded in ``DemoServer.requests`` instead."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    # -- plumbing --
    @property
    def srv(self) -> DemoServer:
        return self.server_ref

    def _handle(self) -> None:
        srv = self.srv
        srv._log(f"{self.command} {self.path}")
        if srv.faults.invalid_token:  # the switch: every token issued until now is revoked
            srv.faults.invalid_token = False
            srv.revoke_tokens()
        body = self._read_body()
        path = urlsplit(self.path).path
        try:
            if self._faults(path):
                return
            self._route(path, body)
        except _Reply as r:
            self._json(r.status, r.body, r.headers)
        except BadValue as e:
            self._json(400, {e.field: [e.message], "status_code": 400})
        except FilterError as e:
            self._json(500, {"status_code": 500, "detail": str(e)})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug in a view: answer as Django does, keep serving
            self._json(500, {"status_code": 500, "detail": f"{type(e).__name__}: {e}"})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _faults(self, path: str) -> bool:
        """Apply injected faults; True when the request was answered (or dropped)."""
        srv, f = self.srv, self.srv.faults
        if f.latency and srv._applies(path):
            srv._stopping.wait(f.latency)
        if srv._take("drop_connections", path):
            self.close_connection = True
            return True
        if path != "/auth-token":
            key = self.headers.get("Authorization") or self.client_address[0]
            wait = srv._throttled(key) if srv._applies(path) else None
            if wait is None and srv._take("status_429", path):
                wait = f.retry_after
            if wait is not None:
                raise _Reply(429, {"detail": f"Request was throttled. Expected available in "
                                             f"{wait} seconds.", "status_code": 429},
                             {"Retry-After": str(wait)})
        if srv._take("status_500", path):
            raise _Reply(500, {"status_code": 500, "detail": "Injected server error (demo)"})
        if srv._take("status_500_html", path):
            self._send(500, _HTML_500.encode(), "text/html; charset=utf-8")
            return True
        return False

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        srv = self.srv
        path = urlsplit(self.path).path
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        stall = srv.faults.read_timeout_after_bytes
        if stall is not None and srv._applies(path):
            self.wfile.write(body[:stall])
            self.wfile.flush()
            srv._stopping.wait(srv.faults.stall_seconds)
            self.close_connection = True
            return
        self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj, separators=(",", ":"), default=str, ensure_ascii=False).encode()
        if self.srv._take("malformed_json", urlsplit(self.path).path):
            body = body[: max(1, len(body) // 2)]
        self._send(status, body, "application/json", headers)

    @property
    def base(self) -> str:
        return f"http://{self.headers.get('Host') or self.srv.url.split('//', 1)[1]}"

    def _params(self) -> dict[str, str]:
        """Query parameters, the last value winning, blank ones dropped (django-filter)."""
        return {k: v for k, v in parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
                if v != ""}

    # -- auth --
    def _authenticate(self) -> str:
        srv = self.srv
        parts = (self.headers.get("Authorization") or "").split()
        if not parts or parts[0].lower() != "token":
            raise _detail(403, "Authentication credentials were not provided.")
        if len(parts) == 1:
            raise _detail(403, "Invalid token header. No credentials provided.")
        if len(parts) > 2:
            raise _detail(403, "Invalid token header. Token string should not contain spaces.")
        user = srv.user_of(parts[1])
        if user is None:
            raise _detail(403, "Invalid token.")
        return user

    # -- pagination --
    def _page(self, count: int, records: Callable[[int, int], list[dict]]) -> None:
        """Alyx's LimitOffsetPagination envelope with absolute, filter-keeping links."""
        params = self._params()
        limit = _positive(params.get("limit"), self.srv.page_size)
        limit = min(limit, self.srv.max_limit)
        offset = _positive(params.get("offset"), 0, allow_zero=True)
        results = records(offset, offset + limit) if offset < count else []
        nxt = self._link(limit, offset + limit) if offset + limit < count else None
        prev = None
        if offset > 0:
            prev = self._link(limit, offset - limit if offset - limit > 0 else None)
        shown = count + 1 if self.srv.faults.count_drift and offset > 0 else count
        self._json(200, {"count": shown, "next": nxt, "previous": prev, "results": results})

    def _link(self, limit: int, offset: int | None) -> str:
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        query["limit"] = [str(limit)]
        query.pop("offset", None)
        if offset is not None:
            query["offset"] = [str(offset)]
        return f"{self.base}{split.path}?{urlencode(sorted(query.items()), doseq=True)}"


def _positive(text: str | None, default: int, allow_zero: bool = False) -> int:
    try:
        value = int(text) if text is not None else default
    except ValueError:
        return default
    if value < 0 or (value == 0 and not allow_zero):
        return default
    return value
