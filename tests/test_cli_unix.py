"""Issue 16, class 7: `one-tui` as a Unix citizen, seen as a shell script sees it.

Each test runs the command in a real process (pipes, closed descriptors, signals) and checks
what a script can rely on: the exit code of the table in ``one_tui/exits.py`` and one line on
stderr, never a traceback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from one_tui.exits import Exit
from tests.conftest import ctrl_c_as_at_a_terminal

ROOT = Path(__file__).resolve().parents[1]


def env_of(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT), **extra}


def run(args: list[str], home: Path, **kw: Any) -> subprocess.CompletedProcess[str]:
    kw.setdefault("env", env_of(home))
    return subprocess.run([sys.executable, "-m", "one_tui", *args], capture_output=True,
                          text=True, timeout=120, **kw)


def sh(script: str, home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                          env=env_of(home, PY=sys.executable, **extra))


def one_line(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tables whose plain listing is larger than a pipe's buffer (64 kB)."""
    from one_tui.demo.synth import generate

    folder = tmp_path_factory.mktemp("big")
    generate(n_sessions=1500, seed=3).write_tables(folder)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_head_1_is_quiet_and_exits_as_sigpipe(big_folder: Path, home: Path,
                                              tmp_path: Path) -> None:
    err = tmp_path / "err.txt"  # not the working directory: it is the checkout
    proc = sh(f'"$PY" -m one_tui search --cache-dir {big_folder} 2>{err} | head -1; '
              f'echo "status=${{PIPESTATUS[0]}}"; cat {err} >&2', home)
    first, status = proc.stdout.splitlines()
    assert len(first.split()) >= 4  # one session line
    assert status == f"status={int(Exit.BROKEN_PIPE)}"
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr
    assert "sessions" in proc.stderr  # the count line, printed before the reader left


@pytest.mark.parametrize("redirect", [">&-", ">/dev/full"], ids=["closed", "full"])
def test_results_that_cannot_be_written_are_an_error(big_folder: Path, home: Path,
                                                     redirect: str) -> None:
    proc = sh(f'"$PY" -m one_tui search --cache-dir {big_folder} {redirect}', home)
    assert proc.returncode == Exit.ERROR
    assert "Traceback" not in proc.stderr
    assert "stdout" in proc.stderr  # says what could not be written


SITE = """
import os, signal, sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["ONE_TUI_TEST_SIGINT_AT"]:
            os.kill(os.getpid(), signal.SIGINT)  # ^C typed while this module is imported
        return None
sys.meta_path.insert(0, Interrupt())
"""


@pytest.mark.parametrize("module", ["argparse", "one_tui.engine.core.errors", "pandas"])
def test_ctrl_c_during_imports_prints_no_traceback(tmp_path: Path, home: Path,
                                                   module: str) -> None:
    (tmp_path / "sitecustomize.py").write_text(SITE)
    env = env_of(home, ONE_TUI_TEST_SIGINT_AT=module)
    env["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{ROOT}"
    proc = subprocess.run([sys.executable, "-m", "one_tui", "search", "--cache-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=120, env=env,
                          preexec_fn=ctrl_c_as_at_a_terminal)
    assert proc.returncode == Exit.INTERRUPTED, proc.stderr
    assert "Traceback" not in proc.stderr


def test_remote_search_with_alyx_unreachable_exits_non_zero(tmp_path: Path, home: Path) -> None:
    proc = run(["search", "--mode", "remote", "--base-url", f"http://127.0.0.1:{free_port()}",
                "--cache-dir", str(tmp_path), "--username", "x"], home,
               env=env_of(home, ONE_TUI_PASSWORD="pw"))
    assert proc.returncode == Exit.NOT_REMOTE
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr


def test_remote_search_after_a_refused_login_exits_non_zero(tmp_path: Path, home: Path,
                                                            make_db, demo_server) -> None:
    srv = demo_server(make_db(20, 1))
    proc = run(["search", "--mode", "remote", "--base-url", srv.url, "--cache-dir", str(tmp_path),
                "--username", "demo"], home, env=env_of(home, ONE_TUI_PASSWORD="wrong"))
    assert proc.returncode == Exit.NOT_REMOTE
    assert "refused" in proc.stderr


def test_each_notice_is_printed_once(tmp_path: Path, home: Path) -> None:
    proc = run(["search", "--mode", "remote", "--base-url", f"http://127.0.0.1:{free_port()}",
                "--cache-dir", str(tmp_path), "--username", "x"], home,
               env=env_of(home, ONE_TUI_PASSWORD="pw"))
    lines = [line for line in proc.stderr.splitlines() if "unreachable" in line]
    assert len(lines) == 1, proc.stderr


def test_demo_server_with_a_port_out_of_range_is_one_line(home: Path) -> None:
    proc = run(["demo-server", "--port", "99999"], home)
    assert proc.returncode == Exit.USAGE
    assert "Traceback" not in proc.stderr and "99999" in proc.stderr


def register(home: Path, folder: Path) -> Path:
    """~/.one of a default database whose folder is ``folder``; the .caches file."""
    from one_tui.engine import params

    old = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        params.register_database("https://alyx.example.org", cache_dir=folder, make_default=True)
    finally:
        if old is not None:
            os.environ["HOME"] = old
    return home / ".one" / ".caches"


@pytest.mark.parametrize("command", [["cache-info"], ["search"]])
def test_a_non_string_folder_in_ones_caches_map_is_one_line(tmp_path: Path, command: list[str]
                                                            ) -> None:
    home = tmp_path / "home"
    caches = register(home, tmp_path / "cache")
    data = json.loads(caches.read_text())
    data["CLIENT_MAP"]["alyx.example.org"] = 5
    caches.write_text(json.dumps(data))
    proc = run(command, home)
    one_line(proc.stderr)
    assert str(caches) in proc.stderr
    assert proc.returncode == Exit.ERROR


@pytest.mark.parametrize("how", ["not utf-8", "a folder"])
def test_an_unreadable_caches_file_is_named(tmp_path: Path, how: str) -> None:
    home = tmp_path / "home"
    caches = register(home, tmp_path / "cache")
    caches.unlink()
    if how == "a folder":
        caches.mkdir()
    else:
        caches.write_bytes(b'\xff\xfe{"CLIENT_MAP": {}}')
    proc = run(["cache-info"], home)
    one_line(proc.stderr)
    assert str(caches) in proc.stderr


def test_cache_info_never_creates_the_folder_named_in_the_settings(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = tmp_path / "data" / "alyx.example.org"
    register(home, missing)
    proc = run(["cache-info"], home)
    assert proc.returncode == Exit.NO_FOLDER
    assert not missing.exists() and not missing.parent.exists()
    one_line(proc.stderr)
    assert str(missing) in proc.stderr


def test_exit_codes_are_documented_in_help_and_readme(home: Path) -> None:
    help_text = run(["--help"], home).stdout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in Exit:
        assert f"{int(code):>3}  {code.meaning}" in help_text, code
        assert f"| {int(code)} | {code.meaning} |" in readme, code
