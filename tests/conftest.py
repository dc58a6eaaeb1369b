"""Shared test set-up: no test may read or write the developer's real ~/.one or caches."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "one-api"

# Isolate HOME (ONE's settings live in ~/.one) and platformdirs' folders for the whole session,
# before any test module imports the engine.
_home = Path(tempfile.mkdtemp(prefix="one-tui-home-"))
os.environ["HOME"] = str(_home)
os.environ["XDG_CACHE_HOME"] = str(_home / ".cache")
os.environ["XDG_CONFIG_HOME"] = str(_home / ".config")
os.environ.pop("ONE_TUI_CONFIG", None)
os.environ.pop("ONE_TUI_STATE", None)
#: one-tui's own state (the last table set per database, engine/tablesets.state_path)
_STATE = _home / ".config" / "one-tui" / "tables.json"


#: the app's test files that time what appears on screen (see pytest_collection_modifyitems)
TIMED_APP_TESTS = ("test_truth.py", "test_terminal.py", "test_bandwidth.py", "test_faults_app.py")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``-n 2 --dist loadgroup``, as .ci/run runs): each test file is one
    group, so a file's module-scoped fixtures (demo servers, the fault matrix) are built once;
    every test that talks to the shared real Alyx is in one group, since tests read its access
    log as the sequence of their own requests and two workers would interleave theirs. The
    app's tests run file by file like the rest, except those that time what a user sees
    (escape within a second, exit after SIGHUP, bytes written while idle): they are one group,
    never two of them at once. (All of tests/tui as one group, about 4 minutes on one worker,
    was the longest path of the run.)"""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        parts = item.path.relative_to(config.rootpath).parts
        shared = ("real_alyx" in item.keywords  # the marker, or a [real_alyx] parameter
                  or "real_alyx" in getattr(item, "fixturenames", ())
                  or any(p in ("real_alyx", "real_alyx_app") for p in parts))
        if shared:
            group = "real-alyx"
        elif parts[:2] == ("tests", "tui") and parts[-1] in TIMED_APP_TESTS:
            group = "tui-timed"
        else:
            group = "/".join(parts)
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture
def home() -> Iterator[Path]:
    """The isolated HOME, emptied of ONE settings before and after each test that asks for it
    (a test that leaves a broken ``~/.one/.caches`` must not fail the next test of its worker,
    whatever order pytest-xdist gives them), and of one-tui's own remembered table set (a test
    that switched the real Alyx to a release tag must not start the next one on that tag)."""
    shutil.rmtree(_home / ".one", ignore_errors=True)
    _STATE.unlink(missing_ok=True)
    yield _home
    shutil.rmtree(_home / ".one", ignore_errors=True)
    _STATE.unlink(missing_ok=True)


@pytest.fixture
def cache_dir(tmp_path: Path, home: Path) -> Path:
    """An empty cache folder (and no ~/.one settings or tokens)."""
    d = tmp_path / "cache"
    d.mkdir()
    return d


@pytest.fixture
def fixture_cache(tmp_path: Path) -> Path:
    """A writable copy of ONE-api's legacy test tables and REST responses."""
    dest = tmp_path / "fixture_cache"
    dest.mkdir()
    for name in ("sessions.pqt", "datasets.pqt"):
        shutil.copy(FIXTURES / name, dest / name)
    shutil.copytree(FIXTURES / "rest_responses", dest / ".rest")
    (dest / ".rest" / "openapiv3.json").unlink()
    for f in dest.rglob("*"):
        f.chmod(0o644 if f.is_file() else 0o755)
    return dest


# --- Synthetic databases and the demo Alyx ---------------------------------------------------

_DBS: dict[tuple[int, int], Any] = {}


@pytest.fixture(scope="session")
def make_db() -> Callable[..., Any]:
    """``make_db(n_sessions, seed)``: ``demo.synth.generate(n_sessions, seed)``, built once per
    session for each ``(n_sessions, seed)`` (the same output: generate is deterministic).

    The database is **shared**: do not change it in a test (``db.sessions = ...``). A test that
    alters one generates its own.
    """

    def make(n_sessions: int = 50, seed: int = 0) -> Any:
        key = (n_sessions, seed)
        if key not in _DBS:
            from one_tui.demo.synth import generate

            _DBS[key] = generate(n_sessions=n_sessions, seed=seed)
        return _DBS[key]

    return make


@pytest.fixture
def demo_server() -> Iterator[Callable[..., Any]]:
    """``demo_server(db, *, tables_date=None, **kw)``: a started demo Alyx on a free loopback
    port (``kw`` go to ``DemoServer``), stopped when the test ends."""
    from one_tui.demo.server import DemoServer

    started: list[Any] = []

    def start(db: Any, *, tables_date: datetime | None = None, **kw: Any) -> Any:
        srv = DemoServer(db, **kw)
        if tables_date is not None:
            srv.set_tables_date(tables_date)
        started.append(srv.start())
        return srv

    yield start
    for srv in reversed(started):
        srv.stop()


# --- Oracles: ONE-api itself, and the real Alyx ---------------------------------------------


@pytest.fixture(scope="session")
def oracle() -> object:
    """``oracle(version, code, home=..., args=...)``: run code with the real ONE-api.

    See tests/oracles.py; the venvs are built on first use, never skipped.
    """
    from tests.oracles import run_oracle

    return run_oracle


@dataclass(frozen=True)
class RealAlyx:
    """A real Alyx configured for the tests (CI: the one .ci/run stands up)."""

    base_url: str
    username: str
    password: str
    access_log: Path | None  # every request the server answered, one line each (setup.sh)
    tables: Path | None  # where its one_cache command wrote the cache tables

    def log_offset(self) -> int:
        """Where the access log ends now: pass it to ``requests_since``."""
        return self.access_log.stat().st_size if self.access_log else 0

    def requests_since(self, offset: int) -> list[str]:
        """``METHOD /path?query`` of each request logged after ``offset``, in order."""
        if self.access_log is None:
            raise RuntimeError("no access log configured (ONE_TUI_REAL_ALYX_LOG)")
        # gunicorn writes the line just after the response: wait until the log stops growing
        last, deadline = -1, time.monotonic() + 3
        while time.monotonic() < deadline:
            size = self.access_log.stat().st_size
            if size == last and size > offset:
                break
            last = size
            time.sleep(0.15)
        with open(self.access_log, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
        out = []
        for line in text.splitlines():
            start = line.find('"')
            end = line.find('"', start + 1)
            if start < 0 or end < 0:
                continue
            method, _, rest = line[start + 1 : end].partition(" ")
            out.append(f"{method} {rest.rsplit(' ', 1)[0]}")
        return out


@pytest.fixture(scope="session")
def real_alyx() -> RealAlyx:
    """The real Alyx named by ``ONE_TUI_REAL_ALYX``; CI always sets it (a skip there fails)."""
    url = os.environ.get("ONE_TUI_REAL_ALYX")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must configure a real Alyx (ONE_TUI_REAL_ALYX): see .ci/run")
        pytest.skip("no real Alyx configured: set ONE_TUI_REAL_ALYX=http://127.0.0.1:8090")
    run = Path(os.environ.get("ALYX_RUN", "/tmp/alyx-run"))
    log = os.environ.get("ONE_TUI_REAL_ALYX_LOG") or run / "logs" / "access.log"
    tables = os.environ.get("ONE_TUI_REAL_ALYX_TABLES") or run / "tables"
    return RealAlyx(
        base_url=url.rstrip("/"),
        username=os.environ.get("ONE_TUI_REAL_ALYX_USER", "intbrainlab"),
        password=os.environ.get("ONE_TUI_REAL_ALYX_PASSWORD", "international"),
        access_log=Path(log) if Path(log).exists() else None,
        tables=Path(tables) if Path(tables).exists() else None,
    )


def ctrl_c_as_at_a_terminal() -> None:
    """``preexec_fn`` of a child a test interrupts with SIGINT: it starts with SIGINT's default
    action, as under an interactive shell. Started from a shell without job control (``.ci/run
    &`` in a script), the test run inherits SIGINT ignored, Python then installs no
    KeyboardInterrupt handler in the child, and ^C does nothing (four CI failures)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
