"""Cache folders as users have them: read-only (a shared lab copy), missing, or on a path with
spaces and non-ASCII characters.

The read-only cases run the engine in a subprocess as uid/gid 65534 (nobody), because root
writes through any permission bits: 0555 folders with 0444 files are then really read-only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from one_tui.demo.server import DemoServer
from one_tui.demo.synth import generate
from one_tui.engine.local.store import load_cache
from one_tui.engine.one import One

NOBODY = 65534
REPO = Path(__file__).resolve().parents[1]

# Run as nobody: open the folder, search it, try to save; print what a user would see.
READ_ONLY_RUN = r"""
import json, sys
from one_tui.engine.one import One
cache_dir, mode, url, subject = sys.argv[1:5]
kwargs = dict(base_url=url, username="demo", password="demo") if url else {}
one = One(cache_dir=cache_dir, mode=mode, **kwargs)
out = {"read_only": one.cache_info()["read_only"], "mode": one.mode,
       "fallback": one.fallback_reason}
out["local"] = one.search(subject=subject)
if url:
    try:
        one.search(subject=subject, query_type="remote")
    except Exception as exc:
        out["refused"] = f"{type(exc).__name__}: {exc}"
    one.mode = "remote"  # what the user does next (F3)
    out["remote"] = one.search(subject=subject)
out["saved"] = one.save_cache()
out["notices"] = one.notices
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def db() -> Any:
    return generate(n_sessions=40, seed=11)


@pytest.fixture(scope="module")
def server(db: Any) -> Iterator[DemoServer]:
    srv = DemoServer(db)
    srv.start()
    yield srv
    srv.stop()


def _nobody_python() -> tuple[list[str], dict[str, str]] | None:
    """An interpreter uid 65534 can run with the project importable, or None.

    The venv's interpreter may live under /root (0700); a system Python of the same version
    with the venv's site-packages on PYTHONPATH then runs the same code."""
    site = sysconfig.get_paths()["purelib"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{site}{os.pathsep}{REPO}",
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for exe in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        try:
            probe = subprocess.run([exe, "-c", "import one_tui.engine.one"], user=NOBODY,
                                   group=NOBODY, env={**env, "HOME": "/"}, cwd="/",
                                   capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return [exe], env
    return None


@pytest.fixture(scope="module")
def as_nobody() -> Any:
    """Run a Python snippet as nobody; skips when the platform cannot drop privileges."""
    if sys.platform == "win32" or os.geteuid() != 0:
        pytest.skip("needs root to drop privileges to uid 65534 (a real read-only folder)")
    found = _nobody_python()
    if found is None:
        pytest.skip("no Python interpreter that uid 65534 can run with the project importable")
    exe, env = found
    home = Path(tempfile.mkdtemp(prefix="one-tui-nobody-home-", dir="/tmp"))
    os.chown(home, NOBODY, NOBODY)

    def run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*exe, "-c", code, *args], user=NOBODY, group=NOBODY,
                              env={**env, "HOME": str(home)}, cwd="/", capture_output=True,
                              text=True, timeout=120)

    yield run
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temp folder nobody can traverse (pytest's tmp_path is under a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="one-tui-odd-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    for p in [path, *path.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(path, ignore_errors=True)


def _read_only_copy(db: Any, root: Path, age: dt.timedelta = dt.timedelta(0)) -> Path:
    """The db's tables in a 0555 folder of 0444 files, ``age`` old."""
    folder = root / "lab share"
    db.write_tables(folder, date_created=dt.datetime.now() - age)
    for f in folder.iterdir():
        f.chmod(0o444)
    folder.chmod(0o555)
    return folder


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*")}


def test_read_only_folder_searches_locally_and_says_nothing_is_saved(
        db: Any, as_nobody: Any, open_tmp: Path) -> None:
    folder = _read_only_copy(db, open_tmp)
    before = _snapshot(folder)
    subject = str(db.sessions["subject"].iloc[0])
    proc = as_nobody(READ_ONLY_RUN, str(folder), "local", "", subject)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    expected = db.sessions.index[db.sessions["subject"] == subject]
    assert sorted(out["local"]) == sorted(expected) and out["local"]
    assert out["read_only"] is True and out["saved"] is False
    assert any("read-only" in n and "nothing will be saved" in n for n in out["notices"])
    assert all("\n" not in n for n in out["notices"])
    assert _snapshot(folder) == before  # no probe, lock, temp or REST file left behind


def test_read_only_folder_with_alyx_falls_back_and_keeps_remote_results_in_memory(
        db: Any, server: DemoServer, as_nobody: Any, open_tmp: Path) -> None:
    """Auto mode cannot download expired tables into a read-only folder: it falls back to local
    and says why, also when a remote search is then refused; in remote mode searches work (REST
    cache off, results not saved) and nothing is written."""
    folder = _read_only_copy(db, open_tmp, age=dt.timedelta(days=3))
    before = _snapshot(folder)
    subject = str(db.sessions["subject"].iloc[1])
    proc = as_nobody(READ_ONLY_RUN, str(folder), "auto", server.url, subject)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["mode"] == "local" and "read-only" in out["fallback"]
    assert out["refused"].startswith("OfflineError") and "read-only" in out["refused"]
    assert out["local"] and sorted(out["remote"]) == sorted(out["local"])
    assert out["saved"] is False
    assert any("REST cache off" in n for n in out["notices"]), out["notices"]
    assert _snapshot(folder) == before


def test_missing_folder_is_created(tmp_path: Path) -> None:
    folder = tmp_path / "not" / "there" / "yet"
    one = One(cache_dir=folder, mode="local")
    assert folder.is_dir()
    assert one.search() == [] and one.cache_info()["tables"] == {}
    assert one.cache_info()["read_only"] is False


def test_missing_folder_that_cannot_be_created_is_one_clear_line(as_nobody: Any,
                                                                 open_tmp: Path) -> None:
    """`one-tui search` on a folder nobody may create: one line, no traceback. Since issue 11 a
    missing --cache-dir is never created by the CLI (exit 4, 'no such folder')."""
    parent = open_tmp / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    code = "import sys; from one_tui.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = as_nobody(code, "search", "--cache-dir", str(parent / "ONE"))
    assert proc.returncode == 4
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("one-tui: no such folder") and "ONE" in lines[0]


def test_path_with_spaces_and_non_ascii_works_for_download_rest_cache_and_save(
        db: Any, server: DemoServer, tmp_path: Path) -> None:
    folder = tmp_path / "My Data" / "Ünïcødé ONE"
    one = One(base_url=server.url, cache_dir=folder, mode="auto", username="demo",
              password="demo")
    assert one.fallback_reason is None
    # download: the tables arrived and load
    assert set(one.cache_info()["tables"]) == {"sessions", "datasets"}
    assert len(one.search()) == len(db.sessions)
    assert not [p for p in folder.iterdir() if p.name.startswith(".one-tui-download-")]
    # REST cache: remote answers are stored under the folder and served from there
    eid = str(db.sessions.index[0])
    one.list_datasets(eid, query_type="remote")
    entries = one.cache_info()["rest_cache"]["entries"]
    assert entries >= 1 and len(list((folder / ".rest").iterdir())) == entries
    assert one.ask("list_datasets", eid, query_type="remote").source == "REST cache"
    # save: the merged rows are written and read back by a fresh local One
    assert one.save_cache() is True
    again = One(cache_dir=folder, mode="local")
    assert again.notices == []
    assert eid in again.search()
    stored = load_cache(folder)
    assert stored.meta["raw"]["datasets"].get("date_modified")


def test_non_ascii_path_under_the_c_locale(db: Any, tmp_path: Path) -> None:
    """A login node with LANG unset (C locale): `one-tui cache-info` still reads the folder."""
    folder = tmp_path / "Ünïcødé ONE"
    db.write_tables(folder, date_created=dt.datetime.now() - dt.timedelta(days=2))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env.update(LC_ALL="C", PYTHONIOENCODING="")
    proc = subprocess.run([sys.executable, "-m", "one_tui", "cache-info", "--cache-dir",
                           str(folder), "--json"], env=env, capture_output=True, timeout=60)
    assert proc.returncode == 1, proc.stderr  # tables present, older than 24 h: expired
    info = json.loads(proc.stdout)
    assert info["tables"]["sessions"]["rows"] == len(db.sessions)
    assert info["cache_dir"] == str(folder)


def test_odd_file_names_in_the_folder_are_skipped_in_one_printable_line(
        db: Any, tmp_path: Path) -> None:
    """A shared folder may hold anything: a non-UTF-8 name, a name with terminal escape codes.
    The tables still load and the notice about the stray file is one printable line."""
    folder = tmp_path / "shared"
    db.write_tables(folder)
    for raw in (b"bad\xff.pqt", b"evil\x1b]0;owned\x07\x1b[31m.pqt", b"two\nlines.pqt"):
        with open(os.path.join(os.fsencode(folder), raw), "wb") as f:
            f.write(b"not parquet")
    one = One(cache_dir=folder, mode="local")
    assert len(one.search()) == len(db.sessions)
    assert len(one.notices) == 3, one.notices
    for note in one.notices:
        assert note.isprintable() and "Skipping" in note, repr(note)
    # the CLI prints them (and the engine logs them) without a single escape byte
    proc = subprocess.run([sys.executable, "-m", "one_tui", "search", "--cache-dir",
                           str(folder)], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert b"\x1b" not in proc.stderr and b"\x07" not in proc.stderr
    assert proc.stderr.count(b"Skipping") >= 3
