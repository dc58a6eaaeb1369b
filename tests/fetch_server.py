"""A FlatIron-like file server with faults, on loopback (port 0), and a ONE folder it serves.

``FaultServer(files, login=("user", "pwd"))`` serves ``files`` (URL path -> bytes) with HTTP
Basic (a 401 with ``WWW-Authenticate`` without it), ``Range`` (206 / 416), and faults queued
per path: ``server.fault(path, "truncate", "stall", "429", "500", "404", "401",
"ignore-range", "bad-bytes", "wrong-range")`` (each request takes the next one). Every request
is logged as ``(method, path, status, range header)``.

``small_cache(tmp_path, server, n_files)`` writes demo tables whose first session's datasets
are small files with real sizes and md5s, the bytes served by ``server``, and ONE's settings
for the database (HTTP_DATA_SERVER, login) in the test's HOME.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd

__all__ = ["FaultServer", "SmallCache", "small_cache", "BASE_URL"]

#: the Alyx URL of the test database (never contacted: the tests run in local mode)
BASE_URL = "http://alyx.invalid"


class FaultServer:
    def __init__(self, files: dict[str, bytes] | None = None,
                 login: tuple[str, str] | None = ("iblmember", "flatiron"),
                 stall_seconds: float = 30.0) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.login = login
        self.stall_seconds = stall_seconds
        self.faults: dict[str, deque[str]] = defaultdict(deque)
        self.log: list[tuple[str, str, int, str | None]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # ends every stall at once (teardown)
        #: seconds to wait after each 16 kB of a body (a slow server: kill tests)
        self.chunk_delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def fault(self, path: str, *faults: str) -> None:
        with self.lock:
            self.faults[path].extend(faults)

    def requests(self, path: str | None = None) -> list[tuple[str, str, int, str | None]]:
        with self.lock:
            return [r for r in self.log if path is None or r[1] == path]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- serving ---------------------------------------------------------------------------
    def _reply(self, h: BaseHTTPRequestHandler, path: str, status: int, body: bytes = b"",
               headers: dict[str, str] | None = None, length: int | None = None,
               rng: str | None = None) -> None:
        with self.lock:
            self.log.append(("GET", path, status, rng))
        h.send_response(status)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body) if length is None else length))
        h.end_headers()
        if body:
            try:
                if self.chunk_delay:
                    for i in range(0, len(body), 16384):
                        h.wfile.write(body[i:i + 16384])
                        h.wfile.flush()
                        time.sleep(self.chunk_delay)
                else:
                    h.wfile.write(body)
                h.wfile.flush()
            except OSError:
                pass

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = unquote(urlsplit(h.path).path)
        rng = h.headers.get("Range")
        with self.lock:
            fault = self.faults[path].popleft() if self.faults[path] else None
        if self.login is not None or fault == "401":
            want = "Basic " + base64.b64encode(":".join(self.login or ("x", "y")).encode()
                                               ).decode()
            if fault == "401" or h.headers.get("Authorization") != want:
                self._reply(h, path, 401, headers={"WWW-Authenticate": 'Basic realm="data"'})
                return
        data = self.files.get(path)
        if data is None or fault == "404":
            self._reply(h, path, 404)
            return
        if fault in ("429", "503", "500"):
            self._reply(h, path, int(fault), headers={"Retry-After": "1"})
            return
        if fault == "bad-bytes":
            data = bytes(b ^ 0xFF for b in data)
        start = 0
        if rng and fault != "ignore-range":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self._reply(h, path, 416, headers={"Content-Range": f"bytes */{len(data)}"},
                            rng=rng)
                return
            first = start + 1 if fault == "wrong-range" else start
            body = data[start:]
            self._reply_partial(h, path, body, first, len(data), rng, fault)
            return
        self._reply_body(h, path, 200, data, {}, rng, fault)

    def _reply_partial(self, h: BaseHTTPRequestHandler, path: str, body: bytes, first: int,
                       total: int, rng: str | None, fault: str | None) -> None:
        headers = {"Content-Range": f"bytes {first}-{total - 1}/{total}"}
        self._reply_body(h, path, 206, body, headers, rng, fault)

    def _reply_body(self, h: BaseHTTPRequestHandler, path: str, status: int, body: bytes,
                    headers: dict[str, str], rng: str | None, fault: str | None) -> None:
        if fault in ("truncate", "stall"):
            cut = max(1, len(body) // 3)
            with self.lock:
                self.log.append(("GET", path, status, rng))
            h.send_response(status)
            for key, value in headers.items():
                h.send_header(key, value)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            try:
                h.wfile.write(body[:cut])
                h.wfile.flush()
                if fault == "stall":
                    self.release.wait(self.stall_seconds)
            except OSError:
                pass
            h.close_connection = True
            return
        self._reply(h, path, status, body, headers, rng=rng)


@dataclass
class SmallCache:
    folder: Path
    eid: str
    session_path: str
    rows: list[dict[str, Any]]          # the session's dataset rows (id, rel_path, ...)
    files: dict[str, bytes]             # URL path -> bytes

    def url_path(self, row: dict[str, Any]) -> str:
        from one_tui.engine.local.ondisk import with_uuid

        return f"/{self.session_path}/{with_uuid(row['rel_path'], row['id'])}"

    def target(self, row: dict[str, Any]) -> Path:
        return self.folder / self.session_path / row["rel_path"]


def write_settings(home: Path, cache: Path, data_server: str,
                   login: tuple[str, str] | None) -> None:
    from one_tui.engine.params import client_key

    key = client_key(BASE_URL)
    one = home / ".one"
    one.mkdir(parents=True, exist_ok=True)
    (one / f".{key}").write_text(json.dumps({
        "ALYX_URL": BASE_URL, "ALYX_LOGIN": "tester", "HTTP_DATA_SERVER": data_server,
        "HTTP_DATA_SERVER_LOGIN": login[0] if login else None,
        "HTTP_DATA_SERVER_PWD": login[1] if login else None}))
    (one / ".caches").write_text(json.dumps({"CLIENT_MAP": {key: str(cache)},
                                             "DEFAULT": key}))


def small_cache(tmp_path: Path, home: Path, server: FaultServer, *, n_files: int = 6,
                size: int = 200_000, seed: int = 0, hashes: str = "md5") -> SmallCache:
    """Demo tables, their first session's default-revision datasets cut to ``n_files``
    files of about ``size`` bytes each (real md5s; ``hashes="mixed"``: md5, sha1 and ''
    in turn, as Alyx allows), served by ``server``."""
    from one_tui.demo.synth import generate
    from one_tui.engine.local.fileformat import read_table
    from one_tui.engine.local.filewrite import save_table
    from one_tui.engine.local.ondisk import session_path

    folder = tmp_path / "cache"
    generate(n_sessions=3, seed=seed).write_tables(folder)
    datasets, meta = read_table(folder / "datasets.pqt")
    sessions, _ = read_table(folder / "sessions.pqt")
    datasets = datasets.reset_index()
    datasets["rel_path"] = datasets["rel_path"].astype(str)
    eid = str(datasets["eid"].iloc[0])
    mine = datasets[(datasets.eid == eid) & datasets.default_revision].head(n_files)
    keep = datasets[datasets.eid != eid]
    rng = np.random.default_rng(seed)
    files: dict[str, bytes] = {}
    rel_session = str(session_path(sessions.loc[eid].to_dict()))
    mine = mine.copy()
    mine["exists"] = True
    bodies = [rng.integers(0, 256, size + 997 * i, dtype=np.uint8).tobytes()
              for i in range(len(mine))]
    for body, idx in zip(bodies, mine.index, strict=True):
        mine.loc[idx, "file_size"] = len(body)
        kind = ("md5", "sha1", "")[list(mine.index).index(idx) % 3] if hashes == "mixed" \
            else hashes
        mine.loc[idx, "hash"] = hashlib.new(kind, body).hexdigest() if kind else ""
    table = pd.concat([mine, keep]).set_index(["eid", "id"])
    save_table(table, folder / "datasets.pqt", meta)
    rows = mine.to_dict("records")
    small = SmallCache(folder, eid, rel_session, rows, files)
    for body, row in zip(bodies, rows, strict=True):
        files[small.url_path(row)] = body
    server.files.update(files)
    write_settings(home, folder, server.url, server.login)
    return small
