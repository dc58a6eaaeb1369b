"""A FlatIron-like file server for the demo database: every dataset's bytes, HTTP Basic, Range.

IBL's files are downloaded from an Apache server (FlatIron) at
``<HTTP_DATA_SERVER>/<lab>/Subjects/<subject>/<date>/<NNN>/<rel_path with the dataset id
before the extension>``, behind HTTP Basic. :class:`DemoFileServer` answers as the loopback
stand-in of the real Alyx does (``../shared/real-alyx/fileserver.py``; compared request by
request in tests/test_demo_files.py): 401 with ``WWW-Authenticate: Basic`` without the login
(or with a wrong one); GET and HEAD, anything else 405; a Content-Length always,
``Accept-Ranges: bytes``; ``Range: bytes=N-``, ``N-M`` and ``-N`` answered 206 with
``Content-Range``, 416 past the end, several ranges ignored (the whole file); 404 for a path
that is no dataset's (or a dataset whose file ``exists`` is False: kept in the lab), for
dot-files and for ``..``; 403 for a session folder (no listings).

The bytes are placed by the dataset id in one block of seeded random bytes, so every run
serves the same bytes. A synthetic ephys session lists 166 GB, so the demo serves stand-ins:
:func:`servable` returns the database with each ``file_size`` capped at :data:`CAP` and each
``hash`` the md5 of the bytes served, so what ONE-api and one-tui check is what they receive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import threading
import uuid
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes, urlsplit

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from one_tui.demo.synth import SyntheticDB

__all__ = ["CAP", "DATA_LOGIN", "file_bytes", "servable", "DemoFileServer"]

#: the largest file the demo serves (bytes): 120 sessions' files hash in about half a second
CAP = 16_384
#: the demo's data-server login (the real loopback server's: iblmember / flatiron)
DATA_LOGIN = ("iblmember", "flatiron")
REALM = "IBL FlatIron data (demo)"
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.I)
_UUID = re.compile(r"\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[^./]+$")


_POOL: list[bytes] = []


def file_bytes(dataset_id: str, size: int) -> bytes:
    """The bytes served for a dataset: the same id and size give the same bytes (a window,
    placed by the id, on one block of seeded random bytes: no generator per file)."""
    if not _POOL:
        _POOL.append(np.random.default_rng(20).bytes(4 * CAP))
    pool = _POOL[0]
    size = int(size)
    start = uuid.UUID(str(dataset_id)).int % (len(pool) // 2)
    if size <= len(pool) - start:
        return pool[start:start + size]
    return (pool[start:] + pool * (size // len(pool) + 1))[:size]


def servable(db: SyntheticDB, cap: int = CAP) -> SyntheticDB:
    """The database with true sizes and md5s of the files :class:`DemoFileServer` serves."""
    datasets = db.datasets.copy()
    ids = datasets.index.get_level_values("id").astype(str)
    sizes = np.minimum(datasets["file_size"].fillna(0).to_numpy(dtype=np.int64), cap)
    datasets["file_size"] = pd.array(sizes, dtype="UInt64")
    datasets["hash"] = [hashlib.md5(file_bytes(i, n)).hexdigest()
                        for i, n in zip(ids, sizes, strict=True)]
    return replace(db, datasets=datasets)


def _session_path(row: Any) -> str:
    date = row.date
    text = date.isoformat()[:10] if hasattr(date, "isoformat") else str(date)[:10]
    return f"{row.lab}/Subjects/{row.subject}/{text}/{int(row.number):03d}"


class DemoFileServer:
    """The demo's data server on loopback (port 0: a free one); ``url`` is its
    ``HTTP_DATA_SERVER``. A context manager; ``requests`` lists ``(method, path, status)``."""

    def __init__(self, db: SyntheticDB, host: str = "127.0.0.1", port: int = 0,
                 login: tuple[str, str] = DATA_LOGIN) -> None:
        self.login = login
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        sessions = db.sessions
        folders = {str(eid): _session_path(row) for eid, row in
                   zip(sessions.index, sessions.itertuples(index=False), strict=True)}
        d = db.datasets
        eids = d.index.get_level_values("eid").astype(str)
        ids = d.index.get_level_values("id").astype(str)
        #: URL path (unquoted) -> (dataset id, size, exists)
        self.files: dict[str, tuple[str, int, bool]] = {}
        self.folders: set[str] = set()
        for eid, did, rel, size, exists in zip(eids, ids, d["rel_path"].astype(str),
                                               d["file_size"].fillna(0), d["exists"],
                                               strict=True):
            folder = folders.get(eid)
            if folder is None:
                continue
            stem, dot, ext = rel.rpartition(".")
            name = f"{stem}.{did}.{ext}" if dot else f"{rel}.{did}"
            self.files[f"/{folder}/{name}"] = (did, int(size), bool(exists))
            parts = f"{folder}/{rel}".split("/")[:-1]
            self.folders.update("/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1))
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "Apache/2.4 (one-tui demo)"
            sys_version = ""

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's names
                server._serve(self)

            do_HEAD = do_GET

            def _not_allowed(self) -> None:
                server._simple(self, 405, [("Allow", "GET, HEAD")])

            do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> DemoFileServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name="one-tui-demo-files")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> DemoFileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answers ---------------------------------------------------------------------------
    def _log(self, h: BaseHTTPRequestHandler, status: int) -> None:
        with self._lock:
            self.requests.append((h.command, h.path, status))

    def _simple(self, h: BaseHTTPRequestHandler, status: int,
                headers: list[tuple[str, str]] | None = None) -> None:
        title = h.responses.get(status, ("",))[0]
        page = (f"<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head><title>"
                f"{status} {title}</title></head><body><h1>{title}</h1></body></html>\n"
                ).encode()
        self._log(h, status)
        h.send_response(status)
        for key, value in headers or []:
            h.send_header(key, value)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(page)))
        if status == 405:
            h.close_connection = True
            h.send_header("Connection", "close")
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(page)

    def _authorised(self, h: BaseHTTPRequestHandler) -> bool:
        scheme, _, token = h.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            raw = base64.b64decode(token.strip().encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return False
        user, sep, pwd = raw.partition(b":")
        ok_user = hmac.compare_digest(user, self.login[0].encode())
        ok_pwd = hmac.compare_digest(pwd, self.login[1].encode())
        return bool(sep) and ok_user and ok_pwd

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        if not self._authorised(h):
            self._simple(h, 401, [("WWW-Authenticate", f'Basic realm="{REALM}"')])
            return
        try:
            path = unquote_to_bytes(urlsplit(h.path).path).decode("utf-8").rstrip("/")
        except UnicodeDecodeError:
            self._simple(h, 404)
            return
        if any(seg == ".." or seg.startswith(".") for seg in path.split("/")):
            self._simple(h, 404)
            return
        found = self.files.get(path)
        if found is None:
            self._simple(h, 403 if path in self.folders else 404)
            return
        did, size, exists = found
        if not exists:  # the file record says the file is kept in the lab
            self._simple(h, 404)
            return
        self._send_file(h, file_bytes(did, size))

    def _send_file(self, h: BaseHTTPRequestHandler, data: bytes) -> None:
        size = len(data)
        start, end, status = 0, size - 1, 200
        rng = h.headers.get("Range")
        if rng and "," not in rng:
            m = _RANGE.match(rng)
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    first = int(m.group(1))
                    last = int(m.group(2)) if m.group(2) else None
                    if last is None or last >= first:
                        if first >= size:
                            self._simple(h, 416, [("Content-Range", f"bytes */{size}")])
                            return
                        end = size - 1 if last is None else min(last, size - 1)
                        start, status = first, 206
                else:
                    n = int(m.group(2))
                    if n == 0 or size == 0:
                        self._simple(h, 416, [("Content-Range", f"bytes */{size}")])
                        return
                    start, end, status = max(0, size - n), size - 1, 206
        body = data[start:end + 1]
        self._log(h, status)
        h.send_response(status)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Accept-Ranges", "bytes")
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        h.end_headers()
        if h.command != "HEAD":
            try:
                h.wfile.write(body)
            except OSError:
                h.close_connection = True
