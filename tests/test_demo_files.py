"""The demo's file server (demo/files.py) answers as the real Alyx's FlatIron stand-in does
(../shared/real-alyx/fileserver.py, on ONE_TUI_REAL_ALYX's machine): the same statuses and
headers for the same kinds of request; and its tables carry the sizes and md5s of the bytes it
serves."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from one_tui.demo.files import DATA_LOGIN, DemoFileServer, file_bytes, servable
from one_tui.demo.synth import SyntheticDB, generate


@pytest.fixture(scope="module")
def served() -> SyntheticDB:
    return servable(generate(n_sessions=6, seed=3))


@pytest.fixture
def demo_files(served: SyntheticDB) -> Iterator[DemoFileServer]:
    with DemoFileServer(served) as srv:
        yield srv


def test_the_tables_carry_the_size_and_md5_of_every_byte_served(
        served: SyntheticDB, demo_files: DemoFileServer) -> None:
    rows = served.datasets.reset_index()
    with httpx.Client(auth=DATA_LOGIN) as client:
        checked = 0
        for path, (did, size, exists) in list(demo_files.files.items())[:40]:
            row = rows[rows.id == did].iloc[0]
            reply = client.get(demo_files.url + path)
            if not exists:
                assert reply.status_code == 404
                continue
            assert reply.status_code == 200 and len(reply.content) == int(row.file_size) == size
            assert hashlib.md5(reply.content).hexdigest() == row.hash
            checked += 1
    assert checked > 30
    assert file_bytes(did, 100) == file_bytes(did, 100)  # the same bytes every run


def _kinds(base: str, path: str, size: int, folder: str) -> dict[str, httpx.Response]:
    """One request of each kind a client sends, answered by the server at ``base``."""
    with httpx.Client() as c:
        get = lambda p, **kw: c.get(base + p, **kw)  # noqa: E731
        good = httpx.BasicAuth(*DATA_LOGIN)
        return {
            "no login": get(path),
            "wrong login": get(path, auth=httpx.BasicAuth(DATA_LOGIN[0], "nope")),
            "file": get(path, auth=good),
            "head": c.head(base + path, auth=good),
            "range from": get(path, auth=good, headers={"Range": "bytes=10-"}),
            "range within": get(path, auth=good, headers={"Range": "bytes=2-5"}),
            "range suffix": get(path, auth=good, headers={"Range": "bytes=-7"}),
            "range past the end": get(path, auth=good, headers={"Range": f"bytes={size}-"}),
            "several ranges": get(path, auth=good, headers={"Range": "bytes=0-1,4-5"}),
            "missing": get(path.replace(".", ".x", 1), auth=good),
            "traversal": get("/%2e%2e/etc/passwd", auth=good),
            "folder": get(folder, auth=good),
            "post": c.post(base + path, auth=good),
        }


def _shape(reply: httpx.Response) -> tuple[Any, ...]:
    h = reply.headers
    rng = h.get("content-range", "")
    return (reply.status_code, "www-authenticate" in h and h["www-authenticate"][:6],
            h.get("accept-ranges"), h.get("allow"), rng.split(" ")[0] if rng else None,
            "content-length" in h)


@pytest.mark.real_alyx
def test_the_demo_answers_each_kind_of_request_as_the_real_file_server(
        real_alyx: Any, demo_files: DemoFileServer) -> None:
    run = Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run"))
    populated = json.loads((run / "populated.json").read_text())
    real = next(f for f in populated["files"] if f["on_server"] and f["size"] > 20)
    server = populated["data_server"]
    assert (server["login"], server["password"]) == DATA_LOGIN
    real_path = real["url"].removeprefix(server["url"])
    real_folder = "/" + real["session_path"]
    demo_path, (_, demo_size, _) = next((p, v) for p, v in demo_files.files.items()
                                        if v[2] and v[1] > 20)
    demo_folder = demo_path.rsplit("/", 2)[0]
    theirs = _kinds(server["url"], real_path, real["size"], real_folder)
    ours = _kinds(demo_files.url, demo_path, demo_size, demo_folder)
    for kind in theirs:
        assert _shape(ours[kind]) == _shape(theirs[kind]), kind
    assert ours["head"].content == b"" and ours["range suffix"].content == file_bytes(
        demo_files.files[demo_path][0], demo_size)[-7:]
