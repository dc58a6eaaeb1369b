"""How the demo speaks HTTP: the :class:`DemoServer` and the request handler inside it.

Exists so that sockets, keep-alive, the request log and the transport faults (latency, dropped
connections, throttling, injected 500s, cut JSON, stalled bodies) change in one place, apart
from what each endpoint answers (``demo/router.py``) and what the filters select
(``demo/query.py``). The server is composed of parts, none mixed in: the database's
:class:`~one_tui.demo.query.DemoQueries`, the :class:`~one_tui.demo.auth.Accounts`, the
:class:`~one_tui.demo.tables.PublishedTables`, a :class:`~one_tui.demo.faults.FaultGate` and the
:class:`~one_tui.demo.router.Router` over them. The handler turns each request into a
:class:`~one_tui.demo.reply.Request`, asks :meth:`DemoServer.answer` and writes the reply.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from one_tui.demo.auth import Accounts
from one_tui.demo.faults import FaultGate, Faults
from one_tui.demo.query import DemoQueries
from one_tui.demo.reply import HTML_500, Reply, Request
from one_tui.demo.router import Paging, Router
from one_tui.demo.synth import SyntheticDB
from one_tui.demo.tables import PublishedTables

__all__ = ["DemoServer"]


class DemoServer:
    """The demo Alyx. ``with DemoServer(db) as srv: httpx.get(srv.url + '/sessions', ...)``."""

    def __init__(self, db: SyntheticDB, host: str = "127.0.0.1", port: int = 0,
                 users: dict[str, str] | None = None, page_size: int = 250,
                 max_limit: int = 1000) -> None:
        self.db = db
        self.host = host
        self.port = port
        self.faults = Faults()
        self.queries = DemoQueries(db)
        self.accounts = Accounts(users or {"demo": "demo"}, db.seed)
        self.tables = PublishedTables(db)
        self.gate = FaultGate(self.faults)
        self.router = Router(db, self.queries, self.accounts, self.tables, self.gate,
                             Paging(page_size, max_limit))
        self._requests: list[str] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()  # open keep-alive sockets, closed on stop

    # -- lifecycle --
    def start(self) -> DemoServer:
        """Bind (a free port when ``port=0``) and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"demo": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.gate.rearm()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={
            "poll_interval": 0.05}, name="one-tui-demo-alyx", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; stalled responses are released and keep-alive connections closed.

        Closing the open connections matters: a client holding a keep-alive connection would
        otherwise still be answered, and a "server gone" test would pass against a live server.
        """
        self.gate.release()
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

    @property
    def page_size(self) -> int:
        return self.router.paging.page_size

    @property
    def max_limit(self) -> int:
        return self.router.paging.max_limit

    # -- request log --
    @property
    def requests(self) -> list[str]:
        """A copy of ``"METHOD /path?query"`` of every request received so far."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- accounts --
    @property
    def users(self) -> dict[str, str]:
        """Username -> password of the accounts that may log in."""
        return self.accounts.users

    def token_for(self, username: str) -> str:
        """The user's current token (the same on every login until tokens are revoked)."""
        return self.accounts.token_for(username)

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far ("Invalid token." until the client logs in)."""
        self.accounts.revoke()

    def user_of(self, token: str) -> str | None:
        return self.accounts.user_of(token)

    # -- cache tables --
    def set_tables_date(self, when: dt.datetime) -> None:
        """Pretend the cache tables were (re)built at ``when``: info and zip metadata follow."""
        self.tables.set_date(when)

    @property
    def tables_date(self) -> dt.datetime:
        return self.tables.date

    def cache_zip(self) -> tuple[bytes, dict[str, Any]]:
        """The cache.zip bytes and cache_info for the current tables date (built once each)."""
        return self.tables.cache_zip()

    def warm_up(self) -> None:
        """Build the zip and the filter indices now, not on the first request."""
        self.cache_zip()
        self.queries.warm_up()

    # -- what the handler calls --
    def connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.add(sock)

    def connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.discard(sock)

    def answer(self, request: Request) -> Reply | None:
        """Log the request, apply the faults that come before routing, route it.

        None means: drop the connection without an answer (the ``drop_connections`` fault).
        """
        with self._lock:
            self._requests.append(f"{request.method} {request.target}")
        f, gate, path = self.faults, self.gate, request.path
        if f.invalid_token:  # the switch: every token issued until now is revoked
            f.invalid_token = False
            self.accounts.revoke()
        if f.latency and gate.applies(path):
            gate.pause(f.latency)
        if gate.fires("drop_connections", path):
            return None
        if path != "/auth-token":
            key = request.header("Authorization") or request.client
            wait = gate.throttled(key) if gate.applies(path) else None
            if wait is None and gate.fires("status_429", path):
                wait = f.retry_after
            if wait is not None:
                return Reply.json(429, {"detail": f"Request was throttled. Expected available "
                                                  f"in {wait} seconds.", "status_code": 429},
                                  {"Retry-After": str(wait)})
        if gate.fires("status_500", path):
            return Reply.json(500, {"status_code": 500, "detail": "Injected server error (demo)"})
        if gate.fires("status_500_html", path):
            return Reply.html(500, HTML_500)
        return self.router.handle(request)


class _Handler(BaseHTTPRequestHandler):
    """One connection: read each request, ask the server for the reply, write it."""

    demo: DemoServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "one-tui-demo-alyx"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.demo.connection_opened(self.connection)

    def finish(self) -> None:
        self.demo.connection_closed(self.connection)
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

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():  # a repeated header: the first one counts
            headers.setdefault(name.lower(), value)
        request = Request(
            method=self.command, target=self.path, path=split.path, query=split.query,
            headers=headers,
            body=self.rfile.read(length) if length else b"",
            server=f"{self.demo.host}:{self.demo.port}", client=self.client_address[0])
        reply = self.demo.answer(request)
        if reply is None:
            self.close_connection = True
            return
        try:
            self._write(reply, request.path)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write(self, reply: Reply, path: str) -> None:
        """Send ``reply``, cut or stalled as the ``malformed_json`` and stall faults say."""
        gate = self.demo.gate
        body = reply.body
        if reply.is_json and gate.fires("malformed_json", path):
            body = body[: max(1, len(body) // 2)]
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept")
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        stall = self.demo.faults.read_timeout_after_bytes
        if stall is not None and gate.applies(path):
            self.wfile.write(body[:stall])
            self.wfile.flush()
            gate.pause(self.demo.faults.stall_seconds)
            self.close_connection = True
            return
        self.wfile.write(body)
