"""`one-tui download` and `one-tui check` as a script runs them: exit codes, JSON lines, the
file named in each failure; a downloader killed at random moments resumes with Range; a full
disk ends with a clear line and nothing wrong under ONE's names."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from one_tui.engine.local.ondisk import PARTIAL_SUFFIX, with_uuid
from one_tui.exits import Exit
from tests.conftest import ctrl_c_as_at_a_terminal
from tests.fetch_server import FaultServer, SmallCache, small_cache

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server():
    srv = FaultServer()
    yield srv
    srv.close()


@pytest.fixture
def data(tmp_path: Path, home: Path, server: FaultServer) -> SmallCache:
    return small_cache(tmp_path, home, server)


def env_of(home: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}


def cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "one_tui", *args], capture_output=True,
                          text=True, env=env_of(home), timeout=timeout)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _right_under_ones_names(data: SmallCache) -> int:
    n = 0
    for row in data.rows:
        target = data.target(row)
        if target.exists():
            assert _md5(target) == row["hash"], f"{row['rel_path']} is under ONE's name, wrong"
            n += 1
    return n


def test_download_json_lines_then_nothing_twice(data, server, home) -> None:
    proc = cli(home, "download", data.eid, "--json")
    assert proc.returncode == Exit.OK, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    files, summary = lines[:-1], lines[-1]["summary"]
    assert sorted(f["rel_path"] for f in files) == sorted(r["rel_path"] for r in data.rows)
    assert {f["result"] for f in files} == {"done"}
    assert summary["ok"] and summary["downloaded"] == len(data.rows)
    assert _right_under_ones_names(data) == len(data.rows)
    again = cli(home, "download", data.eid, "--json")
    assert again.returncode == Exit.OK
    assert json.loads(again.stdout.splitlines()[-1])["summary"]["already"] == len(data.rows)
    assert len(server.requests()) == len(data.rows)
    check = cli(home, "check", data.eid)
    assert check.returncode == Exit.OK and "0 problems" in check.stderr


def test_a_404_exits_1_and_names_the_file(data, server, home) -> None:
    gone = data.rows[1]
    del server.files[data.url_path(gone)]
    proc = cli(home, "download", data.eid)
    assert proc.returncode == Exit.EXPIRED  # 1: a dataset failed
    assert gone["rel_path"] in proc.stderr and "404" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _right_under_ones_names(data) == len(data.rows) - 1


def test_a_refused_login_exits_3_and_names_the_settings(data, server, home) -> None:
    server.login = ("someone", "else")
    proc = cli(home, "download", data.eid)
    assert proc.returncode == Exit.ERROR
    assert "HTTP_DATA_SERVER_LOGIN" in proc.stderr and "HTTP_DATA_SERVER_PWD" in proc.stderr


def test_a_selection_that_matches_nothing_is_an_error(data, home) -> None:
    proc = cli(home, "download", data.eid, "--datasets", "spikes.nothing.npy")
    assert proc.returncode == Exit.ERROR
    assert "nothing matches" in proc.stderr and "spikes.nothing.npy" in proc.stderr


@pytest.mark.parametrize("args", [["download"], ["download", "x", "--jobs", "0"],
                                  ["check", "--fix"]])
def test_usage_errors_exit_2(home, args) -> None:
    assert cli(home, *args).returncode == Exit.USAGE


def test_check_names_damaged_and_stranded_files_and_fix_repairs_them(data, server, home
                                                                     ) -> None:
    damaged, stranded, partial = data.rows[0], data.rows[1], data.rows[2]
    body = data.files[data.url_path(damaged)]
    data.target(damaged).parent.mkdir(parents=True, exist_ok=True)
    data.target(damaged).write_bytes(body[:288])  # a short file: ONE 3.x downloads it again
    uuid_name = data.target(stranded).parent / Path(with_uuid(stranded["rel_path"],
                                                              stranded["id"])).name
    uuid_name.parent.mkdir(parents=True, exist_ok=True)
    uuid_name.write_bytes(data.files[data.url_path(stranded)])  # as a failed ONE batch leaves
    from one_tui.engine.local.ondisk import partial_path

    part = partial_path(data.target(partial), partial["hash"])
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(data.files[data.url_path(partial)][:1000])
    proc = cli(home, "check", data.eid, "--json")
    assert proc.returncode == Exit.EXPIRED
    states = {json.loads(line).get("rel_path"): json.loads(line).get("state")
              for line in proc.stdout.splitlines()[:-1]}
    assert states[damaged["rel_path"]] == "size mismatch"
    assert states[stranded["rel_path"]] == "stranded"
    assert states[partial["rel_path"]] == "partial"
    assert states[data.rows[3]["rel_path"]] == "missing"
    fixed = cli(home, "check", data.eid, "--fix")
    assert fixed.returncode == Exit.OK, fixed.stderr
    assert _right_under_ones_names(data) == len(data.rows)
    assert not uuid_name.exists()  # finalised, not downloaded again:
    assert not server.requests(data.url_path(stranded))
    assert [r[2] for r in server.requests(data.url_path(partial))] == [206]  # resumed
    assert not list(data.folder.rglob(f"*{PARTIAL_SUFFIX}"))


_KILLED_RUN = """
import sys
from one_tui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_at_random_moments_then_a_rerun_resumes_with_range(tmp_path, home, server
                                                                   ) -> None:
    data = small_cache(tmp_path, home, server, n_files=6, size=1_500_000)
    server.chunk_delay = 0.004  # ~4 MB/s per connection: a kill lands mid-body
    rng = random.Random(20)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, "download", data.eid,
                                 "--jobs", "3"], env=env_of(home),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30  # start-up (imports, plan) takes a while
        while (not list(data.folder.rglob(f"*{PARTIAL_SUFFIX}")) and proc.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.6))  # a random moment of the transfer
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _right_under_ones_names(data)  # whatever is under ONE's name is right, at any moment
    before = len(server.requests())
    server.chunk_delay = 0.0
    final = cli(home, "download", data.eid, "--json")
    assert final.returncode == Exit.OK, final.stderr
    assert _right_under_ones_names(data) == len(data.rows)
    resumed = [r for r in server.requests() if r[2] == 206]
    assert resumed, "no file was resumed with Range after the kills"
    files = [json.loads(line) for line in final.stdout.splitlines()[:-1]]
    assert sum(f["resumed_from"] for f in files) > 0
    assert before < len(server.requests())
    assert not list(data.folder.rglob(f"*{PARTIAL_SUFFIX}"))


_FULL_DISK = """
import json, os, shutil, subprocess, sys
from pathlib import Path
cache, stage, size = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
shutil.copytree(cache, stage)
subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(cache)], check=True)
for item in stage.iterdir():
    dest = cache / item.name
    shutil.copy2(item, dest) if item.is_file() else shutil.copytree(item, dest)
from one_tui.engine import EngineService
from tests.fetch_server import BASE_URL
service = EngineService.open(base_url=BASE_URL, cache_dir=cache, mode="local")
plan = service.plan_download([sys.argv[4]]).unwrap()
# another process fills the disk after the plan said it fits
free = shutil.disk_usage(cache).free
with open(cache / "filler", "wb") as f:
    f.write(b"\\0" * (free - int(sys.argv[5])))
report = service.download(plan, jobs=2).unwrap()
finals = {}
for task in plan.tasks:
    if task.target.exists():
        import hashlib
        finals[task.rel_path] = hashlib.md5(task.target.read_bytes()).hexdigest() == task.hash
print(json.dumps({"fits": plan.fits, "message": report.message,
                  "failed": [[o.task.rel_path, o.reason, str(o.cause)] for o in report.failed],
                  "finals": finals,
                  "partials": [str(p) for p in cache.rglob("*.one-tui-part")]}))
"""


def test_a_full_disk_ends_with_a_clear_line_and_nothing_wrong_under_ones_names(
        tmp_path, home, server) -> None:
    """A real ENOSPC: a small tmpfs mounted in a private mount namespace (``unshare -m``;
    ``-r`` maps root when the test does not run as root), filled after the plan."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to mount a small tmpfs")
    data = small_cache(tmp_path, home, server, n_files=6, size=400_000)
    tables = sum(p.stat().st_size for p in data.folder.rglob("*") if p.is_file())
    size = tables + 4_000_000
    ns = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    proc = subprocess.run(
        [*ns, sys.executable, "-c", textwrap.dedent(_FULL_DISK), str(data.folder),
         str(tmp_path / "stage"), str(size), data.eid, str(900_000)],
        capture_output=True, text=True, env=env_of(home), timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["fits"]
    assert got["failed"], got
    assert any("the disk is full" in reason for _, reason, _ in got["failed"])
    assert {cause for _, _, cause in got["failed"]} == {"disk"}
    assert all(got["finals"].values()), got["finals"]  # nothing wrong under ONE's names
    assert len(got["finals"]) < len(data.rows)
    assert all(Path(p).name.startswith(".") for p in got["partials"])


def test_ctrl_c_cancels_at_once_keeps_the_partials_and_a_rerun_resumes(tmp_path, home, server
                                                                        ) -> None:
    data = small_cache(tmp_path, home, server, n_files=3, size=2_000_000)
    server.chunk_delay = 0.01  # ~1.6 MB/s: still downloading when interrupted
    proc = subprocess.Popen([sys.executable, "-m", "one_tui", "download", data.eid],
                            env=env_of(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=ctrl_c_as_at_a_terminal)
    deadline = time.monotonic() + 30
    while not list(data.folder.rglob(f"*{PARTIAL_SUFFIX}")) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 5  # not after the downloads finished
    assert proc.returncode == Exit.INTERRUPTED, err
    assert "interrupted" in err and "resume" in err and "Traceback" not in err
    assert list(data.folder.rglob(f"*{PARTIAL_SUFFIX}"))
    _right_under_ones_names(data)
    server.chunk_delay = 0.0
    again = cli(home, "download", data.eid)
    assert again.returncode == Exit.OK
    assert [r for r in server.requests() if r[2] == 206]
    assert _right_under_ones_names(data) == len(data.rows)


def test_a_terminal_gets_one_progress_line(data, home) -> None:
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "one_tui", "download", data.eid],
                            env=env_of(home), stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(leader)
    text = b"".join(chunks).decode()
    assert proc.returncode == Exit.OK
    assert "\r" in text and "files left" in text and "%" in text
    assert "6 downloaded" in text


def test_two_processes_downloading_the_same_files_never_mix_their_bytes(tmp_path, home,
                                                                        server) -> None:
    """The app and a script at once: each partial has one writer (flock); the other waits."""
    data = small_cache(tmp_path, home, server, n_files=4, size=1_000_000)
    server.chunk_delay = 0.003
    procs = [subprocess.Popen([sys.executable, "-m", "one_tui", "download", data.eid],
                              env=env_of(home), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [Exit.OK, Exit.OK], results
    assert _right_under_ones_names(data) == len(data.rows)
    assert not list(data.folder.rglob(f"*{PARTIAL_SUFFIX}"))
    # one writer per file: the process that waited found the file in place, fetched nothing
    for row in data.rows:
        assert [r[2] for r in server.requests(data.url_path(row))] == [200], row["rel_path"]
