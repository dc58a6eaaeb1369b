"""Tables, locks and leftovers written by someone else (issue 16, classes 2, 3, 4 and 8).

Each test is a promise a user can check: a save never loses a distinct row that was on disk or
in memory; a table ONE-api reads, one-tui reads too (the bad rows skipped with one notice that
counts them); a lock that cannot be anybody's any more is broken, every outcome one line; a
killed save's temp file goes as soon as its process is dead. What ONE-api itself answers on the
same files is in tests/interop/test_hostile_interop.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from one_tui.demo.synth import generate
from one_tui.engine import EngineService, Mode, OutcomeKind, SearchRequest
from one_tui.engine.local import merge, store
from one_tui.engine.local.fileformat import read_table
from one_tui.engine.local.filewrite import save_table
from one_tui.engine.local.lock import LOCK_NAME
from one_tui.engine.local.store import load_cache, save_cache
from tests.hostile_files import HOSTILE, write_hostile


def _rows(df: pd.DataFrame) -> set[tuple[str, ...]]:
    """Every distinct row, key included, as text."""
    flat = df.reset_index()
    flat = flat[sorted(flat.columns)]
    return {tuple(str(v) for v in row) for row in flat.itertuples(index=False, name=None)}


def _dataset(eid: str, did: str, rel_path: str, qc: str = "PASS") -> pd.DataFrame:
    return pd.DataFrame({"eid": [eid], "id": [did], "rel_path": [rel_path], "file_size": [1],
                         "hash": ["h"], "exists": [True], "qc": [qc],
                         "default_revision": [True]})


def _with_duplicates(folder: Path) -> pd.DataFrame:
    """A datasets table in which every 7th (eid, id) is held by two distinct rows."""
    generate(n_sessions=30, seed=5).write_tables(folder)
    df, meta = read_table(folder / "datasets.pqt")
    twin = df.iloc[::7].copy()
    twin["rel_path"] = twin["rel_path"].astype(str) + ".copy"
    both = pd.concat([df, twin])
    save_table(both, folder / "datasets.pqt", meta)
    return both


@pytest.mark.parametrize("large", [False, True], ids=["merge", "large-merge"])
@pytest.mark.parametrize("loaded", [True, False], ids=["frame", "codes"])
def test_saves_keep_every_distinct_row_of_a_table_with_duplicate_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, large: bool, loaded: bool) -> None:
    """Three saves, each after another program changed the file since it was read (it adds a
    distinct row under a key already held twice, and one row of its own): every distinct row
    that was on disk or in memory is in the file after each save, and none other."""
    if large:  # the in-place merge of tables above LARGE_TABLE rows, on a small table
        monkeypatch.setattr(merge, "LARGE_TABLE", 100)
    folder = tmp_path / "tables"
    expected = _rows(_with_duplicates(folder))
    twice = read_table(folder / "datasets.pqt")[0].index[0]  # a key held by two rows
    for round_ in range(3):
        cache = load_cache(folder)
        if loaded:
            assert len(cache.datasets)
        else:
            cache.datasets_for_query()
        ours = _dataset(f"0000000{round_}-4e0c-4f35-9d73-5d1e3b1f0a10",
                        f"1111111{round_}-8a71-4f42-b0c5-2a5d9e4c1b77", "alf/ours.npy")
        cache.merge(origin="alyx", datasets=ours)
        disk, meta = read_table(folder / "datasets.pqt")
        theirs = pd.concat([
            _dataset(*twice, f"alf/theirs{round_}.npy"),  # a third distinct row of a key
            _dataset(f"2222222{round_}-4e0c-4f35-9d73-5d1e3b1f0a10",
                     f"3333333{round_}-8a71-4f42-b0c5-2a5d9e4c1b77", "alf/theirs.npy")])
        time.sleep(0.01)  # a new mtime: the file changed since one-tui read it
        save_table(merge.merge_frames(disk, theirs, "datasets"), folder / "datasets.pqt", meta)
        expected |= _rows(ours.set_index(["eid", "id"])) | _rows(
            read_table(folder / "datasets.pqt")[0])
        assert save_cache(cache) is True
        assert not cache.warnings
        saved, _ = read_table(folder / "datasets.pqt")
        assert _rows(saved) == expected, f"save {round_ + 1}"
        assert len(saved) == len(expected), f"save {round_ + 1}: exact copies of a row"
        assert _rows(cache.datasets) == expected, "what one-tui answers from after the save"


# -- class 3: tables ONE-api reads ------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_spoiled_table_is_read_with_one_notice_that_counts_what_was_changed(
        tmp_path: Path, kind: str) -> None:
    """Search, a session's details, a merge and a save all work on a datasets table with a bad
    row or an odd column; the user is told once, in one line, how many rows were read how."""
    folder = tmp_path / kind
    write_hostile(folder, kind)
    eids = pq.read_table(folder / "datasets.pqt", columns=["eid"]).column(0).to_pylist()
    svc = EngineService.open(cache_dir=folder, mode=Mode.LOCAL)
    found = svc.search_sessions(SearchRequest({"dataset": "trials"}))
    assert found.error is None and found.value is not None and len(found.value)
    notices = [n for n in found.notices if "datasets.pqt" in n]
    assert len(notices) == 1 and "\n" not in notices[0], found.notices
    assert any(ch.isdigit() for ch in notices[0])  # it counts them
    for eid in {e for e in (eids[5], eids[7], eids[0]) if e}:
        details = svc.session_details(eid)
        assert details.error is None and details.value is not None
        assert details.value.datasets, eid
        assert not [n for n in details.notices if "datasets.pqt" in n]  # told once
    cache = load_cache(folder)
    rows = len(cache.datasets)
    assert rows == pq.read_metadata(folder / "datasets.pqt").num_rows  # no row left out
    cache.merge(origin="alyx", datasets=_dataset(
        "00000000-4e0c-4f35-9d73-5d1e3b1f0a10", "11111111-8a71-4f42-b0c5-2a5d9e4c1b77",
        "alf/ours.npy"))
    assert save_cache(cache) is True
    assert len(load_cache(folder).datasets) == rows + 1


@pytest.mark.parametrize("key", [b"one_metadata", b"pandas"])
def test_a_table_whose_metadata_nests_too_deeply_is_one_line_not_a_traceback(
        tmp_path: Path, key: bytes) -> None:
    """Schema metadata is JSON someone else wrote: nested 200,000 deep it made json.loads
    raise RecursionError out of the load. Now it counts as missing: the table is skipped
    as ONE skips a table without its metadata, or read without pandas' hints."""
    folder = tmp_path / "tables"
    generate(n_sessions=5, seed=1).write_tables(folder)
    table = pq.read_table(folder / "datasets.pqt")
    meta = dict(table.schema.metadata or {})
    meta[key] = b"[" * 200_000
    pq.write_table(table.replace_schema_metadata(meta), folder / "datasets.pqt")
    svc = EngineService.open(cache_dir=folder, mode=Mode.LOCAL)
    found = svc.search_sessions(SearchRequest({}))
    assert found.error is None and found.value is not None and len(found.value) == 5
    tables = {t.name for t in svc.state().tables}
    assert ("datasets" in tables) is (key == b"pandas")  # ONE's metadata unreadable: skipped


# -- class 4: locks that never clear ----------------------------------------------------------

HOUR = 3600.0


def _lock_content(kind: str, live_pid: int) -> bytes:
    mine = {"owner": "one-tui", "hostname": socket.gethostname(), "datetime": "", "token": "x"}
    if kind == "garbage":
        return b"\xff\xfe\x00\x81 not a lock \x1b[2J"
    if kind == "deeply-nested":  # json.loads recursed into a RecursionError (a traceback)
        return b"[" * 200_000
    if kind == "pid-too-large":
        return json.dumps({**mine, "pid": 2 ** 70}).encode()
    return json.dumps({**mine, "pid": live_pid}).encode()  # a live process, not one-tui


def _place_lock(folder: Path, content: bytes, age: float) -> None:
    """``.ONE.lock`` with ``content``, it and the tables untouched for ``age`` seconds."""
    lock = folder / LOCK_NAME
    lock.write_bytes(content)
    when = time.time() - age
    for path in [lock, *folder.glob("*.pqt")]:
        os.utime(path, (when, when))


@pytest.fixture
def unrelated() -> Iterator[int]:
    """The pid of a live process that is not one-tui."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc.pid
    proc.kill()
    proc.wait()


LOCKS = ["garbage", "deeply-nested", "pid-too-large", "live-unrelated-pid"]


@pytest.mark.parametrize("kind", LOCKS)
@pytest.mark.parametrize("age", [5.0, HOUR], ids=["fresh", "an-hour-old"])
def test_a_lock_nobody_can_hold_is_judged_by_age_and_each_save_says_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unrelated: int, kind: str,
        age: float) -> None:
    """A save waits for a fresh lock it cannot judge otherwise (one line: not saved) and
    breaks one untouched for an hour (one line: which lock it removed); never a traceback."""
    monkeypatch.setattr(store, "SAVE_LOCK_TIMEOUT", 0.5)
    folder = tmp_path / "tables"
    generate(n_sessions=5, seed=1).write_tables(folder)
    cache = load_cache(folder)
    cache.merge(origin="alyx", datasets=_dataset(
        "00000000-4e0c-4f35-9d73-5d1e3b1f0a10", "11111111-8a71-4f42-b0c5-2a5d9e4c1b77",
        "alf/ours.npy"))
    _place_lock(folder, _lock_content(kind, unrelated), age)
    saved = save_cache(cache)
    assert len(cache.warnings) == 1 and "\n" not in cache.warnings[0], cache.warnings
    on_disk = len(load_cache(folder).datasets)
    if age == HOUR:
        assert saved and on_disk == len(cache.datasets)
        assert not (folder / LOCK_NAME).exists()
    else:  # the lock stays, the merged row waits in memory
        assert not saved and on_disk == len(cache.datasets) - 1
        assert (folder / LOCK_NAME).exists()


@pytest.mark.parametrize("kind", LOCKS)
def test_a_download_breaks_an_hour_old_lock_nobody_can_hold(
        tmp_path: Path, make_db: Any, demo_server: Any, unrelated: int, kind: str) -> None:
    server = demo_server(make_db(20, 3))
    folder = tmp_path / "cache"
    folder.mkdir()
    _place_lock(folder, _lock_content(kind, unrelated), HOUR)
    svc = EngineService.open(base_url=server.url, cache_dir=folder, username="demo",
                             password="demo")
    out = svc.connect()
    assert out.kind is OutcomeKind.NEW_TABLES, out.message
    told = [n for n in out.notices if LOCK_NAME in n]
    assert len(told) == 1 and "\n" not in told[0], out.notices
    assert {t.name for t in svc.state().tables} >= {"sessions", "datasets"}


# -- class 8: leftovers ------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]

#: A save's writer: takes the temporary name atomic_write gives the table, writes part of it,
#: says where, and waits to be killed.
WRITER = """
import sys, time
from pathlib import Path
from one_tui.engine.core.atomic import temp_name
tmp = temp_name(Path(sys.argv[1]) / "datasets.pqt")
tmp.write_bytes(b"PAR1" + bytes(1 << 20))
print(tmp, flush=True)
time.sleep(600)
"""


def _writer(folder: Path) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], text=True,
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


@pytest.mark.parametrize("then", ["load", "save"])
def test_a_killed_saves_temp_file_goes_at_the_next_load_or_save(tmp_path: Path,
                                                                then: str) -> None:
    """The temporary table of a save killed a moment ago is deleted by the next load or save;
    that of a live save, and a fresh one written on another host, are left alone."""
    folder = tmp_path / "tables"
    generate(n_sessions=5, seed=1).write_tables(folder)
    killed, dead_tmp = _writer(folder)
    live, live_tmp = _writer(folder)
    elsewhere = folder / "datasets.pqt.tmp-4242-0badcafe-0123abcd"  # another host's
    elsewhere.write_bytes(b"PAR1")
    try:
        killed.kill()
        killed.wait()
        assert dead_tmp.exists() and live_tmp.exists()
        cache = load_cache(folder)
        if then == "save":
            dead_tmp.touch()  # as if it appeared after the load
            cache.merge(origin="alyx", datasets=_dataset(
                "00000000-4e0c-4f35-9d73-5d1e3b1f0a10", "11111111-8a71-4f42-b0c5-2a5d9e4c1b77",
                "alf/ours.npy"))
            assert save_cache(cache) is True
        assert not dead_tmp.exists()
        assert live_tmp.exists() and elsewhere.exists()
        assert cache.warnings == []
    finally:
        live.kill()
        live.wait()
