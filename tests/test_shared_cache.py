"""One cache folder shared by several one-tui processes (ONE issue #211), and processes killed
with SIGKILL in the middle of a table download or save.

Everything runs for real: engine subprocesses against the demo Alyx on loopback. After each
round or kill the folder must load, agree with what the server publishes, never take a temp
file for a table, and a lock left by a dead process must not hold up the next run.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from one_tui.demo.server import DemoServer
from one_tui.engine.core.freshness import DATE_FORMAT
from one_tui.engine.local.fileformat import read_table
from one_tui.engine.local.lock import LOCK_NAME, FileLock, LockTimeout
from one_tui.engine.local.store import load_cache
from one_tui.engine.one import One

ROUNDS = 20
KILLS = 20
BASE_DATE = dt.datetime(2026, 1, 5, 8, 0)

# The engine in a real process. "pair": a long-lived process that, for each eid read on stdin,
# refreshes the tables (refresh mode), merges one session's datasets from Alyx and saves.
# "download": One(mode='refresh') downloads the newer tables at start. "save": merges one
# session's datasets from Alyx, then saves (printing "saving" just before).
WORKER = r"""
import json, sys, time
from one_tui.engine.one import One

url, cache_dir, role = sys.argv[1:4]

def say(**kw):
    print(json.dumps(kw, default=str), flush=True)

def state(one, t0):
    return dict(created=one.cache_info()["created_time"], fallback=one.fallback_reason,
                notices=list(one.notices), seconds=time.monotonic() - t0)

say(state="ready")  # imported; the parent says when to start
line = sys.stdin.readline()
if role == "pair":
    one = One(base_url=url, cache_dir=cache_dir, mode="local", username="demo", password="demo")
    one.mode = "refresh"
    while line:
        t0 = time.monotonic()
        one.refresh_cache("refresh")
        one.list_datasets(line.strip(), query_type="remote")
        saved = one.save_cache()
        say(state="done", saved=saved, **state(one, t0))
        one.notices.clear()
        line = sys.stdin.readline()
elif role == "download":
    t0 = time.monotonic()
    say(state="start")
    one = One(base_url=url, cache_dir=cache_dir, mode="refresh", username="demo", password="demo")
    say(state="done", **state(one, t0))
elif role == "save":
    one = One(base_url=url, cache_dir=cache_dir, mode="remote", username="demo", password="demo")
    one.list_datasets(line.strip(), query_type="remote")
    say(state="saving")
    t0 = time.monotonic()
    saved = one.save_cache()
    say(state="saved", saved=saved, **state(one, t0))
"""


@pytest.fixture(scope="module")
def server(make_db) -> Iterator[DemoServer]:
    srv = DemoServer(make_db(120, 3))
    srv.start()
    srv.warm_up()
    yield srv
    srv.stop()


def _spawn(role: str, url: str, folder: Path) -> subprocess.Popen:
    """A worker process; it imports the engine, says "ready" and waits for ``_go``."""
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, url, str(folder), role],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _go(proc: subprocess.Popen, line: str = "") -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def _read(proc: subprocess.Popen, want: str, timeout: float = 60.0) -> dict[str, Any]:
    """The next JSON line of a worker, which must have ``state == want``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"worker ended ({proc.poll()}): {proc.stderr.read()[-2000:]}")
        msg = json.loads(line)
        assert msg["state"] == want, msg
        return msg
    raise AssertionError(f"no {want!r} from the worker within {timeout} s")


def _server_tables(srv: DemoServer) -> dict[str, tuple[set[str], str]]:
    """What the server publishes now: {table: (ids, date_created)} from its cache.zip."""
    blob, info = srv.cache_zip()
    out = {}
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(io.BytesIO(blob)) as zf:
        zf.extractall(tmp)
        for name in ("sessions", "datasets"):
            df, meta = read_table(Path(tmp) / f"{name}.pqt")
            out[name] = (_ids(df), meta["date_created"])
    assert info["date_created"] == out["sessions"][1]
    return out


def _ids(df: Any) -> set[str]:
    return {str(i[-1] if isinstance(i, tuple) else i) for i in df.index}


def _all_dataset_ids(srv: DemoServer) -> set[str]:
    return _ids(srv.db.datasets)


def _check_folder(folder: Path, srv: DemoServer, dates: set[str]) -> str:
    """The tables load with no warning, hold exactly the server's sessions and (at least) its
    published datasets, come from ONE download round (same date_created, one of ``dates``), and
    no temp file is taken for a table. Returns that date."""
    published = _server_tables(srv)
    cache = load_cache(folder)
    assert cache.warnings == []
    assert cache.table_names == ["datasets", "sessions"], cache.table_names
    assert _ids(cache.sessions) == published["sessions"][0]
    datasets = _ids(cache.datasets)
    # the saved merges add a session's non-published (exists=False) datasets, all the server's
    assert published["datasets"][0] <= datasets <= _all_dataset_ids(srv)
    created = {cache.meta["raw"][n]["date_created"] for n in ("sessions", "datasets")}
    assert len(created) == 1, f"tables from different downloads: {created}"
    (date,) = created
    assert date in dates, (date, dates)
    # the app and the CLI see the same: only real tables
    info = One(cache_dir=folder, mode="local").cache_info()
    assert set(info["tables"]) == {"sessions", "datasets"}
    return date


def _leftovers(folder: Path) -> dict[str, set[str]]:
    """Temp table files, download folders and the lock file in the folder now."""
    names = {p.name for p in folder.iterdir()}
    return {"tmp": {n for n in names if ".tmp-" in n},
            "download_dirs": {n for n in names if n.startswith(".one-tui-download-")},
            "lock": {n for n in names if n == LOCK_NAME}}


def _bump(srv: DemoServer, i: int) -> str:
    when = BASE_DATE + dt.timedelta(hours=i)
    srv.set_tables_date(when)
    return when.strftime(DATE_FORMAT)


@pytest.mark.oracle
@pytest.mark.parametrize("version", ["3.6.1", "2.11.2"])
def test_one_api_loads_the_folder(oracle, version: str, tmp_path: Path,
                                  server: DemoServer) -> None:
    """ONE-api itself (each version, in its own venv) reads a folder one-tui downloaded and
    saved a REST merge into."""
    _bump(server, 0)
    folder = tmp_path / "cache"
    one = One(base_url=server.url, cache_dir=folder, mode="refresh", username="demo",
              password="demo")
    eid = sorted(server.db.sessions.index)[0]
    one.list_datasets(eid, query_type="remote")
    assert one.save_cache() is True
    got = oracle(version, """
        from one.api import One
        c = One(cache_dir=ARGS['dir'], mode='local')._cache
        emit({'sessions': sorted(map(str, c['sessions'].index)),
              'datasets': len(c['datasets'])})
        """, home=tmp_path, args={"dir": str(folder)})
    assert set(got["sessions"]) == _server_tables(server)["sessions"][0]
    assert got["datasets"] == len(load_cache(folder).datasets)


@pytest.mark.slow
def test_two_processes_refresh_one_folder_twenty_times(tmp_path: Path,
                                                       server: DemoServer) -> None:
    """Two processes refresh and save the same folder at the same moment, 20 times with newer
    tables each round: every round ends with the server's newest tables, whole and readable."""
    folder = tmp_path / "shared"
    eids = sorted(server.db.sessions.index)
    procs = [_spawn("pair", server.url, folder) for _ in range(2)]
    try:
        for p in procs:
            _read(p, "ready")
        for i in range(1, ROUNDS + 1):
            date = _bump(server, i)
            for k, p in enumerate(procs):  # both start at once
                _go(p, eids[(2 * i + k) % len(eids)])
            results = [_read(p, "done") for p in procs]
            for r in results:
                assert r["fallback"] is None, (i, r)
                assert r["created"][:16] == date, (i, r)
                assert r["saved"] is True, (i, r)
            assert _check_folder(folder, server, {date}) == date
            assert _leftovers(folder) == {"tmp": set(), "download_dirs": set(), "lock": set()}
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=20)


def _recover(folder: Path, srv: DemoServer, eid: str) -> float:
    """The next run after a kill: refresh (download if newer), merge one session, save.
    Returns its wall time; it must not have fallen back to local."""
    t0 = time.monotonic()
    one = One(base_url=srv.url, cache_dir=folder, mode="refresh", username="demo",
              password="demo")
    one.list_datasets(eid, query_type="remote")
    assert one.save_cache() is True
    elapsed = time.monotonic() - t0
    assert one.fallback_reason is None, one.fallback_reason
    assert one.alyx is not None
    one.alyx.close()
    return elapsed


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    proc.stdin.close()


def _wait_for_request(srv: DemoServer, start: int, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(path in r for r in srv.requests[start:]):
            return
        time.sleep(0.01)
    raise AssertionError(f"{path} never requested")


@pytest.mark.slow
def test_sigkill_mid_download_or_save_twenty_times(tmp_path: Path, server: DemoServer,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """SIGKILL at 20 different moments of a download or a save: the folder still loads with one
    whole set of tables (the old or the new, never a mix), temp files are never read as tables,
    and the next run is not held up by the dead process's lock."""
    folder = tmp_path / "killed"
    eids = sorted(server.db.sessions.index)
    round_no = 100
    good = {_bump(server, round_no)}
    _recover(folder, server, eids[0])  # start from a complete folder
    # calibrate: how long an unkilled download and an unkilled save take
    good.add(_bump(server, round_no := round_no + 1))
    proc = _spawn("download", server.url, folder)
    _read(proc, "ready")
    _go(proc)
    _read(proc, "start")
    t_download = _read(proc, "done")["seconds"]
    proc.wait(timeout=10)
    proc = _spawn("save", server.url, folder)
    _read(proc, "ready")
    _go(proc, eids[1])
    _read(proc, "saving")
    t_save = _read(proc, "saved")["seconds"]
    proc.wait(timeout=10)
    blob_size = len(server.cache_zip()[0])

    kinds = [("stall", "timed", "save", "save")[i % 4] for i in range(KILLS)]
    stats = {"tmp": 0, "download_dirs": 0, "lock": 0}
    recover_times = []
    nxt = _spawn("download" if kinds[0] != "save" else "save", server.url, folder)
    for i, kind in enumerate(kinds):
        proc = nxt
        _read(proc, "ready")
        previous = _check_folder(folder, server, good)
        before = _leftovers(folder)
        if kind == "save":
            _go(proc, eids[(i + 2) % len(eids)])
            _read(proc, "saving")
            time.sleep(t_save * (i // 2 % 10) / 9)  # from just before to the end of the write
        else:
            date = _bump(server, round_no := round_no + 1)
            good.add(date)
            if kind == "stall":  # the zip stops after some of its bytes: a slow link
                server.faults.paths = ("/cache.zip",)
                server.faults.read_timeout_after_bytes = int(blob_size * (i // 4) / 5)
                server.faults.stall_seconds = 15
            start = len(server.requests)
            _go(proc)
            _read(proc, "start")
            if kind == "stall":
                _wait_for_request(server, start, "/cache.zip")
                time.sleep(0.2)
            else:  # anywhere from login to moving the new tables in
                time.sleep(t_download * ((i // 4) + 0.5) / 5)
        _kill(proc)
        server.faults.reset()
        if i + 1 < KILLS:  # the next worker imports while this kill is checked
            nxt = _spawn("save" if kinds[i + 1] == "save" else "download", server.url, folder)
        for k, names in _leftovers(folder).items():
            stats[k] += bool(names - before[k])
        date_after = _check_folder(folder, server, good)
        if kind == "stall":  # the download never finished: the old tables are untouched
            assert date_after == previous
        recover_times.append(_recover(folder, server, eids[i % len(eids)]))
        assert _check_folder(folder, server, good) == server.tables_date.strftime(
            DATE_FORMAT)
        assert not (folder / LOCK_NAME).exists()
    with capsys.disabled():  # how often each kind of leftover happened (reported, not cleaned)
        print(f"\n{KILLS} kills: left a temp table file {stats['tmp']}x, a download folder "
              f"{stats['download_dirs']}x, a stale {LOCK_NAME} {stats['lock']}x; next run "
              f"{min(recover_times):.2f}-{max(recover_times):.2f} s "
              f"(download {t_download:.2f} s, save {t_save:.2f} s unkilled)")
    # a lock left by a dead process is broken at once, not after ONE's 5 s
    assert max(recover_times) < 4.0, recover_times
    # download folders and temp tables of killed processes (each as big as a cache.zip or a
    # table) go away with the next download or save once old enough to be surely dead
    old = time.time() - 11 * 60
    left = _leftovers(folder)
    for name in left["download_dirs"] | left["tmp"]:
        for p in [folder / name, *(folder / name).rglob("*")]:
            os.utime(p, (old, old))
    _bump(server, round_no + 1)
    _recover(folder, server, eids[0])
    assert _leftovers(folder) == {"tmp": set(), "download_dirs": set(), "lock": set()}


KILLED_BETWEEN_RENAMES = r"""
import os, signal, sys
from one_tui.engine.one import One

url, cache_dir = sys.argv[1:3]
real_replace, moved = os.replace, []

def replace(src, dst, *args, **kwargs):  # SIGKILL after the first table of the set moved in
    if os.fspath(dst).endswith(".pqt") and os.path.dirname(os.fspath(dst)) == cache_dir:
        if moved:
            os.kill(os.getpid(), signal.SIGKILL)
        moved.append(dst)
    return real_replace(src, dst, *args, **kwargs)

os.replace = replace
One(base_url=url, cache_dir=cache_dir, mode="refresh", username="demo", password="demo")
"""


def test_a_download_killed_between_two_renames_is_finished_by_the_next_load(
        tmp_path: Path, server: DemoServer) -> None:
    """The new tables move in with one rename each; a SIGKILL between two of them left
    sessions and datasets from different downloads (the twenty-kill test above saw it about
    one run in seven). The next load finishes the move: one whole set, the newer one."""
    folder = tmp_path / "killed"
    eids = sorted(server.db.sessions.index)
    _bump(server, 300)
    _recover(folder, server, eids[0])
    new = _bump(server, 301)
    killed = subprocess.run([sys.executable, "-c", KILLED_BETWEEN_RENAMES, server.url,
                             str(folder)], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert _leftovers(folder)["download_dirs"], "killed before the move began"
    assert _check_folder(folder, server, {new}) == new  # the whole new set
    assert _leftovers(folder)["download_dirs"] == set()  # and the download folder is gone


def test_fresh_lock_of_a_killed_process_is_broken_at_once(tmp_path: Path) -> None:
    """A process killed while holding the lock: the next save does not wait ONE's 5 s."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from one_tui.engine.local.lock import FileLock\n"
         "FileLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)",
         str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockTimeout):  # alive: respected
            FileLock(tmp_path, timeout=0.3).acquire()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert (tmp_path / LOCK_NAME).exists()
    t0 = time.monotonic()
    with FileLock(tmp_path, timeout=10):
        pass
    assert time.monotonic() - t0 < 1.0


def test_a_complete_temp_table_is_never_read_as_a_table(tmp_path: Path, make_db) -> None:
    """A killed save can leave a whole, valid table under its temporary name (the moment
    before the rename): it must not replace or join the real one, for us or for ONE's glob."""
    real, other = make_db(15, 21), make_db(25, 22)
    real.write_tables(tmp_path)
    other.write_tables(tmp_path / "elsewhere")
    for name in ("sessions", "datasets"):
        os.replace(tmp_path / "elsewhere" / f"{name}.pqt",
                   tmp_path / f"{name}.pqt.tmp-{999_999}-0123abcd")
    cache = load_cache(tmp_path)
    assert cache.table_names == ["datasets", "sessions"] and cache.warnings == []
    assert _ids(cache.sessions) == _ids(real.sessions)
    assert _ids(cache.datasets) == _ids(real.datasets)
    assert sorted(p.name for p in tmp_path.glob("*.pqt")) == ["datasets.pqt", "sessions.pqt"]


def test_a_move_in_progress_elsewhere_is_waited_for_then_said(tmp_path: Path) -> None:
    """A marker while someone holds the lock is a live writer mid-move: the load waits for it
    (not for ever) and says the tables may be from two downloads, touching nothing."""
    from one_tui.engine.local import movein

    folder = tmp_path / "tables"
    staged = folder / f"{movein.DOWNLOAD_PREFIX}live" / movein.STAGED
    staged.mkdir(parents=True)
    (staged / "datasets.pqt").write_bytes(b"new")
    (staged.parent / movein.MARKER).write_text("{}")
    with FileLock(folder):
        lines = movein.finish_killed_moves(folder, timeout=0.3)
    assert len(lines) == 1 and "two downloads" in lines[0]
    assert (staged / "datasets.pqt").exists() and not (folder / "datasets.pqt").exists()
    assert movein.finish_killed_moves(folder) == []  # the lock is free: the move is finished
    assert (folder / "datasets.pqt").read_bytes() == b"new"
    assert not staged.parent.exists()


def test_a_move_that_failed_half_way_is_said_and_finished_once_it_can_be(
        tmp_path: Path, server: DemoServer) -> None:
    """A rename that fails mid-move (here a folder squats on ``datasets.pqt``) keeps the
    staged tables and their marker: loads say the tables may be from two downloads, and the
    first load after the squatter is gone moves the rest in."""
    from one_tui.engine.service import EngineService

    folder = tmp_path / "cache"
    (folder / "datasets.pqt").mkdir(parents=True)
    new = _bump(server, 400)
    svc = EngineService.open(base_url=server.url, cache_dir=folder, username="demo",
                             password="demo")
    out = svc.connect()
    assert "could not write the new tables" in out.message, out.message
    said = load_cache(folder).warnings
    assert any("two downloads" in w and "Is a directory" in w for w in said), said
    (folder / "datasets.pqt").rmdir()
    assert _check_folder(folder, server, {new}) == new
    assert _leftovers(folder)["download_dirs"] == set()
